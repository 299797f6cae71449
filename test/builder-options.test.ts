/**
 * The builder says everything JSON can (issue 17 point 12): every config key a built-in node type
 * accepts has a builder form, and an option the builder does not know is refused at run time (for
 * JavaScript callers and `as` casts) with validation's wording and a "did you mean" hint.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isTrellisError, NODE_CONFIG_SCHEMAS, ScriptedProvider, validateWorkflow, workflow, type ProviderRequest, type ToolDefinition, type WorkflowNode } from '../src/index.js';
import { makeEngine } from './helpers.js';

function thrown(fn: () => unknown): { code: string; message: string; nodeId: string | undefined; issues: unknown } {
  try {
    fn();
  } catch (error) {
    if (!isTrellisError(error)) throw error;
    return { code: error.code, message: error.message, nodeId: error.nodeId, issues: error.issues };
  }
  throw new Error('expected a throw');
}

const retry = { max_attempts: 3, delay_ms: 10, backoff_multiplier: 2, max_delay_ms: 100, jitter: false, retry_on_errors: ['timeout'] };

/** One workflow that sets every option of every step method. */
const everything = () =>
  workflow('everything', { variables: { items: 'array', text: 'string' } })
    .prompt('ask', {
      model: 'mock:m',
      template: 'Hi {{input.text}}',
      system: 'Be brief.',
      output: z.object({ ok: z.boolean() }),
      options: { temperature: 0 },
      input_mapping: { t: 'input.text' },
      output_mapping: { 'variables.ok': 'json.ok' },
      fallback: ['mock:n'],
      stream: false,
      tools: ['add'],
      max_tool_steps: 3,
      retry,
      timeout_ms: 5000,
      name: 'Ask',
      description: 'asks',
    })
    .prompt('stored', { model: 'mock:m', prompt_id: 'p', prompt_version: 2 })
    .transform('shape', { 'out.x': 'ask.text' })
    .when('ask.json.ok', (b) => b.delay('wait', 10), (b) => b.delay('until', { until: '2030-01-01T00:00:00Z' }), { id: 'branch', mergeStrategy: 'first' })
    .forEach('input.items', (b) => b.transform('each', { v: 'doc' }), { id: 'docs', as: 'doc', index_as: 'i', concurrency: 2, max_iterations: 50 })
    .while('false', (b) => b.transform('spin', { v: 'n' }), { id: 'spin_loop', index_as: 'n', max_iterations: 3 })
    .repeat(2, (b) => b.transform('twice', { v: 'k' }), { id: 'twice_loop', index_as: 'k', concurrency: 2, max_iterations: 2 })
    .parallel({ a: (b) => b.transform('pa', { v: '1' }), b: (b) => b.transform('pb', { v: '2' }) }, { id: 'fan', waitFor: 'count', requiredCount: 1, mergeStrategy: 'concat' })
    .approval('ok', { message: 'Fine?', data: { text: 'ask.text' }, timeout_ms: 1000, on_timeout: 'approve', onReject: (b) => b.transform('declined', { v: "'no'" }) })
    .webhook('call', { url: 'https://example.com', method: 'PUT', headers: { a: 'b' }, body: { x: 1 }, expected_status: [200, 201], output_mapping: { 'out.y': 'body.y' }, request_timeout_ms: 2000, timeout_ms: 3000 })
    .subWorkflow('child', { workflow_id: 'other', version: 2, input_mapping: { x: 'input.text' } })
    .waitForEvent('paid', { event: 'invoice.paid', filter: 'event.id == input.text', timeout_ms: 60_000 })
    .end({ text: 'ask.text' }, { terminate: true });

