/**
 * Row <-> record mapping for the SQL storages. Every record field is its own column of the same name;
 * SQL NULL means "field absent" (so JSON `null` is stored as the JSON text `null`, never as SQL NULL),
 * which makes records round-trip exactly, with absent optional fields staying absent. Text a user or
 * a model sends (JSON values, and the `free` text columns) is escaped so that NUL and lone
 * surrogates survive PostgreSQL and UTF-8 drivers (see odd-text.ts); keys, ids and statuses are not.
 */
import { sql, type AliasedRawBuilder } from 'kysely';
import { TrellisError, isTrellisError } from '../../kernel/errors.js';
import type { RunStatus, StepRecord } from '../records.js';
import type { RunPatch } from '../storage.js';
import { RUN_PATCH_FIELDS, type ExpectationTarget } from '../storage-helpers.js';
import type { Cell, SqlDialectName, SqlRow } from './sql-schema.js';
import { largeOutput, type BlobRow } from './sql-options.js';
import { compactCallId, expandCallId } from '../step-calls.js';
import { escapeJsonText, escapeText, parseEscapedJson, unescapeText } from '../odd-text.js';

/** `text` holds keys, ids and names the engine makes; `free` any text a user or a model sends (escaped). */
type ColumnKind = 'text' | 'free' | 'num' | 'json' | 'bool';

/** One column: its name (equal to the record field) and how its value is stored. */
export interface ColumnSpec {
  readonly name: string;
  readonly kind: ColumnKind;
}

const KINDS: Record<string, ColumnKind> = { t: 'text', f: 'free', n: 'num', j: 'json', b: 'bool' };

/** Parses `"id name:j count:n"` (default kind text) into column specs. */
function columns(list: string): readonly ColumnSpec[] {
  return list.split(/\s+/).map((entry) => {
    const [name = '', kind = 't'] = entry.split(':');
    return { name, kind: KINDS[kind] ?? 'text' };
  });
}

/** Columns of each table, in a fixed order (the SQLite storage binds them positionally). */
export const COLUMNS = {
  runs: columns(
    'id workflow_id workflow_version:n status input_data:j variables:j output_data:j error_message:f created_at:n started_at:n ' +
      'completed_at:n owner lease_expires_at:n revision:n recovery_count:n parent_id parent_step_path trigger:j idempotency_key:f usage:j ' +
      'retry_of discarded_at:n trace_context:f breakpoints:j',
  ),
  steps: columns(
    'run_id path node_id seq:n status attempt:n input_data:j output_data:j fired:j state:j error:j waiter:j execution_id ' +
      'started_at:n completed_at:n duration_ms:n',
  ),
  workflows: columns('id version:n name:f status tags:j definition:j created_at:n deleted:b'),
  prompts: columns('id version:n name:f template:f system:f variables:j provider_model created_at:n'),
  executions: columns(
    'id status provider_model workflow_execution_id workflow_node_id step_path attempt:n idempotency_key request:j response:j ' +
      'usage:j cost_usd:n error:j created_at:n started_at:n completed_at:n duration_ms:n',
  ),
  bundles: columns('id target:j status items:j created_at:n completed_at:n'),
  audit: columns('id at:n actor:f action subject_type subject_id:f before_version:n after_version:n detail:j'),
} as const;

/**
 * Step columns that are not record fields: the timer index, the large-output reference, the awaited
 * event, and the step's LLM calls (appended to, never replaced: see step-calls.ts).
 */
export const STEP_EXTRA_COLUMNS = ['due_at', 'output_ref', 'wait_event', 'calls'] as const;

/** The step column a commit appends to rather than overwrites. */
export const STEP_CALLS_COLUMN = 'calls';

/** The upsert's new value of `calls` (same SQL in both dialects): the old text with the new text appended. */
export const APPEND_CALLS_SQL =
  'CASE WHEN excluded.calls IS NULL THEN workflow_execution_steps.calls ELSE coalesce(workflow_execution_steps.calls, \'\') || excluded.calls END';

