/** Failed, poison and stuck runs (`GET /dead-letters`): retry one (a new run) or discard it from the list. */
import { useState } from 'react';
import { api, path } from '../api';
import { ErrorNote, StatusBadge } from '../components/common';
import { formatTime } from '../format';
import { useLoad } from '../hooks';
import { href, navigate } from '../route';

interface DeadLetter {
  readonly execution_id: string;
  readonly workflow_id: string;
  readonly workflow_version: number;
  readonly reason: string;
  readonly status: string;
  readonly error_message?: string;
  readonly step?: { readonly path: string };
  readonly created_at: number;
}

export function DeadLettersView() {
  const [cursor, setCursor] = useState<string>();
  const letters = useLoad(() => api.get<{ data: DeadLetter[]; next_cursor: string | null }>(`/dead-letters?limit=50${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`), [cursor]);
  const [error, setError] = useState<Error>();
  const act = async (what: () => Promise<unknown>) => {
    setError(undefined);
    try {
      await what();
      letters.reload();
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    }
  };
  return (
    <div>
      <h1>Dead letters</h1>
      <ErrorNote error={letters.error ?? error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Run</th>
              <th scope="col">Workflow</th>
              <th scope="col">Reason</th>
              <th scope="col">Status</th>
              <th scope="col">Step</th>
              <th scope="col">Error</th>
              <th scope="col">Created</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {letters.data?.data.map((d) => (
              <tr key={d.execution_id}>
                <td>
                  <a href={href('runs', d.execution_id)}>{d.execution_id}</a>
                </td>
                <td>
                  {d.workflow_id} v{d.workflow_version}
                </td>
                <td>{d.reason}</td>
                <td>
                  <StatusBadge status={d.status} />
                </td>
                <td>{d.step?.path ?? '—'}</td>
                <td>{d.error_message ?? '—'}</td>
                <td>{formatTime(new Date(d.created_at).toISOString())}</td>
                <td className="buttons">
                  <button type="button" onClick={() => void act(async () => navigate(href('runs', (await api.post<{ execution_id: string }>(path`/workflow-executions/${d.execution_id}/retry`)).execution_id)))}>
                    Retry
                  </button>
                  <button type="button" className="danger" onClick={() => void act(() => api.post(path`/dead-letters/${d.execution_id}/discard`, { reason: 'discarded from the dashboard' }))}>
                    Discard
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {letters.data?.data.length === 0 && <p>No dead letters.</p>}
      {letters.data?.next_cursor && (
        <button type="button" onClick={() => setCursor(letters.data?.next_cursor ?? undefined)}>
          Next page
        </button>
      )}
    </div>
  );
}
