import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import {
  isWorkflowBuilder,
  workflow,
  type PromptOutput,
  type UntypedRun,
  type WorkflowBuilder,
  type WorkflowOutputs,
  WorkflowSchema,
  type WorkflowDefinition,
  type WorkflowEdge,
  isTrellisError,
  type TrellisError,
  validateWorkflow,
} from '../src/index.js';

const model = 'openai:gpt-4o-mini';

/** Checks the README graph-model invariants every built workflow must hold, and returns it. */
function checked(def: WorkflowDefinition): WorkflowDefinition {
  expect(JSON.parse(JSON.stringify(def))).toStrictEqual(def);
  expect(WorkflowSchema.safeParse(def).success).toBe(true);
  const validation = validateWorkflow(def, { nodeTypes: ['my_node'] });
  expect(validation.ok ? [] : validation.issues).toEqual([]);
  const { nodes, edges } = def.definition;
  const ids = nodes.map((n) => n.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(new Set(edges.map((e) => e.id)).size).toBe(edges.length);
  expect(nodes.filter((n) => n.type === 'start').map((n) => n.id)).toEqual(['start']);
  for (const e of edges) {
    expect(ids).toContain(e.source_node_id);
    expect(ids).toContain(e.target_node_id);
  }
  const positions = nodes.map((n) => `${n.position!.x},${n.position!.y}`);
  expect(new Set(positions).size).toBe(positions.length);
  for (const n of nodes.filter((x) => x.type === 'condition')) {
    for (const out of ['true', 'false'] as const) {
      const targets = edges.filter((e) => e.source_node_id === n.id && e.source_output === out).map((e) => e.target_node_id);
      expect(targets).toEqual([n.config[`${out}_path`]]);
    }
  }
  return def;
}

function edgesFrom(def: WorkflowDefinition, source: string): Pick<WorkflowEdge, 'source_output' | 'target_node_id' | 'target_input'>[] {
  return def.definition.edges
    .filter((e) => e.source_node_id === source)
    .map(({ source_output, target_node_id, target_input }) => ({ source_output, target_node_id, target_input }));
}

function edgesInto(def: WorkflowDefinition, target: string): string[] {
  return def.definition.edges.filter((e) => e.target_node_id === target).map((e) => `${e.source_node_id}:${e.source_output}->${e.target_input}`);
}

function nodeOf(def: WorkflowDefinition, id: string) {
  const node = def.definition.nodes.find((n) => n.id === id);
  if (node === undefined) throw new Error(`no node ${id}`);
  return node;
}

function thrown(fn: () => unknown): TrellisError {
  try {
    fn();
  } catch (e) {
    if (isTrellisError(e)) return e;
    throw e;
  }
  throw new Error('expected a TrellisError');
}

const Classification = z.object({ urgent: z.boolean(), topic: z.enum(['billing', 'bug', 'other']) });

function triage() {
  return workflow('triage', {
    description: 'Routes support tickets',
    variables: { ticket: 'string', threshold: { type: 'number', default_value: 3 } },
  })
    .prompt('classify', {
      model,
      template: 'Classify this ticket: {{input.ticket}}',
      output: Classification,
      retry: { max_attempts: 3 },
    })
    .when(
      'classify.json.urgent',
      (b) => b.transform('escalate', { queue: '"urgent"' }),
      (b) => b.transform('queue', { queue: 'classify.json.topic' }),
    )
    .transform('summary', { topic: 'classify.json.topic' }, { name: 'Summarise' })
    .end({ topic: 'summary.topic' });
}

describe('workflow builder: compiled JSON', () => {
  it('compiles classify -> when -> transform to exactly the hand-written definition', () => {
    const node = (id: string, type: string, x: number, y: number, config: Record<string, unknown>) => ({
      id,
      type,
      name: id,
      position: { x, y },
      config,
      inputs: [],
      outputs: [],
    });
    const edge = (source: string, target: string, source_output = 'out', target_input = 'in') => ({
      id: `e_${source}_${target}`,
      source_node_id: source,
      target_node_id: target,
      source_output,
      target_input,
    });
    const expected: WorkflowDefinition = {
      name: 'triage',
      description: 'Routes support tickets',
      version: 1,
      status: 'active',
      definition: {
        nodes: [
          node('start', 'start', 0, 0, {}),
          {
            ...node('classify', 'prompt_execution', 250, 0, {
              provider_model: 'openai:gpt-4o-mini',
              template: 'Classify this ticket: {{input.ticket}}',
              output_schema: {
                $schema: 'https://json-schema.org/draft/2020-12/schema',
                type: 'object',
                properties: {
                  urgent: { type: 'boolean' },
                  topic: { type: 'string', enum: ['billing', 'bug', 'other'] },
                },
                required: ['urgent', 'topic'],
                additionalProperties: false,
              },
            }),
            retry_policy: { max_attempts: 3 },
          },
          node('when_2', 'condition', 500, 0, {
            condition: 'classify.json.urgent',
            true_path: 'escalate',
            false_path: 'queue',
          }),
          node('escalate', 'data_transform', 750, 0, { mapping: { queue: '"urgent"' } }),
          node('queue', 'data_transform', 750, 150, { mapping: { queue: 'classify.json.topic' } }),
          node('when_2_join', 'merge', 1000, 0, {}),
          { ...node('summary', 'data_transform', 1250, 0, { mapping: { topic: 'classify.json.topic' } }), name: 'Summarise' },
          node('end', 'end', 1500, 0, { output: { topic: 'summary.topic' } }),
        ],
        edges: [
          edge('start', 'classify'),
          edge('classify', 'when_2'),
          edge('when_2', 'escalate', 'true'),
          edge('when_2', 'queue', 'false'),
          edge('escalate', 'when_2_join'),
          edge('queue', 'when_2_join'),
          edge('when_2_join', 'summary'),
          edge('summary', 'end'),
        ],
        variables: [
          { name: 'ticket', type: 'string' },
          { name: 'threshold', type: 'number', default_value: 3 },
        ],
        triggers: [],
      },
    };
    expect(checked(triage().build())).toStrictEqual(expected);
  });

  it('builds plain JSON that survives a JSON round trip, and a fresh copy each time', () => {
    const wf = triage();
    const a = wf.build();
    expect(JSON.parse(JSON.stringify(a))).toStrictEqual(a);
    expect(JSON.parse(JSON.stringify(wf))).toStrictEqual(a); // toJSON
    a.definition.nodes.length = 0;
    expect(wf.build().definition.nodes).toHaveLength(8);
    const withUndefined = workflow('u', { description: undefined as unknown as string })
      .webhook('hook', { url: 'https://example.test', headers: { a: 'b' }, body: { keep: 1, drop: undefined }, method: undefined as never })
      .build();
    expect(checked(withUndefined)).not.toHaveProperty('description');
    expect(nodeOf(withUndefined, 'hook').config).toStrictEqual({ url: 'https://example.test', headers: { a: 'b' }, body: { keep: 1 } });
  });

  it('adds start and a plain end when end() is not called, and wires every step with out -> in edges', () => {
    const def = checked(workflow('w').delay('wait', 1000).approval('ok', { message: 'Go?' }).build());
    expect(def.definition.nodes.map((n) => [n.id, n.type])).toEqual([
      ['start', 'start'],
      ['wait', 'delay'],
      ['ok', 'human_approval'],
      ['end', 'end'],
    ]);
    expect(nodeOf(def, 'end').config).toEqual({});
    expect(def.definition.edges.map((e) => `${e.id}:${e.source_output}->${e.target_input}`)).toEqual([
      'e_start_wait:out->in',
      'e_wait_ok:out->in',
      'e_ok_end:out->in',
    ]);
  });

  it('converts every step kind to its node config', () => {
    const def = checked(
      workflow('all', { version: 3, status: 'draft', tags: ['x'], triggers: [{ type: 'manual' }], settings: { timeout_ms: 5000 } })
        .prompt('p', {
          model,
          prompt_id: 'greeting',
          prompt_version: 2,
          system: 'Be brief',
          output: { type: 'object' },
          options: { temperature: 0 },
          input_mapping: { name: 'input.name' },
          output_mapping: { 'vars.greeting': 'text' },
          fallback: ['anthropic:claude-haiku'],
          stream: true,
          timeout_ms: 30_000,
          description: 'Greets',
        })
        .delay('until', { until: '2030-01-01T00:00:00Z' })
        .approval('approve', { message: 'Ship it?', timeout_ms: 60_000, on_timeout: 'reject' })
        .webhook('hook', { url: 'https://example.test/x', method: 'PUT', expected_status: [200, 204], output_mapping: { id: 'body.id' } })
        .subWorkflow('sub', { workflow_id: 'child', version: 2, input_mapping: { q: 'input.q' } })
        .waitForEvent('evt', { event: 'payment.received', filter: 'event.amount > 0', timeout_ms: 1000 })
        .node('custom', 'my_node', { anything: [1, 2] }, { retry: { max_attempts: 2, delay_ms: 10 } })
        .end({ done: 'true' }, { terminate: true })
        .build(),
    );
    expect(def).toMatchObject({ version: 3, status: 'draft', tags: ['x'] });
    expect(def.definition.triggers).toEqual([{ type: 'manual', config: {} }]);
    expect(def.definition.settings).toEqual({ timeout_ms: 5000 });
    expect(nodeOf(def, 'p')).toMatchObject({
      description: 'Greets',
      timeout_ms: 30_000,
      config: {
        provider_model: model,
        prompt_id: 'greeting',
        prompt_version: 2,
        system: 'Be brief',
        output_schema: { type: 'object' },
        options: { temperature: 0 },
        fallback: ['anthropic:claude-haiku'],
        stream: true,
      },
    });
    expect(nodeOf(def, 'until').config).toEqual({ until: '2030-01-01T00:00:00Z' });
    // For approvals and events, timeout_ms is how long to wait: it belongs in the config.
    expect(nodeOf(def, 'approve')).not.toHaveProperty('timeout_ms');
    expect(nodeOf(def, 'approve').config).toEqual({ message: 'Ship it?', timeout_ms: 60_000, on_timeout: 'reject' });
    expect(nodeOf(def, 'sub').config).toEqual({ workflow_id: 'child', version: 2, input_mapping: { q: 'input.q' } });
    expect(nodeOf(def, 'evt').config).toEqual({ event: 'payment.received', filter: 'event.amount > 0', timeout_ms: 1000 });
    expect(nodeOf(def, 'custom')).toMatchObject({ type: 'my_node', config: { anything: [1, 2] }, retry_policy: { max_attempts: 2, delay_ms: 10 } });
    expect(nodeOf(def, 'end').config).toEqual({ output: { done: 'true' }, terminate: true });
  });

  it('converts a zod output schema with z.toJSONSchema', () => {
    const schema = z.object({ items: z.array(z.object({ sku: z.string(), qty: z.number().int().min(1) })), note: z.string().optional() });
    const def = checked(workflow('z').prompt('extract', { model, template: 'x', output: schema }).build());
    expect(nodeOf(def, 'extract').config['output_schema']).toStrictEqual(z.toJSONSchema(schema));
    expect(nodeOf(def, 'extract').config['output_schema']).toMatchObject({
      type: 'object',
      required: ['items'],
      properties: { items: { type: 'array', items: { required: ['sku', 'qty'] } }, note: { type: 'string' } },
    });
  });
});

describe('workflow builder: routing conventions', () => {
  it('joins a when with no else branch straight from its false output, and handles empty branches', () => {
    const def = checked(workflow('w').when('input.x', (b) => b.transform('t', { a: '1' }), undefined, { id: 'check' }).build());
    expect(nodeOf(def, 'check').config).toEqual({ condition: 'input.x', true_path: 't', false_path: 'check_join' });
    expect(edgesFrom(def, 'check')).toEqual([
      { source_output: 'true', target_node_id: 't', target_input: 'in' },
      { source_output: 'false', target_node_id: 'check_join', target_input: 'in' },
    ]);
    expect(edgesInto(def, 'check_join')).toEqual(['t:out->in', 'check:false->in']);

    const empty = checked(workflow('w').when('input.x', (b) => b, (b) => b).build());
    expect(nodeOf(empty, 'when_1').config).toEqual({ condition: 'input.x', true_path: 'when_1_join', false_path: 'when_1_join' });
    expect(empty.definition.edges.filter((e) => e.source_node_id === 'when_1').map((e) => e.id)).toEqual([
      'e_when_1_when_1_join',
      'e_when_1_when_1_join_false',
    ]);
  });

  it('adds no join when both branches end the run', () => {
    const def = checked(
      workflow('w')
        .when(
          'input.ok',
          (b) => b.end({ result: '"yes"' }),
          (b) => b.end({ result: '"no"' }, { id: 'end_no' }),
        )
        .build(),
    );
    expect(def.definition.nodes.map((n) => n.id)).toEqual(['start', 'when_1', 'end', 'end_no']);
    expect(() => workflow('w').end().transform('t', { a: '1' })).toThrow(/follows an end/);
    // One branch ending still leaves a join for the other; the plain end gets a fresh id.
    const half = checked(workflow('w').when('input.ok', (b) => b.end()).build());
    expect(edgesInto(half, 'when_1_join')).toEqual(['when_1:false->in']);
    expect(edgesInto(half, 'end_2')).toEqual(['when_1_join:out->in']);
  });

  it('lays out loops with body, back and done edges', () => {
    const def = checked(
      workflow('loops')
        .forEach('input.docs', (b) => b.prompt('summarise', { model, template: '{{doc}}' }).transform('keep', { s: 'summarise.text' }), {
          id: 'docs',
          as: 'doc',
          concurrency: 4,
        })
        .while('input.pending', (b) => b.delay('poll', 500), { max_iterations: 10 })
        .repeat(3, (b) => b.transform('tick', { n: 'index' }))
        .build(),
    );
    expect(nodeOf(def, 'docs').config).toEqual({ loop_type: 'for_each', items: 'input.docs', as: 'doc', concurrency: 4, max_iterations: 1000 });
    expect(edgesFrom(def, 'docs')).toEqual([
      { source_output: 'body', target_node_id: 'summarise', target_input: 'in' },
      { source_output: 'done', target_node_id: 'while_4', target_input: 'in' },
    ]);
    expect(edgesInto(def, 'docs')).toEqual(['start:out->in', 'keep:out->next']);
    expect(nodeOf(def, 'while_4').config).toEqual({ loop_type: 'while', condition: 'input.pending', max_iterations: 10 });
    expect(edgesInto(def, 'while_4')).toEqual(['docs:done->in', 'poll:out->next']);
    expect(nodeOf(def, 'repeat_6').config).toEqual({ loop_type: 'count', count: 3, max_iterations: 1000 });
    expect(edgesFrom(def, 'repeat_6')).toEqual([
      { source_output: 'body', target_node_id: 'tick', target_input: 'in' },
      { source_output: 'done', target_node_id: 'end', target_input: 'in' },
    ]);
    expect(def.definition.edges.find((e) => e.target_input === 'next' && e.source_node_id === 'tick')?.id).toBe('e_tick_repeat_6');
    // Bodies are drawn one lane below their loop, after it.
    expect(nodeOf(def, 'summarise').position).toEqual({ x: nodeOf(def, 'docs').position!.x + 250, y: 150 });
  });

  it('gives a parallel one edge per branch named after it, meeting at <id>_merge', () => {
    const def = checked(
      workflow('fan')
        .parallel(
          {
            facts: (b) => b.prompt('facts', { model, template: 'facts' }),
            tone: (b) => b.prompt('tone', { model, template: 'tone' }).transform('tone_out', { t: 'tone.text' }),
            nothing: (b) => b,
          },
          { id: 'fan', waitFor: 'count', requiredCount: 2, mergeStrategy: 'collect' },
        )
        .build(),
    );
    expect(nodeOf(def, 'fan').config).toEqual({ wait_for: 'count', required_count: 2, join: 'fan_merge' });
    expect(nodeOf(def, 'fan_merge')).toMatchObject({ type: 'merge', config: { strategy: 'collect' } });
    expect(edgesFrom(def, 'fan')).toEqual([
      { source_output: 'facts', target_node_id: 'facts', target_input: 'in' },
      { source_output: 'tone', target_node_id: 'tone', target_input: 'in' },
      { source_output: 'nothing', target_node_id: 'fan_merge', target_input: 'in' },
    ]);
    expect(edgesInto(def, 'fan_merge')).toEqual(['facts:out->in', 'tone_out:out->in', 'fan:nothing->in']);
    expect(edgesFrom(def, 'fan_merge')).toEqual([{ source_output: 'out', target_node_id: 'end', target_input: 'in' }]);
    expect(nodeOf(def, 'tone').position!.y).toBe(150);
  });

  it('nests forEach, parallel, when, while and repeat three levels deep with the same conventions', () => {
    const def = checked(
      workflow('deep')
        .forEach(
          'input.orders',
          (order) =>
            order.parallel(
              {
                check: (b) =>
                  b.when(
                    'order.total > 100',
                    (big) => big.while('input.retry', (w) => w.webhook('verify', { url: 'https://x.test' }), { max_iterations: 5, id: 'retry_loop' }),
                    (small) => small.repeat('order.lines', (r) => r.transform('line', { l: 'index' }), { id: 'lines' }),
                    { id: 'size' },
                  ),
                note: (b) =>
                  b.forEach('order.items', (i) => i.parallel({ a: (x) => x.delay('d1', 1), b: (x) => x.delay('d2', 2) }, { id: 'inner' }), {
                    id: 'items',
                  }),
              },
              { id: 'per_order' },
            ),
          { id: 'orders', as: 'order' },
        )
        .transform('after', { n: 'orders' })
        .build(),
    );
    // Outer loop: body enters the parallel, the parallel's merge feeds the back edge, done goes on.
    expect(edgesFrom(def, 'orders')).toEqual([
      { source_output: 'body', target_node_id: 'per_order', target_input: 'in' },
      { source_output: 'done', target_node_id: 'after', target_input: 'in' },
    ]);
    expect(edgesInto(def, 'orders')).toEqual(['start:out->in', 'per_order_merge:out->next']);
    // Parallel: branch names, and each branch's last node into the merge.
    expect(edgesFrom(def, 'per_order').map((e) => `${e.source_output}->${e.target_node_id}`)).toEqual(['check->size', 'note->items']);
    expect(edgesInto(def, 'per_order_merge')).toEqual(['size_join:out->in', 'items:done->in']);
    // Third level: loops in both branches of a when, joined at size_join.
    expect(nodeOf(def, 'size').config).toMatchObject({ true_path: 'retry_loop', false_path: 'lines' });
    expect(edgesInto(def, 'size_join')).toEqual(['retry_loop:done->in', 'lines:done->in']);
    expect(edgesInto(def, 'retry_loop')).toEqual(['size:true->in', 'verify:out->next']);
    expect(nodeOf(def, 'lines').config).toEqual({ loop_type: 'count', count: 'order.lines', max_iterations: 1000 });
    expect(edgesInto(def, 'lines')).toEqual(['size:false->in', 'line:out->next']);
    // A parallel inside a loop inside a parallel inside a loop.
    expect(edgesFrom(def, 'items')).toEqual([
      { source_output: 'body', target_node_id: 'inner', target_input: 'in' },
      { source_output: 'done', target_node_id: 'per_order_merge', target_input: 'in' },
    ]);
    expect(edgesInto(def, 'items')).toEqual(['per_order:note->in', 'inner_merge:out->next']);
    expect(edgesInto(def, 'inner_merge')).toEqual(['d1:out->in', 'd2:out->in']);
    // The only cycles are the back edges into loops.
    const back = def.definition.edges.filter((e) => e.target_input === 'next');
    expect(back.every((e) => nodeOf(def, e.target_node_id).type === 'loop')).toBe(true);
    expect(back).toHaveLength(4);
  });

  it('derives ids from the place in the chain and keeps them clear of ids already used', () => {
    const def = checked(
      workflow('ids')
        .transform('a', { x: '1' })
        .when('a.x', (b) => b.forEach('input.l', (l) => l.transform('b', { y: '2' })))
        .parallel({ one: (b) => b.transform('c', { z: '3' }) })
        .build(),
    );
    expect(def.definition.nodes.map((n) => n.id)).toEqual([
      'start',
      'a',
      'when_2',
      'for_each_3',
      'b',
      'when_2_join',
      'parallel_5',
      'c',
      'parallel_5_merge',
      'end',
    ]);
    const clash = checked(workflow('c').transform('when_1', { x: '1' }).when('true', (b) => b).build());
    expect(clash.definition.nodes.map((n) => n.id)).toContain('when_2');
  });
});

describe('workflow builder: errors', () => {
  it('throws validation_failed naming a duplicate id, wherever the duplicate is declared', () => {
    const err = thrown(() => workflow('d').transform('x', { a: '1' }).prompt('x', { model, template: 't' }));
    expect(err.code).toBe('validation_failed');
    expect(err.nodeId).toBe('x');
    expect(err.message).toMatch(/Duplicate node id "x"/);
    expect(thrown(() => workflow('d').transform('x', { a: '1' }).when('true', (b) => b.delay('x', 1))).message).toMatch(/"x"/);
    expect(
      thrown(() => workflow('d').parallel({ a: (b) => b.delay('y', 1), b: (b) => b.delay('y', 1) })).message,
    ).toMatch(/Duplicate node id "y"/);
    expect(thrown(() => workflow('d').transform('start', { a: '1' })).message).toMatch(/Duplicate node id "start"/);
    expect(thrown(() => workflow('d').transform('p_merge', { a: '1' }).parallel({ a: (b) => b }, { id: 'p' })).nodeId).toBe('p_merge');
  });

  it('rejects bad ids, models, configs and options at the call that made them', () => {
    expect(thrown(() => workflow('e').transform('1bad', { a: '1' })).message).toMatch(/Invalid node id "1bad"/);
    expect(thrown(() => workflow('e').prompt('p', { model: 'gpt-4o', template: 't' })).message).toMatch(/provider:model/);
    expect(thrown(() => workflow('e').prompt('p', { model })).message).toMatch(/template or a prompt_id/);
    expect(thrown(() => workflow('e').delay('d', -5)).issues[0]).toMatchObject({ path: ['config', 'ms'], nodeId: 'd' });
    expect(thrown(() => workflow('e').transform('t', { a: '1' }, { retry: { max_attempts: 0 } })).issues[0]?.path).toEqual(['retry_policy', 'max_attempts']);
    expect(thrown(() => workflow('e').forEach('x', (b) => b)).message).toMatch(/empty body/);
    expect(thrown(() => workflow('e').repeat(5000, (b) => b.delay('d', 1))).message).toMatch(/max_iterations/);
    expect(thrown(() => workflow('e').parallel({ a: (b) => b }, { waitFor: 'count' })).message).toMatch(/requiredCount/);
    expect(thrown(() => workflow('e').when('x', () => workflow('other'))).message).toMatch(/must return the builder it was given/);
    expect(thrown(() => workflow('e').webhook('w', { url: 'u', body: new Date() })).message).toMatch(/plain JSON/);
    expect(thrown(() => workflow('')).code).toBe('validation_failed');
    expect(thrown(() => workflow('e', { variables: { x: 'text' as 'string' } })).message).toMatch(/variable "x"/);
    expect(thrown(() => workflow('e').node('s', 'start', {})).message).toMatch(/exactly one start/);
    let inner: WorkflowBuilder | undefined;
    workflow('e').when('x', (b) => (inner = b));
    expect(thrown(() => inner?.build()).message).toMatch(/branch builder/);
  });
});

describe('workflow builder: guard and immutability', () => {
  it('recognises builders, and forks without sharing steps', () => {
    const base = workflow('b').transform('a', { x: '1' });
    expect(isWorkflowBuilder(base)).toBe(true);
    expect(isWorkflowBuilder(base.build())).toBe(false);
    expect(isWorkflowBuilder(null)).toBe(false);
    const left = base.transform('l', { y: '1' });
    const right = base.transform('l', { y: '2' });
    expect(nodeOf(left.build(), 'l').config).toEqual({ mapping: { y: '1' } });
    expect(nodeOf(right.build(), 'l').config).toEqual({ mapping: { y: '2' } });
    expect(base.build().definition.nodes.map((n) => n.id)).toEqual(['start', 'a', 'end']);
  });
});

describe('workflow builder: type inference', () => {
  it('records prompt outputs typed by their zod schema', () => {
    const wf = workflow('t').prompt('classify', { model, template: 't', output: Classification }).prompt('free', { model, template: 'u' });
    type Out = WorkflowOutputs<typeof wf>;
    expectTypeOf<Out['classify']>().toEqualTypeOf<{ text: string; json: { urgent: boolean; topic: 'billing' | 'bug' | 'other' } }>();
    expectTypeOf<Out['classify']>().toEqualTypeOf<PromptOutput<z.infer<typeof Classification>>>();
    expectTypeOf<Out['free']>().toEqualTypeOf<PromptOutput<unknown>>();
    expectTypeOf<keyof Out>().toEqualTypeOf<'classify' | 'free'>();
  });

  it('records other steps, makes conditional-branch nodes optional and keeps parallel branch nodes', () => {
    const wf = workflow('t')
      .transform('shape', { a: 'x', b: 'y' })
      .when(
        'shape.a',
        (b) => b.prompt('yes', { model, template: 't', output: z.object({ n: z.number() }) }),
        (b) => b.delay('no', 1),
      )
      .parallel({ p1: (b) => b.webhook('hook', { url: 'u' }), p2: (b) => b.approval('ok') })
      .forEach('x', (b) => b.delay('inner', 1), { id: 'each' })
      .repeat(2, (b) => b.delay('r', 1));
    type Out = WorkflowOutputs<typeof wf>;
    expectTypeOf<Out>().toEqualTypeOf<{
      shape: { a: unknown; b: unknown };
      yes?: { text: string; json: { n: number } };
      no?: unknown;
      hook: unknown;
      ok: unknown;
      each: unknown[];
    }>();
    // Its run type (second parameter) records that the approval may end the run: see test/types.
    expectTypeOf(wf).toMatchTypeOf<WorkflowBuilder<Out>>();
    expectTypeOf(wf.build()).toEqualTypeOf<WorkflowDefinition>();
  });

  it('lets branch callbacks see the outputs declared before them', () => {
    workflow('t')
      .prompt('first', { model, template: 't', output: z.object({ ok: z.boolean() }) })
      .when('first.json.ok', (b) => {
        expectTypeOf(b).toEqualTypeOf<WorkflowBuilder<{ first: PromptOutput<{ ok: boolean }> }, UntypedRun>>();
        return b;
      });
  });
});
