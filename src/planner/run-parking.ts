/**
 * Whether a run that is loaded in memory only waits, so that its process may let it go (park it)
 * and load it again from its committed steps when something wakes it, and when it needs a driver
 * again by itself (its nearest timer). Pure: the runtime asks it once a run's commits have landed.
 */
import type { StepRecord } from '../storage/records.js';
import { liveWaits } from './run-outcome.js';

/** The wake time of a parked run that no timer wakes: only an approval, an event, a resume or a cancel does. */
export const PARKED_UNTIL_WOKEN = Number.MAX_SAFE_INTEGER;

/**
 * How long a parked parent waits before it looks at its child run again itself: as long as its step
 * has waited so far, within these bounds. The child's end wakes its parent at once (loading it
 * from storage, or through its inbox when another process drives it); this look only covers a
 * process that died between the child's last commit and that wake-up, so the bounds trade how late
 * such a parent goes on against how often a long-waiting parent is loaded for nothing (at most once
 * an hour each: 10,000 such parents cost about 3 loads a second).
 */
export const CHILD_CHECK_MIN_MS = 60_000;
export const CHILD_CHECK_MAX_MS = 3_600_000;

/** What of the run, besides its steps, decides whether it can be parked. */
export interface ParkingFacts {
  /** Paused by a user (`pause()`), not merely waiting for approvals. */
  readonly userPaused: boolean;
  /** When `settings.timeout_ms` ends the run, if it has one. */
  readonly deadline?: number | undefined;
  /** The time now (ms since epoch): a wait for a child run is looked at again from it. */
  readonly now: number;
}

/**
 * When a parked run needs a driver again (its nearest due timer, its deadline, the next look at a
 * child run it waits for, or {@link PARKED_UNTIL_WOKEN}), or undefined when it cannot be parked:
 * - a step is `running` (executing, or a loop holding its iterations): its work is in this process;
 * - a step is `pending` while the run is not user-paused: it is about to start;
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
        if (waiter === undefined) return undefined;
        if (waiter.kind === 'child') {
          // Its own look at the child (see CHILD_CHECK_MIN_MS), in case the child's wake-up was lost.
          const check = facts.now + Math.min(Math.max(facts.now - step.started_at, CHILD_CHECK_MIN_MS), CHILD_CHECK_MAX_MS);
          if (check < wake) wake = check;
        }
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
