/**
 * Deleting runs on PostgreSQL (`deleteRun`, `purgeRuns`): a run goes with its child runs, however
 * deep, and with everything keyed to them. Step rows and inbox events go by ON DELETE CASCADE; LLM
 * records kept in `executions` and the blobs no step references any more are deleted here. Every
 * function runs inside the caller's transaction; id lists are bound as one array parameter, so a
 * tree of any size is one statement each.
 */
import { sql, type Transaction } from 'kysely';
import type { PurgeFilter } from '../storage.js';
import type { TrellisDatabase } from '../sql/sql-schema.js';
import { TXID, type TxState } from './postgres-connection.js';

type Trx = Transaction<TrellisDatabase>;

/** `column = ANY($ids)`: one parameter however many ids. */
const anyOf = (column: string, ids: readonly string[]) => sql<boolean>`${sql.ref(column)} = ANY(${[...ids]}::text[])`;

/**
 * The runs `purgeRuns` picks, row-locked (its first statement, so it also reads the transaction id
 * into `tx`). Locked rows are skipped: a run another transaction holds (one another purge has
 * picked, say) is left for a later batch instead of waited for.
 */
export async function lockPurgeable(trx: Trx, filter: PurgeFilter, tx: TxState): Promise<string[]> {
  if (filter.status.length === 0) return [];
  let query = trx
    .selectFrom('workflow_executions as r')
    .select([sql.ref<string>('r.id').as('id'), TXID])
    .where('r.completed_at', '<', filter.completed_before)
    .where('r.status', 'in', [...filter.status])
    // A child of a run still stored is left for its parent to take along.
    .where((eb) => eb.or([eb('r.parent_id', 'is', null), eb.not(eb.exists(eb.selectFrom('workflow_executions as p').select(sql`1`.as('one')).whereRef('p.id', '=', 'r.parent_id')))]));
  if (filter.workflow_id !== undefined) query = query.where('r.workflow_id', '=', filter.workflow_id);
  const rows = await query.orderBy('r.completed_at').orderBy('r.id').limit(filter.limit).forUpdate().skipLocked().execute();
  tx.txid = rows[0]?.trellis_txid;
  return rows.map((row) => row.id);
}

/** Where the tables are, and the advisory lock guarding blob garbage collection. */
export interface DeletionPlace {
  /** The schema of the tables: a raw query is not given it by Kysely's `withSchema`. */
  readonly schema: string;
  /**
   * The advisory lock commits writing blobs hold shared: taken exclusively before the sweep, so a
   * blob a commit in flight is about to reference is not swept from under it.
   */
  readonly blobLock: string;
}

/** Deletes the runs `roots`, every run below them, and everything keyed to those runs. */
export async function deleteRunTrees(trx: Trx, roots: readonly string[], place: DeletionPlace): Promise<void> {
  if (roots.length === 0) return;
  // Children are found through the partial index on parent_id (schema 7); UNION walks each run once.
  const runs = sql.id(place.schema, 'workflow_executions');
  const tree = await sql<{ id: string }>`
    WITH RECURSIVE tree(id) AS (
      SELECT id FROM ${runs} WHERE ${anyOf('id', roots)}
      UNION SELECT e.id FROM ${runs} e JOIN tree t ON e.parent_id = t.id)
    SELECT id FROM tree`.execute(trx);
  const ids = tree.rows.map((row) => row.id);
  if (ids.length === 0) return;
  // The blobs these runs reference, read before their step rows cascade away.
  const refs = await trx.selectFrom('workflow_execution_steps').select(sql.ref<string>('output_ref').as('hash')).distinct().where(anyOf('run_id', ids)).where('output_ref', 'is not', null).execute();
  await trx.deleteFrom('executions').where(anyOf('workflow_execution_id', ids)).execute();
  await trx.deleteFrom('workflow_executions').where(anyOf('id', ids)).execute();
  if (refs.length === 0) return;
  await sql`SELECT pg_advisory_xact_lock(hashtext(${place.blobLock}))`.execute(trx);
  await trx
    .deleteFrom('blobs')
    .where(anyOf('hash', refs.map((r) => r.hash)))
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('workflow_execution_steps as s').select(sql`1`.as('one')).whereRef('s.output_ref', '=', 'blobs.hash'))))
    .execute();
}
