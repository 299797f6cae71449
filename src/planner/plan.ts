/**
 * Compiles a validated definition into a Plan: nodes by id, edges classified (ordinary, loop body,
 * loop back, loop done), loop bodies, and the join rule of each merge. Compiled once per
 * workflow version and cached; the planner and runner read only the plan.
 */
import type { WorkflowDefinition, WorkflowEdge, WorkflowNode } from '../definition/definition.js';
import { deepFreeze } from '../kernel/deep-freeze.js';

/** How an edge takes part in the flow. */
export type EdgeKind = 'normal' | 'body' | 'back' | 'done';

/** An edge with its kind resolved. */
export interface PlanEdge extends WorkflowEdge {
  readonly kind: EdgeKind;
}

/** A node with its edges. Back edges are kept apart: they never gate readiness. */
export interface PlanNode {
  readonly id: string;
  readonly type: string;
  readonly node: WorkflowNode;
  /** Incoming edges that gate this node (everything but back edges; body edges gate only in their iteration). */
  readonly incoming: readonly PlanEdge[];
  /** Outgoing edges, without back and body edges. */
  readonly outgoing: readonly PlanEdge[];
  /** The innermost loop whose body holds this node, if any. */
  readonly loopId: string | undefined;
}

/** A loop's body. */
export interface LoopPlan {
  readonly id: string;
  readonly body: ReadonlySet<string>;
  /** First nodes of an iteration: targets of body edges. */
  readonly entries: readonly string[];
  /** Sources of back edges: the nodes whose output is the iteration's result. */
  readonly backSources: readonly string[];
  /** Body nodes whose innermost loop is this one (their steps live directly in the iteration scope). */
  readonly direct: readonly string[];
}

/** How a merge waits. */
export interface JoinPlan {
  readonly mergeId: string;
  readonly parallelId: string;
  readonly rule: 'all' | 'any' | 'count';
  readonly required: number;
  /** Nodes strictly between the parallel node and the merge: cancelled when the join fires early. */
  readonly region: ReadonlySet<string>;
  /** Branch name of each node in the region. */
  readonly branchOf: ReadonlyMap<string, string>;
}

/** A compiled workflow. */
export interface Plan {
  readonly workflow: WorkflowDefinition;
  readonly nodes: ReadonlyMap<string, PlanNode>;
  readonly startId: string;
  readonly loops: ReadonlyMap<string, LoopPlan>;
  readonly joins: ReadonlyMap<string, JoinPlan>;
  /** Nodes inside the branches of an `any`/`count` parallel: their failure loses a branch, not the run. */
  readonly tolerant: ReadonlyMap<string, string>;
}

const cache = new WeakMap<WorkflowDefinition, Plan>();

/**
 * Compiles (and caches by object identity) a definition already checked by `validateWorkflow`.
 * The definition is deep-frozen first: a cache by identity is only sound for an object that can
 * no longer change under the plan made from it.
 */
export function compilePlan(workflow: WorkflowDefinition): Plan {
  const cached = cache.get(workflow);
  if (cached) return cached;
  const plan = buildPlan(deepFreeze(workflow));
  cache.set(workflow, plan);
  return plan;
}

