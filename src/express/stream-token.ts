/**
 * Access tokens for a run's event stream. A browser's `EventSource` cannot send an
 * `Authorization` header, so a host whose `authorize` checks one cannot open
 * `GET /workflow-executions/:id/events` from a page. Instead the page asks for a token with its
 * usual credentials (`POST /workflow-executions/:id/events/token`, which `authorize` checks as
 * `execution:read`), and opens the stream with `?access_token=<token>`.
 *
 * A token is `<expiry>.<signature>`: the expiry in ms since epoch (base 36) and an HMAC-SHA256,
 * under the host's secret, of the run id and the expiry. So it reads one run's events, for a short
 * while, and says nothing a log could misuse beyond that; no state is kept to check it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { TrellisError } from '../kernel/errors.js';

/** Shortest secret accepted, in bytes: the HMAC's strength is the secret's. */
export const MIN_STREAM_SECRET_BYTES = 32;

/** Options of {@link createStreamToken}. */
export interface StreamTokenOptions {
  /** The secret given to `createRouter` as `streamTokenSecret` (at least 32 bytes). */
  readonly secret: string | Uint8Array;
  /** The run whose events the token may read. */
  readonly executionId: string;
  /** How long the token opens the stream. @default 60000 */
  readonly ttlMs?: number;
  /** The time now, ms since epoch. @default Date.now() */
  readonly now?: number;
}

/**
 * A token that opens run `executionId`'s event stream until `now + ttlMs`. The router mints these
 * itself at `POST /workflow-executions/:id/events/token`; call this to mint one elsewhere (a page
 * rendered by your server, after your own auth), with the same secret the router has.
 *
 * @example
 * const token = createStreamToken({ secret: process.env.STREAM_SECRET!, executionId: run.id });
 * // in the page: new EventSource(`/api/workflow-executions/${run.id}/events?access_token=${token}`)
 */
export function createStreamToken(options: StreamTokenOptions): string {
  const key = secretBytes(options.secret, 'createStreamToken option "secret"');
  const expires = (options.now ?? Date.now()) + (options.ttlMs ?? 60_000);
  if (!Number.isFinite(expires)) throw new TrellisError('invalid_options', `createStreamToken: "ttlMs" and "now" must be finite numbers`);
  const stamp = Math.floor(expires).toString(36);
  return `${stamp}.${sign(key, options.executionId, stamp)}`;
}

/** Why a token does not open the stream of `executionId` at `now`, or undefined when it does. */
export function streamTokenProblem(token: string, secret: Uint8Array, executionId: string, now: number): string | undefined {
  const [stamp, signature, extra] = token.split('.');
  if (stamp === undefined || signature === undefined || extra !== undefined || !/^[0-9a-z]{1,12}$/.test(stamp)) return 'is malformed';
  const expected = Buffer.from(sign(secret, executionId, stamp));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'is not valid for this execution';
  if (parseInt(stamp, 36) <= now) return 'has expired; ask for a new one';
  return undefined;
}

/** The secret as bytes; refuses one too short to sign with. */
export function secretBytes(secret: unknown, what: string): Uint8Array {
  const bytes = typeof secret === 'string' ? Buffer.from(secret) : secret instanceof Uint8Array ? secret : undefined;
  if (!bytes || bytes.length < MIN_STREAM_SECRET_BYTES) {
    throw new TrellisError('invalid_options', `${what} must be a string or bytes of at least ${MIN_STREAM_SECRET_BYTES} bytes (e.g. randomBytes(32).toString('hex')), got ${bytes ? `${bytes.length} bytes` : typeof secret}`);
  }
  return bytes;
}

function sign(key: Uint8Array, executionId: string, stamp: string): string {
  return createHmac('sha256', key).update(`trellis-event-stream\n${executionId}\n${stamp}`).digest('base64url');
}
