/**
 * Issue 20, first slice, with real processes on the real PostgreSQL: one submit-only process and
 * two workers share one schema. The submit process starts 40 runs (a chain, a parallel block, an
 * approval) and approves each; the workers claim them (FOR UPDATE SKIP LOCKED), woken by NOTIFY.
 * One worker is SIGKILLed mid-way: the other takes its runs on once their leases run out. Every
 * run completes, and no step runs twice on the living processes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { watchFixture, type WatchedChild } from './fixture-process.js';
import { until } from './helpers.js';
import { scratch } from './scratch.js';

const { dir, schema, pgUrl } = scratch('fleet');
const RUNS = 40;
const STEPS = ['a', 'b', 'fan.l', 'fan.r', 'z'].length;

const children: WatchedChild[] = [];
afterAll(() => children.forEach((c) => c.kill('SIGKILL')));

function spawnChild(args: string[]): WatchedChild {
  const child = watchFixture('fleet-worker', args);
  children.push(child);
  return child;
}

describe('a fleet on PostgreSQL: one submit-only process, two workers', () => {
  it('every run completes, no step runs twice on a living process, and a killed worker’s runs are taken on', async () => {
    const log = join(dir, 'calls.log');
    writeFileSync(log, '');
    const a = spawnChild([pgUrl, schema, log, 'work', 'A']);
    const b = spawnChild([pgUrl, schema, log, 'work', 'B']);
    await until(() => (a.out.includes('ready') && b.out.includes('ready')) || a.err !== '' || b.err !== '', 40_000);
    expect([a.err, b.err]).toEqual(['', '']);

    const submit = spawnChild([pgUrl, schema, log, 'submit', 'S', String(RUNS)]);
    const calls = () => readFileSync(log, 'utf8').trim().split('\n').filter(Boolean).map((line) => line.split(' ') as [string, string]);
    // Kill A once it has made a share of the calls, while runs are still under way on it.
    await until(() => calls().filter(([who]) => who === 'A').length >= 15 || submit.err !== '', 40_000);
    a.kill('SIGKILL');
    await a.exited;

    await until(() => submit.out.includes('all-done') || submit.err !== '' || b.err !== '', 50_000);
    expect(submit.err).toBe('');
    expect(b.err).toBe('');
    expect(await submit.exited).toBe(0);
    const done = [...submit.out.matchAll(/^done (\S+) (\S+)$/gm)].map((m) => [m[1]!, m[2]!]);
    expect(done).toHaveLength(RUNS);
    expect(done.every(([, status]) => status === 'completed')).toBe(true);

    const storage = new PostgresStorage({ connectionString: pgUrl, schema });
    await storage.init();
    try {
      const runs = await storage.listRuns({ limit: 1000 });
      expect(runs).toHaveLength(RUNS);
      for (const run of runs) {
        expect(run.status).toBe('completed');
        const n = (run.input_data as { n: number }).n;
        expect(run.output_data).toEqual({ text: `a${n}.b.z.` });
      }
    } finally {
      await storage.close();
    }

    // Provider calls per step: the submit process made none; a living process ran each step once;
    // a step ran twice only when the killed worker had it in flight.
    const byStep = new Map<string, string[]>();
    for (const [who, key] of calls()) byStep.set(key, [...(byStep.get(key) ?? []), who]);
    expect(calls().filter(([who]) => who === 'S')).toEqual([]);
    expect(byStep.size).toBe(RUNS * STEPS);
    for (const [key, who] of byStep) {
      const [byA, byB] = ['A', 'B'].map((w) => who.filter((x) => x === w).length) as [number, number];
      expect([key, byA <= 1, byB <= 1, byA + byB >= 1]).toEqual([key, true, true, true]);
    }
    // Both workers did part of the work, and B finished runs that A had begun.
    const runsOf = (w: string) => new Set(calls().filter(([who]) => who === w).map(([, key]) => key.split(':')[0]));
    const [runsA, runsB] = [runsOf('A'), runsOf('B')];
    expect(runsA.size).toBeGreaterThan(0);
    expect([...runsA].some((run) => runsB.has(run))).toBe(true);
    b.kill('SIGTERM');
    expect(await b.exited).toBe(0);
  }, 120_000);
});
