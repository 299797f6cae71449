/**
 * Whole numbers where CEL wants an int. Integer literals are doubles here (see expressions.ts,
 * "Numbers") and so is every JSON number, but CEL's list index and the functions taking positions
 * or counts (`substring`, `indexOf`, `lastIndexOf`, `split(s, sep, n)`, `bytes.at`,
 * `timestamp(int)`) want an int: `split(s, ',')[1]` failed to compile with "List index must be
 * int, got 'double'". This file lets an integral double stand wherever an int is wanted, and
 * refuses any other double with a message that names the call.
 *
 * - When checked, a call or an index that fails only because an argument is a double is checked
 *   again with that argument wrapped in a `whole` node: typed int, it converts its value when
 *   evaluated (a literal like `1.5` is refused at once, when compiled).
 * - When evaluated, a call whose arguments were `dyn` when checked picks its overload from the
 *   values; when none takes the numbers as doubles, it is tried once more with them as ints.
 */
import { ExpressionError } from '../kernel/errors.js';

/** cel-js's type declarations, as far as this file reads them. */
interface CelType {
  readonly kind: string;
  readonly hasDynType: boolean;
}
interface Checker {
  check(ast: unknown, ctx: unknown): CelType;
  readonly doubleType: CelType;
  readonly intType: CelType;
  readonly dynType: CelType;
}
interface Evaluator {
  run(ast: unknown, ctx: unknown): unknown;
}
type Check = (chk: Checker, ast: WholeNode, ctx: unknown) => CelType;
type Handle = (values: unknown, ...rest: unknown[]) => unknown;

/** The parts of cel-js's parsed node this file relies on (cel-ast.ts's `MutableNode` and more). */
interface WholeNode {
  readonly op: string;
  args: unknown;
  handle?: unknown;
  setMeta(key: string, value: unknown): unknown;
  readonly meta: { readonly check: Check; readonly macro?: unknown; readonly alternate?: unknown };
  readonly checkedType?: CelType;
  clone(op: NodeOp, args: unknown): WholeNode;
}
interface NodeOp {
  readonly name: string;
  readonly check: Check;
  readonly evaluate: (ev: Evaluator, ast: WholeNode, ctx: unknown) => unknown;
}

const code = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

/** The refusal of a double that is not a whole number. */
function notWhole(source: string, what: string, value: number, when: 'expression_parse' | 'expression_eval'): ExpressionError {
  const verb = when === 'expression_parse' ? 'Cannot compile' : 'Cannot evaluate';
  return new ExpressionError(when, `${verb} expression "${source}": ${what} takes a whole number, got ${value}.`, {
    details: { source, value },
  });
}

/** `value` as a CEL int when it is a whole JS number; anything else but a number passes unchanged. */
function toWhole(value: unknown, source: string, what: string): unknown {
  if (typeof value !== 'number') return value;
  if (!Number.isSafeInteger(value)) throw notWhole(source, what, value, 'expression_eval');
  return BigInt(value);
}

/** A node that reads its argument as an int: typed int when the argument is a double. */
function wholeOp(source: string, what: string): NodeOp {
  return {
    name: 'whole',
    check(chk, ast, ctx) {
      const inner = ast.args as WholeNode;
      const type = chk.check(inner, ctx);
      if (inner.op === 'value' && typeof inner.args === 'number' && !Number.isSafeInteger(inner.args)) {
        throw notWhole(source, what, inner.args, 'expression_parse');
      }
      return type === chk.doubleType ? chk.intType : type;
    },
    evaluate: (ev, ast, ctx) => toWhole(ev.run(ast.args, ctx), source, what),
  };
}

/**
 * Checks `node` with its `check`; when that fails with `failure` and some of `args` (the argument
 * nodes, indexes from `first` on) are doubles, wraps those in `whole` nodes and checks once more.
 * The first error stands when the second check fails too.
 */
function checkWithWholeArgs(node: WholeNode, args: WholeNode[], first: number, failure: string, source: string, what: string): void {
  const check = node.meta.check;
  node.setMeta('check', (chk: Checker, ast: WholeNode, ctx: unknown): CelType => {
    try {
      return check(chk, ast, ctx);
    } catch (error) {
      if (code(error) !== failure) throw error;
      let wrapped = false;
      for (let i = first; i < args.length; i++) {
        const arg = args[i]!;
        if (chk.check(arg, ctx) !== chk.doubleType) continue;
        args[i] = wrap(arg, wholeOp(source, what));
        wrapped = true;
      }
      if (!wrapped) throw error;
      try {
        return check(chk, ast, ctx);
      } catch (retried) {
        // A literal that is not a whole number is the error to report; anything else, the first.
        throw retried instanceof ExpressionError ? retried : error;
      }
    }
  });
}

/**
 * A call's handle that, when no overload takes the values, tries once more with the whole numbers
 * among the arguments as ints; a number that is not whole is then refused by name.
 */
