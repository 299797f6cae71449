/**
 * Step-scoped LLM execution ids, and how the SQL storages keep those records with their step.
 *
 * An LLM call made by a workflow step gets an id that names its run and step path:
 * `<token>:<run id>:<step path>` (the token is unique on its own). The SQL storages store such a
 * record with its step (PostgreSQL in the step row's `calls` column, SQLite in the step's line of
 * its log entry) instead of in the `executions` table, because the step is written in the same
 * commit anyway: a commit then touches no execution table or index. The id alone is enough to find
 * the record again. Any other id, or a record whose run or path does not match its id, goes to the
 * `executions` table as before.
 */
import type { Json } from '../kernel/json.js';
import type { ModelCallRecord } from './records.js';
import { jsonText, numberText, stringText } from './json-text.js';
import { parseStepCallId, stepCallId } from '../kernel/call-ids.js';

/** True when `record` can live with its step: its id names exactly its own run and step. */
export function isStepScoped(record: ModelCallRecord): boolean {
  return record.workflow_execution_id !== undefined && record.step_path !== undefined && tokenOf(record.id, record.workflow_execution_id, record.step_path) !== undefined;
}

/** The step row that holds a step-scoped record: its keys and the node, which the stored text leaves out. */
export interface CallsRow {
  readonly run_id: string;
  readonly path: string;
  readonly node_id: string;
  readonly calls: string | null;
}

/**
 * The token of `id` when `id` is `stepCallId(token, runId, path)` and reads back as that run and
 * path through {@link parseStepCallId} (so a run id with a colon never counts); else undefined.
 * The one test of step scope. Allocates nothing when it fails.
 */
function tokenOf(id: string, runId: string, path: string): string | undefined {
  const colon = id.length - path.length - runId.length - 2;
  if (colon <= 0 || runId === '' || path === '') return undefined;
  if (id.indexOf(':') !== colon || id.indexOf(':', colon + 1) !== colon + runId.length + 1) return undefined;
  if (!id.startsWith(runId, colon + 1) || !id.endsWith(path)) return undefined;
  return id.slice(0, colon);
}

/**
 * A step-scoped id as a step row stores it: `:<token>` (the row holds the run and path), or the id
 * itself when it names another step. Old ids never start with `:`, so the two cannot be confused.
 */
export function compactCallId(id: string, runId: string, path: string): string {
  const token = tokenOf(id, runId, path);
  return token === undefined ? id : `:${token}`;
}

/** The id {@link compactCallId} stored, in full. */
export function expandCallId(stored: string, runId: string, path: string): string {
  return stored.startsWith(':') ? stepCallId(stored.slice(1), runId, path) : stored;
}

/**
 * The shapes the engine gives a call's request, response and usage. Stored as arrays of their
 * values (`Q`, `R`, `U`) when a value has exactly these keys in this order, which spares the key
 * names in every row; any other shape is stored as it is (`q`, `r`, `u`).
 */
const REQUEST_KEYS = ['seq', 'model', 'prompt', 'options'] as const;
const RESPONSE_KEYS = ['text', 'finish_reason', 'model'] as const;
const USAGE_KEYS = ['input_tokens', 'output_tokens'] as const;

/** Whether `value` is a plain object with exactly `keys`, in that order. Allocates nothing. */
function hasExactly(value: Json | undefined, keys: readonly string[]): value is { [key: string]: Json } {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  let i = 0;
  for (const key in value) {
    if (key !== keys[i] || value[key] === undefined) return false;
    i++;
  }
  return i === keys.length;
}

/** `value`'s values for `keys`, as JSON array text (what `JSON.stringify(valuesOf(...))` gives, without the array). */
function valuesJson(value: { [key: string]: Json }, keys: readonly string[]): string {
  let text = '[';
  for (let i = 0; i < keys.length; i++) text += (i === 0 ? '' : ',') + jsonText(value[keys[i]!]);
  return `${text}]`;
}

function objectOf(keys: readonly string[], values: readonly Json[]): Json {
  const value: { [key: string]: Json } = {};
  for (let i = 0; i < keys.length; i++) value[keys[i]!] = values[i]!;
  return value;
}

/** Stored short key → record field (see {@link encodeCall}). */
const LONG: Readonly<Record<string, string>> = {
  i: 'id', st: 'status', m: 'provider_model', a: 'attempt', q: 'request', t: 'created_at',
  s: 'started_at', c: 'completed_at', d: 'duration_ms', r: 'response', u: 'usage', $: 'cost_usd', e: 'error',
};

/**
 * A record as the line stored with its step (appended to a PostgreSQL step row's `calls` cell, or
 * in the step's line of a SQLite log entry): one JSON object, without what the step already holds
 * (run, path, node), with short field names (every byte is paid in WAL pages), the id as its token,
 * the idempotency key after its `run:path:` prefix and the timestamps as offsets from
 * `created_at`. A step's later attempts add lines to its earlier ones without reading them. Built
 * field by field: this runs for every LLM step.
 */
