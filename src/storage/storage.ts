/**
 * The Storage port. Record-oriented: runs, steps, workflows, prompts, model calls, bundles.
 * State changes that can race (claim, resume, approve, cancel) are compare-and-set.
 * One conformance suite (`describeStorageConformance` in trellis/testing) runs against every implementation.
 */
import type { AdmissionClaim, LimitSlot, RateBucket } from './fleet-limits.js';
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
  RunStatus,
  StepRecord,
  WorkflowFilter,
  WorkflowRecord,
} from './records.js';
import type { Json } from '../kernel/json.js';

/** Names of the run fields a {@link RunPatch} may change. */
export type RunPatchField =
  | 'status'
  | 'output_data'
  | 'error_message'
  | 'started_at'
  | 'completed_at'
  | 'owner'
  | 'lease_expires_at'
  | 'recovery_count'
  | 'usage'
  | 'discarded_at';

/**
 * Fields of a run that may change after creation. An optional field given as `undefined` is cleared
 * (the mapped type, unlike `Partial<Pick<...>>`, lets callers write `{ owner: undefined }` under
 * `exactOptionalPropertyTypes`); `status` and `recovery_count` cannot be cleared.
 */
export type RunPatch = {
  readonly [K in RunPatchField]?: K extends 'status' | 'recovery_count' ? RunRecord[K] : RunRecord[K] | undefined;
};

/**
 * Condition for a compare-and-set update of a run. The engine fences every commit with one: the
 * owner it drives the run as and the revision it last wrote (a claim bumps the revision), so a
 * process that lost its lease (stopped, partitioned, or restarted under the same instance id) has
 * its late writes refused instead of overwriting the new owner's.
 */
export interface RunExpectation {
  readonly status?: RunStatus | readonly RunStatus[];
  readonly revision?: number;
  /** The run's owner must be this (or absent when `null`). */
  readonly owner?: string | null;
}

/** One atomic write: step rows upserted (by run id + path) and optionally the run row patched. */
export interface StepCommit {
  readonly runId: string;
  readonly steps: readonly StepRecord[];
  readonly run?: RunPatch;
  /** LLM execution records to insert or replace in the same transaction. */
  readonly calls?: readonly ModelCallRecord[];
  /** When given, the commit applies only if the run still matches; otherwise nothing is written and `commit` returns false. */
  readonly expect?: RunExpectation;
  /**
   * A new run to insert in the same transaction, before everything else: a run and its first steps
   * land together, so starting a run costs no transaction of its own. `run` and `expect` then apply
   * to the inserted row. Throws `conflict` when a run with that id (or idempotency key) exists;
   * there is no idempotent lookup here, which is what {@link Storage.createRun} is for.
   */
  readonly create?: RunRecord;
  /** Audit events to append in the same transaction (nothing is appended when the commit is refused). */
  readonly audit?: readonly AuditEvent[];
}

/**
 * What became of one commit of a {@link Storage.commitMany} group: `true` it landed, `false` its
 * expectation did not hold (nothing of it written), an error it failed (nothing of it written).
 */
export type CommitOutcome = boolean | Error;

/** Which runs {@link Storage.purgeRuns} deletes. */
export interface PurgeFilter {
  /** Runs whose `completed_at` is before this time (ms since epoch); a run without one is never picked. */
  readonly completed_before: number;
  /** Runs in one of these statuses (the engine passes finished ones only); an empty list picks none. */
  readonly status: readonly RunStatus[];
  /** Runs of this workflow only. */
  readonly workflow_id?: string;
  /** At most this many runs (a positive integer). */
  readonly limit: number;
}

/** Where a scan resumes, and how many records it reads: a page of a keyset scan. */
export interface ScanOptions<After> {
  /** Resume after the record with this key (exclusive); absent: from the first record. */
  readonly after?: After;
  /** At most this many records (a positive integer). */
  readonly limit: number;
}

/** The key of a workflow or prompt version, where a scan of versions resumes. */
export interface VersionKey {
  readonly id: string;
  readonly version: number;
}

/** Which runs {@link Storage.scanRuns} reads. */
export interface RunScanOptions extends ScanOptions<string> {
  /** Only runs in one of these statuses; an empty list picks none. @default every status */
  readonly status?: readonly RunStatus[];
}

/** Which runs {@link Storage.countRuns} counts. */
export interface RunCountFilter {
  /** Runs created at or after this time (ms since epoch). */
  readonly created_after?: number;
  /** Runs created at or before this time (ms since epoch). */
  readonly created_before?: number;
  /** Runs of this workflow only. */
  readonly workflow_id?: string;
}

/** How many runs of a workflow are in a status, from {@link Storage.countRuns}. */
export interface RunCount {
  readonly workflow_id: string;
  readonly status: RunStatus;
  readonly count: number;
}

