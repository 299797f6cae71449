/**
 * Fenced commits, with real processes: a worker drives a slow 8-step run; it is stopped with
 * SIGSTOP; an engine in this process, whose clock reads past the worker's lease, recovers the run and
 * completes it; the worker is resumed with SIGCONT. Its late commits must be refused: no step row and no run field the new
 * owner committed changes, the stale worker calls no provider again, and it abandons the run.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine, PostgresStorage, SqliteStorage, type Provider, type Storage } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { spawnFixture } from './fixture-process.js';
import { scratch } from './scratch.js';

const { pgUrl: PG_URL, schema, dir } = scratch('fence');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
/** Past the worker's 30 s lease however long it took to get here: the new owner reads time from this. */
const pastTheLease = (): FakeClock => new FakeClock(Date.now() + 10 * 60_000);
/** The worker's provider calls so far (none before its first call creates the log). */
const staleCalls = (log: string): string[] => (existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((line) => line.startsWith('stale ')) : []);

/** Answers at once: the engine that takes the run over. */
const quick: Provider = { name: 'slow', complete: async (request) => ({ text: `fresh ${request.prompt.length}`, usage: { input_tokens: 1, output_tokens: 1 } }) };

async function fence(kind: 'sqlite' | 'postgres', where: string, open: () => Storage): Promise<void> {
  const log = join(dir, `${kind}.log`);
  const child = spawnFixture('fencing-worker', [kind, where, log]);
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  try {
    // Stop it while its third call is in flight: two steps are committed, the third is running.
    for (let i = 0; i < 1200 && !out.includes('started'); i++) await sleep(25);
    for (let i = 0; i < 2000; i++) {
      if (staleCalls(log).length >= 3) break;
      await sleep(10);
    }
    expect(staleCalls(log).length, err).toBeGreaterThanOrEqual(3);
    child.kill('SIGSTOP');
    const runId = /started (\S+)/.exec(out)![1]!;
    const callsWhenStopped = staleCalls(log).length;

    // No real wait for the lease to lapse (a busy machine made any fixed wait a guess): the new owner's
    // clock is ten minutes ahead, so the stopped worker's lease has expired as far as it can tell.
    const engine = new Engine({ storage: open(), providers: { slow: quick }, instanceId: 'new-owner', clock: pastTheLease() });
    try {
      expect(await engine.recover()).toEqual([runId]);
      const finished = await engine.wait(runId);
      expect(finished.status).toBe('completed');
      const storage = await engine.init();
      const rowsBefore = await storage.getSteps(runId);
      const runBefore = await storage.getRun(runId);
      expect(rowsBefore.filter((s) => s.status === 'completed' && /^s\d/.test(s.path))).toHaveLength(8);

      child.kill('SIGCONT');
      for (let i = 0; i < 1200 && !/ended|abandoned/.test(out); i++) await sleep(25);
      await exited;
      // The stale worker gave the run up (its in-flight step's commit was refused) and its wait
      // followed the run to the end the new owner gave it.
      expect(out, err).toContain('ended completed');
      // No call after SIGCONT: the one in flight when stopped was already logged.
      expect(staleCalls(log)).toHaveLength(callsWhenStopped);
      expect(await storage.getSteps(runId)).toStrictEqual(rowsBefore);
      expect(await storage.getRun(runId)).toStrictEqual(runBefore);
      expect(JSON.stringify(runBefore?.output_data)).toContain('fresh');
    } finally {
      await engine.close();
    }
  } finally {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
    await exited;
  }
}

describe('fenced commits', () => {
  it('refuses every late commit of a process stopped past its lease (SQLite)', async () => {
    const path = join(dir, 'fence.sqlite');
    await fence('sqlite', path, () => new SqliteStorage({ path }));
  }, 120_000);

  it('refuses every late commit of a process stopped past its lease (PostgreSQL)', async () => {
    const init = new PostgresStorage({ connectionString: PG_URL, schema });
    await init.init(); // the schema exists before the worker starts; rejects when the server is down
    await init.close();
    await fence('postgres', schema, () => new PostgresStorage({ connectionString: PG_URL, schema }));
  }, 120_000);
});
