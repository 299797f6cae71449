import type { Json } from '../kernel/json.js';
import type { NodeHandler } from './node-handler.js';

/** `start`: the entry point; its output is the run input. */
export const startNode: NodeHandler = {
  type: 'start',
  pure: true,
  execute: (ctx) => ({ status: 'completed', output: (ctx.context.input ?? null) as Json }),
};
