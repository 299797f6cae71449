/**
 * `npm run bench` (a table) or `npm run bench -- --json` (one JSON line per workload and mode).
 * Workloads W1–W4 run one run at a time; W5 runs 2,000 W1 runs with 200 in flight (throughput).
 * Modes: memory, sqlite (a file, WAL, synchronous=NORMAL), postgres (127.0.0.1:5432, db test),
 * plus the `floor`: a bare better-sqlite3 loop doing one INSERT per step in its own transaction.
 * Each row is the median of three fresh processes (one on PostgreSQL; one with --quick).
 * Options: --quick (fewer runs), --modes=memory,sqlite. Runs against the built package (dist/).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
// The built package, as users run it (`npm run bench` builds it first).
import { Engine, MemoryStorage, SqliteStorage, PostgresStorage, type Storage } from '@trellis-ai/trellis';
import { instantProvider, w1, w2, w3, w4, type Workload } from './workloads.js';
import { flatStepCost } from './flat-cost.js';
import { concurrentThroughput } from './concurrent.js';
import { coldW4 } from './cold-w4.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const modesArg = args.find((a) => a.startsWith('--modes='))?.slice(8);
const modes = (modesArg ?? 'memory,sqlite,postgres').split(',') as Mode[];
type Mode = 'memory' | 'sqlite' | 'postgres';

interface Row {
  workload: string;
  mode: string;
  per_unit_us: number;
  unit: string;
  rss_mb: number;
  [extra: string]: unknown;
}
const rows: Row[] = [];
const print = (row: Row): void => {
  rows.push(row);
  if (json) console.log(JSON.stringify(row));
  else {
    const samples = Array.isArray(row.samples_us) && row.samples_us.length > 1 ? `  [${(row.samples_us as number[]).join(', ')}]` : '';
    const ratios = Array.isArray(row.ratio_samples) ? `; each ${(row.ratio_samples as number[]).join(', ')}` : '';
    console.error(`  ${row.workload.padEnd(10)} ${row.mode.padEnd(9)} ${row.per_unit_us.toFixed(2).padStart(9)} µs/${row.unit}${row.ratio_to_floor ? `  (${Number(row.ratio_to_floor).toFixed(2)}× floor${ratios})` : ''}${samples}`);
  }
};
const rssMb = (): number => Math.round(process.memoryUsage().rss / 1024 / 1024);

const dir = process.env.TRELLIS_BENCH_DIR ?? mkdtempSync(join(tmpdir(), 'trellis-bench-'));
let pgSchemaCounter = 0;

async function makeStorage(mode: Mode): Promise<Storage> {
  if (mode === 'memory') return new MemoryStorage();
  if (mode === 'sqlite') return new SqliteStorage({ path: join(dir, `bench-${Date.now()}-${Math.random()}.sqlite`) });
  const schema = `bench_${process.pid}_${pgSchemaCounter++}`;
  pgSchemas.push(schema);
  return new PostgresStorage({ connectionString: process.env.TRELLIS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', schema });
}

const pgSchemas: string[] = [];
async function dropPgSchemas(): Promise<void> {
  if (pgSchemas.length === 0) return;
  const pg = await import('pg');
  const client = new pg.default.Client({ connectionString: process.env.TRELLIS_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' });
  await client.connect();
  for (const schema of pgSchemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
}

async function measure(workload: Workload, mode: Mode): Promise<Row> {
  const storage = await makeStorage(mode);
  // `--metrics=off`: the engine without its event-fed metrics (bench/metrics.ts compares the two).
  const engine = new Engine({ storage, providers: { bench: instantProvider }, metrics: !args.includes('--metrics=off') });
  await engine.init();
  // Warm up until the JIT has settled (a tenth of the runs, and at least half a second), so the
  // timed runs measure steady state rather than tier-up. In memory mode the warm-up runs are
  // deleted as they finish: the timed runs then work on a heap holding only themselves, as the
  // workload says, not the thousands of warm-up runs the GC would otherwise trace. (A database
  // keeps them, as it would in a service that has been running a while.)
  const warm = Math.max(1, Math.floor(workload.runs / 10));
  const warmUntil = performance.now() + 500;
  for (let i = 0; i < warm || performance.now() < warmUntil; i++) {
    const run = await engine.run(workload.workflow, workload.input);
    workload.check(run.output_data);
    if (mode === 'memory') await storage.deleteRun(run.id);
  }
  const started = process.hrtime.bigint();
  for (let i = 0; i < workload.runs; i++) {
    const run = await engine.run(workload.workflow, workload.input);
    if (run.status !== 'completed') throw new Error(`${workload.name} ${mode}: run ${run.status}: ${run.error_message}`);
    workload.check(run.output_data);
  }
  const elapsedUs = Number(process.hrtime.bigint() - started) / 1000;
  const row: Row = { workload: workload.name, mode, per_unit_us: elapsedUs / (workload.runs * workload.unitsPerRun), unit: workload.unit, rss_mb: rssMb() };
  await engine.close();
  return row;
}

const WORKLOADS = { W1: w1, W2: w2, W3: w3, W4: w4 } as const;
type WorkloadName = keyof typeof WORKLOADS;

/**
 * Each workload and mode runs in a process of its own, so that its time and its peak RSS are its
 * own: no heap, JIT state or GC debt carried over from the workloads before it.
 */
