/**
 * The body of PostgreSQL's group commit (`commitMany`): the commits of several runs in one
 * transaction, with as few statements as their kinds allow, whatever their number: one locks
 * every run row the group writes to, one inserts the new runs, one patches the runs that change,
 * one upserts every step row, one the LLM records, one the audit events. The runs and steps travel
 * as one JSON parameter each (postgres-json-rows.ts), so the statements' text never changes.
 *
 * Fencing stays per run: each expectation is checked against its run row as locked here, and a
 * commit that fails it (or whose run id is taken) is left out, with nothing of it written. A
 * statement the server refuses aborts the whole transaction; the driver then writes the group's
 * commits one by one, so that the refusal is reported to the commit it belongs to alone.
 */
import { sql, type Transaction } from 'kysely';
import type { ModelCallRecord } from '../records.js';
import type { CommitOutcome, StepCommit } from '../storage.js';
import { insertAudit } from '../sql/sql-audit.js';
import { excludedSet } from '../sql/sql-catalog.js';
import { APPEND_CALLS_SQL, COLUMNS, RUN_PATCH_COLUMNS, STEP_CALLS_COLUMN, STEP_ROW_COLUMNS, encodeRecord, expectationTarget, patchRunRow, type EncodedStep } from '../sql/sql-codec.js';
import type { SqlRow, TrellisDatabase } from '../sql/sql-schema.js';
import { applyRunPatch, matchesExpectation, runExists } from '../storage-helpers.js';
import type { TxState } from './postgres-connection.js';
import { inSlices, jsonRowShape, recordset, type JsonRowKind } from './postgres-json-rows.js';

/** One commit of the group, encoded. */
export interface GroupEntry {
  readonly commit: StepCommit;
  readonly encoded: readonly EncodedStep[];
  readonly executions: readonly ModelCallRecord[];
}

/** How the driver writes rows in chunks (its constants, passed in). */
export interface GroupWriter {
  /** The schema, quoted, with a trailing dot. */
  readonly prefix: string;
  chunks<T>(rows: readonly T[], columns: number): Iterable<readonly T[]>;
}

/** The JSON kind of a column of `spec` (a `free` text column is text; runs and steps have no booleans). */
function kindOf(spec: readonly { readonly name: string; readonly kind: string }[], name: string): JsonRowKind {
  const kind = spec.find((c) => c.name === name)?.kind;
  return kind === 'json' ? 'json' : kind === 'num' ? 'num' : 'text';
}

const RUN_SHAPE = jsonRowShape(COLUMNS.runs.map((c) => [c.name, kindOf(COLUMNS.runs, c.name)]));
const PATCH_SHAPE = jsonRowShape([['id', 'text'], ...RUN_PATCH_COLUMNS.map((name) => [name, kindOf(COLUMNS.runs, name)] as const)]);
const STEP_SHAPE = jsonRowShape(STEP_ROW_COLUMNS.map((name) => [name, name === 'due_at' ? 'num' : kindOf(COLUMNS.steps, name)]));

/** The patched columns as the lock reads them: JSON as text, as patchRunRow keeps cells. */
const LOCKED_COLUMNS = RUN_PATCH_COLUMNS.map((name) => (kindOf(COLUMNS.runs, name) === 'json' ? `"${name}"::text AS "${name}"` : `"${name}"`)).join(', ');

/** Per schema prefix, the statements' fixed text. */
interface GroupStatements {
  readonly lock: { readonly head: string; readonly tail: string };
  readonly insertRuns: string;
  readonly patchRuns: { readonly head: string; readonly tail: string };
  readonly upsertSteps: { readonly head: string; readonly tail: string };
}

const statements = new Map<string, GroupStatements>();

function statementsFor(prefix: string): GroupStatements {
  let found = statements.get(prefix);
  if (found) return found;
  const stepUpdates = STEP_ROW_COLUMNS.filter((c) => c !== 'run_id' && c !== 'path')
    .map((c) => `"${c}" = ${c === STEP_CALLS_COLUMN ? APPEND_CALLS_SQL : `excluded."${c}"`}`)
    .join(', ');
  found = {
    // Locked in id order, so that two groups (of two processes) never wait on each other in a
    // circle. NO KEY UPDATE: strong enough to hold the fence and to patch the row, and it does not
    // block the KEY SHARE locks that step rows' foreign keys take.
    lock: {
      head: `SELECT "id", ${LOCKED_COLUMNS}, txid_current()::text AS trellis_txid FROM ${prefix}workflow_executions WHERE "id" = ANY(CAST(`,
      tail: ' AS text[])) ORDER BY "id" FOR NO KEY UPDATE',
    },
    insertRuns: `INSERT INTO ${prefix}workflow_executions (${RUN_SHAPE.columnList}) SELECT ${RUN_SHAPE.columnList} FROM `,
    patchRuns: {
      head: `UPDATE ${prefix}workflow_executions AS w SET ${RUN_PATCH_COLUMNS.map((c) => `"${c}" = v."${c}"`).join(', ')} FROM `,
      tail: ' WHERE w.id = v.id',
    },
    upsertSteps: {
      head: `INSERT INTO ${prefix}workflow_execution_steps AS workflow_execution_steps (${STEP_SHAPE.columnList}) SELECT ${STEP_SHAPE.columnList} FROM `,
      tail: ` ON CONFLICT (run_id, path) DO UPDATE SET ${stepUpdates}`,
    },
  };
  statements.set(prefix, found);
  return found;
}

