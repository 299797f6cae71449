/**
 * Webhook triggers, framework-free: signature checks over the raw body and turning one delivery
 * into one run. The HTTP part is `createHooksRouter` in `src/express/hooks-router.ts`.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookHost } from './trigger-host.js';
import { IllegalStateError, NotFoundError, TrellisError } from '../kernel/errors.js';
import { getPath } from '../expressions/data-paths.js';
import { assertJsonDepth } from '../kernel/json-depth.js';
import { findTrigger, mapInput, type WebhookTriggerConfig } from './trigger-config.js';

/** Header carrying `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.rawBody">`. */
export const SIGNATURE_HEADER = 'x-trellis-signature';

/**
 * The signature header value for `rawBody`, as a sender computes it.
 *
 * @example
 * const body = JSON.stringify({ order: 42 });
 * await fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-trellis-signature': signWebhook('s3cret', body) } });
 */
export function signWebhook(secret: string, rawBody: string | Buffer, timestampSeconds = Math.floor(Date.now() / 1000)): string {
  return `t=${timestampSeconds},v1=${hmac(secret, String(timestampSeconds), rawBody)}`;
}

/**
 * Checks a signature header: well-formed, timestamp within `toleranceSeconds` of `nowMs` (either
 * way, against replays of old deliveries), and a `v1` matching in constant time. Several `v1`
 * entries are allowed so a sender can sign with an old and a new secret while rotating; one `t`
 * only. Returns the verified timestamp (as sent); throws `TrellisError` `auth` saying which check failed.
 */
export function verifyWebhookSignature(header: string | undefined, rawBody: Buffer, secret: string, nowMs: number, toleranceSeconds = 300): string {
  if (!header) throw new TrellisError('auth', `Missing ${SIGNATURE_HEADER} header`);
  const { timestamp, signatures } = parseSignature(header);
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) {
    throw new TrellisError('auth', `Signature timestamp is more than ${toleranceSeconds}s away from the server's time`);
  }
  const expected = Buffer.from(hmac(secret, timestamp, rawBody), 'hex');
  const ok = signatures.some((s) => {
    const given = /^[0-9a-f]+$/i.test(s) ? Buffer.from(s, 'hex') : Buffer.alloc(0);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new TrellisError('auth', 'Signature does not match the body');
  return timestamp;
}

/** The `t` and `v1` parts of a header; throws `auth` unless there is exactly one `t` and some `v1`. */
function parseSignature(header: string): { timestamp: string; signatures: string[] } {
  const timestamps: string[] = [];
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const at = part.indexOf('=');
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (key === 't') timestamps.push(value);
    else if (key === 'v1') signatures.push(value);
  }
  const [timestamp] = timestamps;
  if (timestamps.length !== 1 || timestamp === undefined || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0) {
    throw new TrellisError('auth', `Malformed ${SIGNATURE_HEADER} header; expected t=<unix seconds>,v1=<hex>`);
  }
  return { timestamp, signatures };
}

function hmac(secret: string, timestamp: string, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
}

/** One received webhook call. */
export interface WebhookDelivery {
  readonly workflowId: string;
  readonly triggerId: string;
  /** The body exactly as received: the signature is over these bytes. */
  readonly rawBody: Buffer;
  readonly signature?: string | undefined;
  /**
   * The `Idempotency-Key` header. Read only for a trigger without a secret: the signature does not
   * cover headers, so on a signed trigger a replay could change it at will.
   */
  readonly idempotencyKey?: string | undefined;
}

