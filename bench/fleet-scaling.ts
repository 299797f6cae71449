/**
 * Fleet scaling (issue 20): the same load on one PostgreSQL schema with 1, 2 and 4 worker
 * processes. A submit-only process (this one) stores RUNS runs of a three-step chain (an instant
 * provider: the engine and the database are what is measured) in batches, as fast as it can; the
 * workers claim and drive them, woken by NOTIFY. Reported per worker count:
 * - runs/s and steps/s, from the first run stored to the last completed;
 * - wake-up latency, from `start()` resolving here to the run's first step starting on a worker
 *   (p50, p99): how long a run waits for a worker under this load;
 * - where the CPU time went, from /proc/<pid>/stat: the workers, this submit process, and every
 *   `postgres` process on the machine (the server's backends, WAL writer, checkpointer: other
 *   users of the server count too, so it is indicative on a shared machine).
 *
 *   npm run bench:fleet-scaling   (FLEET_SCALING_RUNS, FLEET_SCALING_WORKERS=1,2,4, TRELLIS_BENCH_POSTGRES_URL)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { Engine, PostgresStorage, workflow } from '@trellis-ai/trellis';
import { instantProvider } from './workloads.js';

const PG_URL = process.env['TRELLIS_BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = Number(process.env['FLEET_SCALING_RUNS'] ?? 600);
const WORKER_COUNTS = (process.env['FLEET_SCALING_WORKERS'] ?? '1,2,4').split(',').map(Number);
const STEPS = 3;
const BATCH = 25;
const now = (): number => performance.timeOrigin + performance.now();
/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS = 100;

const flow = () =>
  workflow('scale', { variables: { n: 'number' } })
    .prompt('a', { model: 'bench:m', template: 'a{{input.n}}' })
    .prompt('b', { model: 'bench:m', template: '{{a.text}}b' })
    .prompt('c', { model: 'bench:m', template: '{{b.text}}c' })
    .end({ text: 'c.text' });

async function worker(schema: string, name: string): Promise<void> {
  const engine = new Engine({ storage: new PostgresStorage({ connectionString: PG_URL, schema }), providers: { bench: instantProvider }, role: 'worker', instanceId: name, maxConcurrentRuns: 1000 });
  engine.events.on('node:started', ({ executionId, nodeId }) => {
    if (nodeId === 'a') process.stdout.write(`first ${executionId} ${now()}\n`);
  });
  engine.events.on('execution:completed', ({ executionId }) => process.stdout.write(`completed ${executionId} ${now()}\n`));
  await engine.startBackground();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void engine.close().then(() => process.exit(0)));
}

/** CPU seconds (user + system) a process used so far; 0 when it is gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return 0;
  }
}

/** Pids of every process named `postgres` (the server and its backends). */
function postgresPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const pct = (xs: readonly number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]!;

interface Measured {
  readonly workers: number;
  readonly runsPerSecond: number;
  readonly stepsPerSecond: number;
  readonly wakeP50: number;
  readonly wakeP99: number;
  readonly cpu: { readonly workers: number; readonly submit: number; readonly postgres: number; readonly wall: number };
}

async function measure(workerCount: number): Promise<Measured> {
  const schema = `bench_scale_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const submit = new Engine({ storage: new PostgresStorage({ connectionString: PG_URL, schema }), providers: { bench: instantProvider }, role: 'submit' });
  await submit.init(); // the schema exists before the workers listen on it
  const firstAt = new Map<string, number>();
  const completedAt = new Map<string, number>();
  const children: ChildProcess[] = [];
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  await Promise.all(
    Array.from({ length: workerCount }, (_, i) => {
      const child = spawn(process.execPath, [...process.execArgv, new URL(import.meta.url).pathname, 'worker', schema, `w${i}`], { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      return new Promise<void>((ready) =>
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const [what, id, at] = line.split(' ');
          if (what === 'ready') ready();
          if (what === 'first') firstAt.set(id!, Number(at));
          if (what === 'completed') {
            completedAt.set(id!, Number(at));
            if (completedAt.size === RUNS) allDone();
          }
        }),
      );
    }),
  );
  // Backends the pools open during the measure count from zero: they did not exist before it.
  const postgresBefore = new Map(postgresPids().map((pid) => [pid, cpuSeconds(pid)]));
  const before = { workers: sum(children.map((c) => cpuSeconds(c.pid!))), submit: process.cpuUsage() };
  const startedAt = new Map<string, number>();
  const t0 = now();
  try {
    for (let n = 0; n < RUNS; n += BATCH) {
      await Promise.all(
        Array.from({ length: Math.min(BATCH, RUNS - n) }, async (_, i) => {
          const id = await submit.start(flow(), { n: n + i });
          startedAt.set(id, now());
        }),
      );
    }
    await done;
    const t1 = now();
    const submitCpu = process.cpuUsage(before.submit);
    const wall = (t1 - t0) / 1000;
    const wake = [...startedAt].map(([id, at]) => firstAt.get(id)! - at);
    return {
      workers: workerCount,
      runsPerSecond: RUNS / wall,
      stepsPerSecond: (RUNS * STEPS) / wall,
      wakeP50: pct(wake, 50),
      wakeP99: pct(wake, 99),
      cpu: {
        workers: sum(children.map((c) => cpuSeconds(c.pid!))) - before.workers,
        submit: (submitCpu.user + submitCpu.system) / 1e6,
        postgres: sum(postgresPids().map((pid) => cpuSeconds(pid) - (postgresBefore.get(pid) ?? 0))),
        wall,
      },
    };
  } finally {
    await submit.close();
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((child) => new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(undefined)))));
    const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => admin.end());
  }
}

if (process.argv[2] === 'worker') {
  await worker(process.argv[3]!, process.argv[4]!);
} else {
  const results: Measured[] = [];
  for (const count of WORKER_COUNTS) {
    const m = await measure(count);
    results.push(m);
    const { cpu } = m;
    console.log(
      `${String(count).padStart(2)} worker(s): ${m.runsPerSecond.toFixed(1)} runs/s, ${m.stepsPerSecond.toFixed(1)} steps/s; wake-up p50 ${m.wakeP50.toFixed(1)} ms, p99 ${m.wakeP99.toFixed(1)} ms; ` +
        `CPU over ${cpu.wall.toFixed(1)} s wall: workers ${cpu.workers.toFixed(1)} s, submit ${cpu.submit.toFixed(1)} s, postgres ${cpu.postgres.toFixed(1)} s (${(((cpu.workers + cpu.submit + cpu.postgres) / cpu.wall) * 100).toFixed(0)}% of one core)`,
    );
  }
  const one = results.find((r) => r.workers === 1);
  for (const r of results) if (one && r !== one) console.log(`scaling 1 -> ${r.workers}: ${(r.runsPerSecond / one.runsPerSecond).toFixed(2)}x`);
}
