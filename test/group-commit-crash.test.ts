/**
 * Crash safety of cross-run group commit: a child drives 20 runs at once, their commits sharing
 * transactions, and is killed with SIGKILL at random moments; the next child recovers them. At
 * the end every run completed with all its steps, and no step that had committed before a kill
 * ran again: a group lands whole for the runs it reports landed, or not at all.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PostgresStorage, SqliteStorage, type Storage } from '../src/index.js';
import { startKillable } from './fixture-process.js';
import { until } from './helpers.js';
import { scratch } from './scratch.js';

const { dir, schema, pgUrl } = scratch('groupcrash');
const RUNS = 20;
const KILLS = 5;



/** `run path` of every completed step of every run. */
async function completedSteps(storage: Storage): Promise<Set<string>> {
  const done = new Set<string>();
  for (const run of await storage.listRuns()) for (const step of await storage.getSteps(run.id)) if (step.status === 'completed') done.add(`${run.id} ${step.path}`);
  return done;
}

async function crashAndRecover(kind: 'sqlite' | 'postgres', where: string, storage: Storage): Promise<void> {
  const log = join(dir, `${kind}-calls.log`);
  const committedBefore: Set<string>[] = [];
  let groups = 0;
  for (let generation = 0; generation < KILLS; generation++) {
    const child = startKillable('group-crash-worker', [kind, where, log, String(generation), String(RUNS)]);
    await Promise.race([child.ready, child.done]);
    // The first generation is killed only once a group of several commits has landed, so the test
    // always covers grouped commits (20 fresh runs group at once; a kill before that proved nothing).
    if (generation === 0) await Promise.race([child.done, until(() => child.output().includes('group '))]);
    // Mid-work: a chain's ten calls take 20-120 ms of timers alone.
    await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 50));
    await child.kill();
    groups += child.output().split('\n').filter((line) => line.startsWith('group ')).length;
    committedBefore[generation + 1] = await completedSteps(storage);
  }
  const final = startKillable('group-crash-worker', [kind, where, log, String(KILLS), String(RUNS)]);
  expect(await final.done).toMatch(new RegExp(`done ${Array.from({ length: RUNS }, () => 'completed').join(',')}`));

  const runs = await storage.listRuns();
  expect(runs).toHaveLength(RUNS);
  // Commits were grouped in the generations that were killed, and the first kill landed with
  // work left: what the test is about.
  expect(groups).toBeGreaterThan(0);
  expect(committedBefore[1]!.size).toBeLessThan((await completedSteps(storage)).size);
  for (const run of runs) {
    const steps = await storage.getSteps(run.id);
    expect(steps.filter((s) => /^s\d+$/.test(s.path)).map((s) => `${s.path}:${s.status}`)).toEqual(Array.from({ length: 10 }, (_, i) => `s${i + 1}:completed`));
    expect(run.output_data).toEqual({ last: expect.stringContaining('>10') });
  }
  // No step that had committed before a kill was executed again by a later generation.
  const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
  const perStep = new Map<string, number>();
  for (const line of calls) {
    const [generation, runId, node] = line.split(' ') as [string, string, string];
    const key = `${runId} ${node}`;
    perStep.set(key, (perStep.get(key) ?? 0) + 1);
    if (committedBefore[Number(generation)]?.has(key)) throw new Error(`step ${key} ran again in generation ${generation} after it had committed`);
  }
  expect(perStep.size).toBe(RUNS * 10);
  // Re-runs only for steps in flight at a kill: one per run at most (a chain runs one step at a time).
  const reruns = [...perStep.values()].reduce((a, b) => a + b, 0) - RUNS * 10;
  expect(reruns).toBeLessThanOrEqual(KILLS * RUNS);
}

describe('group commit survives SIGKILL', () => {
  it('on SQLite: 20 runs in flight, 5 kills, every run completes and no committed step runs again', async () => {
    const path = join(dir, 'group-crash.sqlite');
    const storage = new SqliteStorage({ path });
    await storage.init();
    try {
      await crashAndRecover('sqlite', path, storage);
    } finally {
      await storage.close();
    }
  }, 300_000);

  it('on PostgreSQL: 20 runs in flight, 5 kills, every run completes and no committed step runs again', async () => {
    const storage = new PostgresStorage({ connectionString: pgUrl, schema });
    await storage.init();
    try {
      await crashAndRecover('postgres', schema, storage);
    } finally {
      await storage.close();
    }
  }, 300_000);
});
