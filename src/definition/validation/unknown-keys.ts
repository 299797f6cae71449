/**
 * Unknown keys, at every level of the definition. zod drops (or, for node configs, keeps) keys a
 * schema does not name, so a misspelt `output_shema` used to switch structured output off without
 * a word. Each key is checked against the keys its place may hold, read from the very schemas that
 * check the shape, and reported with the key it probably meant, or where it belongs when it is a
 * key of another level (`temperature` in a prompt's config belongs under `options`).
 */
import type { ZodType } from 'zod';
import { BUILTIN_NODE_TYPES, definitionSchemas } from '../definition.js';
import { triggerConfigSchemas } from '../trigger-configs.js';
import { didYouMean } from '../../kernel/did-you-mean.js';
import { isRecord, type Collector, type Path } from './issue-collector.js';

/** The keys an object may hold; `open` when it accepts any other key too. */
interface Keys {
  readonly keys: readonly string[];
  readonly open: boolean;
}

/** One place checked: what it is called in messages and which node or edge it belongs to. */
interface Place {
  readonly label: string;
  readonly path: Path;
  readonly ids?: { nodeId?: string; edgeId?: string };
  /** Where keys of other levels belong, e.g. `temperature` → `under "config.options"`. */
  readonly elsewhere?: ReadonlyMap<string, string>;
}

/** Generation options people put next to `template` instead of under `options`. */
const GENERATION_OPTIONS = ['temperature', 'max_tokens', 'top_p', 'top_k', 'stop', 'seed', 'presence_penalty', 'frequency_penalty'];
const BUILTIN: ReadonlySet<string> = new Set(BUILTIN_NODE_TYPES);

/** The keys of a zod object schema, looking through optional/default wrappers; undefined for anything else. */
export function objectKeys(schema: unknown): Keys | undefined {
  let current = schema;
  for (let depth = 0; depth < 8; depth++) {
    const def = (current as { _zod?: { def?: Record<string, unknown> } } | undefined)?._zod?.def;
    if (def === undefined) return undefined;
    if (def['type'] === 'object') {
      const catchall = (def['catchall'] as { _zod?: { def?: { type?: string } } } | undefined)?._zod?.def?.type;
      // No catchall is zod's default "strip": the schema names every key it means.
      return { keys: Object.keys(def['shape'] as object), open: catchall !== undefined && catchall !== 'never' };
    }
    current = def['innerType'] ?? (def['type'] === 'pipe' ? def['in'] : undefined);
  }
  return undefined;
}

function keysOf(schema: unknown): readonly string[] {
  return objectKeys(schema)?.keys ?? [];
}

/** Suggestions applied: `path.key` of each missing key an unknown key probably meant, to drop zod's "missing" issue. */
export type Suggested = Set<string>;

function check(value: unknown, keys: readonly string[], place: Place, out: Collector, suggested: Suggested): void {
  if (!isRecord(value)) return;
  const known = new Set(keys);
  for (const key of Object.keys(value)) {
    if (known.has(key)) continue;
    const elsewhere = place.elsewhere?.get(key);
    const hint = elsewhere === undefined ? didYouMean(key, keys) : undefined;
    let message = `${place.label} has an unknown key "${key}"`;
    if (elsewhere !== undefined) message += `: it belongs ${elsewhere}`;
    else if (hint !== undefined) message += `; did you mean "${hint}"?`;
    else message += keys.length ? ` (known keys: ${keys.join(', ')})` : ' (it takes no keys)';
    if (hint !== undefined && value[hint] === undefined) suggested.add([...place.path, hint].join('.'));
    out.add('unknown_key', message.endsWith('?') ? message : `${message}.`, [...place.path, key], place.ids);
  }
}

function nameOf(item: unknown, field: string, index: number, kind: string): string {
  const name = isRecord(item) ? item[field] : undefined;
  return typeof name === 'string' ? `${kind} "${name}"` : `${kind} #${index}`;
}

function elsewhere(entries: Iterable<readonly [string, string]>): Map<string, string> {
  return new Map(entries);
}

function checkNode(
  node: unknown,
  index: number,
  configSchemas: ReadonlyMap<string, ZodType> | undefined,
  out: Collector,
  suggested: Suggested,
): void {
  if (!isRecord(node)) return;
  const s = definitionSchemas();
  const id = typeof node['id'] === 'string' ? node['id'] : undefined;
  const type = typeof node['type'] === 'string' ? node['type'] : undefined;
  const label = id === undefined ? `Node #${index}` : `Node "${id}"`;
  const path: Path = ['definition', 'nodes', index];
  const ids = id === undefined ? {} : { nodeId: id };
  const nodeKeys = keysOf(s.WorkflowNodeSchema);
  const config = type === undefined ? undefined : configKeys(type, configSchemas);
  const configHome = elsewhere((config?.keys ?? []).filter((k) => !nodeKeys.includes(k)).map((k) => [k, `inside "config"`] as const));
  check(node, nodeKeys, { label, path, ids, elsewhere: configHome }, out, suggested);
  check(node['position'], keysOf(s.WorkflowNodeSchema.shape.position), { label: `${label} position`, path: [...path, 'position'], ids }, out, suggested);
  check(node['retry_policy'], keysOf(s.RetryPolicySchema), { label: `${label} retry_policy`, path: [...path, 'retry_policy'], ids }, out, suggested);
  if (config === undefined || config.open) return;
  const misplaced: [string, string][] = nodeKeys.filter((k) => !config.keys.includes(k)).map((k) => [k, `on the node, next to "config", not inside it`]);
  if (type === 'prompt_execution') for (const k of GENERATION_OPTIONS) misplaced.push([k, `under "config.options" (generation options: "options": { "${k}": ... })`]);
  check(node['config'], config.keys, { label: `${label} (${type}) config`, path: [...path, 'config'], ids, elsewhere: elsewhere(misplaced) }, out, suggested);
}

