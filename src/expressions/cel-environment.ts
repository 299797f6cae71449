/**
 * The CEL environment every compiled expression shares: mixed int/double operators, the built-in
 * functions of {@link EXPRESSION_FUNCTIONS} and the `default` macro. It is created on the first
 * compile (cel-js loads then, not at import: see lazy-modules.ts).
 */
import type { ASTNode, Environment } from '@marcbachmann/cel-js';
import { ExpressionError } from '../kernel/errors.js';
import { loadCel } from '../kernel/lazy-modules.js';
import { FORBIDDEN_KEYS } from './data-paths.js';
import { jsonText, num, numbers, same } from './cel-values.js';

/** One built-in function of the expression language. */
export interface ExpressionFunction {
  readonly name: string;
  /** How it is called, e.g. `join(list, sep)`. */
  readonly usage: string;
  readonly description: string;
}

/**
 * Functions available in every expression, besides CEL's own (`size`, `has`, `int`, `double`,
 * `string`, `.contains()`, `.startsWith()`, `.matches()`, ... and the macros `.map()`,
 * `.filter()`, `.all()`, `.exists()`, `.exists_one()`, `cel.bind()`).
 *
 * | Function | Result |
 * | --- | --- |
 * | `upper(s)` / `lower(s)` / `trim(s)` | the string upper-cased / lower-cased / without surrounding whitespace |
 * | `length(x)` | characters of a string, elements of a list, keys of a map |
 * | `join(list, sep)` | the elements as text (strings as-is, others as JSON) joined by `sep` |
 * | `split(s, sep)` | the list of parts of `s` between occurrences of `sep` |
 * | `contains(x, y)` | string `x` contains substring `y`; list `x` has an element equal to `y`; map `x` has key `y` |
 * | `keys(map)` | the map's keys |
 * | `json(value)` | `value` serialised as JSON text |
 * | `parse_json(s)` | the value the JSON text `s` encodes (prototype keys dropped) |
 * | `default(x, fallback)` | `x`, or `fallback` when `x` reads a missing variable/key or is `null` |
 * | `round(n)` / `floor(n)` / `ceil(n)` | `n` rounded to the nearest / lower / upper integer |
 * | `min(list)` / `min(a, b)` / `max(list)` / `max(a, b)` | the smallest / largest number |
 * | `sum(list)` | the sum of a list of numbers (`0` when empty) |
 */
export const EXPRESSION_FUNCTIONS: readonly ExpressionFunction[] = Object.freeze([
  { name: 'upper', usage: 'upper(s)', description: 'The string upper-cased.' },
  { name: 'lower', usage: 'lower(s)', description: 'The string lower-cased.' },
  { name: 'trim', usage: 'trim(s)', description: 'The string without leading and trailing whitespace.' },
  { name: 'length', usage: 'length(x)', description: 'Characters of a string, elements of a list, keys of a map.' },
  { name: 'join', usage: 'join(list, sep)', description: 'Elements as text (non-strings as JSON) joined by sep.' },
  { name: 'split', usage: 'split(s, sep)', description: 'Parts of s between occurrences of sep.' },
  { name: 'contains', usage: 'contains(x, y)', description: 'Substring, list element or map key test.' },
  { name: 'keys', usage: 'keys(map)', description: 'The keys of a map.' },
  { name: 'json', usage: 'json(value)', description: 'The value serialised as JSON text.' },
  { name: 'parse_json', usage: 'parse_json(s)', description: 'The value encoded by the JSON text s.' },
  { name: 'default', usage: 'default(x, fallback)', description: 'x, or fallback when x is missing or null.' },
  { name: 'round', usage: 'round(n)', description: 'n rounded to the nearest integer.' },
  { name: 'floor', usage: 'floor(n)', description: 'The largest integer <= n.' },
  { name: 'ceil', usage: 'ceil(n)', description: 'The smallest integer >= n.' },
  { name: 'min', usage: 'min(list) | min(a, b)', description: 'The smallest number.' },
  { name: 'max', usage: 'max(list) | max(a, b)', description: 'The largest number.' },
  { name: 'sum', usage: 'sum(list)', description: 'The sum of a list of numbers.' },
]);

/** cel-js error codes of an absent variable or key: `default()` falls back on them, evaluation reports `missing_variable`. */
export const MISSING_CODES = new Set(['no_such_key', 'unknown_variable']);

/** Minimal view of cel-js's macro hooks (`registerFunction` with `ast` parameters). */
export interface MacroEvaluator {
  run(ast: ASTNode, ctx: unknown): unknown;
  tryEval(ast: ASTNode, ctx: unknown): unknown;
}
interface MacroChecker {
  check(ast: ASTNode, ctx: unknown): unknown;
  getType(name: string): unknown;
}
interface DefaultMacro {
  readonly args: readonly ASTNode[];
}

