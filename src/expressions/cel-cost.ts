/**
 * The cost budget of one evaluation. CEL has no loops, but nested macros multiply (six `exists`
 * over ten-element literals are a million steps) and operators copy data (`l + l` in a `map`), so
 * "bounded by the data" is not a bound a host can live with. cel-js meters nothing at run time, so
 * this file instruments the checked tree once, at compile time:
 *
 * - every step of a macro (`map`, `filter`, `all`, `exists`, `exists_one`) costs one unit per
 *   node of the step's tree (its predicate or transform), since that is what a step evaluates;
 * - every operator or function that handles a string, list or map costs its size in characters or
 *   elements (the arguments it reads and the result it builds), so copying and scanning data is
 *   paid for, and a string cannot double its way to gigabytes;
 * - `matches()` runs on RE2 (safe-regex.ts) and costs the length of the text it reads.
 *
 * An evaluation past {@link EXPRESSION_COST_BUDGET} units stops with `ExpressionError`
 * `expression_eval`. Evaluation is synchronous (no registered function is async), so one
 * module-level counter serves; `startBudget`/`endBudget` save and restore it, so a nested evaluation would
 * not corrupt the outer one.
 */
import { ExpressionError } from '../kernel/errors.js';
import { compileSafeRegex } from './safe-regex.js';
import type { MutableNode } from './cel-ast.js';

/**
 * Units one evaluation may spend. A unit is about one node evaluated or one character or element
 * handled (40 to 200 ns on a 2020s core), so the budget allows about 100,000 macro steps of a
 * small predicate or a megabyte of text handled; see "Limits" in docs/expressions.md for the measurements.
 */
export const EXPRESSION_COST_BUDGET = 1_000_000;

// Functions that take constant time whatever the size of their arguments: charging `size(items)`
// the length of `items` would make `items.map(i, i / size(items))` quadratic in cost, not in work.
const CONSTANT_TIME = new Set(['size', 'length', 'type', 'dyn', 'int', 'uint', 'double', 'bool', 'string']);

let remaining = EXPRESSION_COST_BUDGET;
// Once the budget is spent every charge throws, and `exists`/`all` swallow a step's error and go on
// to the next element: one error per evaluation, thrown again, keeps that from costing a stack
// trace per remaining element.
let spent: ExpressionError | undefined;

function exceeded(): ExpressionError {
  return new ExpressionError(
    'expression_eval',
    `Expression exceeded its cost budget of ${EXPRESSION_COST_BUDGET} units (nodes evaluated by list macros, and characters and elements handled by functions and operators).`,
    { details: { budget: EXPRESSION_COST_BUDGET } },
  );
}

function charge(units: number): void {
  remaining -= units;
  if (remaining < 0) throw (spent ??= exceeded());
}

/** Characters of a string, elements of a list or CEL map; 0 for anything else (a JSON object's keys are never counted, which would itself cost a scan). */
function sizeOf(value: unknown): number {
  if (typeof value === 'string' || Array.isArray(value)) return value.length;
  return value instanceof Map ? value.size : 0;
}

/** The budget state of an evaluation, saved while a nested one runs. */
export interface BudgetState {
  readonly remaining: number;
  readonly spent: ExpressionError | undefined;
}

/** Gives the evaluation about to start a full budget; returns the outer state for {@link endBudget}. */
export function startBudget(): BudgetState {
  const outer = { remaining, spent };
  remaining = EXPRESSION_COST_BUDGET;
  spent = undefined;
  return outer;
}

/** Restores the state {@link startBudget} returned (call it in a `finally`). */
export function endBudget(outer: BudgetState): void {
  remaining = outer.remaining;
  spent = outer.spent;
}

/** cel-js node internals this file relies on (beyond {@link MutableNode}). */
interface CheckedNode extends MutableNode {
  readonly meta: { readonly alternate?: CheckedNode; readonly macro?: unknown; readonly evaluate: Evaluate };
}
type Evaluate = (ev: unknown, ast: unknown, ctx: unknown) => unknown;
type Handle = (...args: unknown[]) => unknown;
interface ComprehensionArgs {
  readonly iterable: CheckedNode;
  readonly init: CheckedNode;
  readonly step: CheckedNode;
}

