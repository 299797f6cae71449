/**
 * Run control across processes on the real PostgreSQL: pause, resume and cancel asked on a
 * submit-only engine (this process) reach the worker process driving the run (or the one that
 * takes it on) through the run's inbox, announced by NOTIFY. A run waiting on an approval, parked
 * by its worker, is cancelled the same way.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, PostgresStorage, type Provider } from '../src/index.js';
import { fleetFlow } from './fixtures/fleet-worker.js';
import { watchFixture, type WatchedChild } from './fixture-process.js';
import { until } from './helpers.js';
import { scratch } from './scratch.js';

const { dir, schema, pgUrl } = scratch('fleet_control');

const children: WatchedChild[] = [];
afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

const never: Provider = {
  name: 'log',
  complete: () => Promise.reject(new Error('a submit-only engine called a provider')),
};

describe('run control across processes (PostgreSQL)', () => {
  it('a submit-only engine pauses, resumes and cancels runs a worker process drives', async () => {
    const log = join(dir, 'calls.log');
    writeFileSync(log, '');
    const worker = watchFixture('fleet-worker', [pgUrl, schema, log, 'work', 'W']);
    children.push(worker);
    await until(() => worker.out.includes('ready') || worker.err !== '', 40_000);
    expect(worker.err).toBe('');

    const storage = new PostgresStorage({ connectionString: pgUrl, schema });
    const submit = new Engine({ storage, providers: { log: never }, role: 'submit', instanceId: 'submit' });
    const calls = (runId: string) => readFileSync(log, 'utf8').split('\n').filter((line) => line.includes(`${runId}:`)).length;
    try {
      // Paused as soon as it is stored: the worker takes the request with the run (or just after
      // its first step), and nothing more starts until it is resumed.
      const paused = await submit.start(fleetFlow(), { n: 1 });
      await submit.pause(paused, { actor: 'ops' });
      await until(async () => (await storage.getRun(paused))?.status === 'paused', 20_000);
      const before = calls(paused);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(calls(paused)).toBe(before);
      expect((await storage.getSteps(paused)).some((s) => s.path === 'ok')).toBe(false);
      await submit.resume(paused);
      await submit.wait(paused, { until: { step: 'ok' }, pollMs: 25 });
      await submit.approve(paused, 'ok');
      expect((await submit.wait(paused, { pollMs: 25 })).status).toBe('completed');

      // Waiting on its approval, parked by the worker (unowned): the request wakes it to be cancelled.
      const waiting = await submit.start(fleetFlow(), { n: 2 });
      await submit.wait(waiting, { until: { step: 'ok' }, pollMs: 25 });
      await until(async () => (await storage.getRun(waiting))?.owner === undefined, 20_000);
      await submit.cancel(waiting, 'not needed', { actor: 'ops' });
      const ended = await submit.wait(waiting, { pollMs: 25 });
      expect([ended.status, ended.error_message]).toEqual(['cancelled', 'not needed']);
      expect(readFileSync(log, 'utf8')).not.toContain(`${waiting}:z`);
      expect(await storage.findDeliveredEvents([paused, waiting], 10)).toEqual([]);
      expect(worker.err).toBe('');
    } finally {
      await submit.close();
      await storage.close();
    }
    worker.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
  }, 90_000);
});
