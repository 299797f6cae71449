/** Checks JSON values against JSON Schemas (compiled once per schema object with zod). */
import type { z } from 'zod';
import type { JsonSchema } from '../providers/provider.js';
import { loadZod } from '../kernel/lazy-modules.js';

const compiled = new WeakMap<JsonSchema, z.ZodType>();

/** Describes why `value` does not match `schema` (`path: message; ...`), or undefined when it does. */
export function checkJson(schema: JsonSchema, value: unknown): string | undefined {
  let validator = compiled.get(schema);
  if (!validator) {
    validator = loadZod().z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    compiled.set(schema, validator);
  }
  const result = validator.safeParse(value);
  if (result.success) return undefined;
  return result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
}
