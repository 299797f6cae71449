/**
 * Per-provider limits shared by every run of one engine: a p-queue bounds concurrent calls, and
 * token buckets on the engine's clock bound requests and tokens per minute. Waiting calls leave
 * the line as soon as their step's signal aborts.
 */
import type PQueue from 'p-queue';
import { sleep, type Clock } from '../kernel/clock.js';
import { loadPQueue } from '../kernel/lazy-modules.js';

/** Limits of one provider. */
export interface ProviderLimits {
  /** Calls in flight at once. @default unlimited */
  readonly concurrency?: number;
  /** Calls started per minute (a token bucket: bursts up to this many, then an even pace). @default unlimited */
  readonly requestsPerMinute?: number;
  /**
   * Tokens (input + output) per minute. A call reserves its estimated input tokens (characters / 4)
   * before it starts; the actual usage corrects the bucket when it ends. @default unlimited
   */
  readonly tokensPerMinute?: number;
}

/**
 * A token bucket refilled continuously at `perMinute` per minute, holding at most `perMinute`.
 * Takers are served in arrival order; the balance may go negative when a call used more than it
 * reserved, which makes the next takers wait longer.
 */
export class TokenBucket {
  readonly #clock: Clock;
  readonly #capacity: number;
  #tokens: number;
  #at: number;
  #tail: Promise<void> = Promise.resolve();

  constructor(clock: Clock, perMinute: number) {
    this.#clock = clock;
    this.#capacity = perMinute;
    this.#tokens = perMinute;
    this.#at = clock.now();
  }

  /** Tokens available now. */
  get available(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Waits its turn, then until `amount` tokens (at most a full bucket) are there, and takes `amount`. */
  take(amount: number, signal: AbortSignal): Promise<void> {
    const turn = this.#tail.then(() => this.#acquire(amount, signal));
    this.#tail = turn.then(noop, noop);
    return untilAborted(turn, signal);
  }

  /** Gives back (negative) or takes more (positive) once the real amount is known. */
  adjust(delta: number): void {
    this.#refill();
    this.#tokens = Math.min(this.#capacity, this.#tokens - delta);
  }

  async #acquire(amount: number, signal: AbortSignal): Promise<void> {
    const need = Math.min(amount, this.#capacity);
    for (;;) {
      signal.throwIfAborted();
      this.#refill();
      if (this.#tokens >= need) {
        this.#tokens -= amount;
        return;
      }
      await sleep(this.#clock, Math.ceil(((need - this.#tokens) * 60_000) / this.#capacity), signal);
    }
  }

  #refill(): void {
    const now = this.#clock.now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#at) * this.#capacity) / 60_000);
    this.#at = now;
  }
}

/** What a provider's gate waits on: the limits of this process ({@link ProviderLimiter}) or of the fleet (FleetLimiter). */
export interface CallLimiter {
  /** Calls waiting for a slot or for rate. */
  readonly queued: number;
  /** Calls in flight. */
  readonly active: number;
  /**
   * Runs `fn` once a concurrency slot, a request and `estimatedTokens` tokens are available;
   * `usedTokens` reads the actual tokens from its result to correct the token bucket.
   * Rejects with the signal's reason when the signal aborts while waiting.
   */
  run<T>(estimatedTokens: number, signal: AbortSignal, fn: () => Promise<T>, usedTokens: (result: T) => number | undefined): Promise<T>;
}

/** The limits of one provider in this process, applied around each call. */
export class ProviderLimiter implements CallLimiter {
  readonly #queue: PQueue | undefined;
  readonly #requests: TokenBucket | undefined;
  readonly #tokens: TokenBucket | undefined;
  #waiting = 0;
  #active = 0;

  constructor(clock: Clock, limits: ProviderLimits) {
    // p-queue loads only for a provider with a concurrency limit, not at import (lazy-modules.ts).
    this.#queue = limits.concurrency === undefined ? undefined : new (loadPQueue())({ concurrency: limits.concurrency });
    this.#requests = limits.requestsPerMinute === undefined ? undefined : new TokenBucket(clock, limits.requestsPerMinute);
    this.#tokens = limits.tokensPerMinute === undefined ? undefined : new TokenBucket(clock, limits.tokensPerMinute);
  }

  /** Calls waiting for a slot or for rate. */
  get queued(): number {
    return this.#waiting;
  }

  /** Calls in flight. */
  get active(): number {
    return this.#active;
  }

  /**
   * Runs `fn` once a concurrency slot, a request and `estimatedTokens` tokens are available;
   * `usedTokens` reads the actual tokens from its result to correct the token bucket.
   * Rejects with the signal's reason when the signal aborts while waiting.
   */
  async run<T>(estimatedTokens: number, signal: AbortSignal, fn: () => Promise<T>, usedTokens: (result: T) => number | undefined): Promise<T> {
    signal.throwIfAborted();
    this.#waiting++;
    let started = false;
    const task = async (): Promise<T> => {
      try {
        // Rate is taken inside the slot so that it counts calls as they start, in queue order.
        await this.#requests?.take(1, signal);
        await this.#tokens?.take(estimatedTokens, signal);
      } finally {
        this.#waiting--;
        started = true;
      }
      this.#active++;
      let used: number | undefined;
      try {
        const result = await fn();
        used = usedTokens(result);
        return result;
      } finally {
        this.#active--;
        this.#tokens?.adjust((used ?? estimatedTokens) - estimatedTokens);
      }
    };
    try {
      return this.#queue ? await this.#queue.add(task, { signal }) : await task();
    } catch (error) {
      if (!started) this.#waiting--;
      throw signal.aborted ? signal.reason : error;
    }
  }
}

function noop(): void {}

/** `promise`, or the signal's reason as soon as it aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}
