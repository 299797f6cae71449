/**
 * The part of SqliteStorage and PostgresStorage that is the same SQL in both dialects: reads, the
 * single-statement writes (claim, lease renewal, inserts) and the catalog tables. Multi-statement
 * writes (commit, updateRun, deleteRun, purgeRuns), migrations and the steps' layout (with their reads and the
 * LLM calls they hold) are dialect-specific and left to subclasses.
 */
import { sql, type CompiledQuery, type Kysely } from 'kysely';
import * as limits from './sql-fleet-limits.js';
import type { AdmissionClaim, LimitSlot, RateBucket } from '../fleet-limits.js';
import type {
  ApprovalFilter,
  AuditEvent,
  AuditFilter,
  DeadLetterFilter,
  ApprovalWaiter,
  BundleRecord,
  ModelCallRecord,
  PromptRecord,
  RunFilter,
  RunRecord,
  StepRecord,
  WorkflowFilter,
  WorkflowRecord,
} from '../records.js';
import type { DeliveredEvent, PurgeFilter, RunCount, RunCountFilter, RunExpectation, RunPatch, RunScanOptions, ScanOptions, StepCommit, Storage, StorageHealth, VersionKey } from '../storage.js';
import * as scans from './sql-scans.js';
import { ACTIVE_RUN_STATUSES, ORPHAN_RUN_STATUSES, byCreatedThenId, runExists } from '../storage-helpers.js';
import * as catalog from './sql-catalog.js';
import * as inbox from './sql-event-inbox.js';
import * as audit from './sql-audit.js';
import { COLUMNS, decodeRecord, encodeRecord, selectList, toStorageError } from './sql-codec.js';
import { SCHEMA_VERSION, parseSchemaVersion, type SqlDialectName, type TrellisDatabase } from './sql-schema.js';
import type { RunStatus } from '../records.js';
import { escapeText } from '../odd-text.js';


/** Base of the SQL storages; not exported from the package. */
export abstract class SqlStorage implements Storage {
  protected readonly ctx: catalog.SqlContext;
  /** Rate buckets this object made sure exist (sql-fleet-limits.ts). */
  readonly #buckets = new Set<string>();

  protected constructor(db: Kysely<TrellisDatabase>, dialect: SqlDialectName) {
    this.ctx = { db, dialect };
  }

