/**
 * SQLite storage over better-sqlite3. Reads and single-statement writes go through Kysely; the
 * multi-statement writes (commit, updateRun, deleteRun, migrations) use prepared better-sqlite3
 * statements in `BEGIN IMMEDIATE` transactions: taking the write lock up front means a second
 * process sharing the file waits (busy_timeout) instead of failing with SQLITE_BUSY on lock upgrade,
 * and skipping Kysely's async layer keeps `commit()` close to a bare insert. Steps live in a step
 * log (sqlite-step-log.ts), which the step reads here fold.
 */
import type Database from 'better-sqlite3';
import type BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type CompiledQuery } from 'kysely';
import { TrellisError } from '../../kernel/errors.js';
import type { SqliteStorageOptions } from './sqlite-options.js';
import type { ApprovalFilter, ApprovalWaiter, AuditEvent, ModelCallRecord, RunRecord, StepRecord } from '../records.js';
import type { CommitOutcome, PurgeFilter, RunExpectation, RunPatch, StepCommit } from '../storage.js';
import { byCreatedThenId, matchesExpectation, runExists } from '../storage-helpers.js';
import {
  COLUMNS,
  RUN_PATCH_COLUMNS,
  decodeRecord,
  dedupeSteps,
  encodeCells,
  expectationTarget,
  patchRunRow,
  toStorageError,
} from '../sql/sql-codec.js';
import { SCHEMA_VERSION, metaTableStatement, parseSchemaVersion, pendingMigrations, type TrellisDatabase } from '../sql/sql-schema.js';
import { SqlStorage, resolveLargeOutputBytes } from '../sql/sql-storage.js';
import { attachCalls } from '../step-calls.js';
import { escapeText } from '../odd-text.js';
import { LocalWorkSignals } from '../local-work-signals.js';
import { parseStepCallId } from '../../kernel/call-ids.js';
import { SqliteStepLog, WAITS_OF_RUN } from './sqlite-step-log.js';
import { SqliteRunDeletion } from './sqlite-run-deletion.js';
import { WalCheckpointer } from './sqlite-checkpointer.js';
import { BLOCKING_BUSY_MS, isBusy, retryWhenBusy, whenNotBusy } from './sqlite-busy.js';
import * as catalog from '../sql/sql-catalog.js';


type Row = Record<string, unknown>;

/** The prepared statements of the write paths, created once after migration. */
interface Statements {
  readonly runCas: Database.Statement<[string], Row>;
  readonly runPatchable: Database.Statement<[string], Row>;
  /** runCas and runPatchable for a commit: with whether the run has waits (see WAITS_OF_RUN). */
  readonly commitFence: Database.Statement<[string], Row>;
  readonly commitPatchable: Database.Statement<[string], Row>;
  readonly runFull: Database.Statement<[string], Row>;
  readonly upsertCall: Database.Statement<unknown[]>;
  readonly insertRun: Database.Statement<unknown[]>;
  readonly runById: Database.Statement<[string], Row>;
  readonly runByKey: Database.Statement<[string], Row>;
  readonly insertAudit: Database.Statement<unknown[]>;
  readonly steps: SqliteStepLog;
  readonly deletion: SqliteRunDeletion;
}

const EXECUTION_COLUMNS = COLUMNS.executions.map((c) => c.name);
const RUN_COLUMNS = COLUMNS.runs.map((c) => `"${c.name}"`);
const AUDIT_COLUMNS = COLUMNS.audit.map((c) => `"${c.name}"`);

