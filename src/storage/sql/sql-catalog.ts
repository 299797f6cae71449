/**
 * Workflow, prompt, LLM execution and bundle queries shared by the SQL storages. These tables are
 * written rarely and by single statements, so plain Kysely queries serve both dialects.
 */
import { sql, type Kysely, type RawBuilder, type SqlBool } from 'kysely';
import type { BundleRecord, ModelCallRecord, PromptRecord, WorkflowFilter, WorkflowRecord } from '../records.js';
import { byCreatedThenId, matchesWorkflowFilter, paginate } from '../storage-helpers.js';
import { COLUMNS, decodeRecord, encodeRecord, selectList, type ColumnSpec } from './sql-codec.js';
import type { Cell, SqlDialectName, TrellisDatabase } from './sql-schema.js';
import { sameVersion, versionTaken } from '../workflow-versions.js';

/** What the shared queries need: the Kysely instance and the dialect (for JSON reads). */
export interface SqlContext {
  readonly db: Kysely<TrellisDatabase>;
  readonly dialect: SqlDialectName;
}

type CatalogTable = 'workflows' | 'prompts' | 'executions' | 'execution_bundles';

/** `SET column = excluded.column` for every column but the keys, for `ON CONFLICT ... DO UPDATE`. */
export function excludedSet(columns: readonly string[], keys: readonly string[]): Record<string, RawBuilder<Cell>> {
  return Object.fromEntries(columns.filter((c) => !keys.includes(c)).map((c) => [c, sql.ref<Cell>(`excluded.${c}`)]));
}

/** Inserts a row or replaces every non-key column of the existing one. */
export async function upsert(ctx: SqlContext, table: CatalogTable, spec: readonly ColumnSpec[], keys: readonly string[], record: object): Promise<void> {
  const updates = excludedSet(
    spec.map((c) => c.name),
    keys,
  );
  await ctx.db
    .insertInto(table)
    .values(encodeRecord(spec, record))
    .onConflict((oc) => oc.columns(keys as string[]).doUpdateSet(updates))
    .execute();
}

/** The insert of a workflow version that does nothing when the version is taken. */
export function insertNewWorkflowQuery(db: Kysely<TrellisDatabase>, record: WorkflowRecord) {
  return db
    .insertInto('workflows')
    .values(encodeRecord(COLUMNS.workflows, record))
    .onConflict((oc) => oc.columns(['id', 'version']).doNothing());
}

/** The update that marks every version of a workflow deleted. */
export function deleteWorkflowQuery(db: Kysely<TrellisDatabase>, id: string) {
  return db.updateTable('workflows').set({ deleted: 1 }).where('id', '=', id);
}

/** Inserts a workflow version; a version already taken is left as it is (see workflow-versions.ts). */
export async function insertWorkflow(ctx: SqlContext, record: WorkflowRecord): Promise<void> {
  const inserted = await insertNewWorkflowQuery(ctx.db, record).executeTakeFirst();
  if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) return;
  const row = await ctx.db
    .selectFrom('workflows as w')
    .select(selectList(COLUMNS.workflows, ctx.dialect, 'w'))
    .where('w.id', '=', record.id)
    .where('w.version', '=', record.version)
    .executeTakeFirst();
  if (row && sameVersion(decodeRecord<WorkflowRecord>(COLUMNS.workflows, row), record)) return;
  const top = await ctx.db.selectFrom('workflows').select(sql<number>`max(version)`.as('m')).where('id', '=', record.id).executeTakeFirst();
  throw versionTaken(record.id, record.version, Number(top?.m ?? record.version));
}

const notDeleted = (alias: string) => sql<SqlBool>`(${sql.ref(`${alias}.deleted`)} IS NULL OR ${sql.ref(`${alias}.deleted`)} = 0)`;

/** A workflow version, or the highest version not marked deleted. */
export async function getWorkflow(ctx: SqlContext, id: string, version?: number): Promise<WorkflowRecord | undefined> {
  let query = ctx.db.selectFrom('workflows as w').select(selectList(COLUMNS.workflows, ctx.dialect, 'w')).where('w.id', '=', id).where(notDeleted('w'));
  query = version === undefined ? query.orderBy('w.version', 'desc').limit(1) : query.where('w.version', '=', version);
  const row = await query.executeTakeFirst();
  return row && decodeRecord<WorkflowRecord>(COLUMNS.workflows, row);
}

