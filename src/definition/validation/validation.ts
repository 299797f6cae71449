/**
 * Whole-definition validation: the zod shape first, then the graph rules of README "The graph
 * model". Every problem is collected (never stop at the first) as a {@link ValidationIssue} whose
 * message names the node or edge.
 */
import type { z } from 'zod';
import {
  BUILTIN_NODE_TYPES,
  definitionSchemas,
  parseProviderModel,
  type BuiltinNodeType,
  type WorkflowDefinition,
  type WorkflowEdge,
  type WorkflowNode,
} from '../definition.js';
import { WorkflowValidationError, type ValidationIssue } from '../../kernel/errors.js';
import { compileExpression } from '../../expressions/expressions.js';
import { parsePath } from '../../expressions/data-paths.js';
import { placeholderPaths } from '../../expressions/placeholders.js';

/** Options of {@link validateWorkflow}. */
export interface ValidateWorkflowOptions {
  /** Node types registered by the host app besides the built-in ones (their config is not checked). */
  readonly nodeTypes?: Iterable<string>;
}

/** The outcome of {@link validateWorkflow}: the parsed workflow (defaults applied) or every issue. */
export type WorkflowValidationResult =
  | { readonly ok: true; readonly workflow: WorkflowDefinition }
  | { readonly ok: false; readonly issues: ValidationIssue[] };

type Path = readonly (string | number)[];
type Issue = { -readonly [K in keyof ValidationIssue]: ValidationIssue[K] };

const BUILTIN: ReadonlySet<string> = new Set(BUILTIN_NODE_TYPES);

/** A node or edge with its index in the source array, for issue paths. */
interface Indexed<T> {
  readonly value: T;
  readonly index: number;
}

/** Everything the graph rules read, built once. */
interface Graph {
  readonly nodes: readonly Indexed<WorkflowNode>[];
  readonly edges: readonly Indexed<WorkflowEdge>[];
  readonly byId: ReadonlyMap<string, Indexed<WorkflowNode>>;
  /** Ids present in the input, including nodes whose shape was invalid: edges to them are not dangling. */
  readonly knownIds: ReadonlySet<string>;
  /** Whether any input node, valid or not, has type `start`. */
  readonly hasRawStart: boolean;
  readonly outgoing: ReadonlyMap<string, Indexed<WorkflowEdge>[]>;
  readonly incoming: ReadonlyMap<string, Indexed<WorkflowEdge>[]>;
  readonly variables: ReadonlySet<string>;
  readonly errorHandler: string | undefined;
}

