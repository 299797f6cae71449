/**
 * Shows that persisting a step costs the same at step 10 and at step 5,000 of one long run:
 * every commit of a sequential loop is timed and its payload measured (after a warm-up run).
 */
import { Engine, workflow, type Storage, type StepCommit } from 'trellis';
import { instantProvider } from './workloads.js';

interface Sample {
  readonly us: number;
  readonly bytes: number;
}

export async function flatStepCost(storage: Storage, iterations: number): Promise<{ early: Sample; late: Sample }> {
  const samples: Sample[] = [];
  const commit = async (commit: StepCommit): Promise<boolean> => {
    const bytes = Buffer.byteLength(JSON.stringify(commit.steps)) + Buffer.byteLength(JSON.stringify(commit.executions ?? [])) + Buffer.byteLength(JSON.stringify(commit.run ?? {}));
    const started = process.hrtime.bigint();
    const ok = await storage.commit(commit);
    samples.push({ us: Number(process.hrtime.bigint() - started) / 1000, bytes });
    return ok;
  };
  // Every other method goes straight to the storage (bound, so #private fields keep working).
  const measured = new Proxy(storage, {
    get: (target, key) => {
      if (key === 'commit') return commit;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const engine = new Engine({ storage: measured, providers: { bench: instantProvider } });
  // An LLM step per iteration: one commit each (pure steps would share commits).
  const long = (n: number) => workflow('long').repeat(n, (b) => b.prompt('step', { model: 'bench:m', template: 'step {{index}} of a long run' }), { id: 'long_loop', max_iterations: n });
  // A shorter run first, so that step 10 of the measured run is not also the JIT's first minute.
  const warm = await engine.run(long(500), {});
  if (warm.status !== 'completed') throw new Error(`flat-cost warm-up run ${warm.status}: ${warm.error_message}`);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const window = (part: readonly Sample[]): Sample => ({ us: median(part.map((s) => s.us)), bytes: median(part.map((s) => s.bytes)) });
  // Three runs, each giving the median commit around step 10 and around its last step; the result
  // is the median of the three, since one window of 20 commits can catch a slow moment of the disk.
  const early: Sample[] = [];
  const late: Sample[] = [];
  for (let i = 0; i < 3; i++) {
    samples.length = 0;
    const run = await engine.run(long(iterations), {});
    if (run.status !== 'completed') throw new Error(`flat-cost run ${run.status}: ${run.error_message}`);
    early.push(window(samples.slice(5, 25)));
    late.push(window(samples.slice(samples.length - 21, samples.length - 1)));
  }
  return { early: window(early), late: window(late) };
}
