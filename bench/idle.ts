/**
 * Idle cost (issue 20): what a process pays for runs that wait. For each storage (a SQLite file,
 * PostgreSQL), a fresh process (run with --expose-gc) measures its RSS and heap with an idle engine
 * (storage open, code warmed by a few runs), then with IDLE_RUNS runs (default 10,000) waiting on
 * approvals, each after a full garbage collection; then it approves them all (100 at a time) and
 * reports how long until every one completed. Waiting runs are parked (stored unowned with their
 * wake time, no controller kept), so the second figure should stay within a few MB of the first.
 *
 * Both figures are taken once the process has been quiet for a while ({@link QUIET_MS}), as a
 * service holding waiting runs is: right after a burst of starts V8 keeps its young generation
 * grown to the burst's size (measured: 16 MB more new space, all of it empty after a GC) until its
 * memory reducer runs, a few seconds into a quiet spell. That figure is reported too ("just after
 * the burst"), but it measures the burst, not the runs held.
 *
 *   npm run bench:idle   (IDLE_RUNS=2000 for a quick look; TRELLIS_BENCH_POSTGRES_URL for another server)
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Engine, PostgresStorage, SqliteStorage, workflow, type Storage } from '@trellis-ai/trellis';
import { instantProvider } from './workloads.js';

const PG_URL = process.env['TRELLIS_BENCH_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = Number(process.env['IDLE_RUNS'] ?? 10_000);
const BATCH = 100;
const MB = 1024 * 1024;

// One builder for every run, as an application holds its workflows (a new builder per run costs
// about 1 KB more per run that stays on the heap while the runs wait: measured here, not yet traced).
const FLOW = workflow('idle', { variables: { n: 'number' } })
  .approval('ok')
  .prompt('next', { model: 'bench:m', template: 'go {{input.n}}' })
  .end({ text: 'next.text' });
const flow = () => FLOW;

interface Figures {
  readonly storage: string;
  readonly runs: number;
  readonly idle: Memory;
  /** Right after the last run parked. */
  readonly burst: Memory;
  readonly waiting: Memory;
  readonly heldRuns: number;
  readonly startSeconds: number;
  readonly wakeSeconds: number;
}

/** MB after a full GC: resident, JS heap in use, and JS heap V8 keeps committed (in use or not). */
interface Memory {
  readonly rss: number;
  readonly heap: number;
  readonly heapCommitted: number;
}

/** How long the process stays quiet before a measurement: V8's memory reducer runs within it (seen at under 5 s). */
const QUIET_MS = 10_000;

async function quietMemory(): Promise<Memory> {
  await new Promise((resolve) => setTimeout(resolve, QUIET_MS));
  return memory();
}

function memory(): Memory {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) gc();
  const { rss, heapUsed, heapTotal } = process.memoryUsage();
  return { rss: rss / MB, heap: heapUsed / MB, heapCommitted: heapTotal / MB };
}

async function count(engine: Engine, status: 'paused' | 'completed'): Promise<number> {
  const counts = await engine.runCounts({ workflowId: 'idle' });
  return counts.filter((c) => c.status === status).reduce((sum, c) => sum + c.count, 0);
}

async function until(check: () => Promise<boolean>): Promise<void> {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 50));
}

async function child(kind: string, where: string): Promise<void> {
  const storage: Storage = kind === 'sqlite' ? new SqliteStorage({ path: join(where, 'idle.sqlite') }) : new PostgresStorage({ connectionString: PG_URL, schema: where });
  const engine = new Engine({ storage, providers: { bench: instantProvider } });
  // Warm the code paths (start, park, wake, end) so the idle figure is not all lazy loading.
  const warm = await Promise.all(Array.from({ length: 20 }, (_, n) => engine.start(flow(), { n })));
  await until(async () => (await count(engine, 'paused')) === warm.length && engine.metrics().runtime.active_runs === 0);
  await Promise.all(warm.map((id) => engine.approve(id, 'ok')));
  await Promise.all(warm.map((id) => engine.wait(id)));
  const idle = await quietMemory();

  let t = performance.now();
  const ids: string[] = [];
  for (let i = 0; i < RUNS; i += BATCH) ids.push(...(await Promise.all(Array.from({ length: Math.min(BATCH, RUNS - i) }, (_, k) => engine.start(flow(), { n: i + k })))));
  await until(async () => engine.metrics().runtime.active_runs === 0 && (await count(engine, 'paused')) === RUNS);
  const startSeconds = (performance.now() - t) / 1000;
  const burst = memory();
  const waiting = await quietMemory();
  const heldRuns = engine.metrics().runtime.active_runs;

  t = performance.now();
  for (let i = 0; i < ids.length; i += BATCH) await Promise.all(ids.slice(i, i + BATCH).map((id) => engine.approve(id, 'ok')));
  await until(async () => (await count(engine, 'completed')) === RUNS + warm.length);
  const wakeSeconds = (performance.now() - t) / 1000;
  await engine.close();
  const figures: Figures = { storage: kind, runs: RUNS, idle, burst, waiting, heldRuns, startSeconds, wakeSeconds };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

async function measure(kind: 'sqlite' | 'postgres'): Promise<Figures> {
  const where = kind === 'sqlite' ? mkdtempSync(join(tmpdir(), 'trellis-idle-')) : `bench_idle_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  try {
    const out = await new Promise<string>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--expose-gc', new URL(import.meta.url).pathname, 'child', kind, where], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      proc.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      proc.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`idle child (${kind}) exited with ${code}`))));
    });
    return JSON.parse(out.trim().split('\n').pop()!) as Figures;
  } finally {
    if (kind === 'sqlite') rmSync(where, { recursive: true, force: true });
    else {
      const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
      await admin.query(`DROP SCHEMA IF EXISTS "${where}" CASCADE`).finally(() => admin.end());
    }
  }
}

async function main(): Promise<void> {
  const [role, kind, where] = process.argv.slice(2);
  if (role === 'child') return child(kind!, where!);
  console.log(`Idle cost: ${RUNS} runs waiting on approvals in one process (parked), after a full GC, the process quiet for ${QUIET_MS / 1000} s\n`);
  console.log('| storage | idle RSS | RSS with runs waiting | Δ RSS | Δ heap in use | Δ heap committed | Δ RSS just after the burst | runs held in memory | start + park | approve + finish all |');
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const kind of ['sqlite', 'postgres'] as const) {
    const f = await measure(kind);
    const fmt = (mb: number): string => `${mb.toFixed(1)} MB`;
    console.log(`| ${kind === 'sqlite' ? 'SQLite file' : 'PostgreSQL'} | ${fmt(f.idle.rss)} | ${fmt(f.waiting.rss)} | ${fmt(f.waiting.rss - f.idle.rss)} | ${fmt(f.waiting.heap - f.idle.heap)} | ${fmt(f.waiting.heapCommitted - f.idle.heapCommitted)} | ${fmt(f.burst.rss - f.idle.rss)} | ${f.heldRuns} | ${f.startSeconds.toFixed(1)} s (${Math.round(f.runs / f.startSeconds)} runs/s) | ${f.wakeSeconds.toFixed(1)} s (${Math.round(f.runs / f.wakeSeconds)} runs/s) |`);
  }
  console.log('\nΔ heap in use is what the waiting runs hold. Just after the burst of starts, V8 still keeps its young');
  console.log('generation grown to the burst (empty, but committed) until its memory reducer runs in a quiet spell.');
}

await main();
