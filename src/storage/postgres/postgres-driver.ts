/**
 * PostgreSQL storage over pg, through Kysely. JSON fields are jsonb columns (read back as text, so
 * JSON `null` and an absent field stay distinct); timestamps are double precision, so they come back
 * as numbers rather than bigint strings. Multi-statement writes lock the run row with `FOR UPDATE`,
 * which serialises them against each other and against `claimRun`.
 */
import { Kysely, PostgresDialect, sql, type CompiledQuery, type QueryCreator, type Transaction } from 'kysely';
import type pg from 'pg';
import { TrellisError } from '../../kernel/errors.js';
import { resolveConnectionRetryMs, type PostgresStorageOptions } from './postgres-options.js';
import { Reconnector, TXID, isConnectionError, transactionCommitted, watchedPool, type TxState } from './postgres-connection.js';
import type { ApprovalFilter, ApprovalWaiter, AuditEvent, ModelCallRecord, RunRecord, StepRecord } from '../records.js';
import { insertAudit } from '../sql/sql-audit.js';
import type { Cell } from '../sql/sql-schema.js';
import { attachCalls } from '../step-calls.js';
import { escapeText } from '../odd-text.js';
import type { CommitOutcome, PurgeFilter, RunExpectation, RunPatch, StepCommit } from '../storage.js';
import { commitEach } from '../commit-each.js';
import { writeGroup, type GroupEntry, type GroupWriter } from './postgres-group-commit.js';
import { applyRunPatch, matchesExpectation, runExists } from '../storage-helpers.js';
import { excludedSet } from '../sql/sql-catalog.js';
import {
  APPEND_CALLS_SQL,
  COLUMNS,
  RUN_PATCH_COLUMNS,
  STEP_CALLS_COLUMN,
  STEP_ROW_COLUMNS,
  decodeRecord,
  encodeRecord,
  dedupeSteps,
  encodeStep,
  expectationTarget,
  patchRunRow,
  selectList,
  toStorageError,
  type ColumnSpec,
} from '../sql/sql-codec.js';
import { SCHEMA_VERSION, metaTableStatement, parseSchemaVersion, pendingMigrations, type TrellisDatabase } from '../sql/sql-schema.js';
import { SqlStorage, resolveLargeOutputBytes } from '../sql/sql-storage.js';
import * as stepRows from '../sql/sql-step-rows.js';
import { deleteRunTrees, lockPurgeable, type DeletionPlace } from './postgres-run-deletion.js';
import { WorkListener, workChannel } from './postgres-notify.js';


const STEP_KEYS = ['run_id', 'path'];
/** The step upsert's SET list: every column replaced, except `calls`, which is appended to. */
const STEP_UPDATES = { ...excludedSet(STEP_ROW_COLUMNS, STEP_KEYS), [STEP_CALLS_COLUMN]: sql<Cell>`${sql.raw(APPEND_CALLS_SQL)}` };
/**
 * The same, for a one-statement commit tried again after its connection broke: it may have landed,
 * so its calls are appended only when the row does not hold them yet (each call's line carries its
 * unique id, so finding the text means it is there). Only retries pay for the search.
 */
const STEP_UPDATES_ON_RETRY = {
  ...STEP_UPDATES,
  [STEP_CALLS_COLUMN]: sql<Cell>`CASE WHEN strpos(coalesce(workflow_execution_steps.calls, ''), coalesce(excluded.calls, '')) > 0 THEN workflow_execution_steps.calls ELSE ${sql.raw(APPEND_CALLS_SQL)} END`,
};
/**
 * Parameters one statement may bind: the wire protocol counts them in 16 bits (65,535), and the
 * server refuses a statement with more as a protocol violation. Kept well under, so a commit of a
 * few thousand steps is written in several inserts (in one transaction) instead of being refused.
 */
const MAX_BIND_PARAMETERS = 30_000;
const CAS_COLUMNS: readonly ColumnSpec[] = COLUMNS.runs.filter((c) => c.name === 'status' || c.name === 'revision' || c.name === 'owner');
const PATCH_SPEC: readonly ColumnSpec[] = COLUMNS.runs.filter((c) => RUN_PATCH_COLUMNS.includes(c.name));

