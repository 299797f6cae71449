import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStorage } from '../src/index.js';
import { spawnFixture } from './fixture-process.js';
import { until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-multi-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Worker {
  out: string;
  err: string;
  readonly exited: Promise<number | null>;
  kill(): void;
}

function startWorker(args: string[]): Worker {
  const child = spawnFixture('multi-process-worker', args);
  const worker: Worker = {
    out: '',
    err: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    kill: () => child.kill('SIGKILL'),
  };
  child.stdout.on('data', (c: Buffer) => (worker.out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (worker.err += c.toString()));
  return worker;
}

const completedIn = (w: Worker): string[] => [...w.out.matchAll(/^completed (\S+)$/gm)].map((m) => m[1]!);

describe('two processes on one SQLite file', () => {
  it('share orphaned runs: each run completes once, each step runs in one process, no SQLITE_BUSY', async () => {
    const path = join(dir, 'shared.sqlite');
    const log = join(dir, 'calls.log');

    const a = startWorker([path, log, 'work', 'A']);
    const b = startWorker([path, log, 'work', 'B']);
    await until(() => (a.out.includes('ready') && b.out.includes('ready')) || a.err !== '' || b.err !== '', 30_000);

    // A short-lived third process creates the runs, leaving each one orphaned in turn, and is killed.
    const seeder = startWorker([path, log, 'seed', 'seeder']);
    await until(() => seeder.out.includes('seeded') || seeder.err !== '', 30_000);
    seeder.kill();
    await seeder.exited;
    expect(seeder.err).toBe('');

    const codes = await Promise.all([a.exited, b.exited]);
    for (const w of [a, b]) {
      expect(w.err).not.toMatch(/SQLITE_BUSY|database is locked/i);
      expect(w.err).toBe('');
    }
    expect(codes).toEqual([0, 0]);

    // Every run completed, and exactly one process reported completing it.
    const storage = new SqliteStorage({ path });
    await storage.init();
    const runs = await storage.listRuns({ limit: 100 });
    expect(runs).toHaveLength(20);
    expect(runs.every((r) => r.status === 'completed')).toBe(true);
    const completions = [...completedIn(a), ...completedIn(b)];
    expect(completions.sort()).toEqual(runs.map((r) => r.id).sort());
    // Both processes did part of the work (the runs became orphans one after another).
    expect(completedIn(a).length).toBeGreaterThan(0);
    expect(completedIn(b).length).toBeGreaterThan(0);

    // Each prompt step was executed exactly once, by one of the two processes.
    const calls = readFileSync(log, 'utf8').trim().split('\n').map((line) => line.split(' ') as [string, string, string]);
    const byStep = new Map<string, string[]>();
    for (const [who, , key] of calls) {
      if (who === 'seeder') continue; // its in-flight calls died with it
      byStep.set(key, [...(byStep.get(key) ?? []), who]);
    }
    expect(byStep.size).toBe(20 * 3);
    for (const [key, who] of byStep) expect(who, key).toHaveLength(1);
    for (const run of runs) {
      const steps = await storage.getSteps(run.id);
      expect(steps.filter((s) => /^s\d$/.test(s.path) && s.status === 'completed')).toHaveLength(3);
      expect(run.output_data).toEqual({ text: expect.stringMatching(/^one \d+! two! three!$/) });
    }
    await storage.close();
  }, 120_000);
});