/** Writes the group in `trx`; resolves with each entry's outcome, in order. */
export async function writeGroup(trx: Transaction<TrellisDatabase>, tx: TxState, entries: readonly GroupEntry[], writer: GroupWriter): Promise<CommitOutcome[]> {
  const text = statementsFor(writer.prefix);
  const outcomes: (CommitOutcome | undefined)[] = entries.map(() => undefined);
  const existing = entries.flatMap((e) => (e.commit.create ? [] : [e.commit.runId]));
  const locked = new Map<string, Record<string, unknown>>();
  if (existing.length > 0) {
    const { rows } = await sql<Record<string, unknown>>`${sql.raw(text.lock.head)}${existing}${sql.raw(text.lock.tail)}`.execute(trx);
    for (const row of rows) locked.set(String(row.id), row);
    const txid = rows[0]?.trellis_txid;
    tx.txid = typeof txid === 'string' ? txid : undefined;
  }
  // The transaction's id before its first write, so that a COMMIT cut off is looked up, not redone.
  if (tx.txid === undefined) tx.txid = (await sql<{ trellis_txid: string }>`SELECT txid_current()::text AS trellis_txid`.execute(trx)).rows[0]?.trellis_txid;

  const created: SqlRow[] = [];
  entries.forEach((entry, i) => {
    const { commit } = entry;
    if (commit.create) {
      // The expectation holds for the row as created; the patch is applied before it is written.
      if (!matchesExpectation(commit.create, commit.expect)) outcomes[i] = false;
      else created.push(encodeRecord(COLUMNS.runs, commit.run ? applyRunPatch(commit.create, commit.run) : commit.create));
    } else {
      const row = locked.get(commit.runId);
      if (!row || !matchesExpectation(expectationTarget(row), commit.expect)) outcomes[i] = false;
    }
  });
  if (created.length > 0) {
    // A run whose id (or idempotency key) is taken is left out, and its commit with it.
    const inserted = new Set(
      (await inSlices(trx, created, (slice) => sql<{ id: string }>`${sql.raw(text.insertRuns)}${recordset(RUN_SHAPE, slice)} ON CONFLICT DO NOTHING RETURNING id`)).map((row) => String(row.id)),
    );
    entries.forEach((entry, i) => {
      const run = entry.commit.create;
      if (run && outcomes[i] === undefined && !inserted.has(run.id)) outcomes[i] = runExists(run.id);
    });
  }
  const patched = entries.flatMap((entry, i): SqlRow[] => {
    const { commit } = entry;
    return outcomes[i] !== undefined || commit.create || !commit.run ? [] : [{ id: commit.runId, ...patchRunRow(locked.get(commit.runId)!, commit.run) }];
  });
  if (patched.length > 0) await inSlices(trx, patched, (slice) => sql`${sql.raw(text.patchRuns.head)}${recordset(PATCH_SHAPE, slice)}${sql.raw(text.patchRuns.tail)}`);

  const landing = entries.filter((_, i) => outcomes[i] === undefined);
  const steps = landing.flatMap((e) => e.encoded.map((s) => s.row));
  if (steps.length > 0) await inSlices(trx, steps, (slice) => sql`${sql.raw(text.upsertSteps.head)}${recordset(STEP_SHAPE, slice)}${sql.raw(text.upsertSteps.tail)}`);
  const executions = landing.flatMap((e) => e.executions);
  for (const chunk of writer.chunks(executions, COLUMNS.executions.length)) {
    await trx
      .insertInto('executions')
      .values(chunk.map((record) => encodeRecord(COLUMNS.executions, record)))
      .onConflict((oc) => oc.column('id').doUpdateSet(excludedSet(COLUMNS.executions.map((c) => c.name), ['id'])))
      .execute();
  }
  for (const chunk of writer.chunks(landing.flatMap((e) => e.commit.audit ?? []), COLUMNS.audit.length)) await insertAudit(trx, chunk);
  return outcomes.map((outcome) => outcome ?? true);
}
