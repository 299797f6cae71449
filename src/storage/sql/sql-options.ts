/**
 * Option checks shared by the SQL storages, and what the large-output option decides; no driver
 * imports, so the public classes can validate eagerly.
 */
import { createHash } from 'node:crypto';
import { TrellisError } from '../../kernel/errors.js';

/** Default size above which a step's `output_data` is stored once in `blobs`: 256 KiB of JSON. */
export const DEFAULT_LARGE_OUTPUT_BYTES = 256 * 1024;

/** Validates the `largeOutputBytes` option shared by the SQL storages. */
export function resolveLargeOutputBytes(value: number | undefined): number {
  if (value === undefined) return DEFAULT_LARGE_OUTPUT_BYTES;
  if (!Number.isInteger(value) || value < 0) {
    throw new TrellisError('invalid_options', `largeOutputBytes must be a non-negative integer, received ${String(value)}`);
  }
  return value;
}

/** A large output kept once in `blobs`, keyed by the sha256 of its JSON text. */
export interface BlobRow {
  readonly hash: string;
  readonly data: string;
}

/**
 * The blob an output's JSON text moves to when it is over `largeOutputBytes`; undefined when it
 * stays in its step. UTF-8 needs at least one byte per UTF-16 unit, so short texts skip the byte count.
 */
export function largeOutput(outputJson: string, largeOutputBytes: number): BlobRow | undefined {
  if (outputJson.length <= largeOutputBytes / 3 || Buffer.byteLength(outputJson) <= largeOutputBytes) return undefined;
  return { hash: createHash('sha256').update(outputJson).digest('hex'), data: outputJson };
}
