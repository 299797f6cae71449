/** Runs: a filterable, paginated list, refreshed every two seconds while visible. */
import { useState } from 'react';
import { api } from '../api';
import { ErrorNote, StatusBadge } from '../components/common';
import { formatCost, formatDuration, formatTime, triggerLabel } from '../format';
import { useInterval, useLoad } from '../hooks';
import { href } from '../route';
import type { Page, RunSummary } from '../types';

const PAGE_SIZE = 25;
const STATUSES = ['', 'pending', 'running', 'paused', 'completed', 'failed', 'cancelled'] as const;
/** The list has no push channel of its own (events are per run): it polls. */
const REFRESH_MS = 2000;

export function RunsView() {
  const [workflowId, setWorkflowId] = useState('');
  const [status, setStatus] = useState('');
  const [offset, setOffset] = useState(0);
  const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
  if (workflowId.trim()) query.set('workflow_id', workflowId.trim());
  if (status) query.set('status', status);
  const runs = useLoad(() => api.get<Page<RunSummary>>(`/workflow-executions?${query.toString()}`), [query.toString()]);
  useInterval(runs.reload, REFRESH_MS);

  return (
    <div>
      <h1>Runs</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter runs">
        <label>
          Workflow
          <input value={workflowId} onChange={(e) => (setWorkflowId(e.target.value), setOffset(0))} placeholder="any workflow" />
        </label>
        <label>
          Status
          <select value={status} onChange={(e) => (setStatus(e.target.value), setOffset(0))}>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'any status'}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorNote error={runs.error} />
      <div className="table-wrap">
        <table className="runs">
          <caption className="sr-only">Runs, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Workflow</th>
              <th scope="col">Version</th>
              <th scope="col">Status</th>
              <th scope="col">Started</th>
              <th scope="col">Duration</th>
              <th scope="col">Cost</th>
              <th scope="col">Trigger</th>
            </tr>
          </thead>
          <tbody>
            {runs.data?.data.map((run) => (
              <tr key={run.id} data-run-id={run.id}>
                <td>
                  <a href={href('runs', run.id)}>{run.id}</a>
                </td>
                <td>{run.workflow_id}</td>
                <td>{run.workflow_version}</td>
                <td>
                  <StatusBadge status={run.status} />
                </td>
                <td>{formatTime(run.started_at ?? run.created_at)}</td>
                <td>{formatDuration(run.duration_ms)}</td>
                <td>{formatCost(run.cost_usd)}</td>
                <td>{triggerLabel(run.trigger)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {runs.data && runs.data.data.length === 0 && <p>No runs match.</p>}
      <div className="pager">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE_SIZE))}>
          Previous page
        </button>
        <span>
          {offset + 1}–{offset + (runs.data?.data.length ?? 0)}
        </span>
        <button type="button" disabled={!runs.data?.pagination.has_more} onClick={() => setOffset(offset + PAGE_SIZE)}>
          Next page
        </button>
      </div>
    </div>
  );
}
