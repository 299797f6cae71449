/**
 * Reads of steps kept as rows, one per step upserted by run and path: how PostgresStorage keeps
 * them (SqliteStorage keeps a step log instead, see step-log.ts). The upsert itself is part of the
 * Postgres driver's commit. Each function is one query through Kysely.
 */
import { sql, type SqlBool } from 'kysely';
import type { ApprovalFilter, ApprovalWaiter, ModelCallRecord, StepRecord } from '../records.js';
import type { SqlContext } from './sql-catalog.js';
import * as catalog from './sql-catalog.js';
import { COLUMNS, decodeStep, selectList } from './sql-codec.js';
import { TIMER_RUN_STATUSES, byCreatedThenId } from '../storage-helpers.js';
import { decodeCalls, type CallsRow } from '../step-calls.js';
import { escapeText } from '../odd-text.js';
import { parseStepCallId } from '../../kernel/call-ids.js';

function stepQuery(ctx: SqlContext) {
  return ctx.db
    .selectFrom('workflow_execution_steps as s')
    .leftJoin('blobs as b', 'b.hash', 's.output_ref')
    .select([...selectList(COLUMNS.steps, ctx.dialect, 's'), sql.ref('s.output_ref').as('output_ref'), sql.ref('b.data').as('blob_data')]);
}

function callsRows(ctx: SqlContext) {
  return ctx.db.selectFrom('workflow_execution_steps').select(['run_id', 'path', 'node_id', 'calls']).$castTo<CallsRow>();
}

/** All steps of a run, by `seq` then path. */
export async function getSteps(ctx: SqlContext, runId: string): Promise<StepRecord[]> {
  const rows = await stepQuery(ctx).where('s.run_id', '=', runId).orderBy('s.seq').orderBy('s.path').execute();
  return rows.map(decodeStep);
}

export async function getStep(ctx: SqlContext, runId: string, path: string): Promise<StepRecord | undefined> {
  const row = await stepQuery(ctx).where('s.run_id', '=', runId).where('s.path', '=', path).executeTakeFirst();
  return row && decodeStep(row);
}

/** Waiting steps due at or before `now`, in runs that are running or paused. */
export async function findDueSteps(ctx: SqlContext, now: number, limit: number): Promise<StepRecord[]> {
  const rows = await stepQuery(ctx)
    .innerJoin('workflow_executions as r', 'r.id', 's.run_id')
    // A literal, not a parameter, so the partial index on waiting steps applies.
    .where(sql<SqlBool>`s.status = 'waiting'`)
    .where('s.due_at', '<=', now)
    .where('r.status', 'in', [...TIMER_RUN_STATUSES])
    .orderBy('s.due_at')
    .orderBy('s.run_id')
    .orderBy('s.path')
    .limit(limit)
    .execute();
  return rows.map(decodeStep);
}

/** Steps waiting for `event`, in runs that are running or paused. */
export async function findEventWaiters(ctx: SqlContext, event: string, limit: number): Promise<StepRecord[]> {
  const rows = await stepQuery(ctx)
    .innerJoin('workflow_executions as r', 'r.id', 's.run_id')
    .where('s.wait_event', '=', escapeText(event))
    .where('r.status', 'in', [...TIMER_RUN_STATUSES])
    .orderBy('s.run_id')
    .orderBy('s.path')
    .limit(limit)
    .execute();
  return rows.map(decodeStep);
}

/**
 * Steps waiting for approval in runs that are running or paused, with their run's workflow,
 * longest waiting first. The predicate on the step is written as the partial index's (schema
 * version 6) so that the index applies; it is PostgreSQL's JSON syntax, the only dialect that keeps
 * step rows.
 */
export async function findApprovalWaiters(ctx: SqlContext, filter: ApprovalFilter): Promise<ApprovalWaiter[]> {
  let query = stepQuery(ctx)
    .innerJoin('workflow_executions as r', 'r.id', 's.run_id')
    .select([sql.ref('r.workflow_id').as('run_workflow_id'), sql.ref('r.workflow_version').as('run_workflow_version')])
    .where(sql<SqlBool>`s.status = 'waiting' AND (s.waiter ->> 'kind') = 'approval'`)
    .where('r.status', 'in', [...TIMER_RUN_STATUSES]);
  if (filter.workflow_id !== undefined) query = query.where('r.workflow_id', '=', filter.workflow_id);
  query = query.orderBy('s.started_at').orderBy('s.run_id').orderBy('s.path');
  if (filter.limit !== undefined) query = query.limit(filter.limit);
  if (filter.offset !== undefined) query = query.offset(filter.offset);
  const rows = await query.execute();
  return rows.map((row) => ({ step: decodeStep(row), workflow_id: row.run_workflow_id as string, workflow_version: Number(row.run_workflow_version) }));
}

/** A step's call is read from its step row (the id names it); anything else, or a call made before schema 3, from `executions`. */
export async function getCall(ctx: SqlContext, id: string): Promise<ModelCallRecord | undefined> {
  const step = parseStepCallId(id);
  if (step) {
    const row = await callsRows(ctx).where('run_id', '=', step.runId).where('path', '=', step.path).executeTakeFirst();
    const found = row && decodeCalls(row).find((record) => record.id === id);
    if (found) return found;
  }
  return catalog.getCall(ctx, id);
}

/** The calls held by step rows and those in `executions`, oldest first. */
export async function listCalls(ctx: SqlContext, filter: { readonly workflow_execution_id?: string; readonly workflow_node_id?: string }): Promise<ModelCallRecord[]> {
  let query = callsRows(ctx).where('calls', 'is not', null);
  if (filter.workflow_execution_id !== undefined) query = query.where('run_id', '=', filter.workflow_execution_id);
  if (filter.workflow_node_id !== undefined) query = query.where('node_id', '=', filter.workflow_node_id);
  const inSteps = (await query.execute()).flatMap(decodeCalls);
  const inTable = await catalog.listCalls(ctx, filter);
  return inSteps.length === 0 ? inTable : [...inTable, ...inSteps].sort(byCreatedThenId);
}
