/**
 * Integer literals and JSON numbers are doubles in expressions; wherever CEL wants an int (a list
 * index, `substring`, `indexOf`, `split(s, sep, n)`...) a whole double must do, and any other
 * double must be refused by name (issue 17 point 13).
 */
import { describe, expect, it } from 'vitest';
import { evaluateExpression, isTrellisError, validateWorkflow, workflow } from '../src/index.js';
import { makeEngine } from './helpers.js';

const ev = (source: string, context: Record<string, unknown> = {}): unknown => evaluateExpression(source, context);

function thrown(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (!isTrellisError(error)) throw error;
    return { code: error.code, message: error.message };
  }
  throw new Error('expected a throw');
}

describe('a whole double where CEL wants an int', () => {
  it.each([
    // Typed lists: what split() returns, list literals.
    ["split(s, ',')[1]", { s: 'a,b,c' }, 'b'],
    ["s.split(',')[2]", { s: 'a,b,c' }, 'c'],
    ['[10, 20, 30][1]', {}, 20],
    ['[10, 20, 30][1.0]', {}, 20],
    ["split(s, ',')[size(split(s, ',')) - 1]", { s: 'a,b,c' }, 'c'],
    ["split(s, ',')[n]", { s: 'a,b,c', n: 1 }, 'b'],
    ["split(s, ',')[n + 1]", { s: 'a,b,c', n: 1 }, 'c'],
    // Data lists (dyn), as before.
    ['xs[1]', { xs: ['a', 'b'] }, 'b'],
    ['xs[n]', { xs: ['a', 'b'], n: 1 }, 'b'],
    // String methods taking positions and counts, on typed and data strings.
    ["'hello'.substring(1, 3)", {}, 'el'],
    ['s.substring(1, 3)', { s: 'hello' }, 'el'],
    ['s.substring(1)', { s: 'hello' }, 'ello'],
    ['input.text.substring(10, 20)', { input: { text: 'abcdefghijklmnopqrstuvwxyz' } }, 'klmnopqrst'],
    ['s.substring(a, b)', { s: 'hello', a: 1, b: 3 }, 'el'],
    ['upper(s).substring(1, n + 1)', { s: 'hello', n: 2 }, 'EL'],
    ["s.indexOf('l', 3)", { s: 'hello' }, 3],
    ["s.lastIndexOf('l', 2)", { s: 'hello' }, 2],
    ["s.split(',', 2)", { s: 'a,b,c' }, ['a', 'b,c']],
    ["s.split(',', n)", { s: 'a,b,c', n: 2 }, ['a', 'b,c']],
    ["'a,b,c'.split(',', 2)[1]", {}, 'b,c'],
  ])('%s with %j', (source, context, expected) => {
    expect(ev(source, context)).toEqual(expected);
  });

  it('leaves double arithmetic and functions that take doubles alone', () => {
    expect(ev('5 / 2')).toBe(2.5);
    expect(ev('round(x)', { x: 2.5 })).toBe(3);
    expect(ev('string(2)')).toBe('2');
    expect(ev('int(2.5)')).toBe(2);
    expect(ev('x + 0.5', { x: 1 })).toBe(1.5);
  });

  it('refuses a double that is not whole, naming the call, when compiled for a literal', () => {
    expect(thrown(() => ev("'abc'.substring(1.5)"))).toEqual({
      code: 'expression_parse',
      message: `Cannot compile expression "'abc'.substring(1.5)": substring() takes a whole number, got 1.5.`,
    });
    expect(thrown(() => ev("split(s, ',')[0.5]", { s: 'a' })).message).toContain('a list index takes a whole number, got 0.5');
  });

  it('refuses a double that is not whole, naming the call, when evaluated for data', () => {
    expect(thrown(() => ev('s.substring(n)', { s: 'hello', n: 2.5 }))).toEqual({
      code: 'expression_eval',
      message: 'Cannot evaluate expression "s.substring(n)": substring() takes a whole number, got 2.5.',
    });
    expect(thrown(() => ev('s.substring(1.5, 3)', { s: 'hello' })).message).toContain('substring() takes a whole number, got 1.5');
    // A data list read with a fraction was "index out of bounds, index 1.5 >= size 2".
    expect(thrown(() => ev('xs[n]', { xs: [1, 2], n: 0.5 })).message).toContain('a list index takes a whole number, got 0.5');
    expect(thrown(() => ev('xs[1.5]', { xs: [1, 2] })).message).toContain('a list index takes a whole number, got 1.5');
    expect(thrown(() => ev("split(s, ',')[n]", { s: 'a,b', n: 0.5 })).message).toContain('a list index takes a whole number, got 0.5');
  });

  it("keeps CEL's own errors: out of range, no such method", () => {
    expect(thrown(() => ev("'hello world'.substring(10, 20)")).message).toContain('end index out of range');
    expect(thrown(() => ev("s.indexOf('l', 10)", { s: 'hello' })).message).toContain('fromIndex out of range');
    expect(thrown(() => ev('s.charAt(1)', { s: 'x' })).message).toContain("found no matching overload for 'dyn.charAt(double)'");
    expect(thrown(() => ev('upper(1)')).message).toContain("found no matching overload for 'upper(double)'");
  });

  it('is accepted by validation and runs in a workflow', async () => {
    const wf = workflow('csv', { variables: { line: 'string' } })
      .transform('cells', { second: "split(input.line, ',')[1]", head: 'input.line.substring(0, 3)' })
      .end({ second: 'cells.second', head: 'cells.head' });
    expect(validateWorkflow(wf.build()).ok).toBe(true);
    const { engine } = makeEngine();
    const run = await engine.run(wf, { line: 'abc,def,ghi' });
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ second: 'def', head: 'abc' });
  });
});
