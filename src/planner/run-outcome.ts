/**
 * When a run is finished and what it produced, and when a run that is not finished only waits for
 * humans. Pure: read from the plan and the run's step rows.
 */
import type { StepRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { Plan } from './plan.js';
import { isTerminal } from './planner.js';

/** The step facts the run outcome is read from. */
export interface StepFacts {
  /** How many steps are not yet completed, skipped or failed. */
  readonly live: number;
  /** The latest row of every step of the run. */
  values(): Iterable<StepRecord>;
}

/** Whether a run is over, and its output when it is. */
export type RunOutcome = { readonly finished: false } | { readonly finished: true; readonly output: Json };

// One object for every "not yet": the controller asks after each step settles.
const LIVE: RunOutcome = { finished: false };

/**
 * A run is finished exactly when none of its steps is live. Its output is the output of the last
 * completed top-level `end` step (by `seq`: the one that started last), or null when no `end` ran.
 * Costs a scan of the steps only once nothing is live.
 */
export function runOutcome(plan: Plan, facts: StepFacts): RunOutcome {
  if (facts.live > 0) return LIVE;
  let output: Json | undefined;
  let seq = -1;
  for (const step of facts.values()) {
    // A top-level step's path is its node id; an `end` inside a loop iteration ends only its iteration.
    if (step.status === 'completed' && step.seq > seq && step.path === step.node_id && plan.nodes.get(step.node_id)?.type === 'end') {
      seq = step.seq;
      output = step.output_data;
    }
  }
  return { finished: true, output: output ?? null };
}

/** What the live steps of a run wait for (see {@link liveWaits}). */
export type LiveWaits = 'nothing' | 'approvals' | 'other';

/** The running loop steps of a run, by path (each only holds its iterations). */
export interface RunningLoops {
  has(path: string): boolean;
}

/**
 * What the live steps of a run wait for: `approvals` when every one waits for a human approval
 * (such a run is stored as `paused`), `nothing` when none is live, else `other`. A running loop
 * step only holds its iterations: those in `loops` are looked through.
 */
export function liveWaits(steps: Iterable<StepRecord>, loops: RunningLoops | undefined): LiveWaits {
  let waits: LiveWaits = 'nothing';
  for (const step of steps) {
    if (isTerminal(step) || loops?.has(step.path) === true) continue;
    if (step.status !== 'waiting' || step.waiter?.kind !== 'approval') return 'other';
    waits = 'approvals';
  }
  return waits;
}
