/** Logic every Storage implementation shares: expectation checks, patches, filters and orderings. */
import { TrellisError } from '../kernel/errors.js';
import type { AuditEvent, AuditFilter, DeadLetterFilter, RunFilter, RunRecord, RunStatus, StepRecord, WorkflowFilter, WorkflowRecord } from './records.js';
import type { PurgeFilter, RunExpectation, RunPatch, RunPatchField } from './storage.js';
import { plainMaker } from '../kernel/plain.js';
import type { Mutable } from '../kernel/mutable.js';

/** Every field a {@link RunPatch} may set, in a fixed order (SQL storages bind them positionally). */
export const RUN_PATCH_FIELDS: readonly RunPatchField[] = [
  'status',
  'output_data',
  'error_message',
  'started_at',
  'completed_at',
  'owner',
  'lease_expires_at',
  'recovery_count',
  'usage',
  'discarded_at',
];

/** Run statuses whose lease `renewLeases` extends: every status that is not terminal. */
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['pending', 'running', 'paused'];

/** True for a run status that will not change again: the run completed, failed or was cancelled. */
export function isFinishedRun(status: RunStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** The `conflict` error of inserting a run whose id (or idempotency key) is taken. */
export function runExists(id: string, cause?: unknown): TrellisError {
  return new TrellisError('conflict', `Run ${id} already exists`, cause === undefined ? { executionId: id } : { executionId: id, cause });
}

/** Run statuses `findOrphanRuns` picks up. */
export const ORPHAN_RUN_STATUSES: readonly RunStatus[] = ['pending', 'running'];

/** Run statuses whose due steps `findDueSteps` returns. */
export const TIMER_RUN_STATUSES: readonly RunStatus[] = ['running', 'paused'];

/** The order of `findApprovalWaiters`: longest waiting first (`started_at`), then run id and path, as text compares in SQL (by code unit). */
export function byWaitingSince(a: StepRecord, b: StepRecord): number {
  return a.started_at - b.started_at || compareText(a.run_id, b.run_id) || compareText(a.path, b.path);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The run fields an expectation reads. */
export type ExpectationTarget = Pick<RunRecord, 'status' | 'revision' | 'owner'>;

/** True when the run satisfies a compare-and-set expectation. */
export function matchesExpectation(run: ExpectationTarget, expect: RunExpectation | undefined): boolean {
  if (!expect) return true;
  if (expect.status !== undefined) {
    const allowed = typeof expect.status === 'string' ? [expect.status] : expect.status;
    if (!allowed.includes(run.status)) return false;
  }
  if (expect.revision !== undefined && run.revision !== expect.revision) return false;
  if (expect.owner !== undefined && (run.owner ?? null) !== expect.owner) return false;
  return true;
}

/** Run rows are kept: made with `new`, not as literals (see kernel/plain.ts). */
const newRunRow = plainMaker<Mutable<RunRecord>>();

/**
 * Applies a patch; a status change bumps the revision. `undefined` values clear optional fields
 * (`status` and `recovery_count`, being required, are left unchanged by `undefined`).
 * Keys outside {@link RUN_PATCH_FIELDS} are ignored, as the SQL storages ignore them.
 */
export function applyRunPatch(run: RunRecord, patch: RunPatch): RunRecord {
  // One explicit object shape (no spread, no delete): runs are patched on every status change.
  const field = <K extends RunPatchField>(key: K): RunRecord[K] => (key in patch ? (patch[key] as RunRecord[K]) : run[key]);
  const status = patch.status ?? run.status;
  // Made with `new`, not as a literal: run rows are kept, see kernel/plain.ts.
  const next = newRunRow();
  next.id = run.id;
  next.workflow_id = run.workflow_id;
  next.workflow_version = run.workflow_version;
  next.status = status;
  next.input_data = run.input_data;
  next.variables = run.variables;
  next.created_at = run.created_at;
  next.revision = status !== run.status ? run.revision + 1 : run.revision;
  next.recovery_count = patch.recovery_count ?? run.recovery_count;
  const optional = (key: Exclude<RunPatchField, 'status' | 'recovery_count'>): void => {
    const value = field(key);
    if (value !== undefined) (next as Record<string, unknown>)[key] = value;
  };
  optional('output_data');
  optional('error_message');
  optional('started_at');
  optional('completed_at');
  optional('owner');
  optional('lease_expires_at');
  optional('usage');
  optional('discarded_at');
  if (run.parent_id !== undefined) next.parent_id = run.parent_id;
  if (run.parent_step_path !== undefined) next.parent_step_path = run.parent_step_path;
  if (run.trigger !== undefined) next.trigger = run.trigger;
  if (run.idempotency_key !== undefined) next.idempotency_key = run.idempotency_key;
  if (run.retry_of !== undefined) next.retry_of = run.retry_of;
  if (run.trace_context !== undefined) next.trace_context = run.trace_context;
  if (run.breakpoints !== undefined) next.breakpoints = run.breakpoints;
  return next;
}

/** True when a run's lease no longer protects it at `now` (no owner, no lease, or the lease ran out). */
export function isClaimable(run: RunRecord, owner: string | undefined, now: number): boolean {
  return run.owner === undefined || run.owner === owner || run.lease_expires_at === undefined || run.lease_expires_at < now;
}

/**
 * True when a run needs a driver at `now` (its lease aside, or with `owner`, held by it): no lease, or
 * the lease ran out. An unowned run's `lease_expires_at` is when it needs one again: a parked run
 * (one that only waits, let go from memory) holds its nearest timer there, or a far future when
 * only a wake-up moves it. It is claimable (`claimRun`) all along, but no orphan meanwhile.
 */
export function needsDriver(run: RunRecord, now: number, owner?: string): boolean {
  return run.lease_expires_at === undefined || run.lease_expires_at < now || (owner !== undefined && run.owner === owner);
}

/** True for a run `claimReadyRuns` may take (its lease aside): running, or pending once started (a queued run is admission's). */
export function isReadyToClaim(run: RunRecord): boolean {
  return run.status === 'running' || (run.status === 'pending' && run.started_at !== undefined);
}

/** True when the run passes the filter (pagination aside). */
export function matchesRunFilter(run: RunRecord, filter: RunFilter): boolean {
  if (filter.workflow_id !== undefined && run.workflow_id !== filter.workflow_id) return false;
  if (filter.status !== undefined) {
    const allowed = typeof filter.status === 'string' ? [filter.status] : filter.status;
    if (!allowed.includes(run.status)) return false;
  }
  if (filter.created_after !== undefined && run.created_at < filter.created_after) return false;
  if (filter.created_before !== undefined && run.created_at > filter.created_before) return false;
  if (filter.retry_of !== undefined && run.retry_of !== filter.retry_of) return false;
  return true;
}

/** True when the run is one `purgeRuns` may pick by its own fields (whether its parent is stored aside). */
export function isPurgeable(run: RunRecord, filter: PurgeFilter): boolean {
  return (
    run.completed_at !== undefined &&
    run.completed_at < filter.completed_before &&
    filter.status.includes(run.status) &&
    (filter.workflow_id === undefined || run.workflow_id === filter.workflow_id)
  );
}

/** True when the workflow passes the filter: exact status, exact tag, case-insensitive name substring. */
export function matchesWorkflowFilter(w: WorkflowRecord, filter: WorkflowFilter): boolean {
  if (filter.status !== undefined && w.status !== filter.status) return false;
  if (filter.tag !== undefined && !w.tags.includes(filter.tag)) return false;
  if (filter.name !== undefined && !w.name.toLowerCase().includes(filter.name.toLowerCase())) return false;
  return true;
}

/** Orders by `created_at`, then `id`: the listing order of workflows, prompts and LLM executions. */
export function byCreatedThenId(a: { readonly created_at: number; readonly id: string }, b: { readonly created_at: number; readonly id: string }): number {
  return a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Applies `offset` then `limit`. */
export function paginate<T>(rows: T[], page: { readonly limit?: number; readonly offset?: number }): T[] {
  const offset = page.offset ?? 0;
  return page.limit === undefined ? rows.slice(offset) : rows.slice(offset, offset + page.limit);
}

/** Newest first by `key`, then by id descending: the order of dead letters and audit events. */
export function newestFirst<T extends { readonly id: string }>(key: (t: T) => number): (a: T, b: T) => number {
  return (a, b) => key(b) - key(a) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Whether an audit event matches a filter (its page, `after` and `limit`, aside from the cursor). */
export function matchesAuditFilter(event: AuditEvent, filter: AuditFilter): boolean {
  if (filter.subject_type !== undefined && event.subject_type !== filter.subject_type) return false;
  if (filter.subject_id !== undefined && event.subject_id !== filter.subject_id) return false;
  if (filter.actor !== undefined && event.actor !== filter.actor) return false;
  if (filter.since !== undefined && event.at < filter.since) return false;
  if (filter.until !== undefined && event.at >= filter.until) return false;
  const after = filter.after;
  return !after || event.at < after.at || (event.at === after.at && event.id < after.id);
}

/** Whether a run is a dead letter by its own fields (`retried`: some run retries it). */
export function isDeadLetter(run: RunRecord, filter: DeadLetterFilter, retried: boolean): boolean {
  if (run.discarded_at !== undefined) return false;
  if (filter.workflow_id !== undefined && run.workflow_id !== filter.workflow_id) return false;
  const after = filter.after;
  if (after && !(run.created_at < after.created_at || (run.created_at === after.created_at && run.id < after.id))) return false;
  if (run.status === 'failed') return !retried;
  return filter.stuck_before !== undefined && (run.status === 'pending' || run.status === 'running') && run.created_at < filter.stuck_before;
}
