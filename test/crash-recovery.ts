/**
 * The crash test, shared by the SQLite and PostgreSQL suites: a child runs a 20-step workflow and
 * is killed with SIGKILL at random points; a fresh child recovers the run each time. The children run
 * the built fixture (test/fixture-process.ts), so a kill costs a Node startup, not a TypeScript loader. Afterwards:
 * the run completed, no step that had committed ran again, and the trace is complete and ordered.
 */
import { readFileSync, existsSync } from 'node:fs';
import { expect } from 'vitest';
import type { Storage } from '../src/index.js';
import { startKillable, type KillableChild } from './fixture-process.js';


/**
 * `promise`, or a rejection after `ms` naming `what`, what the child printed and the run as stored:
 * a stuck child fails its step with what is needed to see why, not the whole test's timeout.
 */
async function within<T>(ms: number, promise: Promise<T>, what: string, child: KillableChild, storage: Storage): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const stored = storage
        .listRuns({ limit: 1 })
        .then(([run]) => (run ? JSON.stringify({ status: run.status, owner: run.owner, lease_expires_in_ms: run.lease_expires_at === undefined ? undefined : run.lease_expires_at - Date.now(), revision: run.revision, recovery_count: run.recovery_count }) : 'no run'))
        .catch((error: unknown) => `unreadable: ${String(error)}`);
      void stored.then((run) => reject(new Error(`${what}: nothing after ${ms} ms; the run: ${run}; the child printed: ${child.output()}${child.errors()}`)));
    }, ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}


export interface CrashOptions {
  readonly kind: 'sqlite' | 'postgres';
  readonly where: string;
  readonly log: string;
  readonly kills: number;
  /** Opens the same database from the test process, to read what was committed. */
  readonly storage: Storage;
}

export async function crashAndRecover(options: CrashOptions): Promise<void> {
  const { storage } = options;
  const completedBefore: Set<string>[] = [];
  const completedNow = async (): Promise<Set<string>> => {
    const [run] = await storage.listRuns({ limit: 1 });
    if (!run) return new Set();
    return new Set((await storage.getSteps(run.id)).filter((s) => s.status === 'completed').map((s) => s.path));
  };
  for (let generation = 0; generation < options.kills; generation++) {
    const [existing] = await storage.listRuns({ limit: 1 });
    const mode = existing ? 'recover' : 'start';
    const child = startKillable('crash-worker', [options.kind, options.where, options.log, String(generation), mode]);
    await within(60_000, Promise.race([child.ready, child.done]), `generation ${generation} (${mode}) never became ready`, child, storage);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 60));
    await child.kill();
    completedBefore[generation + 1] = await completedNow();
  }
  const [existing] = await storage.listRuns({ limit: 1 });
  const final = startKillable('crash-worker', [options.kind, options.where, options.log, String(options.kills), existing ? 'recover' : 'start']);
  expect(await within(120_000, final.done, 'the final generation never finished the run', final, storage)).toMatch(/done completed/);

  const [run] = await storage.listRuns({ limit: 1 });
  expect(run?.status).toBe('completed');
  const steps = await storage.getSteps(run!.id);
  const prompts = steps.filter((s) => /^s\d+$/.test(s.path));
  expect(prompts).toHaveLength(20);
  expect(steps.every((s) => s.status === 'completed')).toBe(true);
  // The trace is ordered: seq follows the chain.
  expect(prompts.map((s) => s.path)).toEqual(Array.from({ length: 20 }, (_, i) => `s${i + 1}`));
  expect(run!.output_data).toEqual({ last: expect.stringContaining('>20') });

  // No step that had committed before a kill was executed again by a later process.
  const calls = existsSync(options.log) ? readFileSync(options.log, 'utf8').trim().split('\n') : [];
  const perNode = new Map<string, number>();
  for (const line of calls) {
    const [gen, node] = line.split(' ') as [string, string];
    perNode.set(node, (perNode.get(node) ?? 0) + 1);
    const committed = completedBefore[Number(gen)];
    if (committed?.has(node)) throw new Error(`step ${node} ran again in generation ${gen} after it had committed`);
  }
  // Every node was called at least once; re-runs only for steps in flight at a kill.
  expect(perNode.size).toBe(20);
  const reruns = [...perNode.values()].reduce((a, b) => a + b, 0) - 20;
  expect(reruns).toBeLessThanOrEqual(options.kills);
}
