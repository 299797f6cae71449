/**
 * The structural rules of README "The graph model": ids and the start node, node types and their
 * configs, edge endpoints, reachability, the routing nodes (condition, loop, parallel) and cycles
 * that do not close through a loop's back edge.
 */
import { BUILTIN_NODE_TYPES, definitionSchemas, type BuiltinNodeType, type WorkflowEdge, type WorkflowNode } from '../definition.js';
import { formatPath, type Collector, type Indexed, type Path } from './issue-collector.js';
import type { Graph } from './validation-graph.js';

const BUILTIN: ReadonlySet<string> = new Set(BUILTIN_NODE_TYPES);

/** Unique node and edge ids, exactly one `start` without incoming edges, an error handler that exists. */
export function checkIdsAndStart(g: Graph, out: Collector): void {
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
/** Every edge starts and ends at a node present in the input. */
export function checkEdgeEndpoints(g: Graph, out: Collector): void {
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
/** Built-in node types have a valid config; any other type must be registered by the host. */
export function checkTypesAndConfigs(g: Graph, extraTypes: ReadonlySet<string>, out: Collector): void {
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
/** Every node but the error handler is reachable from the start node. */
export function checkReachability(g: Graph, out: Collector): void {
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
/** A condition leaves by `true`/`false`, and its `true_path`/`false_path` are connected nodes. */
export function checkCondition(g: Graph, n: Indexed<WorkflowNode>, out: Collector): void {
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
export function loopBody(g: Graph, loopId: string): Set<string> {
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
export function checkLoop(g: Graph, n: Indexed<WorkflowNode>, out: Collector): Indexed<WorkflowEdge>[] {
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
/** A parallel node starts at least one branch, a count join is satisfiable, and its join node exists. */
export function checkParallel(g: Graph, n: Indexed<WorkflowNode>, out: Collector): void {
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
export function checkCycles(g: Graph, backEdges: ReadonlySet<Indexed<WorkflowEdge>>, out: Collector): void {
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
