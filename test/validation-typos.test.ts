/**
 * Mistakes caught before money is spent (issue 17, points 9 and 10): typos in expression and
 * template roots, unknown providers and tools, output schemas the checker cannot compile, ids
 * expressions cannot read, and unknown keys at every level of a JSON definition. Each is reported
 * with a "did you mean" hint where one is close, and the run never reaches the provider.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineNode, validateWorkflow, workflow, WorkflowValidationError, type ValidationIssue, type WorkflowDefinitionInput } from '../src/index.js';
import { didYouMean } from '../src/kernel/did-you-mean.js';
import { edge, makeEngine, node } from './helpers.js';

const model = 'mock:m';
const Urgency = z.object({ urgent: z.boolean() });

/** Runs `wf` on a fresh engine and returns the validation error it must throw, with the provider's call count. */
async function refused(wf: Parameters<ReturnType<typeof makeEngine>['engine']['run']>[0]): Promise<{ issues: readonly ValidationIssue[]; message: string; calls: number; runs: number }> {
  const { engine, mock } = makeEngine(() => ({ urgent: true }));
  const error = await engine.run(wf, {}).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(WorkflowValidationError);
  return { issues: (error as WorkflowValidationError).issues, message: (error as Error).message, calls: mock.calls.length, runs: (await engine.list()).length };
}

function issuesOf(def: unknown, options?: Parameters<typeof validateWorkflow>[1]): ValidationIssue[] {
  const result = validateWorkflow(def, options);
  return result.ok ? [] : result.issues;
}

/** A small valid JSON workflow: start → classify (structured) → end. */
function json(): WorkflowDefinitionInput & { definition: { nodes: ReturnType<typeof node>[]; edges: ReturnType<typeof edge>[] } } {
  return {
    name: 'triage',
    definition: {
      nodes: [
        node('start', 'start'),
        node('classify', 'prompt_execution', { provider_model: model, template: 'Classify {{input.text}}', output_schema: { type: 'object', properties: { urgent: { type: 'boolean' } } } }),
        node('end', 'end', { output: { urgent: 'classify.json.urgent' } }),
      ],
      edges: [edge('start', 'classify'), edge('classify', 'end')],
      variables: [{ name: 'text', type: 'string' }],
      triggers: [],
    },
  };
}

describe('didYouMean', () => {
  it('suggests the closest name within a small edit distance, and nothing for a stranger', () => {
    expect(didYouMean('clasify', ['route', 'classify'])).toBe('classify');
    expect(didYouMean('urgnt', ['urgent', 'label'])).toBe('urgent');
    expect(didYouMean('max_attemps', ['delay_ms', 'max_attempts'])).toBe('max_attempts');
    expect(didYouMean('teh', ['the'])).toBe('the'); // a swap is one edit
    expect(didYouMean('Classify', ['classify', 'clarify'])).toBe('classify'); // case first
    expect(didYouMean('classify', ['classify', 'clarify'])).toBeUndefined(); // not a typo
    expect(didYouMean('nope', ['mock', 'openai'])).toBeUndefined();
    expect(didYouMean('x', [])).toBeUndefined();
  });
});

