import { describe, expect, it } from 'vitest';
import { isTrellisError, EXPRESSION_FUNCTIONS, compileExpression, evaluateExpression } from '../src/index.js';
import { MAX_EXPRESSION_LENGTH, expressionIdentifiers } from '../src/expressions/expressions.js';

const ev = (source: string, context: Record<string, unknown> = {}): unknown => evaluateExpression(source, context);

/** Runs `fn` and returns what it threw as a Trellis error (code, message, details). */
function thrown(fn: () => unknown): { code: string; message: string; details: Record<string, unknown> | undefined } {
  try {
    fn();
  } catch (error) {
    if (!isTrellisError(error)) throw error;
    return { code: error.code, message: error.message, details: error.details as Record<string, unknown> | undefined };
  }
  throw new Error('expected a throw');
}

describe('operators', () => {
  it.each([
    ['1 + 2 * 3', {}, 7],
    ['a.b > 3 && c == "x"', { a: { b: 5 }, c: 'x' }, true],
    ["a.b > 3 && c == 'x'", { a: { b: 2 }, c: 'x' }, false],
    ['!flag || n != 0', { flag: true, n: 0 }, false],
    ['x ? "yes" : "no"', { x: false }, 'no'],
    ['2 in items', { items: [1, 2] }, true],
    ['"k" in m', { m: { k: 1 } }, true],
    ['"a" + s', { s: 'b' }, 'ab'],
    ['items + [3]', { items: [1, 2] }, [1, 2, 3]],
    ['items[1]', { items: [10, 20] }, 20],
    ['m["odd key"]', { m: { 'odd key': 1 } }, 1],
    ['s.startsWith("he") && s.contains("ll")', { s: 'hello' }, true],
    ['"hello".substring(1, 3)', {}, 'el'],
  ])('%s', (source, context, expected) => {
    expect(ev(source, context)).toEqual(expected);
  });
});

describe('numbers: JSON numbers and integer literals mix', () => {
  it.each([
    ['x + 1', { x: 2 }, 3],
    ['x + 1', { x: 2.5 }, 3.5],
    ['x > 3', { x: 4 }, true],
    ['x > 3', { x: 2.5 }, false],
    ['x == 2', { x: 2 }, true],
    ['x * 2 - 1', { x: 3 }, 5],
    ['x % 2 == 1', { x: 5 }, true],
    ['5 / 2', {}, 2.5],
    ['length(items) == 2', { items: [1, 2] }, true],
    ['size(items) == 2', { items: [1, 2] }, true],
    ['size(items) + 1', { items: [1, 2] }, 3],
    ['size(items) * 1.5', { items: [1, 2] }, 3],
    ['size(items) + x', { items: [1], x: 0.5 }, 1.5],
    ['int("4") == 4 && int("4") + 1 == 5', {}, true],
    ['items.map(i, i * 2)', { items: [1, 2] }, [2, 4]],
    ['items.filter(i, i > 1)', { items: [1, 2, 3] }, [2, 3]],
    ['items.exists(i, i == 2) && items.all(i, i > 0)', { items: [1, 2] }, true],
    ['items[x]', { items: ['a', 'b'], x: 1 }, 'b'],
    ['-1 + x', { x: 3 }, 2],
  ])('%s with %j', (source, context, expected) => {
    expect(ev(source, context)).toEqual(expected);
  });

  it('returns plain numbers, never BigInt, also nested', () => {
    expect(typeof ev('size(s)', { s: 'abc' })).toBe('number');
    expect(ev('{"n": size(s), "l": [int("7")]}', { s: 'ab' })).toEqual({ n: 2, l: [7] });
    expect(typeof ev('1u')).toBe('number');
    expect(ev('x', { x: 5n })).toBe(5);
  });
});

