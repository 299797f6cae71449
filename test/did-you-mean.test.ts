import { describe, expect, it } from 'vitest';
import { didYouMean } from '../src/kernel/did-you-mean.js';

describe('didYouMean', () => {
  it.each([
    ['tols', ['template', 'tools', 'system'], 'tools'],
    ['max_attemps', ['max_attempts', 'delay_ms'], 'max_attempts'],
    ['output_shema', ['output_schema', 'output_mapping'], 'output_schema'],
    ['tickt', ['ticket', 'customer'], 'ticket'],
    ['Ticket', ['ticket'], 'ticket'],
    ['recieve', ['receive'], 'receive'],
    ['x', ['y'], 'y'],
  ])('%s -> %s', (word, candidates, hint) => {
    expect(didYouMean(word, candidates)).toBe(hint);
  });

  it('gives no hint for a name nothing resembles, or for the name itself', () => {
    expect(didYouMean('colour', ['tools', 'template'])).toBeUndefined();
    expect(didYouMean('temperature', ['options'])).toBeUndefined();
    expect(didYouMean('tools', ['tools'])).toBeUndefined();
    expect(didYouMean('a', [])).toBeUndefined();
  });

  it('prefers the closest candidate', () => {
    expect(didYouMean('stram', ['system', 'stream'])).toBe('stream');
  });
});
