/**
 * Whether a run that is loaded in memory only waits, so that its process may let it go (park it)
 * and load it again from its committed steps when something wakes it, and when it needs a driver
 * again by itself (its nearest timer). Pure: the runtime asks it once a run's commits have landed.
 */
import type { StepRecord } from '../storage/records.js';
import { liveWaits } from './run-outcome.js';

/** The wake time of a parked run that no timer wakes: only an approval, an event, a resume or a cancel does. */
export const PARKED_UNTIL_WOKEN = Number.MAX_SAFE_INTEGER;

/** What of the run, besides its steps, decides whether it can be parked. */
export interface ParkingFacts {
  /** Paused by a user (`pause()`), not merely waiting for approvals. */
  readonly userPaused: boolean;
  /** When `settings.timeout_ms` ends the run, if it has one. */
  readonly deadline?: number | undefined;
}

/**
 * When a parked run needs a driver again (its nearest due timer, its deadline, or
 * {@link PARKED_UNTIL_WOKEN}), or undefined when it cannot be parked:
 * - a step is `running` (executing, or a loop holding its iterations): its work is in this process;
 * - a step is `pending` while the run is not user-paused: it is about to start;
 * - a step waits for a child run: the child's end wakes its parent by a hand-off in memory, which a
 *   crash between the child's last commit and the parent's wake-up would lose for a parked parent;
 * - the run is user-paused and only approvals wait: loading it again would read it as paused for
 *   approvals (the two share the stored status `paused`) and `resume()` would refuse.
 * A run with no live step at all is finished, not parked (the caller ends it first).
 */
export function parkingWake(steps: readonly StepRecord[], facts: ParkingFacts): number | undefined {
  let wake = facts.deadline ?? PARKED_UNTIL_WOKEN;
  let live = false;
  for (const step of steps) {
    switch (step.status) {
      case 'running':
        return undefined;
      case 'pending':
        if (!facts.userPaused) return undefined;
        live = true;
        break;
      case 'waiting': {
        const waiter = step.waiter;
        if (waiter === undefined || waiter.kind === 'child') return undefined;
        if (waiter.due_at !== undefined && waiter.due_at < wake) wake = waiter.due_at;
        live = true;
        break;
      }
      default:
        break;
    }
  }
  if (!live) return undefined;
  if (facts.userPaused && liveWaits(steps, undefined) === 'approvals') return undefined;
  return wake;
}