/**
 * The keys a node type's config may hold: a built-in type's own (plus those of a handler that
 * replaces it); a registered type's `configSchema` when it is a zod object, open when that schema
 * accepts other keys (`.loose()`, `.catchall()`); undefined (not checked) when the type has no such schema.
 */
function configKeys(type: string, configSchemas: ReadonlyMap<string, ZodType> | undefined): Keys | undefined {
  const registered = objectKeys(configSchemas?.get(type));
  if (!BUILTIN.has(type)) return registered;
  const builtin = keysOf(definitionSchemas().NODE_CONFIG_SCHEMAS[type as keyof ReturnType<typeof definitionSchemas>['NODE_CONFIG_SCHEMAS']]);
  // Built-in configs are declared loose (so extensions compose) but name every key they read.
  return { keys: [...new Set([...builtin, ...(registered?.keys ?? [])])], open: false };
}

function checkTrigger(trigger: unknown, index: number, out: Collector, suggested: Suggested): void {
  if (!isRecord(trigger)) return;
  const label = nameOf(trigger, 'id', index, 'Trigger');
  const path: Path = ['definition', 'triggers', index];
  check(trigger, keysOf(definitionSchemas().WorkflowTriggerSchema), { label, path }, out, suggested);
  const type = trigger['type'];
  const schemas = triggerConfigSchemas();
  if (type === 'manual') check(trigger['config'], [], { label: `${label} (manual) config`, path: [...path, 'config'] }, out, suggested);
  else if (typeof type === 'string' && Object.hasOwn(schemas, type)) {
    const keys = keysOf(schemas[type as keyof typeof schemas]);
    check(trigger['config'], keys, { label: `${label} (${type}) config`, path: [...path, 'config'] }, out, suggested);
  }
}

/**
 * Reports every key the definition does not know (issue `unknown_key`), at every level: the
 * workflow, its `definition`, nodes (their `position`, `retry_policy` and `config` by node type),
 * edges, variables, triggers (and their config by type) and settings (their `retry_policy` and
 * `budget`). Prompt `options` pass through to the provider and are not checked. Returns the keys
 * the hints named, so a "missing" issue for the same key is not reported twice.
 */
export function checkUnknownKeys(raw: unknown, configSchemas: ReadonlyMap<string, ZodType> | undefined, out: Collector): Suggested {
  const suggested: Suggested = new Set();
  const s = definitionSchemas();
  const topKeys = keysOf(s.WorkflowSchema);
  const graphKeys = keysOf(s.WorkflowGraphSchema);
  const settingsKeys = keysOf(s.WorkflowSettingsSchema);
  const underDefinition = elsewhere(graphKeys.map((k) => [k, `inside "definition"`] as const));
  check(raw, topKeys, { label: 'The workflow', path: [], elsewhere: underDefinition }, out, suggested);
  if (!isRecord(raw) || !isRecord(raw['definition'])) return suggested;
  const graph = raw['definition'];
  const graphHome = elsewhere([
    ...topKeys.filter((k) => k !== 'definition').map((k) => [k, 'at the top level of the workflow, next to "definition"'] as const),
    ...settingsKeys.map((k) => [k, 'inside "definition.settings"'] as const),
  ]);
  check(graph, graphKeys, { label: 'definition', path: ['definition'], elsewhere: graphHome }, out, suggested);
  const list = (name: string): unknown[] => (Array.isArray(graph[name]) ? (graph[name] as unknown[]) : []);
  list('nodes').forEach((node, i) => checkNode(node, i, configSchemas, out, suggested));
  list('edges').forEach((edge, i) => {
    const edgeId = isRecord(edge) && typeof edge['id'] === 'string' ? edge['id'] : undefined;
    const ids = edgeId === undefined ? {} : { edgeId };
    check(edge, keysOf(s.WorkflowEdgeSchema), { label: nameOf(edge, 'id', i, 'Edge'), path: ['definition', 'edges', i], ids }, out, suggested);
  });
  list('variables').forEach((v, i) => check(v, keysOf(s.WorkflowVariableSchema), { label: nameOf(v, 'name', i, 'Variable'), path: ['definition', 'variables', i] }, out, suggested));
  list('triggers').forEach((t, i) => checkTrigger(t, i, out, suggested));
  const settings = graph['settings'];
  check(settings, settingsKeys, { label: 'settings', path: ['definition', 'settings'] }, out, suggested);
  if (isRecord(settings)) {
    check(settings['retry_policy'], keysOf(s.RetryPolicySchema), { label: 'settings.retry_policy', path: ['definition', 'settings', 'retry_policy'] }, out, suggested);
    check(settings['budget'], keysOf(s.WorkflowSettingsSchema.shape.budget), { label: 'settings.budget', path: ['definition', 'settings', 'budget'] }, out, suggested);
  }
  return suggested;
}
