/**
 * Where a retry of a failed run starts (`engine.retry`): which of the old run's committed steps the
 * new run is seeded with, and which nodes run again. Pure: no storage, no clock.
 */
import { TrellisError } from '../kernel/errors.js';
import type { StepRecord } from '../storage/records.js';
import type { Plan } from './plan.js';

/** The start of a retry. */
export interface RetryStart {
  /** The old run's steps the new run starts with, moved to `runId`: the committed outputs before the retried step. */
  readonly steps: readonly StepRecord[];
  /** The nodes that run again: the retried ones and everything after them, sorted. */
  readonly rerun: readonly string[];
}

/**
 * Seeds a retry of a failed run. `fromStep` (a node id or a step path) is where it starts; by
 * default, at the failed steps. That node runs again with every node reachable from it (and, inside
 * a loop, the loop that encloses it, whole: its iterations are its state); the other committed
 * steps are kept, completed or skipped on a path not taken. Steps the failure ended (skipped with an
 * error) are dropped, so the planner decides them again. Throws `invalid_options` when `fromStep`
 * names no node, or comes after a failed step it would leave failed.
 */
export function retryStart(plan: Plan, steps: readonly StepRecord[], runId: string, fromStep?: string): RetryStart {
  const failed = steps.filter((s) => s.status === 'failed' && !plan.tolerant.has(s.node_id)).map((s) => s.node_id);
  let from: string[];
  if (fromStep === undefined) {
    // A run failed without a failed step (its version went missing, say): what it had not finished runs again.
    from = failed.length > 0 ? failed : steps.filter((s) => s.status !== 'completed' && !(s.status === 'skipped' && s.error === undefined)).map((s) => s.node_id);
  } else {
    const node = plan.nodes.has(fromStep) ? fromStep : steps.find((s) => s.path === fromStep)?.node_id;
    if (node === undefined) throw new TrellisError('invalid_options', `retry: fromStep "${fromStep}" is neither a node of the workflow nor a step path of the run`, { retryable: false });
    from = [node];
  }
  const rerun = rerunScope(plan, from);
  const left = failed.filter((node) => !rerun.has(node));
  if (left.length > 0) {
    throw new TrellisError('invalid_options', `retry: fromStep "${fromStep ?? ''}" comes after the failed step ${left.join(', ')}, which would stay failed`, { retryable: false });
  }
  const kept = steps.filter((s) => !rerun.has(s.node_id) && (s.status === 'completed' || s.status === 'failed' || (s.status === 'skipped' && s.error === undefined)));
  return { steps: kept.map((s) => ({ ...s, run_id: runId })), rerun: [...rerun].sort() };
}

/** `from`, the loops enclosing each, the bodies of loops among them, and everything reachable. */
function rerunScope(plan: Plan, from: readonly string[]): Set<string> {
  const scope = new Set<string>();
  const todo = [...from];
  for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
    if (scope.has(id)) continue;
    scope.add(id);
    const node = plan.nodes.get(id);
    if (!node) continue;
    if (node.loopId !== undefined) todo.push(node.loopId);
    for (const body of plan.loops.get(id)?.body ?? []) todo.push(body);
    for (const edge of node.outgoing) todo.push(edge.target_node_id);
  }
  return scope;
}

/**
 * The idempotency key of a retry of a run keyed `key`: `<key>:retry:<n>`, `n` counting retries
 * of the first run. Unique (a run has one retry), and readable back to the key its caller chose.
 */
export function retryIdempotencyKey(key: string | undefined): string | undefined {
  if (key === undefined) return undefined;
  const match = /^(.*):retry:(\d+)$/s.exec(key);
  return match ? `${match[1]}:retry:${Number(match[2]) + 1}` : `${key}:retry:1`;
}
