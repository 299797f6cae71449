import type { NodeHandler } from './node-handler.js';

/** `parallel`: starts every outgoing branch at once; the merge it meets applies `wait_for`. */
export const parallelNode: NodeHandler = {
  type: 'parallel',
  pure: true,
  execute: () => ({ status: 'completed', output: null }),
};
