/** `engine.runCounts()`: runs by workflow and status, from storage, so the figures span every process and restart. */
import { TrellisError } from '../kernel/errors.js';
import type { RunCount, RunCountFilter, Storage } from '../storage/storage.js';

/** Options of `engine.runCounts()`. */
export interface RunCountOptions {
  /** Runs created at or after this time (a Date or ms since epoch). @default every run */
  readonly since?: Date | number;
  /** Runs created at or before this time. @default now and later */
  readonly until?: Date | number;
  /** Runs of this workflow only. */
  readonly workflowId?: string;
}

/** Counts runs by workflow and status in `storage`. Throws `invalid_options` for a time that is not one. */
export function countRuns(storage: Storage, options: RunCountOptions): Promise<RunCount[]> {
  const since = toMs('since', options.since);
  const until = toMs('until', options.until);
  const filter: RunCountFilter = {
    ...(since === undefined ? {} : { created_after: since }),
    ...(until === undefined ? {} : { created_before: until }),
    ...(options.workflowId === undefined ? {} : { workflow_id: options.workflowId }),
  };
  return storage.countRuns(filter);
}

function toMs(name: string, value: Date | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new TrellisError('invalid_options', `runCounts option "${name}" must be a Date or ms since epoch, got ${JSON.stringify(value)}`);
  return ms;
}
