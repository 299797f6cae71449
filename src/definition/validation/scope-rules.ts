/**
 * What the context holds where each node's expressions and templates are evaluated (README
 * "Context"), so a root nothing provides (`clasify.json.urgent`, `{{colected.count}}`) is
 * reported before a run pays for the steps ahead of it. A root is known when it is `input`,
 * `variables`, a node id, a root an `output_mapping` or `data_transform` writes, the item or index
 * of a loop around the node, or `error` at the error handler and after it. Any node id counts, not
 * only those that ran before: reading a node of another branch is legal (`default(big.v, small.v)`
 * after a `when`), so only a name that is nothing at all is taken for a typo.
 */
import type { WorkflowNode } from '../definition.js';
import { parsePath } from '../../expressions/data-paths.js';
import { isRecord } from './issue-collector.js';
import { loopBody } from './graph-rules.js';
import type { Graph } from './validation-graph.js';

/** An `output_schema` that names every property its object may have (`additionalProperties: false`). */
export interface ClosedSchema {
  readonly properties: readonly string[];
}

/** Where each node's expressions read from. */
export interface Scopes {
  /** Roots the expressions and templates of node `nodeId` may read, and conditions on edges leaving it. */
  rootsAt(nodeId: string): ReadonlySet<string>;
  /** Prompt nodes' closed output schemas by node id: a read of `id.json.field` is checked against them. */
  readonly schemas: ReadonlyMap<string, ClosedSchema>;
}

/** The item and index names a loop node binds in its body. */
export function loopVariables(node: WorkflowNode): string[] {
  const { as, index_as: indexAs } = node.config;
  return [typeof as === 'string' ? as : 'item', typeof indexAs === 'string' ? indexAs : 'index'];
}

/** The root of each context path a node writes (`output_mapping` keys of any node, `data_transform` keys). */
function writtenRoots(node: WorkflowNode): string[] {
  const roots: string[] = [];
  const c = node.config;
  for (const mapping of [c['output_mapping'], node.type === 'data_transform' ? c['mapping'] : undefined]) {
    if (!isRecord(mapping)) continue;
    for (const key of Object.keys(mapping)) {
      try {
        const root = parsePath(key)[0];
        if (typeof root === 'string') roots.push(root);
      } catch {
        // A malformed key is reported by the content rules.
      }
    }
  }
  return roots;
}

function closedSchema(node: WorkflowNode): ClosedSchema | undefined {
  const schema = node.config['output_schema'];
  if (node.type !== 'prompt_execution' || !isRecord(schema) || schema['additionalProperties'] !== false) return undefined;
  const properties = schema['properties'];
  if (!isRecord(properties) || schema['patternProperties'] !== undefined) return undefined;
  return { properties: Object.keys(properties) };
}

function reachableFrom(g: Graph, start: string): Set<string> {
  const seen = new Set([start]);
  const queue = [start];
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    for (const e of g.outgoing.get(id) ?? []) {
      if (!seen.has(e.value.target_node_id)) {
        seen.add(e.value.target_node_id);
        queue.push(e.value.target_node_id);
      }
    }
  }
  return seen;
}

/** Builds the {@link Scopes} of a graph once. */
export function buildScopes(g: Graph): Scopes {
  const base = new Set(['input', 'variables', ...g.knownIds]);
  const schemas = new Map<string, ClosedSchema>();
  for (const n of g.nodes) {
    for (const root of writtenRoots(n.value)) base.add(root);
    const schema = closedSchema(n.value);
    if (schema) schemas.set(n.value.id, schema);
  }
  const extra = new Map<string, string[]>();
  const bind = (ids: Iterable<string>, names: readonly string[]): void => {
    for (const id of ids) extra.set(id, [...(extra.get(id) ?? []), ...names]);
  };
  for (const n of g.nodes) if (n.value.type === 'loop') bind(loopBody(g, n.value.id), loopVariables(n.value));
  // The handler runs once a node failed, with the failure under `error`; so does what follows it.
  if (g.errorHandler !== undefined && g.byId.has(g.errorHandler)) bind(reachableFrom(g, g.errorHandler), ['error']);
  const cache = new Map<string, ReadonlySet<string>>();
  return {
    schemas,
    rootsAt(nodeId) {
      let roots = cache.get(nodeId);
      if (roots === undefined) {
        const names = extra.get(nodeId);
        roots = names === undefined ? base : new Set([...base, ...names]);
        cache.set(nodeId, roots);
      }
      return roots;
    },
  };
}