function isNode(value: unknown): value is CheckedNode {
  return value !== null && typeof value === 'object' && typeof (value as { op?: unknown }).op === 'string' && 'meta' in value;
}

/** Nodes of the tree under `root` (macro expansions included, shared nodes once). */
function countNodes(root: CheckedNode): number {
  let count = 0;
  walk(root, new Set(), () => count++);
  return count;
}

function meterStep(step: CheckedNode): void {
  const inner = step.meta.evaluate;
  const units = countNodes(step);
  step.setMeta('evaluate', (ev: unknown, ast: unknown, ctx: unknown) => {
    charge(units);
    return inner(ev, ast, ctx);
  });
}

/** `s.matches(re)` on RE2; the receiver and pattern arrive evaluated, as `[s, re]`. */
function re2Matches(original: Handle): Handle {
  return (values: unknown, ...rest: unknown[]) => {
    const [s, re] = values as [unknown, unknown];
    if (typeof s !== 'string' || typeof re !== 'string') return original(values, ...rest);
    charge(s.length + re.length);
    return compileSafeRegex(re).test(s);
  };
}

function meterCall(node: CheckedNode, name: string): void {
  const original = node.handle as unknown as Handle | undefined;
  if (original === undefined) return;
  if (name === 'matches' && node.op === 'rcall') {
    node.handle = re2Matches(original) as NonNullable<MutableNode['handle']>;
    return;
  }
  if (CONSTANT_TIME.has(name)) return;
  node.handle = ((values: unknown, ...rest: unknown[]) => {
    let units = 1;
    for (const v of values as readonly unknown[]) units += sizeOf(v);
    charge(units);
    const result = original(values, ...rest);
    charge(sizeOf(result));
    return result;
  }) as NonNullable<MutableNode['handle']>;
}

function meterBinary(node: CheckedNode): void {
  const original = node.handle as unknown as Handle | undefined;
  if (original === undefined) return;
  const op = node.op;
  node.handle = ((left: unknown, right: unknown, ...rest: unknown[]) => {
    // `in` scans a list (a map lookup is constant); `==` compares aggregates element by element.
    if (op === 'in') charge(Array.isArray(right) ? right.length : 0);
    else if (op !== '+') charge(Array.isArray(left) || left instanceof Map ? sizeOf(left) : 0);
    const result = original(left, right, ...rest);
    if (op === '+') charge(sizeOf(result));
    return result;
  }) as NonNullable<MutableNode['handle']>;
}

const METERED_BINARY = new Set(['+', 'in', '==', '!=']);

/** Calls `fn` on every node under `value` once, following macro expansions and comprehension parts. */
function walk(value: unknown, seen: Set<object>, fn: (node: CheckedNode) => void): void {
  if (Array.isArray(value)) {
    for (const v of value) walk(v, seen, fn);
    return;
  }
  if (!isNode(value) || seen.has(value)) return;
  seen.add(value);
  fn(value);
  walk(value.meta.alternate, seen, fn);
  if (value.op === 'comprehension') {
    const args = value.args as ComprehensionArgs;
    walk([args.iterable, args.init, args.step], seen, fn);
  } else {
    walk(value.args, seen, fn);
  }
}

/**
 * Instruments a type-checked tree (after `check()`, which sets the handles wrapped here, and before
 * the first evaluation): macro steps, size-dependent operators and functions, and `matches()`.
 */
export function meterAst(root: CheckedNode): void {
  walk(root, new Set(), (node) => {
    switch (node.op) {
      case 'comprehension':
        meterStep((node.args as ComprehensionArgs).step);
        return;
      case 'call':
        if (node.meta.macro === undefined) meterCall(node, (node.args as [string])[0]);
        return;
      case 'rcall':
        if (node.meta.macro === undefined && node.meta.alternate === undefined) {
          meterCall(node, (node.args as [string])[0]);
        }
        return;
      default:
        if (METERED_BINARY.has(node.op)) meterBinary(node);
    }
  });
}
