/**
 * The dashboard's server side without a browser: options, the page and its headers, `authorize`
 * on the page, the assets and the dashboard's own routes, and the metrics buckets.
 */
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workflow, Engine, MemoryStorage, ScriptedProvider, TrellisError } from '../src/index.js';
import { createDashboard, createRouter, type RouterAction } from '../src/express/index.js';
import { metricsBuckets, percentile } from '../src/express/dashboard-metrics.js';
import type { RunRecord } from '../src/storage/records.js';
import { serveOnLoopback, until } from './helpers.js';

describe('createDashboard options', () => {
  const engine = new Engine({ storage: new MemoryStorage() });
  afterAll(() => engine.close());

  it('needs authorize unless allowUnauthenticated is set, and checks the rest', () => {
    expect(() => createDashboard(engine, {})).toThrow(/needs an "authorize" option/);
    expect(() => createDashboard(engine, { allowUnauthenticated: true, apiPath: 'https://evil.example/api' })).toThrow(/"apiPath" must be an absolute URL path/);
    expect(() => createDashboard(engine, { allowUnauthenticated: true, apiPath: '//evil.example' })).toThrow(/"apiPath"/);
    expect(() => createDashboard(engine, { allowUnauthenticated: true, assetsDir: '/nowhere' })).toThrow(/built dashboard was not found/);
    expect(() => createDashboard(engine, { allowUnauthenticated: true, apiPath: '/api/' })).not.toThrow();
  });
});

