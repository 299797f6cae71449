/**
 * What the dashboard reads that the REST API does not serve: a run's model calls, a workflow's
 * versions, metrics buckets. Everything the page changes goes through the REST routes, with their
 * own checks. Each route asks `authorize` the action of the REST route nearest to it.
 */
import type { Router } from 'express';
import { z } from 'zod';
import type { Engine } from '../engine/engine.js';
import { NotFoundError } from '../kernel/errors.js';
import type { ResolvedDashboardOptions } from './dashboard-options.js';
import { metricsBuckets } from './dashboard-metrics.js';
import { catching, guard, IdSchema, param, workflowView } from './route-helpers.js';
import { parseRequest } from './validate.js';
import { readable } from './visible-rows.js';

const IdParams = z.object({ id: IdSchema });
const HOUR = 3_600_000;
const MetricsQuery = z
  .object({
    workflow_id: IdSchema.optional(),
    /** How far back, in hours. */
    hours: z.coerce.number().int().min(1).max(24 * 90).default(24 * 7),
    /** Bucket width, in hours. */
    bucket_hours: z.coerce.number().int().min(1).max(24 * 30).default(24),
  })
  .strict();
/** Runs folded into the metrics at most: the view is a dashboard, not a warehouse. */
const METRICS_RUN_LIMIT = 5000;

/** Adds the dashboard's own routes, under `data/`, to `router`. */
export function mountDashboardDataRoutes(router: Router, engine: Engine, options: ResolvedDashboardOptions): void {
  const { authorize } = options;

  // A run's model calls: the prompt as sent, the answer, tokens, cost (what `GET .../:id` reads of the run).
  router.get('/data/executions/:id/calls', guard(authorize, 'execution:read', param('execution', 'id')), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const calls = await engine.calls.list({ workflow_execution_id: id });
    res.json({ data: calls.map((c) => ({ ...c, created_at: iso(c.created_at), started_at: iso(c.started_at), completed_at: iso(c.completed_at) })) });
  }));

  router.get('/data/workflows/:id/versions', guard(authorize, 'workflow:read', param('workflow', 'id')), catching(async (req, res) => {
    const { id } = parseRequest(IdParams, req.params, 'params');
    const versions = await engine.workflows.versions(id);
    if (versions.length === 0) throw new NotFoundError(`Workflow "${id}" not found`);
    res.json({ data: versions.map(workflowView) });
  }));

  // Asked as a list of runs; each run counts only if the request may read it, like GET /workflow-executions.
  router.get('/data/metrics', guard(authorize, 'execution:list', () => ({ type: 'execution' })), catching(async (req, res) => {
    const q = parseRequest(MetricsQuery, req.query, 'query');
    const now = engine.clock.now();
    const bucketMs = q.bucket_hours * HOUR;
    // Buckets aligned to the bucket width, so the same run falls in the same bucket on every refresh.
    const since = Math.floor((now - q.hours * HOUR) / bucketMs) * bucketMs;
    const runs = await engine.list({ created_after: since, limit: METRICS_RUN_LIMIT, ...(q.workflow_id === undefined ? {} : { workflow_id: q.workflow_id }) });
    const visible = await readable(authorize, req, 'execution', runs);
    res.json({ since: new Date(since).toISOString(), bucket_ms: bucketMs, truncated: runs.length >= METRICS_RUN_LIMIT, data: metricsBuckets(visible, since, bucketMs) });
  }));
}

const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString());
