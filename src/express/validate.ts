/** Request validation with zod: every issue collected, reported as a 400 with the issues as details. */
import type { Request } from 'express';
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

/**
 * Parses the JSON body of `req` with `schema`. A body sent as anything but `application/json` is
 * refused with 415 before it is looked at: `express.json` leaves such a body unread, and checking
 * what it left (`undefined` on Express 5, `{}` on Express 4) only told the client "expected record,
 * received undefined". A request with no body at all reads as `{}` when `optional`, else is a 400
 * saying what to send.
 */
export function parseBody<S extends z.ZodType>(schema: S, req: Request, options: { readonly optional?: boolean } = {}): z.output<S> {
  if (!sentBody(req)) {
    if (options.optional) return parseRequest(schema, {}, 'body');
    const message = 'Request body is missing: send a JSON object with content-type: application/json';
    throw new TrellisError('validation_failed', message, { issues: [{ path: ['body'], code: 'missing_body', message }] });
  }
  if (!req.is('application/json')) {
    const type = req.get('content-type');
    const got = type === undefined ? 'no content-type was sent' : `got content-type: ${type}`;
    throw new TrellisError('unsupported_media_type', `Send the request body as JSON with content-type: application/json (${got})`, { details: { content_type: type ?? null } });
  }
  return parseRequest(schema, req.body, 'body');
}

/** Whether the client sent body bytes (an empty `POST` carries `content-length: 0`). */
function sentBody(req: Request): boolean {
  const length = req.get('content-length');
  return req.get('transfer-encoding') !== undefined || (length !== undefined && length !== '0');
}
