/**
 * Metrics (issue 19): `engine.metrics()` per workflow and node (runs and steps by status,
 * retries, waits by kind, duration histograms), per provider and model (tokens, cost), the
 * runtime's figures; the Prometheus text of `GET /metrics` read over real HTTP by a Prometheus
 * text parser that is not ours; and run counts from storage (SQLite, PostgreSQL) through an index.
 */
import express from 'express';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresStorage, SqliteStorage, randomIds, silentLogger, toPrometheusText, workflow, type Storage } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { quantile } from '../src/engine/metric-histogram.js';
import { makeEngine, serveOnLoopback } from './helpers.js';
import { scratch } from './scratch.js';

const HOUR = 3_600_000;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Asks once (failing the first time, retried), then waits for a person. */
const triage = workflow('triage')
  .prompt('ask', { model: 'mock:gpt-4o-mini', template: 'Classify {{input.text}}', retry: { max_attempts: 2, delay_ms: 10 } })
  .approval('review');

/** A script that fails its first call with a retryable 5xx, then answers. */
function flakyOnce() {
  let calls = 0;
  return () => (calls++ === 0 ? { kind: 'failure' as const, code: 'provider_5xx' as const, message: 'overloaded', status: 503 } : { kind: 'response' as const, text: 'bug', usage: { input_tokens: 100, output_tokens: 20 } });
}

describe('engine.metrics()', () => {
  it('counts runs and steps by status per workflow and node, with retries, waits by kind and duration histograms', async () => {
    const { engine, clock } = makeEngine(flakyOnce(), { logger: silentLogger });
    const id = await engine.start(triage, { text: 'it crashed' });
    await clock.advance(10); // the retry's delay
    await engine.wait(id, { until: 'paused' });
    await clock.advance(HOUR);
    await engine.approve(id, 'review');
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');

    const { workflows, providers, runtime } = engine.metrics();
    const w = workflows.triage!;
    expect(w.runs).toEqual({ started: 1, completed: 1, failed: 0, cancelled: 0, paused: 1, resumed: 1 });
    expect(w.run_duration_ms).toMatchObject({ count: 1, sum: HOUR + 10 });
    // The retry's delay is a wait of its own (kind `retry`), like any durable wait.
    expect(w.nodes.ask).toMatchObject({ steps: { started: 2, completed: 1, failed: 1, skipped: 0, waiting: 1 }, retries: 1, waits: { retry: 1 } });
    expect(w.nodes.review).toMatchObject({ steps: { completed: 1, waiting: 1 }, waits: { approval: 1 } });
    // The approval waited an hour: its step's duration lands in the (30 min, 1 h] bucket.
    const review = w.nodes.review!.duration_ms;
    expect(review.count).toBe(1);
    expect(review.counts[review.buckets.indexOf(HOUR)]).toBe(1);
    expect(review.p50).toBeGreaterThan(900_000);
    expect(review.p99).toBeLessThanOrEqual(HOUR);

    expect(providers.mock).toMatchObject({ calls: 2, failures: 1, circuit: 'closed', input_tokens: 100, output_tokens: 20 });
    expect(providers.mock!.models).toEqual({ 'gpt-4o-mini': { calls: 1, input_tokens: 100, output_tokens: 20, cost_usd: expect.any(Number) } });
    expect(providers.mock!.models['gpt-4o-mini']!.cost_usd).toBe(providers.mock!.cost_usd);
    expect(runtime).toMatchObject({ active_runs: 0, queued_calls: 0, recovery_passes: 0, circuit_transitions: { open: 0, half_open: 0, closed: 0 } });
  });

  it('counts failed and cancelled runs, and nothing per workflow with the option metrics: false', async () => {
    const failing = () => ({ kind: 'failure' as const, code: 'invalid_request' as const, message: 'no' });
    const { engine } = makeEngine(failing, { logger: silentLogger });
    await engine.run(workflow('doomed').prompt('ask', { model: 'mock:m', template: 'x' }), {});
    const id = await engine.start(workflow('waits').approval('ok'), {});
    await engine.wait(id, { until: 'paused' });
    await engine.cancel(id, 'not needed');
    const { workflows } = engine.metrics();
    expect(workflows.doomed!.runs).toMatchObject({ started: 1, failed: 1, completed: 0 });
    expect(workflows.doomed!.nodes.ask!.steps).toMatchObject({ failed: 1 });
    expect(workflows.doomed!.nodes.ask!.retries).toBe(0);
    expect(workflows.waits!.runs).toMatchObject({ started: 1, cancelled: 1 });

    const off = makeEngine(() => 'ok', { metrics: false }).engine;
    await off.run(workflow('quiet').prompt('ask', { model: 'mock:m', template: 'x' }), {});
    expect(off.metrics().workflows).toEqual({});
    expect(off.metrics().providers.mock!.calls).toBe(1);
  });

  it('estimates quantiles from buckets as Prometheus histogram_quantile does', () => {
    // 10 observations: 5 in (0, 10], 4 in (10, 100], 1 above 100.
    expect(quantile(0.5, [10, 100], [5, 4, 1], 10)).toBe(10);
    expect(quantile(0.7, [10, 100], [5, 4, 1], 10)).toBe(55);
    expect(quantile(0.99, [10, 100], [5, 4, 1], 10)).toBe(100);
    expect(quantile(0.5, [10, 100], [0, 0, 0], 0)).toBe(0);
  });
});

