/**
 * A histogram of durations with fixed buckets kept as a plain array: observing is a short scan and
 * an increment, cheap enough for every step. Quantiles are estimated from the buckets the way
 * Prometheus' `histogram_quantile` does, so the figures `engine.metrics()` gives and a dashboard's agree.
 */

/** Upper bounds (ms) of the duration buckets: a 5 ms step up to a day-long wait for a person. */
export const DURATION_BUCKETS_MS: readonly number[] = [
  5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000,
];

/** A histogram as `engine.metrics()` reports it. */
export interface HistogramSnapshot {
  /** Upper bounds of the buckets, in ms, ascending; a last bucket without bound (+Inf) follows them. */
  readonly buckets: readonly number[];
  /** Observations per bucket (not cumulative), one more than `buckets`: the last counts those above every bound. */
  readonly counts: readonly number[];
  /** Number of observations. */
  readonly count: number;
  /** Sum of the observations, in ms. */
  readonly sum: number;
  /** Estimated median, in ms (0 without observations). */
  readonly p50: number;
  /** Estimated 95th percentile, in ms. */
  readonly p95: number;
  /** Estimated 99th percentile, in ms. */
  readonly p99: number;
}

/** Durations in fixed buckets. */
export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #count = 0;
  #sum = 0;

  constructor(bounds: readonly number[] = DURATION_BUCKETS_MS) {
    this.#bounds = bounds;
    this.#counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#count++;
    this.#sum += value;
  }

  snapshot(): HistogramSnapshot {
    const counts = [...this.#counts];
    return {
      buckets: this.#bounds,
      counts,
      count: this.#count,
      sum: this.#sum,
      p50: quantile(0.5, this.#bounds, counts, this.#count),
      p95: quantile(0.95, this.#bounds, counts, this.#count),
      p99: quantile(0.99, this.#bounds, counts, this.#count),
    };
  }
}

/**
 * The `q` quantile estimated from bucket counts: linear within the bucket it falls in (from 0 for
 * the first), the highest bound when it falls above every bound; as Prometheus' `histogram_quantile`.
 */
export function quantile(q: number, bounds: readonly number[], counts: readonly number[], total: number): number {
  if (total === 0) return 0;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const inBucket = counts[i]!;
    if (below + inBucket >= rank && inBucket > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1] ?? 0;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      return lower + (bounds[i]! - lower) * ((rank - below) / inBucket);
    }
    below += inBucket;
  }
  return bounds[bounds.length - 1] ?? 0;
}
