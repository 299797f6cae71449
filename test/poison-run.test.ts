import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStorage } from '../src/index.js';

const WORKER = new URL('./fixtures/poison-worker.ts', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'trellis-poison-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a worker to its end; resolves with its stdout, stderr and how it ended. */
function runWorker(args: string[]): Promise<{ out: string; err: string; code: number | null; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ out, err, code, signal })));
}

describe('poison runs', () => {
  it('fails a run whose recovery kills the process 3 times in a row instead of crash-looping', async () => {
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
    expect(last.out).toMatch(/final failed .*recovery was attempted 3 times in a row/);
    expect(readFileSync(log, 'utf8').trim().split('\n')).toHaveLength(4);

    const storage = new SqliteStorage({ path });
    await storage.init();
    const [run] = await storage.listRuns({ limit: 10 });
    expect(run).toMatchObject({ status: 'failed', recovery_count: 3, error_message: expect.stringMatching(/recovery was attempted 3 times.*poison run/) });
    expect(run?.owner).toBeUndefined();
    const steps = await storage.getSteps(run!.id);
    expect(steps.find((s) => s.path === 'before')?.status).toBe('completed');
    await storage.close();
  }, 60_000);
});
