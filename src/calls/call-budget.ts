/**
 * Run budgets (`settings.budget`): checked before every model call against the run's usage so far
 * plus an estimate of the call's input, so a run stops before it overspends rather than after.
 */
import { priceFor, type PriceTable, type UsageTotals } from './pricing.js';
import { TrellisError } from '../kernel/errors.js';

/** A run's budget, from the workflow's `settings.budget`. */
export interface RunBudget {
  /** Input + output tokens of every model call of the run. */
  readonly max_tokens?: number | undefined;
  /** USD of every priced model call of the run (unpriced models count as 0). */
  readonly max_cost_usd?: number | undefined;
  /** What happens when the next call would exceed it. @default 'fail' */
  readonly on_exceed?: 'fail' | 'pause' | undefined;
}

/** The run's usage so far, as the budget check reads it. */
export type UsageSoFar = Pick<UsageTotals, 'input_tokens' | 'output_tokens' | 'cost_usd'>;

/**
 * Throws `budget_exceeded` (not retryable) when the run's usage plus the next call's estimated
 * input tokens would exceed `budget`.
 */
export function checkBudget(budget: RunBudget, used: UsageSoFar, next: { readonly providerModel: string; readonly estimatedInputTokens: number; readonly nodeId: string }, prices: PriceTable): void {
  const tokens = used.input_tokens + used.output_tokens;
  if (budget.max_tokens !== undefined && tokens + next.estimatedInputTokens > budget.max_tokens) {
    throw exceeded(
      `Run token budget exceeded: node "${next.nodeId}" needs about ${next.estimatedInputTokens} input tokens but the run has used ${tokens} of max_tokens ${budget.max_tokens}`,
      next.nodeId,
      { used_tokens: tokens, max_tokens: budget.max_tokens, estimated_tokens: next.estimatedInputTokens },
    );
  }
  if (budget.max_cost_usd !== undefined) {
    const price = priceFor(next.providerModel, prices);
    const estimate = price ? (next.estimatedInputTokens * price.input) / 1e6 : 0;
    if (used.cost_usd + estimate > budget.max_cost_usd) {
      throw exceeded(
        `Run cost budget exceeded: node "${next.nodeId}" would bring the run from $${used.cost_usd.toFixed(6)} to about $${(used.cost_usd + estimate).toFixed(6)}, over max_cost_usd $${budget.max_cost_usd}`,
        next.nodeId,
        { used_cost_usd: used.cost_usd, max_cost_usd: budget.max_cost_usd, estimated_cost_usd: estimate },
      );
    }
  }
}

function exceeded(message: string, nodeId: string, details: Record<string, unknown>): TrellisError {
  return new TrellisError('budget_exceeded', message, { nodeId, retryable: false, details });
}
