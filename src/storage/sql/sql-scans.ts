/**
 * Keyset scans of the SQL storages: every workflow version, prompt version or run, a page at a time
 * in key order (what an export reads). One indexed range query per page, whatever the table's size.
 */
import type { PromptRecord, RunRecord, WorkflowRecord } from '../records.js';
import type { RunScanOptions, ScanOptions, VersionKey } from '../storage.js';
import type { SqlContext } from './sql-catalog.js';
import { COLUMNS, decodeRecord, selectList } from './sql-codec.js';

/** Workflow versions, deleted ones included, by id then version. */
export async function scanWorkflows(ctx: SqlContext, options: ScanOptions<VersionKey>): Promise<WorkflowRecord[]> {
  const { after } = options;
  let query = ctx.db.selectFrom('workflows as w').select(selectList(COLUMNS.workflows, ctx.dialect, 'w'));
  if (after) query = query.where((eb) => eb.or([eb('w.id', '>', after.id), eb.and([eb('w.id', '=', after.id), eb('w.version', '>', after.version)])]));
  const rows = await query.orderBy('w.id').orderBy('w.version').limit(options.limit).execute();
  return rows.map((row) => decodeRecord<WorkflowRecord>(COLUMNS.workflows, row));
}

/** Prompt versions by id then version. */
export async function scanPrompts(ctx: SqlContext, options: ScanOptions<VersionKey>): Promise<PromptRecord[]> {
  const { after } = options;
  let query = ctx.db.selectFrom('prompts as p').select(selectList(COLUMNS.prompts, ctx.dialect, 'p'));
  if (after) query = query.where((eb) => eb.or([eb('p.id', '>', after.id), eb.and([eb('p.id', '=', after.id), eb('p.version', '>', after.version)])]));
  const rows = await query.orderBy('p.id').orderBy('p.version').limit(options.limit).execute();
  return rows.map((row) => decodeRecord<PromptRecord>(COLUMNS.prompts, row));
}

/** Runs by id, of the given statuses only when `status` is set. */
export async function scanRuns(ctx: SqlContext, options: RunScanOptions): Promise<RunRecord[]> {
  if (options.status?.length === 0) return []; // `IN ()` is a syntax error in PostgreSQL
  let query = ctx.db.selectFrom('workflow_executions').select(selectList(COLUMNS.runs, ctx.dialect));
  if (options.after !== undefined) query = query.where('id', '>', options.after);
  if (options.status !== undefined) query = query.where('status', 'in', [...options.status]);
  const rows = await query.orderBy('id').limit(options.limit).execute();
  return rows.map((row) => decodeRecord<RunRecord>(COLUMNS.runs, row));
}