describe('expression and template roots', () => {
  it('refuses .when() on a misspelt node id, with a hint, before the provider is called', async () => {
    const wf = workflow('triage')
      .prompt('classify', { model, template: 'Classify {{input.text}}', output: Urgency })
      .when('clasify.json.urgnt', (b) => b.approval('escalate'))
      .end({ urgent: 'classify.json.urgent' });
    const { issues, message, calls, runs } = await refused(wf);
    expect(issues).toMatchObject([{ code: 'unknown_reference', nodeId: 'when_2', path: ['definition', 'nodes', 2, 'config', 'condition'] }]);
    expect(message).toContain('Node "when_2" config.condition reads "clasify.json.urgnt", but "clasify" is not a node id, input, variables or another name in scope here; did you mean "classify"?');
    expect([calls, runs]).toEqual([0, 0]);
  });

  it('refuses an end output reading a misspelt node', async () => {
    const wf = workflow('triage').prompt('classify', { model, template: 'Classify', output: Urgency }).end({ u: 'clasify.json.urgent' });
    const { issues, calls } = await refused(wf);
    expect(issues).toMatchObject([{ code: 'unknown_reference', nodeId: 'end', path: ['definition', 'nodes', 2, 'config', 'output', 'u'] }]);
    expect(issues[0]!.message).toMatch(/did you mean "classify"\?$/);
    expect(calls).toBe(0);
  });

  it('refuses a {{placeholder}} reading a misspelt node, after a paid step would have run', async () => {
    const wf = workflow('digest')
      .prompt('summary', { model, template: 'Summarise {{input.text}}' })
      .transform('collected', { count: 'size(summary.text)' })
      .prompt('report', { model, template: 'Report on {{colected.count}} characters' });
    const { issues, calls } = await refused(wf);
    expect(issues).toMatchObject([{ code: 'unknown_reference', nodeId: 'report', path: ['definition', 'nodes', 3, 'config', 'template'] }]);
    expect(issues[0]!.message).toBe('Node "report" config.template reads "{{colected.count}}", but "colected" is not a node id, input, variables or another name in scope here; did you mean "collected"?');
    expect(calls).toBe(0);
  });

  it('checks the first field under json against a closed output schema', async () => {
    const wf = workflow('triage').prompt('classify', { model, template: 'Classify', output: Urgency }).when('classify.json.urgnt', (b) => b.approval('escalate'));
    const { issues, calls } = await refused(wf);
    expect(issues).toMatchObject([{ code: 'unknown_field', nodeId: 'when_2' }]);
    expect(issues[0]!.message).toContain('the output_schema of "classify" has no property "urgnt"; did you mean "urgent"?');
    expect(calls).toBe(0);
    // An open schema (no additionalProperties: false) lets any field through.
    const open = json();
    open.definition.nodes[2]!.config = { output: { x: 'classify.json.whatever' } };
    expect(issuesOf(open)).toEqual([]);
  });

  it('knows what the runtime puts in scope: written roots, loop variables, error, event, input_mapping names, CEL names', () => {
    const wf = workflow('scopes', { settings: { error_handler_node_id: 'on_error' } })
      .transform('prep', { 'totals.sum': 'size(input.items)' })
      .forEach('input.items', (b) => b.transform('each', { doubled: 'doc * 2', at: 'position', total: 'totals.sum' }), { id: 'docs', as: 'doc', index_as: 'position' })
      .forEach('input.items', (b) => b.transform('plain', { v: 'item', i: 'index', t: "type(item) == int ? 'int' : string(item)" }))
      .while('default(item, 0) < 3', (b) => b.transform('step', { n: '1' }), { max_iterations: 5 })
      .waitForEvent('paid', { event: 'invoice.paid', filter: 'event.id == input.id' })
      .prompt('p', { model, template: 'About {{topic}} and {{docs}}', input_mapping: { topic: 'input.topic' } })
      .node('on_error', 'data_transform', { mapping: { why: 'error.message' } })
      .build();
    // The error handler is normally reached by no edge; here the builder chained it, which is fine too.
    expect(issuesOf(wf)).toEqual([]);
  });

  it('refuses loop variables read outside their loop, and error outside the handler', () => {
    const wf = workflow('w')
      .forEach('input.items', (b) => b.transform('each', { v: 'item' }), { id: 'docs' })
      .transform('after', { v: 'item', e: 'error.message', k: 'index' })
      .build();
    const issues = issuesOf(wf);
    expect(issues.map((i) => [i.code, i.nodeId, i.path.at(-1)])).toEqual([
      ['unknown_reference', 'after', 'v'],
      ['unknown_reference', 'after', 'e'],
      ['unknown_reference', 'after', 'k'],
    ]);
  });

  it('checks edge conditions, webhook bodies, delay expressions and approval messages too', () => {
    const d = json();
    d.definition.edges[1] = edge('classify', 'end', { condition: 'clasify.json.urgent' });
    d.definition.nodes.push(node('hook', 'webhook', { url: 'https://x.test/{{input.id}}', body: { text: '{{clasify.text}}', list: ['{{input.a}}', '{{inptu.b}}'] } }));
    d.definition.nodes.push(node('wait', 'delay', { until: 'inputs.when' }));
    d.definition.nodes.push(node('ok', 'human_approval', { message: 'Send {{draft.text}}?' }));
    d.definition.edges.push(edge('end', 'hook'), edge('hook', 'wait'), edge('wait', 'ok'));
    const issues = issuesOf(d);
    expect(issues.map((i) => `${i.edgeId ?? i.nodeId} ${i.path.slice(3).join('.')}`)).toEqual([
      'hook config.body.text',
      'hook config.body.list.1',
      'wait config.until',
      'ok config.message',
      'e_classify_end condition',
    ]);
    expect(issues.every((i) => i.code === 'unknown_reference')).toBe(true);
    expect(issues.find((i) => i.nodeId === 'wait')!.message).toContain('did you mean "input"?');
  });
});

