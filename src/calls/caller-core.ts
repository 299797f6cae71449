/**
 * What every model call of one caller shares: the options, a gate per provider (limits and
 * breaker), and `provider:model` strings parsed and priced once.
 */
import type { ProviderResponse } from '../providers/provider.js';
import { costOf, DEFAULT_PRICES, priceFor, type PriceTable } from './pricing.js';
import type { CircuitBreakerOptions } from './circuit-breaker.js';
import { ProviderGate } from './provider-gate.js';
import { ProviderLimiter } from './rate-limiter.js';
import { FleetLimiter } from './fleet-limiter.js';
import { parseProviderModel } from '../definition/definition.js';
import type { ProviderError, TrellisError } from '../kernel/errors.js';
import type { CallSite, ModelCallerOptions, ModelMetrics } from './call-types.js';
import { callRecord, type Sent } from './call-records.js';
import type { ModelCallRecord } from '../storage/records.js';
import { callError } from './call-request.js';

const DEFAULT_BREAKER: Required<CircuitBreakerOptions> = { failureThreshold: 5, cooldownMs: 30_000 };

/** The state one {@link ModelCaller} shares between its fast path and its general path. */
export class CallerCore {
  readonly options: ModelCallerOptions;
  readonly prices: PriceTable;
  readonly #gates = new Map<string, ProviderGate>();
  readonly #parsedModels = new Map<string, { provider: string; model: string } | undefined>();
  readonly #pricesByModel = new Map<string, ReturnType<typeof priceFor>>();

  constructor(options: ModelCallerOptions) {
    this.options = options;
    this.prices = options.prices ?? DEFAULT_PRICES;
  }

  /** Counters and breaker state of every configured provider. */
  metrics(): ModelMetrics {
    for (const name of this.options.providers.keys()) this.gate(name);
    return { providers: Object.fromEntries([...this.#gates].map(([name, gate]) => [name, gate.metrics()])) };
  }

  /** Records a request that reached the provider and failed; returns the error to throw. */
  failed(sent: Sent, site: CallSite, error: unknown): ProviderError | TrellisError {
    site.record(this.failedRecord(sent, site, error));
    return callError(error, providerOf(sent));
  }

  /** The record of a request that reached the provider and failed with `error`. */
  failedRecord(sent: Sent, site: CallSite, error: unknown): ModelCallRecord {
    const failure = callError(error, providerOf(sent));
    return callRecord(sent, site, 'failed', this.options.clock.now(), { error: { code: failure.code, message: failure.message } });
  }

  /** USD of a response, or undefined when the model has no known price (priced once per model). */
  costOf(providerModel: string, response: ProviderResponse): number | undefined {
    let price = this.#pricesByModel.get(providerModel);
    if (price === undefined && !this.#pricesByModel.has(providerModel)) {
      price = priceFor(providerModel, this.prices);
      this.#pricesByModel.set(providerModel, price);
    }
    return price ? costOf(response.usage, price) : undefined;
  }

  /** `provider:model` split once per distinct string (it is asked for on every call). */
  parse(providerModel: string): { provider: string; model: string } | undefined {
    let parsed = this.#parsedModels.get(providerModel);
    if (parsed === undefined && !this.#parsedModels.has(providerModel)) {
      parsed = parseProviderModel(providerModel);
      this.#parsedModels.set(providerModel, parsed);
    }
    return parsed;
  }

  /** The gate of a provider (limits and breaker), made on first use. */
  gate(name: string): ProviderGate {
    let gate = this.#gates.get(name);
    if (!gate) {
      const { clock, events } = this.options;
      const breaker = this.options.circuitBreaker ?? DEFAULT_BREAKER;
      const limits = this.options.limits?.get(name);
      const { fleetLimits } = this.options;
      const limiter = limits && (fleetLimits ? new FleetLimiter(name, limits, fleetLimits) : new ProviderLimiter(clock, limits));
      gate = new ProviderGate(name, clock, limiter, breaker === false ? undefined : breaker, (state) =>
        events?.publish('provider:circuit', { provider: name, state, timestamp: clock.now() }),
      );
      this.#gates.set(name, gate);
    }
    return gate;
  }
}

/** The provider part of a call's `provider:model`. */
function providerOf(sent: Sent): string {
  const colon = sent.providerModel.indexOf(':');
  return colon < 0 ? sent.providerModel : sent.providerModel.slice(0, colon);
}
