import { describe, expect, it } from 'vitest';
import { Engine, type ToolDefinition, type ProviderRequest, ScriptedProvider, type ModelCallRecord, workflow } from '../src/index.js';
import { createReplayResponder } from '../src/calls/replay-answers.js';
import { edge, makeEngine, node } from './helpers.js';

/** start → classify (structured) → lookup (tools) → reply (fallback) → end. */
const support = {
  name: 'support',
  definition: {
    nodes: [
      node('start', 'start'),
      node('classify', 'prompt_execution', {
        provider_model: 'mock:m',
        template: 'Classify: {{input.ticket}}',
        output_schema: { type: 'object', properties: { label: { type: 'string' } }, required: ['label'] },
      }),
      node('lookup', 'prompt_execution', { provider_model: 'mock:m', template: 'Look up the order for {{classify.json.label}}', tools: ['order'] }),
      node('reply', 'prompt_execution', { provider_model: 'mock:flaky', template: 'Reply about {{lookup.text}}', fallback: ['backup:b'] }),
      node('end', 'end', { output: { label: 'classify.json.label', reply: 'reply.text' } }),
    ],
    edges: [edge('start', 'classify'), edge('classify', 'lookup'), edge('lookup', 'reply'), edge('reply', 'end')],
    variables: [{ name: 'ticket', type: 'string' as const, required: true }],
  },
};

let orderCalls = 0;
const tools: Record<string, ToolDefinition> = {
  order: {
    parameters: { type: 'object', properties: { id: { type: 'string' } } },
    execute: ({ id }) => {
      orderCalls++;
      return { id: String(id), status: 'shipped' };
    },
  },
};

function script(request: ProviderRequest) {
  if (request.prompt.startsWith('Classify')) return request.messages.length === 1 ? 'not json' : { label: 'billing' }; // one re-ask
  if (request.prompt.startsWith('Look up')) return request.messages.length === 1 ? ScriptedProvider.respond({ toolCalls: [{ id: 't1', name: 'order', arguments: { id: 'A7' } }] }) : 'order A7 shipped';
  if (request.model === 'flaky') return ScriptedProvider.fail('provider_5xx', 'flaky is down');
  return `Dear customer: ${request.prompt}`;
}

function setup() {
  const mock = new ScriptedProvider(script);
  const backup = new ScriptedProvider(script, { name: 'backup' });
  const made = makeEngine(undefined, { providers: { mock, backup }, tools, circuitBreaker: false });
  return { ...made, mock, backup };
}

const outputs = (run: { execution_trace: readonly { node_id: string; status: string; output_data?: unknown; attempt: number }[] }) =>
  run.execution_trace.map((s) => ({ node: s.node_id, status: s.status, attempt: s.attempt, output: s.output_data ?? null }));

describe('recorded replay', () => {
  it('replays a run with identical outputs and no provider or tool calls', async () => {
    const { engine, mock, backup } = setup();
    const original = await engine.run(support, { ticket: 'double charge' });
    expect(original.status).toBe('completed');
    expect(original.context.reply).toMatchObject({ model: 'backup:b' });
    const calls = [mock.calls.length, backup.calls.length, orderCalls];

    const replayId = await engine.replay(original.id);
    const replayed = await engine.wait(replayId);
    expect(replayed.status).toBe('completed');
    expect(replayed.id).not.toBe(original.id);
    expect([replayed.workflow_id, replayed.workflow_version, replayed.input_data]).toEqual([original.workflow_id, original.workflow_version, original.input_data]);
    expect(replayed.output_data).toEqual(original.output_data);
    expect(outputs(replayed)).toEqual(outputs(original));
    expect([mock.calls.length, backup.calls.length, orderCalls]).toEqual(calls);

    const before = await engine.calls.list({ workflow_execution_id: original.id });
    const after = await engine.calls.list({ workflow_execution_id: replayId });
    const inOrder = (records: ModelCallRecord[]) => records.sort((a, b) => a.created_at - b.created_at || (a.request as { seq: number }).seq - (b.request as { seq: number }).seq || a.id.length - b.id.length || (a.id < b.id ? -1 : 1));
    const shape = (r: ModelCallRecord) => [r.workflow_node_id, r.provider_model, r.status, r.usage ?? null, (r.request as { seq: number }).seq];
    expect(inOrder(after).map(shape)).toEqual(inOrder(before).map(shape));
    expect(after.map((r) => (r.response as { replayed_from?: string } | undefined)?.replayed_from)).toEqual(before.map((r) => (r.status === 'completed' ? r.id : undefined)));
    expect(after.every((r) => r.cost_usd === undefined || r.cost_usd === 0)).toBe(true);
  });

  it('replays on an engine that has no providers at all (no network)', async () => {
    const { engine, storage, clock } = setup();
    const original = await engine.run(support, { ticket: 'late parcel' });
    let n = 0;
    const offline = new Engine({ storage, clock, ids: (prefix) => `${prefix}_offline_${++n}`, random: () => 0 });
    const replayed = await offline.wait(await offline.replay(original.id));
    expect(replayed.status).toBe('completed');
    expect(replayed.output_data).toEqual(original.output_data);
  });

  it('fails a replayed step whose source run made no call there, instead of calling a provider', async () => {
    // The breaker opens on one failure: the original run's classify is refused before any request.
    const [mock, backup] = [new ScriptedProvider(script), new ScriptedProvider(script, { name: 'backup' })];
    const { engine } = makeEngine(undefined, { providers: { mock, backup }, tools, circuitBreaker: { failureThreshold: 1, cooldownMs: 3_600_000 } });
    const down = await engine.run(workflow('down').prompt('p', { model: 'mock:flaky', template: 'x' }), {});
    expect(down.status).toBe('failed');
    const original = await engine.run(support, { ticket: 'x' });
    expect(original.execution_trace.find((s) => s.node_id === 'classify')!.error_code).toBe('circuit_open'); // nothing recorded
    expect(await engine.calls.list({ workflow_execution_id: original.id })).toEqual([]);
    const replayed = await engine.wait(await engine.replay(original.id));
    const classify = replayed.execution_trace.find((s) => s.node_id === 'classify')!;
    expect(classify.error_code).toBe('not_found');
    expect(classify.error_message).toBe(`Replay of execution ${original.id}: it made no further model call at step "classify" attempt 1`);
  });
});

