import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  workflow,
  Engine,
  InvalidInputError,
  isTrellisError,
  WorkflowValidationError,
  defineNode,
  ScriptedProvider,
  MemoryStorage,
  SqliteStorage,
} from '../src/index.js';
import { edge, makeEngine, node, recordEvents } from './helpers.js';

const triageJson = {
  name: 'triage',
  version: 1,
  status: 'active' as const,
  definition: {
    nodes: [
      node('start', 'start'),
      node('classify', 'prompt_execution', { provider_model: 'mock:m', template: 'Classify: {{input.ticket}}' }),
      node('check', 'condition', { condition: "classify.json.label == 'billing'", true_path: 'refund', false_path: 'other' }),
      node('refund', 'prompt_execution', { provider_model: 'mock:m', template: 'Refund for {{input.ticket}}' }),
      node('other', 'data_transform', { mapping: { note: "'no refund'" } }),
      node('join', 'merge'),
      node('end', 'end', { output: { label: 'classify.json.label' } }),
    ],
    edges: [
      edge('start', 'classify'),
      edge('classify', 'check'),
      edge('check', 'refund', { source_output: 'true' }),
      edge('check', 'other', { source_output: 'false' }),
      edge('refund', 'join'),
      edge('other', 'join'),
      edge('join', 'end'),
    ],
    variables: [{ name: 'ticket', type: 'string' as const, required: true }],
    triggers: [],
  },
};

const script = (r: { prompt: string }) => (r.prompt.startsWith('Classify') ? { label: 'billing' } : 'refund issued');

