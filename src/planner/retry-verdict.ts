/** The retry policy of one node attempt: whether to retry, after how long, and what a failure leads to. Pure. */
import type { StepRecord, StoredError, Waiter } from '../storage/records.js';
import type { RetryPolicy } from '../definition/definition.js';
import type { TrellisError } from '../kernel/errors.js';
import type { Plan } from './plan.js';
import { changedStep, withFailedAttempt } from './step-records.js';

/** The policy used when a node and its workflow set none: no retries. */
export const NO_RETRY: RetryPolicy = { max_attempts: 1 };

/** Whether a failed attempt number `attempt` (1-based) should be retried under `policy`. */
export function shouldRetry(policy: RetryPolicy, error: TrellisError, attempt: number): boolean {
  if (attempt >= policy.max_attempts) return false;
  if (error.code === 'cancelled') return false;
  const codes = policy.retry_on_errors;
  if (codes === undefined || codes.length === 0) return error.retryable;
  return codes.includes(error.code);
}

/**
 * Delay before attempt `attempt + 1`: `delay_ms * backoff_multiplier^(attempt-1)`, capped at
 * `max_delay_ms` (default 5 minutes), with up to 20% jitter unless `jitter: false`, and never
 * shorter than the `retry-after` the error carries. `random` is injected to keep this pure.
 */
export function retryDelay(policy: RetryPolicy, error: TrellisError, attempt: number, random: () => number): number {
  const base = policy.delay_ms ?? 1000;
  const raw = base * Math.pow(policy.backoff_multiplier ?? 1, attempt - 1);
  const capped = Math.min(raw, policy.max_delay_ms ?? 300_000);
  const jittered = policy.jitter === false ? capped : capped * (1 - 0.2 * random());
  return Math.max(Math.round(jittered), error.retryAfterMs ?? 0);
}

/** What becomes of a step whose attempt failed. */
export type FailureVerdict =
  /** Another attempt after a backoff: the step waits for its retry timer. */
  | { readonly kind: 'retry'; readonly step: StepRecord; readonly error: StoredError; readonly waiter: Waiter }
  /** Over budget with `on_exceed: 'pause'`: the step waits for a human to allow or refuse the call. */
  | { readonly kind: 'approval'; readonly step: StepRecord; readonly error: StoredError }
  /** Failed for good. */
  | { readonly kind: 'failed'; readonly step: StepRecord; readonly error: StoredError };

/**
 * Decides, from the node's retry policy (or the workflow's default) and the workflow's budget
 * settings, what a failed attempt leads to, and the step row that records it (with the attempt
 * added to its history). A run that is already ending retries nothing.
 */
export function failureVerdict(plan: Plan, step: StepRecord, error: TrellisError, now: number, random: () => number, runEnding: boolean): FailureVerdict {
  const settings = plan.workflow.definition.settings;
  const policy = plan.nodes.get(step.node_id)!.node.retry_policy ?? settings?.retry_policy ?? NO_RETRY;
  const stored: StoredError = { code: error.code, message: error.message };
  const state = withFailedAttempt(step, stored, now);
  if (!runEnding && shouldRetry(policy, error, step.attempt)) {
    const waiter: Waiter = { kind: 'retry', due_at: now + retryDelay(policy, error, step.attempt, random) };
    return { kind: 'retry', step: changedStep(step, { status: 'waiting', waiter, error: stored, state }), error: stored, waiter };
  }
  if (!runEnding && error.code === 'budget_exceeded' && error.details?.refused !== true && settings?.budget?.on_exceed === 'pause') {
    const waiter: Waiter = { kind: 'approval', detail: { reason: 'budget', message: error.message } };
    return { kind: 'approval', step: changedStep(step, { status: 'waiting', waiter, error: stored, state }), error: stored };
  }
  return { kind: 'failed', step: changedStep(step, { status: 'failed', error: stored, state, completed_at: now, duration_ms: now - step.started_at }), error: stored };
}