function prepare(raw: Database.Database): Statements {
  return {
    runCas: raw.prepare('SELECT status, revision, owner FROM workflow_executions WHERE id = ?'),
    runPatchable: raw.prepare(`SELECT ${RUN_PATCH_COLUMNS.join(', ')} FROM workflow_executions WHERE id = ?`),
    commitFence: raw.prepare(`SELECT status, revision, owner, ${WAITS_OF_RUN} FROM workflow_executions WHERE id = ?`),
    commitPatchable: raw.prepare(`SELECT ${RUN_PATCH_COLUMNS.join(', ')}, ${WAITS_OF_RUN} FROM workflow_executions WHERE id = ?`),
    runFull: raw.prepare(`SELECT ${COLUMNS.runs.map((c) => `"${c.name}"`).join(', ')} FROM workflow_executions WHERE id = ?`),
    // The per-run hot path (create, read, read steps) as prepared statements: no query building per call.
    insertRun: raw.prepare(`INSERT INTO workflow_executions (${RUN_COLUMNS.join(', ')}) VALUES (${RUN_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT DO NOTHING`),
    runById: raw.prepare(`SELECT ${RUN_COLUMNS.join(', ')} FROM workflow_executions WHERE id = ?`),
    runByKey: raw.prepare(`SELECT ${RUN_COLUMNS.join(', ')} FROM workflow_executions WHERE idempotency_key = ?`),
    insertAudit: raw.prepare(`INSERT INTO audit_events (${AUDIT_COLUMNS.join(', ')}) VALUES (${AUDIT_COLUMNS.map(() => '?').join(', ')})`),
    steps: new SqliteStepLog(raw),
    deletion: new SqliteRunDeletion(raw),
    upsertCall: raw.prepare(
      `INSERT INTO executions (${EXECUTION_COLUMNS.map((c) => `"${c}"`).join(', ')}) VALUES (${EXECUTION_COLUMNS.map(() => '?').join(', ')}) ` +
        `ON CONFLICT (id) DO UPDATE SET ${EXECUTION_COLUMNS.filter((c) => c !== 'id').map((c) => `"${c}" = excluded."${c}"`).join(', ')}`,
    ),
  };
}

/**
 * {@link Storage} in a SQLite file (WAL mode), safe to share between processes on one machine.
 *
 * @example
 * const storage = new SqliteStorage({ path: './trellis.db' });
 * await storage.init();
 */
/** What loading better-sqlite3's addon says when its install script did not run, or ran for another Node. */
const UNBUILT_ADDON = /Could not locate the bindings file|NODE_MODULE_VERSION/;

export class SqliteDriver extends SqlStorage {
  readonly #raw: Database.Database;
  readonly #largeOutputBytes: number;
  /** One transaction wrapper, created once: better-sqlite3 wrappers are not free to build per call. */
  readonly #transaction: Database.Transaction<(fn: () => unknown) => unknown>;
  #statements: Statements | undefined;
  /** Engines of this process sharing this storage object hear each other; other processes poll. */
  readonly #signals = new LocalWorkSignals();
  /** Run updates by the set of columns they write: SQLite rewrites index entries of every column in SET. */
  readonly #patchStatements = new Map<string, Database.Statement<unknown[]>>();
  /** Runs the WAL checkpoints in a worker thread, off the event loop (sqlite-checkpointer.ts). */
  readonly #checkpointer: WalCheckpointer;

  /** `Database` is better-sqlite3's class, imported by `SqliteStorage` (which names the package when it is missing). */
  constructor(options: SqliteStorageOptions | string, Database: typeof BetterSqlite3) {
    const resolved = typeof options === 'string' ? { path: options } : options;
    if (typeof resolved.path !== 'string' || resolved.path === '') {
      throw new TrellisError('invalid_options', `SqliteStorage path must be a file path or ':memory:', received ${JSON.stringify(resolved.path)}`);
    }
    const largeOutputBytes = resolveLargeOutputBytes(resolved.largeOutputBytes);
    let raw: Database.Database;
    try {
      raw = new Database(resolved.path);
      // busy_timeout first, so that switching to WAL waits for other connections too.
      raw.pragma('busy_timeout = 5000');
      raw.pragma('journal_mode = WAL');
      raw.pragma('synchronous = NORMAL');
      raw.pragma('foreign_keys = ON');
      // From now on, waits for another writer are asynchronous (sqlite-busy.ts).
      raw.pragma(`busy_timeout = ${BLOCKING_BUSY_MS}`);
    } catch (error) {
      if (error instanceof Error && UNBUILT_ADDON.test(error.message)) {
        throw new TrellisError('missing_package', `better-sqlite3 is installed but its native module is not built for this Node (${process.version}): pnpm 10 and npm 11 skip install scripts they were not told to allow. Run \`npm rebuild better-sqlite3\` (after \`pnpm approve-builds\` with pnpm)`, { cause: error, retryable: false });
      }
      throw toStorageError(`open of ${resolved.path}`, error);
    }
    super(new Kysely<TrellisDatabase>({ dialect: new SqliteDialect({ database: raw }) }), 'sqlite');
    this.#raw = raw;
    this.#largeOutputBytes = largeOutputBytes;
    this.#transaction = raw.transaction((fn: () => unknown) => fn());
    this.#checkpointer = new WalCheckpointer(raw, resolved.path);
  }

