/**
 * Retention: the engine option `retention` prunes ended runs older than a number of days per
 * status, on a timer of the engine's clock, in small batches off the hot path (one short storage
 * transaction per batch, the event loop free between batches). What it removed is counted in a
 * plain object (`engine.retentionStats()`), which metrics can fold in. Internal to the engine.
 */
import type { Clock } from '../kernel/clock.js';
import { TrellisError } from '../kernel/errors.js';
import type { Storage } from '../storage/storage.js';
import type { FinishedRunStatus } from './run-deletion.js';

const DAY_MS = 86_400_000;

/** The engine option `retention`: how long ended runs are kept, per status. A status not given is kept for ever. */
export interface RetentionOptions {
  /** Remove `completed` runs this many days after they ended (a number > 0; fractions allowed). */
  readonly completedDays?: number;
  /** Remove `failed` runs this many days after they ended. */
  readonly failedDays?: number;
  /** Remove `cancelled` runs this many days after they ended. */
  readonly cancelledDays?: number;
  /** How often to prune, on the engine's clock; the first pass runs one interval after `init()`. @default 3_600_000 (an hour) */
  readonly intervalMs?: number;
  /** Runs removed per storage transaction (their child runs go with them, not counted). @default 100 */
  readonly batchSize?: number;
}

/** Retention options validated and defaulted. */
export interface ResolvedRetention {
  /** Days to keep, by status; only the statuses given. */
  readonly days: ReadonlyMap<FinishedRunStatus, number>;
  readonly intervalMs: number;
  readonly batchSize: number;
}

/** What retention removed since the engine started (a plain object: copy it into metrics as it is). */
export interface RetentionStats {
  /** Whether retention is configured on this engine. */
  readonly enabled: boolean;
  /** Passes that ran to their end. */
  readonly passes: number;
  /** Runs removed (child runs removed with them not counted), by status. */
  readonly removed: { readonly completed: number; readonly failed: number; readonly cancelled: number };
  /** When the last pass ended, on the engine's clock (ms since epoch). */
  readonly lastPassAt?: number;
  /** The last pass that failed: its error's message. Cleared by the next pass that succeeds. */
  readonly lastError?: string;
}

/** Validates the `retention` engine option, naming the field that is wrong. */
export function resolveRetention(options: RetentionOptions | undefined): ResolvedRetention | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null) throw invalid('retention', 'an object', options);
  const days = new Map<FinishedRunStatus, number>();
  for (const status of ['completed', 'failed', 'cancelled'] as const) {
    const value = options[`${status}Days`];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw invalid(`retention.${status}Days`, 'a number of days > 0', value);
    days.set(status, value);
  }
  const intervalMs = options.intervalMs ?? 3_600_000;
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs <= 0) throw invalid('retention.intervalMs', 'a number of ms > 0', options.intervalMs);
  const batchSize = options.batchSize ?? 100;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw invalid('retention.batchSize', 'a whole number >= 1', options.batchSize);
  return { days, intervalMs, batchSize };
}

function invalid(option: string, expected: string, received: unknown): TrellisError {
  return new TrellisError('invalid_options', `Engine option "${option}" must be ${expected}, got ${JSON.stringify(received) ?? typeof received}`);
}

/** Prunes on a timer of `clock` once started, until stopped; counts what it removed. */
export class Retention {
  readonly #settings: ResolvedRetention | undefined;
  readonly #clock: Clock;
  readonly #stopped = new AbortController();
  #cancelTimer: (() => void) | undefined;
  #pass: Promise<void> | undefined;
  #stats: { passes: number; removed: Record<FinishedRunStatus, number>; lastPassAt?: number; lastError?: string } = {
    passes: 0,
    removed: { completed: 0, failed: 0, cancelled: 0 },
  };

  constructor(settings: ResolvedRetention | undefined, clock: Clock) {
    this.#settings = settings;
    this.#clock = clock;
  }

  /** Arms the timer (when retention is configured): a pass every `intervalMs`, the first one interval from now. */
  start(storage: Storage): void {
    const settings = this.#settings;
    if (!settings || settings.days.size === 0 || this.#stopped.signal.aborted || this.#cancelTimer) return;
    const arm = (): void => {
      this.#cancelTimer = this.#clock.setTimer(() => {
        this.#pass = this.prune(storage).finally(() => {
          this.#pass = undefined;
          if (!this.#stopped.signal.aborted) arm();
        });
      }, settings.intervalMs);
    };
    arm();
  }

  /**
   * One pass: for each configured status, removes the runs that ended more than its days ago, a
   * batch at a time, yielding to the event loop between batches. Never throws: a failed pass is
   * recorded in the stats and the next pass tries again.
   */
  async prune(storage: Storage): Promise<void> {
    const settings = this.#settings;
    if (!settings) return;
    try {
      for (const [status, days] of settings.days) {
        const filter = { completed_before: this.#clock.now() - days * DAY_MS, status: [status], limit: settings.batchSize };
        for (;;) {
          if (this.#stopped.signal.aborted) return;
          const picked = await storage.purgeRuns(filter);
          this.#stats.removed[status] += picked;
          if (picked < settings.batchSize) break;
          // Runs this process drives (their timers, their provider answers) must not wait for the whole pass.
          await new Promise((resolve) => setImmediate(resolve));
        }
      }
      this.#stats.passes++;
      delete this.#stats.lastError;
    } catch (error) {
      this.#stats.lastError = error instanceof Error ? error.message : String(error);
    }
    this.#stats.lastPassAt = this.#clock.now();
  }

  /** A copy of the counters. */
  stats(): RetentionStats {
    const { passes, removed, lastPassAt, lastError } = this.#stats;
    return {
      enabled: this.#settings !== undefined && this.#settings.days.size > 0,
      passes,
      removed: { ...removed },
      ...(lastPassAt === undefined ? {} : { lastPassAt }),
      ...(lastError === undefined ? {} : { lastError }),
    };
  }

  /** Stops the timer and ends a pass in flight after its current batch; resolves once it has (storage may close then). */
  async stop(): Promise<void> {
    this.#stopped.abort();
    this.#cancelTimer?.();
    await this.#pass;
  }
}
