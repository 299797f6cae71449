/**
 * Records of the limits that hold across every engine sharing one storage (issue 20): concurrency
 * slots held under a lease, and rate buckets (requests or tokens per minute) kept as one row each.
 * The arithmetic of a bucket is here, once, so that the memory reference and the SQL statements
 * agree on it (the SQL storages write the same formulas in SQL).
 */

/** One concurrency slot of a scope (e.g. `concurrency:openai`), held by `holder` until `expires_at`. */
export interface LimitSlot {
  readonly scope: string;
  /** Who holds it: one id per call, so releasing is exact and a retried acquire renews its own slot. */
  readonly holder: string;
  /** When it frees itself if nobody releases or renews it (a killed process's slots do). */
  readonly expires_at: number;
}

/** A token bucket shared by the fleet: `perMinute` tokens a minute, holding at most `perMinute`. */
export interface RateBucket {
  /** e.g. `rpm:openai`, `tpm:openai`. */
  readonly scope: string;
  readonly perMinute: number;
}

/** A queued run's admission: who drives the runs admitted (none: a worker claims them). */
export interface AdmissionClaim {
  /** The admitting engine's instance id; undefined leaves the admitted runs unowned, for a worker to claim. */
  readonly owner?: string | undefined;
  readonly leaseUntil?: number | undefined;
}

/** A bucket's stored state. */
export interface BucketState {
  readonly tokens: number;
  readonly refilled_at: number;
}

/** The tokens a bucket holds at `now`: refilled continuously since `refilled_at` (never backwards), capped at a full bucket. */
export function refilledTokens(state: BucketState, perMinute: number, now: number): number {
  return Math.min(perMinute, state.tokens + (Math.max(0, now - state.refilled_at) * perMinute) / 60_000);
}

/** What a take needs to find in the bucket: the amount, but never more than a full bucket (a huge request still goes, alone). */
export function neededTokens(amount: number, perMinute: number): number {
  return Math.min(amount, perMinute);
}

/** How long until a bucket holding `available` has `need` tokens, in whole milliseconds (at least 1). */
export function refillWaitMs(available: number, need: number, perMinute: number): number {
  return Math.max(1, Math.ceil(((need - available) * 60_000) / perMinute));
}
