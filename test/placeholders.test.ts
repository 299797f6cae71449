import { describe, expect, it } from 'vitest';
import { isTrellisError, fillPlaceholders } from '../src/index.js';
import { getPath, parsePath, setPath } from '../src/expressions/data-paths.js';
import { placeholderPaths } from '../src/expressions/placeholders.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (isTrellisError(error)) return error.code;
    throw error;
  }
  throw new Error('expected a throw');
}

describe('fillPlaceholders', () => {
  const ctx = {
    input: { name: 'Ada', tags: ['x', 'y'], n: 3, ok: false, meta: { a: 1 }, nothing: null },
    'fetch-page': { text: 'page' },
    variables: { topic: 'news' },
  };

  it('replaces placeholders with or without spaces', () => {
    expect(fillPlaceholders('Hi {{input.name}} / {{ input.name }} / {{   input.name   }}!', ctx)).toBe('Hi Ada / Ada / Ada!');
  });

  it('renders numbers and booleans as text, objects, arrays and null as JSON', () => {
    expect(fillPlaceholders('{{ input.n }} {{ input.ok }}', ctx)).toBe('3 false');
    expect(fillPlaceholders('{{ input.meta }} {{ input.tags }} {{ input.nothing }}', ctx)).toBe('{"a":1} ["x","y"] null');
  });

  it('reads indexes, quoted keys and node ids with dashes', () => {
    expect(fillPlaceholders('{{ input.tags[1] }} {{ fetch-page.text }} {{ input["name"] }}', ctx)).toBe('y page Ada');
  });

  it('keeps text without placeholders and lone braces verbatim', () => {
    expect(fillPlaceholders('no placeholders', ctx)).toBe('no placeholders');
    expect(fillPlaceholders('a {{ b', ctx)).toBe('a {{ b');
    expect(fillPlaceholders('{ json: 1 }', ctx)).toBe('{ json: 1 }');
  });

  it('throws missing_variable naming the placeholder, never renders an empty string', () => {
    let error: unknown;
    try {
      fillPlaceholders('Hello {{ input.missing }}', ctx);
    } catch (e) {
      error = e;
    }
    expect(isTrellisError(error) && error.code).toBe('missing_variable');
    expect((error as Error).message).toContain('input.missing');
    expect(codeOf(() => fillPlaceholders('{{ input.tags[5] }}', ctx))).toBe('missing_variable');
    expect(codeOf(() => fillPlaceholders('{{ input.name.toString }}', ctx))).toBe('missing_variable');
  });

  it('rejects placeholders that are not paths', () => {
    expect(codeOf(() => fillPlaceholders('{{ a b }}', ctx))).toBe('expression_parse');
    expect(codeOf(() => fillPlaceholders('{{ }}', ctx))).toBe('expression_parse');
    expect(codeOf(() => fillPlaceholders('{{ input.__proto__ }}', ctx))).toBe('expression_parse');
  });
});

describe('placeholderPaths', () => {
  it('lists paths in order without duplicates', () => {
    expect(placeholderPaths('{{ a.b }} {{a.b}} {{ c[0] }} {{ variables.topic }}')).toEqual(['a.b', 'c[0]', 'variables.topic']);
    expect(placeholderPaths('plain')).toEqual([]);
  });
});

describe('paths', () => {
  it('parses dot paths with indexes and quoted keys, cached', () => {
    expect(parsePath('a.b[2].c')).toEqual(['a', 'b', 2, 'c']);
    expect(parsePath(`a["x.y"]['z']`)).toEqual(['a', 'x.y', 'z']);
    expect(parsePath('a.b')).toBe(parsePath('a.b'));
  });

  it('rejects malformed paths and prototype keys', () => {
    expect(codeOf(() => parsePath(''))).toBe('expression_parse');
    expect(codeOf(() => parsePath('a..b'))).toBe('expression_parse');
    expect(codeOf(() => parsePath('a[x]'))).toBe('expression_parse');
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      expect(codeOf(() => parsePath(`a.${key}`))).toBe('expression_eval');
      expect(codeOf(() => getPath({}, ['a', key]))).toBe('expression_eval');
      expect(codeOf(() => setPath({}, `x["${key}"]`, 1))).toBe('expression_eval');
    }
  });

  it('getPath reads own properties only', () => {
    const obj = { a: { b: [1, 2, { c: 3 }] } };
    expect(getPath(obj, 'a.b[2].c')).toBe(3);
    expect(getPath(obj, 'a.b[5].c')).toBeUndefined();
    expect(getPath(obj, 'a.x')).toBeUndefined();
    expect(getPath(obj, 'a.b.length')).toBeUndefined();
    expect(getPath(obj, 'a.hasOwnProperty')).toBeUndefined();
  });

  it('setPath copies on write and creates containers', () => {
    const obj = { a: { keep: 1 }, other: { x: 1 } };
    const next = setPath(obj, 'a.list[1].v', 'z');
    expect(next).toEqual({ a: { keep: 1, list: [undefined, { v: 'z' }] }, other: { x: 1 } });
    expect(obj).toEqual({ a: { keep: 1 }, other: { x: 1 } });
    expect(next.other).toBe(obj.other);
    expect(setPath({ a: 'scalar' }, 'a.b', 1)).toEqual({ a: { b: 1 } });
    expect(setPath([1, 2], [1], 9)).toEqual([1, 9]);
  });
});
