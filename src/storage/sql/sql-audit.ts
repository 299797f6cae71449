/**
 * The audit trail and the dead-letter query, shared by the SQL storages. Audit rows are only ever
 * inserted: nothing here (or anywhere) updates one, and deleting a run leaves its events.
 */
import type { Kysely } from 'kysely';
import type { AuditEvent, AuditFilter, DeadLetterFilter, RunRecord } from '../records.js';
import { COLUMNS, decodeRecord, encodeRecord, selectList } from './sql-codec.js';
import type { TrellisDatabase } from './sql-schema.js';
import type { SqlContext } from './sql-catalog.js';

/** Inserts audit events with `db` (a transaction, to land with the change they record). */
export async function insertAudit(db: Kysely<TrellisDatabase>, events: readonly AuditEvent[] | undefined): Promise<void> {
  if (!events || events.length === 0) return;
  await db.insertInto('audit_events').values(events.map((e) => encodeRecord(COLUMNS.audit, e))).execute();
}

/** Audit events matching `filter`, newest first (`at`, then `id`, descending). */
export async function listAudit(ctx: SqlContext, filter: AuditFilter): Promise<AuditEvent[]> {
  let query = ctx.db.selectFrom('audit_events').select(selectList(COLUMNS.audit, ctx.dialect));
  if (filter.subject_type !== undefined) query = query.where('subject_type', '=', filter.subject_type);
  if (filter.subject_id !== undefined) query = query.where('subject_id', '=', filter.subject_id);
  if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
  if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
  if (filter.until !== undefined) query = query.where('at', '<', filter.until);
  const after = filter.after;
  if (after) query = query.where((eb) => eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb('id', '<', after.id)])]));
  const rows = await query.orderBy('at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
  return rows.map((row) => decodeRecord<AuditEvent>(COLUMNS.audit, row));
}

/** Failed runs no run retries and not discarded, and stuck ones (see `Storage.findDeadLetters`), newest first. */
export async function findDeadLetters(ctx: SqlContext, filter: DeadLetterFilter): Promise<RunRecord[]> {
  const { db } = ctx;
  let query = db
    .selectFrom('workflow_executions as r')
    .select(selectList(COLUMNS.runs, ctx.dialect, 'r'))
    .where('r.discarded_at', 'is', null)
    .where((eb) => {
      const failed = eb.and([
        eb('r.status', '=', 'failed'),
        eb.not(eb.exists(db.selectFrom('workflow_executions as n').select('n.id').whereRef('n.retry_of', '=', 'r.id'))),
      ]);
      const stuck = filter.stuck_before;
      return stuck === undefined ? failed : eb.or([failed, eb.and([eb('r.status', 'in', ['pending', 'running']), eb('r.created_at', '<', stuck)])]);
    });
  if (filter.workflow_id !== undefined) query = query.where('r.workflow_id', '=', filter.workflow_id);
  const after = filter.after;
  if (after) query = query.where((eb) => eb.or([eb('r.created_at', '<', after.created_at), eb.and([eb('r.created_at', '=', after.created_at), eb('r.id', '<', after.id)])]));
  const rows = await query.orderBy('r.created_at', 'desc').orderBy('r.id', 'desc').limit(filter.limit).execute();
  return rows.map((row) => decodeRecord<RunRecord>(COLUMNS.runs, row));
}
