/**
 * Checks JSON values against JSON Schemas (compiled once per schema object with zod). It lives with
 * the definition because a prompt node's `output_schema` is part of it: validation compiles each
 * schema ({@link jsonSchemaProblem}), so one the checker cannot handle (`if`/`then`/`else`, an
 * unknown `type`) is refused before a run starts instead of failing after the paid call.
 *
 * zod turns a `pattern` into a backtracking `RegExp`, and a model's answer is untrusted text: a
 * 26-character answer against `^(a+)+$` blocked the event loop for 2.5 s. Every regex check of the
 * compiled validator (`pattern`, `patternProperties`) is therefore swapped for RE2 (linear time, see
 * safe-regex.ts) before first use. A pattern RE2 cannot run (lookaround, backreferences) makes
 * every value fail the check with a message naming it, rather than run on the backtracking engine.
 */
import type { z } from 'zod';
import type { JsonSchema } from '../providers/provider.js';
import { isTrellisError } from '../kernel/errors.js';
import { loadZod } from '../kernel/lazy-modules.js';
import { compileSafeRegex } from '../expressions/safe-regex.js';

const compiled = new WeakMap<JsonSchema, z.ZodType | string>();

/** The parts of a zod schema or check this file walks: `_zod.def`, whatever its kind. */
interface ZodInternals {
  readonly _zod: { readonly def: Record<string, unknown> };
}

function hasDef(value: unknown): value is ZodInternals {
  return value !== null && typeof value === 'object' && '_zod' in value && typeof (value as ZodInternals)._zod?.def === 'object';
}

/** A `RegExp` stand-in for zod's regex check, which reads only `lastIndex`, `test` and `toString`. */
function re2Pattern(pattern: RegExp): object {
  const re = compileSafeRegex(pattern.source, 'ecma');
  return { lastIndex: 0, source: pattern.source, test: (s: string) => re.test(s), toString: () => String(pattern) };
}

/** Replaces every regex check reachable from `root` (nested schemas, lazy `$ref`s) with RE2. */
function useRe2(root: unknown): void {
  const seen = new Set<unknown>();
  const visit = (value: unknown): void => {
    if (value === null || typeof value !== 'object' || seen.has(value)) return;
    seen.add(value);
    if (Array.isArray(value)) return value.forEach(visit);
    if (!hasDef(value)) return Object.values(value).forEach(visit);
    const def = value._zod.def;
    if (def.check === 'string_format' && def.pattern instanceof RegExp) def.pattern = re2Pattern(def.pattern);
    for (const [key, inner] of Object.entries(def)) {
      if (key === 'getter' && typeof inner === 'function') visit((inner as () => unknown)());
      else visit(inner);
    }
  };
  visit(root);
}

function compile(schema: JsonSchema): z.ZodType | string {
  const validator = loadZod().z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  try {
    useRe2(validator);
  } catch (error) {
    if (isTrellisError(error)) return `(schema): ${error.message}`;
    throw error;
  }
  return validator;
}

function validatorOf(schema: JsonSchema): z.ZodType | string {
  let validator = compiled.get(schema);
  if (validator === undefined) {
    validator = compile(schema);
    compiled.set(schema, validator);
  }
  return validator;
}

/**
 * Why answers could not be checked against `schema` (a construct the checker does not support,
 * a `$ref` it cannot resolve, a `pattern` RE2 cannot run), or undefined when it compiles. The
 * compiled checker is kept for the calls that use the same schema object.
 *
 * @example
 * jsonSchemaProblem({ type: 'object', if: { required: ['a'] }, then: { required: ['b'] } }); // 'Conditional schemas (if/then/else) are not supported'
 */
export function jsonSchemaProblem(schema: JsonSchema): string | undefined {
  try {
    const validator = validatorOf(schema);
    return typeof validator === 'string' ? validator.replace(/^\(schema\): /, '') : undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Describes why `value` does not match `schema` (`path: message; ...`), or undefined when it does. */
export function checkJson(schema: JsonSchema, value: unknown): string | undefined {
  const validator = validatorOf(schema);
  if (typeof validator === 'string') return validator;
  const result = validator.safeParse(value);
  if (result.success) return undefined;
  return result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}
