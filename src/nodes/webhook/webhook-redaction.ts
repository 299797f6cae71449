/**
 * What a `webhook` node's trace and redirects never carry: secrets in header names, JSON keys,
 * query parameters and URL passwords are replaced before anything is recorded.
 */
import type { Json } from '../../kernel/json.js';

/** Header names and JSON keys whose values never reach the trace, nor another origin on redirect. */
const SECRET = /authorization|cookie|key|token|secret|password|passwd|credential|signature/i;
/** What a redacted value reads as in the trace. */
export const REDACTED = '[redacted]';

/** The URL with its password and secret-looking query values redacted. */
export function redactUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return raw;
  }
  if (url.password !== '') url.password = REDACTED;
  for (const name of [...url.searchParams.keys()]) if (SECRET.test(name)) url.searchParams.set(name, REDACTED);
  return url.toString();
}

/** A JSON value with the values of secret-looking keys redacted, at any depth. */
export function redactJson(value: Json): Json {
  if (Array.isArray(value)) return value.map(redactJson);
  if (value !== null && typeof value === 'object') {
    const out: { [key: string]: Json } = {};
    for (const [k, v] of Object.entries(value)) out[k] = SECRET.test(k) ? REDACTED : redactJson(v);
    return out;
  }
  return value;
}

/** The idempotency key is no secret, and receivers log it: it stays in traces and on redirects. */
export function isSecretHeader(name: string, idempotencyHeader: string | false): boolean {
  return SECRET.test(name) && (idempotencyHeader === false || name.toLowerCase() !== idempotencyHeader.toLowerCase());
}