function encodeCall(record: ModelCallRecord, token: string): string {
  const run = record.workflow_execution_id ?? '';
  const path = record.step_path ?? '';
  const created = record.created_at;
  // Offsets only between integers: with fractions, (a - b) + b need not give back a.
  const offsets = Number.isInteger(created);
  // The line is written directly rather than as an object for JSON.stringify, which costs more.
  let line = `{"i":${stringText(`:${token}`)},"st":${stringText(record.status)},"m":${stringText(record.provider_model)}`;
  if (record.attempt !== undefined) line += `,"a":${numberText(record.attempt)}`;
  const key = record.idempotency_key;
  if (key !== undefined) {
    if (key.length > run.length + path.length + 2 && key.startsWith(run) && key.charCodeAt(run.length) === 58 && key.startsWith(path, run.length + 1) && key.charCodeAt(run.length + path.length + 1) === 58) {
      line += `,"k":${jsonText(key.slice(run.length + path.length + 2))}`;
    } else {
      line += `,"K":${jsonText(key)}`;
    }
  }
  line += hasExactly(record.request, REQUEST_KEYS) ? `,"Q":${valuesJson(record.request, REQUEST_KEYS)}` : `,"q":${jsonText(record.request)}`;
  line += `,"t":${numberText(created)}`;
  if (record.started_at !== undefined) line += offsets && Number.isInteger(record.started_at) ? `,"s":${numberText(record.started_at - created)}` : `,"started_at":${numberText(record.started_at)}`;
  if (record.completed_at !== undefined) line += offsets && Number.isInteger(record.completed_at) ? `,"c":${numberText(record.completed_at - created)}` : `,"completed_at":${numberText(record.completed_at)}`;
  if (record.duration_ms !== undefined) line += `,"d":${numberText(record.duration_ms)}`;
  if (hasExactly(record.response, RESPONSE_KEYS)) line += `,"R":${valuesJson(record.response, RESPONSE_KEYS)}`;
  else if (record.response !== undefined) line += `,"r":${jsonText(record.response)}`;
  if (hasExactly(record.usage, USAGE_KEYS)) line += `,"U":${valuesJson(record.usage, USAGE_KEYS)}`;
  else if (record.usage !== undefined) line += `,"u":${jsonText(record.usage)}`;
  if (record.cost_usd !== undefined) line += `,"$":${numberText(record.cost_usd)}`;
  if (record.error !== undefined) line += `,"e":${jsonText(record.error)}`;
  return `${line}}`;
}

/** The records of a step row's `calls` cell; a record written twice (same id) counts once, the last write winning. */
export function decodeCalls(row: CallsRow): ModelCallRecord[] {
  if (row.calls === null || row.calls === '') return [];
  const lines: Record<string, unknown>[] = [];
  for (const line of row.calls.split('\n')) if (line !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
  return decodeCallLines(row, lines);
}

/** The records of a step's call lines, already parsed (see {@link decodeCalls}). */
export function decodeCallLines(step: Omit<CallsRow, 'calls'>, lines: readonly Record<string, unknown>[]): ModelCallRecord[] {
  const records: ModelCallRecord[] = [];
  for (const stored of lines) {
    const created = stored.t as number;
    // Field order as the engine builds records, so a record reads back deep-equal and in the same order.
    const record: Record<string, unknown> = {
      id: expandCallId(stored.i as string, step.run_id, step.path),
      status: stored.st,
      provider_model: stored.m,
      workflow_execution_id: step.run_id,
      workflow_node_id: step.node_id,
      step_path: step.path,
    };
    for (const [key, value] of Object.entries(stored)) {
      if (key === 'i' || key === 'st' || key === 'm') continue;
      if (key === 'k') record.idempotency_key = `${step.run_id}:${step.path}:${value as string}`;
      else if (key === 'K') record.idempotency_key = value;
      else if (key === 's' || key === 'c') record[LONG[key]!] = created + (value as number);
      else if (key === 'Q') record.request = objectOf(REQUEST_KEYS, value as Json[]);
      else if (key === 'R') record.response = objectOf(RESPONSE_KEYS, value as Json[]);
      else if (key === 'U') record.usage = objectOf(USAGE_KEYS, value as Json[]);
      else record[LONG[key] ?? key] = value;
    }
    records.push(record as unknown as ModelCallRecord);
  }
  return lastWrites(records);
}

/** Records written in order, each id once: its last write, where that write stands. */
export function lastWrites(records: readonly ModelCallRecord[]): ModelCallRecord[] {
  const byId = new Map<string, ModelCallRecord>();
  for (const record of records) {
    byId.delete(record.id);
    byId.set(record.id, record);
  }
  return [...byId.values()];
}

/**
 * Splits a commit's records into those stored with a step of the commit (same path and node) and
 * the rest. A step's records are its stored lines, each followed by `terminator`: a newline for a
 * `calls` cell, a comma for the step log, which makes them a JSON array.
 */
export function attachCalls(
  runId: string,
  steps: readonly { readonly path: string; readonly node_id: string }[],
  records: readonly ModelCallRecord[] | undefined,
  terminator: '\n' | ',' = '\n',
): { readonly byPath: Map<string, string>; readonly rest: ModelCallRecord[] } {
  const byPath = new Map<string, string>();
  const rest: ModelCallRecord[] = [];
  if (records === undefined || records.length === 0) return { byPath, rest };
  const nodeByPath = new Map<string, string>();
  for (const step of steps) nodeByPath.set(step.path, step.node_id);
  for (const record of records) {
    const path = record.step_path;
    const token = record.workflow_execution_id === runId && path !== undefined ? tokenOf(record.id, runId, path) : undefined;
    if (token !== undefined && record.workflow_node_id !== undefined && nodeByPath.get(path!) === record.workflow_node_id) {
      byPath.set(path!, (byPath.get(path!) ?? '') + encodeCall(record, token) + terminator);
    } else {
      rest.push(record);
    }
  }
  return { byPath, rest };
}
