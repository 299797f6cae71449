/**
 * Step-scoped LLM execution ids, and how the SQL storages keep those records with their step.
 *
 * An LLM call made by a workflow step gets an id that names its run and step path:
 * `<token>:<run id>:<step path>` (the token is unique on its own). The SQL storages store such a
 * record inside its step's row (the `calls` column) instead of in the `executions` table, because
 * that row is written in the same commit anyway: a commit then touches one B-tree page instead of
 * three (the step, the execution and the execution's index), which is most of the cost of a step
 * on SQLite. The id alone is enough to find the record again. Any other id, or a record whose run
 * or path does not match its id, goes to the `executions` table as before.
 */
import type { LlmExecutionRecord } from './records.js';

/** The id of an LLM call made at step `path` of run `runId`; `token` makes it unique. */
export function stepCallId(token: string, runId: string, path: string): string {
  return `${token}:${runId}:${path}`;
}

/** The run and step an id made by {@link stepCallId} names, or undefined for any other id. */
export function parseStepCallId(id: string): { readonly runId: string; readonly path: string } | undefined {
  const first = id.indexOf(':');
  if (first < 0) return undefined;
  const second = id.indexOf(':', first + 1);
  if (second < 0 || second === first + 1 || second === id.length - 1) return undefined;
  return { runId: id.slice(first + 1, second), path: id.slice(second + 1) };
}

/** True when `record` can live in its step's row: its id names exactly its own run and step. */
export function isStepScoped(record: LlmExecutionRecord): boolean {
  if (record.workflow_execution_id === undefined || record.step_path === undefined) return false;
  const named = parseStepCallId(record.id);
  return named !== undefined && named.runId === record.workflow_execution_id && named.path === record.step_path;
}

/** The step row that holds a step-scoped record: its keys and the node, which the stored text leaves out. */
export interface CallsRow {
  readonly run_id: string;
  readonly path: string;
  readonly node_id: string;
  readonly calls: string | null;
}

/**
 * A step-scoped id as a step row stores it: `:<token>` (the row holds the run and path), or the id
 * itself when it names another step. Old ids never start with `:`, so the two cannot be confused.
 */
export function compactCallId(id: string, runId: string, path: string): string {
  const named = parseStepCallId(id);
  return named !== undefined && named.runId === runId && named.path === path ? `:${id.slice(0, id.indexOf(':'))}` : id;
}

/** The id {@link compactCallId} stored, in full. */
export function expandCallId(stored: string, runId: string, path: string): string {
  return stored.startsWith(':') ? stepCallId(stored.slice(1), runId, path) : stored;
}

/**
 * Short keys of the stored call fields. A step row is written whole on every commit that touches
 * it, so every byte of it is paid in WAL pages; field names would be half of a short call.
 */
const SHORT: Readonly<Record<string, string>> = {
  id: 'i', status: 'st', provider_model: 'm', attempt: 'a', request: 'q', created_at: 't',
  started_at: 's', completed_at: 'c', duration_ms: 'd', response: 'r', usage: 'u', cost_usd: '$', error: 'e',
};
const LONG: Readonly<Record<string, string>> = Object.fromEntries(Object.entries(SHORT).map(([long, short]) => [short, long]));
/** The fields the row already holds. */
const ROW_FIELDS = new Set(['workflow_execution_id', 'step_path', 'workflow_node_id']);

/**
 * Records as the text appended to a step's `calls` cell: one JSON object a line, without what the row
 * already holds (run, path, node), with short field names, the id as its token, the idempotency key
 * after its `run:path:` prefix and the timestamps as offsets from `created_at`. Appending is plain
 * string concatenation in SQL, so a step's later attempts add to its earlier ones without reading them.
 */
export function encodeCalls(records: readonly LlmExecutionRecord[]): string {
  let text = '';
  for (const record of records) {
    const run = record.workflow_execution_id ?? '';
    const path = record.step_path ?? '';
    const stored: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(record)) {
      if (value === undefined || ROW_FIELDS.has(field)) continue;
      if (field === 'id') stored.i = compactCallId(record.id, run, path);
      else if (field === 'idempotency_key') {
        const prefix = `${run}:${path}:`;
        if (typeof value === 'string' && value.startsWith(prefix)) stored.k = value.slice(prefix.length);
        else stored.K = value;
      } else if ((field === 'started_at' || field === 'completed_at') && Number.isInteger(value) && Number.isInteger(record.created_at)) {
        // An offset only between integers: with fractions, (a - b) + b need not give back a.
        stored[SHORT[field]!] = (value as number) - record.created_at;
      } else if (field === 'started_at' || field === 'completed_at') stored[field] = value;
      else stored[SHORT[field] ?? field] = value;
    }
    text += `${JSON.stringify(stored)}\n`;
  }
  return text;
}

/** The records of a step row's `calls` cell; a record written twice (same id) counts once, the last write winning. */
export function decodeCalls(row: CallsRow): LlmExecutionRecord[] {
  if (row.calls === null || row.calls === '') return [];
  const byId = new Map<string, LlmExecutionRecord>();
  for (const line of row.calls.split('\n')) {
    if (line === '') continue;
    const stored = JSON.parse(line) as Record<string, unknown>;
    const created = stored.t as number;
    // Field order as the engine builds records, so a record reads back deep-equal and in the same order.
    const record: Record<string, unknown> = {
      id: expandCallId(stored.i as string, row.run_id, row.path),
      status: stored.st,
      provider_model: stored.m,
      workflow_execution_id: row.run_id,
      workflow_node_id: row.node_id,
      step_path: row.path,
    };
    for (const [key, value] of Object.entries(stored)) {
      if (key === 'i' || key === 'st' || key === 'm') continue;
      if (key === 'k') record.idempotency_key = `${row.run_id}:${row.path}:${value as string}`;
      else if (key === 'K') record.idempotency_key = value;
      else if (key === 's' || key === 'c') record[LONG[key]!] = created + (value as number);
      else record[LONG[key] ?? key] = value;
    }
    const id = record.id as string;
    byId.delete(id);
    byId.set(id, record as unknown as LlmExecutionRecord);
  }
  return [...byId.values()];
}

/** Splits a commit's records into those stored with a step of the commit (same path and node) and the rest. */
export function attachCalls(
  runId: string,
  steps: readonly { readonly path: string; readonly node_id: string }[],
  records: readonly LlmExecutionRecord[] | undefined,
): { readonly byPath: Map<string, string>; readonly rest: LlmExecutionRecord[] } {
  const byPath = new Map<string, string>();
  const rest: LlmExecutionRecord[] = [];
  if (records === undefined || records.length === 0) return { byPath, rest };
  const nodeByPath = new Map(steps.map((step) => [step.path, step.node_id]));
  for (const record of records) {
    if (record.workflow_execution_id === runId && isStepScoped(record) && record.workflow_node_id !== undefined && nodeByPath.get(record.step_path!) === record.workflow_node_id) {
      byPath.set(record.step_path!, (byPath.get(record.step_path!) ?? '') + encodeCalls([record]));
    } else {
      rest.push(record);
    }
  }
  return { byPath, rest };
}

/** Orders execution records as `listExecutions` promises: by `created_at`, then id. */
export function byCreation(a: LlmExecutionRecord, b: LlmExecutionRecord): number {
  return a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
