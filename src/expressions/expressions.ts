/**
 * The expression language of edge conditions, `condition` nodes, loops, `data_transform` and
 * `end` outputs: CEL (https://github.com/google/cel-spec) via `@marcbachmann/cel-js`, smoothed
 * for JSON data.
 *
 * **Numbers.** cel-js types a JS number as CEL `double` but an integer literal (`1`) as CEL `int`
 * (a BigInt), and CEL has no mixed `int + double` operators, so `x + 1` with `x = 2` fails with
 * "no such overload". We fix it at compile time: every integer literal in the parsed AST is
 * rewritten to a double, so arithmetic behaves like JavaScript (`5 / 2 == 2.5`). Values that are
 * still CEL ints (what `size()`, `int()` or `indexOf()` return) mix freely with doubles through
 * registered `int ⊕ double` overloads, and results are returned as plain numbers, never BigInt.
 *
 * **Missing data.** Reading an absent variable or key throws `TrellisError` `missing_variable`
 * naming the path. Test presence with `has(a.b)` or supply a fallback with `default(a.b, x)`.
 *
 * **Safety.** No `eval`, `new Function` or `vm`. The keys `__proto__`, `constructor` and
 * `prototype` can be neither read nor written (refused at compile time when written literally,
 * at evaluation time when computed, and dropped from `parse_json` results and map literals).
 * Sources are capped at {@link MAX_EXPRESSION_LENGTH} characters and {@link MAX_EXPRESSION_DEPTH}
 * levels of nesting. CEL has no loops or recursion, so evaluation always terminates; the list
 * macros (`map`, `filter`, `exists`, `all`) do work proportional to the list they range over, so
 * the cost is bounded by the size of the run's data, not by the expression. There is no `now()`:
 * expressions are deterministic, so replaying a run routes the same way.
 */
import type { ASTNode, Environment } from '@marcbachmann/cel-js';
import { ExpressionError, TrellisError, isTrellisError } from '../kernel/errors.js';
import { loadCel } from '../kernel/lazy-modules.js';
import { FORBIDDEN_KEYS } from './data-paths.js';

/** Longest accepted expression source, in characters. */
export const MAX_EXPRESSION_LENGTH = 4_000;
/** Deepest accepted nesting (parentheses, calls, member chains, literals). */
export const MAX_EXPRESSION_DEPTH = 64;

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

/** An expression parsed, checked and ready to evaluate many times. */
export interface CompiledExpression {
  /** The source it was compiled from. */
  readonly source: string;
  /** Root identifiers it reads (e.g. `['input', 'classify']`), without macro iteration variables. */
  readonly identifiers: readonly string[];
  /** Member paths it reads statically, e.g. `['input.url', 'variables.topic']`. */
  readonly paths: readonly string[];
  /**
   * Evaluates against `context` (the run context: `input`, `variables`, node outputs, ...).
   * Numbers come back as JS numbers. Throws `TrellisError` `missing_variable` for an absent
   * variable or key and `ExpressionError` `expression_eval` for any other failure.
   */
  evaluate(context: Readonly<Record<string, unknown>>): unknown;
}

// ---------------------------------------------------------------------------------------------
// Values

/** A CEL number (int as BigInt, double as number, uint as a boxed BigInt) as a JS number. */
function num(value: unknown, fn: string): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value !== null && typeof value === 'object' && typeof (value as { valueOf(): unknown }).valueOf() === 'bigint') {
    return Number((value as { valueOf(): bigint }).valueOf());
  }
  throw new ExpressionError('expression_eval', `${fn}() expects a number, got ${describe(value)}.`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a map' : `a ${typeof value}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Converts CEL results to plain JS: BigInt and uint become numbers, Maps become objects. */
function toPlain(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(toPlain);
  if (value instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of value) if (!FORBIDDEN_KEYS.has(String(k))) out[String(k)] = toPlain(v);
    return out;
  }
  if (isPlainObject(value)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) out[k] = toPlain(value[k]);
    return out;
  }
  const primitive: unknown = (value as { valueOf(): unknown }).valueOf();
  return typeof primitive === 'bigint' ? Number(primitive) : value;
}

