/**
 * Health (issue 19): `engine.health()` on a real SQLite file and PostgreSQL (storage reachable and
 * writable, schema current), the background loop and lease renewals judged on the engine's clock,
 * runs overdue for recovery, open breakers; and the router's probes over real HTTP, liveness apart
 * from readiness.
 */
import express from 'express';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, PostgresStorage, SqliteStorage, silentLogger, workflow, type Clock, type Provider, type ProviderResponse, type Storage } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { FakeClock } from '../src/testing/index.js';
import { makeRun } from '../src/testing/storage-fixtures.js';
import { SCHEMA_VERSION } from '../src/storage/sql/sql-schema.js';
import { makeEngine, serveOnLoopback, until } from './helpers.js';
import { scratch } from './scratch.js';
import { jsonCaller } from './http-client.js';

const { dir, schema, pgUrl } = scratch('health');
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fake clock whose time can also jump without firing its timers: a process whose event loop was blocked. */
function stallableClock(): { clock: Clock; fake: FakeClock; stall(ms: number): void } {
  const fake = new FakeClock();
  let skew = 0;
  return { fake, clock: { now: () => fake.now() + skew, setTimer: (fn, ms) => fake.setTimer(fn, ms) }, stall: (ms) => void (skew += ms) };
}

/** A provider whose calls stay open until `release()`. */
function gated(): { provider: Provider; release(): void; readonly open: number } {
  const waiting: (() => void)[] = [];
  return {
    provider: { name: 'mock', complete: () => new Promise<ProviderResponse>((resolve) => waiting.push(() => resolve({ text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } }))) },
    release: () => waiting.splice(0).forEach((answer) => answer()),
    get open() {
      return waiting.length;
    },
  };
}

const ask = workflow('ask').prompt('ask', { model: 'mock:m', template: 'x' });