describe('every JSON config key has a builder form', () => {
  it('compiles every option into the node config JSON defines', () => {
    const nodes = new Map(everything().build().definition.nodes.map((n) => [n.id, n] as const));
    expect(nodes.get('ask')).toMatchObject({
      name: 'Ask',
      description: 'asks',
      retry_policy: retry,
      timeout_ms: 5000,
      config: { provider_model: 'mock:m', system: 'Be brief.', options: { temperature: 0 }, fallback: ['mock:n'], stream: false, tools: ['add'], max_tool_steps: 3 },
    });
    expect(nodes.get('stored')!.config).toEqual({ provider_model: 'mock:m', prompt_id: 'p', prompt_version: 2 });
    expect(nodes.get('branch_join')!.config).toEqual({ strategy: 'first' });
    expect(nodes.get('docs')!.config).toEqual({ loop_type: 'for_each', items: 'input.items', as: 'doc', index_as: 'i', concurrency: 2, max_iterations: 50 });
    expect(nodes.get('spin_loop')!.config).toEqual({ loop_type: 'while', condition: 'false', index_as: 'n', max_iterations: 3 });
    expect(nodes.get('twice_loop')!.config).toEqual({ loop_type: 'count', count: 2, index_as: 'k', concurrency: 2, max_iterations: 2 });
    expect(nodes.get('fan')!.config).toEqual({ wait_for: 'count', required_count: 1, join: 'fan_merge' });
    expect(nodes.get('fan_merge')!.config).toEqual({ strategy: 'concat' });
    expect(nodes.get('call')).toMatchObject({ timeout_ms: 3000, config: { url: 'https://example.com', method: 'PUT', timeout_ms: 2000, expected_status: [200, 201] } });
    expect(nodes.get('ok')!.config).toEqual({ message: 'Fine?', data: { text: 'ask.text' }, timeout_ms: 1000, on_timeout: 'approve' });
    expect(nodes.get('child')!.config).toEqual({ workflow_id: 'other', version: 2, input_mapping: { x: 'input.text' } });
    expect(nodes.get('paid')!.config).toEqual({ event: 'invoice.paid', filter: 'event.id == input.text', timeout_ms: 60_000 });
    expect(nodes.get('end')!.config).toEqual({ output: { text: 'ask.text' }, terminate: true });
  });

  it('reaches every key of every built-in config schema', () => {
    const used = new Map<string, Set<string>>();
    for (const n of everything().build().definition.nodes as WorkflowNode[]) {
      const keys = used.get(n.type) ?? new Set<string>();
      for (const key of Object.keys(n.config)) keys.add(key);
      used.set(n.type, keys);
    }
    for (const [type, schema] of Object.entries(NODE_CONFIG_SCHEMAS)) {
      const declared = Object.keys((schema as unknown as { shape: object }).shape);
      // loop_type 'count' and 'while' keys come from different loops, all in the workflow above.
      expect({ type, missing: declared.filter((k) => !used.get(type)?.has(k)) }).toEqual({ type, missing: [] });
    }
  });
});