function createEnvironment(maxDepth: number): Environment {
  const env = new (loadCel().Environment)({
    unlistedVariablesAreDyn: true,
    homogeneousAggregateLiterals: false,
    limits: { maxDepth },
  });

  // Mixed int/double arithmetic and equality (comparisons `<`, `>`... are already mixed in cel-js).
  const arith: Record<string, (a: number, b: number) => number> = {
    '+': (a, b) => a + b,
    '-': (a, b) => a - b,
    '*': (a, b) => a * b,
    '/': (a, b) => a / b,
    '%': (a, b) => a % b,
  };
  for (const [op, fn] of Object.entries(arith)) {
    env.registerOperator(`int ${op} double`, (a: bigint, b: number) => fn(Number(a), b));
    env.registerOperator(`double ${op} int`, (a: number, b: bigint) => fn(a, Number(b)));
  }
  env.registerOperator('double % double', (a: number, b: number) => a % b);
  env.registerOperator('int == double', (a: bigint, b: number) => Number(a) === b);
  // cel-js registers the mirrored `double == int` (and both `!=`) itself.

  env.registerFunction('upper(string): string', (s: string) => s.toUpperCase());
  env.registerFunction('lower(string): string', (s: string) => s.toLowerCase());
  env.registerFunction('trim(string): string', (s: string) => s.trim());
  env.registerFunction('length(string): double', (s: string) => [...s].length);
  env.registerFunction('length(list): double', (l: readonly unknown[]) => l.length);
  env.registerFunction('length(map): double', (m: object) => (m instanceof Map ? m.size : Object.keys(m).length));
  env.registerFunction('join(list, string): string', (l: readonly unknown[], sep: string) =>
    l.map((v) => (typeof v === 'string' ? v : jsonText(v))).join(sep),
  );
  env.registerFunction('split(string, string): list<string>', (s: string, sep: string) => s.split(sep));
  env.registerFunction('contains(string, string): bool', (s: string, t: string) => s.includes(t));
  env.registerFunction('contains(list, dyn): bool', (l: readonly unknown[], v: unknown) => l.some((x) => same(x, v)));
  env.registerFunction('contains(map, dyn): bool', (m: object, k: unknown) =>
    m instanceof Map ? m.has(k) : typeof k === 'string' && Object.hasOwn(m, k),
  );
  env.registerFunction('keys(map): list<string>', (m: object) =>
    m instanceof Map ? [...m.keys()].map(String) : Object.keys(m),
  );
  env.registerFunction('json(dyn): string', jsonText);
  env.registerFunction('parse_json(string): dyn', (s: string) => {
    try {
      return JSON.parse(s, (key, value: unknown) => (FORBIDDEN_KEYS.has(key) ? undefined : value)) as unknown;
    } catch (error) {
      throw new ExpressionError('expression_eval', `parse_json() got invalid JSON: ${(error as Error).message}`);
    }
  });
  for (const [name, fn] of [
    ['round', Math.round],
    ['floor', Math.floor],
    ['ceil', Math.ceil],
  ] as const) {
    env.registerFunction(`${name}(dyn): double`, (n: unknown) => fn(num(n, name)));
  }
  for (const [name, fn] of [
    ['min', Math.min],
    ['max', Math.max],
  ] as const) {
    env.registerFunction(`${name}(list): double`, (l: readonly unknown[]) => {
      if (l.length === 0) throw new ExpressionError('expression_eval', `${name}() of an empty list.`);
      return fn(...numbers(l, name));
    });
    env.registerFunction(`${name}(dyn, dyn): double`, (a: unknown, b: unknown) => fn(num(a, name), num(b, name)));
  }
  env.registerFunction('sum(list): double', (l: readonly unknown[]) => numbers(l, 'sum').reduce((a, b) => a + b, 0));

  // `default` is a macro so its first argument can fail to resolve without failing the call.
  env.registerFunction('default(ast, ast): dyn', ({ args }: { args: readonly ASTNode[] }) => ({
    args,
    async: false,
    typeCheck(checker: MacroChecker, macro: DefaultMacro, ctx: unknown) {
      for (const arg of macro.args) checker.check(arg, ctx);
      return checker.getType('dyn');
    },
    evaluate(ev: MacroEvaluator, macro: DefaultMacro, ctx: unknown) {
      if (isAbsentPath(macro.args[0] as ASTNode, ctx)) return ev.run(macro.args[1] as ASTNode, ctx);
      const value = ev.tryEval(macro.args[0] as ASTNode, ctx);
      if (value instanceof Error) {
        if (!MISSING_CODES.has((value as { code?: string }).code ?? '')) throw value;
      } else if (value !== null) {
        return value;
      }
      return ev.run(macro.args[1] as ASTNode, ctx);
    },
  }));
  return env;
}

/** The parts of a cel-js AST node and evaluation context that {@link isAbsentPath} reads. */
interface PathNode {
  readonly op: string;
  readonly args: unknown;
}
interface ValueScope {
  getValue(name: string): unknown;
}

/**
 * Whether `ast` is a plain path (`step.output.field`) that names nothing in `ctx`. `default()`
 * then goes straight to its fallback: evaluating the path would throw, and cel-js builds an Error
 * with a stack trace for it, which costs more than the rest of a typical expression (it was the
 * largest single cost of a run whose end reads `default(even.text, odd.text)`). Only plain objects
 * and Maps are walked here; anything else (a list, a typed value) answers `false` and is left to
 * the evaluator, so the result is always the same as evaluating.
 */
function isAbsentPath(ast: ASTNode, ctx: unknown): boolean {
  const fields: string[] = [];
  let node = ast as unknown as PathNode;
  while (node.op === '.' && Array.isArray(node.args) && typeof node.args[1] === 'string') {
    fields.push(node.args[1]);
    node = node.args[0] as PathNode;
  }
  if (node.op !== 'id' || typeof node.args !== 'string') return false;
  const scope = ctx as Partial<ValueScope>;
  if (typeof scope.getValue !== 'function') return false;
  let value = scope.getValue(node.args);
  for (let i = fields.length - 1; i >= 0; i--) {
    if (value === undefined) return true;
    if (value === null) return true;
    if (value instanceof Map) value = value.get(fields[i]);
    else if ((value as object).constructor === Object) value = Object.hasOwn(value as object, fields[i]!) ? (value as Record<string, unknown>)[fields[i]!] : undefined;
    else return false;
  }
  return value === undefined;
}

let shared: Environment | undefined;

/** The shared environment, created on first use with nesting capped at `maxDepth`. */
export function celEnvironment(maxDepth: number): Environment {
  return (shared ??= createEnvironment(maxDepth));
}
