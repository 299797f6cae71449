/** Who changed what and when (`GET /audit`), newest first, filterable by subject and actor. */
import { useState } from 'react';
import { api } from '../api';
import { ErrorNote } from '../components/common';
import { formatTime } from '../format';
import { useLoad } from '../hooks';
import { href } from '../route';
import type { Json } from '../types';

interface AuditEvent {
  readonly id: string;
  readonly at: string;
  readonly actor: string;
  readonly action: string;
  readonly subject_type: 'workflow' | 'run';
  readonly subject_id: string;
  readonly before_version?: number;
  readonly after_version?: number;
  readonly details?: Json;
}

export function AuditView() {
  const [subject, setSubject] = useState('');
  const [actor, setActor] = useState('');
  const [cursor, setCursor] = useState<string>();
  const query = new URLSearchParams({ limit: '100' });
  if (subject.trim()) query.set('subject', subject.trim());
  if (actor.trim()) query.set('actor', actor.trim());
  if (cursor) query.set('cursor', cursor);
  const events = useLoad(() => api.get<{ data: AuditEvent[]; next_cursor: string | null }>(`/audit?${query.toString()}`), [query.toString()]);
  return (
    <div>
      <h1>Audit</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="Filter the audit trail">
        <label>
          Subject
          <input value={subject} onChange={(e) => (setSubject(e.target.value), setCursor(undefined))} placeholder="workflow or run id" />
        </label>
        <label>
          Actor
          <input value={actor} onChange={(e) => (setActor(e.target.value), setCursor(undefined))} placeholder="anyone" />
        </label>
      </form>
      <ErrorNote error={events.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Subject</th>
              <th scope="col">Versions</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {events.data?.data.map((e) => (
              <tr key={e.id}>
                <td>{formatTime(e.at)}</td>
                <td>{e.actor}</td>
                <td>{e.action}</td>
                <td>
                  <a href={e.subject_type === 'run' ? href('runs', e.subject_id) : href('workflows', e.subject_id)}>{e.subject_id}</a>
                </td>
                <td>{e.before_version !== undefined || e.after_version !== undefined ? `${e.before_version ?? '—'} → ${e.after_version ?? '—'}` : ''}</td>
                <td className="mono small">{e.details === undefined ? '' : JSON.stringify(e.details)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {events.data?.next_cursor && (
        <button type="button" onClick={() => setCursor(events.data?.next_cursor ?? undefined)}>
          Next page
        </button>
      )}
    </div>
  );
}
