/**
 * Names expressions must be able to read: node ids (a node's output is read as `id.field`) and
 * the item and index names of loops. An id like `my-step` or `in` is valid JSON but no expression
 * can read it, so it is refused with the reason and a name to use (identifier-names.ts).
 */
import { unreadableNameReason } from '../../expressions/identifier-names.js';
import type { Collector } from './issue-collector.js';
import type { Graph } from './validation-graph.js';

/** Reports node ids (`unreadable_node_id`) and loop variable names (`unreadable_loop_variable`) expressions cannot read. */
export function checkReadableNames(g: Graph, out: Collector): void {
  for (const n of g.nodes) {
    const { id, type, config } = n.value;
    const reason = unreadableNameReason(id);
    if (reason !== undefined) out.node(n, 'unreadable_node_id', `Node id "${id}" cannot be read by expressions: ${reason}.`, ['id']);
    if (type !== 'loop') continue;
    for (const field of ['as', 'index_as'] as const) {
      const name = config[field];
      const why = typeof name === 'string' ? unreadableNameReason(name) : undefined;
      if (why !== undefined) out.node(n, 'unreadable_loop_variable', `Loop node "${id}" config.${field} is "${String(name)}", which the body's expressions cannot read: ${why}.`, ['config', field]);
    }
  }
}