  /**
   * Runs `fn` in a `BEGIN IMMEDIATE` transaction, reporting driver errors as `storage` errors. When
   * another process holds the write lock, waits for it without blocking (a promise then).
   */
  #write<A extends unknown[], T>(operation: string, fn: (statements: Statements, ...args: A) => T, ...args: A): T | Promise<T> {
    let result: T | Promise<T>;
    try {
      result = this.#writeNow(operation, fn, ...args);
    } catch (error) {
      if (!isBusy(error)) throw error;
      result = retryWhenBusy(() => this.#writeNow(operation, fn, ...args));
    }
    this.#checkpointer.afterWrite();
    return result;
  }

  #writeNow<A extends unknown[], T>(operation: string, fn: (statements: Statements, ...args: A) => T, ...args: A): T {
    const statements = this.#statements;
    if (!statements) throw new TrellisError('illegal_state', `SqliteStorage.${operation} called before init()`);
    try {
      return this.#transaction.immediate(() => fn(statements, ...args)) as T;
    } catch (error) {
      throw toStorageError(operation, error);
    }
  }

  /** Writes a patch to a run row whose patchable cells are `current`. */
  #patchRun(id: string, current: Row, patch: RunPatch): void {
    const next = patchRunRow(current, patch);
    const columns = RUN_PATCH_COLUMNS.filter((c) => c in patch || (c === 'revision' && next.revision !== Number(current.revision)));
    if (columns.length === 0) return;
    const key = columns.join(',');
    let statement = this.#patchStatements.get(key);
    if (!statement) {
      statement = this.#raw.prepare(`UPDATE workflow_executions SET ${columns.map((c) => `${c} = ?`).join(', ')} WHERE id = ?`);
      this.#patchStatements.set(key, statement);
    }
    statement.run(...columns.map((c) => next[c]), id);
  }

  async init(): Promise<void> {
    try {
      await whenNotBusy(() => this.#raw.exec(metaTableStatement('sqlite', '')));
      await whenNotBusy(() => this.#transaction.immediate(() => {
          const row = this.#raw.prepare("SELECT value FROM trellis_meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
          const current = parseSchemaVersion(row?.value);
          for (const statement of pendingMigrations('sqlite', '', current)) this.#raw.exec(statement);
          if (current !== SCHEMA_VERSION) {
            this.#raw
              .prepare("INSERT INTO trellis_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
              .run(String(SCHEMA_VERSION));
          }
      }));
      this.#statements ??= prepare(this.#raw);
    } catch (error) {
      throw toStorageError('init', error);
    }
  }

  /** Kysely's statements (reads, claims, lease renewals, the catalog) wait for the write lock without blocking too. */
  protected override guard<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    return super.guard(operation, () => whenNotBusy(fn));
  }

  announceWork(runId: string): Promise<void> {
    return this.#signals.announce(runId);
  }

  watchWork(listener: (runId: string) => void): Promise<() => Promise<void>> {
    return this.#signals.watch(listener);
  }

  async close(): Promise<void> {
    await this.ctx.db.destroy();
    await this.#checkpointer.close();
    if (this.#raw.open) this.#raw.close();
  }

  override async createRun(run: RunRecord): Promise<RunRecord> {
    return this.#write('createRun', (s) => {
      if (s.insertRun.run(encodeCells(COLUMNS.runs, run)).changes === 1) return run;
      const existing = run.idempotency_key === undefined ? undefined : s.runByKey.get(escapeText(run.idempotency_key));
      if (existing) return decodeRecord<RunRecord>(COLUMNS.runs, existing);
      throw runExists(run.id);
    });
  }

  override async getRun(id: string): Promise<RunRecord | undefined> {
    const row = this.#read('getRun', (s) => s.runById.get(id));
    return row && decodeRecord<RunRecord>(COLUMNS.runs, row);
  }

  override async getSteps(runId: string): Promise<StepRecord[]> {
    return this.#read('getSteps', (s) => s.steps.steps(runId));
  }

  override async getStep(runId: string, path: string): Promise<StepRecord | undefined> {
    return this.#read('getStep', (s) => s.steps.step(runId, path));
  }

  override async findDueSteps(now: number, limit: number): Promise<StepRecord[]> {
    return this.#read('findDueSteps', (s) => s.steps.dueSteps(now, limit));
  }

  override async findEventWaiters(event: string, limit: number): Promise<StepRecord[]> {
    return this.#read('findEventWaiters', (s) => s.steps.eventWaiters(event, limit));
  }

  override async findApprovalWaiters(filter: ApprovalFilter = {}): Promise<ApprovalWaiter[]> {
    return this.#read('findApprovalWaiters', (s) => s.steps.approvalWaiters(filter));
  }

  /** A step's call is read from its step (the id names it); anything else, or a call made before schema 3, from `executions`. */
  override async getCall(id: string): Promise<ModelCallRecord | undefined> {
    const step = parseStepCallId(id);
    const found = step && this.#read('getCall', (s) => s.steps.stepCalls(step.runId, step.path).find((record) => record.id === id));
    return found ?? this.guard('getCall', () => catalog.getCall(this.ctx, id));
  }

  override async listCalls(filter: { readonly workflow_execution_id?: string; readonly workflow_node_id?: string }): Promise<ModelCallRecord[]> {
    const inSteps = this.#read('listCalls', (s) => s.steps.calls(filter.workflow_execution_id, filter.workflow_node_id));
    const inTable = await this.guard('listCalls', () => catalog.listCalls(this.ctx, filter));
    return [...inTable, ...inSteps].sort(byCreatedThenId);
  }

  #read<T>(operation: string, fn: (statements: Statements) => T): T {
    const statements = this.#statements;
    if (!statements) throw new TrellisError('illegal_state', `SqliteStorage.${operation} called before init()`);
    try {
      return fn(statements);
    } catch (error) {
      throw toStorageError(operation, error);
    }
  }

  async updateRun(id: string, patch: RunPatch, expect?: RunExpectation): Promise<RunRecord | undefined> {
    return this.#write('updateRun', (s) => {
      const current = s.runPatchable.get(id);
      if (!current || !matchesExpectation(expectationTarget(current), expect)) return undefined;
      this.#patchRun(id, current, patch);
      return decodeRecord<RunRecord>(COLUMNS.runs, s.runFull.get(id)!);
    });
  }

  async commit(commit: StepCommit): Promise<boolean> {
    return this.#write('commit', (s) => this.#commitIn(s, commit));
  }

  /**
   * Every commit of the group in one `BEGIN IMMEDIATE` transaction, so that they land with one WAL
   * write. First all in one savepoint, one after the other: a commit whose fence fails is refused
   * before it writes anything, so refusals need no undoing. Only when a commit fails partway (a
   * driver error, a run id already taken) is the group rolled back to that savepoint and written
   * again with a savepoint per commit (better-sqlite3 makes a transaction function called inside
   * another a savepoint), so that the failure undoes its own commit and the others land. A
   * savepoint and its release per commit measured about 2 µs per commit in W5, for a failure that
   * hardly ever comes.
   */
  async commitMany(commits: readonly StepCommit[]): Promise<CommitOutcome[]> {
    return this.#write('commitMany', (s) => {
      try {
        return this.#transaction(() => commits.map((commit) => this.#commitWhole(s, commit))) as CommitOutcome[];
      } catch (error) {
        this.#throwIfRolledBack(error);
      }
      return commits.map((commit): CommitOutcome => {
        try {
          return this.#transaction(() => this.#commitIn(s, commit)) as boolean;
        } catch (error) {
          this.#throwIfRolledBack(error);
          return toStorageError('commit', error);
        }
      });
    });
  }

  /** {@link SqliteDriver.#commitIn} where a refusal must leave nothing written: one that may have (a run it created) throws. */
  #commitWhole(s: Statements, commit: StepCommit): boolean {
    const landed = this.#commitIn(s, commit);
    if (!landed && commit.create) throw new TrellisError('illegal_state', 'A commit that creates its run was refused: written again in a savepoint of its own');
    return landed;
  }

  /**
   * After an error SQLite may have rolled back the whole transaction (a full disk, an I/O error):
   * then nothing of the group landed, and the rest must not go on outside a transaction.
   */
  #throwIfRolledBack(error: unknown): void {
    if (!this.#raw.inTransaction) throw error;
  }

  /** One commit inside a transaction; `false` (its expectation failed) before anything is written. */
  #commitIn(s: Statements, commit: StepCommit): boolean {
    if (commit.create) {
      // Checked before inserting: returning false commits the transaction, which must then hold nothing.
      if (!matchesExpectation(commit.create, commit.expect)) return false;
      if (s.insertRun.run(encodeCells(COLUMNS.runs, commit.create)).changes !== 1) throw runExists(commit.create.id);
    }
    const current = (commit.run ? s.commitPatchable : s.commitFence).get(commit.runId);
    if (!current || !matchesExpectation(expectationTarget(current), commit.expect)) return false;
    if (commit.run) this.#patchRun(commit.runId, current, commit.run);
    const steps = dedupeSteps(commit.steps);
    const calls = attachCalls(commit.runId, steps, commit.calls, ',');
    s.steps.append(commit.runId, steps, calls.byPath, this.#largeOutputBytes, current.had_waits === 1);
    for (const record of calls.rest) s.upsertCall.run(encodeCells(COLUMNS.executions, record));
    if (commit.audit) for (const event of commit.audit) s.insertAudit.run(encodeCells(COLUMNS.audit, event));
    return true;
  }

  async deleteRun(id: string, expect?: RunExpectation, audit?: readonly AuditEvent[]): Promise<boolean> {
    return this.#write('deleteRun', (s) => {
      const current = s.runCas.get(id);
      if (!current || !matchesExpectation(expectationTarget(current), expect)) return false;
      s.deletion.deleteTrees([id]);
      if (audit) for (const event of audit) s.insertAudit.run(encodeCells(COLUMNS.audit, event));
      return true;
    });
  }

  protected async writeAudited(operation: string, change: CompiledQuery, events: readonly AuditEvent[]): Promise<number> {
    // Run through better-sqlite3 in one BEGIN IMMEDIATE, like every multi-statement write here.
    const statement = this.#raw.prepare(change.sql);
    return this.#write(operation, (s) => {
      const written = statement.run(...change.parameters).changes;
      if (written > 0) for (const event of events) s.insertAudit.run(encodeCells(COLUMNS.audit, event));
      return written;
    });
  }

  async purgeRuns(filter: PurgeFilter): Promise<number> {
    return this.#write('purgeRuns', (s) => {
      const picked = s.deletion.purgeable(filter);
      s.deletion.deleteTrees(picked);
      return picked.length;
    });
  }
}