function buildPlan(workflow: WorkflowDefinition): Plan {
  const { nodes, edges } = workflow.definition;
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const out = new Map<string, WorkflowEdge[]>();
  for (const e of edges) {
    const list = out.get(e.source_node_id);
    if (list) list.push(e);
    else out.set(e.source_node_id, [e]);
  }

  const loops = new Map<string, LoopPlan>();
  for (const node of nodes) {
    if (node.type !== 'loop') continue;
    const bodyEdges = (out.get(node.id) ?? []).filter((e) => e.source_output === 'body');
    const body = reachable(
      bodyEdges.map((e) => e.target_node_id),
      (id) => (out.get(id) ?? []).map((e) => e.target_node_id),
      (id) => id === node.id,
    );
    const backSources = edges.filter((e) => e.target_node_id === node.id && body.has(e.source_node_id)).map((e) => e.source_node_id);
    loops.set(node.id, { id: node.id, body, entries: bodyEdges.map((e) => e.target_node_id), backSources, direct: [] });
  }

  const kindOf = (e: WorkflowEdge): EdgeKind => {
    // Back first: an inner loop's `done` edge may be its outer loop's back edge.
    if (byId.get(e.target_node_id)?.type === 'loop' && loops.get(e.target_node_id)?.body.has(e.source_node_id)) return 'back';
    const source = byId.get(e.source_node_id);
    if (source?.type === 'loop') {
      if (e.source_output === 'body') return 'body';
      if (e.source_output === 'done') return 'done';
    }
    return 'normal';
  };

  // The innermost loop of a node is the loop with the smallest body that contains it.
  const innermost = new Map<string, string>();
  for (const loop of [...loops.values()].sort((a, b) => b.body.size - a.body.size)) {
    for (const id of loop.body) innermost.set(id, loop.id);
  }

  for (const loop of loops.values()) {
    (loop.direct as string[]).push(...[...loop.body].filter((id) => innermost.get(id) === loop.id));
  }

  const incoming = new Map<string, PlanEdge[]>();
  const outgoing = new Map<string, PlanEdge[]>();
  for (const e of edges) {
    const planEdge: PlanEdge = { ...e, kind: kindOf(e) };
    if (planEdge.kind === 'back') continue;
    push(incoming, e.target_node_id, planEdge);
    if (planEdge.kind !== 'body') push(outgoing, e.source_node_id, planEdge);
  }

  const planNodes = new Map<string, PlanNode>();
  for (const node of nodes) {
    planNodes.set(node.id, {
      id: node.id,
      type: node.type,
      node,
      incoming: incoming.get(node.id) ?? [],
      outgoing: outgoing.get(node.id) ?? [],
      loopId: innermost.get(node.id),
    });
  }

  const joins = new Map<string, JoinPlan>();
  for (const node of nodes) {
    if (node.type !== 'parallel') continue;
    const join = findJoin(node, planNodes);
    if (join) joins.set(join.mergeId, join);
  }

  const tolerant = new Map<string, string>();
  for (const join of joins.values()) {
    if (join.rule !== 'all') for (const id of join.region) tolerant.set(id, join.mergeId);
  }

  const start = nodes.find((n) => n.type === 'start');
  return { workflow, nodes: planNodes, startId: start?.id ?? 'start', loops, joins, tolerant };
}

function findJoin(parallel: WorkflowNode, nodes: ReadonlyMap<string, PlanNode>): JoinPlan | undefined {
  const config = parallel.config as { wait_for?: 'all' | 'any' | 'count'; required_count?: number; join?: string };
  const branches = nodes.get(parallel.id)?.outgoing ?? [];
  const next = (id: string): string[] => (nodes.get(id)?.outgoing ?? []).map((e) => e.target_node_id);
  let mergeId = config.join;
  if (mergeId === undefined) {
    // The first merge reachable from every branch, found breadth-first from the first branch.
    const reach = branches.map((b) => reachable([b.target_node_id], next, () => false));
    const order = bfsOrder(branches[0] ? [branches[0].target_node_id] : [], next);
    mergeId = order.find((id) => nodes.get(id)?.type === 'merge' && reach.every((r) => r.has(id)));
  }
  if (mergeId === undefined) return undefined;
  const stop = mergeId;
  const branchOf = new Map<string, string>();
  const region = new Set<string>();
  for (const b of branches) {
    for (const id of reachable([b.target_node_id], next, (n) => n === stop)) {
      region.add(id);
      if (!branchOf.has(id)) branchOf.set(id, b.source_output);
    }
  }
  const rule = config.wait_for ?? 'all';
  const required = rule === 'any' ? 1 : rule === 'count' ? (config.required_count ?? 1) : branches.length;
  return { mergeId, parallelId: parallel.id, rule, required, region, branchOf };
}

function reachable(from: readonly string[], next: (id: string) => readonly string[], stop: (id: string) => boolean): Set<string> {
  const seen = new Set<string>();
  const queue = from.filter((id) => !stop(id));
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const n of next(id)) if (!stop(n) && !seen.has(n)) queue.push(n);
  }
  return seen;
}

function bfsOrder(from: readonly string[], next: (id: string) => readonly string[]): string[] {
  const seen = new Set<string>();
  const queue = [...from];
  for (let i = 0; i < queue.length; i++) {
    const id = queue[i]!;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const n of next(id)) if (!seen.has(n)) queue.push(n);
  }
  return queue.filter((id, i) => queue.indexOf(id) === i);
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
