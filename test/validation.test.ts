import { describe, expect, it } from 'vitest';
import { type WorkflowDefinitionInput, WorkflowValidationError, isTrellisError, assertValidWorkflow, validateWorkflow } from '../src/index.js';

type Def = WorkflowDefinitionInput;
type NodeIn = Def['definition']['nodes'][number];
type EdgeIn = Def['definition']['edges'][number];

const node = (id: string, type: string, config: Record<string, unknown> = {}): NodeIn => ({
  id,
  type,
  name: id,
  position: { x: 0, y: 0 },
  config,
});
const edge = (id: string, source: string, target: string, extra: Partial<EdgeIn> = {}): EdgeIn => ({
  id,
  source_node_id: source,
  target_node_id: target,
  ...extra,
});

/**
 * start → classify → cond ─true→ L ─body→ step ─next→ L ─done→ par ─a→ a ─→ m → end
 *                          └false→ end                       └b→ b ─→ m
 */
function validWorkflow(): Def {
  return {
    name: 'triage',
    definition: {
      variables: [{ name: 'topic', type: 'string', default_value: 'news' }],
      nodes: [
        node('start', 'start'),
        node('classify', 'prompt_execution', {
          provider_model: 'openai:gpt-4o-mini',
          template: 'Classify {{ input.text }} about {{variables.topic}}',
          input_mapping: { text: 'input.text', topic: 'variables.topic' },
          output_schema: { type: 'object' },
        }),
        node('cond', 'condition', { condition: 'classify.json.score > 3', true_path: 'L', false_path: 'end' }),
        node('L', 'loop', { loop_type: 'for_each', items: 'input.items', max_iterations: 10 }),
        node('step', 'data_transform', { mapping: { doubled: 'item * 2', name: "upper(input.name) + '!'" } }),
        node('par', 'parallel', { wait_for: 'count', required_count: 1 }),
        node('a', 'data_transform', { mapping: { x: 'size(L) + 1' } }),
        node('b', 'data_transform', { mapping: { y: 'default(input.missing, 0)' } }),
        node('m', 'merge', { strategy: 'collect' }),
        node('end', 'end', { output: { result: 'has(m.a) ? m : {}' } }),
      ],
      edges: [
        edge('e1', 'start', 'classify'),
        edge('e2', 'classify', 'cond'),
        edge('e3', 'cond', 'L', { source_output: 'true' }),
        edge('e4', 'cond', 'end', { source_output: 'false' }),
        edge('e5', 'L', 'step', { source_output: 'body' }),
        edge('e6', 'step', 'L', { target_input: 'next' }),
        edge('e7', 'L', 'par', { source_output: 'done' }),
        edge('e8', 'par', 'a', { source_output: 'a' }),
        edge('e9', 'par', 'b', { source_output: 'b', condition: "input.mode == 'full'" }),
        edge('e10', 'a', 'm'),
        edge('e11', 'b', 'm'),
        edge('e12', 'm', 'end'),
      ],
    },
  };
}

const nodesOf = (d: Def): NodeIn[] => d.definition.nodes;
const edgesOf = (d: Def): EdgeIn[] => d.definition.edges;
const find = (d: Def, id: string): NodeIn => {
  const n = nodesOf(d).find((x) => x.id === id);
  if (!n) throw new Error(`no node ${id}`);
  return n;
};
const dropEdges = (d: Def, ...ids: string[]): void => {
  d.definition.edges = edgesOf(d).filter((e) => !ids.includes(e.id));
};

interface Case {
  readonly name: string;
  readonly mutate: (d: Def) => void;
  readonly code: string;
  /** The node/edge id the message must name (absent when the problem has no owner). */
  readonly id?: string;
}

