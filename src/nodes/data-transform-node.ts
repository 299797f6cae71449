import type { NodeConfigs } from '../definition/definition.js';
import type { Json } from '../kernel/json.js';
import type { NodeHandler } from './node-handler.js';

/**
 * `data_transform`: evaluates each expression of `config.mapping`; the results are the node's
 * output and are also written to the context at the mapping's keys (dot paths).
 */
export const dataTransformNode: NodeHandler<NodeConfigs['data_transform']> = {
  type: 'data_transform',
  pure: true,
  execute(ctx) {
    const output: Record<string, Json> = {};
    for (const [path, expression] of Object.entries(ctx.config.mapping)) output[path] = ctx.evaluate(expression) as Json;
    return { status: 'completed', output, writes: output };
  },
};
