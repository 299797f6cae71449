/**
 * What follows a step attempt's outcome, applied: a completion records the output and decides the
 * successors (or ends the run, for a terminating `end` or a rejection with no `rejected` branch), a wait arms its timer, a loop starts its
 * iterations, a failure takes the planner's route (retry, approval, tolerated branch, error
 * handler, failed run). Rows and events go into the next commit. Internal to the runner.
 */
import type { StepRecord, Waiter } from '../storage/records.js';
import type { RunPatch } from '../storage/storage.js';
import type { Clock } from '../kernel/clock.js';
import { TrellisError, toTrellisError } from '../kernel/errors.js';
import type { CompletedResult, IterateResult, WakeSignal } from '../nodes/node-handler.js';
import type { Plan } from '../planner/plan.js';
import type { PlannerView } from '../planner/planner.js';
import { failedRunMessage, failureRoute } from '../planner/failure-routing.js';
import { runTermination } from '../planner/termination.js';
import { asObject, changedStep, completedStep, settledState } from '../planner/step-records.js';
import { splitStepPath } from '../planner/step-path.js';
import type { ChildRuns } from './run-deps.js';
import type { CommitBatch } from './commit-batch.js';
import type { Outcome } from './inflight-step.js';
import type { LoopIterations } from './loop-iterations.js';
import { approvalRequest } from './approval-requests.js';
import { stopEverything } from './run-cancellation.js';
import type { RunEvents } from './run-events.js';
import type { RunRow } from './run-row.js';
import type { RunScheduler } from './run-scheduler.js';
import type { ScopeContexts } from './scope-contexts.js';
import type { StepTimers } from './step-timers.js';
import { plainCopier } from '../kernel/plain.js';

// The parts live as long as the run: copied into an object made with `new` (see kernel/plain.ts).
const copyParts = plainCopier<StepOutcomeParts>();

/** The parts of a run that a step's outcome changes. */
export interface StepOutcomeParts {
  readonly plan: Plan;
  readonly clock: Clock;
  readonly random: () => number;
  readonly view: PlannerView;
  readonly row: RunRow;
  readonly contexts: ScopeContexts;
  readonly scheduler: RunScheduler;
  readonly events: RunEvents;
  readonly timers: StepTimers;
  readonly batch: CommitBatch;
  readonly children: Pick<ChildRuns, 'childWaiting'>;
  /** The run's loops (made on first use). */
  loops(): LoopIterations;
  /** Ends the run with `patch`, stopping every live step with `reason`. */
  end(patch: RunPatch, reason: TrellisError): void;
  /** Wakes a waiting step (its timer came due). */
  wake(path: string, signal: WakeSignal): Promise<void>;
}

/** Applies the outcomes of one run's step attempts. */
export class StepOutcomes {
  readonly #parts: StepOutcomeParts;

  constructor(parts: StepOutcomeParts) {
    this.#parts = copyParts(parts);
  }

  /** Applies how the attempt of the running `step` ended. */
  settle(step: StepRecord, outcome: Outcome): void {
    try {
      if (outcome.error !== undefined || !outcome.result) this.fail(step, toTrellisError(outcome.error ?? new Error('no result')));
      else if (outcome.result.status === 'completed') this.complete(step, outcome.result);
      else if (outcome.result.status === 'waiting') this.#wait(step, outcome.result.waiter);
      else this.#startLoop(step, outcome.result.spec);
    } catch (error) {
      // A planner-side failure (e.g. an edge condition that does not evaluate) fails the run cleanly.
      this.#failRun(step, toTrellisError(error));
    }
  }