const CASES: Case[] = [
  {
    name: 'no start node',
    code: 'missing_start',
    mutate: (d) => {
      d.definition.nodes = nodesOf(d).filter((n) => n.id !== 'start');
      dropEdges(d, 'e1');
    },
  },
  { name: 'two start nodes', code: 'multiple_start', id: 'start2', mutate: (d) => nodesOf(d).push(node('start2', 'start')) },
  {
    name: 'duplicate node id',
    code: 'duplicate_node_id',
    id: 'a',
    mutate: (d) => nodesOf(d).push(node('a', 'merge')),
  },
  { name: 'duplicate edge id', code: 'duplicate_edge_id', id: 'e10', mutate: (d) => edgesOf(d).push(edge('e10', 'b', 'end')) },
  {
    name: 'unknown node type',
    code: 'unknown_node_type',
    id: 'mail',
    mutate: (d) => {
      nodesOf(d).push(node('mail', 'send_email'));
      edgesOf(d).push(edge('e-mail', 'm', 'mail'));
    },
  },
  {
    name: 'loop config missing max_iterations',
    code: 'invalid_config',
    id: 'L',
    mutate: (d) => delete find(d, 'L').config['max_iterations'],
  },
  {
    name: 'parallel wait_for not an enum value',
    code: 'invalid_config',
    id: 'par',
    mutate: (d) => (find(d, 'par').config['wait_for'] = 'some'),
  },
  { name: 'edge to a missing node', code: 'dangling_edge', id: 'e-ghost', mutate: (d) => edgesOf(d).push(edge('e-ghost', 'm', 'ghost')) },
  { name: 'orphan node', code: 'unreachable_node', id: 'orphan', mutate: (d) => nodesOf(d).push(node('orphan', 'merge')) },
  {
    name: 'condition true_path to a missing node',
    code: 'unknown_branch_target',
    id: 'cond',
    mutate: (d) => (find(d, 'cond').config['true_path'] = 'nowhere'),
  },
  {
    name: 'condition false_path without an edge',
    code: 'branch_not_connected',
    id: 'cond',
    mutate: (d) => (find(d, 'cond').config['false_path'] = 'a'),
  },
  {
    name: 'condition edge from output "out"',
    code: 'bad_source_output',
    id: 'e4',
    mutate: (d) => ((edgesOf(d)[3] as EdgeIn).source_output = 'out'),
  },
  { name: 'cycle outside a loop', code: 'cycle', id: 'e-back', mutate: (d) => edgesOf(d).push(edge('e-back', 'a', 'classify')) },
  {
    name: 'edge into a loop from outside its body',
    code: 'cycle',
    id: 'e-into-loop',
    mutate: (d) => edgesOf(d).push(edge('e-into-loop', 'm', 'L', { target_input: 'next' })),
  },
  { name: 'loop without a body edge', code: 'loop_without_body', id: 'L', mutate: (d) => dropEdges(d, 'e5') },
  { name: 'loop without a back edge', code: 'loop_without_back_edge', id: 'L', mutate: (d) => dropEdges(d, 'e6') },
  {
    name: 'back edge without target_input "next"',
    code: 'bad_back_edge',
    id: 'e6',
    mutate: (d) => ((edgesOf(d)[5] as EdgeIn).target_input = 'in'),
  },
  {
    name: 'for_each loop without items',
    code: 'missing_loop_field',
    id: 'L',
    mutate: (d) => delete find(d, 'L').config['items'],
  },
  {
    name: 'while loop without condition',
    code: 'missing_loop_field',
    id: 'L',
    mutate: (d) => (find(d, 'L').config['loop_type'] = 'while'),
  },
  { name: 'parallel without branches', code: 'parallel_without_branches', id: 'par', mutate: (d) => dropEdges(d, 'e8', 'e9') },
  {
    name: 'parallel required_count above branch count',
    code: 'required_count_too_large',
    id: 'par',
    mutate: (d) => (find(d, 'par').config['required_count'] = 3),
  },
  {
    name: 'parallel count without required_count',
    code: 'missing_required_count',
    id: 'par',
    mutate: (d) => delete find(d, 'par').config['required_count'],
  },
  {
    name: 'provider_model without provider',
    code: 'bad_provider_model',
    id: 'classify',
    mutate: (d) => (find(d, 'classify').config['provider_model'] = 'gpt-4o'),
  },
  {
    name: 'fallback model malformed',
    code: 'bad_provider_model',
    id: 'classify',
    mutate: (d) => (find(d, 'classify').config['fallback'] = ['anthropic:claude-sonnet-4', ':x']),
  },
  {
    name: 'prompt with both template and prompt_id',
    code: 'prompt_source',
    id: 'classify',
    mutate: (d) => (find(d, 'classify').config['prompt_id'] = 'p1'),
  },
  {
    name: 'prompt with neither template nor prompt_id',
    code: 'prompt_source',
    id: 'classify',
    mutate: (d) => delete find(d, 'classify').config['template'],
  },
  {
    name: 'edge condition does not parse',
    code: 'bad_expression',
    id: 'e9',
    mutate: (d) => ((edgesOf(d)[8] as EdgeIn).condition = 'input.mode =='),
  },
  {
    name: 'condition uses a function that does not exist',
    code: 'bad_expression',
    id: 'cond',
    mutate: (d) => (find(d, 'cond').config['condition'] = 'now() > 3'),
  },
  {
    name: 'loop items does not parse',
    code: 'bad_expression',
    id: 'L',
    mutate: (d) => (find(d, 'L').config['items'] = 'input.items['),
  },
  {
    name: 'data_transform mapping value does not parse',
    code: 'bad_expression',
    id: 'step',
    mutate: (d) => (find(d, 'step').config['mapping'] = { x: '(1 + ' }),
  },
  {
    name: 'end output reads a prototype key',
    code: 'bad_expression',
    id: 'end',
    mutate: (d) => (find(d, 'end').config['output'] = { x: 'input.__proto__' }),
  },
  {
    name: 'wait_for_event filter does not parse',
    code: 'bad_expression',
    id: 'wait',
    mutate: (d) => {
      nodesOf(d).push(node('wait', 'wait_for_event', { event: 'paid', filter: 'event.amount >' }));
      edgesOf(d).push(edge('e-wait', 'm', 'wait'));
    },
  },
  {
    name: 'sub_workflow input_mapping value does not parse',
    code: 'bad_expression',
    id: 'sub',
    mutate: (d) => {
      nodesOf(d).push(node('sub', 'sub_workflow', { workflow_id: 'w2', input_mapping: { q: 'input.q +' } }));
      edgesOf(d).push(edge('e-sub', 'm', 'sub'));
    },
  },
  {
    name: 'template reads an undeclared variable',
    code: 'undeclared_variable',
    id: 'classify',
    mutate: (d) => (find(d, 'classify').config['template'] = 'About {{ variables.nope }}'),
  },
  {
    name: 'input_mapping reads an undeclared variable',
    code: 'undeclared_variable',
    id: 'classify',
    mutate: (d) => (find(d, 'classify').config['input_mapping'] = { t: 'variables.nope' }),
  },
  {
    name: 'template placeholder is not a path',
    code: 'bad_template',
    id: 'classify',
    mutate: (d) => (find(d, 'classify').config['template'] = 'Hi {{ input.a b }}'),
  },
  {
    name: 'error handler does not exist',
    code: 'unknown_error_handler',
    id: 'on-error',
    mutate: (d) => (d.definition.settings = { error_handler_node_id: 'on-error' }),
  },
  { name: 'edge into start', code: 'start_has_incoming', id: 'e-loop-start', mutate: (d) => edgesOf(d).push(edge('e-loop-start', 'm', 'start')) },
  {
    name: 'node id starting with a digit',
    code: 'invalid_schema',
    id: '9lives',
    mutate: (d) => nodesOf(d).push(node('9lives', 'merge')),
  },
  {
    name: 'parallel join names a missing node',
    code: 'unknown_join_node',
    id: 'par',
    mutate: (d) => (find(d, 'par').config['join'] = 'nope'),
  },
];

