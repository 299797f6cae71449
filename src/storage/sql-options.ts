/** Option checks shared by the SQL storages; no driver imports, so the public classes can validate eagerly. */
import { TrellisError } from '../core/errors.js';

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