/** What {@link Storage.checkHealth} found. */
export interface StorageHealth {
  /** The schema version the database is at and the one this code writes (SQL storages; absent without a schema). */
  readonly schema?: { readonly version: number; readonly expected: number };
}

/**
 * An event delivered to one waiting step of a run that another live process drives: `emit` could
 * not wake the step itself, so it leaves the event in the run's inbox, and the run's owner wakes
 * the step when it reads the inbox (on its next poll, or when it adopts the run).
 */
export interface DeliveredEvent {
  /** Unique; made by the emitting engine's id generator. */
  readonly id: string;
  readonly run_id: string;
  /** The path of the `wait_for_event` step the event is for. */
  readonly path: string;
  /** The event's name. */
  readonly event: string;
  readonly payload: Json;
  /** When it was emitted, on the emitting engine's clock. */
  readonly created_at: number;
}

/**
 * Where Trellis keeps everything. Implementations: MemoryStorage (reference), SqliteStorage, PostgresStorage.
 * All methods are async; records are plain JSON-compatible objects. Callers treat records as immutable,
 * so an implementation may hand out the objects it holds (the memory storage does, for speed).
 */
export interface Storage {
  /** Creates or migrates the schema. Idempotent. Refuses a schema newer than the code knows. */
  init(): Promise<void>;
  close(): Promise<void>;

  // Runs and steps
  /** Inserts a run. With `idempotency_key` set and a run with that key existing, returns the existing run instead. */
  createRun(run: RunRecord): Promise<RunRecord>;
  getRun(id: string): Promise<RunRecord | undefined>;
  listRuns(filter?: RunFilter): Promise<RunRecord[]>;
  /** Compare-and-set patch; bumps `revision` when `status` changes (and `claimRun` bumps it too). Returns the updated run, or undefined when the expectation failed or the run is missing. */
  updateRun(id: string, patch: RunPatch, expect?: RunExpectation): Promise<RunRecord | undefined>;
  /** Commits step rows and a run patch in one transaction. Returns false when `expect` did not hold. */
  commit(commit: StepCommit): Promise<boolean>;
  /**
   * Optional: several commits, of different runs, in as few transactions as the storage can (one,
   * on the memory, SQLite and PostgreSQL storages): what lets many runs in flight share the cost
   * of a durable commit. Each commit stays atomic and fenced on its own: one whose expectation
   * fails, or whose facts are refused (a run id taken, a constraint), is left out with nothing of
   * it written, and the others land. Resolves with one outcome per commit, in order. Rejects when
   * the group failed as a whole: then none of it landed, or (a connection lost during COMMIT whose
   * outcome the server could not tell) nobody knows, as {@link commit} would report it. Commits of
   * one run are applied in the order given. Without it, the engine calls {@link commit} for each.
   */
  commitMany?(commits: readonly StepCommit[]): Promise<CommitOutcome[]>;
  /**
   * Optional: `false` when grouping the commits of different runs saves this storage nothing (its
   * commit costs no I/O, as MemoryStorage's): the engine then sends each commit at once instead of
   * letting commits ready in the same turn of the event loop gather first. Default: group
   * whenever {@link commitMany} exists.
   */
  readonly groupCommits?: boolean;
  /** All steps of a run, ordered by `seq`. */
  getSteps(runId: string): Promise<StepRecord[]>;
  getStep(runId: string, path: string): Promise<StepRecord | undefined>;
  /**
   * Deletes a run with everything keyed to it: its steps, LLM execution records, inbox events and
   * the blobs no other run references, and its child runs (`sub_workflow`), theirs too, however
   * deep, in one transaction, with `audit` appended in it (audit events of the run stay). With `expect`, only when the run matches it (its children go whatever
   * their state). Resolves true when the run was deleted, false when it was missing or did not match.
   */
  deleteRun(id: string, expect?: RunExpectation, audit?: readonly AuditEvent[]): Promise<boolean>;
  /**
   * Deletes up to `filter.limit` runs that ended before `filter.completed_before`, oldest first
   * (`completed_at`, then `id`), each as {@link deleteRun} does, in one transaction: callers purge
   * in small batches, so no batch holds the write lock long. A child run is never picked by itself
   * while its parent is stored: it goes with its parent. Resolves with how many runs it picked
   * (their children not counted); fewer than `limit` means none is left.
   */
  purgeRuns(filter: PurgeFilter): Promise<number>;
  /**
   * Counts runs (child runs included) by workflow and status, ordered by workflow id then status;
   * pairs with no run are left out. Served by an index on the creation time, so a day's figures
   * cost a range scan, not a read of every run.
   */
  countRuns(filter?: RunCountFilter): Promise<RunCount[]>;
  /**
   * Checks that the storage answers and accepts writes (it writes a small probe) and reports its
   * schema version. Throws when either fails.
   */
  checkHealth(): Promise<StorageHealth>;