/**
 * {@link Storage} in PostgreSQL, for several engine processes on several machines.
 *
 * @example
 * const storage = new PostgresStorage({ connectionString: process.env.DATABASE_URL, schema: 'trellis' });
 * await storage.init();
 */
export class PostgresDriver extends SqlStorage {
  readonly #ownsPool: boolean;
  readonly #reconnect: Reconnector;
  readonly #schema: string;
  readonly #largeOutputBytes: number;
  /** Opened by the first `watchWork` (a submit-only engine never listens). */
  #listener: WorkListener | undefined;
  readonly #driver: typeof pg;
  readonly #listenConfig: pg.ClientConfig;

  /** `driver` is the `pg` module, imported by `PostgresStorage` (which names the package when it is missing). */
  constructor(options: PostgresStorageOptions, driver: typeof pg) {
    if (options.pool === undefined && (typeof options.connectionString !== 'string' || options.connectionString === '')) {
      throw new TrellisError('invalid_options', 'PostgresStorage needs either connectionString (a postgres:// URL) or pool (a pg.Pool), received neither');
    }
    const schema = options.schema ?? 'public';
    if (typeof schema !== 'string' || schema === '') throw new TrellisError('invalid_options', `PostgresStorage schema must be a non-empty string, received ${JSON.stringify(schema)}`);
    const largeOutputBytes = resolveLargeOutputBytes(options.largeOutputBytes);
    const retryMs = resolveConnectionRetryMs(options.connectionRetryMs);
    const pool = (options.pool as pg.Pool | undefined) ?? new driver.Pool({ connectionString: options.connectionString });
    super(new Kysely<TrellisDatabase>({ dialect: new PostgresDialect({ pool: watchedPool(pool, options.pool === undefined) }) }).withSchema(schema), 'postgres');
    this.#ownsPool = options.pool === undefined;
    this.#reconnect = new Reconnector(retryMs);
    this.#schema = schema;
    this.#largeOutputBytes = largeOutputBytes;
    // The listening connection is made like the pool's (a host's pool: its own settings).
    this.#listenConfig = { ...pool.options };
    this.#driver = driver;
  }

