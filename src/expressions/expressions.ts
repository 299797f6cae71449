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
 * Where CEL wants an int (a list index, `substring`, `indexOf`...), a whole double stands for it
 * and any other double is refused by name (cel-whole-numbers.ts).
 *
 * **Missing data.** Reading an absent variable or key throws `TrellisError` `missing_variable`
 * naming the path. Test presence with `has(a.b)` or supply a fallback with `default(a.b, x)`.
 *
 * **Safety.** No `eval`, `new Function` or `vm`. The keys `__proto__`, `constructor` and
 * `prototype` can be neither read nor written (refused at compile time when written literally,
 * at evaluation time when computed, and dropped from `parse_json` results and map literals).
 * Sources are capped at {@link MAX_EXPRESSION_LENGTH} characters and {@link MAX_EXPRESSION_DEPTH}
 * levels of nesting. CEL has no loops or recursion, so evaluation always terminates, but nested
 * macros multiply and operators copy data: each evaluation runs under the cost budget of
 * cel-cost.ts and fails with `expression_eval` past it, and `matches()` runs on RE2
 * (safe-regex.ts), in time linear in the text. There is no `now()`:
 * expressions are deterministic, so replaying a run routes the same way.
 *
 * This file compiles and caches; cel-environment.ts holds the environment and its functions,
 * cel-ast.ts the compile-time AST pass, cel-values.ts the CEL-to-JS value conversions.
 */
import type { Environment } from '@marcbachmann/cel-js';
import { ExpressionError, TrellisError, isTrellisError } from '../kernel/errors.js';
import { loadCel } from '../kernel/lazy-modules.js';
import { toPlain } from './cel-values.js';
import { MISSING_CODES, celEnvironment } from './cel-environment.js';
import { prepareAst, type MutableNode, type Refs } from './cel-ast.js';
import { endBudget, meterAst, startBudget } from './cel-cost.js';

export { EXPRESSION_FUNCTIONS, type ExpressionFunction } from './cel-environment.js';

/** Longest accepted expression source, in characters. */
export const MAX_EXPRESSION_LENGTH = 4_000;
/** Deepest accepted nesting (parentheses, calls, member chains, literals). */
export const MAX_EXPRESSION_DEPTH = 64;

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
    run = celEnvironment(MAX_EXPRESSION_DEPTH).parse(source);
    prepareAst(source, run.ast as unknown as MutableNode, new Set(), refs);
    // Type-check once now, so static errors (unknown function, `"a" - 1`) surface at compile
    // time and evaluation skips cel-js's first-run check.
    const checked = run.check();
    if (!checked.valid) throw checked.error;
    meterAst(run.ast as unknown as Parameters<typeof meterAst>[0]);
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
    const outer = startBudget();
    try {
      result = run(context);
    } catch (error) {
      throw evalError(source, error, context, identifiers);
    } finally {
      endBudget(outer);
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
