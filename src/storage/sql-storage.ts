/**
 * The part of SqliteStorage and PostgresStorage that is the same SQL in both dialects: reads, the
 * single-statement writes (claim, lease renewal, inserts) and the catalog tables. Multi-statement
 * writes (commit, updateRun, deleteRun) and migrations are dialect-specific and left to subclasses.
 * The step reads here are those of a row per step, as PostgreSQL keeps them; SQLite keeps a step
 * log instead (step-log.ts), and its driver overrides them.
 */
import { sql, type Kysely, type SqlBool } from 'kysely';
import type {
  BundleRecord,
  LlmExecutionRecord,
  PromptRecord,
  RunFilter,
  RunRecord,
  StepRecord,
  WorkflowFilter,
  WorkflowRecord,
} from './records.js';
import type { RunExpectation, RunPatch, StepCommit, Storage } from './storage.js';
import { ACTIVE_RUN_STATUSES, ORPHAN_RUN_STATUSES, TIMER_RUN_STATUSES, byCreatedThenId, runExists } from './storage-helpers.js';
import * as catalog from './sql-catalog.js';
import { COLUMNS, decodeRecord, decodeStep, encodeRecord, selectList, toStorageError } from './sql-codec.js';
import type { SqlDialectName, TrellisDatabase } from './sql-schema.js';
import { decodeCalls, parseStepCallId, type CallsRow } from './step-calls.js';


/** Base of the SQL storages; not exported from the package. */
export abstract class SqlStorage implements Storage {
  protected readonly ctx: catalog.SqlContext;

  protected constructor(db: Kysely<TrellisDatabase>, dialect: SqlDialectName) {
    this.ctx = { db, dialect };
  }

  abstract init(): Promise<void>;
  abstract close(): Promise<void>;
  abstract updateRun(id: string, patch: RunPatch, expect?: RunExpectation): Promise<RunRecord | undefined>;
  abstract commit(commit: StepCommit): Promise<boolean>;
  abstract deleteRun(id: string): Promise<void>;

