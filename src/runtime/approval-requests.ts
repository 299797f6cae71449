/**
 * What a person is asked at a step waiting for approval, read from the step's waiter: the message,
 * the data to review and the allowed answers, with the deadline and what it decides. One reading,
 * shown wherever a waiting step is: the trace, the `node:waiting` and `execution:paused` events,
 * and the approval inbox (`engine.approvals.list`).
 */
import type { StepRecord, Waiter } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { ApprovalOutcome, ApprovalRequest, WaitingApproval } from '../kernel/events.js';
import { asObject } from '../planner/step-records.js';

/** Every approval is answered by approving or rejecting it. */
export const APPROVAL_OUTCOMES: readonly ApprovalOutcome[] = Object.freeze(['approve', 'reject'] as const);

const TIMEOUT_POLICIES = new Set<unknown>(['approve', 'reject', 'fail']);

/** What a person is asked, as records spell it (snake_case; the deadline in ms since epoch). */
export interface ApprovalAsk {
  readonly message: string | null;
  readonly data: Json;
  readonly outcomes: readonly ApprovalOutcome[];
  readonly due_at?: number;
  readonly on_timeout?: 'approve' | 'reject' | 'fail';
}

/**
 * What a step waiting with `waiter` asks of a person; undefined unless it waits for approval. A
 * `human_approval` step's waiter holds its message, data and timeout policy; an over-budget call's
 * holds the budget's message. A wait written before the waiter held them shows a null message and
 * data, and the node's default timeout policy (`fail`).
 */
export function approvalAsk(waiter: Waiter | undefined): ApprovalAsk | undefined {
  if (waiter?.kind !== 'approval') return undefined;
  const detail = asObject(waiter.detail ?? null);
  const message = typeof detail?.message === 'string' ? detail.message : null;
  const ask: { -readonly [K in keyof ApprovalAsk]: ApprovalAsk[K] } = { message, data: detail?.data ?? null, outcomes: APPROVAL_OUTCOMES };
  if (waiter.due_at !== undefined) {
    ask.due_at = waiter.due_at;
    ask.on_timeout = TIMEOUT_POLICIES.has(detail?.on_timeout) ? (detail!.on_timeout as ApprovalAsk['on_timeout'] & string) : 'fail';
  }
  return ask;
}

/** {@link approvalAsk} as events spell it (camelCase). */
export function approvalRequest(waiter: Waiter | undefined): ApprovalRequest | undefined {
  const ask = approvalAsk(waiter);
  if (ask === undefined) return undefined;
  const request: { -readonly [K in keyof ApprovalRequest]: ApprovalRequest[K] } = { message: ask.message, data: ask.data, outcomes: ask.outcomes };
  if (ask.due_at !== undefined) request.dueAt = ask.due_at;
  if (ask.on_timeout !== undefined) request.onTimeout = ask.on_timeout;
  return request;
}

/** The steps among `steps` that wait for approval, each with what it asks (for `execution:paused`). */
export function waitingApprovals(steps: Iterable<StepRecord>): WaitingApproval[] {
  const waiting: WaitingApproval[] = [];
  for (const step of steps) {
    const request = step.status === 'waiting' ? approvalRequest(step.waiter) : undefined;
    if (request !== undefined) waiting.push({ nodeId: step.node_id, path: step.path, ...request });
  }
  return waiting;
}
