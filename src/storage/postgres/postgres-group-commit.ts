/**
 * The body of PostgreSQL's group commit (`commitMany`): the commits of several runs in one
 * transaction, with as few statements as their kinds allow, whatever their number: one locks
 * every run row the group writes to, one inserts the new runs, one upserts every step row (per
 * 30,000 bind parameters), one the LLM records, one the audit events; only a run patch costs a
 * statement of its own (a run's first and last commit, not the steps between).
 *
 * Fencing stays per run: each expectation is checked against its run row as locked here, and a
 * commit that fails it (or whose run id is taken) is left out, with nothing of it written. A
 * statement the server refuses aborts the whole transaction; the driver then writes the group's
 * commits one by one, so that the refusal is reported to the commit it belongs to alone.
 */
import { sql, type Transaction } from 'kysely';
import type { ModelCallRecord, RunRecord } from '../records.js';
import type { CommitOutcome, StepCommit } from '../storage.js';
import { insertAudit } from '../sql/sql-audit.js';
import { excludedSet } from '../sql/sql-catalog.js';
import { COLUMNS, RUN_PATCH_COLUMNS, encodeRecord, expectationTarget, patchRunRow, selectList, type EncodedStep } from '../sql/sql-codec.js';
import type { TrellisDatabase } from '../sql/sql-schema.js';
import { applyRunPatch, matchesExpectation, runExists } from '../storage-helpers.js';
import { TXID, type TxState } from './postgres-connection.js';

/** One commit of the group, encoded. */
export interface GroupEntry {
  readonly commit: StepCommit;
  readonly encoded: readonly EncodedStep[];
  readonly executions: readonly ModelCallRecord[];
}

/** How the driver writes rows in chunks and upserts steps (its constants, passed in). */
export interface GroupWriter {
  /** The schema, quoted, with a trailing dot. */
  readonly prefix: string;
  chunks<T>(rows: readonly T[], columns: number): Iterable<readonly T[]>;
  upsertSteps(trx: Transaction<TrellisDatabase>, rows: readonly EncodedStep['row'][]): Promise<void>;
}

const PATCH_SPEC = COLUMNS.runs.filter((c) => RUN_PATCH_COLUMNS.includes(c.name));
/**
 * The cast of each patched column in a VALUES list (whose parameters PostgreSQL would otherwise
 * type as text): numbers as double precision, which assignment turns into the integer columns'
 * integers.
 */
const PATCH_CASTS = RUN_PATCH_COLUMNS.map((name) => {
  const kind = COLUMNS.runs.find((c) => c.name === name)?.kind;
  return kind === 'json' ? 'jsonb' : kind === 'num' ? 'double precision' : kind === 'bool' ? 'boolean' : 'text';
});

/**
 * Patches many run rows in one statement (`UPDATE … FROM (VALUES …)`), each to its own cells: when
 * hundreds of runs end together, one round trip instead of one each.
 */
async function patchRuns(trx: Transaction<TrellisDatabase>, prefix: string, rows: readonly { readonly id: string; readonly cells: Record<string, unknown> }[]): Promise<void> {
  if (rows.length === 0) return;
  const set = sql.raw(RUN_PATCH_COLUMNS.map((c) => `"${c}" = v."${c}"`).join(', '));
  const names = sql.raw(['id', ...RUN_PATCH_COLUMNS].map((c) => `"${c}"`).join(', '));
  const values = sql.join(
    rows.map((row) => sql`(${sql.join([sql`CAST(${row.id} AS text)`, ...RUN_PATCH_COLUMNS.map((c, i) => sql`CAST(${row.cells[c] ?? null} AS ${sql.raw(PATCH_CASTS[i]!)})`)])})`),
  );
  await sql`UPDATE ${sql.raw(prefix)}workflow_executions AS w SET ${set} FROM (VALUES ${values}) AS v(${names}) WHERE w.id = v.id`.execute(trx);
}

/** Writes the group in `trx`; resolves with each entry's outcome, in order. */
export async function writeGroup(trx: Transaction<TrellisDatabase>, tx: TxState, entries: readonly GroupEntry[], writer: GroupWriter): Promise<CommitOutcome[]> {
  const outcomes: (CommitOutcome | undefined)[] = entries.map(() => undefined);
  const existing = entries.flatMap((e) => (e.commit.create ? [] : [e.commit.runId]));
  // Locked in id order, so that two groups (of two processes) never wait on each other in a circle.
  // NO KEY UPDATE: strong enough to hold the fence and to patch the row, and it does not block the
  // KEY SHARE locks that step rows' foreign keys take.
  const locked = new Map<string, Record<string, unknown>>();
  if (existing.length > 0) {
    const rows = await trx
      .selectFrom('workflow_executions')
      .select(['id', ...selectList(PATCH_SPEC, 'postgres'), TXID])
      .where('id', 'in', existing)
      .orderBy('id')
      .forNoKeyUpdate()
      .execute();
    for (const row of rows) locked.set(String(row.id), row);
    const txid = rows[0]?.trellis_txid;
    tx.txid = typeof txid === 'string' ? txid : undefined;
  }
  // The transaction's id before its first write, so that a COMMIT cut off is looked up, not redone.
  if (tx.txid === undefined) tx.txid = (await sql<{ trellis_txid: string }>`SELECT txid_current()::text AS trellis_txid`.execute(trx)).rows[0]?.trellis_txid;

  const created: RunRecord[] = [];
  entries.forEach((entry, i) => {
    const { commit } = entry;
    if (commit.create) {
      // The expectation holds for the row as created; the patch is applied before it is written.
      if (!matchesExpectation(commit.create, commit.expect)) outcomes[i] = false;
      else created.push(commit.run ? applyRunPatch(commit.create, commit.run) : commit.create);
    } else {
      const row = locked.get(commit.runId);
      if (!row || !matchesExpectation(expectationTarget(row), commit.expect)) outcomes[i] = false;
    }
  });
  if (created.length > 0) {
    const inserted = new Set<string>();
    for (const chunk of writer.chunks(created, COLUMNS.runs.length)) {
      const rows = await trx
        .insertInto('workflow_executions')
        .values(chunk.map((run) => encodeRecord(COLUMNS.runs, run)))
        .onConflict((oc) => oc.doNothing())
        .returning('id')
        .execute();
      for (const row of rows) inserted.add(String(row.id));
    }
    entries.forEach((entry, i) => {
      const run = entry.commit.create;
      if (run && outcomes[i] === undefined && !inserted.has(run.id)) outcomes[i] = runExists(run.id);
    });
  }
  const patched = entries.flatMap((entry, i) => {
    const { commit } = entry;
    return outcomes[i] !== undefined || commit.create || !commit.run ? [] : [{ id: commit.runId, cells: patchRunRow(locked.get(commit.runId)!, commit.run) }];
  });
  for (const chunk of writer.chunks(patched, RUN_PATCH_COLUMNS.length + 1)) await patchRuns(trx, writer.prefix, chunk);

  const landing = entries.filter((_, i) => outcomes[i] === undefined);
  const steps = landing.flatMap((e) => e.encoded.map((s) => s.row));
  if (steps.length > 0) await writer.upsertSteps(trx, steps);
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
