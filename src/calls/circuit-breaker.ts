/**
 * A circuit breaker for one provider: after `failureThreshold` consecutive failures with a
 * provider-health code it opens and calls fail fast; after `cooldownMs` it half-opens and lets one
 * probe through; the probe's success closes it, its failure opens it again. Time comes from the
 * engine's clock and transitions happen when the breaker is consulted, so no timer is left behind.
 */
import type { Clock } from '../kernel/clock.js';
import { TrellisError, type TrellisErrorCode } from '../kernel/errors.js';

/** State of a circuit breaker. */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** Settings of the per-provider circuit breakers. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. @default 5 */
  readonly failureThreshold?: number;
  /** How long the circuit stays open before one probe call is let through. @default 30000 */
  readonly cooldownMs?: number;
}

/** Failures that say something about the provider's health (not about the request). */
const HEALTH_CODES: ReadonlySet<TrellisErrorCode> = new Set<TrellisErrorCode>(['rate_limit', 'timeout', 'provider_5xx', 'network']);

/** One provider's breaker. Internal to the model caller; its state is public through `metrics()`. */
export class CircuitBreaker {
  readonly #provider: string;
  readonly #clock: Clock;
  readonly #threshold: number;
  readonly #cooldownMs: number;
  readonly #onChange: (state: CircuitState) => void;
  #state: CircuitState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;

  constructor(provider: string, clock: Clock, options: Required<CircuitBreakerOptions>, onChange: (state: CircuitState) => void) {
    this.#provider = provider;
    this.#clock = clock;
    this.#threshold = options.failureThreshold;
    this.#cooldownMs = options.cooldownMs;
    this.#onChange = onChange;
  }

  /** The current state (an open breaker whose cool-down is over reads as `half_open`). */
  get state(): CircuitState {
    if (this.#state === 'open' && this.#clock.now() - this.#openedAt >= this.#cooldownMs) this.#set('half_open');
    return this.#state;
  }

  /**
   * Admits a call or throws `circuit_open` (retryable, with `retryAfterMs`). While half-open only
   * one probe is admitted at a time. Every admitted call must end in `success()` or `failure()`.
   */
  admit(nodeId?: string): void {
    const state = this.state;
    if (state === 'closed') return;
    if (state === 'half_open' && !this.#probing) {
      this.#probing = true;
      return;
    }
    const wait = state === 'open' ? Math.max(0, this.#openedAt + this.#cooldownMs - this.#clock.now()) : this.#cooldownMs;
    throw new TrellisError('circuit_open', `Circuit breaker for provider "${this.#provider}" is ${state} after ${this.#failures} consecutive failures; failing fast`, {
      provider: this.#provider,
      retryable: true,
      retryAfterMs: wait,
      ...(nodeId === undefined ? {} : { nodeId }),
    });
  }

  /** The admitted call succeeded (or failed for a reason that says nothing about the provider). */
  success(): void {
    this.#failures = 0;
    this.#probing = false;
    if (this.#state !== 'closed') this.#set('closed');
  }

  /** The admitted call failed with `code`. */
  failure(code: TrellisErrorCode): void {
    if (code === 'cancelled') {
      // We stopped waiting: that proves nothing either way.
      this.#probing = false;
      return;
    }
    if (!HEALTH_CODES.has(code)) {
      // The provider answered (bad request, auth...): it is up, which ends a failure streak.
      this.success();
      return;
    }
    this.#failures++;
    this.#probing = false;
    if (this.#state === 'half_open' || (this.#state === 'closed' && this.#failures >= this.#threshold)) {
      this.#openedAt = this.#clock.now();
      this.#set('open');
    }
  }

  #set(state: CircuitState): void {
    this.#state = state;
    this.#onChange(state);
  }
}
