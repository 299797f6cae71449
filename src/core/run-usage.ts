/** Run usage totals, summed from LLM execution records. */
import { addUsage, usageOfRecord, type UsageTotals } from '../providers/pricing.js';
import type { Json, LlmExecutionRecord } from '../storage/records.js';

/** Adds the usage of LLM execution records to run totals `{ input_tokens, output_tokens, cost_usd, calls }`. */
export function sumUsage(start: Readonly<Record<string, Json>>, records: readonly LlmExecutionRecord[]): Json {
  let total = addUsage(start as Partial<UsageTotals>, {});
  let calls = Number(start.calls ?? 0);
  for (const record of records) {
    total = addUsage(total, usageOfRecord(record));
    calls++;
  }
  return { input_tokens: total.input_tokens, output_tokens: total.output_tokens, cost_usd: total.cost_usd, calls };
}