  abstract init(): Promise<void>;
  abstract close(): Promise<void>;
  abstract updateRun(id: string, patch: RunPatch, expect?: RunExpectation): Promise<RunRecord | undefined>;
  abstract commit(commit: StepCommit): Promise<boolean>;
  abstract deleteRun(id: string, expect?: RunExpectation, audit?: readonly AuditEvent[]): Promise<boolean>;
  /**
   * Runs `change` and, when it wrote a row, appends `events`, in one write transaction (a catalog
   * change with the audit events recording it). Resolves with how many rows `change` wrote.
   */
  protected abstract writeAudited(operation: string, change: CompiledQuery, events: readonly AuditEvent[]): Promise<number>;
  abstract purgeRuns(filter: PurgeFilter): Promise<number>;
  // How steps are laid out is the dialect's (a row per step on PostgreSQL, a step log on SQLite).
  abstract getSteps(runId: string): Promise<StepRecord[]>;
  abstract getStep(runId: string, path: string): Promise<StepRecord | undefined>;
  abstract findDueSteps(now: number, limit: number): Promise<StepRecord[]>;
  abstract findEventWaiters(event: string, limit: number): Promise<StepRecord[]>;
  abstract findApprovalWaiters(filter?: ApprovalFilter): Promise<ApprovalWaiter[]>;
  abstract getCall(id: string): Promise<ModelCallRecord | undefined>;
  abstract listCalls(filter: { readonly workflow_execution_id?: string; readonly workflow_node_id?: string }): Promise<ModelCallRecord[]>;

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
        const row = await db.selectFrom('workflow_executions').select(this.#runColumns).where('idempotency_key', '=', escapeText(run.idempotency_key)).executeTakeFirst();
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
      if (filter.retry_of !== undefined) query = query.where('retry_of', '=', filter.retry_of);
      query = query.orderBy('created_at', 'desc').orderBy('id');
      // SQLite accepts OFFSET only after a LIMIT; -1 means "no limit" there.
      if (filter.limit !== undefined) query = query.limit(filter.limit);
      else if (filter.offset !== undefined && this.ctx.dialect === 'sqlite') query = query.limit(-1);
      if (filter.offset !== undefined) query = query.offset(filter.offset);
      return (await query.execute()).map((row) => decodeRecord<RunRecord>(COLUMNS.runs, row));
    });
  }

  countRuns(filter: RunCountFilter = {}): Promise<RunCount[]> {
    return this.guard('countRuns', async () => {
      // A range of the (created_at, workflow_id, status) index, read without touching the rows.
      let query = this.ctx.db
        .selectFrom('workflow_executions')
        .select((eb) => ['workflow_id', 'status', eb.fn.countAll<number | string>().as('n')])
        .groupBy(['workflow_id', 'status']);
      if (filter.workflow_id !== undefined) query = query.where('workflow_id', '=', filter.workflow_id);
      if (filter.created_after !== undefined) {
        // Bounded on both ends: SQLite, without statistics, takes a half-open range for a large
        // part of the table and would read the workflow index and the rows instead of this range.
        query = query.where('created_at', '>=', filter.created_after).where('created_at', '<=', filter.created_before ?? Number.MAX_SAFE_INTEGER);
      } else if (filter.created_before !== undefined) query = query.where('created_at', '<=', filter.created_before);
      const rows = await query.orderBy('workflow_id').orderBy('status').execute();
      // pg returns COUNT(*) as a bigint string.
      return rows.map((row) => ({ workflow_id: String(row.workflow_id), status: row.status as RunStatus, count: Number(row.n) }));
    });
  }

  checkHealth(): Promise<StorageHealth> {
    return this.guard('checkHealth', async () => {
      const { db } = this.ctx;
      const row = await db.selectFrom('trellis_meta').select('value').where('key', '=', 'schema_version').executeTakeFirst();
      // A write, so that a read-only replica, a full disk or a lock held too long shows here.
      const probe = String(Date.now());
      await db.insertInto('trellis_meta').values({ key: 'health_probe', value: probe }).onConflict((oc) => oc.column('key').doUpdateSet({ value: probe })).execute();
      return { schema: { version: parseSchemaVersion(row?.value), expected: SCHEMA_VERSION } };
    });
  }

  claimRun(id: string, owner: string, leaseUntil: number, now: number): Promise<RunRecord | undefined> {
    return this.guard('claimRun', async () => {
      const row = await this.ctx.db
        .updateTable('workflow_executions')
        // A claim bumps the revision: it is the fencing token of the owner's commits.
        .set((eb) => ({ owner, lease_expires_at: leaseUntil, revision: eb('revision', '+', 1) }))
        .where('id', '=', id)
        .where((eb) => eb.or([eb('owner', 'is', null), eb('owner', '=', owner), eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now)]))
        .returning(this.#runColumns)
        .executeTakeFirst();
      return row && decodeRecord<RunRecord>(COLUMNS.runs, row);
    });
  }

  renewLeases(owner: string, leaseUntil: number, runIds?: readonly string[]): Promise<void> {
    return this.guard('renewLeases', async () => {
      const renew = (ids?: readonly string[]) => {
        let query = this.ctx.db
          .updateTable('workflow_executions')
          .set({ lease_expires_at: leaseUntil })
          .where('owner', '=', owner)
          .where('status', 'in', [...ACTIVE_RUN_STATUSES]);
        if (ids) query = query.where('id', 'in', [...ids]);
        return query.execute();
      };
      if (!runIds) await renew();
      // In slices: a statement binds at most some tens of thousands of parameters.
      else for (let i = 0; i < runIds.length; i += 1000) await renew(runIds.slice(i, i + 1000));
    });
  }

  findOrphanRuns(now: number, limit: number, owner?: string): Promise<RunRecord[]> {
    return this.guard('findOrphanRuns', async () => {
      const rows = await this.ctx.db
        .selectFrom('workflow_executions')
        .select(this.#runColumns)
        .where('status', 'in', [...ORPHAN_RUN_STATUSES])
        // An unowned run with a lease ahead is parked (it only waits): no orphan until its wake time.
        .where((eb) => eb.or([eb('lease_expires_at', 'is', null), eb('lease_expires_at', '<', now), ...(owner === undefined ? [] : [eb('owner', '=', owner)])]))
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit)
        .execute();
      return rows.map((row) => decodeRecord<RunRecord>(COLUMNS.runs, row));
    });
  }

  claimReadyRuns(owner: string, leaseUntil: number, now: number, limit: number): Promise<RunRecord[]> {
    return this.guard('claimReadyRuns', async () => {
      const rows = await this.ctx.db
        .updateTable('workflow_executions')
        .set((eb) => ({ owner, lease_expires_at: leaseUntil, revision: eb('revision', '+', 1) }))
        .where('id', 'in', (eb) => {
          const ready = eb
            .selectFrom('workflow_executions')
            .select('id')
            .where((w) =>
              w.or([
                w('status', '=', 'running'),
                w.and([w('status', '=', 'pending'), w('started_at', 'is not', null)]),
                // A paused run (only approvals left) that a decision or event was left for.
                w.and([w('status', '=', 'paused'), w.exists(w.selectFrom('workflow_event_inbox').select('workflow_event_inbox.id').whereRef('workflow_event_inbox.run_id', '=', 'workflow_executions.id'))]),
              ]),
            )
            .where((w) =>
              w.or([
                w('lease_expires_at', 'is', null),
                w('lease_expires_at', '<', now),
                // A parked run (unowned, its wake time ahead) is ready once something waits in its inbox.
                w.and([w('owner', 'is', null), w.exists(w.selectFrom('workflow_event_inbox').select('workflow_event_inbox.id').whereRef('workflow_event_inbox.run_id', '=', 'workflow_executions.id'))]),
              ]),
            )
            .orderBy('created_at')
            .orderBy('id')
            .limit(limit);
          // Rows another claimant is taking are skipped, not waited for: concurrent workers get
          // disjoint batches. PostgreSQL re-checks the conditions on a row that changed since the
          // statement's snapshot, so a run claimed meanwhile is not taken twice. SQLite's single
          // writer runs the statement alone.
          return this.ctx.dialect === 'postgres' ? ready.forUpdate().skipLocked() : ready;
        })
        .returning(this.#runColumns)
        .execute();
      return rows.map((row) => decodeRecord<RunRecord>(COLUMNS.runs, row)).sort(byCreatedThenId);
    });
  }

  /**
   * Runs `fn` so that no other process runs a `fn` of the same `key` at once. SQLite: as is, each
   * statement of `fn` being atomic alone (its single writer). PostgreSQL overrides it with a
   * transaction holding an advisory lock on the key.
   */
  protected serialised<T>(_key: string, fn: (db: Kysely<TrellisDatabase>) => Promise<T>): Promise<T> {
    return fn(this.ctx.db);
  }

  admitQueuedRuns(workflowId: string, limit: number, claim: AdmissionClaim, now: number): Promise<RunRecord[]> {
    return this.guard('admitQueuedRuns', () =>
      this.serialised(`admit:${workflowId}`, async (db) => {
        // Counting and starting in one statement: SQLite runs it alone; on PostgreSQL the lock of
        // `serialised` orders admissions of the workflow, each statement seeing the ones before.
        const active = db.selectFrom('workflow_executions').select((eb) => eb.fn.countAll().as('n')).where('workflow_id', '=', workflowId).where('status', 'in', ['running', 'paused']);
        const room = this.ctx.dialect === 'postgres' ? sql<number>`GREATEST(0, ${limit} - (${active}))` : sql<number>`max(0, ${limit} - (${active}))`;
        const rows = await db
          .updateTable('workflow_executions')
          .set((eb) => ({ status: 'running', started_at: now, owner: claim.owner ?? null, lease_expires_at: claim.leaseUntil ?? null, revision: eb('revision', '+', 1) }))
          .where('id', 'in', (eb) =>
            eb.selectFrom('workflow_executions').select('id').where('workflow_id', '=', workflowId).where('status', '=', 'pending').where('started_at', 'is', null).orderBy('created_at').orderBy('id').limit(room),
          )
          .returning(this.#runColumns)
          .execute();
        return rows.map((row) => decodeRecord<RunRecord>(COLUMNS.runs, row)).sort(byCreatedThenId);
      }),
    );
  }

  acquireLimitSlot(slot: LimitSlot, limit: number, now: number): Promise<boolean> {
    return this.guard('acquireLimitSlot', () => this.serialised(`slot:${slot.scope}`, (db) => limits.acquireSlot(db, this.ctx.dialect, slot, limit, now)));
  }

  releaseLimitSlot(scope: string, holder: string): Promise<void> {
    return this.guard('releaseLimitSlot', () => limits.releaseSlot(this.ctx.db, scope, holder));
  }

  takeLimitTokens(bucket: RateBucket, amount: number, now: number, force = false): Promise<number> {
    // One conditional UPDATE: the row lock orders concurrent takers, no advisory lock needed.
    return this.guard('takeLimitTokens', () => limits.takeTokens(this.ctx.db, this.ctx.dialect, this.#buckets, bucket, amount, now, force));
  }

  deliverEvent(event: DeliveredEvent): Promise<boolean> {
    return this.guard('deliverEvent', () => inbox.deliverEvent(this.ctx, event));
  }

  findDeliveredEvents(runIds: readonly string[], limit: number): Promise<DeliveredEvent[]> {
    return this.guard('findDeliveredEvents', () => inbox.findDeliveredEvents(this.ctx, runIds, limit));
  }

  deleteDeliveredEvents(ids: readonly string[]): Promise<void> {
    return this.guard('deleteDeliveredEvents', () => inbox.deleteDeliveredEvents(this.ctx, ids));
  }

  saveWorkflow(record: WorkflowRecord, events?: readonly AuditEvent[]): Promise<void> {
    if (!events || events.length === 0) return this.guard('saveWorkflow', () => catalog.insertWorkflow(this.ctx, record));
    // The events land only with a version newly written; one already there is checked as without them.
    return this.guard('saveWorkflow', async () => {
      const inserted = await this.writeAudited('saveWorkflow', catalog.insertNewWorkflowQuery(this.ctx.db, record).compile(), events);
      if (inserted === 0) await catalog.insertWorkflow(this.ctx, record);
    });
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

  deleteWorkflow(id: string, events?: readonly AuditEvent[]): Promise<void> {
    if (!events || events.length === 0) return this.guard('deleteWorkflow', () => catalog.deleteWorkflow(this.ctx, id));
    return this.guard('deleteWorkflow', async () => {
      await this.writeAudited('deleteWorkflow', catalog.deleteWorkflowQuery(this.ctx.db, id).compile(), events);
    });
  }

  findDeadLetters(filter: DeadLetterFilter): Promise<RunRecord[]> {
    return this.guard('findDeadLetters', () => audit.findDeadLetters(this.ctx, filter));
  }

  appendAudit(events: readonly AuditEvent[]): Promise<void> {
    return this.guard('appendAudit', () => audit.insertAudit(this.ctx.db, events));
  }

  listAudit(filter: AuditFilter): Promise<AuditEvent[]> {
    return this.guard('listAudit', () => audit.listAudit(this.ctx, filter));
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

  saveCall(record: ModelCallRecord): Promise<void> {
    return this.guard('saveCall', () => catalog.upsert(this.ctx, 'executions', COLUMNS.executions, ['id'], record));
  }

  scanWorkflows(options: ScanOptions<VersionKey>): Promise<WorkflowRecord[]> {
    return this.guard('scanWorkflows', () => scans.scanWorkflows(this.ctx, options));
  }

  scanPrompts(options: ScanOptions<VersionKey>): Promise<PromptRecord[]> {
    return this.guard('scanPrompts', () => scans.scanPrompts(this.ctx, options));
  }

  scanRuns(options: RunScanOptions): Promise<RunRecord[]> {
    return this.guard('scanRuns', () => scans.scanRuns(this.ctx, options));
  }

  saveBundle(record: BundleRecord): Promise<void> {
    return this.guard('saveBundle', () => catalog.upsert(this.ctx, 'execution_bundles', COLUMNS.bundles, ['id'], record));
  }

  getBundle(id: string): Promise<BundleRecord | undefined> {
    return this.guard('getBundle', () => catalog.getBundle(this.ctx, id));
  }
}

export { DEFAULT_LARGE_OUTPUT_BYTES, resolveLargeOutputBytes } from './sql-options.js';
