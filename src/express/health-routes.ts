/**
 * The probes (router option `health: true`): `GET /health/live` and `GET /health/ready` for load
 * balancers and Kubernetes (200 or 503, status only, no `authorize`: a probe carries no
 * credentials), and `GET /health` with every check for people (`health:read`).
 */
import type { Router } from 'express';
import type { Engine } from '../engine/engine.js';
import type { ResolvedRouterOptions } from './router-options.js';
import { catching, guard } from './route-helpers.js';

/** Adds the `/health` routes to `router`. */
export function mountHealthRoutes(router: Router, engine: Engine, options: ResolvedRouterOptions): void {
  router.get('/health/live', catching(async (_req, res) => {
    // Liveness reads no storage: a database outage must not get the process restarted.
    const { live } = await engine.health({ storage: false });
    res.status(live ? 200 : 503).set('Cache-Control', 'no-store').json({ status: live ? 'ok' : 'down' });
  }));

  router.get('/health/ready', catching(async (_req, res) => {
    const { ready, status } = await engine.health();
    res.status(ready ? 200 : 503).set('Cache-Control', 'no-store').json({ status });
  }));

  router.get('/health', guard(options.authorize, 'health:read', () => ({ type: 'engine' })), catching(async (_req, res) => {
    const health = await engine.health();
    res.status(health.ready ? 200 : 503).set('Cache-Control', 'no-store').json(health);
  }));
}