  complete(step: StepRecord, result: CompletedResult): void {
    const { plan, clock, row, scheduler, events } = this.#parts;
    const { output, writes } = result;
    const now = clock.now();
    const done = completedStep(step, result, now);
    scheduler.put(done);
    const { prefix, nodeId } = splitStepPath(step.path);
    this.#parts.contexts.apply(prefix, nodeId, output, writes);
    events.after('node:completed', () => ({ nodeId, path: step.path, output, durationMs: done.duration_ms ?? 0 }));
    if (row.record.recovery_count > 0) row.patch({ recovery_count: 0 });
    const termination = runTermination(plan, { path: step.path, nodeId, output, fired: result.fired });
    if (termination !== undefined) {
      const runOutput = termination.output;
      this.#parts.end({ status: 'completed', output_data: runOutput }, new TrellisError('cancelled', termination.reason));
      events.after('execution:completed', () => ({ output: runOutput, durationMs: now - (row.record.started_at ?? now) }));
      return;
    }
    scheduler.advance(prefix, nodeId);
  }

  #wait(step: StepRecord, waiter: Waiter): void {
    this.#parts.scheduler.put(changedStep(step, { status: 'waiting', waiter, state: settledState(step.state) }));
    this.armTimer(step.path, waiter);
    const childId = waiter.kind === 'child' ? waiter.child_id : undefined;
    if (childId !== undefined) this.#parts.batch.after(() => this.#parts.children.childWaiting(childId));
    this.#parts.events.after('node:waiting', () => ({ nodeId: step.node_id, path: step.path, kind: waiter.kind, ...(waiter.due_at === undefined ? {} : { dueAt: waiter.due_at }), ...approvalRequest(waiter) }));
  }

  /** Arms the timer of a wait with a deadline: when it fires, the step is woken if it still waits. */
  armTimer(path: string, waiter: Waiter, restored = false): void {
    if (waiter.due_at === undefined) return;
    const { scheduler } = this.#parts;
    this.#parts.timers.arm(path, waiter.due_at, () => {
      if (!scheduler.finished && scheduler.steps.get(path)?.status === 'waiting') void this.#parts.wake(path, { kind: 'timer' });
    }, restored);
  }

  /** Applies the planner's route for a failed attempt. */
  fail(step: StepRecord, error: TrellisError): void {
    const { plan, clock, scheduler, events } = this.#parts;
    const route = failureRoute(plan, step, error, { view: this.#parts.view, now: clock.now(), random: this.#parts.random, runEnding: scheduler.finished });
    scheduler.put(route.step);
    const { path, attempt } = step;
    const { prefix, nodeId } = splitStepPath(path);
    const stored = route.error;
    if (route.kind === 'approval') {
      const waiter = route.step.waiter;
      events.after('node:waiting', () => ({ nodeId, path, kind: 'approval', ...approvalRequest(waiter) }));
      return;
    }
    if (route.kind === 'retry') {
      this.armTimer(path, route.waiter);
      events.after('node:failed', () => ({ nodeId, path, error: stored, attempt, willRetry: true }));
      const dueAt = route.waiter.due_at;
      events.after('node:waiting', () => ({ nodeId, path, kind: 'retry', ...(dueAt === undefined ? {} : { dueAt }) }));
      return;
    }
    events.after('node:failed', () => ({ nodeId, path, error: stored, attempt, willRetry: false }));
    switch (route.kind) {
      case 'tolerated':
        scheduler.advance(prefix, nodeId);
        return;
      case 'error_handler':
        this.#parts.contexts.get('')!.error = route.context;
        stopEverything(scheduler, new TrellisError('cancelled', route.reason));
        scheduler.launch('', route.handlerId);
        return;
      case 'fail_run':
        this.#failRun(step, error);
        return;
    }
  }

  #failRun(step: StepRecord, error: TrellisError): void {
    if (this.#parts.scheduler.finished) return;
    const { path, node_id: nodeId } = step;
    const message = failedRunMessage(path, error);
    this.#parts.end({ status: 'failed', error_message: message }, new TrellisError('cancelled', `run failed at step "${path}"`));
    this.#parts.events.after('execution:failed', () => ({ error: { code: error.code, message, nodeId, path } }));
  }

  #startLoop(step: StepRecord, spec: IterateResult['spec']): void {
    const total = spec.mode === 'list' ? spec.items.length : spec.mode === 'count' ? spec.count : null;
    this.#parts.scheduler.put(changedStep(step, { state: { ...(asObject(step.state) ?? {}), mode: spec.mode, total } }));
    this.#parts.loops().start(step, spec);
  }
}
