/**
 * Configs of host-registered node types: each node whose type has a registered config schema is
 * checked against it, and every problem is reported like the built-in config rules do
 * (`invalid_config`, with the path into the node's config). The schemas come in as data, so the
 * definition layer never needs to know the node handlers.
 */
import type { ZodType } from 'zod';
import { formatPath, type Collector, type Path } from './issue-collector.js';
import type { Graph } from './validation-graph.js';

/** Checks each node's config against the schema registered for its type, if any. */
export function checkRegisteredConfigs(g: Graph, schemas: ReadonlyMap<string, ZodType> | undefined, out: Collector): void {
  if (schemas === undefined || schemas.size === 0) return;
  for (const n of g.nodes) {
    const { id, type, config } = n.value;
    const schema = schemas.get(type);
    if (schema === undefined) continue;
    // A built-in type whose config already broke the definition's schema is reported once.
    if (out.issues.some((issue) => issue.code === 'invalid_config' && issue.nodeId === id)) continue;
    const result = schema.safeParse(config);
    if (result.success) continue;
    for (const issue of result.error.issues) {
      // A strict schema's unknown keys are reported by unknown-keys.ts, with a hint.
      if (issue.code === 'unrecognized_keys') continue;
      const field = issue.path.length ? ` "${formatPath(issue.path)}"` : '';
      out.node(n, 'invalid_config', `Node "${id}" (${type}) has an invalid config${field}: ${issue.message}.`, ['config', ...(issue.path as Path)]);
    }
  }
}
