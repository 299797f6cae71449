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
 * Records as the text appended to a step's `calls` cell: one JSON line each, without the fields the
 * row already holds (run, path, node). Appending is plain string concatenation in SQL, so a step's
 * later attempts add to its earlier ones without reading them.
 */
export function encodeCalls(records: readonly LlmExecutionRecord[]): string {
  let text = '';
  for (const record of records) {
    const { workflow_execution_id: _run, step_path: _path, workflow_node_id: _node, ...rest } = record;
    text += `${JSON.stringify(rest)}\n`;
  }
  return text;
}

/** The records of a step row's `calls` cell; a record written twice (same id) counts once, the last write winning. */
export function decodeCalls(row: CallsRow): LlmExecutionRecord[] {
  if (row.calls === null || row.calls === '') return [];
  const byId = new Map<string, LlmExecutionRecord>();
  for (const line of row.calls.split('\n')) {
    if (line === '') continue;
    const stored = JSON.parse(line) as Omit<LlmExecutionRecord, 'workflow_execution_id' | 'step_path' | 'workflow_node_id'>;
    const { id, status, provider_model, ...rest } = stored;
    byId.delete(id);
    // Field order as the engine builds records, so a record reads back deep-equal to what was written.
    byId.set(id, { id, status, provider_model, workflow_execution_id: row.run_id, workflow_node_id: row.node_id, step_path: row.path, ...rest });
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
