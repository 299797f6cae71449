import type { NodeConfigs } from '../definition/definition.js';
import { TrellisError } from '../kernel/errors.js';
import type { Json } from '../kernel/json.js';
import type { NodeHandler, NodeResult } from './node-handler.js';

/**
 * `human_approval`: the run waits (status `paused`) until `engine.approve` or `engine.reject`.
 * Approving fires `approved` (and the default output); rejecting fires `rejected`, or fails the
 * node when no edge leaves from `rejected`. `timeout_ms` with `on_timeout` decides alone.
 */
export const humanApprovalNode: NodeHandler<NodeConfigs['human_approval']> = {
  type: 'human_approval',
  pure: true,
  execute(ctx) {
    const message = ctx.config.message === undefined ? null : ctx.render(ctx.config.message);
    const timeout = ctx.config.timeout_ms;
    return {
      status: 'waiting',
      waiter: { kind: 'approval', ...(timeout === undefined ? {} : { due_at: ctx.clock.now() + timeout }), detail: { message } },
    };
  },
  resume(ctx, wake): NodeResult {
    if (wake.kind === 'timer') {
      const policy = ctx.config.on_timeout ?? 'fail';
      if (policy === 'fail') throw new TrellisError('timeout', `Approval "${ctx.node.id}" timed out`, { nodeId: ctx.node.id, retryable: false });
      return decide(ctx.hasOutput('rejected'), ctx.node.id, policy === 'approve', null, 'timed out');
    }
    if (wake.kind !== 'approval') throw new TrellisError('illegal_state', `Approval "${ctx.node.id}" woke up for ${wake.kind}`);
    return decide(ctx.hasOutput('rejected'), ctx.node.id, wake.approved, wake.data ?? null, wake.reason);
  },
};

function decide(hasRejectedEdge: boolean, nodeId: string, approved: boolean, data: Json, reason: string | undefined): NodeResult {
  if (approved) return { status: 'completed', output: { approved: true, data }, fired: ['approved', 'out'] };
  if (!hasRejectedEdge) {
    throw new TrellisError('node_failed', `Approval "${nodeId}" was rejected${reason ? `: ${reason}` : ''}`, { nodeId, retryable: false, details: { rejected: true } });
  }
  return { status: 'completed', output: { approved: false, reason: reason ?? null, data }, fired: ['rejected'] };
}