  /** Runs `fn`, reporting driver errors as `storage` TrellisErrors. */
  protected async guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toStorageError(operation, error);
    }
  }

  get #runColumns() {
    return selectList(COLUMNS.runs, this.ctx.dialect);
  }

  createRun(run: RunRecord): Promise<RunRecord> {
    return this.guard('createRun', async () => {
      const { db } = this.ctx;
      const result = await db.insertInto('workflow_executions').values(encodeRecord(COLUMNS.runs, run)).onConflict((oc) => oc.doNothing()).executeTakeFirst();
      if (Number(result.numInsertedOrUpdatedRows ?? 0) === 1) return run;
      if (run.idempotency_key !== undefined) {
        const row = await db.selectFrom('workflow_executions').select(this.#runColumns).where('idempotency_key', '=', run.idempotency_key).executeTakeFirst();
        if (row) return decodeRecord<RunRecord>(COLUMNS.runs, row);
      }
      throw runExists(run.id);
    });
  }

  getRun(id: string): Promise<RunRecord | undefined> {
    return this.guard('getRun', async () => {
      const row = await this.ctx.db.selectFrom('workflow_executions').select(this.#runColumns).where('id', '=', id).executeTakeFirst();
      return row && decodeRecord<RunRecord>(COLUMNS.runs, row);
    });
  }

  listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    return this.guard('listRuns', async () => {
      let query = this.ctx.db.selectFrom('workflow_executions').select(this.#runColumns);
      if (filter.workflow_id !== undefined) query = query.where('workflow_id', '=', filter.workflow_id);
      if (filter.status !== undefined) {
        const statuses = typeof filter.status === 'string' ? [filter.status] : [...filter.status];
        // `IN ()` is a syntax error in Postgres; an empty list matches nothing anyway.
        if (statuses.length === 0) return [];
        query = query.where('status', 'in', statuses);
      }
      if (filter.created_after !== undefined) query = query.where('created_at', '>=', filter.created_after);
      if (filter.created_before !== undefined) query = query.where('created_at', '<=', filter.created_before);
      query = query.orderBy('created_at', 'desc').orderBy('id');
      // SQLite accepts OFFSET only after a LIMIT; -1 means "no limit" there.
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      else if (filter.offset !== undefined && this.ctx.dialect === 'sqlite') query = query.limit(-1);
      if (filter.offset !== undefined) query = query.offset(filter.offset);
      return (await query.execute()).map((row) => decodeRecord<RunRecord>(COLUMNS.runs, row));
    });
  }

  #stepQuery() {
    return this.ctx.db
      .selectFrom('workflow_execution_steps as s')
      .leftJoin('blobs as b', 'b.hash', 's.output_ref')
      .select([...selectList(COLUMNS.steps, this.ctx.dialect, 's'), sql.ref('s.output_ref').as('output_ref'), sql.ref('b.data').as('blob_data')]);
  }

  getSteps(runId: string): Promise<StepRecord[]> {
    return this.guard('getSteps', async () => {
      const rows = await this.#stepQuery().where('s.run_id', '=', runId).orderBy('s.seq').orderBy('s.path').execute();
      return rows.map(decodeStep);
    });
  }

  getStep(runId: string, path: string): Promise<StepRecord | undefined> {
    return this.guard('getStep', async () => {
      const row = await this.#stepQuery().where('s.run_id', '=', runId).where('s.path', '=', path).executeTakeFirst();
      return row && decodeStep(row);
    });
  }

  claimRun(id: string, owner: string, leaseUntil: number, now: number): Promise<RunRecord | undefined> {
    return this.guard('claimRun', async () => {
      const row = await this.ctx.db
        .updateTable('workflow_executions')
        .set({ owner, lease_expires_at: leaseUntil })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('owner', 'is', null), eb('owner', '=', owner), eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
        .returning(this.#runColumns)
        .executeTakeFirst();
      return row && decodeRecord<RunRecord>(COLUMNS.runs, row);
    });
  }

  renewLeases(owner: string, leaseUntil: number): Promise<void> {
    return this.guard('renewLeases', async () => {
      await this.ctx.db
        .updateTable('workflow_executions')
        .set({ lease_expires_at: leaseUntil })
        .where('owner', '=', owner)
        .where('status', 'in', [...ACTIVE_RUN_STATUSES])
        .execute();
    });
  }

  findOrphanRuns(now: number, limit: number): Promise<RunRecord[]> {
    return this.guard('findOrphanRuns', async () => {
      const rows = await this.ctx.db
        .selectFrom('workflow_executions')
        .select(this.#runColumns)
        .where('status', 'in', [...ORPHAN_RUN_STATUSES])
        .where((eb) => eb.or([eb('owner', 'is', null), eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map((row) => decodeRecord<RunRecord>(COLUMNS.runs, row));
    });
  }

  findDueSteps(now: number, limit: number): Promise<StepRecord[]> {
    return this.guard('findDueSteps', async () => {
      const rows = await this.#stepQuery()
        .innerJoin('workflow_executions as r', 'r.id', 's.run_id')
        // A literal, not a parameter, so SQLite can use the partial index on waiting steps.
        .where(sql<SqlBool>`s.status = 'waiting'`)
        .where('s.due_at', '<=', now)
        .where('r.status', 'in', [...TIMER_RUN_STATUSES])
        .orderBy('s.due_at')
        .orderBy('s.run_id')
        .orderBy('s.path')
        .limit(limit)
        .execute();
      return rows.map(decodeStep);
    });
  }

  findEventWaiters(event: string, limit: number): Promise<StepRecord[]> {
    return this.guard('findEventWaiters', async () => {
      const rows = await this.#stepQuery()
        .innerJoin('workflow_executions as r', 'r.id', 's.run_id')
        .where('s.wait_event', '=', event)
        .where('r.status', 'in', [...TIMER_RUN_STATUSES])
        .orderBy('s.run_id')
        .orderBy('s.path')
        .limit(limit)
        .execute();
      return rows.map(decodeStep);
    });
  }

  saveWorkflow(record: WorkflowRecord): Promise<void> {
    return this.guard('saveWorkflow', () => catalog.upsert(this.ctx, 'workflows', COLUMNS.workflows, ['id', 'version'], record));
  }

  getWorkflow(id: string, version?: number): Promise<WorkflowRecord | undefined> {
    return this.guard('getWorkflow', () => catalog.getWorkflow(this.ctx, id, version));
  }

  listWorkflows(filter: WorkflowFilter = {}): Promise<WorkflowRecord[]> {
    return this.guard('listWorkflows', () => catalog.listWorkflows(this.ctx, filter));
  }

  listWorkflowVersions(id: string): Promise<WorkflowRecord[]> {
    return this.guard('listWorkflowVersions', () => catalog.listWorkflowVersions(this.ctx, id));
  }

  deleteWorkflow(id: string): Promise<void> {
    return this.guard('deleteWorkflow', () => catalog.deleteWorkflow(this.ctx, id));
  }

  savePrompt(record: PromptRecord): Promise<void> {
    return this.guard('savePrompt', () => catalog.upsert(this.ctx, 'prompts', COLUMNS.prompts, ['id', 'version'], record));
  }

  getPrompt(id: string, version?: number): Promise<PromptRecord | undefined> {
    return this.guard('getPrompt', () => catalog.getPrompt(this.ctx, id, version));
  }

  listPrompts(): Promise<PromptRecord[]> {
    return this.guard('listPrompts', () => catalog.listPrompts(this.ctx));
  }

  deletePrompt(id: string): Promise<void> {
    return this.guard('deletePrompt', () => catalog.deletePrompt(this.ctx, id));
  }

  saveExecution(record: LlmExecutionRecord): Promise<void> {
    return this.guard('saveExecution', () => catalog.upsert(this.ctx, 'executions', COLUMNS.executions, ['id'], record));
  }

  /** A step's call is read from its step row (the id names it); anything else, or a call made before schema 3, from `executions`. */
  getExecution(id: string): Promise<LlmExecutionRecord | undefined> {
    return this.guard('getExecution', async () => {
      const step = parseStepCallId(id);
      if (step) {
        const row = await this.#callsRows().where('run_id', '=', step.runId).where('path', '=', step.path).executeTakeFirst();
        const found = row && decodeCalls(row).find((record) => record.id === id);
        if (found) return found;
      }
      return catalog.getExecution(this.ctx, id);
    });
  }

  listExecutions(filter: { readonly workflow_execution_id?: string; readonly workflow_node_id?: string }): Promise<LlmExecutionRecord[]> {
    return this.guard('listExecutions', async () => {
      let query = this.#callsRows().where('calls', 'is not', null);
      if (filter.workflow_execution_id !== undefined) query = query.where('run_id', '=', filter.workflow_execution_id);
      if (filter.workflow_node_id !== undefined) query = query.where('node_id', '=', filter.workflow_node_id);
      const inSteps = (await query.execute()).flatMap(decodeCalls);
      const inTable = await catalog.listExecutions(this.ctx, filter);
      return inSteps.length === 0 ? inTable : [...inTable, ...inSteps].sort(byCreatedThenId);
    });
  }

  #callsRows() {
    return this.ctx.db.selectFrom('workflow_execution_steps').select(['run_id', 'path', 'node_id', 'calls']).$castTo<CallsRow>();
  }

  saveBundle(record: BundleRecord): Promise<void> {
    return this.guard('saveBundle', () => catalog.upsert(this.ctx, 'execution_bundles', COLUMNS.bundles, ['id'], record));
  }

  getBundle(id: string): Promise<BundleRecord | undefined> {
    return this.guard('getBundle', () => catalog.getBundle(this.ctx, id));
  }
}

export { DEFAULT_LARGE_OUTPUT_BYTES, resolveLargeOutputBytes } from './sql-options.js';
