/** Which completions end the whole run at once. Pure. */
import type { PlanNode } from './plan.js';

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
