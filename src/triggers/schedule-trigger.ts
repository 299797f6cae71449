/**
 * Schedule triggers: fire times come from croner (pure: `nextRun` only, croner never owns a
 * timer), waiting comes from the engine's injectable Clock, so tests drive schedules with a
 * FakeClock. Exactly-once per fire is not this file's job: every fire starts its run with the
 * idempotency key `schedule:<workflow>:<trigger>:<fire time>`, which storage enforces across
 * restarts and processes.
 */
import type { Cron } from 'croner';
import type { Clock } from '../kernel/clock.js';
import { loadCroner } from '../kernel/lazy-modules.js';
import type { ScheduleTriggerConfig } from './trigger-config.js';

/** A timer longer than this is split (Node's setTimeout overflows past ~24.8 days). */
const MAX_TIMER_MS = 24 * 60 * 60 * 1000;

/** Windows searched, smallest first, for the latest missed fire (cheap for dense and sparse patterns). */
const SEARCH_WINDOWS_MS = [60_000, 3_600_000, 86_400_000, 32 * 86_400_000, 366 * 86_400_000];

/** Compiles a schedule's pattern; throws croner's error for a bad pattern or zone. */
export function compileSchedule(config: Pick<ScheduleTriggerConfig, 'cron' | 'timezone'>): Cron {
  // croner loads on the first schedule, not at import (lazy-modules.ts).
  return new (loadCroner().Cron)(config.cron, { paused: true, ...(config.timezone === undefined ? {} : { timezone: config.timezone }) });
}

/** The first fire strictly after `after` (ms since epoch), or undefined when the pattern never fires again. */
export function nextFireAfter(cron: Cron, after: number): number | undefined {
  return cron.nextRun(new Date(after))?.getTime();
}

/**
 * The latest fire in `(after, now]`, or undefined when none was due. Pure. Searches growing
 * windows back from `now`, so a per-second pattern after a week of downtime costs a minute of
 * iterations, not a week.
 */
export function latestFireBetween(cron: Cron, after: number, now: number): number | undefined {
  if (now <= after) return undefined;
  for (const window of [...SEARCH_WINDOWS_MS, Number.POSITIVE_INFINITY]) {
    const from = Math.max(after, now - window);
    let latest: number | undefined;
    for (let t = nextFireAfter(cron, from); t !== undefined && t <= now; t = nextFireAfter(cron, t)) latest = t;
    if (latest !== undefined || from === after) return latest;
  }
  return undefined;
}

/**
 * Arms `clock` timers for the fires of one schedule, one at a time, calling `fire(fireAt)` at
 * each. `fireAt` is the scheduled time, not the time the timer ran, so the idempotency key is the
 * same in every process. Returns a function that stops the schedule.
 */
export function runSchedule(cron: Cron, clock: Clock, fire: (fireAt: number) => void): () => void {
  let stopped = false;
  let cancel: (() => void) | undefined;
  const arm = (after: number): void => {
    if (stopped) return;
    const next = nextFireAfter(cron, after);
    if (next === undefined) return;
    const wait = next - clock.now();
    if (wait > MAX_TIMER_MS) {
      cancel = clock.setTimer(() => arm(after), MAX_TIMER_MS);
      return;
    }
    cancel = clock.setTimer(() => {
      if (stopped) return;
      fire(next);
      // A late timer (a blocked event loop, a suspended laptop) skips the fires it slept through.
      arm(Math.max(next, clock.now()));
    }, wait);
  };
  arm(clock.now());
  return () => {
    stopped = true;
    cancel?.();
  };
}
