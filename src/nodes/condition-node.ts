import type { NodeConfigs } from '../definition/definition.js';
import type { NodeHandler } from './node-handler.js';

/** `condition`: evaluates `config.condition` and fires `true` or `false`. */
export const conditionNode: NodeHandler<NodeConfigs['condition']> = {
  type: 'condition',
  pure: true,
  execute(ctx) {
    const result = Boolean(ctx.evaluate(ctx.config.condition));
    return { status: 'completed', output: { result }, fired: [result ? 'true' : 'false'] };
  },
};
