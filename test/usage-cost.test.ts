import { describe, expect, it } from 'vitest';
import { isTrellisError, sequentialIds, ScriptedProvider, DEFAULT_PRICES } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { ModelCaller, type CallSite } from '../src/calls/model-call.js';
import { addUsage, priceFor, usageOfRecord, ZERO_USAGE } from '../src/calls/pricing.js';
import { edge, makeEngine, node, until } from './helpers.js';

/** start → one prompt node per config → end. */
function chain(...prompts: { id: string; config: Record<string, unknown> }[]) {
  const ids = ['start', ...prompts.map((p) => p.id), 'end'];
  return {
    name: 'usage',
    definition: {
      nodes: [node('start', 'start'), ...prompts.map((p) => node(p.id, 'prompt_execution', { template: 'Hello', ...p.config })), node('end', 'end')],
      edges: ids.slice(1).map((id, i) => edge(ids[i]!, id)),
    },
  };
}

const sized = ScriptedProvider.respond({ text: 'answer', usage: { input_tokens: 1000, output_tokens: 500 } });

describe('usage and cost', () => {
  it('records usage and cost_usd on each execution record from the built-in prices', async () => {
    const openai = new ScriptedProvider([sized], { name: 'openai' });
    const anthropic = new ScriptedProvider([sized], { name: 'anthropic' });
    const { engine } = makeEngine(undefined, { providers: { openai, anthropic } });
    const run = await engine.run(
      chain(
        { id: 'mini', config: { provider_model: 'openai:gpt-4o-mini' } },
        { id: 'dated', config: { provider_model: 'openai:gpt-4o-2024-08-06' } },
        { id: 'sonnet', config: { provider_model: 'anthropic:claude-sonnet-4-5-20250929' } },
      ),
    );
    expect(run.status).toBe('completed');
    const records = await engine.calls.list({ workflow_execution_id: run.id });
    expect(records.map((r) => [r.workflow_node_id, r.usage, r.cost_usd])).toEqual([
      ['mini', { input_tokens: 1000, output_tokens: 500 }, 0.00045], // 1000 × $0.15/M + 500 × $0.60/M
      ['dated', { input_tokens: 1000, output_tokens: 500 }, 0.0075], // a dated snapshot is priced as gpt-4o, not gpt-4o-mini
      ['sonnet', { input_tokens: 1000, output_tokens: 500 }, 0.0105],
    ]);
  });

  it('lets the host add and override prices, per model or per provider', async () => {
    const { engine } = makeEngine(() => sized, { prices: { 'mock:cheap': { input: 1, output: 2 }, 'mock:*': { input: 10, output: 10 } } });
    const run = await engine.run(chain({ id: 'a', config: { provider_model: 'mock:cheap' } }, { id: 'b', config: { provider_model: 'mock:other' } }));
    const records = await engine.calls.list({ workflow_execution_id: run.id });
    expect(records.map((r) => r.cost_usd)).toEqual([0.002, 0.015]);
  });

  it('records no cost for a model without a price, and zero for ollama', async () => {
    const ollama = new ScriptedProvider([sized], { name: 'ollama' });
    const { engine } = makeEngine(() => sized, { providers: { mock: new ScriptedProvider([sized]), ollama } });
    const run = await engine.run(chain({ id: 'unknown', config: { provider_model: 'mock:m' } }, { id: 'local', config: { provider_model: 'ollama:llama3.2' } }));
    const [unknown, local] = await engine.calls.list({ workflow_execution_id: run.id });
    expect(unknown).not.toHaveProperty('cost_usd');
    expect(unknown!.usage).toEqual({ input_tokens: 1000, output_tokens: 500 });
    expect(local!.cost_usd).toBe(0);
    expect(usageOfRecord(unknown!)).toEqual({ input_tokens: 1000, output_tokens: 500, cost_usd: 0, unpriced_calls: 1 });
  });

  it('counts tokens and cost per provider in metrics()', async () => {
    const openai = new ScriptedProvider([sized], { name: 'openai' });
    const { engine } = makeEngine(undefined, { providers: { openai } });
    await engine.run(chain({ id: 'a', config: { provider_model: 'openai:gpt-4o-mini' } }, { id: 'b', config: { provider_model: 'openai:gpt-4o-mini' } }));
    expect(engine.metrics().providers.openai).toMatchObject({ calls: 2, failures: 0, circuit: 'closed', queued: 0, input_tokens: 2000, output_tokens: 1000, cost_usd: 0.0009 });
  });

  it('rejects malformed prices at construction, naming the option', () => {
    const bad = () => makeEngine(undefined, { prices: { 'mock:m': { input: -1, output: 1 } } });
    expect(bad).toThrowError(/"prices.mock:m.input" must be a number >= 0/);
    try {
      makeEngine(undefined, { prices: { nocolon: { input: 1, output: 1 } } });
    } catch (error) {
      expect(isTrellisError(error) && error.code).toBe('invalid_options');
    }
  });
});