describe('missing data', () => {
  it('throws missing_variable naming the variable', () => {
    const e = thrown(() => ev('missing + 1'));
    expect(e.code).toBe('missing_variable');
    expect(e.message).toContain('"missing"');
  });

  it('names the missing key path', () => {
    const e = thrown(() => ev('input.user.name == "x"', { input: {} }));
    expect(e.code).toBe('missing_variable');
    expect(e.details?.['path']).toBe('input.user');
    expect(thrown(() => ev('m["k"]', { m: {} })).details?.['path']).toBe('m["k"]');
    expect(thrown(() => ev('items.map(i, i.y)', { items: [{ x: 1 }] })).details?.['path']).toBe('i.y');
  });

  it('treats inherited members as missing', () => {
    expect(thrown(() => ev('toString')).code).toBe('missing_variable');
    expect(thrown(() => ev('a.toString', { a: {} })).code).toBe('missing_variable');
  });

  it('has() tests presence', () => {
    expect(ev('has(a.b)', { a: {} })).toBe(false);
    expect(ev('has(a.b)', { a: { b: 0 } })).toBe(true);
    expect(ev('has(a.b) ? a.b : "none"', { a: {} })).toBe('none');
  });

  it('default() falls back on missing or null', () => {
    expect(ev('default(a.b.c, "fb")', { a: {} })).toBe('fb');
    expect(ev('default(nope, 1) + 1')).toBe(2);
    expect(ev('default(a.b, "fb")', { a: { b: null } })).toBe('fb');
    expect(ev('default(a.b, "fb")', { a: { b: 'set' } })).toBe('set');
  });

  it('default() answers the same whether the absent path is seen before evaluating or not', () => {
    // Plain paths over objects are checked without evaluating (no thrown error); the rest is
    // evaluated. Both must agree with what evaluating the path would say.
    expect(ev('default(a.b.c, "fb")', { a: { b: null } })).toBe('fb');
    expect(ev('default(a.b.c, "fb")', { a: { b: { c: 0 } } })).toBe(0);
    expect(ev('default(a.b.c, "fb")', { a: { b: { c: false } } })).toBe(false);
    expect(ev('default(a.b.c, "fb")', { a: { b: { c: '' } } })).toBe('');
    expect(ev('default(a.toString, "fb")', { a: {} })).toBe('fb');
    expect(ev('default(a.b, "fb")', { a: [1] })).toBe('fb');
    expect(ev('default(a[0].b, "fb")', { a: [{}] })).toBe('fb');
    expect(ev('default(a[0].b, "fb")', { a: [{ b: 2 }] })).toBe(2);
    expect(ev('[{"b": 1}, {}].map(x, default(x.b, 9))')).toEqual([1, 9]);
    expect(ev('[1, 2].map(x, default(y.b, x))')).toEqual([1, 2]);
    expect(thrown(() => ev('default(a.b + 1, 0)', { a: { b: 'x' } })).code).toBeDefined();
    expect(thrown(() => ev('default(1 / "x", 0)')).code).toBe('expression_parse');
  });
});

describe('built-in functions', () => {
  it('exports the documented list', () => {
    expect(EXPRESSION_FUNCTIONS.map((f) => f.name)).toEqual([
      'upper', 'lower', 'trim', 'length', 'join', 'split', 'contains', 'keys', 'json', 'parse_json',
      'default', 'round', 'floor', 'ceil', 'min', 'max', 'sum',
    ]);
  });

  it.each([
    ['upper(s)', { s: 'ab' }, 'AB'],
    ['lower(s)', { s: 'AB' }, 'ab'],
    ['trim(s)', { s: '  x ' }, 'x'],
    ['length(s)', { s: 'héllo' }, 5],
    ['length(l)', { l: [1, 2, 3] }, 3],
    ['length(m)', { m: { a: 1, b: 2 } }, 2],
    ['join(l, ", ")', { l: ['a', 1, true, { b: 2 }] }, 'a, 1, true, {"b":2}'],
    ['split(s, ",")', { s: 'a,b,c' }, ['a', 'b', 'c']],
    ['contains(s, "ell")', { s: 'hello' }, true],
    ['contains(l, 2)', { l: [1, 2] }, true],
    ['contains(l, {"a": 1})', { l: [{ a: 1 }] }, true],
    ['contains(m, "a")', { m: { a: 1 } }, true],
    ['contains(m, "toString")', { m: {} }, false],
    ['keys(m)', { m: { a: 1, b: 2 } }, ['a', 'b']],
    ['json(v)', { v: { a: [1, 'x'] } }, '{"a":[1,"x"]}'],
    ['parse_json(s).a[1]', { s: '{"a":[1,2]}' }, 2],
    ['round(2.5) + floor(2.7) + ceil(2.1)', {}, 8],
    ['round(size(s))', { s: 'abc' }, 3],
    ['min(l) + max(l)', { l: [3, 1, 2] }, 4],
    ['min(1, x) + max(1, x)', { x: 5 }, 6],
    ['sum(l)', { l: [1, 2, 3.5] }, 6.5],
    ['sum([])', {}, 0],
  ])('%s', (source, context, expected) => {
    expect(ev(source, context)).toEqual(expected);
  });

  it('rejects bad arguments with expression_eval', () => {
    expect(thrown(() => ev('sum(l)', { l: ['a'] })).code).toBe('expression_eval');
    expect(thrown(() => ev('parse_json(s)', { s: '{' })).code).toBe('expression_eval');
    expect(thrown(() => ev('min(l)', { l: [] })).code).toBe('expression_eval');
    expect(thrown(() => ev('upper(n)', { n: 1 })).code).toBe('expression_eval');
  });

  it('has no now(): expressions are deterministic', () => {
    expect(thrown(() => compileExpression('now()')).code).toBe('expression_parse');
  });
});