class Collector {
  readonly issues: Issue[] = [];
  add(code: string, message: string, path: Path, ids: { nodeId?: string; edgeId?: string } = {}): void {
    this.issues.push({ code, message, path: [...path], ...ids });
  }
  node(node: Indexed<WorkflowNode>, code: string, message: string, sub: Path = []): void {
    this.add(code, message, ['definition', 'nodes', node.index, ...sub], { nodeId: node.value.id });
  }
  edge(edge: Indexed<WorkflowEdge>, code: string, message: string, sub: Path = []): void {
    this.add(code, message, ['definition', 'edges', edge.index, ...sub], { edgeId: edge.value.id });
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// ---------------------------------------------------------------------------------------------
// Schema

/** Describes where a zod issue sits, naming the node or edge when it is inside one. */
function describeLocation(raw: unknown, path: readonly PropertyKey[]): { where: string; nodeId?: string; edgeId?: string } {
  const graph = isRecord(raw) && isRecord(raw['definition']) ? raw['definition'] : undefined;
  const [root, list, index, ...rest] = path;
  if (root === 'definition' && (list === 'nodes' || list === 'edges') && typeof index === 'number') {
    const item: unknown = Array.isArray(graph?.[list]) ? (graph[list] as unknown[])[index] : undefined;
    const id = isRecord(item) && typeof item['id'] === 'string' ? item['id'] : undefined;
    const kind = list === 'nodes' ? 'Node' : 'Edge';
    const field = rest.length ? ` field "${formatPath(rest)}"` : '';
    const label = id === undefined ? `${kind} #${index}` : `${kind} "${id}"`;
    const ids = id === undefined ? {} : list === 'nodes' ? { nodeId: id } : { edgeId: id };
    return { where: `${label}${field}`, ...ids };
  }
  return { where: path.length ? `Field "${formatPath(path)}"` : 'The workflow' };
}

function schemaIssues(raw: unknown, error: z.ZodError, out: Collector): void {
  for (const issue of error.issues) {
    const { where, ...ids } = describeLocation(raw, issue.path);
    out.add('invalid_schema', `${where}: ${issue.message}.`, issue.path as Path, ids);
  }
}

/** Keeps the items of an array that pass `schema`, so graph rules still run on the valid part. */
function salvage<T>(items: unknown, schema: z.ZodType<T>): Indexed<T>[] {
  if (!Array.isArray(items)) return [];
  const out: Indexed<T>[] = [];
  items.forEach((item, index) => {
    const parsed = schema.safeParse(item);
    if (parsed.success) out.push({ value: parsed.data, index });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Graph construction and structural rules

function buildGraph(raw: unknown, parsed: WorkflowDefinition | undefined): Graph {
  const def = isRecord(raw) && isRecord(raw['definition']) ? raw['definition'] : {};
  const { WorkflowNodeSchema, WorkflowEdgeSchema, WorkflowVariableSchema } = definitionSchemas();
  const nodes = parsed
    ? parsed.definition.nodes.map((value, index) => ({ value, index }))
    : salvage(def['nodes'], WorkflowNodeSchema);
  const edges = parsed
    ? parsed.definition.edges.map((value, index) => ({ value, index }))
    : salvage(def['edges'], WorkflowEdgeSchema);
  const variables = parsed ? parsed.definition.variables : salvage(def['variables'], WorkflowVariableSchema).map((v) => v.value);
  const rawNodes: unknown[] = Array.isArray(def['nodes']) ? (def['nodes'] as unknown[]) : [];
  const knownIds = new Set<string>();
  for (const n of rawNodes) if (isRecord(n) && typeof n['id'] === 'string') knownIds.add(n['id']);
  const hasRawStart = rawNodes.some((n) => isRecord(n) && n['type'] === 'start');

  const byId = new Map<string, Indexed<WorkflowNode>>();
  for (const n of nodes) if (!byId.has(n.value.id)) byId.set(n.value.id, n);
  const outgoing = new Map<string, Indexed<WorkflowEdge>[]>();
  const incoming = new Map<string, Indexed<WorkflowEdge>[]>();
  for (const e of edges) {
    outgoing.set(e.value.source_node_id, [...(outgoing.get(e.value.source_node_id) ?? []), e]);
    incoming.set(e.value.target_node_id, [...(incoming.get(e.value.target_node_id) ?? []), e]);
  }
  const settings = parsed ? parsed.definition.settings : isRecord(def['settings']) ? def['settings'] : undefined;
  const handler = settings?.['error_handler_node_id'];
  return {
    nodes,
    edges,
    byId,
    knownIds,
    hasRawStart,
    outgoing,
    incoming,
    variables: new Set(variables.map((v) => v.name)),
    errorHandler: typeof handler === 'string' ? handler : undefined,
  };
}

function checkIdsAndStart(g: Graph, out: Collector): void {
  const seenNodes = new Set<string>();
  for (const n of g.nodes) {
    if (seenNodes.has(n.value.id)) out.node(n, 'duplicate_node_id', `Node id "${n.value.id}" is used by more than one node.`, ['id']);
    seenNodes.add(n.value.id);
  }
  const seenEdges = new Set<string>();
  for (const e of g.edges) {
    if (seenEdges.has(e.value.id)) out.edge(e, 'duplicate_edge_id', `Edge id "${e.value.id}" is used by more than one edge.`, ['id']);
    seenEdges.add(e.value.id);
  }
  const starts = g.nodes.filter((n) => n.value.type === 'start');
  if (starts.length === 0 && !g.hasRawStart) {
    out.add('missing_start', 'The workflow has no "start" node; exactly one is required.', ['definition', 'nodes']);
  }
  if (starts.length > 1) {
    const ids = starts.map((n) => `"${n.value.id}"`).join(', ');
    for (const n of starts.slice(1)) {
      out.node(n, 'multiple_start', `Node "${n.value.id}" is a second "start" node (start nodes: ${ids}); exactly one is allowed.`, ['type']);
    }
  }
  for (const s of starts) {
    for (const e of g.incoming.get(s.value.id) ?? []) {
      out.edge(e, 'start_has_incoming', `Edge "${e.value.id}" points into the start node "${s.value.id}"; the start node cannot have incoming edges.`);
    }
  }
  if (g.errorHandler !== undefined && !g.knownIds.has(g.errorHandler)) {
    out.add('unknown_error_handler', `settings.error_handler_node_id names node "${g.errorHandler}", which does not exist.`, [
      'definition',
      'settings',
      'error_handler_node_id',
    ]);
  }
}

function checkEdgeEndpoints(g: Graph, out: Collector): void {
  for (const e of g.edges) {
    for (const [end, field] of [
      ['source', 'source_node_id'],
      ['target', 'target_node_id'],
    ] as const) {
      const id = e.value[field];
      if (!g.knownIds.has(id)) {
        out.edge(e, 'dangling_edge', `Edge "${e.value.id}" has ${end} node "${id}", which does not exist.`, [field]);
      }
    }
  }
}

function checkTypesAndConfigs(g: Graph, extraTypes: ReadonlySet<string>, out: Collector): void {
  for (const n of g.nodes) {
    const { id, type, config } = n.value;
    if (BUILTIN.has(type)) {
      const result = definitionSchemas().NODE_CONFIG_SCHEMAS[type as BuiltinNodeType].safeParse(config);
      if (!result.success) {
        for (const issue of result.error.issues) {
          const field = issue.path.length ? ` "${formatPath(issue.path)}"` : '';
          out.node(n, 'invalid_config', `Node "${id}" (${type}) has an invalid config${field}: ${issue.message}.`, [
            'config',
            ...(issue.path as Path),
          ]);
        }
      }
    } else if (!extraTypes.has(type)) {
      out.node(n, 'unknown_node_type', `Node "${id}" has unknown type "${type}"; it is neither built in nor registered.`, ['type']);
    }
  }
}

function checkReachability(g: Graph, out: Collector): void {
  const start = g.nodes.find((n) => n.value.type === 'start');
  if (!start) return;
  const seen = new Set([start.value.id]);
  const queue = [start.value.id];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    for (const e of g.outgoing.get(id) ?? []) {
      if (!seen.has(e.value.target_node_id)) {
        seen.add(e.value.target_node_id);
        queue.push(e.value.target_node_id);
      }
    }
  }
  for (const n of g.nodes) {
    // The error handler runs when a node fails, not by an edge.
    if (!seen.has(n.value.id) && n.value.id !== g.errorHandler) {
      out.node(n, 'unreachable_node', `Node "${n.value.id}" cannot be reached from the start node "${start.value.id}".`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Routing nodes: condition, loop, parallel

function nodeLabel(n: Indexed<WorkflowNode>): string {
  return `${n.value.type} node "${n.value.id}"`;
}

function checkOutputs(g: Graph, n: Indexed<WorkflowNode>, allowed: readonly string[], out: Collector): void {
  for (const e of g.outgoing.get(n.value.id) ?? []) {
    if (!allowed.includes(e.value.source_output)) {
      const list = allowed.map((a) => `"${a}"`).join(' or ');
      out.edge(e, 'bad_source_output', `Edge "${e.value.id}" leaves ${nodeLabel(n)} from output "${e.value.source_output}"; it must be ${list}.`, [
        'source_output',
      ]);
    }
  }
}

function checkCondition(g: Graph, n: Indexed<WorkflowNode>, out: Collector): void {
  checkOutputs(g, n, ['true', 'false'], out);
  const edges = g.outgoing.get(n.value.id) ?? [];
  for (const field of ['true_path', 'false_path'] as const) {
    const target = n.value.config[field];
    if (typeof target !== 'string') continue;
    if (!g.knownIds.has(target)) {
      out.node(n, 'unknown_branch_target', `Condition node "${n.value.id}" has ${field} "${target}", which is not a node.`, ['config', field]);
    } else if (!edges.some((e) => e.value.target_node_id === target)) {
      out.node(n, 'branch_not_connected', `Condition node "${n.value.id}" has ${field} "${target}" but no edge from "${n.value.id}" to "${target}".`, [
        'config',
        field,
      ]);
    }
  }
}

/** Nodes reachable from the loop's body edges without passing through the loop itself. */
function loopBody(g: Graph, loopId: string): Set<string> {
  const body = new Set<string>();
  const queue = (g.outgoing.get(loopId) ?? []).filter((e) => e.value.source_output === 'body').map((e) => e.value.target_node_id);
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    if (id === loopId || body.has(id)) continue;
    body.add(id);
    for (const e of g.outgoing.get(id) ?? []) queue.push(e.value.target_node_id);
  }
  return body;
}

const LOOP_FIELD = { for_each: 'items', while: 'condition', count: 'count' } as const;

/** Checks a loop and returns its valid back edges (body → loop). */
function checkLoop(g: Graph, n: Indexed<WorkflowNode>, out: Collector): Indexed<WorkflowEdge>[] {
  const { id, config } = n.value;
  checkOutputs(g, n, ['body', 'done'], out);
  const loopType = config['loop_type'];
  if (typeof loopType === 'string' && loopType in LOOP_FIELD) {
    const field = LOOP_FIELD[loopType as keyof typeof LOOP_FIELD];
    if (config[field] === undefined) {
      out.node(n, 'missing_loop_field', `Loop node "${id}" is a ${loopType} loop but has no config.${field}.`, ['config', field]);
    }
  }
  if (!(g.outgoing.get(id) ?? []).some((e) => e.value.source_output === 'body')) {
    out.node(n, 'loop_without_body', `Loop node "${id}" has no body edge (an edge from "${id}" with source_output "body").`);
    return [];
  }
  const body = loopBody(g, id);
  const back = (g.incoming.get(id) ?? []).filter((e) => body.has(e.value.source_node_id));
  if (back.length === 0) {
    out.node(n, 'loop_without_back_edge', `Loop node "${id}" has no edge back from its body (target_input "next").`);
  }
  for (const e of back) {
    if (e.value.target_input !== 'next') {
      out.edge(e, 'bad_back_edge', `Edge "${e.value.id}" goes back to loop "${id}" from its body, so its target_input must be "next", not "${e.value.target_input}".`, [
        'target_input',
      ]);
    }
  }
  return back;
}

function checkParallel(g: Graph, n: Indexed<WorkflowNode>, out: Collector): void {
  const { id, config } = n.value;
  const branches = (g.outgoing.get(id) ?? []).length;
  if (branches === 0) out.node(n, 'parallel_without_branches', `Parallel node "${id}" has no outgoing edge, so it starts no branch.`);
  const required = config['required_count'];
  if (config['wait_for'] === 'count') {
    if (typeof required !== 'number') {
      out.node(n, 'missing_required_count', `Parallel node "${id}" waits for a count of branches but has no config.required_count.`, [
        'config',
        'required_count',
      ]);
    } else if (branches > 0 && required > branches) {
      out.node(n, 'required_count_too_large', `Parallel node "${id}" requires ${required} branches but has only ${branches}.`, [
        'config',
        'required_count',
      ]);
    }
  }
  const join = config['join'];
  if (typeof join === 'string' && !g.knownIds.has(join)) {
    out.node(n, 'unknown_join_node', `Parallel node "${id}" joins at "${join}", which is not a node.`, ['config', 'join']);
  }
}

/** Reports every cycle that does not close through a loop's back edge. */
function checkCycles(g: Graph, backEdges: ReadonlySet<Indexed<WorkflowEdge>>, out: Collector): void {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): void => {
    state.set(id, 'open');
    stack.push(id);
    for (const e of g.outgoing.get(id) ?? []) {
      if (backEdges.has(e)) continue;
      const next = e.value.target_node_id;
      if (!g.byId.has(next)) continue;
      const s = state.get(next);
      if (s === undefined) visit(next);
      else if (s === 'open') {
        const cycle = [...stack.slice(stack.indexOf(next)), next].map((c) => `"${c}"`).join(' → ');
        out.edge(e, 'cycle', `Edge "${e.value.id}" closes the cycle ${cycle}; only an edge from a loop's body back to that loop may form a cycle.`);
      }
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const n of g.nodes) if (!state.has(n.value.id)) visit(n.value.id);
}

// ---------------------------------------------------------------------------------------------
// Per-node content: provider models, prompt source, expressions, templates, variables

interface Source {
  readonly node?: Indexed<WorkflowNode>;
  readonly edge?: Indexed<WorkflowEdge>;
  /** Path inside the node/edge, e.g. `['config', 'mapping', 'total']`. */
  readonly at: Path;
}

function report(out: Collector, src: Source, code: string, message: string): void {
  if (src.node) out.node(src.node, code, message, src.at);
  else if (src.edge) out.edge(src.edge, code, message, src.at);
}

function describeSource(src: Source): string {
  const owner = src.node ? `Node "${src.node.value.id}"` : `Edge "${src.edge?.value.id ?? '?'}"`;
  return `${owner} ${formatPath(src.at)}`;
}

/** Variable names that are declared or written (`output_mapping` / `data_transform` into `variables.X`). */
function declaredVariables(g: Graph): Set<string> {
  const names = new Set(g.variables);
  for (const n of g.nodes) {
    const c = n.value.config;
    for (const mapping of [c['output_mapping'], n.value.type === 'data_transform' ? c['mapping'] : undefined]) {
      if (!isRecord(mapping)) continue;
      for (const key of Object.keys(mapping)) {
        const root = safeSegments(key);
        if (root?.[0] === 'variables' && typeof root[1] === 'string') names.add(root[1]);
      }
    }
  }
  return names;
}

function safeSegments(path: string): readonly (string | number)[] | undefined {
  try {
    return parsePath(path);
  } catch {
    return undefined;
  }
}

function checkVariableRefs(paths: readonly string[], declared: ReadonlySet<string>, src: Source, out: Collector): void {
  for (const p of paths) {
    const segments = safeSegments(p);
    const name = segments?.[1];
    if (segments?.[0] === 'variables' && typeof name === 'string' && !declared.has(name)) {
      report(out, src, 'undeclared_variable', `${describeSource(src)} reads "${p}", but no variable "${name}" is declared.`);
    }
  }
}

function checkExpression(source: unknown, src: Source, declared: ReadonlySet<string>, out: Collector): void {
  if (typeof source !== 'string' || source === '') return; // the shape check reports it
  try {
    checkVariableRefs(compileExpression(source).paths, declared, src, out);
  } catch (error) {
    report(out, src, 'bad_expression', `${describeSource(src)} is not a valid expression: ${(error as Error).message}`);
  }
}

function checkTemplate(template: unknown, src: Source, declared: ReadonlySet<string>, out: Collector): void {
  if (typeof template !== 'string') return;
  try {
    checkVariableRefs(placeholderPaths(template), declared, src, out);
  } catch (error) {
    report(out, src, 'bad_template', `${describeSource(src)} is not a valid template: ${(error as Error).message}`);
  }
}

function entries(value: unknown): [string, unknown][] {
  return isRecord(value) ? Object.entries(value) : [];
}

function checkPrompt(n: Indexed<WorkflowNode>, declared: ReadonlySet<string>, out: Collector): void {
  const { id, config: c } = n.value;
  const models: [Path, unknown][] = [[['config', 'provider_model'], c['provider_model']]];
  if (Array.isArray(c['fallback'])) c['fallback'].forEach((m, i) => models.push([['config', 'fallback', i], m]));
  for (const [at, model] of models) {
    if (typeof model === 'string' && !parseProviderModel(model)) {
      out.node(n, 'bad_provider_model', `Node "${id}" ${formatPath(at)} is "${model}"; expected "provider:model", e.g. "openai:gpt-4o".`, at);
    }
  }
  const hasTemplate = c['template'] !== undefined;
  const hasPromptId = c['prompt_id'] !== undefined;
  if (hasTemplate === hasPromptId) {
    const problem = hasTemplate ? 'has both config.template and config.prompt_id' : 'has neither config.template nor config.prompt_id';
    out.node(n, 'prompt_source', `Prompt node "${id}" ${problem}; exactly one is required.`, ['config']);
  }
  checkTemplate(c['template'], { node: n, at: ['config', 'template'] }, declared, out);
  checkTemplate(c['system'], { node: n, at: ['config', 'system'] }, declared, out);
  for (const [key, value] of entries(c['input_mapping'])) {
    const src = { node: n, at: ['config', 'input_mapping', key] };
    // A mapping value is a path (`fetch-page.text`, dashes allowed) or else an expression.
    if (typeof value === 'string' && safeSegments(value)) checkVariableRefs([value], declared, src, out);
    else checkExpression(value, src, declared, out);
  }
}

function checkNodeContent(n: Indexed<WorkflowNode>, declared: ReadonlySet<string>, out: Collector): void {
  const c = n.value.config;
  const expr = (at: Path, value: unknown): void => checkExpression(value, { node: n, at: ['config', ...at] }, declared, out);
  const tpl = (at: Path, value: unknown): void => checkTemplate(value, { node: n, at: ['config', ...at] }, declared, out);
  switch (n.value.type) {
    case 'prompt_execution':
      return checkPrompt(n, declared, out);
    case 'condition':
      return expr(['condition'], c['condition']);
    case 'loop':
      for (const f of ['items', 'condition', 'count']) if (typeof c[f] === 'string') expr([f], c[f]);
      return;
    case 'data_transform':
      for (const [k, v] of entries(c['mapping'])) expr(['mapping', k], v);
      return;
    case 'end':
      for (const [k, v] of entries(c['output'])) expr(['output', k], v);
      return;
    case 'wait_for_event':
      return expr(['filter'], c['filter']);
    case 'sub_workflow':
      for (const [k, v] of entries(c['input_mapping'])) expr(['input_mapping', k], v);
      return;
    case 'human_approval':
      return tpl(['message'], c['message']);
    case 'webhook':
      tpl(['url'], c['url']);
      for (const [k, v] of entries(c['headers'])) tpl(['headers', k], v);
      return;
    default:
      return;
  }
}

// ---------------------------------------------------------------------------------------------
// Entry points

function collect(def: unknown, options: ValidateWorkflowOptions): WorkflowValidationResult {
  const out = new Collector();
  const parsed = definitionSchemas().WorkflowSchema.safeParse(def);
  if (!parsed.success) schemaIssues(def, parsed.error, out);
  const rawGraph = isRecord(def) && isRecord(def['definition']) ? def['definition'] : undefined;
  if (parsed.success || Array.isArray(rawGraph?.['nodes'])) {
    const g = buildGraph(def, parsed.success ? parsed.data : undefined);
    checkIdsAndStart(g, out);
    checkTypesAndConfigs(g, new Set(options.nodeTypes ?? []), out);
    checkEdgeEndpoints(g, out);
    checkReachability(g, out);
    const back = new Set<Indexed<WorkflowEdge>>();
    for (const n of g.nodes) {
      if (n.value.type === 'condition') checkCondition(g, n, out);
      else if (n.value.type === 'loop') for (const e of checkLoop(g, n, out)) back.add(e);
      else if (n.value.type === 'parallel') checkParallel(g, n, out);
    }
    checkCycles(g, back, out);
    const declared = declaredVariables(g);
    for (const n of g.nodes) checkNodeContent(n, declared, out);
    for (const e of g.edges) checkExpression(e.value.condition, { edge: e, at: ['condition'] }, declared, out);
  }
  if (!parsed.success || out.issues.length > 0) return { ok: false, issues: out.issues };
  return { ok: true, workflow: parsed.data };
}

/**
 * Checks a workflow definition: its JSON shape, then the graph rules (one `start`, unique ids,
 * known node types with valid configs, edges between existing nodes, everything reachable, no
 * cycle except a loop's back edge, well-formed routing nodes, parseable expressions and
 * templates, declared `variables.X`). Returns every problem found, never just the first.
 *
 * Issue codes (stable): `invalid_schema`, `duplicate_node_id`, `duplicate_edge_id`,
 * `missing_start`, `multiple_start`, `start_has_incoming`, `unknown_node_type`, `invalid_config`,
 * `dangling_edge`, `unreachable_node`, `bad_source_output`, `unknown_branch_target`,
 * `branch_not_connected`, `missing_loop_field`, `loop_without_body`, `loop_without_back_edge`,
 * `bad_back_edge`, `cycle`, `parallel_without_branches`, `missing_required_count`,
 * `required_count_too_large`, `unknown_join_node`, `bad_provider_model`, `prompt_source`,
 * `bad_expression`, `bad_template`, `undeclared_variable`, `unknown_error_handler`.
 *
 * @example
 * const result = validateWorkflow(json, { nodeTypes: ['send_email'] });
 * if (!result.ok) for (const issue of result.issues) console.error(issue.code, issue.message);
 */
export function validateWorkflow(def: unknown, options: ValidateWorkflowOptions = {}): WorkflowValidationResult {
  return collect(def, options);
}

/**
 * Like {@link validateWorkflow} but returns the parsed workflow or throws a
 * `WorkflowValidationError` carrying every issue.
 *
 * @example
 * const workflow = assertValidWorkflow(json); // throws WorkflowValidationError if invalid
 */
export function assertValidWorkflow(def: unknown, options: ValidateWorkflowOptions = {}): WorkflowDefinition {
  const result = collect(def, options);
  if (!result.ok) throw new WorkflowValidationError(result.issues);
  return result.workflow;
}