  // Leases and recovery
  /**
   * Claims a run for `owner` until `leaseUntil` when it is unowned, owned by `owner`, or its lease expired before `now`.
   * A single conditional statement, so two processes never both win. Bumps `revision` (also when
   * `owner` claims its own run again): the revision is the fencing token of the claimant's commits.
   * Returns the claimed run or undefined.
   */
  claimRun(id: string, owner: string, leaseUntil: number, now: number): Promise<RunRecord | undefined>;
  /**
   * Extends the lease of the active runs owned by `owner`: only those among `runIds` when given (the
   * runs the process still drives, so that a run it dropped becomes an orphan), else all of them.
   */
  renewLeases(owner: string, leaseUntil: number, runIds?: readonly string[]): Promise<void>;
  /**
   * Runs that are `pending` or `running` with no lease or an expired one, oldest first (an unowned
   * run with a lease ahead is parked: it only waits, see RunRecord.lease_expires_at); with
   * `owner`, also those `owner` holds whatever their lease (what a previous process with the same
   * instance id left: a restarted process takes them on at once instead of after the lease).
   */
  findOrphanRuns(now: number, limit: number, owner?: string): Promise<RunRecord[]>;
  /**
   * Claims for `owner`, until `leaseUntil`, up to `limit` runs that are ready for any process to
   * drive: `running` runs, `pending` ones already started, and `paused` ones with events in their
   * inbox (an approval left by a submit-only engine), that have no lease or one that expired
   * before `now`, or are unowned (parked) with events in their inbox; oldest first (`created_at`, then `id`). Queued runs (`pending`, never
   * started) are left to admission. Each claim bumps the run's revision as {@link claimRun} does.
   * Concurrent claimants get disjoint runs: PostgreSQL skips rows another claimant holds locked
   * (`FOR UPDATE SKIP LOCKED`); SQLite's single writer and the memory storage's single thread
   * serialise them. Resolves with the claimed runs, oldest first.
   *
   * Optional, so that storages written before it still work for every role but `'worker'` (which
   * needs it: the memory, SQLite and PostgreSQL storages have it).
   */
  claimReadyRuns?(owner: string, leaseUntil: number, now: number, limit: number): Promise<RunRecord[]>;
  /**
   * Optional: tells every engine sharing this storage that `runId` has work ready (a run was
   * stored for a worker to take, an approval or event was left in its inbox). PostgreSQL sends a
   * `NOTIFY`; the memory and SQLite storages reach the engines of this process that share the
   * storage object. Best effort: a lost signal costs one poll interval, never the work.
   */
  announceWork?(runId: string): Promise<void>;
  /**
   * Optional: calls `listener` with the run id of every {@link announceWork} (its own included)
   * until the returned function is called. PostgreSQL listens on a dedicated connection that
   * reconnects by itself; announcements sent while it was down are lost (polling covers them).
   */
  watchWork?(listener: (runId: string) => void): Promise<() => Promise<void>>;
  // Fleet-wide limits (optional: the engine keeps them per process on a storage without them)
  /**
   * Optional: starts the oldest queued runs of `workflowId` (`pending`, never started) while fewer
   * than `limit` of its runs are `running` or `paused`, counting and starting in one atomic step, so
   * that engines admitting at once in several processes never exceed `limit` together. Admitted
   * runs become `running` with `started_at` `now`, the claim's owner and lease, and their revision
   * bumped. Resolves with them, oldest first (`created_at`, then `id`).
   */
  admitQueuedRuns?(workflowId: string, limit: number, claim: AdmissionClaim, now: number): Promise<RunRecord[]>;
  /**
   * Optional: takes a slot of `slot.scope` for `slot.holder` until `slot.expires_at` when fewer
   * than `limit` slots of the scope are held (slots whose lease expired before `now` are free),
   * atomically across processes. A holder that already has its slot renews it (always true).
   * Resolves with whether the slot is held.
   */
  acquireLimitSlot?(slot: LimitSlot, limit: number, now: number): Promise<boolean>;
  /** Optional: frees `holder`'s slot of `scope` (nothing when it holds none). */
  releaseLimitSlot?(scope: string, holder: string): Promise<void>;
  /**
   * Optional: takes `amount` tokens from a shared bucket (created full on first use) when it holds at
   * least `min(amount, perMinute)` at `now`, atomically across processes; resolves with 0 when taken,
   * else with the milliseconds until it would hold enough (at least 1; nothing was taken). With
   * `force` it always takes (a negative `amount` gives back), capped at a full bucket, and resolves 0:
   * how a call's real usage corrects its estimate.
   */
  takeLimitTokens?(bucket: RateBucket, amount: number, now: number, force?: boolean): Promise<number>;
  /** Steps `waiting` with a `waiter.due_at` at or before `now`, in runs that are running or paused. */
  findDueSteps(now: number, limit: number): Promise<StepRecord[]>;
  /** Steps `waiting` for the event `event` (`waiter.kind` `event`), in runs that are running or paused, by run id and path. */
  findEventWaiters(event: string, limit: number): Promise<StepRecord[]>;
  /**
   * Steps `waiting` for a person (`waiter.kind` `approval`), in runs that are running or paused
   * (of `workflow_id` only, when given), each with its run's workflow id and version. Oldest first
   * (the step's `started_at`, then run id, then path); `offset` of them skipped, at most `limit`.
   */
  findApprovalWaiters(filter?: ApprovalFilter): Promise<ApprovalWaiter[]>;