/** How deliveries are checked. */
export interface WebhookDeliveryOptions {
  /** Now, in ms since epoch (for the timestamp tolerance). */
  readonly now: number;
  /** A secret from elsewhere (a vault); wins over the trigger's `secret` / `secret_env`. */
  readonly secretFor?: ((workflowId: string, triggerId: string) => string | undefined) | undefined;
  /** @default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * The one answer to every delivery that is not authenticated: unknown workflow, unknown trigger,
 * inactive workflow of an unsigned trigger, missing, malformed, stale or wrong signature. One
 * message, so a caller without the secret learns nothing about which workflows and triggers exist;
 * the specific reason is the error's `cause`, for the host's logs.
 */
export const WEBHOOK_REFUSED_MESSAGE = 'Webhook delivery refused';

function refused(cause: unknown): TrellisError {
  return new TrellisError('auth', WEBHOOK_REFUSED_MESSAGE, { cause });
}

/**
 * Checks a delivery and starts its run; resolves with the run id (the first run's id when the
 * delivery repeats). Throws `auth` with {@link WEBHOOK_REFUSED_MESSAGE} for anything that is not an
 * authenticated delivery to an existing trigger (see there), `illegal_state` when a correctly
 * signed delivery reaches a workflow that is not active, `validation_failed` (body).
 *
 * Which deliveries are "the same" comes only from what the signature covers, so a replay inside
 * the tolerance window starts nothing whatever headers it carries: on a signed trigger the run's
 * idempotency key is the `idempotency_field` value of the body, else a digest of the signed
 * timestamp and body. An unsigned trigger also honours the `Idempotency-Key` header.
 */
export async function deliverWebhook(engine: WebhookHost, delivery: WebhookDelivery, options: WebhookDeliveryOptions): Promise<string> {
  const { workflowId, triggerId } = delivery;
  // A malformed header needs no secret to refuse: it is refused before anything is looked up.
  if (delivery.signature !== undefined) {
    try {
      parseSignature(delivery.signature);
    } catch (cause) {
      throw refused(cause);
    }
  }
  const record = await engine.workflows.get(workflowId);
  if (!record) throw refused(new NotFoundError(`Workflow "${workflowId}" not found`));
  let config: WebhookTriggerConfig | undefined;
  try {
    config = findTrigger(record, 'webhook', triggerId);
  } catch (cause) {
    throw new TrellisError('invalid_options', `Webhook trigger "${triggerId}" of workflow "${workflowId}" has an invalid config`, { cause });
  }
  if (!config) throw refused(new NotFoundError(`Workflow "${workflowId}" has no webhook trigger "${triggerId}"`));

  const secret = secretOf(config, workflowId, triggerId, options);
  let signedAt: string | undefined;
  if (secret !== undefined) {
    try {
      signedAt = verifyWebhookSignature(delivery.signature, delivery.rawBody, secret, options.now, config.tolerance_seconds);
    } catch (cause) {
      throw refused(cause);
    }
  }
  if (record.status !== 'active') {
    const inactive = new IllegalStateError(`Workflow "${workflowId}" is ${record.status}; only active workflows accept webhooks`);
    // Only a sender holding the secret may learn that the workflow exists but is not active.
    throw secret === undefined ? refused(inactive) : inactive;
  }

  const body = parseBody(delivery.rawBody);
  const fieldId = fieldValue(body, config.idempotency_field);
  const deliveryId = secret === undefined ? (delivery.idempotencyKey ?? fieldId) : fieldId;
  const prefix = `webhook:${workflowId}:${triggerId}:`;
  const key = deliveryId !== undefined ? prefix + deliveryId : signedAt !== undefined ? `${prefix}sig:${signedDigest(signedAt, delivery.rawBody)}` : undefined;
  return engine.startStored(workflowId, mapInput(body, config.input_mapping), {
    trigger: { type: 'webhook', id: triggerId, ...(deliveryId === undefined ? {} : { delivery_id: deliveryId }) },
    ...(key === undefined ? {} : { idempotencyKey: key }),
  });
}

/**
 * SHA-256 of the signed timestamp and the body: exactly what the signature covers, so every replay
 * of one signed delivery maps to one key (the key is not the signature itself, which would put a
 * usable signature in the run table).
 */
function signedDigest(timestamp: string, rawBody: Buffer): string {
  return createHash('sha256').update(`${timestamp}.`).update(rawBody).digest('hex');
}

function secretOf(config: WebhookTriggerConfig, workflowId: string, triggerId: string, options: WebhookDeliveryOptions): string | undefined {
  const external = options.secretFor?.(workflowId, triggerId);
  if (external !== undefined) return external;
  if (config.secret !== undefined) return config.secret;
  if (config.secret_env === undefined) return undefined;
  const value = (options.env ?? process.env)[config.secret_env];
  // Fail closed: a trigger that names a secret must never accept unsigned deliveries.
  if (!value) throw new TrellisError('invalid_options', `Environment variable ${config.secret_env} (secret of webhook trigger "${triggerId}") is not set`);
  return value;
}

function parseBody(raw: Buffer): unknown {
  if (raw.length === 0) return {};
  let body: unknown;
  try {
    body = JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new TrellisError('validation_failed', 'Webhook body is not valid JSON');
  }
  assertJsonDepth(body, 'body');
  return body;
}

function fieldValue(body: unknown, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const value = getPath(body, path);
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}
