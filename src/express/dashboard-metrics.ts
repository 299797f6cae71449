/**
 * The dashboard's metrics view computed from stored runs: per workflow and time bucket, how many
 * runs ended and how (success rate), the 95th percentile of their duration and their cost. Pure:
 * the route reads the runs, this folds them.
 */
import type { RunRecord } from '../storage/records.js';

/** One workflow's figures over one bucket of time. */
export interface MetricsBucket {
  readonly workflow_id: string;
  /** Start of the bucket, ISO 8601. */
  readonly start: string;
  /** Runs created in the bucket. */
  readonly runs: number;
  readonly completed: number;
  readonly failed: number;
  readonly cancelled: number;
  /** Completed over ended (completed, failed, cancelled); null when none ended. */
  readonly success_rate: number | null;
  /** 95th percentile (nearest rank) of the ended runs' duration, ms; null when none ended. */
  readonly p95_duration_ms: number | null;
  /** Sum of the runs' model cost, USD. */
  readonly cost_usd: number;
}

/** The cost of a run from its `usage` (`{ cost_usd }`), 0 when it called no model. */
export function runCost(run: Pick<RunRecord, 'usage'>): number {
  const usage = run.usage as { cost_usd?: unknown } | undefined;
  return typeof usage?.cost_usd === 'number' && Number.isFinite(usage.cost_usd) ? usage.cost_usd : 0;
}

/** The nearest-rank percentile `p` (0-100) of `values`; null when empty. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

interface Accumulator {
  runs: number;
  completed: number;
  failed: number;
  cancelled: number;
  durations: number[];
  cost: number;
}

/**
 * Buckets of `bucketMs` from `since` (runs created before it are left out), per workflow, sorted
 * by workflow then time. Buckets with no run are left out: a chart draws a gap, not a zero rate.
 */
export function metricsBuckets(runs: readonly RunRecord[], since: number, bucketMs: number): MetricsBucket[] {
  const groups = new Map<string, Map<number, Accumulator>>();
  for (const run of runs) {
    if (run.created_at < since) continue;
    const start = since + Math.floor((run.created_at - since) / bucketMs) * bucketMs;
    let byTime = groups.get(run.workflow_id);
    if (!byTime) groups.set(run.workflow_id, (byTime = new Map()));
    let acc = byTime.get(start);
    if (!acc) byTime.set(start, (acc = { runs: 0, completed: 0, failed: 0, cancelled: 0, durations: [], cost: 0 }));
    acc.runs++;
    acc.cost += runCost(run);
    if (run.status === 'completed' || run.status === 'failed' || run.status === 'cancelled') {
      acc[run.status]++;
      if (run.started_at !== undefined && run.completed_at !== undefined) acc.durations.push(run.completed_at - run.started_at);
    }
  }
  const out: MetricsBucket[] = [];
  for (const workflowId of [...groups.keys()].sort()) {
    const byTime = groups.get(workflowId)!;
    for (const start of [...byTime.keys()].sort((a, b) => a - b)) {
      const acc = byTime.get(start)!;
      const ended = acc.completed + acc.failed + acc.cancelled;
      out.push({
        workflow_id: workflowId,
        start: new Date(start).toISOString(),
        runs: acc.runs,
        completed: acc.completed,
        failed: acc.failed,
        cancelled: acc.cancelled,
        success_rate: ended === 0 ? null : acc.completed / ended,
        p95_duration_ms: percentile(acc.durations, 95),
        cost_usd: Math.round(acc.cost * 1e6) / 1e6,
      });
    }
  }
  return out;
}
