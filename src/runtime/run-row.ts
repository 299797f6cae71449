/**
 * A run's row as the process driving it holds it: the record (mirroring what is committed), the
 * usage totals of its calls, and the promise of its end. Internal to the runner.
 */
import type { ModelCallRecord, RunRecord } from '../storage/records.js';
import type { RunPatch } from '../storage/storage.js';
import { UsageTally } from '../calls/run-usage.js';
import { applyRunPatch } from '../storage/storage-helpers.js';
import type { CommitBatch } from './commit-batch.js';

/** The record, usage totals and end of one run, as its controller changes them. */
export class RunRow {
  #record: RunRecord;
  /** The run's usage totals, kept apart from the record (see `withUsage`). */
  readonly #usage: UsageTally;
  readonly #batch: CommitBatch;
  /** Resolves with the final record when the run ends; rejects when it is abandoned. */
  readonly done: Promise<RunRecord>;
  #resolve!: (run: RunRecord) => void;
  #reject!: (error: unknown) => void;

  constructor(run: RunRecord, batch: CommitBatch) {
    this.#record = run;
    this.#usage = new UsageTally(run.usage);
    this.#batch = batch;
    this.done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.done.catch(() => undefined);
  }

  /** The record as last patched; its usage totals may be behind (see `withUsage`). */
  get record(): RunRecord {
    return this.#record;
  }

  /** The record with the usage totals so far. */
  get withUsage(): RunRecord {
    // Usage totals change with every LLM step; they join the record only when someone reads it.
    const usage = this.#usage.json;
    if (usage !== this.#record.usage) this.#record = applyRunPatch(this.#record, { usage });
    return this.#record;
  }

  /** Changes the row, in the next commit and in this record. */
  patch(patch: RunPatch): void {
    this.#batch.patch(patch);
    // The same explicit builder the storages use: this record mirrors the committed row.
    this.#record = applyRunPatch(this.#record, patch);
  }

  /**
   * The commit's last word on the run patch, given the call records it carries: usage totals ride
   * along when the row is written anyway (and always at the end), so an ordinary step costs no
   * run-row write; recovery recomputes them from the call records.
   */
  prepare(patch: RunPatch | undefined, calls: readonly ModelCallRecord[]): RunPatch | undefined {
    this.#usage.add(calls);
    const usage = this.#usage.json;
    return patch !== undefined && usage !== undefined ? Object.assign({}, patch, { usage }) : patch;
  }

  /** The run ended and its final state is committed. */
  resolve(): void {
    this.#resolve(this.withUsage);
  }

  /** The run is no longer driven here (a write failed). */
  reject(error: unknown): void {
    this.#reject(error);
  }
}