describe('GET /metrics', () => {
  it('serves the metrics in the Prometheus text format, as a real parser reads them over HTTP', async () => {
    const { engine, clock } = makeEngine(flakyOnce(), { logger: silentLogger });
    const id = await engine.start(triage, { text: 'x' });
    await clock.advance(10);
    await engine.wait(id, { until: 'paused' });
    await engine.approve(id, 'review');
    await engine.wait(id);
    const app = express();
    app.use('/api', createRouter(engine, { allowUnauthenticated: true, metrics: true }));
    const base = await serveOnLoopback(app, cleanups);

    const response = await fetch(`${base}/api/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheusTextFormat(await response.text());
    const family = (name: string) => families.find((f) => f.name === name)!;

    expect(family('trellis_runs_total').type).toBe('COUNTER');
    expect(family('trellis_runs_total').metrics).toContainEqual({ labels: { workflow: 'triage', status: 'completed' }, value: '1' });
    expect(family('trellis_steps_total').metrics).toContainEqual({ labels: { workflow: 'triage', node: 'ask', status: 'failed' }, value: '1' });
    expect(family('trellis_step_retries_total').metrics).toContainEqual({ labels: { workflow: 'triage', node: 'ask' }, value: '1' });
    expect(family('trellis_step_waits_total').metrics).toContainEqual({ labels: { workflow: 'triage', node: 'review', kind: 'approval' }, value: '1' });
    expect(family('trellis_model_tokens_total').metrics).toContainEqual({ labels: { provider: 'mock', model: 'gpt-4o-mini', direction: 'input' }, value: '100' });
    expect(family('trellis_provider_circuit_state').metrics).toContainEqual({ labels: { provider: 'mock', state: 'closed' }, value: '1' });
    expect(family('trellis_active_runs')).toMatchObject({ type: 'GAUGE', metrics: [{ value: '0' }] });

    expect(family('trellis_step_duration_seconds').type).toBe('HISTOGRAM');
    // This parser folds a histogram's buckets by `le` alone, so read one with a single label set:
    // buckets in seconds, cumulative, +Inf holding every observation.
    const runs = family('trellis_run_duration_seconds');
    expect(runs.type).toBe('HISTOGRAM');
    const buckets = runs.metrics[0]!.buckets!;
    expect(buckets).toMatchObject({ '0.005': '0', '3600': '1', '86400': '1', '+Inf': '1' });
    const byBound = Object.entries(buckets).map(([le, n]) => [Number(le.replace('+Inf', 'Infinity')), Number(n)] as const).sort((a, b) => a[0] - b[0]);
    expect(byBound.map(([, n]) => n)).toEqual(byBound.map(([, n]) => n).sort((a, b) => a - b));
    expect(await (await fetch(`${base}/api/metrics`)).text()).toMatch(/^trellis_run_duration_seconds_count\{workflow="triage"\} 1$/m);
  });

  it('escapes label values, and asks authorize for metrics:read', async () => {
    const { engine } = makeEngine(() => 'ok', { logger: silentLogger });
    await engine.run(workflow('plain').prompt('ask', { model: 'mock:m', template: 'x' }), {});
    // Workflow ids are tame, but a label value is escaped whatever it holds.
    const metrics = engine.metrics();
    const odd = 'odd "name"\\ with\nnewline';
    const families = parsePrometheusTextFormat(toPrometheusText({ ...metrics, workflows: { [odd]: metrics.workflows.plain! } }));
    const runs = families.find((f) => f.name === 'trellis_runs_total')!;
    expect(runs.metrics).toContainEqual({ labels: { workflow: odd, status: 'completed' }, value: '1' });

    const asked: string[] = [];
    const app = express();
    app.use(createRouter(engine, { metrics: true, authorize: (_req, action) => (asked.push(action), false) }));
    const base = await serveOnLoopback(app, cleanups);
    const refused = await fetch(`${base}/metrics`);
    expect(refused.status).toBe(403);
    expect(asked).toEqual(['metrics:read']);
  });

  it('is not served without the option', async () => {
    const { engine } = makeEngine();
    const app = express();
    app.use(createRouter(engine, { allowUnauthenticated: true }));
    const base = await serveOnLoopback(app, cleanups);
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
  });
});

describe('engine.runCounts() from storage', () => {
  const { dir, schema, pgUrl } = scratch('metrics');

  async function countAcrossEngines(storage: () => Storage): Promise<void> {
    // Two engines on one database (two processes, or one before and after a restart).
    const day = 86_400_000;
    for (const failing of [false, true]) {
      const { engine, clock } = makeEngine(failing ? () => ({ kind: 'failure' as const, code: 'invalid_request' as const, message: 'no' }) : () => 'ok', { storage: storage(), logger: silentLogger, ids: randomIds });
      if (failing) await clock.advance(day);
      await engine.run(workflow('a').prompt('ask', { model: 'mock:m', template: 'x' }), {});
      await engine.run(workflow('b').prompt('ask', { model: 'mock:m', template: 'x' }), {});
      await engine.close();
    }
    const { engine, clock } = makeEngine(() => 'ok', { storage: storage() });
    const start = clock.now();
    expect(await engine.runCounts()).toEqual([
      { workflow_id: 'a', status: 'completed', count: 1 },
      { workflow_id: 'a', status: 'failed', count: 1 },
      { workflow_id: 'b', status: 'completed', count: 1 },
      { workflow_id: 'b', status: 'failed', count: 1 },
    ]);
    expect(await engine.runCounts({ since: new Date(start + day), workflowId: 'a' })).toEqual([{ workflow_id: 'a', status: 'failed', count: 1 }]);
    expect(await engine.runCounts({ until: start })).toHaveLength(2);
    await expect(engine.runCounts({ since: Number.NaN })).rejects.toMatchObject({ code: 'invalid_options' });
    await engine.close();
  }

  it('counts the runs of every engine on a SQLite file, from the index', async () => {
    const path = join(dir, 'counts.sqlite');
    await countAcrossEngines(() => new SqliteStorage({ path }));
    const raw = new Database(path, { readonly: true });
    const plan = raw.prepare("EXPLAIN QUERY PLAN SELECT workflow_id, status, count(*) FROM workflow_executions WHERE created_at >= ? AND created_at <= ? GROUP BY workflow_id, status").all(0, Number.MAX_SAFE_INTEGER) as { detail: string }[];
    raw.close();
    expect(plan.map((p) => p.detail).join(' ')).toMatch(/COVERING INDEX workflow_executions_created_counts/);
  });

  it('counts the runs of every engine on PostgreSQL', async () => {
    await countAcrossEngines(() => new PostgresStorage({ connectionString: pgUrl, schema }));
  });
});
