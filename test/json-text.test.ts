import { describe, expect, it } from 'vitest';
import { jsonText, numberText, stringText } from '../src/storage/json-text.js';

describe('JSON text of single values', () => {
  it('writes every string exactly as JSON.stringify does', () => {
    const fixed = ['', 'completed', 'each[12].work', 'say "hi"', 'back\\slash', 'line\nbreak', '\u0000\u001f', 'é ü 漢字', '😀', '\ud800', 'x\udfff', '\u2028'];
    // Random strings over a small alphabet heavy in the characters that need escaping.
    const alphabet = ['a', 'Z', '0', '"', '\\', '\n', '\t', '\u0001', '\u007f', 'é', '\ud83d', '\ude00', '\ud83d\ude00', ':', '['];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    const random = Array.from({ length: 2000 }, () => Array.from({ length: next() % 12 }, () => alphabet[next() % alphabet.length]).join(''));
    for (const value of [...fixed, ...random]) expect(stringText(value), JSON.stringify(value)).toBe(JSON.stringify(value));
  });

  it('writes numbers and other values as JSON.stringify does, non-finite numbers as null', () => {
    for (const value of [0, -0, 1.5, -2e-7, 1e21, 2 ** 53, Number.MAX_VALUE]) expect(numberText(value)).toBe(JSON.stringify(value));
    for (const value of [NaN, Infinity, -Infinity]) expect(numberText(value)).toBe('null');
    for (const value of [null, true, false, 'a"b', 3, { a: [1, 'x', null], b: { c: 'é' } }, [], {}]) expect(jsonText(value)).toBe(JSON.stringify(value));
    expect(jsonText(undefined)).toBe('null');
  });
});
