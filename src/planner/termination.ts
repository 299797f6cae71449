/** Which completions end the whole run at once, and with what output. Pure. */
import type { Json } from '../kernel/json.js';
import type { Plan, PlanNode } from './plan.js';
import { asObject } from './step-records.js';

/**
 * Whether completing `node` ends the run: an `end` node with `terminate: true` completes the run
 * with its output and stops every other live step, where an ordinary `end` only ends its path.
 */
export function terminatesRun(node: PlanNode): boolean {
  return node.type === 'end' && (node.node.config as { terminate?: boolean }).terminate === true;
}

/** Why the steps still live are stopped when `nodeId` terminates the run. */
export function terminationReason(nodeId: string): string {
  return `run terminated by end node "${nodeId}"`;
}

/** How a completed step ends the whole run: the run's `output_data`, and why live steps stop. */
export interface Termination {
  readonly output: Json;
  readonly reason: string;
}

/** A completed step as {@link runTermination} reads it. */
export interface CompletedStepFacts {
  readonly path: string;
  readonly nodeId: string;
  readonly output: Json;
  /** The outputs the step fired; absent means every output. */
  readonly fired?: readonly string[] | undefined;
}

/**
 * Whether completing a step ends the run at once, as reaching an `end` with `terminate: true`
 * does: the run completes with the returned output, and every step still live on other branches
 * (and in other loop iterations) stops. Two completions do:
 * - an `end` with `terminate: true`: the run's output is the end's output;
 * - a `human_approval` rejected (it fired `rejected`, by a person or by `on_timeout: 'reject'`)
 *   when no edge leaves it from `rejected`: a "no" with nowhere to go ends the run, cleanly, with
 *   `{ rejected: { step, reason } }` (the step path, and the reason given or null), so code and
 *   dashboards tell it from a run that reached its end. With a `rejected` edge the rejection is an
 *   ordinary completion and the run follows it.
 */
export function runTermination(plan: Plan, completed: CompletedStepFacts): Termination | undefined {
  const node = plan.nodes.get(completed.nodeId);
  if (node === undefined) return undefined;
  if (terminatesRun(node)) return { output: completed.output, reason: terminationReason(node.id) };
  if (node.type !== 'human_approval' || completed.fired?.includes('rejected') !== true || hasOutputEdge(plan, node.id, 'rejected')) return undefined;
  const reason = asObject(completed.output)?.reason;
  return {
    output: { rejected: { step: completed.path, reason: typeof reason === 'string' ? reason : null } },
    reason: `run ended by the rejection of "${completed.path}"`,
  };
}

/**
 * Whether an edge leaves `nodeId` from `output`. Read from the definition's edges, not the plan's
 * `outgoing`: an edge back to a loop (the next iteration) leaves the node too.
 */
function hasOutputEdge(plan: Plan, nodeId: string, output: string): boolean {
  return plan.workflow.definition.edges.some((e) => e.source_node_id === nodeId && e.source_output === output);
}
