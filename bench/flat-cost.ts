/**
 * Shows that persisting a step costs the same at step 10 and at step 5,000 of a long run: every
 * commit of a sequential loop of LLM steps is timed and its payload measured. The two windows are
 * taken at the same moment, so that they see the same disk: when the long run is 40 steps from its
 * end, a second run of the same loop starts, and its steps 5 to 25 commit between the long run's
 * last ones. This machine's disk speed drifts over seconds, which timed apart would swamp the
 * comparison.
 */
import { Engine, workflow, type Storage, type StepCommit } from '@trellis-ai/trellis';
import { instantProvider } from './workloads.js';

interface Sample {
  readonly us: number;
  readonly bytes: number;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const summary = (part: readonly Sample[]): Sample => ({ us: median(part.map((s) => s.us)), bytes: median(part.map((s) => s.bytes)) });

export async function flatStepCost(storage: Storage, iterations: number): Promise<{ early: Sample; late: Sample }> {
  const samples = new Map<string, Sample[]>();
  let onCommit: (runId: string, count: number) => void = () => {};
  const commit = async (commit: StepCommit): Promise<boolean> => {
    const bytes = Buffer.byteLength(JSON.stringify(commit.steps)) + Buffer.byteLength(JSON.stringify(commit.calls ?? [])) + Buffer.byteLength(JSON.stringify(commit.run ?? {}));
    const started = process.hrtime.bigint();
    const ok = await storage.commit(commit);
    const list = samples.get(commit.runId) ?? [];
    samples.set(commit.runId, list);
    list.push({ us: Number(process.hrtime.bigint() - started) / 1000, bytes });
    onCommit(commit.runId, list.length);
    return ok;
  };
  // Every other method goes straight to the storage (bound, so #private fields keep working).
  const measured = new Proxy(storage, {
    get: (target, key) => {
      if (key === 'commit') return commit;
      // Without group commit: every commit through the timed `commit` above.
      if (key === 'commitMany') return undefined;
      const value: unknown = Reflect.get(target, key);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
  const engine = new Engine({ storage: measured, providers: { bench: instantProvider } });
  // An LLM step per iteration: one commit each (pure steps would share commits).
  const loop = (n: number) => workflow('long').repeat(n, (b) => b.prompt('step', { model: 'bench:m', template: 'step {{index}} of a long run' }), { id: 'long_loop', max_iterations: n });
  const completed = async (run: Promise<{ status: string; error_message?: string }>): Promise<void> => {
    const { status, error_message } = await run;
    if (status !== 'completed') throw new Error(`flat-cost run ${status}: ${error_message}`);
  };
  // A shorter run first, so that the JIT has settled.
  await completed(engine.run(loop(500), {}));
  const early: Sample[] = [];
  const late: Sample[] = [];
  // Three times, the median of each window; the result the median of the three.
  for (let i = 0; i < 3; i++) {
    samples.clear();
    let fresh: Promise<unknown> | undefined;
    let longId: string | undefined;
    onCommit = (runId, count) => {
      longId ??= runId;
      if (runId === longId && count === iterations - 40 && !fresh) fresh = completed(engine.run(loop(60), {}));
    };
    await completed(engine.run(loop(iterations), {}));
    await fresh;
    const long = samples.get(longId!)!;
    const short = [...samples].find(([id]) => id !== longId)![1];
    early.push(summary(short.slice(5, 25)));
    late.push(summary(long.slice(long.length - 21, long.length - 1)));
  }
  return { early: summary(early), late: summary(late) };
}
