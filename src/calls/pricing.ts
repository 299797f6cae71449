/**
 * Token prices and usage arithmetic. Prices are USD per million tokens, looked up by
 * `provider:model`; dated snapshots (`gpt-4o-2024-08-06`) match their family (`gpt-4o`).
 */
import type { ProviderUsage } from '../providers/provider.js';

/** USD per million input and output tokens. */
export interface ModelPrice {
  readonly input: number;
  readonly output: number;
}

/** Prices by `provider:model`; `provider:*` prices every model of a provider. */
export type PriceTable = Readonly<Record<string, ModelPrice>>;

/**
 * Built-in list prices (USD per million tokens, standard tier, as published in late 2025). Hosts
 * override or extend them with the engine option `prices`. Ollama runs locally and costs nothing.
 */
export const DEFAULT_PRICES: PriceTable = {
  'openai:gpt-4o': { input: 2.5, output: 10 },
  'openai:gpt-4o-mini': { input: 0.15, output: 0.6 },
  'openai:gpt-4.1': { input: 2, output: 8 },
  'openai:gpt-4.1-mini': { input: 0.4, output: 1.6 },
  'openai:gpt-4.1-nano': { input: 0.1, output: 0.4 },
  'openai:gpt-5': { input: 1.25, output: 10 },
  'openai:gpt-5-mini': { input: 0.25, output: 2 },
  'openai:gpt-5-nano': { input: 0.05, output: 0.4 },
  'openai:o4-mini': { input: 1.1, output: 4.4 },
  'anthropic:claude-opus-4-5': { input: 5, output: 25 },
  'anthropic:claude-sonnet-4-5': { input: 3, output: 15 },
  'anthropic:claude-sonnet-4': { input: 3, output: 15 },
  'anthropic:claude-haiku-4-5': { input: 1, output: 5 },
  'anthropic:claude-3-5-haiku': { input: 0.8, output: 4 },
  'ollama:*': { input: 0, output: 0 },
};

/** Token and cost totals, e.g. of one run. */
export interface UsageTotals {
  readonly input_tokens: number;
  readonly output_tokens: number;
  /** Sum of the priced calls' costs. */
  readonly cost_usd: number;
  /** Calls to models without a known price (their cost is not in `cost_usd`). */
  readonly unpriced_calls: number;
}

/** Totals of nothing. */
export const ZERO_USAGE: UsageTotals = Object.freeze({ input_tokens: 0, output_tokens: 0, cost_usd: 0, unpriced_calls: 0 });

/**
 * Adds two usage totals. Pure; missing fields count as zero, so a bare `{ input_tokens, output_tokens }`
 * (a provider's usage) can be added too.
 *
 * @example
 * const total = records.reduce((sum, r) => addUsage(sum, usageOfRecord(r)), ZERO_USAGE);
 */
export function addUsage(a: Partial<UsageTotals>, b: Partial<UsageTotals>): UsageTotals {
  return {
    input_tokens: (a.input_tokens ?? 0) + (b.input_tokens ?? 0),
    output_tokens: (a.output_tokens ?? 0) + (b.output_tokens ?? 0),
    // Rounded to a nano-dollar so sums of many small floats stay readable.
    cost_usd: Math.round(((a.cost_usd ?? 0) + (b.cost_usd ?? 0)) * 1e9) / 1e9,
    unpriced_calls: (a.unpriced_calls ?? 0) + (b.unpriced_calls ?? 0),
  };
}

/** The usage of one call record (`unpriced_calls: 1` when it has usage but no price). */
export function usageOfRecord(record: { readonly usage?: unknown; readonly cost_usd?: number }): UsageTotals {
  const usage = record.usage as Partial<ProviderUsage> | null | undefined;
  if (!usage || typeof usage !== 'object') return ZERO_USAGE;
  return {
    input_tokens: usage.input_tokens ?? 0,
    output_tokens: usage.output_tokens ?? 0,
    cost_usd: record.cost_usd ?? 0,
    unpriced_calls: record.cost_usd === undefined ? 1 : 0,
  };
}

/**
 * The price of `provider:model` in `table`: an exact entry, else the longest entry the model
 * name starts with followed by `-` (a dated snapshot), else `provider:*`; undefined when unknown.
 */
export function priceFor(providerModel: string, table: PriceTable): ModelPrice | undefined {
  const exact = table[providerModel];
  if (exact) return exact;
  let best: string | undefined;
  for (const key of Object.keys(table)) {
    if (providerModel.startsWith(`${key}-`) && (best === undefined || key.length > best.length)) best = key;
  }
  if (best !== undefined) return table[best];
  const colon = providerModel.indexOf(':');
  return colon > 0 ? table[`${providerModel.slice(0, colon)}:*`] : undefined;
}

/** USD cost of `usage` at `price`, rounded to a nano-dollar. */
export function costOf(usage: ProviderUsage, price: ModelPrice): number {
  return Math.round(((usage.input_tokens * price.input + usage.output_tokens * price.output) / 1e6) * 1e9) / 1e9;
}
