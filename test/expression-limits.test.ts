/**
 * Evaluation cannot stall the host (issue 16 item 1): every attack of the issue ends at once with
 * a typed error or the right answer. No test measures time: an attack that still blocked would
 * run past vitest's timeout instead.
 */
import { describe, expect, it } from 'vitest';
import { workflow } from '../src/index.js';
import { evaluateExpression } from '../src/expressions/expressions.js';
import { EXPRESSION_COST_BUDGET } from '../src/expressions/cel-cost.js';
import { MAX_INDEX_GAP, setPath } from '../src/expressions/data-paths.js';
import { checkJson } from '../src/definition/json-schema-check.js';
import { makeEngine } from './helpers.js';

const evalError = (source: string, context: Record<string, unknown> = {}): unknown => {
  try {
    evaluateExpression(source, context);
  } catch (error) {
    return error;
  }
  throw new Error(`"${source}" evaluated without an error`);
};
const overBudget = { code: 'expression_eval', message: expect.stringContaining(`cost budget of ${EXPRESSION_COST_BUDGET}`) };
const L = '[0,1,2,3,4,5,6,7,8,9]';
const nested = (depth: number): string => {
  const vars = 'abcdefgh'.slice(0, depth).split('');
  return vars.reduceRight((body, v) => `${L}.exists(${v}, ${body})`, `${vars.join('+')} > 100`);
};

describe('matches() runs on RE2', () => {
  it('a catastrophic pattern answers at once, however long the text', () => {
    for (const n of [24, 40, 10_000]) {
      expect(evaluateExpression('input.s.matches("^(a+)+$")', { input: { s: 'a'.repeat(n) + '!' } })).toBe(false);
    }
    expect(evaluateExpression('input.s.matches("^(a+)+$")', { input: { s: 'a'.repeat(30) } })).toBe(true);
  });

  it('the pattern may come from data', () => {
    const input = { s: 'a'.repeat(28) + '!', re: '^(a|aa)+$' };
    expect(evaluateExpression('input.s.matches(input.re)', { input })).toBe(false);
  });

  it('keeps CEL semantics: unanchored search, RE2 syntax', () => {
    expect(evaluateExpression('"hello world".matches("o w")', {})).toBe(true);
    expect(evaluateExpression('"abc".matches("^b")', {})).toBe(false);
    expect(evaluateExpression('"ABC".matches("(?i)abc")', {})).toBe(true);
  });

  it('refuses what RE2 cannot run (backreferences) with a typed error', () => {
    expect(evalError('"aa".matches("(a)\\\\1")')).toMatchObject({ code: 'expression_eval', message: expect.stringContaining('RE2') });
  });
});

describe('the cost budget', () => {
  it('stops six nested exists over ten-element literals', () => {
    expect(nested(6).length).toBeLessThan(260);
    expect(evalError(nested(6))).toMatchObject(overBudget);
  });

  it('stops nested exists over a 1,500-item input list', () => {
    const l = Array.from({ length: 1500 }, (_, i) => i);
    expect(evalError('input.l.exists(x, input.l.exists(y, x + y < 0))', { input: { l } })).toMatchObject(overBudget);
    expect(evalError('input.l.all(x, input.l.all(y, x + y >= 0))', { input: { l } })).toMatchObject(overBudget);
  });

  it('stops strings and lists that double their way up', () => {
    const doubling = 'cel.bind(a, input.s + input.s, cel.bind(b, a + a, cel.bind(c, b + b, cel.bind(d, c + c, d + d))))';
    expect(evalError(doubling, { input: { s: 'x'.repeat(100_000) } })).toMatchObject(overBudget);
    const l = Array.from({ length: 1500 }, (_, i) => i);
    expect(evalError('input.l.map(x, input.l + input.l).size()', { input: { l } })).toMatchObject(overBudget);
    expect(evalError('input.l.filter(x, x in input.l).size()', { input: { l } })).toMatchObject(overBudget);
  });

  it('a spent budget is not swallowed by default() or exists over the remaining elements', () => {
    const l = Array.from({ length: 1500 }, (_, i) => i);
    expect(evalError('default(input.l.exists(x, input.l.exists(y, x + y < 0)), true)', { input: { l } })).toMatchObject(overBudget);
  });

  it('leaves sane workloads alone, and every evaluation starts with a full budget', () => {
    const l = Array.from({ length: 10_000 }, (_, i) => i);
    for (let i = 0; i < 3; i++) {
      expect(evaluateExpression('input.l.filter(x, x % 2 == 0).map(x, x * 2).size()', { input: { l } })).toBe(5000);
    }
    expect(evaluateExpression(nested(4), {})).toBe(false);
    const items = Array.from({ length: 1000 }, (_, i) => ({ id: i, tags: ['a', 'b', 'c'] }));
    expect(evaluateExpression('input.items.filter(i, i.tags.exists(t, t == "b")).size()', { input: { items } })).toBe(1000);
    expect(evaluateExpression('size(upper(input.text) + "!")', { input: { text: 'x'.repeat(100_000) } })).toBe(100_001);
  });
});

