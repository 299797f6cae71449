/**
 * W5: many runs in flight in one process. Throughput, not latency: `runs` runs of the W1 chain are
 * started `inFlight` at a time (a new one as soon as one ends), and the whole batch is timed. With
 * one run at a time (W1) every commit is a transaction of its own; with hundreds in flight, the
 * commits of different runs that are ready together share one (cross-run group commit).
 */
import { Engine, type Storage } from '@trellis-ai/trellis';
import { instantProvider, nextTurnProvider, w1 } from './workloads.js';

export interface ThroughputFigures {
  readonly steps: number;
  readonly elapsed_ms: number;
  readonly steps_per_s: number;
  readonly per_step_us: number;
  /**
   * This process's CPU time (user + system) per step: on a machine shared with other work, wall
   * time swings with the neighbours' load, CPU time much less (the database server's is not in it).
   */
  readonly cpu_per_step_us: number;
}

/** `answer`: the provider answers after a microtask (`instant`, the bench's default) or on the next turn (`next-turn`). */
export async function concurrentThroughput(storage: Storage, runs: number, inFlight: number, answer: 'instant' | 'next-turn' = 'instant'): Promise<ThroughputFigures> {
  const workload = w1(runs);
  const engine = new Engine({ storage, providers: { bench: answer === 'instant' ? instantProvider : nextTurnProvider } });
  await engine.init();
  const batch = async (count: number): Promise<void> => {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < count) {
        next++;
        const run = await engine.run(workload.workflow, workload.input);
        if (run.status !== 'completed') throw new Error(`W5: run ${run.status}: ${run.error_message}`);
        workload.check(run.output_data);
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, count) }, lane));
  };
  // Warm-up: the JIT settles, and the database has a few hundred runs in it already.
  await batch(Math.max(inFlight, Math.floor(runs / 10)));
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  await batch(runs);
  const elapsedUs = Number(process.hrtime.bigint() - started) / 1000;
  const used = process.cpuUsage(cpu);
  await engine.close();
  const steps = runs * workload.unitsPerRun;
  return { steps, elapsed_ms: elapsedUs / 1000, steps_per_s: steps / (elapsedUs / 1e6), per_step_us: elapsedUs / steps, cpu_per_step_us: (used.user + used.system) / steps };
}
