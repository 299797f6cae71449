/** Run usage totals `{ input_tokens, output_tokens, cost_usd, calls }`, summed from call records. */
import { addUsage, type UsageTotals } from './pricing.js';
import type { ModelCallRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';

/** The totals of `records` added to `start` (a recovered run's figure is rebuilt this way). */
export function sumUsage(start: Readonly<Record<string, Json>>, records: readonly ModelCallRecord[]): Json {
  const tally = new UsageTally(start);
  tally.add(records);
  return tally.totals();
}

/**
 * A run's usage totals, added to in place as its LLM records commit (one step after another, with
 * no objects made per commit); the JSON the run record carries is made when someone reads it.
 */
export class UsageTally {
  #input = 0;
  #output = 0;
  #cost = 0;
  #calls = 0;
  #json: Json | undefined;
  /** A run with no totals yet (none stored, no record added) has no `usage` at all. */
  #none: boolean;

  constructor(start: Json | undefined) {
    this.#json = start;
    this.#none = start === undefined;
    if (start === null || typeof start !== 'object' || Array.isArray(start)) return;
    const totals = addUsage(start as Partial<UsageTotals>, {});
    this.#input = totals.input_tokens;
    this.#output = totals.output_tokens;
    this.#cost = totals.cost_usd;
    this.#calls = Number(start.calls ?? 0);
  }

  /** Adds records' tokens and cost (a record without usage counts as a call and nothing else). */
  add(records: readonly ModelCallRecord[]): void {
    if (records.length === 0) return;
    for (const record of records) {
      const usage = record.usage as { input_tokens?: number; output_tokens?: number } | null | undefined;
      if (usage && typeof usage === 'object') {
        this.#input += usage.input_tokens ?? 0;
        this.#output += usage.output_tokens ?? 0;
        // Rounded to a nano-dollar, as addUsage does, so sums of many small floats stay readable.
        this.#cost = Math.round((this.#cost + (record.cost_usd ?? 0)) * 1e9) / 1e9;
      }
      this.#calls++;
    }
    this.#json = undefined;
    this.#none = false;
  }

  /** The totals as the run record stores them (the same object until more records are added), or undefined while there are none. */
  get json(): Json | undefined {
    return this.#none ? undefined : (this.#json ??= this.totals());
  }

  /** The totals as a new object, zeros included. */
  totals(): Json {
    return { input_tokens: this.#input, output_tokens: this.#output, cost_usd: this.#cost, calls: this.#calls };
  }
}
