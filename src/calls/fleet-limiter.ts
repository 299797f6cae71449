/**
 * Provider limits that hold across every engine sharing one storage (issue 20): ten workers with
 * `concurrency: 4` send at most 4 calls at once in all, not 40. A concurrency slot is a row held
 * under a lease (renewed while the call runs, so a killed process's slots free themselves when it
 * runs out) and requests and tokens per minute are token buckets kept as rows, each taken in one
 * atomic statement (see storage/fleet-limits.ts).
 *
 * Cost: one round trip per limit per call when there is room (slot, request, tokens), one to free
 * the slot and one to correct the token estimate. Calls of one process queue here in arrival order
 * and only the first in line asks the storage, so a backlog costs one poll at a time, not one per
 * waiting call; a slot freed in this process wakes the line at once, one freed elsewhere is seen
 * on the next poll (at most {@link MAX_POLL_MS}).
 */
import { untilAborted } from '../kernel/abortable.js';
import { sleep, type Clock } from '../kernel/clock.js';
import type { IdGenerator } from '../kernel/ids.js';
import type { Storage } from '../storage/storage.js';
import type { ProviderLimits } from './rate-limiter.js';

/** First wait before asking again for a slot the fleet holds; doubled up to {@link MAX_POLL_MS}. */
const MIN_POLL_MS = 5;
const MAX_POLL_MS = 50;

/** What a fleet limiter needs of its engine. */
export interface FleetLimitParts {
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** The shared storage (with the fleet-limit methods). */
  storage(): Promise<Storage>;
  /** How long a slot is held without renewal: a killed process's calls free theirs after this. */
  readonly leaseMs: number;
}

/** The limits of one provider, kept in the shared storage. */
export class FleetLimiter {
  readonly #name: string;
  readonly #limits: ProviderLimits;
  readonly #parts: FleetLimitParts;
  /** The line of this process's calls waiting for their limits: one asks the storage at a time. */
  #tail: Promise<void> = Promise.resolve();
  /** Cuts the head of the line's wait for a slot short (a slot was freed here). */
  #wake: (() => void) | undefined;
  #waiting = 0;
  #active = 0;

  constructor(name: string, limits: ProviderLimits, parts: FleetLimitParts) {
    this.#name = name;
    this.#limits = limits;
    this.#parts = parts;
  }

  /** Calls of this process waiting for a slot or for rate. */
  get queued(): number {
    return this.#waiting;
  }

  /** Calls of this process in flight. */
  get active(): number {
    return this.#active;
  }

  /** As {@link ProviderLimiter.run}: runs `fn` once the fleet has a slot, a request and `estimatedTokens` tokens for it. */
  async run<T>(estimatedTokens: number, signal: AbortSignal, fn: () => Promise<T>, usedTokens: (result: T) => number | undefined): Promise<T> {
    signal.throwIfAborted();
    const storage = await this.#parts.storage();
    const holder = this.#parts.ids('slot');
    this.#waiting++;
    let slot: { release(): Promise<void> } | undefined;
    let tokensTaken = false;
    const turn = this.#tail.then(async () => {
      try {
        signal.throwIfAborted();
        slot = await this.#slot(storage, holder, signal);
        await this.#take(storage, 'rpm', this.#limits.requestsPerMinute, 1, signal);
        await this.#take(storage, 'tpm', this.#limits.tokensPerMinute, estimatedTokens, signal);
        tokensTaken = true;
        // The step gave up while the storage answered: the slot goes back at once.
        signal.throwIfAborted();
      } catch (error) {
        await slot?.release();
        throw error;
      }
    });
    this.#tail = turn.then(noop, noop);
    try {
      // A call cancelled while others are ahead of it leaves the line at once; its turn then does nothing.
      await untilAborted(turn, signal);
    } catch (error) {
      throw signal.aborted ? signal.reason : error;
    } finally {
      this.#waiting--;
    }
    this.#active++;
    let used: number | undefined;
    try {
      const result = await fn();
      used = usedTokens(result);
      return result;
    } finally {
      this.#active--;
      await slot?.release();
      const correction = (used ?? estimatedTokens) - estimatedTokens;
      if (tokensTaken && this.#limits.tokensPerMinute !== undefined && correction !== 0) {
        // Best effort: a lost correction only leaves the estimate standing.
        await this.#bucket(storage, 'tpm', this.#limits.tokensPerMinute, correction, true).catch(noop);
      }
    }
  }

  /** Waits for a slot of the fleet's concurrency (none without that limit); resolves with its release. */
  async #slot(storage: Storage, holder: string, signal: AbortSignal): Promise<{ release(): Promise<void> } | undefined> {
    const limit = this.#limits.concurrency;
    if (limit === undefined) return undefined;
    const { clock, leaseMs } = this.#parts;
    const scope = `concurrency:${this.#name}`;
    const acquire = (): Promise<boolean> => storage.acquireLimitSlot!({ scope, holder, expires_at: clock.now() + leaseMs }, limit, clock.now());
    for (let pollMs = MIN_POLL_MS; !(await acquire()); pollMs = Math.min(pollMs * 2, MAX_POLL_MS)) await this.#pause(pollMs, signal);
    // Renewed a third of the lease at a time while the call runs: only a dead process's slot expires.
    let stopRenewing: (() => void) | undefined;
    let renewal: Promise<void> | undefined;
    const renew = (): void => {
      stopRenewing = clock.setTimer(() => {
        renewal = acquire().then(noop, noop);
        void renewal.finally(() => stopRenewing && renew());
      }, Math.max(1, Math.floor(leaseMs / 3)));
    };
    renew();
    return {
      release: async () => {
        stopRenewing?.();
        stopRenewing = undefined;
        // A renewal landing after the delete would hold the slot again, for nobody, for a whole lease.
        await renewal;
        // A release lost to a broken connection frees the slot when its lease runs out.
        await storage.releaseLimitSlot!(scope, holder).catch(noop);
        this.#wake?.();
      },
    };
  }

  /** Waits until the fleet's bucket of `kind` gives `amount` (nothing without that limit). */
  async #take(storage: Storage, kind: 'rpm' | 'tpm', perMinute: number | undefined, amount: number, signal: AbortSignal): Promise<void> {
    if (perMinute === undefined) return;
    for (;;) {
      signal.throwIfAborted();
      const waitMs = await this.#bucket(storage, kind, perMinute, amount, false);
      if (waitMs === 0) return;
      await sleep(this.#parts.clock, waitMs, signal);
    }
  }

  #bucket(storage: Storage, kind: 'rpm' | 'tpm', perMinute: number, amount: number, force: boolean): Promise<number> {
    return storage.takeLimitTokens!({ scope: `${kind}:${this.#name}`, perMinute }, amount, this.#parts.clock.now(), force);
  }

  /** Sleeps `ms`, or less when a slot is freed in this process; rejects when `signal` aborts. */
  #pause(ms: number, signal: AbortSignal): Promise<void> {
    const woken = new AbortController();
    this.#wake = () => woken.abort();
    const both = AbortSignal.any([signal, woken.signal]);
    return sleep(this.#parts.clock, ms, both).catch((error: unknown) => {
      if (signal.aborted) throw error;
    }).finally(() => {
      this.#wake = undefined;
    });
  }
}

function noop(): void {}

