/**
 * The planner: pure functions over (plan, run state) that decide what happens next. No I/O, no
 * clock, no randomness: the same answer on every worker, unit-testable with plain objects.
 * It owns the semantics of edges, joins, dead-path elimination and loop iterations.
 */
import type { StepRecord } from '../storage/records.js';
import type { ArrivedInput } from '../nodes/node-handler.js';
import type { Plan, PlanEdge, PlanNode } from './plan.js';
import { parseIterationPrefix } from './step-path.js';

/** What the planner needs to know about a run. */
export interface PlannerView {
  /** The step at a path, if it exists. */
  step(path: string): StepRecord | undefined;
  /** Whether an edge's `condition` holds in the context of scope `prefix`. */
  conditionHolds(edge: PlanEdge, prefix: string): boolean;
}

/** The planner's verdict on one node in one scope. */
export type Readiness =
  | { readonly kind: 'exists' }
  | { readonly kind: 'wait' }
  | { readonly kind: 'ready'; readonly active: readonly PlanEdge[]; readonly early: boolean }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'fail'; readonly reason: string };

/** True for a step status that will not change again. */
export function isTerminal(step: StepRecord | undefined): boolean {
  if (step === undefined) return false;
  const status = step.status;
  return status === 'completed' || status === 'skipped' || status === 'failed';
}

/**
 * For a node that joins all its incoming edges: the path of one source step not yet settled, whose
 * state alone keeps {@link readiness} at `wait` until it settles (undefined when there is none, or
 * when the node is an any/count join, which can become ready before every source settles). Scans
 * from the last edge: branches tend to finish in order, so that one stays the blocker longest.
 */
export function blockingSource(plan: Plan, view: PlannerView, prefix: string, nodeId: string): string | undefined {
  const node = plan.nodes.get(nodeId);
  const join = plan.joins.get(nodeId);
  if (!node || (join && join.rule !== 'all')) return undefined;
  for (let i = node.incoming.length - 1; i >= 0; i--) {
    const edge = node.incoming[i]!;
    if (edge.kind === 'body') continue;
    const path = prefix + edge.source_node_id;
    if (!isTerminal(view.step(path))) return path;
  }
  return undefined;
}

/** Whether edge `edge`, leaving a completed step, was followed (fired output and condition). */
export function edgeFollowed(source: PlanNode, step: StepRecord, edge: PlanEdge, prefix: string, view: PlannerView): boolean {
  const fired = step.fired;
  if (fired !== undefined && !fired.includes(edge.source_output)) {
    // A condition may also route by naming its target in true_path / false_path.
    if (source.type !== 'condition' || edge.source_output === 'true' || edge.source_output === 'false') return false;
    const chosen = (source.node.config as Record<string, unknown>)[`${fired[0]}_path`];
    if (edge.target_node_id !== chosen) return false;
  }
  return edge.condition === undefined || view.conditionHolds(edge, prefix);
}

/**
 * The incoming edges that were followed into `nodeId` in scope `prefix`, each with its source's
 * output and, inside a parallel, the branch it came along (what a merge hands its handler).
 */
export function arrivedInputs(plan: Plan, view: PlannerView, prefix: string, nodeId: string): ArrivedInput[] {
  const node = plan.nodes.get(nodeId)!;
  const join = plan.joins.get(nodeId);
  const arrived: ArrivedInput[] = [];
  const incoming = node.incoming;
  for (let i = 0; i < incoming.length; i++) {
    const edge = incoming[i]!;
    if (edge.kind === 'body') continue;
    const step = view.step(prefix + edge.source_node_id);
    if (step?.status !== 'completed' || !edgeFollowed(plan.nodes.get(edge.source_node_id)!, step, edge, prefix, view)) continue;
    const branch = join?.branchOf.get(edge.source_node_id);
    arrived.push(branch === undefined ? { sourceNodeId: edge.source_node_id, output: step.output_data } : { sourceNodeId: edge.source_node_id, output: step.output_data, branch });
  }
  return arrived;
}

/** Decides whether `nodeId` in scope `prefix` can run, must be skipped, or must wait. */
export function readiness(plan: Plan, view: PlannerView, prefix: string, nodeId: string, path = prefix + nodeId): Readiness {
  if (view.step(path) !== undefined) return { kind: 'exists' };
  const node = plan.nodes.get(nodeId);
  if (!node) return { kind: 'skip', reason: `unknown node ${nodeId}` };
  let scope: ReturnType<typeof parseIterationPrefix> | null = null; // parsed on the first body edge only
  let unresolved = 0;
  let resolved = 0;
  let failed = 0;
  const active: PlanEdge[] = [];
  // Indexed, not for-of: until V8 optimises it, a for-of makes an iterator and a result object
  // per edge, and readiness runs for every successor of every step.
  const incoming = node.incoming;
  for (let i = 0; i < incoming.length; i++) {
    const edge = incoming[i]!;
    if (edge.kind === 'body') {
      // Entering an iteration: the edge is live exactly in iterations of its own loop.
      if (scope === null) scope = parseIterationPrefix(prefix);
      if (scope?.loopId === edge.source_node_id) {
        resolved++;
        active.push(edge);
      }
      continue;
    }
    const step = view.step(prefix + edge.source_node_id);
    if (!isTerminal(step)) {
      unresolved++;
      continue;
    }
    resolved++;
    if (step!.status === 'failed') failed++;
    if (step!.status === 'completed' && edgeFollowed(plan.nodes.get(edge.source_node_id)!, step!, edge, prefix, view)) active.push(edge);
  }
  const join = plan.joins.get(nodeId);
  if (join && join.rule !== 'all') {
    if (active.length >= join.required) return { kind: 'ready', active, early: unresolved > 0 };
    if (unresolved > 0) return { kind: 'wait' };
    if (active.length === 0 && failed === 0) return { kind: 'skip', reason: 'no incoming branch was taken' };
    return {
      kind: 'fail',
      reason: `parallel node "${join.parallelId}" needed ${join.required} branch(es) to complete but only ${active.length} did`,
    };
  }
  if (unresolved > 0) return { kind: 'wait' };
  if (active.length > 0) return { kind: 'ready', active, early: false };
  return { kind: 'skip', reason: resolved === 0 ? 'no incoming edge' : 'no incoming edge was followed' };
}

/** State of one loop iteration. */
export type IterationState =
  | { readonly kind: 'running' }
  | { readonly kind: 'completed'; readonly result: unknown }
  | { readonly kind: 'failed'; readonly step: StepRecord };

/** Whether every node of an iteration's body has settled, and the iteration's result. */
export function iterationState(plan: Plan, view: PlannerView, loopId: string, prefix: string): IterationState {
  const loop = plan.loops.get(loopId);
  if (!loop) return { kind: 'completed', result: null };
  let last: StepRecord | undefined;
  let back: StepRecord | undefined;
  for (const id of loop.direct) {
    const step = view.step(prefix + id);
    if (!isTerminal(step)) return { kind: 'running' };
    if (step!.status === 'failed' && !plan.tolerant.has(id)) return { kind: 'failed', step: step! };
    if (step!.status !== 'completed') continue;
    if (!last || step!.seq > last.seq) last = step;
    if (loop.backSources.includes(id) && (!back || step!.seq > back.seq)) back = step;
  }
  const source = back ?? last;
  return { kind: 'completed', result: source?.output_data ?? null };
}
