/** Request validation with zod: every issue collected, reported as a 400 with the issues as details. */
import type { z } from 'zod';
import { TrellisError, type ValidationIssue } from '../kernel/errors.js';

/** Which part of the request a schema checks; it prefixes every issue's path. */
export type RequestPart = 'body' | 'query' | 'params' | 'headers';

/** Parses `value` or throws `validation_failed` carrying zod's issues (paths prefixed by `part`). */
export function parseRequest<S extends z.ZodType>(schema: S, value: unknown, part: RequestPart): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = result.error.issues.map((issue) => ({ ...issue, path: [part, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))] }) as ValidationIssue);
  throw new TrellisError('validation_failed', `Invalid request ${part}: ${issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, { issues });
}
