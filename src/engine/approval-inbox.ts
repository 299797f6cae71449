/** `engine.approvals`: what waits for a person, across runs (the approval inbox). */
import type { Storage } from '../storage/storage.js';
import type { ApprovalWaiter } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { ApprovalOutcome } from '../kernel/events.js';
import { TrellisError } from '../kernel/errors.js';
import { approvalAsk } from '../runtime/approval-requests.js';
import { APPROVAL_INBOX_EVENT } from '../runtime/inbox-wakes.js';

/** A step waiting for a person: where it is, what the person is asked, and since when. */
export interface PendingApproval {
  readonly execution_id: string;
  readonly workflow_id: string;
  readonly workflow_version: number;
  /** The step path to answer at, e.g. `review_loop[3].approve` (`engine.approve(execution_id, path)`). */
  readonly path: string;
  readonly node_id: string;
  /** The node's rendered `message`, or null. */
  readonly message: string | null;
  /** What to review: the node's `data` mapping, evaluated when the step started waiting; null without one. */
  readonly data: Json;
  /** The answers allowed: approve or reject. */
  readonly outcomes: readonly ApprovalOutcome[];
  /** When the wait times out (ISO 8601), if it does. */
  readonly due_at?: string;
  /** What the timeout decides, when there is one. */
  readonly on_timeout?: 'approve' | 'reject' | 'fail';
  /** When the step started waiting (ISO 8601). */
  readonly since: string;
  /**
   * An answer is stored for the process that drives the run and not applied yet: another process
   * (an API process beside workers) approved or rejected it. The step still waits until that
   * process takes the answer (milliseconds on PostgreSQL, its next poll elsewhere); a second
   * answer meanwhile is dropped.
   */
  readonly answered?: true;
}

/** Options of `engine.approvals.list`. */
export interface ApprovalListOptions {
  /** Only runs of this workflow. */
  readonly workflowId?: string;
  /** At most this many. @default no limit */
  readonly limit?: number;
  /** Skip this many first. @default 0 */
  readonly offset?: number;
}

/** The approval inbox of an engine. */
export interface ApprovalInbox {
  /**
   * Every step waiting for a person in runs that are running or paused (a `human_approval` step,
   * or a call over budget with `on_exceed: 'pause'`), longest waiting first.
   *
   * @example
   * for (const a of await engine.approvals.list({ workflowId: 'triage' })) console.log(a.execution_id, a.path, a.message, a.data);
   */
  list(options?: ApprovalListOptions): Promise<PendingApproval[]>;
}

/** The inbox over `storage`. */
export function createApprovalInbox(storage: () => Promise<Storage>): ApprovalInbox {
  return {
    async list(options = {}) {
      const { workflowId, limit, offset } = options;
      if (workflowId !== undefined && typeof workflowId !== 'string') throw invalid('workflowId', 'a workflow id', workflowId);
      if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw invalid('limit', 'a positive integer', limit);
      if (offset !== undefined && !(Number.isInteger(offset) && offset >= 0)) throw invalid('offset', 'a non-negative integer', offset);
      const store = await storage();
      const waiters = await store.findApprovalWaiters({
        ...(workflowId === undefined ? {} : { workflow_id: workflowId }),
        ...(limit === undefined ? {} : { limit }),
        ...(offset === undefined ? {} : { offset }),
      });
      const answered = await answeredSteps(store, waiters);
      return waiters.map((waiter) => toPendingApproval(waiter, answered.has(stepKey(waiter.step.run_id, waiter.step.path))));
    },
  };
}

/** Inbox entries read per list, at most: answers waiting for their run's driver are few and brief. */
const INBOX_READ_LIMIT = 1000;

const stepKey = (runId: string, path: string): string => `${runId}\0${path}`;

/** The steps among `waiters` with an answer waiting in their run's inbox (stored by another process). */
async function answeredSteps(storage: Storage, waiters: readonly ApprovalWaiter[]): Promise<Set<string>> {
  if (waiters.length === 0) return new Set();
  const runIds = [...new Set(waiters.map((w) => w.step.run_id))];
  const delivered = await storage.findDeliveredEvents(runIds, INBOX_READ_LIMIT);
  return new Set(delivered.filter((e) => e.event === APPROVAL_INBOX_EVENT).map((e) => stepKey(e.run_id, e.path)));
}

function toPendingApproval({ step, workflow_id, workflow_version }: ApprovalWaiter, answered: boolean): PendingApproval {
  const ask = approvalAsk(step.waiter)!;
  const pending: { -readonly [K in keyof PendingApproval]: PendingApproval[K] } = {
    execution_id: step.run_id,
    workflow_id,
    workflow_version,
    path: step.path,
    node_id: step.node_id,
    message: ask.message,
    data: ask.data,
    outcomes: ask.outcomes,
    since: new Date(step.started_at).toISOString(),
  };
  if (ask.due_at !== undefined) pending.due_at = new Date(ask.due_at).toISOString();
  if (ask.on_timeout !== undefined) pending.on_timeout = ask.on_timeout;
  if (answered) pending.answered = true;
  return pending;
}

function invalid(option: string, expected: string, received: unknown): TrellisError {
  return new TrellisError('invalid_options', `approvals.list option "${option}" must be ${expected}, got ${JSON.stringify(received)}`);
}
