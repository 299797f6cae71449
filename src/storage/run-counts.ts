/** Counting runs by workflow and status (`Storage.countRuns`), for the memory storage and the order every storage returns. */
import type { RunRecord, RunStatus } from './records.js';
import type { RunCount, RunCountFilter } from './storage.js';

/** Whether `run` is counted under `filter`. */
export function matchesRunCountFilter(run: RunRecord, filter: RunCountFilter): boolean {
  return (
    (filter.workflow_id === undefined || run.workflow_id === filter.workflow_id) &&
    (filter.created_after === undefined || run.created_at >= filter.created_after) &&
    (filter.created_before === undefined || run.created_at <= filter.created_before)
  );
}

/** Counts `runs` by workflow and status, in the order of {@link compareRunCounts}. */
export function countRunRecords(runs: Iterable<RunRecord>, filter: RunCountFilter = {}): RunCount[] {
  const counts = new Map<string, { workflow_id: string; status: RunStatus; count: number }>();
  for (const run of runs) {
    if (!matchesRunCountFilter(run, filter)) continue;
    const key = `${run.status}\u0000${run.workflow_id}`;
    const count = counts.get(key);
    if (count) count.count++;
    else counts.set(key, { workflow_id: run.workflow_id, status: run.status, count: 1 });
  }
  return [...counts.values()].sort(compareRunCounts);
}

/** Workflow id, then status, by code unit (as the SQL storages' `C` collation orders them). */
export function compareRunCounts(a: RunCount, b: RunCount): number {
  if (a.workflow_id !== b.workflow_id) return a.workflow_id < b.workflow_id ? -1 : 1;
  return a.status < b.status ? -1 : a.status > b.status ? 1 : 0;
}
