/**
 * `engine.deadLetters`: the runs that need a person. Failed runs (poison runs among them) that no
 * run retries yet, and, when asked, runs stuck past a deadline; each with its error, the step that
 * failed (or is stuck) and the input that step saw. `engine.retry` sends one on; `discard` closes it.
 * Everything is read from storage, so any process sees the same list, before and after a restart.
 */
import type { Clock } from '../kernel/clock.js';
import { IllegalStateError, NotFoundError, TrellisError } from '../kernel/errors.js';
import type { Json } from '../kernel/json.js';
import type { AuditEvent, RunRecord, RunStatus, StepRecord, StoredError } from '../storage/records.js';
import type { Storage } from '../storage/storage.js';
import { decodeCursor, encodeCursor, pageLimit, type ActorOptions, type AuditChange } from './audit-trail.js';

/** Why a run is on the list. */
export type DeadLetterReason = 'failed' | 'poison' | 'stuck';

/** The step a dead letter ended (or is stuck) at, with what it saw. */
export interface DeadLetterStep {
  readonly path: string;
  readonly node_id: string;
  readonly status: StepRecord['status'];
  readonly attempt: number;
  readonly error?: StoredError;
  /** The input the step was given, resolved from the run's context. */
  readonly input_data?: Json;
}

/** A run on the dead-letter list. */
export interface DeadLetter {
  readonly execution_id: string;
  readonly workflow_id: string;
  readonly workflow_version: number;
  /** `poison`: failed after its process ended repeatedly in a step; `stuck`: still going past `stuckAfterMs`. */
  readonly reason: DeadLetterReason;
  readonly status: RunStatus;
  readonly error_message?: string;
  /** The failed step (the first to fail), or for a stuck run the step it is at. */
  readonly step?: DeadLetterStep;
  readonly input_data: Json;
  readonly created_at: number;
  readonly completed_at?: number;
  /** The run this one retried, when it is a retry that failed again. */
  readonly retry_of?: string;
}

/** What `engine.deadLetters.list` reads. */
export interface DeadLetterQuery {
  readonly workflowId?: string;
  /** List runs still `pending` or `running` this long after they were created as `stuck` too. @default none are */
  readonly stuckAfterMs?: number;
  /** 1 to 1000. @default 100 */
  readonly limit?: number;
  /** `nextCursor` of the previous page. */
  readonly cursor?: string;
}

/** A page of dead letters, newest first; `nextCursor` is absent on the last page. */
export interface DeadLetterPage {
  readonly items: readonly DeadLetter[];
  readonly nextCursor?: string;
}

/** Options of `engine.deadLetters.discard`. */
export interface DiscardOptions extends ActorOptions {
  /** Why, kept in the audit trail. */
  readonly reason?: string;
}

/** The dead-letter list. */
export interface DeadLetters {
  /**
   * Failed runs not retried or discarded, and with `stuckAfterMs` runs stuck past it, newest first.
   *
   * @example
   * const { items } = await engine.deadLetters.list({ stuckAfterMs: 3_600_000 });
   * for (const d of items) console.log(d.execution_id, d.reason, d.step?.path, d.error_message);
   */
  list(query?: DeadLetterQuery): Promise<DeadLetterPage>;
  /**
   * Takes a run off the list for good: a failed run stays failed (and can no longer be retried); a
   * stuck run is cancelled first. Throws `not_found`, or `illegal_state` when the run is not on the list.
   */
  discard(executionId: string, options?: DiscardOptions): Promise<void>;
}

/** What the list needs of its engine. */
export interface DeadLetterHost {
  readonly clock: Clock;
  storage(): Promise<Storage>;
  audit(change: AuditChange, actor: string | undefined): AuditEvent;
  /** Cancels a run (a stuck one being discarded), recording `actor`. */
  cancel(executionId: string, reason: string, actor: string | undefined): Promise<void>;
}

export function createDeadLetters(host: DeadLetterHost): DeadLetters {
  return {
    async list(query = {}) {
      const limit = pageLimit(query.limit, 'deadLetters.list');
      const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, 'deadLetters.list');
      const stuckAfter = query.stuckAfterMs;
      if (stuckAfter !== undefined && !(Number.isFinite(stuckAfter) && stuckAfter >= 0)) {
        throw new TrellisError('invalid_options', `deadLetters.list: stuckAfterMs must be a duration in ms (a number >= 0), received ${String(stuckAfter)}`);
      }
      const storage = await host.storage();
      const runs = await storage.findDeadLetters({
        limit,
        ...(query.workflowId === undefined ? {} : { workflow_id: query.workflowId }),
        ...(stuckAfter === undefined ? {} : { stuck_before: host.clock.now() - stuckAfter }),
        ...(after === undefined ? {} : { after: { created_at: after[0], id: after[1] } }),
      });
      const items = await Promise.all(runs.map(async (run) => toDeadLetter(run, await storage.getSteps(run.id))));
      const last = runs.at(-1);
      return runs.length === limit && last ? { items, nextCursor: encodeCursor([last.created_at, last.id]) } : { items };
    },

    async discard(executionId, options = {}) {
      const storage = await host.storage();
      let run = await storage.getRun(executionId);
      if (!run) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
      const reason = options.reason ?? 'discarded';
      if (run.status === 'pending' || run.status === 'running') {
        await host.cancel(executionId, reason, options.actor);
        run = (await storage.getRun(executionId)) ?? run;
      }
      const [retry] = await storage.listRuns({ retry_of: executionId, limit: 1 });
      if (run.discarded_at !== undefined || retry !== undefined || !(run.status === 'failed' || run.status === 'cancelled')) {
        throw new IllegalStateError(`Execution ${executionId} is not a dead letter (${run.discarded_at !== undefined ? 'discarded' : retry ? `retried as ${retry.id}` : run.status})`, { executionId });
      }
      const audit = [host.audit({ action: 'run.discarded', subjectType: 'run', subjectId: executionId, detail: { reason } }, options.actor)];
      const done = await storage.commit({ runId: executionId, steps: [], run: { discarded_at: host.clock.now() }, expect: { status: run.status, revision: run.revision }, audit });
      if (!done) throw new TrellisError('conflict', `Execution ${executionId} changed while it was being discarded`, { executionId });
    },
  };
}

function toDeadLetter(run: RunRecord, steps: readonly StepRecord[]): DeadLetter {
  const failed = run.status === 'failed';
  // A run failed while its strike count stood above 0 ended in the step its process kept dying in.
  const reason: DeadLetterReason = !failed ? 'stuck' : run.recovery_count > 0 ? 'poison' : 'failed';
  const at = failed ? steps.find((s) => s.status === 'failed') : [...steps].reverse().find((s) => s.status !== 'completed' && s.status !== 'skipped');
  return {
    execution_id: run.id,
    workflow_id: run.workflow_id,
    workflow_version: run.workflow_version,
    reason,
    status: run.status,
    ...(run.error_message === undefined ? {} : { error_message: run.error_message }),
    ...(at === undefined ? {} : { step: toStep(at) }),
    input_data: run.input_data,
    created_at: run.created_at,
    ...(run.completed_at === undefined ? {} : { completed_at: run.completed_at }),
    ...(run.retry_of === undefined ? {} : { retry_of: run.retry_of }),
  };
}

function toStep(step: StepRecord): DeadLetterStep {
  return {
    path: step.path,
    node_id: step.node_id,
    status: step.status,
    attempt: step.attempt,
    ...(step.error === undefined ? {} : { error: step.error }),
    ...(step.input_data === undefined ? {} : { input_data: step.input_data }),
  };
}
