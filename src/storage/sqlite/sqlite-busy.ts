/**
 * Waiting for another process's write lock without blocking the event loop. better-sqlite3 is
 * synchronous: its `busy_timeout` sleeps inside the call, so a long one freezes the whole process
 * (timers, HTTP, every other run) for as long as the other writer holds the lock. The connection
 * gets a short busy_timeout ({@link BLOCKING_BUSY_MS}) and a write that still meets SQLITE_BUSY is
 * tried again after an asynchronous wait, with backoff, for up to {@link BUSY_WAIT_MS} in all.
 */

/** The connection's busy_timeout: the longest the event loop is blocked by one try. */
export const BLOCKING_BUSY_MS = 20;
/** How long, in all, a write waits for the lock before failing with SQLITE_BUSY (the old busy_timeout). */
export const BUSY_WAIT_MS = 5000;
const MAX_DELAY_MS = 50;

/** Whether `error`, or an error in its cause chain, is SQLite's SQLITE_BUSY (or one of its extended codes). */
export function isBusy(error: unknown): boolean {
  for (let e: unknown = error; e !== null && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_BUSY')) return true;
  }
  return false;
}

/**
 * Tries `fn` again while it fails with SQLITE_BUSY, waiting asynchronously before each try. For a
 * first try that already failed: it waits before trying. A busy statement or `BEGIN IMMEDIATE` did
 * nothing, so trying again is safe.
 */
export async function retryWhenBusy<T>(fn: () => T | Promise<T>): Promise<T> {
  const deadline = Date.now() + BUSY_WAIT_MS;
  let delay = 2;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, MAX_DELAY_MS);
    try {
      return await fn();
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) throw error;
    }
  }
}

/** `fn` now, and {@link retryWhenBusy} when it fails with SQLITE_BUSY. */
export async function whenNotBusy<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (!isBusy(error)) throw error;
    return retryWhenBusy(fn);
  }
}
