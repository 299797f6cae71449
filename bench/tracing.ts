/**
 * `npm run bench:tracing` (a table) or `-- --json`: what OpenTelemetry tracing costs the engine.
 * W1 (10-step chain) and W4 (call, condition, call), in memory and on SQLite, each run three ways
 * in fresh processes: `off` (no tracer provider: the engine never loads @opentelemetry/api), `on`
 * (the production setup: a global BasicTracerProvider sampling every trace, a BatchSpanProcessor,
 * an exporter that drops what it gets, and the AsyncLocalStorage context manager NodeSDK installs)
 * and `sampled` (the same, sampling 10% of traces, parent-based). Each row is the median of three
 * processes (one with --quick); the ratio is against `off` in the same mode.
 * Options: --quick, --modes=memory,sqlite. Runs against the built package (dist/).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, AlwaysOnSampler, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Engine, MemoryStorage, SqliteStorage, type Storage } from 'trellis';
import { instantProvider, w1, w4, type Workload } from './workloads.js';

type Mode = 'memory' | 'sqlite';
type Tracing = 'off' | 'context' | 'on' | 'sampled';
const TRACINGS: readonly Tracing[] = ['off', 'context', 'on', 'sampled'];

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const modes = (args.find((a) => a.startsWith('--modes='))?.slice(8) ?? 'memory,sqlite').split(',') as Mode[];
const dir = process.env.TRELLIS_BENCH_DIR ?? mkdtempSync(join(tmpdir(), 'trellis-bench-tracing-'));

const WORKLOADS = { W1: w1, W4: w4 } as const;
type WorkloadName = keyof typeof WORKLOADS;
const RUNS: Record<WorkloadName, number> = { W1: 1000, W4: 2000 };

interface Sample {
  readonly per_unit_us: number;
  /** CPU time (user + system) of the process per unit: what the row compares, since on a shared machine wall time mostly measures the neighbours. */
  readonly cpu_us: number;
  readonly rss_mb: number;
}

/** An exporter that drops every span: what is measured is the engine's and the SDK's work, not I/O. */
const dropAll: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve(),
};

/** Registers the global tracer provider the way NodeSDK's start() does (provider and context manager). */
function installTracing(tracing: Tracing): (() => Promise<void>) | undefined {
  if (tracing === 'off') return undefined;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  if (tracing === 'context') return undefined;
  const sampler = new ParentBasedSampler({ root: tracing === 'on' ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(0.1) });
  const provider = new BasicTracerProvider({ sampler, spanProcessors: [new BatchSpanProcessor(dropAll)] });
  trace.setGlobalTracerProvider(provider);
  return () => provider.shutdown();
}

async function measure(workload: Workload, mode: Mode, tracing: Tracing): Promise<Sample> {
  const shutdown = installTracing(tracing);
  const storage: Storage = mode === 'memory' ? new MemoryStorage() : new SqliteStorage({ path: join(dir, `tracing-${process.pid}-${Date.now()}.sqlite`) });
  const engine = new Engine({ storage, providers: { bench: instantProvider } });
  await engine.init();
  // Warm-up as in bench/run.ts: until the JIT settles; in memory the warm-up runs are deleted.
  const warm = Math.max(1, Math.floor(workload.runs / 10));
  const warmUntil = performance.now() + 500;
  for (let i = 0; i < warm || performance.now() < warmUntil; i++) {
    const run = await engine.run(workload.workflow, workload.input);
    workload.check(run.output_data);
    if (mode === 'memory') await storage.deleteRun(run.id);
  }
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  for (let i = 0; i < workload.runs; i++) {
    const run = await engine.run(workload.workflow, workload.input);
    if (run.status !== 'completed') throw new Error(`${workload.name} ${mode} ${tracing}: run ${run.status}: ${run.error_message}`);
    workload.check(run.output_data);
  }
  const elapsedUs = Number(process.hrtime.bigint() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const units = workload.runs * workload.unitsPerRun;
  const sample = { per_unit_us: elapsedUs / units, cpu_us: (used.user + used.system) / units, rss_mb: Math.round(process.memoryUsage().rss / 1024 / 1024) };
  await engine.close();
  await shutdown?.();
  return sample;
}

const one = args.find((a) => a.startsWith('--one='))?.slice(6);
if (one !== undefined) {
  const [name, mode, tracing, runs] = one.split(',') as [WorkloadName, Mode, Tracing, string];
  console.log(JSON.stringify(await measure(WORKLOADS[name](Number(runs)), mode, tracing)));
  process.exit(0);
}

function inChild(name: WorkloadName, mode: Mode, tracing: Tracing, runs: number): Sample {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), `--one=${name},${mode},${tracing},${runs}`], { encoding: 'utf8', env: { ...process.env, TRELLIS_BENCH_DIR: dir } });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Sample;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const times = quick ? 1 : 3;
if (!json) console.error('Trellis tracing bench (orchestration only; µs per unit, median of fresh processes; ratio against tracing off)\n');
for (const mode of modes) {
  for (const name of Object.keys(RUNS) as WorkloadName[]) {
    const runs = Math.max(2, Math.round(RUNS[name] * (quick ? 0.3 : 1)));
    // Interleaved, so that a drift of the machine's speed touches every setting alike.
    const samples: Record<Tracing, Sample[]> = { off: [], context: [], on: [], sampled: [] };
    for (let i = 0; i < times; i++) for (const tracing of TRACINGS) samples[tracing].push(inChild(name, mode, tracing, runs));
    const off = median(samples.off.map((s) => s.cpu_us));
    const offWall = median(samples.off.map((s) => s.per_unit_us));
    for (const tracing of TRACINGS) {
      const cpuUs = median(samples[tracing].map((s) => s.cpu_us));
      const wallUs = median(samples[tracing].map((s) => s.per_unit_us));
      const row = {
        workload: name, mode, tracing, unit: WORKLOADS[name](1).unit,
        cpu_us: cpuUs, ratio_to_off: cpuUs / off, per_unit_us: wallUs, wall_ratio_to_off: wallUs / offWall,
        rss_mb: Math.max(...samples[tracing].map((s) => s.rss_mb)), cpu_samples_us: samples[tracing].map((s) => Number(s.cpu_us.toFixed(2))),
      };
      if (json) console.log(JSON.stringify(row));
      else console.error(`  ${name} ${mode.padEnd(7)} ${tracing.padEnd(8)} cpu ${cpuUs.toFixed(2).padStart(8)} µs/${row.unit} ×${row.ratio_to_off.toFixed(2)}   wall ${wallUs.toFixed(2).padStart(8)} ×${row.wall_ratio_to_off.toFixed(2)}   rss ${row.rss_mb} MB  cpu [${row.cpu_samples_us.join(', ')}]`);
    }
  }
}
