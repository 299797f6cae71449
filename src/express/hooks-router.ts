/**
 * `createHooksRouter(engine)`: `POST /hooks/:workflowId/:triggerId` starts a run of a workflow
 * with a webhook trigger. Separate from `createRouter` because senders (GitHub, Stripe, your
 * other services) do not hold your API's credentials: a delivery is authenticated by the HMAC
 * signature of its raw body, so this router reads the body raw and runs no `authorize`.
 */
import express, { type Request, type Router } from 'express';
import { z } from 'zod';
import { systemClock, type Clock } from '../kernel/clock.js';
import type { Engine } from '../engine/engine.js';
import { TrellisError } from '../kernel/errors.js';
import { deliverWebhook, SIGNATURE_HEADER } from '../triggers/webhook-trigger.js';
import { errorHandler } from './http-errors.js';
import { catching, IdSchema } from './route-helpers.js';
import { parseRequest } from './validate.js';

/** Options of {@link createHooksRouter}. */
export interface HooksRouterOptions {
  /** Largest delivery body. @default '1mb' */
  readonly bodyLimit?: string | number;
  /** A secret from elsewhere (a vault); wins over the trigger's `secret` / `secret_env`. */
  readonly webhookSecretFor?: (workflowId: string, triggerId: string) => string | undefined;
  /** The clock signature timestamps are checked against. @default the system clock */
  readonly clock?: Clock;
  /** Told about every error answered with a 5xx. @default the engine's `logger` (its `error` level) */
  readonly onError?: (error: unknown, req: Request) => void;
}

const HookParams = z.object({ workflowId: IdSchema, triggerId: IdSchema });
const Header = z.string().min(1).max(1000).optional();

/**
 * The webhook endpoint: answers 202 `{ execution_id }`; one identical 401 for anything not
 * authenticated (bad, missing or stale signature, unknown workflow or trigger: nobody without the
 * secret can tell which exist); 409 when a correctly signed delivery reaches an inactive workflow.
 * A replay of a signed delivery (same timestamp and body, whatever its headers), or a repeated
 * `config.idempotency_field` value, answers the first run's id; an unsigned trigger also honours
 * the `Idempotency-Key` header.
 *
 * @example
 * app.use(createHooksRouter(engine)); // outside your authenticated API
 * // POST /hooks/orders/on-paid with X-Trellis-Signature: t=<unix>,v1=<hex hmac of "t.body">
 */
export function createHooksRouter(engine: Engine, options: HooksRouterOptions = {}): Router {
  const clock = options.clock ?? systemClock;
  const onError = options.onError ?? ((error: unknown, req: Request) => engine.logger.error({ err: error, path: req.originalUrl }, 'webhook failed'));
  if (options.webhookSecretFor !== undefined && typeof options.webhookSecretFor !== 'function') {
    throw new TrellisError('invalid_options', `createHooksRouter option "webhookSecretFor" must be a function, got ${typeof options.webhookSecretFor}`);
  }
  const router = express.Router();
  router.post('/hooks/:workflowId/:triggerId', express.raw({ type: () => true, limit: options.bodyLimit ?? '1mb' }), catching(async (req, res) => {
    const { workflowId, triggerId } = parseRequest(HookParams, req.params, 'params');
    const signature = parseRequest(Header, req.get(SIGNATURE_HEADER), 'headers');
    const idempotencyKey = parseRequest(Header, req.get('idempotency-key'), 'headers');
    const executionId = await deliverWebhook(
      engine,
      { workflowId, triggerId, rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0), signature, idempotencyKey },
      { now: clock.now(), secretFor: options.webhookSecretFor },
    );
    res.status(202).json({ execution_id: executionId });
  }));
  router.use(errorHandler(onError));
  return router;
}
