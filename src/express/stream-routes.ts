/**
 * `GET /workflow-executions/:id/events` (the live event stream) and
 * `POST /workflow-executions/:id/events/token` (a short-lived token that opens it from a browser,
 * whose `EventSource` cannot send an `Authorization` header; see stream-token.ts).
 */
import type { RequestHandler, Router } from 'express';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import { NotFoundError, TrellisError } from '../kernel/errors.js';
import { streamExecutionEvents } from './event-stream.js';
import { RunEventHub } from './run-event-hub.js';
import type { ResolvedRouterOptions } from './router-options.js';
import { catching, guard, IdSchema, param } from './route-helpers.js';
import { createStreamToken, streamTokenProblem } from './stream-token.js';
import { parseRequest } from './validate.js';

const IdParams = z.object({ id: IdSchema });
const StreamQuery = z.object({ access_token: z.string().min(1).max(200).optional() }).strict();

/** Adds the event stream routes to `router`. */
export function mountStreamRoutes(router: Router, engine: Engine, options: ResolvedRouterOptions): void {
  const readGuard = guard(options.authorize, 'execution:read', param('execution', 'id'));
  const hub = new RunEventHub(engine);

  router.post('/workflow-executions/:id/events/token', readGuard, catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const secret = options.streamTokenSecret;
    if (!secret) throw new NotFoundError('Event stream tokens are off: pass a streamTokenSecret to createRouter to turn them on');
    if (!(await engine.get(id))) throw new NotFoundError(`Execution ${id} not found`, { executionId: id });
    const now = engine.clock.now();
    const token = createStreamToken({ secret, executionId: id, ttlMs: options.streamTokenTtlMs, now });
    res.json({
      access_token: token,
      expires_at: new Date(now + options.streamTokenTtlMs).toISOString(),
      url: `${req.baseUrl}/workflow-executions/${encodeURIComponent(id)}/events?access_token=${token}`,
    });
  }));

  // With `?access_token=`, the token is the authorization (minted after `authorize` allowed
  // `execution:read` of this run); without it, `authorize` decides as for any route.
  const tokenOrGuard: RequestHandler = catching((req, res, next) => {
    const { access_token: token } = parseRequest(StreamQuery, req.query, 'query');
    if (token === undefined) {
      readGuard(req, res, next);
      return;
    }
    const { id } = parseRequest(IdParams, req.params, 'params');
    const problem = options.streamTokenSecret ? streamTokenProblem(token, options.streamTokenSecret, id, engine.clock.now()) : 'cannot be checked: stream tokens are off';
    if (problem !== undefined) throw new TrellisError('auth', `The access_token ${problem}`);
    next();
  });

  router.get('/workflow-executions/:id/events', tokenOrGuard, catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    await streamExecutionEvents(engine, hub, id, req, res, options.heartbeatMs);
  }));
}