/** Equality for `contains`: numbers compare by value whatever their CEL type, the rest deeply. */
function same(a: unknown, b: unknown): boolean {
  const pa = toPlain(a);
  const pb = toPlain(b);
  if (pa === pb) return true;
  if (pa === null || pb === null || typeof pa !== 'object' || typeof pb !== 'object') return false;
  return JSON.stringify(pa) === JSON.stringify(pb);
}

function jsonText(value: unknown): string {
  return JSON.stringify(toPlain(value)) ?? 'null';
}

function numbers(list: readonly unknown[], fn: string): number[] {
  return list.map((v) => num(v, fn));
}

// ---------------------------------------------------------------------------------------------
// The environment: created on the first compile (cel-js loads then, not at import: see
// lazy-modules.ts), shared by every compiled expression.

const MISSING_CODES = new Set(['no_such_key', 'unknown_variable']);

/** Minimal view of cel-js's macro hooks (`registerFunction` with `ast` parameters). */
interface MacroEvaluator {
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

function createEnvironment(): Environment {
  const env = new (loadCel().Environment)({
    unlistedVariablesAreDyn: true,
    homogeneousAggregateLiterals: false,
    limits: { maxDepth: MAX_EXPRESSION_DEPTH },
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

  // CEL string methods taking int positions, for the doubles integer literals now are.
  const int = (n: number): bigint => BigInt(Math.trunc(n));
  env.registerFunction('string.substring(double): string', (s: string, a: number) => [...s].slice(Number(int(a))).join(''));
  env.registerFunction('string.substring(double, double): string', (s: string, a: number, b: number) =>
    [...s].slice(Number(int(a)), Number(int(b))).join(''),
  );
  env.registerFunction('string.indexOf(string, double): int', (s: string, t: string, from: number) =>
    BigInt(s.indexOf(t, from)),
  );
  env.registerFunction('string.lastIndexOf(string, double): int', (s: string, t: string, from: number) =>
    BigInt(s.lastIndexOf(t, from)),
  );

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

let env: Environment | undefined;

// ---------------------------------------------------------------------------------------------
// Compile-time AST pass: literal rewriting, key refusal, identifier collection.

/** The parts of cel-js's AST node class this file relies on beyond the published types. */
interface MutableNode {
  op: string;
  args: unknown;
  readonly start: number;
  readonly end: number;
  readonly input: string;
  setMeta(key: string, value: unknown): unknown;
  handle?: (left: unknown, right: unknown, ast: unknown, ev: unknown) => unknown;
}

const ITERATION_MACROS = new Set(['map', 'filter', 'all', 'exists', 'exists_one']);

interface Refs {
  readonly roots: Set<string>;
  readonly paths: Set<string>;
}

function refuse(source: string, node: MutableNode, key: string): never {
  throw new ExpressionError(
    'expression_parse',
    `Expression "${source}" uses the forbidden key "${key}" at position ${node.start}.`,
    { details: { source, position: node.start, key } },
  );
}

/** Index access with a computed key: refuse prototype keys before cel-js looks them up. */
function guardedIndex(ev: unknown, ast: MutableNode, ctx: unknown): unknown {
  const [left, right] = ast.args as [ASTNode, ASTNode];
  const run = (ev as MacroEvaluator).run.bind(ev);
  const key = run(right, ctx);
  if (typeof key === 'string' && FORBIDDEN_KEYS.has(key)) {
    throw new ExpressionError('expression_eval', `Reading the key "${key}" is not allowed.`, { details: { key } });
  }
  return (ast.handle as NonNullable<MutableNode['handle']>)(run(left, ctx), key, ast, ev);
}

/** `a.b["c"].d` as a path string, when the chain starts at an identifier and keys are literal. */
function memberPath(node: MutableNode): { root: string; path: string } | undefined {
  if (node.op === 'id') return { root: node.args as string, path: node.args as string };
  if (node.op === '.' || node.op === '.?') {
    const [left, key] = node.args as [MutableNode, string];
    const base = memberPath(left);
    return base && { root: base.root, path: `${base.path}.${key}` };
  }
  return undefined;
}

function memberRoot(node: MutableNode): MutableNode {
  while (node.op !== 'id') node = (node.args as [MutableNode, string])[0];
  return node;
}

/**
 * Walks the parsed tree once: integer literals become doubles, literal prototype keys are
 * refused, computed index reads are guarded, and referenced roots/paths are collected.
 * Macro expansions share the argument nodes with the tree walked here, so they see the rewrites.
 */
function prepare(source: string, node: MutableNode, bound: ReadonlySet<string>, refs: Refs): void {
  const visit = (child: unknown, scope: ReadonlySet<string> = bound): void =>
    prepare(source, child as MutableNode, scope, refs);
  switch (node.op) {
    case 'value':
      if (typeof node.args === 'bigint') node.args = Number(node.args);
      return;
    case 'id': {
      const name = node.args as string;
      if (FORBIDDEN_KEYS.has(name)) refuse(source, node, name);
      if (!bound.has(name)) refs.roots.add(name);
      return;
    }
    case '.':
    case '.?': {
      const [left, key] = node.args as [MutableNode, string];
      if (FORBIDDEN_KEYS.has(key)) refuse(source, node, key);
      const member = memberPath(node);
      if (member === undefined) return visit(left);
      // A whole `id.key.key` chain: record its longest path only, then check the inner keys.
      if (!bound.has(member.root)) refs.paths.add(member.path);
      for (let n = left; n.op !== 'id'; n = (n.args as [MutableNode, string])[0]) {
        const inner = (n.args as [MutableNode, string])[1];
        if (FORBIDDEN_KEYS.has(inner)) refuse(source, n, inner);
      }
      return visit(memberRoot(left));
    }
    case '[]':
    case '[?]': {
      const [left, index] = node.args as [MutableNode, MutableNode];
      if (index.op === 'value') {
        if (typeof index.args === 'string' && FORBIDDEN_KEYS.has(index.args)) refuse(source, index, index.args);
      } else {
        node.setMeta('evaluate', guardedIndex);
      }
      visit(left);
      return visit(index);
    }
    case 'map':
      for (const [key, value] of node.args as [MutableNode, MutableNode][]) {
        // Keys stay as written: CEL map keys are int/string/bool, never double.
        if (key.op === 'value' && typeof key.args === 'string' && FORBIDDEN_KEYS.has(key.args)) {
          refuse(source, key, key.args);
        }
        if (key.op !== 'value') visit(key);
        visit(value);
      }
      return;
    case 'call':
      for (const arg of (node.args as [string, MutableNode[]])[1]) visit(arg);
      return;
    case 'rcall': {
      const [name, receiver, args] = node.args as [string, MutableNode, MutableNode[]];
      const first = args[0];
      const isBind = name === 'bind' && receiver.op === 'id' && receiver.args === 'cel';
      if (!isBind) visit(receiver);
      if ((ITERATION_MACROS.has(name) || isBind) && first?.op === 'id') {
        // `items.map(x, f(x))` / `cel.bind(x, v, f(x))`: `x` is local to the remaining arguments.
        const scope = new Set(bound).add(first.args as string);
        args.slice(1).forEach((arg, i) => visit(arg, isBind && i === 0 ? bound : scope));
        return;
      }
      for (const arg of args) visit(arg);
      return;
    }
    case '!_':
    case '-_':
      return visit(node.args);
    default:
      if (Array.isArray(node.args)) for (const arg of node.args) visit(arg);
  }
}

// ---------------------------------------------------------------------------------------------
// Errors

function positionOf(error: { range?: { start: number } | undefined }): number | undefined {
  return error.range?.start;
}

function compileError(source: string, error: unknown): ExpressionError {
  if (isTrellisError(error)) return error as ExpressionError;
  const cel = error as { summary?: string; message?: string; range?: { start: number } };
  const summary = cel.summary ?? cel.message ?? String(error);
  const position = positionOf(cel);
  const where = position === undefined ? '' : ` at position ${position}`;
  return new ExpressionError('expression_parse', `Cannot compile expression "${source}": ${summary}${where}.`, {
    cause: error,
    details: { source, ...(position === undefined ? {} : { position }) },
  });
}

function evalError(
  source: string,
  error: unknown,
  context: Readonly<Record<string, unknown>>,
  identifiers: readonly string[],
): TrellisError {
  if (isTrellisError(error)) return error;
  const { EvaluationError, TypeError: CelTypeError } = loadCel();
  if (error instanceof EvaluationError || error instanceof CelTypeError) {
    const node = error.node as MutableNode | undefined;
    // cel-js reads variables with `context[name]`, so an absent `toString` resolves to the
    // inherited function and fails as an unsupported type: report it as the missing variable.
    const inherited =
      error.code === 'unsupported_type' ? identifiers.find((id) => !Object.hasOwn(context, id)) : undefined;
    if (MISSING_CODES.has(error.code) || inherited !== undefined) {
      const path = inherited ?? (node ? node.input.slice(node.start, node.end) : error.summary);
      return new TrellisError('missing_variable', `Expression "${source}" reads "${path}", which is not set.`, {
        cause: error,
        details: { source, path },
      });
    }
    return new ExpressionError('expression_eval', `Cannot evaluate expression "${source}": ${error.summary}.`, {
      cause: error,
      details: { source, celCode: error.code },
    });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new ExpressionError('expression_eval', `Cannot evaluate expression "${source}": ${message}`, {
    cause: error,
    details: { source },
  });
}

// ---------------------------------------------------------------------------------------------
// Compile

const CACHE_LIMIT = 5_000;
const cache = new Map<string, CompiledExpression>();

function compileUncached(source: string): CompiledExpression {
  if (source.length > MAX_EXPRESSION_LENGTH) {
    throw new ExpressionError(
      'expression_parse',
      `Expression is ${source.length} characters long; the limit is ${MAX_EXPRESSION_LENGTH}.`,
      { details: { length: source.length } },
    );
  }
  let run: ReturnType<Environment['parse']>;
  const refs: Refs = { roots: new Set(), paths: new Set() };
  try {
    run = (env ??= createEnvironment()).parse(source);
    prepare(source, run.ast as unknown as MutableNode, new Set(), refs);
    // Type-check once now, so static errors (unknown function, `"a" - 1`) surface at compile
    // time and evaluation skips cel-js's first-run check.
    const checked = run.check();
    if (!checked.valid) throw checked.error;
  } catch (error) {
    if (error instanceof loadCel().ParseError && error.code === 'limit_exceeded' && error.summary.includes('maxDepth')) {
      throw new ExpressionError(
        'expression_parse',
        `Expression "${source.slice(0, 80)}" nests deeper than ${MAX_EXPRESSION_DEPTH} levels.`,
        { cause: error, details: { source } },
      );
    }
    throw compileError(source, error);
  }
  const identifiers = Object.freeze([...refs.roots]);
  const paths = Object.freeze([...refs.paths]);
  const evaluate = (context: Readonly<Record<string, unknown>>): unknown => {
    let result: unknown;
    try {
      result = run(context);
    } catch (error) {
      throw evalError(source, error, context, identifiers);
    }
    return typeof result === 'object' || typeof result === 'bigint' ? toPlain(result) : result;
  };
  return Object.freeze({ source, identifiers, paths, evaluate });
}

/**
 * Parses and type-checks `source` once (cached by source text) for repeated evaluation.
 *
 * Throws `ExpressionError` `expression_parse` with the position and reason for a syntax error, an
 * unknown function, a static type error, a prototype key, or a source over the length/depth
 * limits.
 *
 * @example
 * const expr = compileExpression("classify.json.score > 3 && input.lang == 'en'");
 * expr.evaluate({ classify: { json: { score: 4 } }, input: { lang: 'en' } }); // true
 */
export function compileExpression(source: string): CompiledExpression {
  let compiled = cache.get(source);
  if (compiled === undefined) {
    compiled = compileUncached(source);
    if (cache.size >= CACHE_LIMIT) cache.clear();
    cache.set(source, compiled);
  }
  return compiled;
}

/**
 * Compiles (cached) and evaluates in one call.
 *
 * @example
 * evaluateExpression('x + 1', { x: 2 }); // 3
 */
export function evaluateExpression(source: string, context: Readonly<Record<string, unknown>>): unknown {
  return compileExpression(source).evaluate(context);
}

/**
 * Root identifiers an expression reads, without macro iteration variables: for validation.
 * Throws like {@link compileExpression}.
 *
 * @example
 * expressionIdentifiers('items.filter(i, i.score > input.min)'); // ['items', 'input']
 */
export function expressionIdentifiers(source: string): string[] {
  return [...compileExpression(source).identifiers];
}
