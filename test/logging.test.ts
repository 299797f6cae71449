/**
 * The `logger` option (issue 19): everything the engine says about itself goes to one pino-shaped
 * logger (listener errors, failed background passes, failed lease renewals, runs given up when
 * their lease was lost, recoveries, the router's 5xx), and the default prints only warnings and
 * errors.
 */
import express from 'express';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Engine, SqliteStorage, consoleLogger, workflow, type Logger, type Provider, type ProviderResponse } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { FakeClock } from '../src/testing/index.js';
import { makeEngine, serveOnLoopback, until } from './helpers.js';
import { scratch } from './scratch.js';

const { dir } = scratch('logging');
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A pino-shaped logger that keeps what it is told. */
function recordingLogger(): Logger & { readonly lines: { level: string; fields: Record<string, unknown>; message: string | undefined }[] } {
  const lines: { level: string; fields: Record<string, unknown>; message: string | undefined }[] = [];
  const at = (level: string) => (fields: Readonly<Record<string, unknown>>, message?: string) => void lines.push({ level, fields: { ...fields }, message });
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') };
}

const ask = workflow('ask').prompt('ask', { model: 'mock:m', template: 'x' });

describe('the logger option', () => {
  it('is told of a listener that throws, and the listener:error event still fires', async () => {
    const logger = recordingLogger();
    const { engine } = makeEngine(() => 'ok', { logger });
    const boom = new Error('listener bug');
    engine.events.on('node:completed', () => {
      throw boom;
    });
    const reported: unknown[] = [];
    engine.events.on('listener:error', ({ error }) => void reported.push(error));
    await engine.run(ask, {});
    expect(reported).toContain(boom);
    expect(logger.lines).toContainEqual({ level: 'error', fields: { event: 'node:completed', err: boom }, message: 'a listener of "node:completed" threw' });
  });

  it('is told when a background recovery pass fails, and of the runs a pass recovers', async () => {
    const logger = recordingLogger();
    const path = join(dir, 'recover.sqlite');
    const clock = new FakeClock();
    const gate: (() => void)[] = [];
    const slow: Provider = { name: 'mock', complete: () => new Promise<ProviderResponse>((resolve) => gate.push(() => resolve({ text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } }))) };
    // A process that died with a step in flight: its run is an orphan once its lease runs out.
    const dead = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: slow }, clock, leaseMs: 1000, logger });
    const id = await dead.start(ask, {});
    await until(() => gate.length === 1);

    // Its clock stands still (it renews nothing); another engine's is past the lease.
    const later = new FakeClock(clock.now() + 5000);
    const engine = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: { name: 'mock', complete: async () => ({ text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } }) } }, clock: later, logger });
    expect(await engine.recover()).toEqual([id]);
    expect(logger.lines).toContainEqual({ level: 'info', fields: { executionIds: [id] }, message: 'recovered 1 orphaned run(s)' });
    expect(engine.metrics().runtime).toMatchObject({ recovery_passes: 1, recovered_runs: 1 });
    await engine.wait(id);
    await engine.close();

    // The dead process comes back to life: its commit is refused, and it says so.
    gate.splice(0).forEach((answer) => answer());
    await until(() => logger.lines.some((l) => l.level === 'warn'));
    expect(logger.lines).toContainEqual({ level: 'warn', fields: { executionId: id, err: expect.objectContaining({ code: 'conflict' }) }, message: expect.stringMatching(/^lease lost/) });
    await dead.close();
  });

  it('is told when the background loop fails and when a lease renewal fails', async () => {
    const logger = recordingLogger();
    const clock = new FakeClock();
    const storage = new SqliteStorage({ path: join(dir, 'closed.sqlite') });
    const gate: (() => void)[] = [];
    const slow: Provider = { name: 'mock', complete: () => new Promise<ProviderResponse>((resolve) => gate.push(() => resolve({ text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } }))) };
    const engine = new Engine({ storage, providers: { mock: slow }, clock, leaseMs: 3000, pollIntervalMs: 1000, logger });
    await engine.startBackground();
    await engine.start(ask, {});
    await until(() => gate.length === 1);
    await storage.close(); // the database goes away under the engine
    await clock.advance(1000);
    await until(() => logger.lines.some((l) => l.fields.event === 'recover') && logger.lines.some((l) => l.level === 'warn'));
    expect(logger.lines).toContainEqual({ level: 'error', fields: { event: 'recover', err: expect.objectContaining({ code: 'storage' }) }, message: 'recover failed' });
    expect(logger.lines).toContainEqual({ level: 'warn', fields: { err: expect.anything(), runs: 1 }, message: expect.stringMatching(/^lease renewal failed/) });
    expect(engine.metrics().runtime).toMatchObject({ lease_renewal_failures: 1, recovery_failures: 1 });
    expect((await engine.health()).checks.storage).toMatchObject({ ok: false });
    gate.splice(0).forEach((answer) => answer());
    await engine.close().catch(() => undefined);
  });

  it("reports the router's 5xx answers through the engine's logger by default", async () => {
    const logger = recordingLogger();
    const storage = new SqliteStorage({ path: join(dir, 'router.sqlite') });
    const engine = new Engine({ storage, clock: new FakeClock(), logger });
    await engine.init();
    const app = express();
    app.use(createRouter(engine, { allowUnauthenticated: true }));
    const base = await serveOnLoopback(app, cleanups);
    await storage.close();
    expect((await fetch(`${base}/workflows`)).status).toBe(500);
    expect(logger.lines).toContainEqual({ level: 'error', fields: { err: expect.anything(), method: 'GET', path: '/workflows' }, message: 'request failed' });
  });

  it('rejects a logger without the four levels, and a metrics option that is not a boolean', () => {
    expect(() => makeEngine(() => 'ok', { logger: { info: () => undefined } as unknown as Logger })).toThrow(/"logger" must have error, warn, info and debug/);
    expect(() => makeEngine(() => 'ok', { metrics: 'yes' as unknown as boolean })).toThrow(/"metrics" must be a boolean/);
  });
});

describe('the default logger', () => {
  it('prints warnings and errors, and nothing else', () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    consoleLogger.info({ executionIds: ['r1'] }, 'recovered 1 orphaned run(s)');
    consoleLogger.debug({}, 'detail');
    expect(printed).not.toHaveBeenCalled();
    consoleLogger.warn({ runs: 2 }, 'lease renewal failed');
    consoleLogger.error({ event: 'recover' }, 'recover failed');
    expect(printed.mock.calls).toEqual([
      ['[trellis] lease renewal failed', { runs: 2 }],
      ['[trellis] recover failed', { event: 'recover' }],
    ]);
    expect(log).not.toHaveBeenCalled();
  });

  it('keeps a quiet engine quiet: a run that goes well prints nothing', async () => {
    const printed = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const { engine } = makeEngine();
    await engine.run(ask, {});
    await engine.recover();
    expect(printed).not.toHaveBeenCalled();
  });
});
