/**
 * A workflow version is written once: what every storage's `saveWorkflow` checks when the
 * (id, version) pair is already taken, and the conflict it throws then.
 */
import { TrellisError, isTrellisError } from '../kernel/errors.js';
import type { WorkflowRecord } from './records.js';

/**
 * The `conflict` thrown when a version is already taken by a different definition (or by a
 * deleted one). `details.highest` is the highest version ever written under the id, deleted ones
 * included, so a writer that lost the race knows where to try next.
 */
export function versionTaken(id: string, version: number, highest: number): TrellisError {
  return new TrellisError('conflict', `Workflow "${id}" version ${version} is already stored with another definition; versions never change`, {
    details: { id, version, highest, reason: 'version_taken' },
  });
}

/** The highest version a {@link versionTaken} conflict reports, or undefined for any other error. */
export function takenUpTo(error: unknown): number | undefined {
  if (!isTrellisError(error) || error.code !== 'conflict' || error.details?.['reason'] !== 'version_taken') return undefined;
  const highest = error.details['highest'];
  return typeof highest === 'number' ? highest : undefined;
}

/**
 * True when `record` writes `existing` again: the same content (name, status, tags, definition;
 * `created_at` aside) of a version that is not deleted. Key order is ignored: PostgreSQL's jsonb
 * hands objects back with their keys reordered.
 */
export function sameVersion(existing: WorkflowRecord, record: WorkflowRecord): boolean {
  return (
    existing.deleted !== true &&
    existing.name === record.name &&
    existing.status === record.status &&
    jsonEqual(existing.tags, record.tags) &&
    jsonEqual(existing.definition, record.definition)
  );
}

/** Whether two JSON values are equal, object key order aside (jsonb reorders keys). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((item, i) => jsonEqual(item, other[i]));
  }
  // An absent key and an undefined one are the same JSON.
  const left = Object.entries(a).filter(([, v]) => v !== undefined);
  const right = b as Record<string, unknown>;
  return left.length === Object.values(right).filter((v) => v !== undefined).length && left.every(([k, v]) => jsonEqual(v, right[k]));
}
