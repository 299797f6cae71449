/**
 * Which names an expression can read as the root of a path. Node outputs and loop variables are
 * read by name (`classify.json.label`, `item`), so a node id or loop variable CEL cannot read as an
 * identifier is a workflow nobody can route on: `my-step.text` parses as a subtraction, `in.text`
 * does not parse, and `int.text` reads CEL's type `int` instead of the context. The answers come
 * from the CEL implementation itself (a name is compiled and evaluated once, then cached), so they
 * stay right when cel-js adds a reserved word or a built-in.
 */
import { isTrellisError } from '../kernel/errors.js';
import { FORBIDDEN_KEYS } from './data-paths.js';
import { compileExpression } from './expressions.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PROBE = '\u0000trellis-probe';

const reasons = new Map<string, string | null>();
const builtins = new Map<string, boolean>();

/**
 * True when CEL gives `name` a meaning of its own (a literal like `true`, a type like `int` or
 * `string`, a namespace like `cel`), so an expression that reads `name` does not read the context.
 * Such roots of an expression are not references to check against the workflow.
 */
export function isCelBuiltinName(name: string): boolean {
  let known = builtins.get(name);
  if (known === undefined) {
    try {
      compileExpression(name).evaluate({});
      known = true;
    } catch (error) {
      // A name the context would supply reads as missing; any other failure (`optional` checks
      // its value's type) still means CEL claims the name.
      known = !(isTrellisError(error) && (error.code === 'missing_variable' || error.code === 'expression_parse'));
    }
    if (builtins.size >= 5_000) builtins.clear();
    builtins.set(name, known);
  }
  return known;
}

function probe(name: string): string | undefined {
  if (!IDENTIFIER.test(name)) {
    if (name.includes('-')) {
      return `expressions read it as "${name}.text", which CEL parses as a subtraction; use "${name.replace(/-/g, '_')}"`;
    }
    if (/^[0-9]/.test(name)) return `CEL reads "${name}.text" as a number; start it with a letter or "_", e.g. "_${name}"`;
    return `expressions read only names made of letters, digits and "_"; use "${name.replace(/[^A-Za-z0-9_]/g, '_')}"`;
  }
  if (FORBIDDEN_KEYS.has(name)) return `"${name}" is a key expressions never read; use e.g. "${name}_step"`;
  try {
    if (compileExpression(name).evaluate({ [name]: PROBE }) === PROBE) return undefined;
  } catch (error) {
    if (isTrellisError(error) && error.code === 'expression_parse') {
      return `"${name}" is a reserved word in CEL, so "${name}.text" does not parse; use e.g. "${name}_step"`;
    }
  }
  return `"${name}" is a name CEL defines itself (a literal, type or namespace), so "${name}.text" would not read it; use e.g. "${name}_step"`;
}

/**
 * Why an expression cannot read a context root named `name` (a node id, a loop variable), or
 * undefined when it can. The reason ends with a name to use instead.
 *
 * @example
 * unreadableNameReason('my-step'); // 'expressions read it as "my-step.text", which CEL parses as a subtraction; use "my_step"'
 * unreadableNameReason('in'); // '"in" is a reserved word in CEL, ...'
 * unreadableNameReason('classify'); // undefined
 */
export function unreadableNameReason(name: string): string | undefined {
  let reason = reasons.get(name);
  if (reason === undefined) {
    reason = probe(name) ?? null;
    // Names come from definitions, so the set stays small; the cap guards a caller that loops over data.
    if (reasons.size >= 5_000) reasons.clear();
    reasons.set(name, reason);
  }
  return reason ?? undefined;
}
