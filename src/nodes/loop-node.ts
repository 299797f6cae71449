import type { NodeConfigs } from '../definition/definition.js';
import { TrellisError } from '../kernel/errors.js';
import type { Json } from '../kernel/json.js';
import type { NodeHandler } from './node-handler.js';

/**
 * `loop`: asks the runner to run its body once per item (`for_each`), `count` times, or while
 * `condition` holds. Going past `max_iterations` fails the node with code `max_iterations`.
 */
export const loopNode: NodeHandler<NodeConfigs['loop']> = {
  type: 'loop',
  pure: true,
  execute(ctx) {
    const { loop_type: type, max_iterations: max } = ctx.config;
    if (type === 'for_each') {
      const items = ctx.evaluate(ctx.config.items ?? '[]');
      if (!Array.isArray(items)) {
        throw new TrellisError('expression_eval', `Loop "${ctx.node.id}": items expression "${ctx.config.items}" gave ${typeof items}, not a list`, { nodeId: ctx.node.id, retryable: false });
      }
      if (items.length > max) throw tooMany(ctx.node.id, items.length, max);
      return { status: 'iterate', spec: { mode: 'list', items: items as Json[] } };
    }
    if (type === 'count') {
      const raw = typeof ctx.config.count === 'string' ? ctx.evaluate(ctx.config.count) : ctx.config.count;
      const count = Number(raw ?? 0);
      if (!Number.isInteger(count) || count < 0) {
        throw new TrellisError('expression_eval', `Loop "${ctx.node.id}": count must be a whole number, got ${String(raw)}`, { nodeId: ctx.node.id, retryable: false });
      }
      if (count > max) throw tooMany(ctx.node.id, count, max);
      return { status: 'iterate', spec: { mode: 'count', count } };
    }
    return { status: 'iterate', spec: { mode: 'while', condition: ctx.config.condition ?? 'false' } };
  },
};

/** The error for a loop that would run more than `max_iterations` times. */
export function tooMany(nodeId: string, wanted: number | string, max: number): TrellisError {
  return new TrellisError('max_iterations', `Loop "${nodeId}" would run ${wanted} iterations, more than its max_iterations of ${max}`, {
    nodeId,
    retryable: false,
  });
}
