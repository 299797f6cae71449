/**
 * What a failed step leads to, beyond its own row: another attempt, a human approval, a lost
 * branch the run tolerates, the workflow's error handler, or the end of the run. Pure: the plan,
 * the step, the error and the run's committed steps in, a route out.
 */
import type { StepRecord, StoredError, Waiter } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { TrellisError } from '../kernel/errors.js';
import type { Plan } from './plan.js';
import type { PlannerView } from './planner.js';
import { failureVerdict } from './retry-verdict.js';

/** Where a failure goes. Every route carries the row the failed step becomes and the error it stores. */
export type FailureRoute =
  /** Another attempt after a backoff: the step waits for its retry timer. */
  | { readonly kind: 'retry'; readonly step: StepRecord; readonly error: StoredError; readonly waiter: Waiter }
  /** Over budget with `on_exceed: 'pause'`: the step waits for a human to allow or refuse the call. */
  | { readonly kind: 'approval'; readonly step: StepRecord; readonly error: StoredError }
  /** A branch of an `any`/`count` parallel failed: the branch is lost, the run goes on past the step. */
  | { readonly kind: 'tolerated'; readonly step: StepRecord; readonly error: StoredError }
  /**
   * The workflow's `settings.error_handler_node_id` takes over: every other live step stops, the
   * root context gets `error`, and the handler starts at the top level.
   */
  | { readonly kind: 'error_handler'; readonly step: StepRecord; readonly error: StoredError; readonly handlerId: string; readonly context: Json; readonly reason: string }
  /** The run fails with `message`. */
  | { readonly kind: 'fail_run'; readonly step: StepRecord; readonly error: StoredError; readonly message: string };

/** What is known about the run when a step fails. */
export interface FailureFacts {
  /** The run's committed steps (to tell whether the error handler already ran). */
  readonly view: PlannerView;
  /** The time of the failure. */
  readonly now: number;
  /** Jitter for the retry delay, in [0, 1). */
  readonly random: () => number;
  /** True once the run is ending: nothing is retried or waits for approval then. */
  readonly runEnding: boolean;
}

/**
 * Routes the failure of `step` with `error`. The retry policy and budget settings decide first
 * (see {@link failureVerdict}); a failure for good is tolerated inside the branches of an
 * `any`/`count` parallel, else goes to the error handler when the workflow names one that has not
 * run yet and is not the failed node itself, else fails the run.
 */
export function failureRoute(plan: Plan, step: StepRecord, error: TrellisError, facts: FailureFacts): FailureRoute {
  const verdict = failureVerdict(plan, step, error, facts.now, facts.random, facts.runEnding);
  if (verdict.kind !== 'failed') return verdict;
  const nodeId = step.node_id;
  if (plan.tolerant.has(nodeId)) return { kind: 'tolerated', step: verdict.step, error: verdict.error };
  const handlerId = plan.workflow.definition.settings?.error_handler_node_id;
  // The handler's path is its id: it runs at the top level, once.
  if (handlerId !== undefined && handlerId !== nodeId && facts.view.step(handlerId) === undefined) {
    return {
      kind: 'error_handler',
      step: verdict.step,
      error: verdict.error,
      handlerId,
      context: { node_id: nodeId, path: step.path, code: error.code, message: error.message },
      reason: `step "${step.path}" failed; routed to error handler "${handlerId}"`,
    };
  }
  return { kind: 'fail_run', step: verdict.step, error: verdict.error, message: failedRunMessage(step.path, error) };
}

/**
 * The run's error message when the step at `path` fails it with `error`. It names the step path,
 * not just the node id: in a loop or a nested scope (`per_doc[3].summarise_doc`) the id alone does
 * not say which item failed, and the path is what `engine.approve` and the trace address it by.
 */
export function failedRunMessage(path: string, error: TrellisError): string {
  return `Step "${path}" failed: ${error.message}`;
}
