/**
 * Deleting runs for good: one run (`engine.deleteRun`) or every ended run older than a time
 * (`engine.purge`), so a service that runs for months does not grow without bound. A run goes with
 * everything keyed to it and with its child runs (see `Storage.deleteRun`). Internal to the engine.
 */
import { IllegalStateError, NotFoundError, TrellisError, isTrellisError } from '../kernel/errors.js';
import type { AuditEvent, RunStatus } from '../storage/records.js';
import type { ActorOptions } from './audit-trail.js';
import type { PurgeFilter, Storage } from '../storage/storage.js';

/** A status a run does not leave: the statuses `purge` may remove. */
export type FinishedRunStatus = Extract<RunStatus, 'completed' | 'failed' | 'cancelled'>;

const FINISHED: readonly FinishedRunStatus[] = ['completed', 'failed', 'cancelled'];

/** Options of `engine.deleteRun`. */
export interface DeleteRunOptions extends ActorOptions {
  /**
   * Delete a run that has not ended too: it is cancelled first (in-flight calls aborted, child runs
   * cancelled), then deleted. Without it such a run is refused with `illegal_state`.
   * @default false
   */
  readonly force?: boolean;
  /**
   * Stops waiting for another process to end a run `force` cancelled there (the promise rejects
   * with the signal's reason, nothing is deleted, and the stored cancel request still applies when a
   * process takes the run). Without it, such a call waits as long as no process drives the run.
   */
  readonly signal?: AbortSignal;
}

/** Options of `engine.purge`. */
export interface PurgeOptions {
  /**
   * Remove runs that ended before this point in time: a `Date`, or ms since epoch (as
   * `engine.clock.now()` gives). Not a duration: for "older than 30 days" pass
   * `new Date(Date.now() - 30 * 86_400_000)`.
   */
  readonly olderThan: Date | number;
  /** Only runs in this status (or these). Only ended runs are ever removed. @default every ended status: completed, failed, cancelled */
  readonly status?: FinishedRunStatus | readonly FinishedRunStatus[];
  /** Only runs of this workflow. */
  readonly workflowId?: string;
  /** Remove at most this many runs (child runs removed with their parent not counted). @default no limit */
  readonly limit?: number;
  /** Stops the purge between two batches: what was removed stays removed, and the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** Runs removed per storage transaction: small, so no batch holds the write lock long. */
export const PURGE_BATCH = 100;

/**
 * Deletes one run and its child runs. A run that has not ended is refused (`illegal_state`), or
 * with `force` cancelled by `cancel` first; `not_found` when there is no such run.
 */
export async function deleteRun(storage: Storage, executionId: string, options: DeleteRunOptions, cancel: (id: string) => Promise<void>, audit: AuditEvent): Promise<void> {
  const run = await storage.getRun(executionId);
  if (!run) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
  if (!FINISHED.includes(run.status as FinishedRunStatus)) {
    if (options.force !== true) {
      throw new IllegalStateError(`Execution ${executionId} is ${run.status}; cancel it first, or delete it with { force: true }`, { executionId, details: { status: run.status } });
    }
    await cancel(executionId).catch((error: unknown) => {
      // It ended on its own meanwhile: nothing left to cancel.
      if (!(isTrellisError(error) && error.code === 'illegal_state')) throw error;
    });
  }
  // Compare-and-set on an ended status: a run whose status changed meanwhile is not deleted under it.
  // Its audit event lands with the deletion, and outlives the run.
  if (await storage.deleteRun(executionId, { status: FINISHED }, [audit])) return;
  const now = await storage.getRun(executionId);
  if (!now) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
  throw new IllegalStateError(`Execution ${executionId} is ${now.status} again; it was not deleted`, { executionId, details: { status: now.status } });
}

/** Removes ended runs in batches of {@link PURGE_BATCH}; resolves with how many it removed. */
export async function purgeRuns(storage: Storage, options: PurgeOptions): Promise<number> {
  const { filter, limit } = resolvePurge(options);
  let removed = 0;
  while (removed < limit) {
    options.signal?.throwIfAborted();
    const batch = Math.min(PURGE_BATCH, limit - removed);
    const picked = await storage.purgeRuns({ ...filter, limit: batch });
    removed += picked;
    if (picked < batch) break;
    // Between batches the event loop runs: SQLite's writes are synchronous, and runs this process
    // drives (their timers, their provider answers) must not wait for the whole purge.
    await new Promise((resolve) => setImmediate(resolve));
  }
  return removed;
}

/** Validates purge options once, naming the option that is wrong. */
function resolvePurge(options: PurgeOptions): { filter: Omit<PurgeFilter, 'limit'>; limit: number } {
  const o = options ?? ({} as PurgeOptions);
  const before = o.olderThan instanceof Date ? o.olderThan.getTime() : o.olderThan;
  if (typeof before !== 'number' || !Number.isFinite(before)) {
    throw invalid('olderThan', 'a Date or a time in ms since epoch', o.olderThan);
  }
  const status = o.status === undefined ? FINISHED : typeof o.status === 'string' ? [o.status] : o.status;
  if (!Array.isArray(status) || status.length === 0 || status.some((s) => !FINISHED.includes(s))) {
    throw invalid('status', `ended statuses only (${FINISHED.join(', ')}): purge never removes a run that may still change`, o.status);
  }
  if (o.workflowId !== undefined && (typeof o.workflowId !== 'string' || o.workflowId === '')) throw invalid('workflowId', 'a workflow id', o.workflowId);
  const limit = o.limit ?? Number.POSITIVE_INFINITY;
  if (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || limit < 1)) throw invalid('limit', 'a whole number >= 1', o.limit);
  return { filter: { completed_before: before, status: [...status], ...(o.workflowId === undefined ? {} : { workflow_id: o.workflowId }) }, limit };
}

function invalid(option: string, expected: string, received: unknown): TrellisError {
  const shown = received instanceof Date ? 'an invalid Date' : (JSON.stringify(received) ?? typeof received);
  return new TrellisError('invalid_options', `purge option "${option}" must be ${expected}; received ${shown}`);
}