  // Event inbox: events for runs another process drives
  /**
   * Stores an event for a run's waiting step, only while the run is `running` or `paused` (its
   * inbox goes with it when the run is deleted). Returns whether it was stored; storing an id
   * that is already there is a no-op that returns true.
   */
  deliverEvent(event: DeliveredEvent): Promise<boolean>;
  /** Delivered events of the given runs, oldest first (`created_at`, then `id`), at most `limit`. */
  findDeliveredEvents(runIds: readonly string[], limit: number): Promise<DeliveredEvent[]>;
  /** Deletes delivered events by id (ids not found are ignored). */
  deleteDeliveredEvents(ids: readonly string[]): Promise<void>;

  // Workflows (every version kept)
  /**
   * Inserts a version; a version is written once. Writing an existing (id, version) again with the
   * same content is a no-op; with another content, or over a deleted version, it throws `conflict`
   * (see `versionTaken`: its `details.highest` is the highest version ever written under the id).
   * `audit` is appended in the same transaction, only when the version is newly written.
   */
  saveWorkflow(record: WorkflowRecord, audit?: readonly AuditEvent[]): Promise<void>;
  /** A given version, or the latest when `version` is absent. Deleted workflows are not returned. */
  getWorkflow(id: string, version?: number): Promise<WorkflowRecord | undefined>;
  /** Latest version of every non-deleted workflow matching the filter. */
  listWorkflows(filter?: WorkflowFilter): Promise<WorkflowRecord[]>;
  listWorkflowVersions(id: string): Promise<WorkflowRecord[]>;
  deleteWorkflow(id: string, audit?: readonly AuditEvent[]): Promise<void>;

  // Prompts (every version kept)
  savePrompt(record: PromptRecord): Promise<void>;
  getPrompt(id: string, version?: number): Promise<PromptRecord | undefined>;
  listPrompts(): Promise<PromptRecord[]>;
  deletePrompt(id: string): Promise<void>;

  // model calls
  saveCall(record: ModelCallRecord): Promise<void>;
  getCall(id: string): Promise<ModelCallRecord | undefined>;
  listCalls(filter: { readonly workflow_execution_id?: string; readonly workflow_node_id?: string }): Promise<ModelCallRecord[]>;

  // Scans: every record, a page at a time, in key order (what an export reads)
  /**
   * Workflow versions, deleted ones included (with `deleted: true`), ordered by id then version, after
   * `after`. Ids compare as the storage orders text: a scan resumes from its own last key, never another storage's.
   */
  scanWorkflows(options: ScanOptions<VersionKey>): Promise<WorkflowRecord[]>;
  /** Prompt versions, ordered by id then version, after `after`. */
  scanPrompts(options: ScanOptions<VersionKey>): Promise<PromptRecord[]>;
  /** Runs, child runs included, ordered by id, after `after` (a run id). */
  scanRuns(options: RunScanOptions): Promise<RunRecord[]>;
  // Dead letters and the audit trail
  /**
   * Runs that need a person: `failed` ones no run retries (`retry_of`) and not discarded, and, with
   * `stuck_before`, `pending`/`running` ones created before it and not discarded. Newest first.
   */
  findDeadLetters(filter: DeadLetterFilter): Promise<RunRecord[]>;
  /** Appends audit events on their own (a change that has no transaction to share). Never updates one. */
  appendAudit(events: readonly AuditEvent[]): Promise<void>;
  /** Audit events matching the filter, newest first (`at`, then `id`, both descending). */
  listAudit(filter: AuditFilter): Promise<AuditEvent[]>;

  // Bundles
  saveBundle(record: BundleRecord): Promise<void>;
  getBundle(id: string): Promise<BundleRecord | undefined>;
}