/** Latest visible version of each workflow; tag and name filters run in JavaScript to match MemoryStorage exactly. */
export async function listWorkflows(ctx: SqlContext, filter: WorkflowFilter): Promise<WorkflowRecord[]> {
  let query = ctx.db
    .selectFrom('workflows as w')
    .select(selectList(COLUMNS.workflows, ctx.dialect, 'w'))
    .where(notDeleted('w'))
    .where('w.version', '=', (eb) =>
      eb.selectFrom('workflows as v').select(sql<number>`max(v.version)`.as('m')).whereRef('v.id', '=', 'w.id').where(notDeleted('v')),
    );
  if (filter.status !== undefined) query = query.where('w.status', '=', filter.status);
  const rows = await query.execute();
  const latest = rows.map((r) => decodeRecord<WorkflowRecord>(COLUMNS.workflows, r)).filter((w) => matchesWorkflowFilter(w, filter));
  return paginate(latest.sort(byCreatedThenId), filter);
}

/** Every visible version of a workflow, oldest first. */
export async function listWorkflowVersions(ctx: SqlContext, id: string): Promise<WorkflowRecord[]> {
  const rows = await ctx.db
    .selectFrom('workflows as w')
    .select(selectList(COLUMNS.workflows, ctx.dialect, 'w'))
    .where('w.id', '=', id)
    .where(notDeleted('w'))
    .orderBy('w.version')
    .execute();
  return rows.map((r) => decodeRecord<WorkflowRecord>(COLUMNS.workflows, r));
}

/** Marks every version deleted (kept for the runs that reference them). */
export async function deleteWorkflow(ctx: SqlContext, id: string): Promise<void> {
  await deleteWorkflowQuery(ctx.db, id).execute();
}

/** A prompt version, or its latest. */
export async function getPrompt(ctx: SqlContext, id: string, version?: number): Promise<PromptRecord | undefined> {
  let query = ctx.db.selectFrom('prompts as p').select(selectList(COLUMNS.prompts, ctx.dialect, 'p')).where('p.id', '=', id);
  query = version === undefined ? query.orderBy('p.version', 'desc').limit(1) : query.where('p.version', '=', version);
  const row = await query.executeTakeFirst();
  return row && decodeRecord<PromptRecord>(COLUMNS.prompts, row);
}

/** Latest version of every prompt, by `created_at` then id. */
export async function listPrompts(ctx: SqlContext): Promise<PromptRecord[]> {
  const rows = await ctx.db
    .selectFrom('prompts as p')
    .select(selectList(COLUMNS.prompts, ctx.dialect, 'p'))
    .where('p.version', '=', (eb) => eb.selectFrom('prompts as v').select(sql<number>`max(v.version)`.as('m')).whereRef('v.id', '=', 'p.id'))
    .orderBy('p.created_at')
    .orderBy('p.id')
    .execute();
  return rows.map((r) => decodeRecord<PromptRecord>(COLUMNS.prompts, r));
}

/** Deletes every version of a prompt. */
export async function deletePrompt(ctx: SqlContext, id: string): Promise<void> {
  await ctx.db.deleteFrom('prompts').where('id', '=', id).execute();
}

/** One LLM execution. */
export async function getCall(ctx: SqlContext, id: string): Promise<ModelCallRecord | undefined> {
  const row = await ctx.db.selectFrom('executions as e').select(selectList(COLUMNS.executions, ctx.dialect, 'e')).where('e.id', '=', id).executeTakeFirst();
  return row && decodeRecord<ModelCallRecord>(COLUMNS.executions, row);
}

/** LLM executions of a run and/or node, by `created_at` then id. */
export async function listCalls(
  ctx: SqlContext,
  filter: { readonly workflow_execution_id?: string; readonly workflow_node_id?: string },
): Promise<ModelCallRecord[]> {
  let query = ctx.db.selectFrom('executions as e').select(selectList(COLUMNS.executions, ctx.dialect, 'e'));
  if (filter.workflow_execution_id !== undefined) query = query.where('e.workflow_execution_id', '=', filter.workflow_execution_id);
  if (filter.workflow_node_id !== undefined) query = query.where('e.workflow_node_id', '=', filter.workflow_node_id);
  const rows = await query.orderBy('e.created_at').orderBy('e.id').execute();
  return rows.map((r) => decodeRecord<ModelCallRecord>(COLUMNS.executions, r));
}

/** One bundle. */
export async function getBundle(ctx: SqlContext, id: string): Promise<BundleRecord | undefined> {
  const row = await ctx.db.selectFrom('execution_bundles as b').select(selectList(COLUMNS.bundles, ctx.dialect, 'b')).where('b.id', '=', id).executeTakeFirst();
  return row && decodeRecord<BundleRecord>(COLUMNS.bundles, row);
}
