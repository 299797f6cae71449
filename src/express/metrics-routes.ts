/** `GET /metrics` (router option `metrics: true`): the engine's figures for a Prometheus scrape. */
import type { Router } from 'express';
import type { Engine } from '../engine/engine.js';
import { PROMETHEUS_CONTENT_TYPE, toPrometheusText } from '../engine/prometheus-text.js';
import type { ResolvedRouterOptions } from './router-options.js';
import { catching, guard } from './route-helpers.js';

/** Adds `GET /metrics` to `router`. */
export function mountMetricsRoutes(router: Router, engine: Engine, options: ResolvedRouterOptions): void {
  router.get('/metrics', guard(options.authorize, 'metrics:read', () => ({ type: 'engine' })), catching((_req, res) => {
    res.set('Content-Type', PROMETHEUS_CONTENT_TYPE).set('Cache-Control', 'no-store').send(toPrometheusText(engine.metrics()));
  }));
}