describe('path writes', () => {
  it(`refuse an index more than ${MAX_INDEX_GAP} past the end of the list`, () => {
    for (const index of [2_000_000, 50_000_000]) {
      expect(() => setPath({}, `big[${index}]`, 1)).toThrow(expect.objectContaining({ code: 'expression_eval' }));
    }
    expect(() => setPath({ big: [1, 2] }, `big[${MAX_INDEX_GAP + 3}]`, 1)).toThrow(/at most 10000 past the end/);
  });

  it('allow appending and filling within the gap', () => {
    expect(setPath({ big: [1] }, 'big[1]', 2)).toEqual({ big: [1, 2] });
    expect((setPath({}, `big[${MAX_INDEX_GAP}]`, 'x') as { big: unknown[] }).big).toHaveLength(MAX_INDEX_GAP + 1);
  });
});

describe('JSON Schema patterns run on RE2', () => {
  it('a catastrophic pattern against a 26-character answer is a plain mismatch', () => {
    const schema = { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } }, required: ['a'] };
    expect(checkJson(schema, { a: 'a'.repeat(25) + '!' })).toMatch(/^a: .*pattern/);
    expect(checkJson(schema, { a: 'aaaa' })).toBeUndefined();
  });

  it('covers patternProperties and $ref, and keeps ECMA escapes', () => {
    const props = { type: 'object', patternProperties: { '^(a+)+$': { type: 'number' } } };
    expect(checkJson(props, { ['a'.repeat(30) + '!']: 'not checked', aa: 1 })).toBeUndefined();
    expect(checkJson(props, { aa: 'x' })).toMatch(/aa: /);
    const ref = { $defs: { n: { type: 'string', pattern: '^(a|aa)+$' } }, type: 'array', items: { $ref: '#/$defs/n' } };
    expect(checkJson(ref, ['a'.repeat(30) + '!'])).toMatch(/^0: .*pattern/);
    expect(checkJson({ type: 'string', pattern: '^\\u00e9+$' }, 'ééé')).toBeUndefined();
  });

  it('a pattern RE2 cannot run fails the check with a message naming it', () => {
    expect(checkJson({ type: 'string', pattern: '^(?=a)a$' }, 'a')).toMatch(/not supported.*RE2/);
  });
});

describe('in a run', () => {
  it('a condition with a backtracking regex on run input routes at once', async () => {
    const { engine } = makeEngine();
    const wf = workflow('redos', { variables: { s: 'string' } })
      .when('input.s.matches("^(a+)+$")', (b) => b.transform('yes', { v: "'yes'" }), (b) => b.transform('no', { v: "'no'" }))
      .end({ out: 'when_1_join' });
    const run = await engine.run(wf, { s: 'a'.repeat(30) + '!' });
    expect(run.status).toBe('completed');
    expect(JSON.stringify(run.output_data)).toContain('no');
  });

  it('an expression over its budget fails the run with the typed error', async () => {
    const { engine } = makeEngine();
    const wf = workflow('costly', { variables: { l: 'array' } }).transform('t', { v: 'input.l.exists(x, input.l.exists(y, x + y < 0))' });
    const run = await engine.run(wf, { l: Array.from({ length: 1500 }, (_, i) => i) });
    expect(run.status).toBe('failed');
    expect(run.error_message).toMatch(/cost budget/);
  });
});