describe('validateWorkflow', () => {
  it('accepts a workflow with a condition, a loop with a back edge, and parallel + merge', () => {
    const result = validateWorkflow(validWorkflow());
    expect(result.ok ? [] : result.issues).toEqual([]);
    expect(result.ok && result.workflow.definition.edges[0]?.source_output).toBe('out');
    expect(result.ok && result.workflow.status).toBe('active');
  });

  it('accepts a node type registered by the host', () => {
    const d = validWorkflow();
    nodesOf(d).push(node('mail', 'send_email', { anything: true }));
    edgesOf(d).push(edge('e-mail', 'm', 'mail'));
    expect(validateWorkflow(d).ok).toBe(false);
    expect(validateWorkflow(d, { nodeTypes: ['send_email'] }).ok).toBe(true);
  });

  it('accepts variables written by output_mapping and nested loops', () => {
    const d = validWorkflow();
    find(d, 'classify').config['output_mapping'] = { 'variables.label': 'json.label' };
    find(d, 'step').config['mapping'] = { note: "variables.label + '!'" };
    // A nested loop inside L's body: step → inner ─body→ leaf ─next→ inner ─done→ … → L.
    nodesOf(d).push(node('inner', 'loop', { loop_type: 'count', count: 2, max_iterations: 5 }));
    nodesOf(d).push(node('leaf', 'data_transform', { mapping: { i: 'index' } }));
    dropEdges(d, 'e6');
    edgesOf(d).push(
      edge('n1', 'step', 'inner'),
      edge('n2', 'inner', 'leaf', { source_output: 'body' }),
      edge('n3', 'leaf', 'inner', { target_input: 'next' }),
      edge('n4', 'inner', 'L', { source_output: 'done', target_input: 'next' }),
    );
    const result = validateWorkflow(d);
    expect(result.ok ? [] : result.issues).toEqual([]);
  });

  it('has at least 25 distinct malformed cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
    expect(new Set(CASES.map((c) => c.code)).size).toBeGreaterThanOrEqual(25);
  });

  it.each(CASES)('reports $code for: $name', ({ mutate, code, id }) => {
    const d = validWorkflow();
    mutate(d);
    const result = validateWorkflow(d);
    expect(result.ok).toBe(false);
    const issues = result.ok ? [] : result.issues;
    const matching = issues.filter((i) => i.code === code);
    expect(matching, JSON.stringify(issues, null, 2)).not.toHaveLength(0);
    if (id !== undefined) expect(matching.some((i) => i.message.includes(`"${id}"`)), JSON.stringify(matching)).toBe(true);
    for (const issue of issues) {
      expect(issue.path.length).toBeGreaterThan(0);
      expect(issue.message).toMatch(/\.$|\S$/);
    }
  });

  it('reports several problems at once, with paths and ids', () => {
    const d = validWorkflow();
    find(d, 'classify').config['provider_model'] = 'nocolon';
    find(d, 'cond').config['condition'] = 'classify.json.score >';
    nodesOf(d).push(node('orphan', 'merge'));
    edgesOf(d).push(edge('e-ghost', 'a', 'ghost'));
    const result = validateWorkflow(d);
    expect(result.ok).toBe(false);
    const issues = result.ok ? [] : result.issues;
    expect(issues.map((i) => i.code).sort()).toEqual(
      ['bad_expression', 'bad_provider_model', 'dangling_edge', 'unreachable_node'].sort(),
    );
    expect(issues.find((i) => i.code === 'bad_provider_model')).toMatchObject({
      nodeId: 'classify',
      path: ['definition', 'nodes', 1, 'config', 'provider_model'],
    });
    expect(issues.find((i) => i.code === 'dangling_edge')).toMatchObject({
      edgeId: 'e-ghost',
      path: ['definition', 'edges', 12, 'target_node_id'],
    });
  });

  it('reports schema problems and graph problems together', () => {
    const d = validWorkflow() as unknown as { name: unknown; definition: { nodes: unknown[] } };
    d.name = '';
    (d.definition.nodes[4] as { position: unknown }).position = 'left';
    d.definition.nodes.push(node('orphan', 'merge'));
    const result = validateWorkflow(d);
    const issues = result.ok ? [] : result.issues;
    expect(issues.filter((i) => i.code === 'invalid_schema').map((i) => i.path.join('.'))).toEqual([
      'name',
      'definition.nodes.4.position',
    ]);
    expect(issues.find((i) => i.path.join('.') === 'definition.nodes.4.position')?.message).toContain('"step"');
    expect(issues.some((i) => i.code === 'unreachable_node' && i.nodeId === 'orphan')).toBe(true);
    // The node with the bad shape still counts as existing: its edges are not dangling.
    expect(issues.some((i) => i.code === 'dangling_edge')).toBe(false);
  });

  it('handles input that is not an object', () => {
    const result = validateWorkflow('nope');
    expect(result.ok).toBe(false);
    expect(result.ok ? [] : result.issues.map((i) => i.code)).toEqual(['invalid_schema']);
  });
});

describe('assertValidWorkflow', () => {
  it('returns the parsed workflow', () => {
    expect(assertValidWorkflow(validWorkflow()).name).toBe('triage');
  });

  it('throws a WorkflowValidationError listing every issue', () => {
    const d = validWorkflow();
    nodesOf(d).push(node('orphan', 'merge'), node('orphan2', 'merge'));
    let caught: unknown;
    try {
      assertValidWorkflow(d);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(WorkflowValidationError);
    expect(isTrellisError(caught) && caught.code).toBe('validation_failed');
    expect(isTrellisError(caught) && caught.issues.map((i) => i.nodeId)).toEqual(['orphan', 'orphan2']);
    expect((caught as Error).message).toContain('2 problems');
  });
});
