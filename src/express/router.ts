/** `createRouter(engine, options)`: the Trellis HTTP API as an Express router. */
import express, { type Router } from 'express';
import type { Engine } from '../engine/engine.js';
import { mountApprovalRoutes } from './approval-routes.js';
import { mountDeadLetterRoutes } from './dead-letter-routes.js';
import { mountExecutionRoutes } from './execution-routes.js';
import { mountDebugRoutes } from './debug-routes.js';
import { errorHandler } from './http-errors.js';
import { assertJsonDepth } from '../kernel/json-depth.js';
import { mountPromptRoutes } from './prompt-routes.js';
import { resolveRouterOptions, type RouterOptions } from './router-options.js';
import { mountStreamRoutes } from './stream-routes.js';
import { unknownRoutes } from './unknown-routes.js';
import { mountWorkflowRoutes } from './workflow-routes.js';
import { mountMetricsRoutes } from './metrics-routes.js';
import { mountHealthRoutes } from './health-routes.js';
import { createDashboard } from './dashboard.js';

/**
 * The HTTP API of `engine` (workflows, executions, approvals and their inbox, live events, prompts), JSON in and
 * out. Every request is checked by `options.authorize`; creating the router without it throws
 * unless `allowUnauthenticated: true` is passed. Errors answer `{ error: { code, message, details } }`.
 * Webhook deliveries have their own router, {@link createHooksRouter}, since they authenticate by
 * signature rather than by your API's credentials.
 *
 * @example
 * const app = express();
 * app.use('/api', createRouter(engine, { authorize: (req) => req.get('authorization') === `Bearer ${process.env.API_TOKEN}` }));
 * app.listen(3000);
 */
export function createRouter(engine: Engine, options: RouterOptions): Router {
  const resolved = resolveRouterOptions(options, engine.logger);
  const router = express.Router();
  router.use(express.json({ limit: resolved.bodyLimit }));
  // A body nested past MAX_JSON_DEPTH is refused with 400 here, before any handler walks it.
  router.use((req, _res, next) => {
    assertJsonDepth(req.body, 'body');
    next();
  });
  mountWorkflowRoutes(router, engine, resolved);
  mountExecutionRoutes(router, engine, resolved);
  mountDebugRoutes(router, engine, resolved);
  mountStreamRoutes(router, engine, resolved);
  mountApprovalRoutes(router, engine, resolved);
  mountPromptRoutes(router, engine, resolved);
  mountDeadLetterRoutes(router, engine, resolved);
  if (resolved.metrics) mountMetricsRoutes(router, engine, resolved);
  if (resolved.health) mountHealthRoutes(router, engine, resolved);
  if (resolved.dashboard) {
    const { authorize, actor, onError } = resolved;
    router.use('/dashboard', createDashboard(engine, authorize === undefined ? { allowUnauthenticated: true, actor, onError } : { authorize, actor, onError }));
  }
  router.use(unknownRoutes(router));
  router.use(errorHandler(resolved.onError));
  return router;
}
