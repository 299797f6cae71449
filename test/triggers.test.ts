/**
 * Triggers: schedules on a FakeClock (and once on the real clock), catch-up across restarts,
 * webhooks over real HTTP with signatures and idempotency, event triggers and chaining.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import {
  workflow,
  type WorkflowTrigger,
  Engine,
  ScriptedProvider,
  type RunRecord,
  MemoryStorage,
  createTriggers,
  type Triggers,
  signWebhook,
} from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { createHooksRouter } from '../src/express/index.js';
import { latestFireBetween, compileSchedule } from '../src/triggers/schedule-trigger.js';
import { serveOnLoopback } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function makeEngine(options: { clock?: FakeClock; storage?: MemoryStorage } = {}): Engine {
  const engine = new Engine({
    storage: options.storage ?? new MemoryStorage(),
    providers: { mock: new ScriptedProvider((req) => `echo: ${req.prompt}`) },
    ...(options.clock ? { clock: options.clock } : {}),
  });
  cleanups.push(() => engine.close());
  return engine;
}

function track(triggers: Triggers): Triggers {
  cleanups.push(() => triggers.stop());
  return triggers;
}

async function store(engine: Engine, name: string, triggers: WorkflowTrigger[], template = 'Hi'): Promise<void> {
  await engine.workflows.create(workflow(name, { triggers }).prompt('p', { model: 'mock:x', template }).build());
}

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const value = await read();
    if (ok(value)) return value;
    if (Date.now() - start > timeoutMs) throw new Error(`condition not met: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const fires = (runs: readonly RunRecord[]): string[] => runs.map((r) => (r.trigger as { fire_at: string }).fire_at).sort();

describe('schedule triggers', () => {
  it('fires on schedule on the injected clock and records the trigger on the run', async () => {
    const clock = new FakeClock();
    const engine = makeEngine({ clock });
    await store(engine, 'report', [{ id: 'five', type: 'schedule', config: { cron: '*/5 * * * *', timezone: 'UTC', input: { name: 'cron' } } }], 'Hi {{input.name}}');
    const triggers = track(createTriggers(engine, { clock }));
    await triggers.start();
    await triggers.start(); // idempotent: still one schedule

    await clock.advance(4 * 60_000);
    expect(await engine.list({ workflow_id: 'report' })).toHaveLength(0);
    await clock.advance(60_000);
    const [run] = await engine.list({ workflow_id: 'report' });
    expect(run).toMatchObject({ trigger: { type: 'schedule', id: 'five', fire_at: '2026-01-01T00:05:00.000Z' }, idempotency_key: 'schedule:report:five:2026-01-01T00:05:00.000Z', input_data: { name: 'cron' } });
    await clock.advance(10 * 60_000);
    expect(fires(await engine.list({ workflow_id: 'report' }))).toEqual(['2026-01-01T00:05:00.000Z', '2026-01-01T00:10:00.000Z', '2026-01-01T00:15:00.000Z']);
    expect((await engine.wait(run!.id)).status).toBe('completed');

    triggers.stop();
    await clock.advance(10 * 60_000);
    expect(await engine.list({ workflow_id: 'report' })).toHaveLength(3);
  });

  it('reports an invalid pattern without stopping the other schedules, and refresh() picks up changes', async () => {
    const clock = new FakeClock();
    const engine = makeEngine({ clock });
    const errors: string[] = [];
    await store(engine, 'bad', [{ id: 'b', type: 'schedule', config: { cron: 'not a cron' } }]);
    await store(engine, 'good', [{ id: 'g', type: 'schedule', config: { cron: '* * * * *' } }]);
    const triggers = track(createTriggers(engine, { clock, onError: (_e, ctx) => errors.push(`${ctx.kind}:${ctx.workflowId}`) }));
    await triggers.start();
    expect(errors).toEqual(['config:bad']);
    await clock.advance(60_000);
    expect(await engine.list({ workflow_id: 'good' })).toHaveLength(1);

    await engine.workflows.update('good', workflow('good', { triggers: [] }).prompt('p', { model: 'mock:x', template: 'Hi' }).build());
    await store(engine, 'new', [{ id: 'n', type: 'schedule', config: { cron: '* * * * *' } }]);
    await triggers.refresh();
    await clock.advance(60_000);
    expect(await engine.list({ workflow_id: 'good' })).toHaveLength(1);
    expect(await engine.list({ workflow_id: 'new' })).toHaveLength(1);
  });

  it('catch_up run_once: a restart after missed fires runs exactly one, never twice, even with two processes', async () => {
    const clock = new FakeClock();
    const storage = new MemoryStorage();
    const config = { cron: '*/5 * * * *', timezone: 'UTC', catch_up: 'run_once' };
    const first = makeEngine({ clock, storage });
    await store(first, 'nightly', [{ id: 'n', type: 'schedule', config }]);
    const before = track(createTriggers(first, { clock }));
    await before.start();
    await clock.advance(5 * 60_000);
    expect(fires(await first.list({ workflow_id: 'nightly' }))).toEqual(['2026-01-01T00:05:00.000Z']);

    // The process dies; three fires (00:10, 00:15, 00:20) come due while nothing runs.
    before.stop();
    await clock.set(Date.parse('2026-01-01T00:23:00Z'));

    // Two processes restart at once on the same storage.
    const a = makeEngine({ clock, storage });
    const b = makeEngine({ clock, storage });
    const ta = track(createTriggers(a, { clock }));
    const tb = track(createTriggers(b, { clock }));
    await Promise.all([ta.start(), tb.start()]);
    expect(fires(await a.list({ workflow_id: 'nightly' }))).toEqual(['2026-01-01T00:05:00.000Z', '2026-01-01T00:20:00.000Z']);

    // Another restart before the next fire: nothing new is due.
    ta.stop();
    tb.stop();
    const c = makeEngine({ clock, storage });
    const tc = track(createTriggers(c, { clock }));
    await tc.start();
    expect(await c.list({ workflow_id: 'nightly' })).toHaveLength(2);

    // Live fires go on; a second live process does not double them.
    const d = makeEngine({ clock, storage });
    await track(createTriggers(d, { clock })).start();
    await clock.advance(2 * 60_000);
    expect(fires(await c.list({ workflow_id: 'nightly' }))).toEqual(['2026-01-01T00:05:00.000Z', '2026-01-01T00:20:00.000Z', '2026-01-01T00:25:00.000Z']);
  });

  it('catch_up skip (the default): a restart after missed fires runs none', async () => {
    const clock = new FakeClock();
    const storage = new MemoryStorage();
    const first = makeEngine({ clock, storage });
    await store(first, 'nightly', [{ id: 'n', type: 'schedule', config: { cron: '*/5 * * * *', timezone: 'UTC' } }]);
    const before = track(createTriggers(first, { clock }));
    await before.start();
    await clock.advance(5 * 60_000);
    before.stop();
    await clock.set(Date.parse('2026-01-01T00:23:00Z'));
    const after = makeEngine({ clock, storage });
    await track(createTriggers(after, { clock })).start();
    expect(fires(await after.list({ workflow_id: 'nightly' }))).toEqual(['2026-01-01T00:05:00.000Z']);
    await clock.advance(2 * 60_000);
    expect(fires(await after.list({ workflow_id: 'nightly' }))).toEqual(['2026-01-01T00:05:00.000Z', '2026-01-01T00:25:00.000Z']);
  });

  it('finds the latest missed fire, for dense and sparse patterns', () => {
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    const everySecond = compileSchedule({ cron: '* * * * * *', timezone: 'UTC' });
    expect(latestFireBetween(everySecond, t0, t0 + 7 * 86_400_000 + 500)).toBe(t0 + 7 * 86_400_000);
    const yearly = compileSchedule({ cron: '0 0 1 6 *', timezone: 'UTC' });
    expect(new Date(latestFireBetween(yearly, t0, t0 + 3 * 366 * 86_400_000)!).toISOString()).toBe('2028-06-01T00:00:00.000Z');
    expect(latestFireBetween(yearly, t0, t0 + 86_400_000)).toBeUndefined();
  });

  it('fires every second on the real clock', async () => {
    const engine = makeEngine();
    await store(engine, 'tick', [{ id: 's', type: 'schedule', config: { cron: '* * * * * *' } }]);
    const triggers = track(createTriggers(engine));
    await triggers.start();
    // Waits for two fires rather than sleeping a fixed time: how many land in a given wall-clock span
    // depends on how busy the machine is, which is not what this test is about.
    await until(() => engine.list({ workflow_id: 'tick' }), (runs) => runs.length >= 2, 20_000);
    triggers.stop();
    const runs = await engine.list({ workflow_id: 'tick' });
    const times = fires(runs);
    expect(new Set(times).size).toBe(runs.length);
    for (const at of times) expect(Date.parse(at) % 1000, at).toBe(0);
  }, 30_000);
});