describe('fork', () => {
  it('replays the steps before fromNode and calls the real providers from it on, with overrides', async () => {
    const { engine, mock, backup } = setup();
    const original = await engine.run(support, { ticket: 'double charge' });
    const [mockBefore, backupBefore, ordersBefore] = [mock.calls.length, backup.calls.length, orderCalls];

    const forkId = await engine.fork(original.id, {
      fromNode: 'lookup',
      overrides: { reply: { template: 'Short reply: {{lookup.text}}', provider_model: 'backup:b2' } },
    });
    const forked = await engine.wait(forkId);
    expect(forked.status).toBe('completed');
    // Before fromNode: replayed, same output, no call.
    expect(forked.context.classify).toEqual(original.context.classify);
    expect(mock.callsMatching('Classify')).toHaveLength(2); // the original's two (one re-ask), none new
    // From fromNode on: live calls, the tool runs again, the override applies.
    expect(mock.calls.length - mockBefore).toBe(2);
    expect(orderCalls - ordersBefore).toBe(1);
    expect(backup.calls.slice(backupBefore).map((c) => [c.model, c.prompt])).toEqual([['b2', 'Short reply: order A7 shipped']]);
    expect(forked.context.reply).toEqual({ text: 'Dear customer: Short reply: order A7 shipped', model: 'backup:b2' });
    const reply = forked.execution_trace.find((s) => s.node_id === 'reply')!;
    expect(reply.input_data).toMatchObject({ prompt: 'Short reply: order A7 shipped' });
  });

  it('refuses an unknown fromNode and overrides before it', async () => {
    const { engine } = setup();
    const original = await engine.run(support, { ticket: 'x' });
    await expect(engine.fork(original.id, { fromNode: 'nope' })).rejects.toThrowError('fork: fromNode "nope" is not a node of workflow "support"');
    await expect(engine.fork(original.id, { fromNode: 'reply', overrides: { classify: { template: 'x' } } })).rejects.toThrowError(
      'fork: override for "classify", which comes before fromNode "reply" and is replayed',
    );
    await expect(engine.fork('run_missing', { fromNode: 'reply' })).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('createReplayResponder', () => {
  const record = (id: string, path: string, attempt: number, model: string, created: number, status: 'completed' | 'failed' = 'completed'): ModelCallRecord => ({
    id,
    status,
    provider_model: model,
    step_path: path,
    attempt,
    request: {},
    created_at: created,
    ...(status === 'completed' ? { response: { text: id }, usage: { input_tokens: 1, output_tokens: 2 } } : { error: { code: 'provider_5xx', message: 'down' } }),
  });

  it('answers per step path and attempt in recorded order, and skips models the source did not answer with', () => {
    const responder = createReplayResponder([record('b', 'a', 1, 'p:fallback', 2), record('a', 'a', 1, 'p:primary', 1, 'failed'), record('c', 'loop[1].a', 1, 'p:primary', 3)]);
    const first = responder.take('a', 1, 'p:primary');
    expect(first).toMatchObject({ kind: 'failure', error: { code: 'provider_5xx', retryable: true } });
    expect(responder.take('a', 1, 'p:primary')).toBe('skip');
    expect(responder.take('a', 1, 'p:fallback')).toMatchObject({ kind: 'answer', response: { text: 'b', usage: { input_tokens: 1, output_tokens: 2 } } });
    expect(responder.take('a', 1, 'p:fallback')).toBeUndefined();
    expect(responder.take('a', 2, 'p:primary')).toBeUndefined();
    expect(responder.take('loop[1].a', 1, 'p:primary')).toMatchObject({ kind: 'answer', response: { text: 'c' } });
  });
});