function measureInChild(name: WorkloadName, mode: Mode, runs: number, items?: number): Row {
  const args = [...process.execArgv, fileURLToPath(import.meta.url), `--one=${name},${mode},${runs}${items === undefined ? '' : `,${items}`}`, ...(metricsOff ? ['--metrics=off'] : [])];
  const out = execFileSync(process.execPath, args, { encoding: 'utf8', env: { ...process.env, TRELLIS_BENCH_DIR: dir } });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Row;
}

/** One INSERT per step, each in its own transaction, WAL + synchronous=NORMAL: the cost of durability itself. */
function sqliteFloor(steps: number): number {
  const db = new Database(join(dir, `floor-${Date.now()}.sqlite`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE steps (run_id TEXT, path TEXT, seq INTEGER, status TEXT, output TEXT, PRIMARY KEY (run_id, path))');
  const insert = db.prepare('INSERT INTO steps VALUES (?, ?, ?, ?, ?)');
  const tx = db.transaction((i: number) => insert.run('run', `s${i}`, i, 'completed', '{"text":"ax+b+b"}'));
  for (let i = 0; i < 200; i++) tx(i);
  const started = process.hrtime.bigint();
  for (let i = 200; i < 200 + steps; i++) tx(i);
  const us = Number(process.hrtime.bigint() - started) / 1000 / steps;
  db.close();
  return us;
}

/**
 * The least SQL a durable 10-step run can write, on the floor's own table: its insert for each
 * step, plus a run row (no index beyond its key) inserted with the first step and marked done in
 * an 11th commit. No engine, no call records, no checks. W1's SQLite target is measured against it.
 */
function sqliteRunBound(runs: number): number {
  const db = new Database(join(dir, `bound-${Date.now()}.sqlite`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('CREATE TABLE steps (run_id TEXT, path TEXT, seq INTEGER, status TEXT, output TEXT, PRIMARY KEY (run_id, path))');
  db.exec('CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT, output TEXT) WITHOUT ROWID');
  const insert = db.prepare('INSERT INTO steps VALUES (?, ?, ?, ?, ?)');
  const insertRun = db.prepare("INSERT INTO runs VALUES (?, 'running', NULL)");
  const endRun = db.prepare("UPDATE runs SET status = 'completed', output = ? WHERE id = ?");
  const first = db.transaction((id: string) => {
    insertRun.run(id);
    insert.run(id, 's1', 1, 'completed', '{"text":"ax+b+b"}');
  });
  const step = db.transaction((id: string, i: number) => insert.run(id, `s${i}`, i, 'completed', '{"text":"ax+b+b"}'));
  const last = db.transaction((id: string) => endRun.run('{"last":"ax+b+b"}', id));
  let counter = 0;
  const run = (): void => {
    const id = `run_${String(counter++).padStart(8, '0')}`;
    first(id);
    for (let i = 2; i <= 10; i++) step(id, i);
    last(id);
  };
  for (let i = 0; i < 20; i++) run();
  const started = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) run();
  const us = Number(process.hrtime.bigint() - started) / 1000 / (runs * 10);
  db.close();
  return us;
}

function importTimeMs(): number | undefined {
  if (!existsSync('dist/index.js')) {
    try {
      execFileSync('npm', ['run', '--silent', 'build'], { stdio: 'ignore' });
    } catch {
      return undefined;
    }
  }
  const script = "const t=performance.now(); await import('./dist/index.js'); console.log(performance.now()-t)";
  const samples = [0, 1, 2].map(() => Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim()));
  return Math.min(...samples);
}

const metricsOff = args.includes('--metrics=off');
const scale = quick ? 0.2 : 1;
const n = (runs: number): number => Math.max(2, Math.round(runs * scale));

const one = args.find((a) => a.startsWith('--one='))?.slice(6);
if (one?.startsWith('W5,')) {
  // W5 in a child of its own: many runs in flight, timed as a whole (bench/concurrent.ts).
  const [, mode, runs, inFlight] = one.split(',') as [string, Mode, string, string];
  const figures = await concurrentThroughput(await makeStorage(mode), Number(runs), Number(inFlight));
  await dropPgSchemas();
  console.log(JSON.stringify({ workload: 'W5', mode, per_unit_us: figures.per_step_us, unit: 'step', rss_mb: rssMb(), steps_per_s: figures.steps_per_s, cpu_per_step_us: figures.cpu_per_step_us } satisfies Row));
  process.exit(0);
}
if (one === 'W4cold') {
  // W4 as the peer harness times it, beside plain JS (bench/cold-w4.ts).
  const figures = await coldW4();
  console.log(JSON.stringify({ workload: 'W4 cold', mode: 'memory', per_unit_us: figures.engine_us, unit: 'run', rss_mb: rssMb(), plain_us: figures.plain_us, ratio_to_plain: figures.engine_us / figures.plain_us } satisfies Row));
  process.exit(0);
}
if (one !== undefined) {
  // A child: one measurement, one JSON line, exit.
  const [name, mode, runs, items] = one.split(',') as [WorkloadName, Mode, string, string | undefined];
  const workload = items === undefined ? WORKLOADS[name](Number(runs)) : w3(Number(runs), Number(items));
  // On SQLite, the floor again, in this process, just before: the disk's speed drifts over minutes,
  // so each sample is compared with the floor of its own moment.
  const floorUs = mode === 'sqlite' ? sqliteFloor(n(2000)) : undefined;
  const row = await measure(workload, mode);
  if (floorUs !== undefined) row.floor_us = floorUs;
  await dropPgSchemas();
  console.log(JSON.stringify(row));
  process.exit(0);
}

if (!json) console.error('Trellis bench (orchestration only; provider answers after one microtask; each row the median of fresh processes, samples in brackets)\n');
const medianOf = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const floors: number[] = [];
const bounds: number[] = [];
for (let i = 0; i < 3; i++) {
  floors.push(sqliteFloor(n(5000)));
  if (modes.includes('sqlite')) bounds.push(sqliteRunBound(n(500)));
}
const floor = medianOf(floors);
print({ workload: 'floor', mode: 'sqlite', per_unit_us: floor, unit: 'step', rss_mb: rssMb() });
if (bounds.length > 0) {
  print({ workload: 'W1 bound', mode: 'sqlite', per_unit_us: medianOf(bounds), unit: 'step', rss_mb: rssMb(), ratio_to_floor: medianOf(bounds.map((b, i) => b / floors[i]!)) });
}

/**
 * The median of `times` processes: a timed section of a few tens of milliseconds can take one
 * garbage collection more or less than the next, so one process alone is noisy. The row keeps
 * every sample, and the largest RSS.
 */
function medianOfChildren(times: number, name: WorkloadName, mode: Mode, runs: number, items?: number): Row {
  const samples = Array.from({ length: times }, () => measureInChild(name, mode, runs, items));
  const sorted = [...samples].sort((a, b) => a.per_unit_us - b.per_unit_us);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  const row: Row = { ...median, rss_mb: Math.max(...samples.map((r) => r.rss_mb)), samples_us: samples.map((r) => Number(r.per_unit_us.toFixed(2))) };
  // Each sample against the floor its own process measured (SQLite), the median of those ratios.
  if (samples.every((r) => typeof r.floor_us === 'number')) {
    const ratios = samples.map((r) => r.per_unit_us / (r.floor_us as number));
    row.ratio_to_floor = medianOf(ratios);
    row.ratio_samples = ratios.map((x) => Number(x.toFixed(2)));
  }
  return row;
}

// Three processes a row, but one on PostgreSQL, where a row takes seconds and varies less.
const timesFor = (mode: Mode): number => (quick || mode === 'postgres' ? 1 : 3);

const RUNS: Record<WorkloadName, number> = { W1: 1000, W2: 100, W3: 10, W4: 1000 };
for (const mode of modes) {
  for (const name of Object.keys(RUNS) as WorkloadName[]) {
    const row = medianOfChildren(timesFor(mode), name, mode, n(RUNS[name]));
    if (name === 'W4') {
      // A run, not a step: no floor to compare with.
      delete row.ratio_to_floor;
      delete row.ratio_samples;
    }
    print(row);
  }
}

// W4 in its first thousand runs, as the peer harness measures it: the engine against plain JS.
if (modes.includes('memory')) {
  const samples = [0, 1, 2].map(() => JSON.parse(execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--one=W4cold'], { encoding: 'utf8' }).trim().split('\n').at(-1)!) as Row);
  const median = [...samples].sort((a, b) => Number(a.ratio_to_plain) - Number(b.ratio_to_plain))[1]!;
  print({ ...median, samples_us: samples.map((r) => Number(r.per_unit_us.toFixed(1))) });
  if (!json) console.error(`             plain JS ${Number(median.plain_us).toFixed(2)} µs per run: ${Number(median.ratio_to_plain).toFixed(0)}× (ratios ${samples.map((r) => Number(r.ratio_to_plain).toFixed(0)).join(', ')})`);
}

// W5 concurrent throughput: 2,000 runs of W1, 200 in flight, in one process; each durable storage
// against memory. Goal: SQLite within 2×, PostgreSQL within 3× (cross-run group commit).
const w5: Row[] = [];
for (const mode of modes) {
  const runs = n(2000);
  const samples = Array.from({ length: timesFor(mode) }, () => {
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), `--one=W5,${mode},${runs},200`], { encoding: 'utf8', env: { ...process.env, TRELLIS_BENCH_DIR: dir } });
    return JSON.parse(out.trim().split('\n').at(-1)!) as Row;
  });
  const row: Row = { ...[...samples].sort((a, b) => a.per_unit_us - b.per_unit_us)[Math.floor(samples.length / 2)]!, samples_us: samples.map((r) => Number(r.per_unit_us.toFixed(2))) };
  const memory = w5.find((r) => r.mode === 'memory');
  if (memory && mode !== 'memory') row.ratio_to_memory = row.per_unit_us / memory.per_unit_us;
  w5.push(row);
  print(row);
  if (!json) console.error(`             ${Math.round(Number(row.steps_per_s))} steps/s${row.ratio_to_memory === undefined ? '' : `, ${Number(row.ratio_to_memory).toFixed(2)}× memory`}`);
}

// W3 scaling: the cost per item must not grow with the number of items. Each size times the same
// 20,000 items (200 runs of 100, 20 of 1,000, 2 of 10,000), so that no point rests on a few
// milliseconds of timing.
for (const items of [100, 1000, 10_000]) {
  const row = medianOfChildren(timesFor('memory'), 'W3', 'memory', n(20_000 / items), items);
  print({ ...row, workload: `W3x${items}` });
}

// Flat cost per step across one long loop.
for (const mode of modes.filter((m) => m !== 'memory')) {
  const storage = await makeStorage(mode);
  const flat = await flatStepCost(storage, quick ? 1000 : 5000);
  print({ workload: 'flat', mode, per_unit_us: flat.late.us, unit: 'step', rss_mb: rssMb(), early_us: flat.early.us, late_us: flat.late.us, early_bytes: flat.early.bytes, late_bytes: flat.late.bytes, time_ratio: flat.late.us / flat.early.us, bytes_ratio: flat.late.bytes / flat.early.bytes });
  await storage.close();
}

const importMs = importTimeMs();
if (importMs !== undefined) print({ workload: 'import', mode: 'dist', per_unit_us: importMs * 1000, unit: 'import', rss_mb: rssMb(), import_ms: importMs });

if (!json) {
  const flat = rows.filter((r) => r.workload === 'flat');
  for (const f of flat) console.error(`\n  flat cost (${f.mode}): step 10 ≈ ${Number(f.early_us).toFixed(1)} µs / ${f.early_bytes} B, step ${quick ? 1000 : 5000} ≈ ${Number(f.late_us).toFixed(1)} µs / ${f.late_bytes} B (×${Number(f.time_ratio).toFixed(2)} time, ×${Number(f.bytes_ratio).toFixed(2)} bytes)`);
  if (importMs !== undefined) console.error(`  import of dist/index.js: ${importMs.toFixed(1)} ms`);
  console.error(`  peak RSS of a workload process: ${Math.max(...rows.filter((r) => /^W/.test(r.workload)).map((r) => r.rss_mb))} MB`);
}
await dropPgSchemas();
rmSync(dir, { recursive: true, force: true });