describe('webhook triggers', () => {
  async function serveHooks(engine: Engine) {
    const app = express();
    app.use(createHooksRouter(engine, { onError: () => undefined }));
    const base = await serveOnLoopback(app, cleanups);
    return async (path: string, body: string, headers: Record<string, string> = {}) => {
      const res = await fetch(base + path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
      return { status: res.status, body: (await res.json()) as any };
    };
  }

  async function setup() {
    const engine = makeEngine();
    await store(engine, 'orders', [
      { id: 'signed', type: 'webhook', config: { secret: 's3cret', input_mapping: { name: 'user.name' } } },
      { id: 'open', type: 'webhook', config: { idempotency_field: 'delivery.id' } },
      { id: 'env', type: 'webhook', config: { secret_env: 'TRELLIS_TEST_UNSET_SECRET' } },
    ]);
    return { engine, post: await serveHooks(engine) };
  }

  it('accepts a valid signature over the raw body and maps the input', async () => {
    const { engine, post } = await setup();
    const body = JSON.stringify({ user: { name: 'Ada' }, extra: 1 });
    const reply = await post('/hooks/orders/signed', body, { 'x-trellis-signature': signWebhook('s3cret', body) });
    expect(reply.status).toBe(202);
    const run = await engine.wait(reply.body.execution_id);
    expect(run).toMatchObject({ status: 'completed', input_data: { name: 'Ada' } });
    expect((await engine.list({ workflow_id: 'orders' }))[0]!.trigger).toEqual({ type: 'webhook', id: 'signed' });
  });

  it('refuses a wrong, tampered, missing or stale signature with 401', async () => {
    const { engine, post } = await setup();
    const body = JSON.stringify({ user: { name: 'Ada' } });
    const now = Math.floor(Date.now() / 1000);
    const cases = {
      wrongSecret: await post('/hooks/orders/signed', body, { 'x-trellis-signature': signWebhook('guess', body) }),
      tampered: await post('/hooks/orders/signed', body.replace('Ada', 'Eve'), { 'x-trellis-signature': signWebhook('s3cret', body) }),
      missing: await post('/hooks/orders/signed', body),
      malformed: await post('/hooks/orders/signed', body, { 'x-trellis-signature': 'v1=abc' }),
      stale: await post('/hooks/orders/signed', body, { 'x-trellis-signature': signWebhook('s3cret', body, now - 301) }),
      future: await post('/hooks/orders/signed', body, { 'x-trellis-signature': signWebhook('s3cret', body, now + 400) }),
    };
    for (const [name, reply] of Object.entries(cases)) expect([name, reply.status, reply.body.error.code]).toEqual([name, 401, 'auth']);
    // One message for every refusal (issue 16): which check failed is not told to the caller.
    expect(cases.stale.body.error.message).toBe('Webhook delivery refused');
    expect(await engine.list({ workflow_id: 'orders' })).toHaveLength(0);
    expect((await post('/hooks/orders/signed', body, { 'x-trellis-signature': signWebhook('s3cret', body, now - 200) })).status).toBe(202);
  });

  it('fails closed when the secret env var is missing; 401 for unknown workflows and triggers', async () => {
    const { post } = await setup();
    const missingEnv = await post('/hooks/orders/env', '{}');
    expect(missingEnv).toEqual({ status: 500, body: { error: { code: 'internal', message: 'Internal server error', details: null } } });
    expect((await post('/hooks/orders/nope', '{}')).status).toBe(401);
    expect((await post('/hooks/nope/open', '{}')).status).toBe(401);
    expect((await post('/hooks/orders/open', '{not json')).status).toBe(400);
  });

  it('starts one run for repeated deliveries (Idempotency-Key header or the configured body field)', async () => {
    const { engine, post } = await setup();
    const a = await post('/hooks/orders/open', '{"n":1}', { 'idempotency-key': 'evt_1' });
    const b = await post('/hooks/orders/open', '{"n":1}', { 'idempotency-key': 'evt_1' });
    expect(b.body.execution_id).toBe(a.body.execution_id);
    const c = await post('/hooks/orders/open', JSON.stringify({ delivery: { id: 77 } }));
    const d = await post('/hooks/orders/open', JSON.stringify({ delivery: { id: 77 }, retried: true }));
    expect(d.body.execution_id).toBe(c.body.execution_id);
    expect(c.body.execution_id).not.toBe(a.body.execution_id);
    const runs = await engine.list({ workflow_id: 'orders' });
    expect(runs).toHaveLength(2);
    expect(runs.map((r) => r.trigger)).toContainEqual({ type: 'webhook', id: 'open', delivery_id: '77' });
  });
});

describe('event triggers', () => {
  it('starts workflows whose event trigger matches the name and filter', async () => {
    const engine = makeEngine();
    await store(engine, 'big-orders', [{ id: 'big', type: 'event', config: { event: 'order.created', filter: 'event.total > 100', input_mapping: { name: 'customer' } } }], 'Hi {{input.name}}');
    await store(engine, 'all-orders', [{ id: 'all', type: 'event', config: { event: 'order.created' } }]);
    const triggers = track(createTriggers(engine));
    await triggers.start();

    expect(await triggers.emit('order.shipped', { total: 500 })).toEqual([]);
    const small = await triggers.emit('order.created', { total: 50, customer: 'a' });
    expect(small).toHaveLength(1);
    expect(await triggers.emit('order.created', { customer: 'no total' })).toHaveLength(1);
    const big = await triggers.emit('order.created', { total: 150, customer: 'Ada' });
    expect(big).toHaveLength(2);
    const bigRun = (await engine.list({ workflow_id: 'big-orders' }))[0]!;
    expect(bigRun).toMatchObject({ input_data: { name: 'Ada' }, trigger: { type: 'event', id: 'big', event: 'order.created' } });
    expect((await engine.wait(bigRun.id)).context).toMatchObject({ p: { text: 'echo: Hi Ada' } });

    const once1 = await triggers.emit('order.created', { total: 1 }, { idempotencyKey: 'order-9' });
    const once2 = await triggers.emit('order.created', { total: 1 }, { idempotencyKey: 'order-9' });
    expect(once2).toEqual(once1);
    expect(await engine.list({ workflow_id: 'all-orders' })).toHaveLength(4);
  });

  it('chains workflows on workflow.completed and workflow.failed, never a workflow on itself', async () => {
    const engine = makeEngine();
    await store(engine, 'first', []);
    await engine.workflows.create(workflow('breaks').transform('t', { x: 'input.missing.key' }).build());
    await store(engine, 'second', [{ id: 'after-first', type: 'event', config: { event: 'workflow.completed', filter: "event.workflow_id == 'first'" } }]);
    await store(engine, 'on-failure', [{ id: 'f', type: 'event', config: { event: 'workflow.failed' } }]);
    await store(engine, 'loop', [{ id: 'self', type: 'event', config: { event: 'workflow.completed', filter: "event.workflow_id == 'loop'" } }]);
    const triggers = track(createTriggers(engine));
    await triggers.start();

    const first = await engine.run((await engine.workflows.get('first'))!.definition, {});
    const [chained] = await until(() => engine.list({ workflow_id: 'second' }), (runs) => runs.length === 1);
    expect(chained).toMatchObject({ trigger: { type: 'event', id: 'after-first', event: 'workflow.completed' }, input_data: { workflow_id: 'first', execution_id: first.id, output: first.output_data ?? null } });
    await engine.wait(chained!.id);

    const broken = await engine.run((await engine.workflows.get('breaks'))!.definition, {});
    expect(broken.status).toBe('failed');
    const [onFailure] = await until(() => engine.list({ workflow_id: 'on-failure' }), (runs) => runs.length >= 1);
    expect(onFailure!.input_data).toMatchObject({ workflow_id: 'breaks', execution_id: broken.id, error: { code: expect.any(String) } });

    await engine.run((await engine.workflows.get('loop'))!.definition, {});
    // Triggers handle events in order: once a later run of `first` has chained, the loop's own
    // completion has been handled too, so a re-trigger would already show (no fixed sleep needed).
    await engine.run((await engine.workflows.get('first'))!.definition, {});
    await until(() => engine.list({ workflow_id: 'second' }), (runs) => runs.length === 2);
    expect(await engine.list({ workflow_id: 'loop' })).toHaveLength(1);
  });
});
