/**
 * Where validation collects its issues: a {@link Collector} that names the node or edge of each
 * problem, and the translation of zod's shape issues into the same form.
 */
import type { z } from 'zod';
import type { WorkflowEdge, WorkflowNode } from '../definition.js';
import type { ValidationIssue } from '../../kernel/errors.js';

/** A path inside the workflow JSON, as in {@link ValidationIssue.path}. */
export type Path = readonly (string | number)[];
type Issue = { -readonly [K in keyof ValidationIssue]: ValidationIssue[K] };

/** A node or edge with its index in the source array, for issue paths. */
export interface Indexed<T> {
  readonly value: T;
  readonly index: number;
}

/** Gathers every issue (validation never stops at the first), with paths under `definition`. */
export class Collector {
  readonly issues: Issue[] = [];
  add(code: string, message: string, path: Path, ids: { nodeId?: string; edgeId?: string } = {}): void {
    this.issues.push({ code, message, path: [...path], ...ids });
  }
  node(node: Indexed<WorkflowNode>, code: string, message: string, sub: Path = []): void {
    this.add(code, message, ['definition', 'nodes', node.index, ...sub], { nodeId: node.value.id });
  }
  edge(edge: Indexed<WorkflowEdge>, code: string, message: string, sub: Path = []): void {
    this.add(code, message, ['definition', 'edges', edge.index, ...sub], { edgeId: edge.value.id });
  }
}

/** Renders `['config', 'fallback', 0]` as `config.fallback[0]` for messages. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
}

/** A plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Describes where a zod issue sits, naming the node or edge when it is inside one. */
function describeLocation(raw: unknown, path: readonly PropertyKey[]): { where: string; nodeId?: string; edgeId?: string } {
  const graph = isRecord(raw) && isRecord(raw['definition']) ? raw['definition'] : undefined;
  const [root, list, index, ...rest] = path;
  if (root === 'definition' && (list === 'nodes' || list === 'edges') && typeof index === 'number') {
    const item: unknown = Array.isArray(graph?.[list]) ? (graph[list] as unknown[])[index] : undefined;
    const id = isRecord(item) && typeof item['id'] === 'string' ? item['id'] : undefined;
    const kind = list === 'nodes' ? 'Node' : 'Edge';
    const field = rest.length ? ` field "${formatPath(rest)}"` : '';
    const label = id === undefined ? `${kind} #${index}` : `${kind} "${id}"`;
    const ids = id === undefined ? {} : list === 'nodes' ? { nodeId: id } : { edgeId: id };
    return { where: `${label}${field}`, ...ids };
  }
  return { where: path.length ? `Field "${formatPath(path)}"` : 'The workflow' };
}

/**
 * Adds one `invalid_schema` issue per zod issue, naming the node or edge it sits in. `suggested`
 * holds the paths of missing keys an unknown key was already reported as meaning (`max_attemps`
 * for `max_attempts`): one issue says it better than two.
 */
export function schemaIssues(raw: unknown, error: z.ZodError, out: Collector, suggested: ReadonlySet<string> = new Set()): void {
  for (const issue of error.issues) {
    if (issue.code === 'invalid_type' && suggested.has(issue.path.join('.'))) continue;
    const { where, ...ids } = describeLocation(raw, issue.path);
    out.add('invalid_schema', `${where}: ${issue.message}.`, issue.path as Path, ids);
  }
}
