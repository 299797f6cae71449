/** `engine.approvals`: what waits for a person, across runs (the approval inbox). */
import type { Storage } from '../storage/storage.js';
import type { ApprovalWaiter } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { ApprovalOutcome } from '../kernel/events.js';
import { TrellisError } from '../kernel/errors.js';
import { approvalAsk } from '../runtime/approval-requests.js';

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
      const waiters = await (await storage()).findApprovalWaiters({
        ...(workflowId === undefined ? {} : { workflow_id: workflowId }),
        ...(limit === undefined ? {} : { limit }),
        ...(offset === undefined ? {} : { offset }),
      });
      return waiters.map(toPendingApproval);
    },
  };
}

function toPendingApproval({ step, workflow_id, workflow_version }: ApprovalWaiter): PendingApproval {
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
  return pending;
}

function invalid(option: string, expected: string, received: unknown): TrellisError {
  return new TrellisError('invalid_options', `approvals.list option "${option}" must be ${expected}, got ${JSON.stringify(received)}`);
}