describe('providers and tools, at start', () => {
  it('refuses an unknown provider at run, start and startStored, listing every bad reference', async () => {
    const { engine, mock } = makeEngine();
    const wf = workflow('p')
      .prompt('a', { model: 'nope:gpt', template: 'x' })
      .prompt('b', { model: 'mokc:m', template: 'y', fallback: ['nope:gpt-mini'] });
    const error = (await engine.start(wf, {}).catch((e: unknown) => e)) as WorkflowValidationError;
    expect(error).toBeInstanceOf(WorkflowValidationError);
    expect(error.issues.map((i) => [i.code, i.nodeId, i.path.slice(3).join('.')])).toEqual([
      ['unknown_provider', 'a', 'config.provider_model'],
      ['unknown_provider', 'b', 'config.provider_model'],
      ['unknown_provider', 'b', 'config.fallback.0'],
    ]);
    expect(error.issues[1]!.message).toBe('Node "b" config.provider_model is "mokc:m", but this engine has no provider "mokc" (providers: "mock"); did you mean "mock"?');
    await expect(engine.run(wf, {})).rejects.toThrow(WorkflowValidationError);

    // A stored version is checked when a run of it starts.
    const stored = await engine.workflows.create(wf.build());
    await expect(engine.startStored(stored.id)).rejects.toMatchObject({ code: 'validation_failed', issues: [{ code: 'unknown_provider' }, {}, {}] });
    expect(mock.calls).toHaveLength(0);
    expect(await engine.list()).toEqual([]);
  });
});

describe('output schemas', () => {
  it('refuses a schema the answer checker cannot compile, before the paid call', async () => {
    const conditional = { type: 'object', if: { required: ['a'] }, then: { required: ['b'] } };
    const { issues, calls } = await refused(workflow('s').prompt('p', { model, template: 'x', output: conditional }));
    expect(issues).toMatchObject([{ code: 'bad_output_schema', nodeId: 'p', path: ['definition', 'nodes', 1, 'config', 'output_schema'] }]);
    expect(issues[0]!.message).toBe('Node "p" config.output_schema cannot be used to check answers: Conditional schemas (if/then/else) are not supported.');
    expect(calls).toBe(0);
    const d = json();
    d.definition.nodes[1]!.config['output_schema'] = { type: 'objet' };
    expect(issuesOf(d)).toMatchObject([{ code: 'bad_output_schema', message: expect.stringContaining('objet') }]);
    d.definition.nodes[1]!.config['output_schema'] = { type: 'object', properties: { a: { type: 'string', pattern: '^(?=a)a$' } } };
    expect(issuesOf(d)).toMatchObject([{ code: 'bad_output_schema', message: expect.stringMatching(/not supported.*RE2/) }]);
  });
});

