import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, SqliteStorage, workflow } from '../src/index.js';
import { spawnFixture } from './fixture-process.js';
import { until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-poison-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a worker to its end; resolves with its stdout, stderr and how it ended. */
function runWorker(args: string[]): Promise<{ out: string; err: string; code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawnFixture('poison-worker', args);
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ out, err, code, signal })));
}

describe('poison runs', () => {
  it('fails a run whose in-flight step ended the process 4 times in a row (3 recoveries), then retry() sends it on', async () => {
    const path = join(dir, 'poison.sqlite');
    const log = join(dir, 'boom.log');
    const children: Awaited<ReturnType<typeof runWorker>>[] = [];
    children.push(await runWorker([path, log, 'start']));
    while (!children.at(-1)!.out.includes('final') && children.length < 8) {
      children.push(await runWorker([path, log, 'recover']));
    }

    // The starter and three recoveries died in the node; the fifth process found the run poisoned.
    expect(children.map((c) => c.signal)).toEqual(['SIGKILL', 'SIGKILL', 'SIGKILL', 'SIGKILL', null]);
    expect(children.length).toBeLessThanOrEqual(5);
    const last = children.at(-1)!;
    expect(last.code).toBe(0);
    expect(last.err).toBe('');
    expect(last.out).toMatch(/final failed Run failed as poison: the process ended 4 times while step boom was running/);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(4);

    const storage = new SqliteStorage({ path });
    await storage.init();
    const [run] = await storage.listRuns({ limit: 10 });
    expect(run).toMatchObject({ status: 'failed', recovery_count: 4, error_message: expect.stringMatching(/ended 4 times while step boom was running.*engine\.retry/) });
    expect(run?.owner).toBeUndefined();
    const steps = await storage.getSteps(run!.id);
    expect(steps.find((s) => s.path === 'before')?.status).toBe('completed');
    // No step of a terminal run is left `running`: the one in flight failed with the run.
    expect(steps.find((s) => s.path === 'boom')).toMatchObject({ status: 'failed', error: { code: 'internal' } });
    await storage.close();

    // The operator fixes the cause (here: a harmless self_destruct) and sends the run on.
    const engine = new Engine({ storage: new SqliteStorage({ path }) });
    engine.registerNode({ type: 'self_destruct', execute: () => ({ status: 'completed', output: 'fine' }) });
    try {
      // The poison run is on the dead-letter list until it is retried, as a new run linked to it.
      expect((await engine.deadLetters.list()).items).toMatchObject([{ execution_id: run!.id, reason: 'poison', step: { path: 'boom', status: 'failed' } }]);
      const retryId = await engine.retry(run!.id);
      const done = await engine.wait(retryId);
      expect(done.status).toBe('completed');
      expect((await engine.get(retryId))?.execution_trace.find((s) => s.node_id === 'boom')?.status).toBe('completed');
      expect((await engine.get(retryId))?.execution_trace.find((s) => s.node_id === 'before')?.status).toBe('completed');
      expect((await engine.deadLetters.list()).items).toEqual([]);
      await expect(engine.retry(run!.id)).rejects.toMatchObject({ code: 'conflict', details: { retryId } });
      await expect(engine.retry(retryId)).rejects.toMatchObject({ code: 'illegal_state' });
    } finally {
      await engine.close();
    }
  }, 60_000);

  it('counts no strike for a run that had no step in flight, and clears strikes once a step lands', async () => {
    const path = join(dir, 'innocent.sqlite');
    const a = new Engine({ storage: new SqliteStorage({ path }), maxRecoveryAttempts: 1 });
    let release: () => void = () => undefined;
    a.registerNode({ type: 'hold', execute: () => new Promise((resolve) => (release = () => resolve({ status: 'completed', output: 1 }))) });
    const wf = workflow('innocent').node('slow', 'hold').approval('gate').end({ n: 'slow' });
    const id = await a.start(wf, {});
    await until(async () => (await a.get(id))?.execution_trace.find((s) => s.node_id === 'slow')?.status === 'running');
    await a.close(); // `slow` in flight: one strike at the next adoption
    const b = new Engine({ storage: new SqliteStorage({ path }), maxRecoveryAttempts: 1 });
    b.registerNode({ type: 'hold', execute: () => ({ status: 'completed', output: 2 }) });
    try {
      expect(await b.recover()).toEqual([id]);
      await until(async () => (await b.get(id))?.status === 'paused');
      // `slow` landed: the strike is cleared, so dying now (waiting, nothing in flight) is no strike either.
      expect((await (await b.init()).getRun(id))?.recovery_count).toBe(0);
    } finally {
      await b.close();
    }
    release();
    const c = new Engine({ storage: new SqliteStorage({ path }), maxRecoveryAttempts: 1 });
    try {
      await c.approve(id, 'gate');
      expect((await c.wait(id)).status).toBe('completed');
    } finally {
      await c.close();
    }
  }, 60_000);
});
