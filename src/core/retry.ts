/** The retry policy of one node attempt: whether to retry and after how long. Pure. */
import type { RetryPolicy } from './definition.js';
import type { TrellisError } from './errors.js';

/** The policy used when a node and its workflow set none: no retries. */
export const NO_RETRY: RetryPolicy = { max_attempts: 1 };

/** Whether a failed attempt number `attempt` (1-based) should be retried under `policy`. */
export function shouldRetry(policy: RetryPolicy, error: TrellisError, attempt: number): boolean {
  if (attempt >= policy.max_attempts) return false;
  if (error.code === 'cancelled') return false;
  const codes = policy.retry_on_errors;
  if (codes === undefined || codes.length === 0) return error.retryable;
  return codes.includes(error.code);
}

/**
 * Delay before attempt `attempt + 1`: `delay_ms * backoff_multiplier^(attempt-1)`, capped at
 * `max_delay_ms` (default 5 minutes), with up to 20% jitter unless `jitter: false`, and never
 * shorter than the `retry-after` the error carries. `random` is injected to keep this pure.
 */
export function retryDelay(policy: RetryPolicy, error: TrellisError, attempt: number, random: () => number): number {
  const base = policy.delay_ms ?? 1000;
  const raw = base * Math.pow(policy.backoff_multiplier ?? 1, attempt - 1);
  const capped = Math.min(raw, policy.max_delay_ms ?? 300_000);
  const jittered = policy.jitter === false ? capped : capped * (1 - 0.2 * random());
  return Math.max(Math.round(jittered), error.retryAfterMs ?? 0);
}
