/**
 * Fleet-wide limits in SQL (see ../fleet-limits.ts), shared by both dialects. Each operation that
 * must be atomic across processes is one statement: SQLite runs a statement alone (one writer), and
 * PostgreSQL runs these inside a transaction holding an advisory lock on the scope (the storage's
 * `serialised`), because under READ COMMITTED two concurrent `INSERT … SELECT count(*)` could both
 * see room for the last slot.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { SqlDialectName, TrellisDatabase } from './sql-schema.js';
import { neededTokens, refilledTokens, refillWaitMs, type LimitSlot, type RateBucket } from '../fleet-limits.js';

type Db = Kysely<TrellisDatabase>;

/** A number parameter typed for the dialect: PostgreSQL cannot infer the type of `$1` in `LEAST($1, …)` or a `SELECT $1` inserted into a number column. */
function num(dialect: SqlDialectName, value: number): RawBuilder<number> {
  return dialect === 'postgres' ? sql<number>`CAST(${value} AS double precision)` : sql<number>`${value}`;
}

/** Takes `slot` when fewer than `limit` other holders hold unexpired slots of its scope; renews a slot its holder has. */
export async function acquireSlot(db: Db, dialect: SqlDialectName, slot: LimitSlot, limit: number, now: number): Promise<boolean> {
  // Expired slots (a killed process's) are swept on the way: they never count, this keeps the table small.
  await db.deleteFrom('limit_slots').where('scope', '=', slot.scope).where('expires_at', '<', now).execute();
  const others = db
    .selectFrom('limit_slots')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('scope', '=', slot.scope)
    .where('holder', '<>', slot.holder)
    .where('expires_at', '>=', now);
  const result = await db
    .insertInto('limit_slots')
    .columns(['scope', 'holder', 'expires_at'])
    .expression(
      db.selectNoFrom([sql<string>`${slot.scope}`.as('scope'), sql<string>`${slot.holder}`.as('holder'), num(dialect, slot.expires_at).as('expires_at')]).where((eb) => eb(others, '<', limit)),
    )
    .onConflict((oc) => oc.columns(['scope', 'holder']).doUpdateSet({ expires_at: (eb) => eb.ref('excluded.expires_at') }))
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

export async function releaseSlot(db: Db, scope: string, holder: string): Promise<void> {
  await db.deleteFrom('limit_slots').where('scope', '=', scope).where('holder', '=', holder).execute();
}

/**
 * Takes `amount` from the bucket in one conditional UPDATE (refill and take in the same
 * statement, so concurrent takers serialise on the row); resolves 0 when taken, else the wait.
 * `ensured` remembers the buckets this storage object created, so that only a first take pays the insert.
 */
export async function takeTokens(db: Db, dialect: SqlDialectName, ensured: Set<string>, bucket: RateBucket, amount: number, now: number, force: boolean): Promise<number> {
  if (!ensured.has(bucket.scope)) {
    await db.insertInto('limit_buckets').values({ scope: bucket.scope, tokens: bucket.perMinute, refilled_at: now }).onConflict((oc) => oc.column('scope').doNothing()).execute();
    ensured.add(bucket.scope);
  }
  const [least, greatest] = dialect === 'postgres' ? ['LEAST', 'GREATEST'] : ['min', 'max'];
  const cap = num(dialect, bucket.perMinute);
  const at = num(dialect, now);
  const refilled = sql<number>`${sql.raw(least)}(${cap}, tokens + ${sql.raw(greatest)}(0, ${at} - refilled_at) * ${cap} / 60000)`;
  let update = db
    .updateTable('limit_buckets')
    .set({ tokens: sql<number>`${sql.raw(least)}(${cap}, ${refilled} - ${num(dialect, amount)})`, refilled_at: sql<number>`${sql.raw(greatest)}(refilled_at, ${at})` })
    .where('scope', '=', bucket.scope);
  if (!force) update = update.where(sql<boolean>`${refilled} >= ${num(dialect, neededTokens(amount, bucket.perMinute))}`);
  const taken = await update.executeTakeFirst();
  if (Number(taken.numUpdatedRows) > 0) return 0;
  const row = await db.selectFrom('limit_buckets').select(['tokens', 'refilled_at']).where('scope', '=', bucket.scope).executeTakeFirst();
  // A bucket deleted under us (a wiped table): made again on the next take.
  if (!row) {
    ensured.delete(bucket.scope);
    return 1;
  }
  const available = refilledTokens({ tokens: Number(row.tokens), refilled_at: Number(row.refilled_at) }, bucket.perMinute, now);
  return refillWaitMs(available, neededTokens(amount, bucket.perMinute), bucket.perMinute);
}
