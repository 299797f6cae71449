/**
 * The graph the validation rules read, built once from the parsed workflow or, when its shape is
 * invalid, from the nodes and edges that still parse, so the graph rules run on the valid part.
 */
import type { z } from 'zod';
import { definitionSchemas, type WorkflowDefinition, type WorkflowEdge, type WorkflowNode } from '../definition.js';
import { isRecord, type Indexed } from './issue-collector.js';

/** Everything the graph rules read, built once. */
export interface Graph {
  readonly nodes: readonly Indexed<WorkflowNode>[];
  readonly edges: readonly Indexed<WorkflowEdge>[];
  readonly byId: ReadonlyMap<string, Indexed<WorkflowNode>>;
  /** Ids present in the input, including nodes whose shape was invalid: edges to them are not dangling. */
  readonly knownIds: ReadonlySet<string>;
  /** Whether any input node, valid or not, has type `start`. */
  readonly hasRawStart: boolean;
  readonly outgoing: ReadonlyMap<string, Indexed<WorkflowEdge>[]>;
  readonly incoming: ReadonlyMap<string, Indexed<WorkflowEdge>[]>;
  readonly variables: ReadonlySet<string>;
  readonly errorHandler: string | undefined;
}

/** Keeps the items of an array that pass `schema`, so graph rules still run on the valid part. */
function salvage<T>(items: unknown, schema: z.ZodType<T>): Indexed<T>[] {
  if (!Array.isArray(items)) return [];
  const out: Indexed<T>[] = [];
  items.forEach((item, index) => {
    const parsed = schema.safeParse(item);
    if (parsed.success) out.push({ value: parsed.data, index });
  });
  return out;
}

/** Builds the {@link Graph} from the parsed workflow, or salvages it from the raw input when `parsed` is undefined. */
export function buildGraph(raw: unknown, parsed: WorkflowDefinition | undefined): Graph {
  const def = isRecord(raw) && isRecord(raw['definition']) ? raw['definition'] : {};
  const { WorkflowNodeSchema, WorkflowEdgeSchema, WorkflowVariableSchema } = definitionSchemas();
  const nodes = parsed
    ? parsed.definition.nodes.map((value, index) => ({ value, index }))
    : salvage(def['nodes'], WorkflowNodeSchema);
  const edges = parsed
    ? parsed.definition.edges.map((value, index) => ({ value, index }))
    : salvage(def['edges'], WorkflowEdgeSchema);
  const variables = parsed ? parsed.definition.variables : salvage(def['variables'], WorkflowVariableSchema).map((v) => v.value);
  const rawNodes: unknown[] = Array.isArray(def['nodes']) ? (def['nodes'] as unknown[]) : [];
  const knownIds = new Set<string>();
  for (const n of rawNodes) if (isRecord(n) && typeof n['id'] === 'string') knownIds.add(n['id']);
  const hasRawStart = rawNodes.some((n) => isRecord(n) && n['type'] === 'start');

  const byId = new Map<string, Indexed<WorkflowNode>>();
  for (const n of nodes) if (!byId.has(n.value.id)) byId.set(n.value.id, n);
  const outgoing = new Map<string, Indexed<WorkflowEdge>[]>();
  const incoming = new Map<string, Indexed<WorkflowEdge>[]>();
  for (const e of edges) {
    outgoing.set(e.value.source_node_id, [...(outgoing.get(e.value.source_node_id) ?? []), e]);
    incoming.set(e.value.target_node_id, [...(incoming.get(e.value.target_node_id) ?? []), e]);
  }
  const settings = parsed ? parsed.definition.settings : isRecord(def['settings']) ? def['settings'] : undefined;
  const handler = settings?.['error_handler_node_id'];
  return {
    nodes,
    edges,
    byId,
    knownIds,
    hasRawStart,
    outgoing,
    incoming,
    variables: new Set(variables.map((v) => v.name)),
    errorHandler: typeof handler === 'string' ? handler : undefined,
  };
}
