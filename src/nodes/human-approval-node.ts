import type { NodeConfigs } from '../definition/definition.js';
import { TrellisError } from '../kernel/errors.js';
import type { Json } from '../kernel/json.js';
import type { NodeHandler, NodeResult } from './node-handler.js';

/**
 * `human_approval`: the run waits (status `paused`) until `engine.approve` or `engine.reject`.
 * The waiter holds what the approver is shown: the rendered `message`, the `data` mapping
 * evaluated, and `on_timeout` when the wait has a deadline. Approving fires `approved` (and the
 * default output); rejecting fires `rejected`. What a rejection leads to is the planner's rule
 * (see `runTermination`): the `rejected` branch, or, without one, the end of the run.
 * `timeout_ms` with `on_timeout` decides alone.
 */
export const humanApprovalNode: NodeHandler<NodeConfigs['human_approval']> = {
  type: 'human_approval',
  pure: true,
  execute(ctx) {
    const { message, data, timeout_ms: timeout, on_timeout } = ctx.config;
    const detail: Record<string, Json> = { message: message === undefined ? null : ctx.render(message) };
    if (data !== undefined) {
      const review: Record<string, Json> = {};
      for (const [key, expression] of Object.entries(data)) review[key] = ctx.evaluate(expression) as Json;
      detail.data = review;
    }
    if (timeout !== undefined) detail.on_timeout = on_timeout ?? 'fail';
    return {
      status: 'waiting',
      waiter: { kind: 'approval', ...(timeout === undefined ? {} : { due_at: ctx.clock.now() + timeout }), detail },
    };
  },
  resume(ctx, wake): NodeResult {
    if (wake.kind === 'timer') {
      const policy = ctx.config.on_timeout ?? 'fail';
      if (policy === 'fail') throw new TrellisError('timeout', `Approval "${ctx.node.id}" timed out`, { nodeId: ctx.node.id, retryable: false });
      return decide(policy === 'approve', null, 'timed out');
    }
    if (wake.kind !== 'approval') throw new TrellisError('illegal_state', `Approval "${ctx.node.id}" woke up for ${wake.kind}`);
    return decide(wake.approved, wake.data ?? null, wake.reason);
  },
};

function decide(approved: boolean, data: Json, reason: string | undefined): NodeResult {
  if (approved) return { status: 'completed', output: { approved: true, data }, fired: ['approved', 'out'] };
  return { status: 'completed', output: { approved: false, reason: reason ?? null, data }, fired: ['rejected'] };
}