describe('node ids expressions cannot read', () => {
  it('are refused by the builder, saying why and what to use', () => {
    expect(() => workflow('w').prompt('my-step', { model, template: 'x' })).toThrow(
      'Invalid node id "my-step": expressions read it as "my-step.text", which CEL parses as a subtraction; use "my_step".',
    );
    expect(() => workflow('w').transform('in', { a: '1' })).toThrow(/"in" is a reserved word in CEL, so "in.text" does not parse; use e.g. "in_step"/);
    expect(() => workflow('w').delay('int', 1)).toThrow(/"int" is a name CEL defines itself/);
    expect(() => workflow('w').approval('9lives')).toThrow(/start it with a letter or "_"/);
    expect(() => workflow('w').forEach('input.xs', (b) => b.transform('t', { a: '1' }), { id: 'loop' })).toThrow(/reserved word/);
    expect(() => workflow('w').transform('fetch_page', { a: '1' }).transform('_x', { b: '1' }).transform('has', { c: '1' })).not.toThrow();
  });

  it('are refused by JSON validation, with every other problem', () => {
    const d = json();
    d.definition.nodes.push(node('my-step', 'data_transform', { mapping: { a: '1' } }), node('in', 'merge'));
    d.definition.nodes.push(node('each', 'loop', { loop_type: 'for_each', items: 'input.xs', as: 'my-item', max_iterations: 3 }), node('body', 'merge'));
    d.definition.edges.push(edge('end', 'my-step'), edge('my-step', 'in'), edge('in', 'each'), edge('each', 'body', { source_output: 'body' }), edge('body', 'each', { target_input: 'next' }));
    const issues = issuesOf(d).filter((i) => i.code.startsWith('unreadable'));
    expect(issues.map((i) => [i.code, i.nodeId, i.path.slice(3).join('.')])).toEqual([
      ['unreadable_node_id', 'my-step', 'id'],
      ['unreadable_node_id', 'in', 'id'],
      ['unreadable_loop_variable', 'each', 'config.as'],
    ]);
    expect(issues[0]!.message).toBe('Node id "my-step" cannot be read by expressions: expressions read it as "my-step.text", which CEL parses as a subtraction; use "my_step".');
  });
});

