/** Time, injectable so that tests can drive delays, timeouts and backoff without waiting. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /**
   * Calls `fn` after `ms`; returns a function that cancels the timer. Any `ms` must work, however
   * long: a 30-day approval timeout fires after 30 days, not at once (see {@link MAX_TIMEOUT_MS}).
   */
  setTimer(fn: () => void, ms: number): () => void;
}

/**
 * The longest delay `setTimeout` keeps (2^31 - 1 ms, about 24.8 days). Node clamps a longer one to
 * 1 ms, so a 30-day delay would fire at once: the system clock waits longer in chunks of this size.
 */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** The real clock. Timers are unref'd: a pending wait never keeps the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    // The common (short) timer is one setTimeout, as before; a long one re-arms until it is due.
    if (!(ms > MAX_TIMEOUT_MS)) {
      const handle = setTimeout(fn, Math.max(0, ms));
      handle.unref?.();
      return () => clearTimeout(handle);
    }
    return longTimer(fn, ms);
  },
};

/**
 * A timer longer than `setTimeout` can hold: chunks of at most {@link MAX_TIMEOUT_MS}, counted
 * down rather than measured against `Date.now()` so that a wall-clock change moves it no more than
 * it moves a short timer (both follow Node's monotonic timer clock).
 */
function longTimer(fn: () => void, ms: number): () => void {
  let remaining = ms;
  let handle: ReturnType<typeof setTimeout>;
  const arm = (): void => {
    const chunk = Math.min(remaining, MAX_TIMEOUT_MS);
    remaining -= chunk;
    handle = setTimeout(remaining > 0 ? arm : fn, chunk);
    handle.unref?.();
  };
  arm();
  return () => clearTimeout(handle);
}

/** Resolves after `ms` on `clock`, or rejects when `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = (): void => {
      cancel();
      reject(signal?.reason);
    };
    const cancel = clock.setTimer(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
