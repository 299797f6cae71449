import type { NodeConfigs } from '../definition/definition.js';
import { TrellisError } from '../kernel/errors.js';
import type { NodeHandler } from './node-handler.js';

/**
 * `delay`: a durable timer. `ms` waits that long; `until` is an ISO timestamp or an expression
 * giving one. The wait is stored as data, so a restarted engine fires it on time (or at once
 * when it is past due).
 */
export const delayNode: NodeHandler<NodeConfigs['delay']> = {
  type: 'delay',
  pure: true,
  execute(ctx) {
    const now = ctx.clock.now();
    let due = now + (ctx.config.ms ?? 0);
    if (ctx.config.until !== undefined) {
      const raw = /^\d{4}-\d\d-\d\d/.test(ctx.config.until) ? ctx.config.until : ctx.evaluate(ctx.config.until);
      due = typeof raw === 'number' ? raw : Date.parse(String(raw));
      if (Number.isNaN(due)) throw new TrellisError('expression_eval', `Delay "${ctx.node.id}": "${ctx.config.until}" is not a timestamp`, { nodeId: ctx.node.id, retryable: false });
    }
    return { status: 'waiting', waiter: { kind: 'timer', due_at: due, detail: { started_at: now } } };
  },
  resume(ctx) {
    const now = ctx.clock.now();
    return { status: 'completed', output: { fired_at: new Date(now).toISOString() } };
  },
};