describe('run budgets', () => {
  const withBudget = (budget: Record<string, unknown>, model = 'mock:m') => {
    const wf = chain({ id: 'first', config: { provider_model: model } }, { id: 'second', config: { provider_model: model, template: 'x'.repeat(40) } });
    return { ...wf, definition: { ...wf.definition, settings: { budget } } };
  };

  it('fails the node with budget_exceeded when the next call would pass max_tokens', async () => {
    const { engine, mock } = makeEngine(() => ScriptedProvider.respond({ text: 'ok', usage: { input_tokens: 60, output_tokens: 35 } }));
    const run = await engine.run(withBudget({ max_tokens: 100 }));
    expect(run.status).toBe('failed');
    const second = run.execution_trace.find((s) => s.node_id === 'second')!;
    expect(second.error_code).toBe('budget_exceeded');
    expect(second.error_message).toBe('Run token budget exceeded: node "second" needs about 10 input tokens but the run has used 95 of max_tokens 100');
    expect(mock.calls).toHaveLength(1);
  });

  it('on_exceed pause: the run waits for a human; approving lets the call through, rejecting fails it', async () => {
    const answer = () => ScriptedProvider.respond({ text: 'ok', usage: { input_tokens: 60, output_tokens: 35 } });
    const { engine, mock } = makeEngine(answer);
    const id = await engine.start(withBudget({ max_tokens: 100, on_exceed: 'pause' }));
    await until(async () => (await engine.get(id))?.status === 'paused');
    const paused = (await engine.get(id))!;
    expect(paused.execution_trace.find((s) => s.node_id === 'second')).toMatchObject({ status: 'waiting', waiting_for: { kind: 'approval' }, error_code: 'budget_exceeded' });
    expect(mock.calls).toHaveLength(1);
    await engine.approve(id, 'second');
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');
    expect(mock.calls).toHaveLength(2);

    const { engine: e2, mock: m2 } = makeEngine(answer);
    const id2 = await e2.start(withBudget({ max_tokens: 100, on_exceed: 'pause' }));
    await until(async () => (await e2.get(id2))?.status === 'paused');
    await e2.reject(id2, 'second', 'too expensive');
    const refused = await e2.wait(id2);
    expect(refused.status).toBe('failed');
    expect(refused.error_message).toMatch(/refused by approver: too expensive/);
    expect(m2.calls).toHaveLength(1);
  });

  it('lets a run within its token budget finish', async () => {
    const { engine } = makeEngine(() => ScriptedProvider.respond({ text: 'ok', usage: { input_tokens: 60, output_tokens: 30 } }));
    expect((await engine.run(withBudget({ max_tokens: 100 }))).status).toBe('completed'); // 90 used + about 10 next
  });

  it('fails the node with budget_exceeded when the next call would pass max_cost_usd', async () => {
    const openai = new ScriptedProvider(() => ScriptedProvider.respond({ text: 'ok', usage: { input_tokens: 100_000, output_tokens: 10_000 } }), { name: 'openai' });
    const { engine } = makeEngine(undefined, { providers: { openai } });
    const run = await engine.run(withBudget({ max_cost_usd: 0.02 }, 'openai:gpt-4o-mini')); // first call: $0.021
    const second = run.execution_trace.find((s) => s.node_id === 'second')!;
    expect(second.error_code).toBe('budget_exceeded');
    expect(second.error_message).toMatch(/^Run cost budget exceeded: node "second" would bring the run from \$0\.021000 to about \$0\.02100\d, over max_cost_usd \$0\.02$/);
    expect(openai.calls).toHaveLength(1);
  });

  it('takes the budget and usage from the call site when the runner passes them', async () => {
    const mock = new ScriptedProvider(['ok']);
    const caller = new ModelCaller({ providers: new Map([['mock', mock]]), clock: new FakeClock(), ids: sequentialIds(), structuredRetries: 0 });
    const site = (used: number): CallSite => ({
      runId: 'run_1',
      nodeId: 'n',
      path: 'n',
      attempt: 1,
      idempotencyKey: 'k',
      signal: new AbortController().signal,
      onToken: () => undefined,
      record: () => undefined,
      budget: { max_tokens: 100 },
      usageSoFar: () => ({ input_tokens: used, output_tokens: 0, cost_usd: 0 }),
    });
    await expect(caller.call({ providerModel: 'mock:m', prompt: 'x'.repeat(40) }, site(90))).resolves.toMatchObject({ text: 'ok', usage: { input_tokens: 10, output_tokens: 1 } });
    await expect(caller.call({ providerModel: 'mock:m', prompt: 'x'.repeat(40) }, site(91))).rejects.toMatchObject({ code: 'budget_exceeded', retryable: false, nodeId: 'n' });
    expect(mock.calls).toHaveLength(1);
  });

  it('rejects a malformed budget when the workflow is validated', async () => {
    const { engine } = makeEngine();
    await expect(engine.run(withBudget({ max_tokens: -5 }))).rejects.toMatchObject({ code: 'validation_failed' });
  });
});

describe('pricing helpers', () => {
  it('adds usage totals, treating missing fields as zero', () => {
    const a = addUsage(ZERO_USAGE, { input_tokens: 10, output_tokens: 5 });
    expect(addUsage(a, { input_tokens: 1, output_tokens: 2, cost_usd: 0.1, unpriced_calls: 1 })).toEqual({ input_tokens: 11, output_tokens: 7, cost_usd: 0.1, unpriced_calls: 1 });
    expect(addUsage({ cost_usd: 0.1 }, { cost_usd: 0.2 }).cost_usd).toBe(0.3);
  });

  it('finds the longest family prefix, then the provider wildcard', () => {
    expect(priceFor('openai:gpt-4o-mini-2024-07-18', DEFAULT_PRICES)).toEqual(DEFAULT_PRICES['openai:gpt-4o-mini']);
    expect(priceFor('ollama:qwen3:8b', DEFAULT_PRICES)).toEqual({ input: 0, output: 0 });
    expect(priceFor('openai:some-future-model', DEFAULT_PRICES)).toBeUndefined();
  });
});