describe('prototype safety', () => {
  it.each(['a.__proto__', 'a["constructor"]', 'a["prototype"]', '{"__proto__": 1}', 'has(a.constructor)', 'constructor'])(
    'refuses %s at compile time',
    (source) => {
      const e = thrown(() => compileExpression(source));
      expect(e.code).toBe('expression_parse');
      expect(e.message).toMatch(/__proto__|constructor|prototype/);
    },
  );

  it('refuses computed prototype keys at evaluation time', () => {
    const a = JSON.parse('{"__proto__": {"polluted": true}, "ok": 1}') as unknown;
    expect(thrown(() => ev('a[k]', { a, k: '__proto__' })).code).toBe('expression_eval');
    expect(thrown(() => ev('a[k]', { a: {}, k: 'constructor' })).code).toBe('expression_eval');
    expect(ev('a[k]', { a, k: 'ok' })).toBe(1);
  });

  it('never writes prototype keys', () => {
    const out = ev('{k: 1, "x": 2}', { k: '__proto__' }) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['x']);
    const parsed = ev('parse_json(s)', { s: '{"__proto__": {"polluted": 1}, "a": 1}' }) as Record<string, unknown>;
    expect(Object.hasOwn(parsed, '__proto__')).toBe(false);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});

describe('compile-time errors and limits', () => {
  it('reports syntax errors with a position', () => {
    const e = thrown(() => compileExpression('a.b +'));
    expect(e.code).toBe('expression_parse');
    expect(e.details?.['position']).toBe(5);
    expect(e.message).toContain('a.b +');
  });

  it('reports static type errors at compile time', () => {
    expect(thrown(() => compileExpression('"a" - 1')).code).toBe('expression_parse');
    expect(thrown(() => compileExpression('nope(1)')).code).toBe('expression_parse');
  });

  it(`refuses sources longer than ${MAX_EXPRESSION_LENGTH} characters`, () => {
    const long = Array.from({ length: 1100 }, () => 'x + ').join('') + 'x';
    expect(long.length).toBeGreaterThan(MAX_EXPRESSION_LENGTH);
    expect(thrown(() => compileExpression(long)).message).toContain(String(MAX_EXPRESSION_LENGTH));
  });

  it('refuses nesting deeper than 64', () => {
    const deep = '('.repeat(70) + '1' + ')'.repeat(70);
    expect(thrown(() => compileExpression(deep)).message).toContain('64');
    const ok = '('.repeat(30) + '1' + ')'.repeat(30);
    expect(ev(ok)).toBe(1);
  });

  it('caches compiled expressions by source', () => {
    expect(compileExpression('x + 1')).toBe(compileExpression('x + 1'));
  });
});

describe('expressionIdentifiers', () => {
  it('lists root identifiers without macro variables', () => {
    expect(expressionIdentifiers('items.filter(i, i.score > input.min).map(j, j.name)')).toEqual(['items', 'input']);
    expect(expressionIdentifiers('cel.bind(t, a.b, t + c)')).toEqual(['a', 'c']);
    expect(expressionIdentifiers('has(variables.topic) && upper(x) == "A"')).toEqual(['variables', 'x']);
  });

  it('exposes static member paths on the compiled expression', () => {
    expect(compileExpression('variables.topic + input.user.name').paths).toEqual(['variables.topic', 'input.user.name']);
  });
});
