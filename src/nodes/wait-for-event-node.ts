import type { NodeConfigs } from '../definition/definition.js';
import { TrellisError } from '../kernel/errors.js';
import type { Json } from '../kernel/json.js';
import type { NodeHandler, StepContext } from './node-handler.js';

/**
 * `wait_for_event`: the run waits until `engine.emit(config.event, payload)` delivers an event
 * whose payload passes `config.filter` (an expression that sees `event`, plus the run context).
 * Output: `{ event, payload }`. With `timeout_ms`, the step fails with code `timeout` when nothing
 * matching arrives in time. Waiting is data: the wait survives restarts.
 */
export const waitForEventNode: NodeHandler<NodeConfigs['wait_for_event']> = {
  type: 'wait_for_event',
  pure: true,
  execute(ctx) {
    const timeout = ctx.config.timeout_ms;
    return { status: 'waiting', waiter: { kind: 'event', event: ctx.config.event, ...(timeout === undefined ? {} : { due_at: ctx.clock.now() + timeout }) } };
  },
  resume(ctx, wake) {
    if (wake.kind === 'timer') {
      throw new TrellisError('timeout', `No "${ctx.config.event}" event reached "${ctx.node.id}" in ${ctx.config.timeout_ms} ms`, { nodeId: ctx.node.id, retryable: false });
    }
    if (wake.kind !== 'event') throw new TrellisError('illegal_state', `"${ctx.node.id}" woke up for ${wake.kind}`, { nodeId: ctx.node.id });
    const filter = ctx.config.filter;
    if (filter !== undefined && !evaluateFilter(ctx.evaluate, filter, wake.payload)) {
      // Not for us: keep waiting, with the same deadline.
      return { status: 'waiting', waiter: { kind: 'event', event: ctx.config.event, ...(wake.dueAt === undefined ? {} : { due_at: wake.dueAt }) } };
    }
    return { status: 'completed', output: { event: ctx.config.event, payload: wake.payload } as Json };
  },
};

/**
 * Whether a step about to be woken by an event takes it: false only for a `wait_for_event` step
 * whose filter refuses the payload. Checked before the step changes state, so an event meant for
 * another run leaves this one waiting with nothing written, free for the next event. A filter that
 * fails to evaluate counts as taken: `resume` then fails the step as it always did.
 */
export function acceptsEvent(ctx: StepContext, payload: Json): boolean {
  const filter = ctx.node.type === 'wait_for_event' ? (ctx.config as Partial<NodeConfigs['wait_for_event']>).filter : undefined;
  if (filter === undefined) return true;
  try {
    return evaluateFilter(ctx.evaluate.bind(ctx), filter, payload);
  } catch {
    return true;
  }
}

function evaluateFilter(evaluate: (expression: string, extra?: Readonly<Record<string, unknown>>) => unknown, filter: string, payload: Json): boolean {
  try {
    return evaluate(filter, { event: payload }) === true;
  } catch (error) {
    // A payload without the key the filter reads simply does not match.
    if ((error as { code?: string }).code === 'missing_variable') return false;
    throw error;
  }
}
