/**
 * Webhook triggers, framework-free: signature checks over the raw body and turning one delivery
 * into one run. The HTTP part is `createHooksRouter` in `src/express/hooks-router.ts`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { WebhookHost } from './trigger-host.js';
import { IllegalStateError, NotFoundError, TrellisError } from '../kernel/errors.js';
import { getPath } from '../expressions/data-paths.js';
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
 * entries are allowed so a sender can sign with an old and a new secret while rotating.
 * Throws `TrellisError` `auth` saying which check failed.
 */
export function verifyWebhookSignature(header: string | undefined, rawBody: Buffer, secret: string, nowMs: number, toleranceSeconds = 300): void {
  if (!header) throw new TrellisError('auth', `Missing ${SIGNATURE_HEADER} header`);
  let timestamp: string | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const at = part.indexOf('=');
    const key = part.slice(0, at).trim();
    const value = part.slice(at + 1).trim();
    if (key === 't') timestamp = value;
    else if (key === 'v1') signatures.push(value);
  }
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp) || signatures.length === 0) {
    throw new TrellisError('auth', `Malformed ${SIGNATURE_HEADER} header; expected t=<unix seconds>,v1=<hex>`);
  }
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) {
    throw new TrellisError('auth', `Signature timestamp is more than ${toleranceSeconds}s away from the server's time`);
  }
  const expected = Buffer.from(hmac(secret, timestamp, rawBody), 'hex');
  const ok = signatures.some((s) => {
    const given = /^[0-9a-f]+$/i.test(s) ? Buffer.from(s, 'hex') : Buffer.alloc(0);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
  if (!ok) throw new TrellisError('auth', 'Signature does not match the body');
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
  /** The `Idempotency-Key` header. */
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
 * Checks a delivery and starts its run; resolves with the run id (the first run's id when the
 * delivery repeats an idempotency key). Throws `not_found` (no such workflow or webhook trigger),
 * `illegal_state` (the workflow is not active), `auth` (signature), `validation_failed` (body).
 */
export async function deliverWebhook(engine: WebhookHost, delivery: WebhookDelivery, options: WebhookDeliveryOptions): Promise<string> {
  const { workflowId, triggerId } = delivery;
  const record = await engine.workflows.get(workflowId);
  if (!record) throw new NotFoundError(`Workflow "${workflowId}" not found`);
  let config: WebhookTriggerConfig | undefined;
  try {
    config = findTrigger(record, 'webhook', triggerId);
  } catch (cause) {
    throw new TrellisError('invalid_options', `Webhook trigger "${triggerId}" of workflow "${workflowId}" has an invalid config`, { cause });
  }
  if (!config) throw new NotFoundError(`Workflow "${workflowId}" has no webhook trigger "${triggerId}"`);
  if (record.status !== 'active') throw new IllegalStateError(`Workflow "${workflowId}" is ${record.status}; only active workflows accept webhooks`);

  const secret = secretOf(config, workflowId, triggerId, options);
  if (secret !== undefined) verifyWebhookSignature(delivery.signature, delivery.rawBody, secret, options.now, config.tolerance_seconds);

  const body = parseBody(delivery.rawBody);
  const deliveryId = delivery.idempotencyKey ?? fieldValue(body, config.idempotency_field);
  return engine.startStored(workflowId, mapInput(body, config.input_mapping), {
    trigger: { type: 'webhook', id: triggerId, ...(deliveryId === undefined ? {} : { delivery_id: deliveryId }) },
    ...(deliveryId === undefined ? {} : { idempotencyKey: `webhook:${workflowId}:${triggerId}:${deliveryId}` }),
  });
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
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    throw new TrellisError('validation_failed', 'Webhook body is not valid JSON');
  }
}

function fieldValue(body: unknown, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  const value = getPath(body, path);
  return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}