  /** The schema, quoted, with a trailing dot: prefixes table names in raw DDL. */
  get #prefix(): string {
    return `"${this.#schema.replaceAll('"', '""')}".`;
  }

  get #deletion(): DeletionPlace {
    return { schema: this.#schema, blobLock: this.#blobLockKey };
  }

  /** A transaction holding an advisory lock on `key` in this schema (fleet admissions and limit slots). */
  protected override serialised<T>(key: string, fn: (db: Kysely<TrellisDatabase>) => Promise<T>): Promise<T> {
    return this.ctx.db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(hashtext(${`trellis-limit:${this.#schema}:${key}`}))`.execute(trx);
      return fn(trx);
    });
  }

  /** Advisory lock key guarding blob garbage collection against commits that reference blobs. */
  get #blobLockKey(): string {
    return `trellis-blobs:${this.#schema}`;
  }

  async init(): Promise<void> {
    await this.guard('init', () =>
      this.ctx.db.transaction().execute(async (trx) => {
        // Serialise concurrent init() calls on one schema: CREATE ... IF NOT EXISTS still races otherwise.
        await sql`SELECT pg_advisory_xact_lock(hashtext(${`trellis-init:${this.#schema}`}))`.execute(trx);
        // CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even for a schema that exists.
        const schema = await sql<{ one: number }>`SELECT 1 AS one FROM pg_namespace WHERE nspname = ${this.#schema}`.execute(trx);
        if (schema.rows.length === 0) await sql.raw(`CREATE SCHEMA IF NOT EXISTS ${this.#prefix.slice(0, -1)}`).execute(trx);
        await sql.raw(metaTableStatement('postgres', this.#prefix)).execute(trx);
        const row = await trx.selectFrom('trellis_meta').select('value').where('key', '=', 'schema_version').executeTakeFirst();
        const current = parseSchemaVersion(row?.value);
        for (const statement of pendingMigrations('postgres', this.#prefix, current)) await sql.raw(statement).execute(trx);
        if (current !== SCHEMA_VERSION) {
          await trx
            .insertInto('trellis_meta')
            .values({ key: 'schema_version', value: String(SCHEMA_VERSION) })
            .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(SCHEMA_VERSION) }))
            .execute();
        }
      }),
    );
  }

  announceWork(runId: string): Promise<void> {
    return this.guard('announceWork', async () => void (await sql`SELECT pg_notify(${workChannel(this.#schema)}, ${runId})`.execute(this.ctx.db)));
  }

  watchWork(listener: (runId: string) => void): Promise<() => Promise<void>> {
    this.#listener ??= new WorkListener(this.#driver, this.#listenConfig, workChannel(this.#schema));
    return this.#listener.watch(listener);
  }

  async close(): Promise<void> {
    await this.#listener?.close();
    this.#reconnect.close();
    if (this.#ownsPool) await this.ctx.db.destroy();
  }

  /**
   * Every operation is tried again when its connection is lost. Reads, claims, lease renewals and
   * the catalog upserts give the same result when repeated; the writes that would not (a commit, a
   * compare-and-set patch, a run insert) check on a retry whether their first try landed.
   */
  protected override guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return this.#retrying(operation, () => fn());
  }

  #retrying<T>(operation: string, fn: (retry: boolean) => Promise<T>): Promise<T> {
    return super.guard(operation, () => this.#reconnect.run(fn));
  }

  /**
   * A transaction whose body reads {@link TXID} in its first statement, before any write. When the
   * connection breaks during COMMIT, `txid_status` says whether it landed, so a commit that did
   * returns its result instead of being applied twice (a retried compare-and-set would fail its own
   * expectation; appended calls would double). A break before COMMIT left nothing: retry afresh.
   */
  async #transaction<T>(body: (trx: Transaction<TrellisDatabase>, tx: TxState) => Promise<T>): Promise<T> {
    const tx: TxState = { txid: undefined };
    let done: { readonly value: T } | undefined;
    try {
      return await this.ctx.db.transaction().execute(async (t) => {
        const value = await body(t, tx);
        done = { value };
        return value;
      });
    } catch (error) {
      if (done === undefined || tx.txid === undefined || !isConnectionError(error)) throw error;
      if (await transactionCommitted(this.ctx.db, tx.txid, this.#reconnect, error)) return done.value;
      throw error;
    }
  }

  /**
   * Inserts a run; with its idempotency key taken, returns the run holding it. Tried again when the
   * connection breaks, like every write; a retry that finds its own first try landed returns the run.
   */
  override createRun(run: RunRecord): Promise<RunRecord> {
    return this.#retrying('createRun', async (retry) => {
      const { db } = this.ctx;
      const result = await db.insertInto('workflow_executions').values(encodeRecord(COLUMNS.runs, run)).onConflict((oc) => oc.doNothing()).executeTakeFirst();
      if (Number(result.numInsertedOrUpdatedRows ?? 0) === 1 || (retry && (await this.#holdsRun(run)))) return run;
      if (run.idempotency_key !== undefined) {
        const row = await db.selectFrom('workflow_executions').select(selectList(COLUMNS.runs, 'postgres')).where('idempotency_key', '=', escapeText(run.idempotency_key)).executeTakeFirst();
        if (row) return decodeRecord<RunRecord>(COLUMNS.runs, row);
      }
      throw runExists(run.id);
    });
  }

  /**
   * Whether the stored run `run.id` is the one `run` describes: a retried insert that meets its own
   * id met its first try (run ids are random; one chosen by a caller would also have to match the
   * creation time, workflow and version).
   */
  async #holdsRun(run: RunRecord): Promise<boolean> {
    const row = await this.ctx.db
      .selectFrom('workflow_executions')
      .select(['created_at', 'workflow_id', 'workflow_version'])
      .where('id', '=', run.id)
      .executeTakeFirst();
    return row !== undefined && Number(row.created_at) === run.created_at && row.workflow_id === run.workflow_id && Number(row.workflow_version) === run.workflow_version;
  }

  /**
   * Locks the run row and returns the given columns, or undefined when the run is missing. A share
   * lock suffices to hold an expectation while steps are written; patching the run needs an update lock.
   */
  async #lockRun(trx: Transaction<TrellisDatabase>, id: string, spec: readonly ColumnSpec[], mode: 'share' | 'update', tx: TxState) {
    const query = trx.selectFrom('workflow_executions').select([...selectList(spec, 'postgres'), TXID]).where('id', '=', id);
    const row = await (mode === 'update' ? query.forUpdate() : query.forShare()).executeTakeFirst();
    const txid = row?.trellis_txid;
    tx.txid = typeof txid === 'string' ? txid : undefined;
    return row;
  }

  async updateRun(id: string, patch: RunPatch, expect?: RunExpectation): Promise<RunRecord | undefined> {
    return this.guard('updateRun', () =>
      this.#transaction(async (trx, tx) => {
        const current = await this.#lockRun(trx, id, PATCH_SPEC, 'update', tx);
        if (!current || !matchesExpectation(expectationTarget(current), expect)) return undefined;
        const row = await trx
          .updateTable('workflow_executions')
          .set(patchRunRow(current, patch))
          .where('id', '=', id)
          .returning(selectList(COLUMNS.runs, 'postgres'))
          .executeTakeFirstOrThrow();
        return decodeRecord<RunRecord>(COLUMNS.runs, row);
      }),
    );
  }

  /** A commit's step rows (its calls folded into them) and the LLM records that go to `executions`. */
  #encode(commit: StepCommit): GroupEntry {
    const steps = dedupeSteps(commit.steps);
    const calls = attachCalls(commit.runId, steps, commit.calls);
    const encoded = steps.map((step) => {
      const e = encodeStep(step, this.#largeOutputBytes);
      e.row.calls = calls.byPath.get(step.path) ?? null;
      return e;
    });
    return { commit, encoded, executions: calls.rest };
  }

  /**
   * The group in one transaction (postgres-group-commit.ts). Measured against the alternative of
   * sending the commits side by side on the pool's connections: with 200 runs in flight one
   * transaction per group was several times faster, as every commit costs PostgreSQL a WAL flush
   * and the pool ten connections at most (docs/performance-notes.md). A commit with a large output
   * (a blob and its lock), and the later commits of its run, are written on their own after the group.
   */
  async commitMany(commits: readonly StepCommit[]): Promise<CommitOutcome[]> {
    const outcomes: CommitOutcome[] = [];
    const grouped: { readonly index: number; readonly entry: GroupEntry }[] = [];
    const alone: number[] = [];
    const inGroup = new Set<string>();
    const aloneRuns = new Set<string>();
    commits.forEach((commit, index) => {
      let entry: GroupEntry;
      try {
        entry = this.#encode(commit);
      } catch (error) {
        // A commit that cannot be encoded fails alone, as it would on its own; so do its run's later ones.
        outcomes[index] = toStorageError('commit', error);
        aloneRuns.add(commit.runId);
        return;
      }
      if (aloneRuns.has(commit.runId) || inGroup.has(commit.runId) || entry.encoded.some((e) => e.blob)) {
        aloneRuns.add(commit.runId);
        alone.push(index);
      } else {
        inGroup.add(commit.runId);
        grouped.push({ index, entry });
      }
    });
    const entries = grouped.map((g) => g.entry);
    let written: CommitOutcome[];
    try {
      written = entries.length === 0 ? [] : await this.guard('commit', () => this.#transaction((trx, tx) => writeGroup(trx, tx, entries, this.#groupWriter)));
    } catch (error) {
      // A statement refused aborted the whole group: one by one, each commit meets its own fate.
      // A lost connection whose COMMIT may have landed is not tried again (that would double it).
      if (!statementRefused(error)) throw error;
      written = await Promise.all(entries.map(async (entry) => (await commitEach(this, [entry.commit]))[0]!));
    }
    grouped.forEach((g, i) => (outcomes[g.index] = written[i]!));
    const rest = await commitEach(this, alone.map((index) => commits[index]!));
    alone.forEach((index, i) => (outcomes[index] = rest[i]!));
    return outcomes;
  }

  get #groupWriter(): GroupWriter {
    return { prefix: this.#prefix, chunks };
  }


  async commit(commit: StepCommit): Promise<boolean> {
    const { encoded, executions } = this.#encode(commit);
    // A commit too large for one statement's parameters goes through the transaction, in chunks.
    const noBlobs = encoded.every((e) => !e.blob) && fitsOneStatement(encoded.length, executions.length);
    // Audit events ride in a transaction of their own making: the one-statement paths stay as they are.
    const audited = commit.audit !== undefined && commit.audit.length > 0;
    if (commit.create) {
      // The expectation holds for the row as created; the patch is applied before it is written.
      if (!matchesExpectation(commit.create, commit.expect)) return false;
      const created = commit.run ? applyRunPatch(commit.create, commit.run) : commit.create;
      if (audited) return this.#commitInTransaction(commit, encoded, executions, created);
      if (noBlobs) return this.#commitInOneStatement(encoded, executions, created);
      // Blobs need their lock and their own statements: the run first, then the rest, as a run
      // created before its first step was (recovery picks it up if the second write never lands).
      await this.#retrying('commit', async (retry) => {
        await this.ctx.db
          .insertInto('workflow_executions')
          .values(encodeRecord(COLUMNS.runs, created))
          .execute()
          .catch(async (error: unknown) => {
            if (!(retry && hasCode(error, '23505') && (await this.#holdsRun(created)))) throw error;
          });
      }).catch((error: unknown) => {
        throw hasCode(error, '23505') ? runExists(created.id, error) : error;
      });
      return this.commit({ runId: commit.runId, steps: commit.steps, ...(commit.calls ? { calls: commit.calls } : {}) });
    }
    if (!commit.run && encoded.length > 0 && noBlobs && !audited) return this.#commitInOneStatement(encoded, executions, undefined, commit.expect && { runId: commit.runId, expect: commit.expect });
    return this.#commitInTransaction(commit, encoded, executions);
  }

  /** A commit as one transaction: the run row locked (or, with `created`, inserted first), then everything else. */
  #commitInTransaction(commit: StepCommit, encoded: readonly ReturnType<typeof encodeStep>[], executions: readonly ModelCallRecord[], created?: RunRecord): Promise<boolean> {
    return this.guard('commit', () =>
      this.#transaction(async (trx, tx) => {
        if (created) {
          const txid = await sql<{ trellis_txid: string }>`SELECT txid_current()::text AS trellis_txid`.execute(trx);
          tx.txid = txid.rows[0]?.trellis_txid;
          await trx
            .insertInto('workflow_executions')
            .values(encodeRecord(COLUMNS.runs, created))
            .execute()
            .catch((error: unknown) => {
              throw hasCode(error, '23505') ? runExists(created.id, error) : error;
            });
        } else {
          const current = await (commit.run
            ? this.#lockRun(trx, commit.runId, PATCH_SPEC, 'update', tx)
            : this.#lockRun(trx, commit.runId, CAS_COLUMNS, 'share', tx));
          if (!current || !matchesExpectation(expectationTarget(current), commit.expect)) return false;
          if (commit.run) await trx.updateTable('workflow_executions').set(patchRunRow(current, commit.run)).where('id', '=', commit.runId).execute();
        }
        const blobs = [...new Map(encoded.flatMap((e) => (e.blob ? [[e.blob.hash, e.blob] as const] : []))).values()];
        if (blobs.length > 0) {
          await sql`SELECT pg_advisory_xact_lock_shared(hashtext(${this.#blobLockKey}))`.execute(trx);
          for (const chunk of chunks(blobs, 2)) await trx.insertInto('blobs').values(chunk).onConflict((oc) => oc.column('hash').doNothing()).execute();
        }
        for (const chunk of chunks(encoded, STEP_ROW_COLUMNS.length)) {
          await trx
            .insertInto('workflow_execution_steps')
            .values(chunk.map((e) => e.row))
            .onConflict((oc) => oc.columns(STEP_KEYS).doUpdateSet(STEP_UPDATES))
            .execute();
        }
        for (const chunk of chunks(executions, COLUMNS.executions.length)) {
          await trx
            .insertInto('executions')
            .values(chunk.map((record) => encodeRecord(COLUMNS.executions, record)))
            .onConflict((oc) => oc.column('id').doUpdateSet(excludedSet(COLUMNS.executions.map((c) => c.name), ['id'])))
            .execute();
        }
        await insertAudit(trx, commit.audit);
        return true;
      }),
    );
  }

  /**
   * The common commit (steps and LLM records, no run patch, no expectation, no blobs; or a new run
   * with its first steps) as one statement: data-modifying CTEs are atomic, so it needs no
   * BEGIN/lock/COMMIT round trips. A run deleted meanwhile shows up as a foreign-key violation:
   * nothing is written. An expectation (the owner's fence on every commit) is a CTE that share-locks
   * the run row when it matches; when it does not, the statement divides by zero and nothing of it lands.
   */
  async #commitInOneStatement(
    encoded: readonly ReturnType<typeof encodeStep>[],
    executions: readonly ModelCallRecord[],
    created?: RunRecord,
    fence?: { readonly runId: string; readonly expect: RunExpectation },
  ): Promise<boolean> {
    try {
      await this.#retrying('commit', async (retry) => {
        // A new run goes in first, in the same statement: its steps' foreign keys are checked at its end.
        let db: QueryCreator<TrellisDatabase> = this.ctx.db;
        // Typed loosely: each CTE adds a table the statement never reads.
        const add = (name: string, query: (d: QueryCreator<TrellisDatabase>) => unknown): void => {
          db = db.with(name, query as never) as unknown as QueryCreator<TrellisDatabase>;
        };
        // FOR SHARE waits for a claim in flight and rechecks the row it committed, so a claim lands
        // either wholly before this commit (which then writes nothing) or after it.
        if (fence) add('g', (d) => fenceQuery(d, fence.runId, fence.expect));
        if (created) add('r', (d) => d.insertInto('workflow_executions').values(encodeRecord(COLUMNS.runs, created)));
        if (encoded.length > 0) {
          add('s', (d) =>
            d
              .insertInto('workflow_execution_steps')
              .values(encoded.map((e) => e.row))
              .onConflict((oc) => oc.columns(STEP_KEYS).doUpdateSet(retry ? STEP_UPDATES_ON_RETRY : STEP_UPDATES)),
          );
        }
        if (executions.length > 0) {
          add('e', (d) =>
            d
              .insertInto('executions')
              .values(executions.map((record) => encodeRecord(COLUMNS.executions, record)))
              .onConflict((oc) => oc.column('id').doUpdateSet(excludedSet(COLUMNS.executions.map((c) => c.name), ['id']))),
          );
        }
        await db
          .selectNoFrom(fence ? sql<number>`1 / (SELECT count(*) FROM g)`.as('one') : sql<number>`1`.as('one'))
          .execute()
          .catch(async (error: unknown) => {
            // The first try landed before its connection broke: the run is there, and everything else with it (one statement).
            if (!(retry && created && hasCode(error, '23505') && (await this.#holdsRun(created)))) throw error;
          });
      });
      return true;
    } catch (error) {
      if (created && hasCode(error, '23505')) throw runExists(created.id, error);
      if (foreignKeyViolation(error) || (fence && hasCode(error, '22012'))) return false;
      throw error;
    }
  }

  getSteps(runId: string): Promise<StepRecord[]> {
    return this.guard('getSteps', () => stepRows.getSteps(this.ctx, runId));
  }

  getStep(runId: string, path: string): Promise<StepRecord | undefined> {
    return this.guard('getStep', () => stepRows.getStep(this.ctx, runId, path));
  }

  findDueSteps(now: number, limit: number): Promise<StepRecord[]> {
    return this.guard('findDueSteps', () => stepRows.findDueSteps(this.ctx, now, limit));
  }

  findEventWaiters(event: string, limit: number): Promise<StepRecord[]> {
    return this.guard('findEventWaiters', () => stepRows.findEventWaiters(this.ctx, event, limit));
  }

  findApprovalWaiters(filter: ApprovalFilter = {}): Promise<ApprovalWaiter[]> {
    return this.guard('findApprovalWaiters', () => stepRows.findApprovalWaiters(this.ctx, filter));
  }

  getCall(id: string): Promise<ModelCallRecord | undefined> {
    return this.guard('getCall', () => stepRows.getCall(this.ctx, id));
  }

  listCalls(filter: { readonly workflow_execution_id?: string; readonly workflow_node_id?: string }): Promise<ModelCallRecord[]> {
    return this.guard('listCalls', () => stepRows.listCalls(this.ctx, filter));
  }

  async deleteRun(id: string, expect?: RunExpectation, audit?: readonly AuditEvent[]): Promise<boolean> {
    return this.guard('deleteRun', () =>
      this.#transaction(async (trx, tx) => {
        // Locked for update: waits for a commit or claim of the run in flight, and holds off the next.
        const current = await this.#lockRun(trx, id, CAS_COLUMNS, 'update', tx);
        if (!current || !matchesExpectation(expectationTarget(current), expect)) return false;
        await deleteRunTrees(trx, [id], this.#deletion);
        await insertAudit(trx, audit);
        return true;
      }),
    );
  }

  protected writeAudited(operation: string, change: CompiledQuery, events: readonly AuditEvent[]): Promise<number> {
    return this.guard(operation, () =>
      this.#transaction(async (trx, tx) => {
        const txid = await sql<{ trellis_txid: string }>`SELECT txid_current()::text AS trellis_txid`.execute(trx);
        tx.txid = txid.rows[0]?.trellis_txid;
        const written = Number((await trx.executeQuery(change)).numAffectedRows ?? 0);
        if (written > 0) await insertAudit(trx, events);
        return written;
      }),
    );
  }

  async purgeRuns(filter: PurgeFilter): Promise<number> {
    return this.guard('purgeRuns', () =>
      this.#transaction(async (trx, tx) => {
        const picked = await lockPurgeable(trx, filter, tx);
        await deleteRunTrees(trx, picked, this.#deletion);
        return picked.length;
      }),
    );
  }
}

