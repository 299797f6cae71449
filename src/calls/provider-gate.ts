/**
 * What stands between a step and one provider: the provider's circuit breaker, its limits, and
 * the counters `metrics()` reports. One per provider name, shared by every run of an engine.
 */
import type { Clock } from '../kernel/clock.js';
import { isTrellisError } from '../kernel/errors.js';
import { CircuitBreaker, type CircuitBreakerOptions, type CircuitState } from './circuit-breaker.js';
import type { CallLimiter } from './rate-limiter.js';
import type { ProviderResponse, ProviderUsage } from '../providers/provider.js';

/** One provider's counters and state. */
export interface ProviderMetrics {
  /** Requests sent to the provider. */
  readonly calls: number;
  /** Requests that failed. */
  readonly failures: number;
  /** Calls refused at once because the breaker was open. */
  readonly rejected: number;
  readonly circuit: CircuitState;
  /** Calls waiting for a concurrency slot or for rate. */
  readonly queued: number;
  /** Calls in flight. */
  readonly active: number;
  readonly input_tokens: number;
  readonly output_tokens: number;
  /** USD of the priced calls. */
  readonly cost_usd: number;
  /** Completed calls, tokens and cost by model (the part of `provider:model` after the colon). */
  readonly models: Readonly<Record<string, ModelUsage>>;
}

/** What one model of a provider used, from `metrics()`. */
export interface ModelUsage {
  /** Calls answered. */
  readonly calls: number;
  readonly input_tokens: number;
  readonly output_tokens: number;
  /** USD of the priced calls. */
  readonly cost_usd: number;
}

/** One provider's breaker, limiter and counters. */
export class ProviderGate {
  readonly #breaker: CircuitBreaker | undefined;
  readonly #limiter: CallLimiter | undefined;
  #calls = 0;
  #failures = 0;
  #rejected = 0;
  #active = 0;
  #input = 0;
  #output = 0;
  #cost = 0;
  readonly #models = new Map<string, { calls: number; input: number; output: number; cost: number }>();

  /** `limiter`: the provider's limits, kept in this process or across the fleet (none: calls go straight through). */
  constructor(name: string, clock: Clock, limiter: CallLimiter | undefined, breaker: Required<CircuitBreakerOptions> | undefined, onCircuit: (state: CircuitState) => void) {
    this.#breaker = breaker && new CircuitBreaker(name, clock, breaker, onCircuit);
    this.#limiter = limiter;
  }

  /**
   * Sends one request: fails fast with `circuit_open` while the breaker is open, waits for the
   * limits (leaving the line when `site.signal` aborts), then calls `send` and tells the breaker
   * how it went.
   */
  call(estimatedTokens: number, site: { readonly signal: AbortSignal; readonly nodeId: string }, send: () => Promise<ProviderResponse>): Promise<ProviderResponse> {
    try {
      this.#admit(site);
    } catch (error) {
      return Promise.reject(error as Error);
    }
    return this.#limiter ? this.#queued(this.#limiter, estimatedTokens, site, send) : this.#direct(site, send);
  }

  /**
   * For a caller that awaits the provider itself (no limits to wait for): admits a request past the
   * breaker and counts it as sent, or throws `circuit_open`. Exactly one of {@link succeeded} or
   * {@link failed} must follow.
   */
  enter(site: { readonly nodeId: string }): void {
    this.#admit(site);
    this.#calls++;
    this.#active++;
  }

  /** The request {@link enter} let through answered. */
  succeeded(): void {
    this.#active--;
    this.#breaker?.success();
  }

  /** The request {@link enter} let through failed with `error`. */
  failed(site: { readonly signal: AbortSignal }, error: unknown): void {
    this.#active--;
    this.#failures++;
    // A step that gave up (cancelled, timed out) says nothing about the provider.
    this.#breaker?.failure(site.signal.aborted ? 'cancelled' : isTrellisError(error) ? error.code : 'provider_error');
  }

  #admit(site: { readonly nodeId: string }): void {
    try {
      this.#breaker?.admit(site.nodeId);
    } catch (error) {
      this.#rejected++;
      throw error;
    }
  }

  async #queued(limiter: CallLimiter, estimatedTokens: number, site: { readonly signal: AbortSignal }, send: () => Promise<ProviderResponse>): Promise<ProviderResponse> {
    let sent = false;
    const measured = async (): Promise<ProviderResponse> => {
      sent = true;
      this.#calls++;
      this.#active++;
      try {
        return await send();
      } finally {
        this.#active--;
      }
    };
    try {
      const response = await limiter.run(estimatedTokens, site.signal, measured, (r) => r.usage.input_tokens + r.usage.output_tokens);
      this.#breaker?.success();
      return response;
    } catch (error) {
      if (sent) this.#failures++;
      // A step that gave up (cancelled, timed out) says nothing about the provider.
      this.#breaker?.failure(site.signal.aborted || !sent ? 'cancelled' : isTrellisError(error) ? error.code : 'provider_error');
      throw error;
    }
  }

  /** True when the provider has limits (whose queue needs the request's estimated tokens). */
  get limited(): boolean {
    return this.#limiter !== undefined;
  }

  /** No limits to wait for: one async frame per call instead of three. */
  async #direct(site: { readonly signal: AbortSignal }, send: () => Promise<ProviderResponse>): Promise<ProviderResponse> {
    this.#calls++;
    this.#active++;
    let response: ProviderResponse;
    try {
      response = await send();
    } catch (error) {
      this.failed(site, error);
      throw error;
    }
    this.succeeded();
    return response;
  }

  /** Adds a completed call's usage and cost, to the provider's totals and to `model`'s. */
  count(usage: ProviderUsage, cost: number | undefined, model: string): void {
    this.#input += usage.input_tokens;
    this.#output += usage.output_tokens;
    this.#cost += cost ?? 0;
    let used = this.#models.get(model);
    if (!used) this.#models.set(model, (used = { calls: 0, input: 0, output: 0, cost: 0 }));
    used.calls++;
    used.input += usage.input_tokens;
    used.output += usage.output_tokens;
    used.cost += cost ?? 0;
  }

  metrics(): ProviderMetrics {
    return {
      calls: this.#calls,
      failures: this.#failures,
      rejected: this.#rejected,
      circuit: this.#breaker?.state ?? 'closed',
      queued: this.#limiter?.queued ?? 0,
      active: this.#active,
      input_tokens: this.#input,
      output_tokens: this.#output,
      cost_usd: roundUsd(this.#cost),
      models: Object.fromEntries(
        [...this.#models].map(([model, used]) => [model, { calls: used.calls, input_tokens: used.input, output_tokens: used.output, cost_usd: roundUsd(used.cost) }]),
      ),
    };
  }
}

/** Sums of float prices drift in the last digits: a nano-dollar is finer than any price. */
function roundUsd(usd: number): number {
  return Math.round(usd * 1e9) / 1e9;
}
