/**
 * One run's pending writes: step rows, LLM execution records and a run patch, committed together
 * in one transaction. Whatever piles up while a commit is in flight (or, when other steps are still
 * executing, within the same tick) goes into the next one, so steps that finish together commit
 * together. Commits go through the storage's commit group (commit-group.ts), which lets commits of
 * other runs ready at the same time share their transaction. Callbacks queued with `after` (events,
 * starting the next steps) run once the commit carrying them has landed, never before.
 *
 * Every commit is fenced: it expects the run row to be owned by this process under the claim it was
 * driven from (owner and revision; a claim bumps the revision). A commit refused because another
 * claim came in between reports `conflict` through `failed`, and the run is abandoned here.
 */
import type { AuditEvent, ModelCallRecord, RunRecord, RunStatus, StepRecord } from '../storage/records.js';
import type { RunPatch, StepCommit, Storage } from '../storage/storage.js';
import { TrellisError, toTrellisError } from '../kernel/errors.js';
import { plainCopier } from '../kernel/plain.js';
import { commitGroupOf } from './commit-group.js';
import type { Mutable } from '../kernel/mutable.js';

// The parts live as long as the run: copied into an object made with `new` (see kernel/plain.ts).
const copyHooks = plainCopier<CommitBatchHooks>();

/** How a batch reaches its storage and reports back. */
export interface CommitBatchHooks {
  readonly storage: () => Storage;
  /** Last chance to change the run patch (e.g. add usage totals) given the records being committed. */
  prepare(patch: RunPatch | undefined, calls: readonly ModelCallRecord[]): RunPatch | undefined;
  /** A commit failed: nothing of it was written. */
  failed(error: TrellisError): void;
}

const RESOLVED = Promise.resolve();

/** A run being created by the next commit: who to tell once it landed (see `create`). */
interface Creation {
  readonly landed: () => void;
  readonly yieldFirst: boolean;
}

export class CommitBatch {
  readonly #runId: string;
  readonly #hooks: CommitBatchHooks;
  #steps = new Map<string, StepRecord>();
  #calls: ModelCallRecord[] = [];
  #audit: AuditEvent[] = [];
  #patch: RunPatch | undefined;
  #create: RunRecord | undefined;
  #created: Creation | undefined;
  #after: (() => void)[] = [];
  #scheduled = false;
  #chain: Promise<void> = Promise.resolve();
  /** Commits flushed (queued or writing) and not yet landed. */
  #writing = 0;
  /** A commit failed or was refused: nothing later is written (it would land out of order). */
  #dead = false;
  // The run row's owner, revision and status as the commits flushed so far leave it: what the next
  // commit expects to find. Kept here, not read from the run's record: patches merged into one
  // commit change the stored status (and so the revision) once, however often they changed it.
  #owner: string | null;
  #revision: number;
  #status: RunStatus;

  readonly #flushNow = (): void => this.#flush();

  /** `run` is the row as stored when this process took the run on (claimed, or about to be created). */
  constructor(run: RunRecord, hooks: CommitBatchHooks) {
    this.#runId = run.id;
    this.#hooks = copyHooks(hooks);
    this.#owner = run.owner ?? null;
    this.#revision = run.revision;
    this.#status = run.status;
  }

  /** Upserts a step row (the latest version of a path wins). */
  step(step: StepRecord): void {
    this.#steps.set(step.path, step);
  }

  calls(records: readonly ModelCallRecord[]): void {
    if (records.length > 0) this.#calls.push(...records);
  }

  /**
   * Makes the next commit insert `run` first (a new run lands with its first steps); `landed` runs
   * once it has. With `yieldFirst` the commit's other callbacks (the run's first events, its first
   * steps) wait for the next macrotask: whoever started the run learns its id and can subscribe to
   * its events before any of them fires.
   */
  create(run: RunRecord, landed: () => void, yieldFirst: boolean): void {
    this.#create = run;
    this.#created = { landed, yieldFirst };
  }

  /** Appends audit events to the next commit: they land with the change they record, or not at all. */
  audit(events: readonly AuditEvent[]): void {
    this.#audit.push(...events);
  }

  /** Merges a run patch into the pending one. */
  patch(patch: RunPatch): void {
    // Object.assign, not a spread: a spread clone that gains keys costs V8 a new hidden class (see ScopeContexts.open).
    this.#patch = Object.assign({}, this.#patch, patch);
  }

  /** Nothing is queued, scheduled or being written: everything this run did is committed (or was refused). */
  get idle(): boolean {
    return this.#writing === 0 && !this.#scheduled && this.#steps.size === 0 && this.#patch === undefined && this.#calls.length === 0 && this.#create === undefined && this.#audit.length === 0;
  }

  /** Resolves once the commits flushed so far have landed and their callbacks ran (or failed). */
  settled(): Promise<void> {
    return this.#chain.catch(() => undefined);
  }

  /** Runs `callback` after the commit that carries everything queued so far. */
  after(callback: () => void): void {
    this.#after.push(callback);
  }