/** The event a step waits for, when it waits for one (the indexed `wait_event` column). */
function waitEvent(step: StepRecord): string | null {
  return step.status === 'waiting' && step.waiter?.kind === 'event' && step.waiter.event !== undefined ? escapeText(step.waiter.event) : null;
}

/** Every column of the steps table, in insert order. */
export const STEP_ROW_COLUMNS: readonly string[] = [...COLUMNS.steps.map((c) => c.name), ...STEP_EXTRA_COLUMNS];

/** Run columns a patch writes: the patchable fields plus `revision`. */
export const RUN_PATCH_COLUMNS: readonly string[] = [...RUN_PATCH_FIELDS, 'revision'];

const RUN_KINDS = new Map(COLUMNS.runs.map((c) => [c.name, c.kind]));

function encodeValue(kind: ColumnKind, value: unknown): Cell {
  if (value === undefined) return null;
  if (kind === 'json') return escapeJsonText(JSON.stringify(value));
  if (kind === 'free') return escapeText(value as string);
  if (kind === 'bool') return value ? 1 : 0;
  return value as Cell;
}

/** A record as a row of cells. */
export function encodeRecord(spec: readonly ColumnSpec[], record: object): SqlRow {
  const row: SqlRow = {};
  const source = record as Record<string, unknown>;
  for (const { name, kind } of spec) row[name] = encodeValue(kind, source[name]);
  return row;
}

/** A record as its cells in `spec` order, for positional binding (no row object in between). */
export function encodeCells(spec: readonly ColumnSpec[], record: object): Cell[] {
  const source = record as Record<string, unknown>;
  const cells = new Array<Cell>(spec.length);
  for (let i = 0; i < spec.length; i++) cells[i] = encodeValue(spec[i]!.kind, source[spec[i]!.name]);
  return cells;
}

/** A row back as a record; NULL cells become absent fields. */
export function decodeRecord<T>(spec: readonly ColumnSpec[], row: Record<string, unknown>): T {
  const record: Record<string, unknown> = {};
  for (const { name, kind } of spec) {
    const value = row[name];
    if (value === null || value === undefined) continue;
    if (kind === 'json') record[name] = parseEscapedJson(value as string);
    else if (kind === 'free') record[name] = unescapeText(value as string);
    else if (kind === 'num') record[name] = Number(value);
    else if (kind === 'bool') record[name] = value === 1 || value === true || value === '1';
    else record[name] = value;
  }
  return record as T;
}

/** A step encoded for the steps table, with the blob its output moved to when it was too large. */
export interface EncodedStep {
  readonly row: SqlRow;
  readonly blob: BlobRow | undefined;
}

/** Encodes a step; an `output_data` whose JSON exceeds `largeOutputBytes` goes to a blob. */
export function encodeStep(step: StepRecord, largeOutputBytes: number): EncodedStep {
  const { cells, blob } = encodeStepCells(step, largeOutputBytes);
  const row: SqlRow = {};
  for (let i = 0; i < STEP_ROW_COLUMNS.length; i++) row[STEP_ROW_COLUMNS[i]!] = cells[i]!;
  return { row, blob };
}

/** A step's cells in {@link STEP_ROW_COLUMNS} order, with the blob its output moved to when it was too large. */
export function encodeStepCells(step: StepRecord, largeOutputBytes: number): { readonly cells: Cell[]; readonly blob: BlobRow | undefined } {
  // Field by field in STEP_ROW_COLUMNS order (a test checks it against the column list): this runs
  // for every step written, and the generic encodeCells costs more.
  const output = step.output_data === undefined ? undefined : JSON.stringify(step.output_data);
  // The blob, when the output is large, is plain JSON text: a text column keeps what jsonb refuses.
  const blob = output === undefined ? undefined : largeOutput(output, largeOutputBytes);
  const cells: Cell[] = [
    step.run_id,
    step.path,
    step.node_id,
    step.seq,
    step.status,
    step.attempt,
    jsonCell(step.input_data),
    output === undefined || blob ? null : escapeJsonText(output),
    jsonCell(step.fired),
    jsonCell(step.state),
    jsonCell(step.error),
    jsonCell(step.waiter),
    step.execution_id === undefined ? null : compactCallId(step.execution_id, step.run_id, step.path),
    step.started_at,
    step.completed_at ?? null,
    step.duration_ms ?? null,
    step.waiter?.due_at ?? null,
    blob ? blob.hash : null,
    waitEvent(step),
    null,
  ];
  return { cells, blob };
}

