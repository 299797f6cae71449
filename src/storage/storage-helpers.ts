/** Logic every Storage implementation shares: expectation checks, patches and filters. */
import type { RunFilter, RunRecord, WorkflowFilter, WorkflowRecord } from './records.js';
import type { RunExpectation, RunPatch } from './storage.js';

/** True when the run satisfies a compare-and-set expectation. */
export function matchesExpectation(run: RunRecord, expect: RunExpectation | undefined): boolean {
  if (!expect) return true;
  if (expect.status !== undefined) {
    const allowed = typeof expect.status === 'string' ? [expect.status] : expect.status;
    if (!allowed.includes(run.status)) return false;
  }
  if (expect.revision !== undefined && run.revision !== expect.revision) return false;
  if (expect.owner !== undefined && (run.owner ?? null) !== expect.owner) return false;
  return true;
}

/** Applies a patch; a status change bumps the revision. `undefined` values clear a field. */
export function applyRunPatch(run: RunRecord, patch: RunPatch): RunRecord {
  const next: Record<string, unknown> = { ...run };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) delete next[key];
    else next[key] = value;
  }
  if (patch.status !== undefined && patch.status !== run.status) next.revision = run.revision + 1;
  return next as unknown as RunRecord;
}

export function matchesRunFilter(run: RunRecord, filter: RunFilter): boolean {
  if (filter.workflow_id !== undefined && run.workflow_id !== filter.workflow_id) return false;
  if (filter.status !== undefined) {
    const allowed = typeof filter.status === 'string' ? [filter.status] : filter.status;
    if (!allowed.includes(run.status)) return false;
  }
  if (filter.created_after !== undefined && run.created_at < filter.created_after) return false;
  if (filter.created_before !== undefined && run.created_at > filter.created_before) return false;
  return true;
}

export function matchesWorkflowFilter(w: WorkflowRecord, filter: WorkflowFilter): boolean {
  if (filter.status !== undefined && w.status !== filter.status) return false;
  if (filter.tag !== undefined && !w.tags.includes(filter.tag)) return false;
  if (filter.name !== undefined && !w.name.toLowerCase().includes(filter.name.toLowerCase())) return false;
  return true;
}

export function paginate<T>(rows: T[], page: { readonly limit?: number; readonly offset?: number }): T[] {
  const offset = page.offset ?? 0;
  return page.limit === undefined ? rows.slice(offset) : rows.slice(offset, offset + page.limit);
}