  /**
   * Commits soon: at the end of this microtask queue, or when `wait` (other steps still executing),
   * in the next tick so that they can settle and join the same transaction.
   */
  schedule(wait: boolean): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // A resolved promise rather than queueMicrotask, which wraps every callback in an AsyncResource.
    if (wait) setImmediate(this.#flushNow);
    else void RESOLVED.then(this.#flushNow);
  }

  #flush(): void {
    this.#scheduled = false;
    const after = this.#after;
    this.#after = [];
    if (this.#steps.size === 0 && this.#patch === undefined && this.#calls.length === 0 && this.#create === undefined && this.#audit.length === 0) {
      // Nothing new to write, but what was queued before may still be landing: the callbacks wait
      // for it (and, like a commit's own, never run when it was refused).
      if (this.#writing === 0) for (const callback of after) callback();
      else if (after.length > 0) this.#chain = this.#chain.then(() => (this.#dead ? undefined : after.forEach((callback) => callback())));
      return;
    }
    const steps = [...this.#steps.values()];
    const calls = this.#calls;
    const run = this.#hooks.prepare(this.#patch, calls);
    this.#steps.clear();
    this.#calls = [];
    this.#patch = undefined;
    const create = this.#create;
    const created = this.#created;
    this.#create = undefined;
    this.#created = undefined;
    const commit: Mutable<StepCommit> = { runId: this.#runId, steps, calls, expect: { owner: this.#owner, revision: this.#revision } };
    if (run) {
      commit.run = run;
      // The storages bump the revision on a status change; the fence follows what this commit writes.
      if (run.status !== undefined && run.status !== this.#status) {
        this.#status = run.status;
        this.#revision++;
      }
      if ('owner' in run) this.#owner = run.owner ?? null;
    }
    if (create) commit.create = create;
    if (this.#audit.length > 0) {
      commit.audit = this.#audit;
      this.#audit = [];
    }
    // Commits of one run land in order: chain behind a write still in flight, else write at once.
    const queued = this.#writing > 0;
    this.#writing++;
    const write = (): Promise<void> => this.#write(commit, after, created);
    // Behind a write whose callbacks threw as well: one bad callback must not stall every later commit.
    this.#chain = queued ? this.#chain.then(write, write) : write();
  }

  /**
   * Writes `commit`, then runs its callbacks; counted as writing until they ran, so a commit
   * flushed meanwhile queues behind it. Written with `then` rather than as an async function: it
   * runs for every commit, and an async function's frame and awaits cost more than these callbacks.
   */
  #write(commit: StepCommit, after: readonly (() => void)[], created: Creation | undefined): Promise<void> {
    if (this.#dead) {
      this.#writing--;
      return RESOLVED;
    }
    let landing: Promise<boolean>;
    try {
      // Through the storage's commit group: it shares a transaction with other runs' commits ready now.
      landing = commitGroupOf(this.#hooks.storage()).commit(commit);
    } catch (error) {
      this.#notWritten(commit, error);
      return RESOLVED;
    }
    return landing.then(
      (landed) => this.#landed(commit, landed, after, created),
      (error: unknown) => this.#notWritten(commit, error),
    );
  }

  /** The commit came back from storage: written (`landed`), or refused by a claim that took the run over. */
  #landed(commit: StepCommit, landed: boolean, after: readonly (() => void)[], created: Creation | undefined): Promise<void> | undefined {
    let yielding: Promise<void> | undefined;
    try {
      if (!landed) {
        this.#dead = true;
        const message = `Run ${this.#runId} was taken over by another claim (it is no longer owned by ${commit.expect?.owner ?? 'nobody'} at revision ${commit.expect?.revision}); this process stops driving it`;
        this.#hooks.failed(new TrellisError('conflict', message, { executionId: this.#runId }));
        return undefined;
      }
      if (created) {
        created.landed();
        if (created.yieldFirst) {
          yielding = new Promise<void>((resolve) => setImmediate(resolve)).then(() => this.#runAfter(after));
          return yielding;
        }
      }
      for (const callback of after) callback();
      return undefined;
    } finally {
      if (yielding === undefined) this.#writing--;
    }
  }

  #runAfter(after: readonly (() => void)[]): void {
    try {
      for (const callback of after) callback();
    } finally {
      this.#writing--;
    }
  }

  /** The commit failed (nothing of it written): the run is no longer driven here. */
  #notWritten(commit: StepCommit, error: unknown): void {
    try {
      this.#dead = true;
      this.#release(commit);
      this.#hooks.failed(toTrellisError(error, 'storage'));
    } finally {
      this.#writing--;
    }
  }

  /**
   * After a failed commit (nothing of it written): gives the run's lease up when the storage still
   * answers, so that recovery (here or elsewhere) continues the run at once rather than after the
   * lease. Expects the row as that commit expected it, so a run claimed meanwhile is left alone.
   */
  #release(commit: StepCommit): void {
    if (commit.create) return; // the run was never stored
    void this.#hooks
      .storage()
      .updateRun(this.#runId, { owner: undefined, lease_expires_at: undefined }, commit.expect)
      .catch(() => undefined);
  }
}

