/**
 * Continuing a run from its committed steps (recovery): rebuild the scope contexts and running
 * loops in the order things happened, re-run what was in flight (same attempt, same idempotency
 * key, same budget waiver), re-arm waits, resume pending steps, and decide whatever the committed
 * facts make ready. Internal to the runner.
 */
import type { StepRecord, Waiter } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { NodeHandler } from '../nodes/node-handler.js';
import type { Plan } from '../planner/plan.js';
import { isTerminal } from '../planner/planner.js';
import { liveWaits, type RunningLoops } from '../planner/run-outcome.js';
import { asObject } from '../planner/step-records.js';
import { splitStepPath } from '../planner/step-path.js';
import { isBudgetWaived, resumedWith } from '../planner/wake-transition.js';
import type { LoopIterations } from './loop-iterations.js';
import type { RunEvents } from './run-events.js';
import type { RunScheduler } from './run-scheduler.js';
import type { ScopeContexts } from './scope-contexts.js';
import type { StepExecutor } from './step-executor.js';
import type { StepTable } from './step-table.js';

/** The parts of a run that restoring it rebuilds. */
export interface RestoreScope {
  readonly plan: Plan;
  readonly steps: StepTable;
  readonly contexts: ScopeContexts;
  readonly scheduler: RunScheduler;
  readonly executor: StepExecutor;
  readonly events: RunEvents;
  readonly handlers: ReadonlyMap<string, NodeHandler>;
  /** The run's loops (made on first use). */
  readonly loops: () => LoopIterations;
  /** The running loops so far, if any. */
  readonly runningLoops: () => RunningLoops | undefined;
  /** Arms the timer of a wait with a deadline. */
  readonly armTimer: (path: string, waiter: Waiter) => void;
}

/** Loads `steps` into the run and sets it going again. */
export function restoreRun(scope: RestoreScope, steps: readonly StepRecord[]): void {
  const { plan, contexts, scheduler, executor } = scope;
  const ordered = scope.steps.load(steps);
  for (const step of ordered) {
    const { prefix, nodeId } = splitStepPath(step.path);
    // An iteration of a loop that already finished needs no scope.
    if (prefix !== '' && !contexts.get(prefix) && !scope.loops().reopen(prefix)) continue;
    if (step.status === 'completed') {
      contexts.apply(prefix, nodeId, step.output_data, asObject(step.state)?.writes as Record<string, Json> | undefined);
    } else if (step.status === 'running' && plan.nodes.get(nodeId)?.type === 'loop') {
      restoreLoop(scope, step);
    }
  }
  for (const step of ordered) {
    if (step.status === 'running' && plan.nodes.get(step.node_id)?.type !== 'loop') {
      scope.events.started(() => step);
      // A step woken before the crash resumes with the signal its row keeps, not afresh.
      executor.start(step.path, resumedWith(step), isBudgetWaived(step));
    } else if (step.status === 'waiting' && step.waiter) {
      scope.armTimer(step.path, step.waiter);
    }
  }
  // `paused` is stored for both a user pause and "waiting for a human"; only approvals waiting means the latter.
  if (scheduler.paused && liveWaits(ordered, scope.runningLoops()) !== 'other') scheduler.paused = false;
  scheduler.promoteAll();
  for (const step of ordered) {
    if (!isTerminal(step)) continue;
    const { prefix, nodeId } = splitStepPath(step.path);
    if (prefix !== '' && !contexts.get(prefix)) continue;
    scheduler.advance(prefix, nodeId);
  }
  scope.loops().fillAll();
}

/** A running loop re-reads its spec (the handler is pure) and rebuilds its iterations from their steps. */
function restoreLoop(scope: RestoreScope, step: StepRecord): void {
  const result = scope.handlers.get('loop')!.execute(scope.executor.contextFor(step));
  if (result instanceof Promise || result.status !== 'iterate') return;
  scope.loops().restore(step, result.spec, scope.steps.values());
}