/** The run row, share-locked, when it matches `expect`; no row when it does not. */
function fenceQuery(d: QueryCreator<TrellisDatabase>, runId: string, expect: RunExpectation) {
  let query = d.selectFrom('workflow_executions').select(sql<number>`1`.as('ok')).where('id', '=', runId);
  if (expect.status !== undefined) query = query.where('status', 'in', typeof expect.status === 'string' ? [expect.status] : [...expect.status]);
  if (expect.revision !== undefined) query = query.where('revision', '=', expect.revision);
  if (expect.owner !== undefined) query = expect.owner === null ? query.where('owner', 'is', null) : query.where('owner', '=', expect.owner);
  return query.forShare();
}

/** Whether steps and calls, with a run row, bind few enough parameters for one statement. */
function fitsOneStatement(steps: number, calls: number): boolean {
  return steps * STEP_ROW_COLUMNS.length + calls * COLUMNS.executions.length + COLUMNS.runs.length <= MAX_BIND_PARAMETERS;
}

/** `rows` in slices whose parameters (`columns` per row) stay under {@link MAX_BIND_PARAMETERS}. */
function* chunks<T>(rows: readonly T[], columns: number): Generator<readonly T[]> {
  const size = Math.max(1, Math.floor(MAX_BIND_PARAMETERS / columns));
  for (let i = 0; i < rows.length; i += size) yield rows.slice(i, i + size);
}

/**
 * Whether the server refused a statement (any SQLSTATE outside the lost-connection ones): the
 * transaction was rolled back, nothing of it landed.
 */
function statementRefused(error: unknown): boolean {
  let refused = false;
  for (let e: unknown = error; e !== null && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if (isConnectionError(e)) return false;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) refused = true;
  }
  return refused;
}

function foreignKeyViolation(error: unknown): boolean {
  return hasCode(error, '23503');
}

/** Whether `error`, or an error in its cause chain, carries the Postgres SQLSTATE `code`. */
function hasCode(error: unknown, code: string): boolean {
  for (let e: unknown = error; e !== null && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    if ((e as { code?: unknown }).code === code) return true;
  }
  return false;
}
