/**
 * The event inbox in SQL, the same statements in both dialects: events `emit` left for waiting
 * steps of runs another live process drives, read and deleted by that process (see
 * `HotRuns.takeDeliveredEvents`). One row per delivered event; a run's rows go with it (ON DELETE
 * CASCADE).
 */
import { sql, type RawBuilder } from 'kysely';
import type { DeliveredEvent } from '../storage.js';
import { TIMER_RUN_STATUSES } from '../storage-helpers.js';
import type { SqlContext } from './sql-catalog.js';
import { decodeRecord, encodeRecord, selectList, type ColumnSpec } from './sql-codec.js';
import type { Cell } from './sql-schema.js';

/** The event name is text a host sends, so it is escaped like other free text. */
const INBOX_COLUMNS: readonly ColumnSpec[] = [
  { name: 'id', kind: 'text' },
  { name: 'run_id', kind: 'text' },
  { name: 'path', kind: 'text' },
  { name: 'event', kind: 'free' },
  { name: 'payload', kind: 'json' },
  { name: 'created_at', kind: 'num' },
];

/** PostgreSQL types of the selected values: a parameter in a SELECT list is text unless cast. */
const PG_TYPES: Readonly<Record<string, string>> = { payload: 'jsonb', created_at: 'double precision' };

/** Stores `event` while its run is running or paused; true when stored now or before. */
export async function deliverEvent(ctx: SqlContext, event: DeliveredEvent): Promise<boolean> {
  const row = encodeRecord(INBOX_COLUMNS, event);
  const value = (name: string): RawBuilder<Cell> => {
    const type = ctx.dialect === 'postgres' ? PG_TYPES[name] : undefined;
    return type === undefined ? sql<Cell>`${row[name]}` : sql<Cell>`cast(${row[name]} as ${sql.raw(type)})`;
  };
  // One statement: the run's status is read where the row is written, so an event is not stored
  // for a run that has already ended.
  const result = await ctx.db
    .insertInto('workflow_event_inbox')
    .columns(INBOX_COLUMNS.map((c) => c.name))
    .expression((eb) =>
      eb
        .selectFrom('workflow_executions')
        .select(INBOX_COLUMNS.map((c) => value(c.name).as(c.name)))
        .where('id', '=', event.run_id)
        .where('status', 'in', [...TIMER_RUN_STATUSES]),
    )
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  if (Number(result.numInsertedOrUpdatedRows ?? 0) === 1) return true;
  const existing = await ctx.db.selectFrom('workflow_event_inbox').select('id').where('id', '=', event.id).executeTakeFirst();
  return existing !== undefined;
}

/** Delivered events of `runIds`, oldest first. */
export async function findDeliveredEvents(ctx: SqlContext, runIds: readonly string[], limit: number): Promise<DeliveredEvent[]> {
  const found: DeliveredEvent[] = [];
  // In slices: a statement binds at most some tens of thousands of parameters.
  for (let i = 0; i < runIds.length && found.length < limit; i += 1000) {
    const rows = await ctx.db
      .selectFrom('workflow_event_inbox')
      .select(selectList(INBOX_COLUMNS, ctx.dialect))
      .where('run_id', 'in', runIds.slice(i, i + 1000))
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit - found.length)
      .execute();
    for (const row of rows) found.push(decodeRecord<DeliveredEvent>(INBOX_COLUMNS, row));
  }
  // Slices are each in order; the whole is sorted once more when there were several.
  return runIds.length > 1000 ? found.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) : found;
}

/** Deletes delivered events by id. */
export async function deleteDeliveredEvents(ctx: SqlContext, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 1000) await ctx.db.deleteFrom('workflow_event_inbox').where('id', 'in', ids.slice(i, i + 1000)).execute();
}