describe('unknown builder options are refused at run time', () => {
  it('names the key, the step and the likely key, like JSON validation', () => {
    const opts = { model: 'mock:m', template: 'x', tols: ['add'] } as unknown as Parameters<ReturnType<typeof workflow>['prompt']>[1];
    const message = 'Step "triage" (prompt) options has an unknown key "tols"; did you mean "tools"?';
    expect(thrown(() => workflow('w').prompt('triage', opts))).toEqual({
      code: 'validation_failed',
      message,
      nodeId: 'triage',
      issues: [{ path: ['tols'], code: 'unknown_key', message, nodeId: 'triage' }],
    });
    // JSON validation says it the same way of the same key in a definition.
    const def = workflow('w').prompt('triage', { model: 'mock:m', template: 'x' }).build();
    (def.definition.nodes[1]!.config as Record<string, unknown>)['tols'] = ['add'];
    const checked = validateWorkflow(def);
    expect(checked.ok ? [] : checked.issues.map((i) => i.message)).toContain('Node "triage" (prompt_execution) config has an unknown key "tols"; did you mean "tools"?');
  });

  it('checks every method, retry policies and workflow options', () => {
    const js = (fn: (w: Record<string, (...args: unknown[]) => unknown>) => unknown) => () => fn(workflow('w') as unknown as Record<string, (...args: unknown[]) => unknown>);
    const body = (b: unknown) => b;
    expect(thrown(js((w) => w.prompt!('p', { model: 'mock:m', template: 'x', retry: { max_attemps: 3 } }))).message).toBe(
      'Step "p" (prompt) retry has an unknown key "max_attemps"; did you mean "max_attempts"?',
    );
    expect(thrown(js((w) => w.forEach!('input.xs', body, { concurency: 2 }))).message).toBe('Step "for_each_1" (forEach) options has an unknown key "concurency"; did you mean "concurrency"?');
    expect(thrown(js((w) => w.repeat!(2, body, { as: 'x' }))).message).toBe(
      'Step "repeat_1" (repeat) options has an unknown key "as" (known keys: name, description, retry, timeout_ms, id, max_iterations, index_as, concurrency).',
    );
    expect(thrown(js((w) => w.when!('true', body, undefined, { merge: 'first' }))).message).toMatch(/^Step "when_1" \(when\) options has an unknown key "merge"/);
    expect(thrown(js((w) => w.parallel!({ a: body }, { wait_for: 'any' }))).message).toBe('Step "parallel_1" (parallel) options has an unknown key "wait_for"; did you mean "waitFor"?');
    expect(thrown(js((w) => w.approval!('ok', { mesage: 'x' }))).message).toBe('Step "ok" (approval) options has an unknown key "mesage"; did you mean "message"?');
    expect(thrown(js((w) => w.webhook!('h', { url: 'https://x', header: {} }))).message).toBe('Step "h" (webhook) options has an unknown key "header"; did you mean "headers"?');
    expect(thrown(js((w) => w.delay!('d', { untl: 'x' }))).message).toBe('Step "d" (delay) time has an unknown key "untl"; did you mean "until"?');
    expect(thrown(js((w) => w.waitForEvent!('e', { event: 'x', filters: 'true' }))).message).toMatch(/did you mean "filter"\?$/);
    expect(thrown(js((w) => w.subWorkflow!('s', { workflowId: 'x' }))).message).toMatch(/^Step "s" \(subWorkflow\) options has an unknown key "workflowId"/);
    expect(thrown(js((w) => w.transform!('t', { a: '1' }, { nam: 'x' }))).message).toBe('Step "t" (transform) options has an unknown key "nam"; did you mean "name"?');
    expect(thrown(js((w) => w.end!({}, { terminal: true }))).message).toBe('Step "end" (end) options has an unknown key "terminal"; did you mean "terminate"?');
    expect(thrown(js((w) => w.prompt!('p', 'mock:m'))).message).toBe('Step "p" (prompt) options must be an object, got string.');

    const wf = (opts: unknown) => () => workflow('triage', opts as Parameters<typeof workflow>[1]);
    expect(thrown(wf({ variabels: {} })).message).toBe('Workflow "triage" options has an unknown key "variabels"; did you mean "variables"?');
    expect(thrown(wf({ settings: { max_concurency: 2 } })).message).toBe('Workflow "triage" settings has an unknown key "max_concurency"; did you mean "max_concurrency"?');
    expect(thrown(wf({ settings: { budget: { max_token: 2 } } })).message).toBe('Workflow "triage" settings.budget has an unknown key "max_token"; did you mean "max_tokens"?');
    expect(thrown(wf({ variables: { ticket: { type: 'string', default: 'x' } } })).message).toMatch(/^Workflow "triage" variable "ticket" has an unknown key "default"/);
    expect(thrown(wf({ additionalInput: true })).message).toBe('Workflow "triage" options has an unknown key "additionalInput"; did you mean "additional_input"?');
  });

  it('lists every unknown key at once', () => {
    const opts = { model: 'mock:m', template: 'x', tols: [], stram: true } as unknown as Parameters<ReturnType<typeof workflow>['prompt']>[1];
    expect(thrown(() => workflow('w').prompt('p', opts)).message).toBe(
      'Step "p" (prompt) options has an unknown key "tols"; did you mean "tools"? Step "p" (prompt) options has an unknown key "stram"; did you mean "stream"?',
    );
  });
});

describe('a builder workflow with tools', () => {
  it('runs the tool loop', async () => {
    const add: ToolDefinition = {
      description: 'Adds two numbers',
      parameters: { type: 'object', properties: { a: { type: 'number' }, b: { type: 'number' } }, required: ['a', 'b'] },
      execute: (args) => (args.a as number) + (args.b as number),
    };
    const script = (request: ProviderRequest) =>
      request.messages.length === 1
        ? ScriptedProvider.respond({ toolCalls: [{ id: 'c1', name: 'add', arguments: { a: 1, b: 2 } }] })
        : ScriptedProvider.respond({ text: 'It is 3.' });
    const { engine, mock } = makeEngine(script, { tools: { add } });
    const wf = workflow('agent').prompt('agent', { model: 'mock:m', template: 'What is 1 + 2?', tools: ['add'], max_tool_steps: 2 }).end({ answer: 'agent.text' });
    const run = await engine.run(wf);
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ answer: 'It is 3.' });
    expect(mock.calls[0]!.tools).toEqual([{ name: 'add', description: 'Adds two numbers', parameters: add.parameters }]);
    expect(mock.calls[1]!.messages.at(-1)).toEqual({ role: 'tool', toolCallId: 'c1', content: '3' });
  });
});
