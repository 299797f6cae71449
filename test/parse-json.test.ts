/**
 * The answer of a model call is parsed as JSON when it is an object or array: every JSON
 * object/array (compact or indented, in a ```json fence or not) parses back to itself, and prose
 * that merely starts with a bracket stays prose.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJson } from '../src/calls/call-results.js';

describe('parseJson', () => {
  it('parses every JSON object or array, however it is spaced or fenced', () => {
    const container = fc.oneof(fc.array(fc.jsonValue({ maxDepth: 3 })), fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 })));
    fc.assert(
      fc.property(container, fc.constantFrom(undefined, 2, '\t'), fc.boolean(), (value, indent, fenced) => {
        const text = JSON.stringify(value, null, indent);
        const answer = fenced ? '```json\n' + text + '\n```' : ` \n${text}\n`;
        expect(parseJson(answer)).toEqual(JSON.parse(text));
      }),
    );
  });

  it('leaves prose in brackets, broken JSON and scalars as text', () => {
    for (const prose of ['[Summarize: the memo]', '{note to self}', '[1, 2', '{"a": 1', '[] trailing', 'plain', '42', '"quoted"', '[', '{']) {
      expect(parseJson(prose)).toBeUndefined();
    }
  });
});
