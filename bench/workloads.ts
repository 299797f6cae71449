/** The benchmark workloads: orchestration cost only (the provider answers after one microtask). */
import { workflow, type Provider, type ProviderRequest, type ProviderResponse, type WorkflowBuilder } from '@trellis-ai/trellis';

/** Answers after `await Promise.resolve()`: no timers, no I/O. */
export const instantProvider: Provider = {
  name: 'bench',
  async complete(request: ProviderRequest): Promise<ProviderResponse> {
    await Promise.resolve();
    return { text: request.prompt.length > 40 ? request.prompt.slice(-20) : `${request.prompt}+`, usage: { input_tokens: 1, output_tokens: 1 } };
  },
};

/**
 * Answers on the next turn of the event loop (`setImmediate`), as a network answer arrives: steps of
 * runs in flight then finish on separate callbacks instead of in one stretch of microtasks.
 */
export const nextTurnProvider: Provider = {
  name: 'bench',
  async complete(request: ProviderRequest): Promise<ProviderResponse> {
    await new Promise((resolve) => setImmediate(resolve));
    return { text: request.prompt.length > 40 ? request.prompt.slice(-20) : `${request.prompt}+`, usage: { input_tokens: 1, output_tokens: 1 } };
  },
};

export interface Workload {
  readonly name: string;
  readonly unit: string;
  readonly runs: number;
  /** Units of work in one run (steps, branches, items, runs). */
  readonly unitsPerRun: number;
  readonly workflow: WorkflowBuilder<object>;
  readonly input: Record<string, unknown>;
  /** Throws when a run did less than the full work. */
  check(output: unknown): void;
}

function expectEqual(actual: unknown, expected: unknown, what: string): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}

/** W1: a 10-step prompt chain, each template using the previous output. */
export function w1(runs: number): Workload {
  let wf: WorkflowBuilder<object> = workflow('w1').prompt('s1', { model: 'bench:m', template: 'a{{input.seed}}' });
  for (let i = 2; i <= 10; i++) wf = wf.prompt(`s${i}`, { model: 'bench:m', template: `{{s${i - 1}.text}}b` });
  wf = wf.end({ last: 's10.text' });
  return {
    name: 'W1', unit: 'step', runs, unitsPerRun: 10, workflow: wf, input: { seed: 'x' },
    check: (out) => expectEqual(out, { last: 'ax+b+b+b+b+b+b+b+b+b+' }, 'W1'),
  };
}

/** W2: a fan-out of `branches` parallel prompts, then a merge. */
export function w2(runs: number, branches = 100): Workload {
  const map: Record<string, (b: WorkflowBuilder<object>) => WorkflowBuilder<object>> = {};
  for (let i = 0; i < branches; i++) map[`b${i}`] = (b) => b.prompt(`p${i}`, { model: 'bench:m', template: `q${i}` });
  const wf = workflow('w2').parallel(map as never, { id: 'fan' }).end({ n: 'size(fan_merge)' }) as WorkflowBuilder<object>;
  return { name: 'W2', unit: 'branch', runs, unitsPerRun: branches, workflow: wf, input: {}, check: (out) => expectEqual(out, { n: branches }, 'W2') };
}

/** W3: for-each over `items` items with concurrency 10. */
export function w3(runs: number, items = 1000): Workload {
  const wf = workflow('w3', { variables: { items: 'array' } })
    .forEach('input.items', (b) => b.prompt('work', { model: 'bench:m', template: 'i{{item}}' }), { id: 'each', concurrency: 10, max_iterations: 100_000 })
    .end({ n: 'size(each)', last: 'each[size(each) - 1].text' }) as WorkflowBuilder<object>;
  const list = Array.from({ length: items }, (_, i) => i);
  return { name: 'W3', unit: 'item', runs, unitsPerRun: items, workflow: wf, input: { items: list }, check: (out) => expectEqual(out, { n: items, last: `i${items - 1}+` }, 'W3') };
}

/** W4: a prompt, a condition on its output, then one of two prompts. */
export function w4(runs: number): Workload {
  const wf = workflow('w4')
    .prompt('classify', { model: 'bench:m', template: 'c{{input.n}}' })
    .when("classify.text == 'c1+'", (b) => b.prompt('yes', { model: 'bench:m', template: 'y' }), (b) => b.prompt('no', { model: 'bench:m', template: 'n' }))
    .end({ a: "has(yes.text) ? yes.text : ''" }) as WorkflowBuilder<object>;
  return { name: 'W4', unit: 'run', runs, unitsPerRun: 1, workflow: wf, input: { n: 1 }, check: (out) => expectEqual(out, { a: 'y+' }, 'W4') };
}
