/**
 * `npm run bench:tracing` (a table) or `-- --json`: what OpenTelemetry tracing costs the engine.
 * W1 (10-step chain) and W4 (call, condition, call), in memory and on SQLite, three ways:
 * - `off`: no tracer provider (the engine makes no spans);
 * - `on`: the production setup, every trace sampled: a BasicTracerProvider with a
 *   BatchSpanProcessor and an exporter that drops what it gets (so no I/O is measured);
 * - `sampled`: the same with `ParentBasedSampler({ root: TraceIdRatioBasedSampler(0.1) })`.
 * The process has the AsyncLocalStorage context manager NodeSDK installs, in every setting: it is
 * the host's, and slows every promise of the app whatever Trellis does.
 *
 * Each setting is measured against `off` in a process of its own, the two engines in interleaved
 * rounds, and the figure is CPU time (user + system) per unit: on a machine shared with other work,
 * wall time and separate processes mostly measure the neighbours. (Not all three in one process: the
 * garbage `on` leaves would be collected during the rounds of the others.) Each row is the median
 * of three processes (one with --quick).
 * Options: --quick, --modes=memory,sqlite. Runs against the built package (dist/).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { Engine, MemoryStorage, SqliteStorage, type Storage } from '@trellis-ai/trellis';
import { instantProvider, w1, w4, type Workload } from './workloads.js';

type Mode = 'memory' | 'sqlite';
type Setting = 'off' | 'on' | 'sampled';

const args = process.argv.slice(2);
const json = args.includes('--json');
const quick = args.includes('--quick');
const modes = (args.find((a) => a.startsWith('--modes='))?.slice(8) ?? 'memory,sqlite').split(',') as Mode[];
const dir = process.env.TRELLIS_BENCH_DIR ?? mkdtempSync(join(tmpdir(), 'trellis-bench-tracing-'));

const WORKLOADS = { W1: w1, W4: w4 } as const;
type WorkloadName = keyof typeof WORKLOADS;
/** Timed runs per setting and process. */
const RUNS: Record<Mode, Record<WorkloadName, number>> = { memory: { W1: 1500, W4: 3000 }, sqlite: { W1: 300, W4: 600 } };
const ROUNDS = 20;

/** An exporter that drops every span: what is measured is the engine's and the SDK's work, not I/O. */
const dropAll: SpanExporter = {
  export: (_spans, done) => done({ code: 0 }),
  shutdown: () => Promise.resolve(),
};

function tracerProvider(setting: Setting): BasicTracerProvider | false {
  if (setting === 'off') return false;
  const sampler = new ParentBasedSampler({ root: setting === 'on' ? new AlwaysOnSampler() : new TraceIdRatioBasedSampler(0.1) });
  return new BasicTracerProvider({ sampler, spanProcessors: [new BatchSpanProcessor(dropAll)] });
}

/** CPU µs per unit of `off` and `setting`, measured in this process. */
async function measure(name: WorkloadName, mode: Mode, setting: Exclude<Setting, 'off'>): Promise<Record<'off' | 'traced', number>> {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  const perRound = Math.max(1, Math.round((RUNS[mode][name] * (quick ? 0.3 : 1)) / ROUNDS));
  const workload: Workload = WORKLOADS[name](perRound);
  const engines = (['off', setting] as const).map((setting) => {
    const storage: Storage = mode === 'memory' ? new MemoryStorage() : new SqliteStorage({ path: join(dir, `tracing-${process.pid}-${setting}.sqlite`) });
    return { setting, storage, engine: new Engine({ storage, providers: { bench: instantProvider }, tracerProvider: tracerProvider(setting) }) };
  });
  const runs = async ({ engine, storage }: (typeof engines)[number], count: number): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const run = await engine.run(workload.workflow, workload.input);
      if (run.status !== 'completed') throw new Error(`${name} ${mode}: run ${run.status}: ${run.error_message}`);
      workload.check(run.output_data);
      // In memory the runs are deleted as they finish, so the heap holds what one run needs (see bench/run.ts).
      if (mode === 'memory') await storage.deleteRun(run.id);
    }
  };
  // Warm-up: every engine, until the JIT has settled.
  const warmUntil = performance.now() + 1000;
  while (performance.now() < warmUntil) for (const e of engines) await runs(e, perRound);
  const cpu: Record<Setting, number> = { off: 0, on: 0, sampled: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    for (const e of engines) {
      const before = process.cpuUsage();
      await runs(e, perRound);
      const used = process.cpuUsage(before);
      cpu[e.setting] += used.user + used.system;
    }
  }
  for (const { engine } of engines) await engine.close();
  const units = ROUNDS * perRound * workload.unitsPerRun;
  return { off: cpu.off / units, traced: cpu[setting] / units };
}

const one = args.find((a) => a.startsWith('--one='))?.slice(6);
if (one !== undefined) {
  const [name, mode, setting] = one.split(',') as [WorkloadName, Mode, Exclude<Setting, 'off'>];
  console.log(JSON.stringify(await measure(name, mode, setting)));
  process.exit(0);
}

function inChild(name: WorkloadName, mode: Mode, setting: Exclude<Setting, 'off'>): Record<'off' | 'traced', number> {
  const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), `--one=${name},${mode},${setting}`, ...(quick ? ['--quick'] : [])], { encoding: 'utf8', env: { ...process.env, TRELLIS_BENCH_DIR: dir } });
  return JSON.parse(out.trim().split('\n').at(-1)!) as Record<'off' | 'traced', number>;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const times = quick ? 1 : 3;
if (!json) console.error('Trellis tracing bench (orchestration only; CPU µs per unit, engines interleaved in one process, median of processes; ratio against tracing off)\n');
for (const mode of modes) {
  for (const name of Object.keys(WORKLOADS) as WorkloadName[]) {
    const unit = WORKLOADS[name](1).unit;
    const samples = { on: [] as Record<'off' | 'traced', number>[], sampled: [] as Record<'off' | 'traced', number>[] };
    for (let i = 0; i < times; i++) for (const setting of ['on', 'sampled'] as const) samples[setting].push(inChild(name, mode, setting));
    const offs = [...samples.on, ...samples.sampled].map((s) => s.off);
    if (!json) console.error(`  ${name} ${mode.padEnd(7)} off      ${median(offs).toFixed(2).padStart(8)} µs/${unit}`);
    for (const setting of ['on', 'sampled'] as const) {
      const ratios = samples[setting].map((s) => s.traced / s.off);
      const row = { workload: name, mode, tracing: setting, unit, cpu_us: median(samples[setting].map((s) => s.traced)), off_cpu_us: median(samples[setting].map((s) => s.off)), ratio_to_off: median(ratios), ratio_samples: ratios.map((r) => Number(r.toFixed(2))) };
      if (json) console.log(JSON.stringify(row));
      else console.error(`  ${name} ${mode.padEnd(7)} ${setting.padEnd(8)} ${row.cpu_us.toFixed(2).padStart(8)} µs/${unit}  ×${row.ratio_to_off.toFixed(2)}  [${row.ratio_samples.join(', ')}]`);
    }
  }
}