describe('engine.health()', () => {
  for (const [name, open] of [
    ['SQLite', () => new SqliteStorage({ path: join(dir, 'ok.sqlite') })],
    ['PostgreSQL', () => new PostgresStorage({ connectionString: pgUrl, schema })],
  ] as const) {
    it(`is ok, live and ready on ${name}, with every check`, async () => {
      const engine = new Engine({ storage: open(), clock: new FakeClock(), logger: silentLogger });
      cleanups.push(() => engine.close());
      const health = await engine.health();
      expect(health).toMatchObject({ status: 'ok', live: true, ready: true });
      expect(health.checks).toMatchObject({
        storage: { ok: true },
        schema: { ok: true, version: SCHEMA_VERSION, expected: SCHEMA_VERSION },
        background: { ok: true, running: false },
        leases: { ok: true, held_runs: 0 },
        recovery: { ok: true, overdue_runs: 0 },
        breakers: { ok: true, open: [] },
      });
    });
  }

  it('is down but live when storage cannot be opened, and when the schema is not the one this code writes', async () => {
    const missing = new Engine({ storage: new SqliteStorage({ path: join(dir, 'no', 'such', 'dir', 'x.sqlite') }), clock: new FakeClock(), logger: silentLogger });
    const down = await missing.health();
    expect(down).toMatchObject({ status: 'down', live: true, ready: false, checks: { storage: { ok: false, error: expect.any(String) } } });
    expect(down.checks.schema).toBeUndefined();

    const path = join(dir, 'newer.sqlite');
    const engine = new Engine({ storage: new SqliteStorage({ path }), clock: new FakeClock(), logger: silentLogger });
    cleanups.push(() => engine.close());
    await engine.init();
    // Another process migrated the database past this code.
    const raw = new Database(path);
    raw.prepare("UPDATE trellis_meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION + 1));
    raw.close();
    const health = await engine.health();
    expect(health).toMatchObject({ status: 'down', live: true, ready: false, checks: { storage: { ok: true }, schema: { ok: false, version: SCHEMA_VERSION + 1, expected: SCHEMA_VERSION } } });
    // A liveness probe does not read storage at all.
    expect(await engine.health({ storage: false })).toMatchObject({ live: true, checks: { background: { ok: true } } });
    expect((await engine.health({ storage: false })).checks.storage).toBeUndefined();
  });

  it('is not live once the background loop has not turned for a long while, nor once closed', async () => {
    const { clock, fake, stall } = stallableClock();
    const engine = new Engine({ storage: new SqliteStorage({ path: join(dir, 'loop.sqlite') }), clock, pollIntervalMs: 1000, logger: silentLogger });
    await engine.startBackground();
    await fake.advance(5000);
    expect((await engine.health()).checks.background).toMatchObject({ ok: true, running: true, last_pass_at: clock.now() });
    stall(60_000); // the event loop was blocked: time passed, no timer fired
    const stalled = await engine.health();
    expect(stalled).toMatchObject({ status: 'down', live: false, ready: false, checks: { background: { ok: false, error: expect.stringContaining('no recovery pass') } } });
    await fake.advance(1000); // the loop turns again
    expect(await engine.health()).toMatchObject({ live: true, ready: true });
    await engine.close();
    expect(await engine.health({ storage: false })).toMatchObject({ live: false, status: 'down' });
  });

  it('is degraded while leases are renewed late, runs are overdue for recovery, or a breaker is open', async () => {
    const { clock, fake, stall } = stallableClock();
    const gate = gated();
    const storage: Storage = new SqliteStorage({ path: join(dir, 'degraded.sqlite') });
    const engine = new Engine({ storage, clock, leaseMs: 30_000, providers: { mock: gate.provider }, logger: silentLogger });
    cleanups.push(async () => {
      gate.release();
      await engine.close();
    });
    await engine.start(ask, {});
    await until(() => gate.open === 1);
    await fake.advance(10_000); // renewed every third of a lease
    expect((await engine.health()).checks.leases).toMatchObject({ ok: true, held_runs: 1, last_renewal_at: clock.now() });
    stall(25_000); // two renewals missed
    expect(await engine.health()).toMatchObject({ status: 'degraded', live: true, ready: true, checks: { leases: { ok: false, held_runs: 1 } } });
    await fake.advance(10_000);
    expect((await engine.health()).checks.leases.ok).toBe(true);

    // A run another process drove, whose lease ran out long ago, and that no engine took over.
    const now = clock.now();
    await storage.createRun(makeRun('orphan', { status: 'running', owner: 'dead', lease_expires_at: now - 60_000, started_at: now - 120_000, created_at: now - 120_000 }));
    // And a queued run, which waits for its workflow's concurrency, not for recovery.
    await storage.createRun(makeRun('queued', { status: 'pending', created_at: now - 120_000 }));
    expect(await engine.health()).toMatchObject({ status: 'degraded', ready: true, checks: { recovery: { ok: false, overdue_runs: 1 } } });
  });

  it('names the providers whose breaker is open', async () => {
    const failing = () => ({ kind: 'failure' as const, code: 'provider_5xx' as const, message: 'down', status: 503 });
    const { engine } = makeEngine(failing, { circuitBreaker: { failureThreshold: 1, cooldownMs: 60_000 }, logger: silentLogger });
    await engine.run(ask, {});
    expect(await engine.health()).toMatchObject({ status: 'degraded', ready: true, checks: { breakers: { ok: false, open: ['mock'] } } });
    expect(engine.metrics().runtime.circuit_transitions.open).toBe(1);
  });
});

describe('health routes', () => {
  it('serves /health/live and /health/ready without credentials, and /health with detail through authorize', async () => {
    const path = join(dir, 'routes.sqlite');
    const engine = new Engine({ storage: new SqliteStorage({ path }), clock: new FakeClock(), logger: silentLogger });
    cleanups.push(() => engine.close());
    const asked: string[] = [];
    const app = express();
    app.use('/api', createRouter(engine, { health: true, authorize: (_req, action) => (asked.push(action), action === 'health:read') }));
    const getJson = (url: string) => jsonCaller('')('GET', url);
    const base = await serveOnLoopback(app, cleanups);

    expect(await getJson(`${base}/api/health/live`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await getJson(`${base}/api/health/ready`)).toMatchObject({ status: 200, body: { status: 'ok' } });
    const detail = await getJson(`${base}/api/health`);
    expect(detail).toMatchObject({ status: 200, body: { status: 'ok', live: true, ready: true, checks: { storage: { ok: true }, schema: { ok: true } } } });
    expect(asked).toEqual(['health:read']);

    const raw = new Database(path);
    raw.prepare("UPDATE trellis_meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION + 1));
    raw.close();
    // Not ready (take it out of the load balancer), still live (do not restart it).
    expect(await getJson(`${base}/api/health/ready`)).toMatchObject({ status: 503, body: { status: 'down' } });
    expect(await getJson(`${base}/api/health/live`)).toMatchObject({ status: 200 });
    expect(await getJson(`${base}/api/health`)).toMatchObject({ status: 503, body: { ready: false, checks: { schema: { ok: false } } } });
  });

  it('is not served without the option', async () => {
    const { engine } = makeEngine();
    const app = express();
    app.use(createRouter(engine, { allowUnauthenticated: true }));
    const base = await serveOnLoopback(app, cleanups);
    expect((await fetch(`${base}/health/live`)).status).toBe(404);
  });
});