function retryWithWholeValues(original: Handle, first: number, source: string, what: string): Handle {
  return (values, ...rest) => {
    try {
      return original(values, ...rest);
    } catch (error) {
      if (code(error) !== 'no_matching_overload' || !Array.isArray(values)) throw error;
      let fraction: number | undefined;
      const whole = values.map((v: unknown, i) => {
        if (i < first || typeof v !== 'number' || !Number.isFinite(v)) return v;
        if (!Number.isSafeInteger(v)) fraction ??= v;
        return BigInt(Math.trunc(v));
      });
      if (whole.every((v, i) => v === values[i])) throw error;
      let result: unknown;
      try {
        result = original(whole, ...rest);
      } catch (retried) {
        if (fraction === undefined && code(retried) !== 'no_matching_overload') throw retried;
        if (fraction === undefined) throw error;
      }
      if (fraction !== undefined) throw notWhole(source, what, fraction, 'expression_eval');
      return result;
    }
  };
}

/** A node that passes its number argument through, typed `dyn`: its overload is picked from the value. */
const LOOSE_NUMBER: NodeOp = {
  name: 'loose_number',
  check(chk, ast, ctx) {
    chk.check(ast.args, ctx);
    return chk.dynType;
  },
  evaluate: (ev, ast, ctx) => ev.run(ast.args, ctx),
};

/**
 * A method called on a `dyn` receiver (`input.text.substring(1, 3)`) is not matched when checked:
 * cel-js picks its overload from the values. A literal argument's static type `double` would then
 * rule out the int overload even for a whole number, so such arguments are made `dyn` too.
 */
function loosenOnDynReceiver(node: WholeNode, receiver: WholeNode, args: WholeNode[]): void {
  const check = node.meta.check;
  node.setMeta('check', (chk: Checker, ast: WholeNode, ctx: unknown): CelType => {
    if (chk.check(receiver, ctx).kind !== 'dyn') return check(chk, ast, ctx);
    const written = [...args];
    args.forEach((arg, i) => {
      if (chk.check(arg, ctx) === chk.doubleType) args[i] = wrap(arg, LOOSE_NUMBER);
    });
    try {
      return check(chk, ast, ctx);
    } catch {
      // No method of that name: report the arguments as written.
      args.splice(0, args.length, ...written);
      return check(chk, ast, ctx);
    }
  });
}

function wrap(arg: WholeNode, op: NodeOp): WholeNode {
  // Not async: cel-js takes an op it does not know for one that may return a promise.
  return arg.clone(op, arg).setMeta('async', false) as WholeNode;
}

/** After a successful check: a call that dispatches on its values at run time gets the retry. */
function afterCheck(node: WholeNode, receiver: WholeNode | undefined, args: readonly WholeNode[], source: string, what: string): void {
  const check = node.meta.check;
  node.setMeta('check', (chk: Checker, ast: WholeNode, ctx: unknown): CelType => {
    const type = check(chk, ast, ctx);
    const dynamic = [receiver, ...args].some((n) => n?.checkedType?.hasDynType === true);
    if (dynamic && node.handle !== undefined) {
      node.handle = retryWithWholeValues(node.handle as Handle, receiver === undefined ? 0 : 1, source, what);
    }
    return type;
  });
}

/**
 * Lets integral doubles stand for ints in `node` when it is a function call or an index (macros
 * excepted: they take expressions, not values). Call on each node before the tree is checked.
 */
export function acceptWholeNumbers(source: string, node: { readonly op: string }): void {
  const n = node as WholeNode;
  if (n.meta.macro !== undefined || n.meta.alternate !== undefined) return;
  switch (n.op) {
    case 'call': {
      const [name, args] = n.args as [string, WholeNode[]];
      checkWithWholeArgs(n, args, 0, 'no_matching_overload', source, `${name}()`);
      afterCheck(n, undefined, args, source, `${name}()`);
      return;
    }
    case 'rcall': {
      const [name, receiver, args] = n.args as [string, WholeNode, WholeNode[]];
      checkWithWholeArgs(n, args, 0, 'no_matching_overload', source, `${name}()`);
      afterCheck(n, receiver, args, source, `${name}()`);
      loosenOnDynReceiver(n, receiver, args);
      return;
    }
    case '[]':
    case '[?]':
      checkWithWholeArgs(n, n.args as WholeNode[], 1, 'invalid_index_type', source, 'a list index');
      return;
    default:
  }
}

/** Refuses a list index that is a number but not a whole one (cel-js reports it out of bounds). */
export function checkListIndex(source: string, list: unknown, key: unknown): void {
  if (Array.isArray(list) && typeof key === 'number' && !Number.isSafeInteger(key)) {
    throw notWhole(source, 'a list index', key, 'expression_eval');
  }
}
