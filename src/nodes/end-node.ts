import type { NodeConfigs } from '../definition/definition.js';
import type { Json } from '../kernel/json.js';
import type { NodeHandler } from './node-handler.js';

/**
 * `end`: finishes a path. `config.output` maps output keys to expressions and becomes the run's
 * `output_data`; without it, the output of the node that led here is passed through.
 * `terminate: true` ends the whole run at once, cancelling whatever still runs.
 */
export const endNode: NodeHandler<NodeConfigs['end']> = {
  type: 'end',
  pure: true,
  execute(ctx) {
    const mapping = ctx.config.output;
    if (mapping) {
      const output: Record<string, Json> = {};
      for (const [key, expression] of Object.entries(mapping)) output[key] = ctx.evaluate(expression) as Json;
      return { status: 'completed', output };
    }
    const [first, ...rest] = ctx.arrived;
    if (first && rest.length === 0) return { status: 'completed', output: first.output ?? null };
    const collected: Record<string, Json> = {};
    for (const a of ctx.arrived) collected[a.sourceNodeId] = a.output ?? null;
    return { status: 'completed', output: collected };
  },
};