/** A JSON column's cell: the value's JSON text (escaped, see odd-text.ts), or NULL for an absent value. */
function jsonCell(value: unknown): Cell {
  return value === undefined ? null : escapeJsonText(JSON.stringify(value));
}

/** Decodes a step row; a referenced output is read from `blob_data` (joined from `blobs`). */
export function decodeStep(row: Record<string, unknown>): StepRecord {
  let step = decodeRecord<StepRecord>(COLUMNS.steps, row);
  if (step.execution_id?.startsWith(':')) step = { ...step, execution_id: expandCallId(step.execution_id, step.run_id, step.path) };
  const ref = row.output_ref;
  if (ref === null || ref === undefined) return step;
  const data = row.blob_data;
  if (typeof data !== 'string') throw new TrellisError('storage', `Blob ${String(ref)} of step ${step.run_id}/${step.path} is missing`);
  return { ...step, output_data: JSON.parse(data) };
}

/** Keeps the last of several steps with the same path (a commit upserts by path, so the last one wins). */
export function dedupeSteps(steps: readonly StepRecord[]): readonly StepRecord[] {
  if (steps.length < 2) return steps;
  const byPath = new Map<string, StepRecord>();
  for (const step of steps) {
    byPath.delete(step.path);
    byPath.set(step.path, step);
  }
  return [...byPath.values()];
}

/** The fields an expectation checks, read from a run row. */
export function expectationTarget(row: Record<string, unknown>): ExpectationTarget {
  // Both shapes written out: a spread that adds a key costs V8 a new hidden class, on every commit.
  const status = row.status as RunStatus;
  const revision = Number(row.revision);
  return row.owner === null || row.owner === undefined ? { status, revision } : { status, revision, owner: row.owner as string };
}

/**
 * Applies a patch to the run's current patchable cells (see {@link RUN_PATCH_COLUMNS}) without decoding
 * them, so unchanged JSON columns are written back as they are. A status change bumps `revision`.
 */
export function patchRunRow(current: Record<string, unknown>, patch: RunPatch): SqlRow {
  const next: SqlRow = {};
  for (const field of RUN_PATCH_FIELDS) {
    const cell = (current[field] ?? null) as Cell;
    if (!(field in patch)) next[field] = cell;
    else {
      const value = patch[field];
      const clearable = field !== 'status' && field !== 'recovery_count';
      next[field] = value === undefined && !clearable ? cell : encodeValue(RUN_KINDS.get(field) ?? 'text', value);
    }
  }
  const revision = Number(current.revision);
  next.revision = patch.status !== undefined && patch.status !== current.status ? revision + 1 : revision;
  return next;
}

/**
 * A select list for `columns`. Postgres returns jsonb already parsed, which would conflate JSON `null`
 * with SQL NULL, so JSON columns are read as text there.
 */
export function selectList(spec: readonly ColumnSpec[], dialect: SqlDialectName, alias?: string): AliasedRawBuilder<Cell, string>[] {
  return spec.map(({ name, kind }) => {
    const ref = sql.ref(alias === undefined ? name : `${alias}.${name}`);
    return (kind === 'json' && dialect === 'postgres' ? sql<Cell>`${ref}::text` : sql<Cell>`${ref}`).as(name);
  });
}

/** Wraps a driver error as a `storage` TrellisError naming the operation; Trellis errors pass through. */
export function toStorageError(operation: string, error: unknown): TrellisError {
  if (isTrellisError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TrellisError('storage', `Storage ${operation} failed: ${message}`, { cause: error });
}
