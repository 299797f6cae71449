import type { NodeConfigs } from '../definition/definition.js';
import type { Json } from '../kernel/json.js';
import type { NodeHandler } from './node-handler.js';

/**
 * `merge`: joins the paths that reached it. Strategies: `collect` (default) makes an object keyed
 * by branch name (or source node id), `concat` concatenates array outputs, `first` takes the
 * first non-empty output. Paths not taken are not waited for.
 */
export const mergeNode: NodeHandler<NodeConfigs['merge']> = {
  type: 'merge',
  pure: true,
  execute(ctx) {
    const strategy = ctx.config.strategy ?? 'collect';
    if (strategy === 'first') {
      const hit = ctx.arrived.find((a) => a.output !== undefined && a.output !== null && a.output !== '');
      return { status: 'completed', output: hit?.output ?? null };
    }
    if (strategy === 'concat') {
      const all: Json[] = [];
      for (const a of ctx.arrived) {
        if (Array.isArray(a.output)) all.push(...a.output);
        else if (a.output !== undefined && a.output !== null) all.push(a.output);
      }
      return { status: 'completed', output: all };
    }
    const collected: Record<string, Json> = {};
    for (const a of ctx.arrived) collected[a.branch ?? a.sourceNodeId] = a.output ?? null;
    return { status: 'completed', output: collected };
  },
};
