/**
 * `npm run bench:metrics`: what the engine's metrics cost. W1 (10-step chain) and W4 (prompt,
 * condition, prompt) on memory and SQLite, each with two engines in one process, the engine option
 * `metrics` on in one and off in the other, run in alternating blocks (on, off, off, on, ...) so
 * that JIT state, heap and the machine's drift fall on both alike. Time is the process's CPU time
 * (user + system) per block, which a loaded machine disturbs far less than wall time; the row is
 * the ratio of the medians over the blocks. The target is ≤ 1.10×.
 * Options: --blocks=N (per side, default 10), --runs=N (runs per block, default 200), --modes=memory,sqlite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine, MemoryStorage, SqliteStorage, type Storage } from '@trellis-ai/trellis';
import { instantProvider, w1, w4, type Workload } from './workloads.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string): string => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const blocks = Number(option('blocks', '10'));
const runs = Number(option('runs', '200'));
const modes = option('modes', 'memory,sqlite').split(',');
const dir = mkdtempSync(join(tmpdir(), 'trellis-bench-metrics-'));

const storageFor = (mode: string, name: string): Storage => (mode === 'sqlite' ? new SqliteStorage({ path: join(dir, `${name}.sqlite`) }) : new MemoryStorage());
const cpuUs = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};
const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** CPU µs per unit of one block of `runs` runs. Memory runs are deleted as they end, so the heap holds one block's runs at most. */
async function block(engine: Engine, storage: Storage, workload: Workload, memory: boolean): Promise<number> {
  const started = cpuUs();
  for (let i = 0; i < workload.runs; i++) {
    const run = await engine.run(workload.workflow, workload.input);
    if (run.status !== 'completed') throw new Error(`${workload.name}: run ${run.status}: ${run.error_message}`);
    if (memory) await storage.deleteRun(run.id);
  }
  return (cpuUs() - started) / (workload.runs * workload.unitsPerRun);
}

console.error(`Metrics on vs off: CPU µs per unit, median of ${blocks} alternating blocks of ${runs} runs per side\n`);
/** Median CPU µs per unit of each side; the engine made first is measured a little slower (JIT state), so callers run both orders. */
async function compare(mode: string, workload: Workload, onFirst: boolean): Promise<{ on: number; off: number }> {
  const sides = (onFirst ? [true, false] : [false, true]).map((metrics) => {
    const storage = storageFor(mode, `${workload.name}-${metrics ? 'on' : 'off'}-${onFirst ? 1 : 2}`);
    return { metrics, storage, engine: new Engine({ storage, providers: { bench: instantProvider }, metrics }), samples: [] as number[] };
  });
  // Warm-up: two blocks each, not counted.
  for (let i = 0; i < 2; i++) for (const side of sides) await block(side.engine, side.storage, workload, mode === 'memory');
  for (let i = 0; i < blocks; i++) {
    const order = i % 2 === 0 ? sides : [...sides].reverse();
    for (const side of order) side.samples.push(await block(side.engine, side.storage, workload, mode === 'memory'));
  }
  for (const side of sides) await side.engine.close();
  const of = (metrics: boolean): number => median(sides.find((s) => s.metrics === metrics)!.samples);
  return { on: of(true), off: of(false) };
}

// The process's first blocks run colder than any warm-up block per engine makes up for: one whole
// comparison first, not reported.
await compare(modes[0] ?? 'memory', w1(runs), true);
for (const mode of modes) {
  for (const workload of [w1(runs), w4(runs)]) {
    // Both orders, and the geometric mean of their ratios: what is left is the cost of metrics.
    const a = await compare(mode, workload, true);
    const b = await compare(mode, workload, false);
    const ratio = Math.sqrt((a.on / a.off) * (b.on / b.off));
    const on = (a.on + b.on) / 2;
    const off = (a.off + b.off) / 2;
    console.log(JSON.stringify({ workload: workload.name, mode, unit: workload.unit, on_cpu_us: on, off_cpu_us: off, ratio, ratio_on_first: a.on / a.off, ratio_off_first: b.on / b.off }));
    console.error(`  ${workload.name} ${mode.padEnd(7)} on ${on.toFixed(2).padStart(8)}  off ${off.toFixed(2).padStart(8)} µs/${workload.unit}  ${ratio.toFixed(3)}×  (on made first ${(a.on / a.off).toFixed(2)}×, off first ${(b.on / b.off).toFixed(2)}×)${ratio > 1.1 ? '  over 1.10×' : ''}`);
  }
}
rmSync(dir, { recursive: true, force: true });