describe('the dashboard over HTTP', () => {
  const cleanups: (() => unknown)[] = [];
  const asked: string[] = [];
  let engine: Engine;
  let origin: string;
  /** Actions refused to everyone, set per test. */
  const refused = new Set<RouterAction>();

  beforeAll(async () => {
    engine = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider((req) => `answer to ${JSON.stringify(req).includes('second') ? 'b' : 'a'}`) }, prices: { 'mock:*': { input: 1_000_000, output: 1_000_000 } } });
    cleanups.push(() => engine.close());
    const authorize = (req: express.Request, action: RouterAction) => {
      asked.push(action);
      if (req.get('authorization') !== 'Bearer ok') throw new TrellisError('auth', 'no credentials');
      return !refused.has(action);
    };
    const app = express();
    app.use('/api', createRouter(engine, { authorize, dashboard: true }));
    app.use('/admin/ui', createDashboard(engine, { authorize, apiPath: '/api' }));
    origin = await serveOnLoopback(app, cleanups);
    await engine.workflows.create(workflow('two').prompt('first', { model: 'mock:m', template: 'first' }).prompt('second', { model: 'mock:m', template: 'second' }).end({ b: 'second.text' }));
  });
  afterAll(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const get = (path: string, auth = true) => fetch(`${origin}${path}`, { headers: auth ? { authorization: 'Bearer ok' } : {}, redirect: 'manual' });

  it('serves the page with the API path in a meta tag, a strict CSP and no caching', async () => {
    const res = await get('/api/dashboard/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).toContain('<meta name="trellis-api" content="/api" />');
    expect(html).toContain('<meta name="trellis-dashboard" content="/api/dashboard" />');
    // No inline script: every script is a file of the page's own origin.
    expect(html.match(/<script[^>]*>/g)!.every((tag) => /src="\.\/assets\//.test(tag))).toBe(true);
    expect(html).not.toMatch(/<style/);
  });

  it('redirects the page without its trailing slash, so relative asset URLs resolve under it', async () => {
    const res = await get('/api/dashboard?x=1');
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/api/dashboard/?x=1');
  });

  it('serves hashed assets for a year, privately, and 404s what is not there', async () => {
    const html = await (await get('/admin/ui/')).text();
    expect(html).toContain('<meta name="trellis-api" content="/api" />');
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)![1]!;
    const asset = await get(`/admin/ui/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('cache-control')).toBe('private, max-age=31536000, immutable');
    expect(asset.headers.get('content-security-policy')).toContain("default-src 'self'");
    // The production build: no development JSX, and nothing of the machine it was built on.
    const code = await asset.text();
    expect(code).not.toContain('jsxDEV');
    expect(code).not.toContain(new URL('..', import.meta.url).pathname);
    const missing = await get('/admin/ui/assets/nothing.js');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: { code: 'not_found' } });
  });

  it('asks authorize dashboard:read for the page and its assets: 401 without credentials, 403 when refused', async () => {
    asked.length = 0;
    const html = await (await get('/api/dashboard/')).text();
    expect(asked).toEqual(['dashboard:read']);
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)![1]!;
    for (const path of ['/api/dashboard/', `/api/dashboard/${script}`, '/api/dashboard/data/metrics']) {
      const res = await get(path, false);
      expect(res.status, path).toBe(401);
      expect(await res.text(), path).not.toContain('<script');
    }
    refused.add('dashboard:read');
    try {
      const res = await get('/api/dashboard/');
      expect(res.status).toBe(403);
      expect(await res.json()).toMatchObject({ error: { code: 'forbidden', message: 'Not allowed to open the dashboard' } });
    } finally {
      refused.delete('dashboard:read');
    }
  });

  it("reads a run's model calls and a workflow's versions under the actions of the REST routes", async () => {
    const id = await engine.startStored('two', {});
    await until(async () => (await engine.get(id))?.status === 'completed');
    const calls = (await (await get(`/api/dashboard/data/executions/${id}/calls`)).json()) as { data: { step_path: string; response: unknown; created_at: string }[] };
    expect(calls.data.map((c) => c.step_path).sort()).toEqual(['first', 'second']);
    expect(calls.data[0]!.created_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    refused.add('execution:read');
    try {
      expect((await get(`/api/dashboard/data/executions/${id}/calls`)).status).toBe(403);
    } finally {
      refused.delete('execution:read');
    }
    await engine.workflows.update('two', workflow('two').prompt('first', { model: 'mock:m', template: 'first!' }).prompt('second', { model: 'mock:m', template: 'second' }).end({ b: 'second.text' }));
    const versions = (await (await get('/api/dashboard/data/workflows/two/versions')).json()) as { data: { version: number; definition: unknown }[] };
    expect(versions.data.map((v) => v.version)).toEqual([1, 2]);
    expect((await get('/api/dashboard/data/workflows/nope/versions')).status).toBe(404);
  });

  it("lists runs with their model cost, and metrics over them", async () => {
    const id = await engine.startStored('two', {}, { version: 1 });
    await until(async () => (await engine.get(id))?.status === 'completed');
    const cost = ((await engine.get(id))!.usage as { cost_usd: number }).cost_usd;
    expect(cost).toBeGreaterThan(0);
    const list = (await (await get('/api/workflow-executions?workflow_id=two&limit=200')).json()) as { data: { id: string; cost_usd?: number }[] };
    expect(list.data.find((r) => r.id === id)!.cost_usd).toBe(cost);
    const metrics = (await (await get('/api/dashboard/data/metrics?hours=24&bucket_hours=24')).json()) as { data: { workflow_id: string; runs: number; cost_usd: number; success_rate: number }[] };
    const two = metrics.data.filter((b) => b.workflow_id === 'two');
    expect(two.reduce((n, b) => n + b.runs, 0)).toBe(list.data.length);
    expect(two.reduce((n, b) => n + b.cost_usd, 0)).toBeGreaterThanOrEqual(cost);
    expect(two.every((b) => b.success_rate === 1)).toBe(true);
    // Runs the request may not read are left out of the figures.
    refused.add('execution:read');
    try {
      const hidden = (await (await get('/api/dashboard/data/metrics')).json()) as { data: unknown[] };
      expect(hidden.data).toEqual([]);
    } finally {
      refused.delete('execution:read');
    }
  });
});

describe('metrics buckets', () => {
  const HOUR = 3_600_000;
  const run = (workflow_id: string, status: RunRecord['status'], created_at: number, duration?: number, cost?: number): RunRecord =>
    ({
      id: `${workflow_id}-${created_at}-${status}`,
      workflow_id,
      workflow_version: 1,
      status,
      created_at,
      ...(duration === undefined ? {} : { started_at: created_at, completed_at: created_at + duration }),
      ...(cost === undefined ? {} : { usage: { cost_usd: cost } }),
    }) as unknown as RunRecord;

  it('takes the nearest-rank percentile', () => {
    expect(percentile([], 95)).toBeNull();
    expect(percentile([5], 95)).toBe(5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], 95)).toBe(19);
    expect(percentile([3, 1, 2], 50)).toBe(2);
  });

  it('folds runs per workflow and bucket: success over ended runs, p95 of their durations, summed cost', () => {
    const since = 10 * HOUR;
    const buckets = metricsBuckets(
      [
        run('a', 'completed', since + 1, 100, 0.25),
        run('a', 'failed', since + 2, 300, 0.5),
        run('a', 'running', since + 3),
        run('a', 'completed', since + HOUR + 5, 50),
        run('b', 'cancelled', since + 7, 10),
        run('a', 'completed', since - 1, 999),
      ],
      since,
      HOUR,
    );
    expect(buckets).toEqual([
      { workflow_id: 'a', start: new Date(since).toISOString(), runs: 3, completed: 1, failed: 1, cancelled: 0, success_rate: 0.5, p95_duration_ms: 300, cost_usd: 0.75 },
      { workflow_id: 'a', start: new Date(since + HOUR).toISOString(), runs: 1, completed: 1, failed: 0, cancelled: 0, success_rate: 1, p95_duration_ms: 50, cost_usd: 0 },
      { workflow_id: 'b', start: new Date(since).toISOString(), runs: 1, completed: 0, failed: 0, cancelled: 1, success_rate: 0, p95_duration_ms: 10, cost_usd: 0 },
    ]);
  });

  it('gives no rate and no percentile for a bucket where nothing ended', () => {
    expect(metricsBuckets([run('a', 'running', 0)], 0, HOUR)).toEqual([{ workflow_id: 'a', start: new Date(0).toISOString(), runs: 1, completed: 0, failed: 0, cancelled: 0, success_rate: null, p95_duration_ms: null, cost_usd: 0 }]);
  });
});
