/**
 * Every step waiting for a person, across runs: the rendered message and the data to review; approve
 * (optionally with edited data) or reject with a comment. The answer goes through
 * `POST /workflow-executions/:id/approvals/:path`, which returns once the run has moved on, or,
 * on a process that does not drive the run, once the answer is stored for the one that does: the
 * card then stays, marked as answered (for every reviewer: the list says `answered`), until that
 * process has applied it.
 */
import { useId, useState } from 'react';
import { api, path } from '../api';
import { ErrorNote, JsonBlock } from '../components/common';
import { formatTime } from '../format';
import { useInterval, useLoad } from '../hooks';
import { href } from '../route';
import type { Approval, Json, Page } from '../types';

export function ApprovalsView() {
  const approvals = useLoad(() => api.get<Page<Approval>>('/approvals?limit=100'), []);
  useInterval(approvals.reload, 3000);
  return (
    <div>
      <h1>Approvals</h1>
      <ErrorNote error={approvals.error} />
      {approvals.data?.data.length === 0 && <p>Nothing waits for an answer.</p>}
      <ul className="approvals">
        {approvals.data?.data.map((a) => (
          <li key={`${a.execution_id}/${a.path}`}>
            <ApprovalCard approval={a} onAnswered={approvals.reload} />
          </li>
        ))}
      </ul>
    </div>
  );
}

function ApprovalCard({ approval, onAnswered }: { approval: Approval; onAnswered: () => void }) {
  const ids = useId();
  const [comment, setComment] = useState('');
  const [edited, setEdited] = useState(approval.data === null || approval.data === undefined ? '' : JSON.stringify(approval.data, null, 2));
  const [editing, setEditing] = useState(false);
  const [busy, setBusy] = useState(false);
  // Answered here, or (as the list says) on another process: either way it waits for the run's driver.
  const [answeredHere, setAnswered] = useState(false);
  const answered = answeredHere || approval.answered === true;
  const [error, setError] = useState<Error>();
  const answer = async (approved: boolean) => {
    setBusy(true);
    setError(undefined);
    try {
      let data: Json | undefined;
      if (approved && editing && edited.trim()) data = JSON.parse(edited) as Json;
      await api.post(path`/workflow-executions/${approval.execution_id}/approvals/${approval.path}`, {
        approved,
        ...(data === undefined ? {} : { data }),
        ...(!approved && comment ? { reason: comment } : {}),
      });
      setAnswered(true);
      onAnswered();
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <article className="card approval" aria-label={`Approval ${approval.path} of run ${approval.execution_id}`} data-execution-id={approval.execution_id}>
      <h2>
        {approval.workflow_id} · {approval.path}
      </h2>
      <p className="meta">
        Run <a href={href('runs', approval.execution_id)}>{approval.execution_id}</a> · waiting since {formatTime(approval.since)}
        {approval.due_at && ` · due ${formatTime(approval.due_at)}`}
      </p>
      {approval.message && <p className="message">{approval.message}</p>}
      {approval.data !== null && approval.data !== undefined && <JsonBlock label="Data to review" value={approval.data} />}
      <label className="check">
        <input type="checkbox" checked={editing} onChange={(e) => setEditing(e.target.checked)} /> Edit the data before approving
      </label>
      {editing && (
        <>
          <label htmlFor={`${ids}-data`}>Data (JSON)</label>
          <textarea id={`${ids}-data`} rows={6} value={edited} onChange={(e) => setEdited(e.target.value)} />
        </>
      )}
      <label htmlFor={`${ids}-comment`}>Comment (sent with a rejection)</label>
      <input id={`${ids}-comment`} value={comment} onChange={(e) => setComment(e.target.value)} />
      <div className="buttons">
        <button type="button" disabled={busy || answered} onClick={() => void answer(true)}>
          Approve
        </button>
        <button type="button" className="danger" disabled={busy || answered} onClick={() => void answer(false)}>
          Reject
        </button>
      </div>
      {answered && <p className="meta">Answered; the run goes on where it is driven.</p>}
      <ErrorNote error={error} />
    </article>
  );
}
