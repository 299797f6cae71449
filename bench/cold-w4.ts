/**
 * W4 as the peer harness (../shared/peer-bench) times it: a fresh process, 100 runs of warm-up,
 * then 1,000 timed runs, one after another, in memory, beside the same branch written as plain
 * async functions over the same provider in the same process. The `W4` row of `npm run bench`
 * warms up for at least half a second first and measures the engine once V8 has optimized it;
 * this row measures what a process's first thousand runs cost while V8 is still compiling, which
 * is what the harness's W4 goal (20× plain JS) is judged on (docs/performance-notes.md).
 */
import { Engine, MemoryStorage, type ProviderRequest } from '@trellis-ai/trellis';
import { instantProvider, w4 } from './workloads.js';

export interface ColdW4Figures {
  /** µs per run of the engine over the timed runs. */
  readonly engine_us: number;
  /** µs per run of the plain-JS branch. */
  readonly plain_us: number;
}

const WARM_UP = 100;
const NEVER = new AbortController().signal;
const TIMED = 1000;

/** The branch as plain code: classify, decide, then one of two calls (the provider is the engine's). */
async function plainBranch(n: number): Promise<string> {
  const request = (prompt: string): ProviderRequest => ({ prompt, model: 'm', messages: [{ role: 'user', content: prompt }], options: {}, signal: NEVER, idempotencyKey: `k${n}` });
  const classified = await instantProvider.complete(request(`c${n}`));
  const next = classified.text === 'c1+' ? 'y' : 'n';
  return (await instantProvider.complete(request(next))).text;
}

async function timed(runs: number, once: () => Promise<void>): Promise<number> {
  const started = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) await once();
  return Number(process.hrtime.bigint() - started) / 1000 / runs;
}

/** Measures both in this process: the plain branch first (it has nothing to compile), then the engine. */
export async function coldW4(): Promise<ColdW4Figures> {
  const plainOnce = async (): Promise<void> => {
    if ((await plainBranch(1)) !== 'y+') throw new Error('W4 cold: plain branch answered wrong');
  };
  await timed(WARM_UP, plainOnce);
  const plain_us = await timed(TIMED, plainOnce);

  const workload = w4(TIMED);
  const engine = new Engine({ storage: new MemoryStorage(), providers: { bench: instantProvider } });
  await engine.init();
  const runOnce = async (): Promise<void> => workload.check((await engine.run(workload.workflow, workload.input)).output_data);
  await timed(WARM_UP, runOnce);
  const engine_us = await timed(TIMED, runOnce);
  await engine.close();
  return { engine_us, plain_us };
}
