import type { NodeConfigs } from '../definition/definition.js';
import { TrellisError } from '../kernel/errors.js';
import type { Json } from '../kernel/json.js';
import type { NodeHandler } from './node-handler.js';

/**
 * `sub_workflow`: runs a stored workflow as a child execution (its own trace, linked to the
 * parent by `parent_id`) and waits for it. `input_mapping` builds the child's input from
 * expressions; without it the child gets the parent's input. The child's `output_data` becomes
 * this node's output; a failed child fails the node; cancelling the parent cancels the child.
 */
export const subWorkflowNode: NodeHandler<NodeConfigs['sub_workflow']> = {
  type: 'sub_workflow',
  async execute(ctx) {
    let input: Json;
    if (ctx.config.input_mapping) {
      const mapped: Record<string, Json> = {};
      for (const [key, expression] of Object.entries(ctx.config.input_mapping)) mapped[key] = ctx.evaluate(expression) as Json;
      input = mapped;
    } else {
      input = (ctx.context.input ?? {}) as Json;
    }
    const childId = await ctx.services.startChild(ctx.config.workflow_id, ctx.config.version, input);
    return { status: 'waiting', waiter: { kind: 'child', child_id: childId, detail: { workflow_id: ctx.config.workflow_id } } };
  },
  resume(ctx, wake) {
    if (wake.kind !== 'child') throw new TrellisError('illegal_state', `Sub-workflow "${ctx.node.id}" woke up for ${wake.kind}`, { nodeId: ctx.node.id });
    if (wake.status === 'completed') return { status: 'completed', output: { output: wake.output ?? null } };
    const code = wake.status === 'cancelled' ? 'cancelled' : 'node_failed';
    throw new TrellisError(code, `Sub-workflow "${ctx.config.workflow_id}" ${wake.status}${wake.error ? `: ${wake.error}` : ''}`, { nodeId: ctx.node.id, retryable: false });
  },
};