describe('unknown keys', () => {
  it('are errors with a hint at every level, all reported at once, and the run never starts', async () => {
    const d = json();
    const classify = d.definition.nodes[1]!;
    classify.config['output_shema'] = classify.config['output_schema'];
    delete classify.config['output_schema'];
    classify.config['temperature'] = 0.2;
    (classify as Record<string, unknown>)['retry_policy'] = { max_attemps: 3 };
    (classify as Record<string, unknown>)['template'] = 'misplaced';
    (d.definition.nodes[0] as Record<string, unknown>)['position'] = { x: 0, y: 0, z: 1 };
    (d.definition.edges[0] as Record<string, unknown>)['conditon'] = 'true';
    d.definition.variables = [{ name: 'text', type: 'string', defualt_value: 'x' } as never];
    d.definition.triggers = [{ id: 'nightly', type: 'schedule', config: { crom: '0 3 * * *', cron: '0 3 * * *' } }];
    (d.definition as Record<string, unknown>)['settings'] = { max_concurency: 2, retry_policy: { max_attempts: 2, dealy_ms: 5 }, budget: { max_token: 5 } };
    (d.definition as Record<string, unknown>)['retry_policy'] = { max_attempts: 2 };
    (d as Record<string, unknown>)['edges'] = [];
    (d as Record<string, unknown>)['tag'] = ['x'];

    const issues = issuesOf(d);
    const byPath = Object.fromEntries(issues.map((i) => [i.path.join('.'), i.message]));
    expect(byPath).toEqual({
      edges: 'The workflow has an unknown key "edges": it belongs inside "definition".',
      tag: 'The workflow has an unknown key "tag"; did you mean "tags"?',
      'definition.retry_policy': 'definition has an unknown key "retry_policy": it belongs inside "definition.settings".',
      'definition.nodes.0.position.z': 'Node "start" position has an unknown key "z"; did you mean "x"?',
      'definition.nodes.1.template': 'Node "classify" has an unknown key "template": it belongs inside "config".',
      'definition.nodes.1.retry_policy.max_attemps': 'Node "classify" retry_policy has an unknown key "max_attemps"; did you mean "max_attempts"?',
      'definition.nodes.1.config.output_shema': 'Node "classify" (prompt_execution) config has an unknown key "output_shema"; did you mean "output_schema"?',
      'definition.nodes.1.config.temperature':
        'Node "classify" (prompt_execution) config has an unknown key "temperature": it belongs under "config.options" (generation options: "options": { "temperature": ... }).',
      'definition.edges.0.conditon': 'Edge "e_start_classify" has an unknown key "conditon"; did you mean "condition"?',
      'definition.variables.0.defualt_value': 'Variable "text" has an unknown key "defualt_value"; did you mean "default_value"?',
      'definition.triggers.0.config.crom': 'Trigger "nightly" (schedule) config has an unknown key "crom"; did you mean "cron"?',
      'definition.settings.max_concurency': 'settings has an unknown key "max_concurency"; did you mean "max_concurrency"?',
      'definition.settings.retry_policy.dealy_ms': 'settings.retry_policy has an unknown key "dealy_ms"; did you mean "delay_ms"?',
      'definition.settings.budget.max_token': 'settings.budget has an unknown key "max_token"; did you mean "max_tokens"?',
    });
    // The misspelt max_attempts is said once, as the unknown key, not also as "max_attempts missing".
    expect(issues.filter((i) => i.path.join('.').startsWith('definition.nodes.1.retry_policy'))).toHaveLength(1);
    expect(issues.every((i) => i.code === 'unknown_key')).toBe(true);

    const { engine, mock } = makeEngine();
    await expect(engine.run(d, {})).rejects.toThrow(WorkflowValidationError);
    expect(mock.calls).toHaveLength(0);
  });

  it('respect a registered node type: its zod object names its keys, unless it is loose', async () => {
    const strict = defineNode<{ to: string }>({ type: 'send', configSchema: z.object({ to: z.string() }), execute: () => ({ status: 'completed', output: null }) });
    const loose = defineNode({ type: 'anything', configSchema: z.object({ to: z.string() }).loose(), execute: () => ({ status: 'completed', output: null }) });
    const bare = defineNode({ type: 'bare', execute: () => ({ status: 'completed', output: null }) });
    const { engine, mock } = makeEngine(undefined, { nodes: [strict, loose, bare] });
    const wf = workflow('w').node('a', 'send', { tto: 'x', to: 'y' }).node('b', 'anything', { to: 'y', extra: 1 }).node('c', 'bare', { whatever: 1 });
    const error = (await engine.run(wf, {}).catch((e: unknown) => e)) as WorkflowValidationError;
    expect(error.issues).toEqual([
      { code: 'unknown_key', nodeId: 'a', path: ['definition', 'nodes', 1, 'config', 'tto'], message: 'Node "a" (send) config has an unknown key "tto"; did you mean "to"?' },
    ]);
    const strictest = defineNode({ type: 'send', configSchema: z.object({ to: z.string() }).strict(), execute: () => ({ status: 'completed', output: null }) });
    const other = makeEngine(undefined, { nodes: [strictest] }).engine;
    const again = (await other.run(workflow('w').node('a', 'send', { tto: 'x', to: 'y' }), {}).catch((e: unknown) => e)) as WorkflowValidationError;
    expect(again.issues.map((i) => i.code)).toEqual(['unknown_key']); // zod's own "unrecognized key" is not repeated
    expect(mock.calls).toHaveLength(0);
  });

  it('know the keys built-in nodes read, and a position may be left out', async () => {
    const d = json();
    for (const n of d.definition.nodes) delete (n as { position?: unknown }).position;
    d.definition.nodes.push(node('hook', 'webhook', { url: 'https://x.test', timeout_ms: 500 }));
    d.definition.edges.push(edge('end', 'hook'));
    expect(issuesOf(d)).toEqual([]);
    d.definition.nodes.pop();
    d.definition.edges.pop();
    const { engine } = makeEngine(() => ({ urgent: true }));
    const run = await engine.run(d, { text: 'late' });
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ urgent: true });
  });
});
