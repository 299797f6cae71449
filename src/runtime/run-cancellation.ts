/**
 * Ending steps before they finish: the losing branches of a join that fired early, the steps
 * nested in a step that was superseded, and everything still live when a run stops. Running
 * handlers are aborted and their timers cancelled; the rows say why. Internal to the runner.
 */
import type { StepRecord } from '../storage/records.js';
import type { Clock } from '../kernel/clock.js';
import { TrellisError } from '../kernel/errors.js';
import type { Plan } from '../planner/plan.js';
import { isTerminal } from '../planner/planner.js';
import type { StepExecutor } from './step-executor.js';
import { endedStep } from '../planner/step-records.js';
import type { StepTable } from './step-table.js';
import type { StepTimers } from './step-timers.js';

/** The parts of a run that cancelling touches. */
export interface CancellationScope {
  readonly plan: Plan;
  readonly clock: Clock;
  readonly steps: StepTable;
  readonly executor: StepExecutor;
  readonly timers: StepTimers;
  /** Writes a step row (into the table and the next commit). */
  put(step: StepRecord): void;
  /** Records a step that never started as skipped, with its event. */
  skip(prefix: string, nodeId: string, reason: string): void;
  /** Announces, after the commit, that a live step was skipped. */
  skipped(step: StepRecord, reason: string): void;
  /** Cancels, after the commit that ends its parent step, the child run of a `sub_workflow` step. */
  cancelChild(childId: string, reason: string): void;
}

/** A join fired early (`any`/`count`): branches still running lose; unstarted ones are skipped. */
export function cancelRegion(scope: CancellationScope, prefix: string, mergeId: string): void {
  const join = scope.plan.joins.get(mergeId)!;
  for (const id of join.region) {
    const path = prefix + id;
    const step = scope.steps.get(path);
    if (step === undefined) scope.skip(prefix, id, `branch lost: "${mergeId}" had enough branches`);
    else if (!isTerminal(step)) supersede(scope, step, 'branch lost the race');
    cancelNested(scope, path + '[');
  }
}

/**
 * Marks a live step skipped, then aborts its work. The row comes first: an aborted attempt settles
 * at once, and finding its step no longer running is what makes the runner drop that outcome
 * instead of routing it as a failure (which re-decided the join, or failed the run).
 */
function supersede(scope: CancellationScope, step: StepRecord, reason: string): void {
  scope.put(endedStep(step, 'skipped', { code: 'cancelled', message: reason }, scope.clock.now()));
  scope.executor.abort(step.path, new TrellisError('cancelled', reason));
  scope.timers.cancel(step.path);
  scope.skipped(step, reason);
  cancelChildOf(scope, step, reason);
}

/** A `sub_workflow` step that stops waiting takes its child run down with it. */
function cancelChildOf(scope: CancellationScope, step: StepRecord, reason: string): void {
  const childId = step.waiter?.kind === 'child' ? step.waiter.child_id : undefined;
  if (childId !== undefined) scope.cancelChild(childId, reason);
}

function cancelNested(scope: CancellationScope, pathPrefix: string): void {
  for (const step of scope.steps.values()) if (step.path.startsWith(pathPrefix) && !isTerminal(step)) supersede(scope, step, 'enclosing step was cancelled');
}

/** Ends every live step: running ones fail with `cancelled`, waiting and pending ones (and running loops) are skipped. */
export function stopEverything(scope: CancellationScope, reason: TrellisError): void {
  const now = scope.clock.now();
  const error = { code: 'cancelled', message: reason.message };
  for (const step of [...scope.steps.values()]) {
    if (isTerminal(step)) continue;
    const failed = step.status === 'running' && scope.plan.nodes.get(step.node_id)?.type !== 'loop';
    // The row first, as in supersede: the aborted attempt then settles into a step that has ended.
    scope.put(endedStep(step, failed ? 'failed' : 'skipped', error, now));
    scope.executor.abort(step.path, reason);
    scope.timers.cancel(step.path);
    cancelChildOf(scope, step, reason.message);
  }
}