describe('engine: running workflows', () => {
  it('runs a JSON workflow to completion with context, trace and output', async () => {
    const { engine, mock } = makeEngine(script);
    const run = await engine.run(triageJson, { ticket: 'double charge' });
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ label: 'billing' });
    expect(run.context.classify).toEqual({ text: '{"label":"billing"}', json: { label: 'billing' } });
    expect(run.execution_trace.map((s) => [s.node_id, s.status])).toEqual([
      ['start', 'completed'],
      ['classify', 'completed'],
      ['check', 'completed'],
      ['refund', 'completed'],
      ['other', 'skipped'],
      ['join', 'completed'],
      ['end', 'completed'],
    ]);
    expect(mock.calls.map((c) => c.prompt)).toEqual(['Classify: double charge', 'Refund for double charge']);
    const classify = run.execution_trace.find((s) => s.node_id === 'classify')!;
    expect(classify.call_id).toBeDefined();
    const records = await engine.calls.list({ workflow_execution_id: run.id, workflow_node_id: 'classify' });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ status: 'completed', provider_model: 'mock:m', id: classify.call_id });
  });

  it('gives identical traces for a JSON-defined and a builder-defined workflow', async () => {
    const built = workflow('triage', { variables: { ticket: { type: 'string' } } })
      .prompt('classify', { model: 'mock:m', template: 'Classify: {{input.ticket}}' })
      .when("classify.json.label == 'billing'", (b) => b.prompt('refund', { model: 'mock:m', template: 'Refund for {{input.ticket}}' }), (b) => b.transform('other', { note: "'no refund'" }))
      .end({ label: 'classify.json.label' });
    const shape = (run: Awaited<ReturnType<ReturnType<typeof makeEngine>['engine']['run']>>) =>
      run.execution_trace.map((s) => ({ type: s.node_type, status: s.status, output: s.output_data ?? null, input: s.input_data }));
    const a = await makeEngine(script).engine.run(triageJson, { ticket: 't' });
    const b = await makeEngine(script).engine.run(built, { ticket: 't' });
    expect(shape(b)).toEqual(shape(a));
    expect(b.output_data).toEqual(a.output_data);
  });

  it('fires lifecycle events in order, after the facts are committed', async () => {
    const { engine, storage } = makeEngine(script);
    const seen = recordEvents(engine, ['execution:started', 'node:started', 'node:completed', 'node:skipped', 'execution:completed']);
    let committedAtEvent: string | undefined;
    engine.events.on('node:completed', (e) => {
      if (e.nodeId === 'classify') void storage.getStep(e.executionId, 'classify').then((s) => (committedAtEvent = s?.status));
    });
    await engine.run(triageJson, { ticket: 'x' });
    expect(seen).toEqual([
      'execution:started',
      'node:started start',
      'node:completed start',
      'node:started classify',
      'node:completed classify',
      'node:started check',
      'node:completed check',
      'node:started refund',
      'node:skipped other',
      'node:completed refund',
      'node:started join',
      'node:completed join',
      'node:started end',
      'node:completed end',
      'execution:completed',
    ]);
    expect(committedAtEvent).toBe('completed');
  });

  it('keeps running when a listener throws, and reports it', async () => {
    const { engine } = makeEngine(script);
    const errors: unknown[] = [];
    let after = 0;
    engine.events.on('node:completed', () => {
      throw new Error('listener bug');
    });
    engine.events.on('node:completed', () => after++);
    engine.events.on('listener:error', (e) => errors.push(e.error));
    const run = await engine.run(triageJson, { ticket: 'x' });
    expect(run.status).toBe('completed');
    expect(after).toBe(6);
    expect(errors).toHaveLength(6);
  });

  it('fails the run naming a missing template variable, never rendering an empty string', async () => {
    const { engine, mock } = makeEngine();
    const wf = workflow('missing').prompt('p', { model: 'mock:m', template: 'Hello {{input.name}}' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('failed');
    expect(run.error_message).toContain('input.name');
    expect(mock.calls).toHaveLength(0);
    const step = run.execution_trace.find((s) => s.node_id === 'p')!;
    expect(step).toMatchObject({ status: 'failed', error_code: 'missing_variable' });
  });

  it('rejects bad input with a typed error and creates no run', async () => {
    const { engine, storage } = makeEngine(script);
    await expect(engine.run(triageJson, { ticket: 42 })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(engine.run(triageJson, {})).rejects.toThrow(/ticket.*required/);
    await expect(engine.run(triageJson, 'not an object')).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(engine.run(triageJson, { ticket: 'x'.repeat(2 * 1024 * 1024) })).rejects.toThrow(/over the limit/);
    expect(await storage.listRuns()).toEqual([]);
  });

  it('rejects start() when the write that creates the run fails, leaving no run and no event behind', async () => {
    class FailingOnce extends MemoryStorage {
      failNext = true;
      override async commit(commit: Parameters<MemoryStorage['commit']>[0]): Promise<boolean> {
        if (this.failNext) {
          this.failNext = false;
          throw new Error('disk full');
        }
        return super.commit(commit);
      }
    }
    const storage = new FailingOnce();
    const engine = new Engine({ storage, providers: { mock: new ScriptedProvider(() => 'ok') } });
    const started = recordEvents(engine, ['execution:started', 'node:started']);
    const chain = workflow('chain').prompt('a', { model: 'mock:m', template: 'hi' });
    await expect(engine.start(chain, {})).rejects.toMatchObject({ code: 'storage', message: expect.stringMatching(/disk full/) });
    expect(await storage.listRuns()).toEqual([]);
    expect(started).toEqual([]);
    // The engine holds nothing of it and the next run goes through.
    expect((await engine.run(chain, {})).status).toBe('completed');
    expect(await storage.listRuns()).toHaveLength(1);
    await engine.close();
  });

  it('rejects an invalid definition before writing anything', async () => {
    const { engine, storage } = makeEngine();
    const bad = { ...triageJson, definition: { ...triageJson.definition, edges: [...triageJson.definition.edges, edge('end', 'ghost')] } };
    const error = await engine.run(bad, { ticket: 'x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowValidationError);
    expect(isTrellisError(error) && error.issues.some((i) => i.message.includes('ghost'))).toBe(true);
    expect(await storage.listWorkflows()).toEqual([]);
    expect(await storage.listRuns()).toEqual([]);
  });

  it('runs host-registered node types', async () => {
    const { engine } = makeEngine();
    engine.registerNode(
      defineNode<{ times: number }>({
        type: 'repeat_text',
        configSchema: z.object({ times: z.number() }),
        execute: (ctx) => ({ status: 'completed', output: { text: String(ctx.context.input && (ctx.context.input as { word: string }).word).repeat(ctx.config.times) } }),
      }),
    );
    const wf = workflow('custom').node('twice', 'repeat_text', { times: 2 }).end({ text: 'twice.text' });
    const run = await engine.run(wf, { word: 'ab' });
    expect(run.output_data).toEqual({ text: 'abab' });
  });

  it("checks a registered node type's config against its configSchema, reporting every problem before anything is stored", async () => {
    const { engine, storage } = makeEngine();
    engine.registerNode(
      defineNode<{ times: number }>({
        type: 'repeat_text',
        configSchema: z.object({ times: z.number().int().min(1) }),
        execute: (ctx) => ({ status: 'completed', output: 'x'.repeat(ctx.config.times) }),
      }),
    );
    const wf = workflow('custom-bad').node('zero', 'repeat_text', { times: 0 }).node('word', 'repeat_text', { times: 'two' }).end({ text: 'word' });
    const error = await engine.run(wf, {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowValidationError);
    const issues = isTrellisError(error) ? (error.issues ?? []) : [];
    expect(issues.map((i) => ({ code: i.code, nodeId: i.nodeId, path: i.path }))).toEqual([
      { code: 'invalid_config', nodeId: 'zero', path: ['definition', 'nodes', 1, 'config', 'times'] },
      { code: 'invalid_config', nodeId: 'word', path: ['definition', 'nodes', 2, 'config', 'times'] },
    ]);
    await expect(engine.workflows.create(wf)).rejects.toBeInstanceOf(WorkflowValidationError);
    expect(await storage.listWorkflows()).toEqual([]);
    expect(await storage.listRuns()).toEqual([]);
  });

  it('runs pure steps in the commit that made them ready; effectful ones only after their running row landed', async () => {
    const { engine, storage } = makeEngine();
    const commits: string[][] = [];
    const commit = storage.commit.bind(storage);
    storage.commit = (c) => {
      commits.push(c.steps.map((s) => `${s.path}:${s.status}`));
      return commit(c);
    };
    // What the effectful handler saw committed when it ran.
    let seen: string | undefined;
    engine.registerNode(defineNode({ type: 'pure_probe', pure: true, execute: (ctx) => ({ status: 'completed', output: ctx.path }) }));
    engine.registerNode(
      defineNode({
        type: 'effect_probe',
        execute: async (ctx) => {
          seen = (await storage.getStep(ctx.executionId, ctx.path))?.status;
          return { status: 'completed', output: ctx.path };
        },
      }),
    );
    const wf = workflow('probes').node('a', 'pure_probe', {}).node('b', 'effect_probe', {}).node('c', 'pure_probe', {}).end({ last: 'c' });
    const run = await engine.run(wf, {});
    expect(run.output_data).toEqual({ last: 'c' });
    expect(seen).toBe('running');
    // start and a finish, and b's running row is written, in one transaction; c and end join b's completion.
    expect(commits).toEqual([
      ['start:completed', 'a:completed', 'b:running'],
      ['b:completed', 'c:completed', 'end:completed'],
    ]);
  });

  it('resolves run() with exactly the record that get() reads back from storage', async () => {
    for (const storage of [new MemoryStorage(), new SqliteStorage(':memory:')]) {
      const { engine } = makeEngine((r) => (r.prompt.startsWith('Classify') ? { label: 'billing' } : 'refund issued'), { storage });
      const run = await engine.run(triageJson, { ticket: 'charged twice' });
      expect(run.status).toBe('completed');
      expect(run.usage).toMatchObject({ calls: 2 });
      expect(await engine.get(run.id)).toStrictEqual(run);
      await engine.close();
    }
  });

  it('commits a long chain of pure steps in bounded slices and still finishes', async () => {
    const { engine, storage } = makeEngine();
    let commits = 0;
    const commit = storage.commit.bind(storage);
    storage.commit = (c) => {
      commits++;
      return commit(c);
    };
    const wf = workflow('long').repeat(300, (b) => b.transform('step', { n: 'index' }), { id: 'many', max_iterations: 300 }).end({ last: 'many[299].n' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ last: 299 });
    // 600 pure steps (iteration bodies and the loop's own bookkeeping) never go into a single transaction.
    expect(commits).toBeGreaterThanOrEqual(4);
  });

  it('rejects a node type nobody registered before running anything', async () => {
    const { engine, storage } = makeEngine();
    const wf = workflow('later').node('custom', 'not_registered_here', {});
    await expect(engine.run(wf, {})).rejects.toMatchObject({ code: 'validation_failed', message: expect.stringContaining('not_registered_here') });
    expect(await storage.listRuns()).toEqual([]);
    engine.registerNode({ type: 'not_registered_here', execute: () => ({ status: 'completed', output: 'now it runs' }) });
    expect((await engine.run(wf, {})).status).toBe('completed');
  });

  it('writes output_mapping paths into the context and uses stored prompt versions', async () => {
    const { engine, mock } = makeEngine((r) => (r.prompt.includes('v2') ? '{"topic":"cats"}' : 'old'));
    await engine.prompts.save({ id: 'ask', template: 'v1 {{input.q}}' });
    await engine.prompts.save({ id: 'ask', template: 'v2 {{input.q}}' });
    const wf = workflow('prompts', { variables: { q: 'string', topic: { type: 'string', required: false } } })
      .prompt('latest', { model: 'mock:m', prompt_id: 'ask', output_mapping: { 'variables.topic': 'json.topic' } })
      .prompt('pinned', { model: 'mock:m', prompt_id: 'ask', prompt_version: 1 })
      .end({ topic: 'variables.topic', pinned: 'pinned.text' });
    const run = await engine.run(wf, { q: 'pets?' });
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ topic: 'cats', pinned: 'old' });
    expect(mock.calls.map((c) => c.prompt)).toEqual(['v2 pets?', 'v1 pets?']);
  });

  it('validates structured output and re-asks with the validation error', async () => {
    const answers = ['not json', '{"label": 3}', '{"label": "ok"}'];
    const { engine, mock } = makeEngine(answers);
    const wf = workflow('structured').prompt('p', { model: 'mock:m', template: 'Go', output: z.object({ label: z.string() }) }).end({ label: 'p.json.label' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ label: 'ok' });
    expect(mock.calls).toHaveLength(3);
    expect(mock.calls[2]!.messages.at(-1)!.content).toMatch(/label/);
  });

  it('fails with the raw text when structured output stays invalid', async () => {
    const { engine } = makeEngine(['nope']);
    const wf = workflow('structured').prompt('p', { model: 'mock:m', template: 'Go', output: z.object({ label: z.string() }) });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('failed');
    expect(run.error_message).toMatch(/Raw answer: nope/);
  });

  it('refuses a workflow naming an unknown provider before anything runs or is stored', async () => {
    const { engine, mock, storage } = makeEngine();
    const error = await engine.run(workflow('p').prompt('p', { model: 'nowhere:m', template: 'x' }), {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkflowValidationError);
    expect((error as WorkflowValidationError).issues).toMatchObject([{ code: 'unknown_provider', nodeId: 'p', path: ['definition', 'nodes', 1, 'config', 'provider_model'] }]);
    expect((error as Error).message).toMatch(/no provider "nowhere" \(providers: "mock"\)/);
    expect(mock.calls).toHaveLength(0);
    expect(await storage.listWorkflows({})).toEqual([]);
  });

  it('streams tokens as node:token events with the same final text', async () => {
    const { engine } = makeEngine(['streamed answer text']);
    const deltas: string[] = [];
    engine.events.on('node:token', (e) => deltas.push(e.delta));
    const run = await engine.run(workflow('s').prompt('p', { model: 'mock:m', template: 'x', stream: true }), {});
    expect(deltas.join('')).toBe('streamed answer text');
    expect(deltas.length).toBeGreaterThan(1);
    expect((run.context.p as { text: string }).text).toBe('streamed answer text');
  });

  it('retries with backoff on the fake clock and shows each attempt', async () => {
    const { engine, mock, clock } = makeEngine([ScriptedProvider.fail('rate_limit', 'slow down', { retryAfterMs: 5000 }), ScriptedProvider.fail('provider_5xx', 'boom'), 'fine']);
    const wf = workflow('retry').prompt('p', { model: 'mock:m', template: 'x', retry: { max_attempts: 3, delay_ms: 1000, backoff_multiplier: 2, jitter: false } });
    const id = await engine.start(wf, {});
    await clock.advance(4999);
    expect(mock.calls).toHaveLength(1);
    await clock.advance(1);
    expect(mock.calls).toHaveLength(2);
    await clock.advance(2000);
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');
    const step = run.execution_trace.find((s) => s.node_id === 'p')!;
    expect(step.attempt).toBe(3);
    expect(step.attempts).toMatchObject([{ attempt: 1, error: { code: 'rate_limit' } }, { attempt: 2, error: { code: 'provider_5xx' } }]);
  });

  it('does not retry errors outside retry_on_errors', async () => {
    const { engine, mock } = makeEngine([ScriptedProvider.fail('provider_5xx', 'boom'), 'fine']);
    const wf = workflow('retry').prompt('p', { model: 'mock:m', template: 'x', retry: { max_attempts: 3, delay_ms: 0, retry_on_errors: ['rate_limit'] } });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('failed');
    expect(mock.calls).toHaveLength(1);
  });
});

describe('usage totals', () => {
  it('keeps tokens of every LLM call on the run record', async () => {
    const { engine } = makeEngine(() => ScriptedProvider.respond({ text: 'ok', usage: { input_tokens: 10, output_tokens: 3 } }));
    const run = await engine.run(workflow('u').prompt('a', { model: 'mock:m', template: 'x' }).prompt('b', { model: 'mock:m', template: 'y' }), {});
    expect(run.usage).toMatchObject({ input_tokens: 20, output_tokens: 6, calls: 2 });
  });
});
