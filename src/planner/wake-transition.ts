/**
 * What a wake signal (approval, timer, event, child run) does to a waiting step: the row the step
 * becomes and how the runner goes on, or why the signal is refused. Pure.
 */
import type { StepRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { WakeSignal } from '../nodes/node-handler.js';
import { IllegalStateError, TrellisError } from '../kernel/errors.js';
import { asObject, changedStep } from './step-records.js';

/** The transition a wake signal makes. Every kind but `illegal` carries the step's new (`running`) row. */
export type WakeTransition =
  /** The step does not wait, or not for this signal: the caller gets `error`. */
  | { readonly kind: 'illegal'; readonly error: IllegalStateError }
  /** An over-budget call was refused: the step fails with `error` (routed like any failure). */
  | { readonly kind: 'refused'; readonly step: StepRecord; readonly error: TrellisError }
  /** An over-budget call was allowed: the same attempt runs again with its budget check waived. */
  | { readonly kind: 'approved'; readonly step: StepRecord }
  /** A retry timer came due: the next attempt starts. */
  | { readonly kind: 'retry'; readonly step: StepRecord }
  /** Any other wake: the node's handler resumes with `signal`. */
  | { readonly kind: 'resume'; readonly step: StepRecord; readonly signal: WakeSignal };

/**
 * The transition `signal` makes on the step at `path` of run `runId` (`step` is its row, if any),
 * at `now`. A timer may wake any wait with a deadline; any other signal only a wait of its own kind.
 */
export function wakeTransition(runId: string, path: string, step: StepRecord | undefined, signal: WakeSignal, now: number): WakeTransition {
  if (!step || step.status !== 'waiting' || !step.waiter) {
    const error = new IllegalStateError(`Step "${path}" of run ${runId} is not waiting${step ? ` (it is ${step.status})` : ''}`, { executionId: runId, nodeId: step?.node_id ?? path });
    return { kind: 'illegal', error };
  }
  const waiter = step.waiter;
  if (signal.kind !== 'timer' && signal.kind !== waiter.kind) {
    return { kind: 'illegal', error: new IllegalStateError(`Step "${path}" waits for ${waiter.kind}, not ${signal.kind}`, { executionId: runId, nodeId: step.node_id }) };
  }
  if (signal.kind === 'approval' && (asObject(waiter.detail ?? null)?.reason as unknown) === 'budget') {
    if (!signal.approved) {
      const error = new TrellisError('budget_exceeded', `Over-budget call refused by approver${signal.reason ? `: ${signal.reason}` : ''}`, { nodeId: step.node_id, retryable: false, details: { refused: true } });
      return { kind: 'refused', step: changedStep(step, { status: 'running', waiter: undefined }), error };
    }
    // The waiver is written into the row so that a re-run of this attempt after a crash is waived too.
    return { kind: 'approved', step: changedStep(step, { status: 'running', waiter: undefined, error: undefined, state: { ...(asObject(step.state) ?? {}), budget_waived: true } }) };
  }
  if (waiter.kind === 'retry') {
    return { kind: 'retry', step: changedStep(step, { status: 'running', attempt: step.attempt + 1, started_at: now, waiter: undefined }) };
  }
  // An event that does not match puts the step back to waiting: it keeps the wait's deadline.
  const due = waiter.due_at;
  const resumeWith: WakeSignal = signal.kind === 'event' && due !== undefined ? { ...signal, dueAt: due } : signal;
  // The signal is written into the row: the row may commit before the handler has resumed (behind
  // the run's concurrency limit, say), and the decision, event or child's end it carries was taken
  // out of the run's inbox once that commit landed. A process that recovers the run resumes the
  // step with it rather than running the node afresh (which would wait again, the answer lost).
  return { kind: 'resume', step: changedStep(step, { status: 'running', waiter: undefined, state: { ...(asObject(step.state) ?? {}), wake: resumeWith as unknown as Json } }), signal: resumeWith };
}

/** The wake signal a `running` step was resumed with, kept in its row (see {@link wakeTransition}); undefined for a step that was not woken. */
export function resumedWith(step: StepRecord): WakeSignal | undefined {
  const wake = asObject(step.state)?.wake;
  return wake === undefined || wake === null ? undefined : (wake as unknown as WakeSignal);
}

/**
 * Whether the step's over-budget call was allowed by an approver. The row's `state.budget_waived`
 * is the durable record of that approval; the runner reads it here and hands the step's attempt
 * an explicit flag.
 */
export function isBudgetWaived(step: StepRecord): boolean {
  return asObject(step.state)?.budget_waived === true;
}
