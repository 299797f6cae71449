/**
 * One workflow: its versions side by side with a line diff of their definitions, rollback (the old
 * definition stored again as the newest version, through `PUT /workflows/:id`), and a form that starts
 * a run from the declared variables, optionally with breakpoints.
 */
import { useState } from 'react';
import { api, path } from '../api';
import { ErrorNote, Section, StatusBadge } from '../components/common';
import { diffLines } from '../diff';
import { formatTime } from '../format';
import { useLoad } from '../hooks';
import { href, navigate } from '../route';
import type { Workflow } from '../types';
import { RunForm } from '../components/RunForm';

export function WorkflowView({ id }: { id: string }) {
  const versions = useLoad(() => api.data<{ data: Workflow[] }>(path`/workflows/${id}/versions`), [id]);
  const list = versions.data?.data ?? [];
  const latest = list.at(-1);
  const [left, setLeft] = useState<number>();
  const [right, setRight] = useState<number>();
  const [message, setMessage] = useState<string>();
  const [error, setError] = useState<Error>();
  const a = list.find((v) => v.version === (left ?? list.at(-2)?.version ?? latest?.version));
  const b = list.find((v) => v.version === (right ?? latest?.version));

  const rollback = async (to: Workflow) => {
    setError(undefined);
    try {
      const saved = await api.put<Workflow>(path`/workflows/${id}`, to);
      setMessage(`Version ${to.version} stored again as version ${saved.version}.`);
      versions.reload();
    } catch (e) {
      setError(e instanceof Error ? e : new Error(String(e)));
    }
  };

  return (
    <div>
      <h1>
        Workflow <span className="mono">{id}</span> {latest && <StatusBadge status={latest.status} />}
      </h1>
      <p className="meta">
        <a href={`${href('runs')}`}>Runs</a> · {list.length} versions
      </p>
      <ErrorNote error={versions.error ?? error} />
      {message && <p role="status">{message}</p>}
      {latest && (
        <Section title="Run">
          <RunForm workflow={latest} onStarted={(executionId) => navigate(href('runs', executionId))} />
        </Section>
      )}
      <Section title="Versions">
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Name</th>
                <th scope="col">Status</th>
                <th scope="col">Stored</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {[...list].reverse().map((v) => (
                <tr key={v.version}>
                  <td>{v.version}</td>
                  <td>{v.name}</td>
                  <td>
                    <StatusBadge status={v.status} />
                  </td>
                  <td>{formatTime(v.created_at)}</td>
                  <td>
                    {v.version !== latest?.version && (
                      <button type="button" onClick={() => void rollback(v)}>
                        Roll back to v{v.version}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </Section>
      {a && b && (
        <Section
          title="Compare versions"
          actions={
            <span className="filters">
              <label>
                From
                <select value={a.version} onChange={(e) => setLeft(Number(e.target.value))}>
                  {list.map((v) => (
                    <option key={v.version} value={v.version}>
                      v{v.version}
                    </option>
                  ))}
                </select>
              </label>
              <label>
                To
                <select value={b.version} onChange={(e) => setRight(Number(e.target.value))}>
                  {list.map((v) => (
                    <option key={v.version} value={v.version}>
                      v{v.version}
                    </option>
                  ))}
                </select>
              </label>
            </span>
          }
        >
          <Diff before={a} after={b} />
        </Section>
      )}
    </div>
  );
}

/** What a reader compares: the definition without the fields every version changes. */
function comparable(w: Workflow): string {
  const { version: _version, created_at: _created, ...rest } = w;
  return JSON.stringify(rest, null, 2);
}

function Diff({ before, after }: { before: Workflow; after: Workflow }) {
  const lines = diffLines(comparable(before), comparable(after));
  const changed = lines.filter((l) => l.kind !== 'same').length;
  return (
    <>
      <p className="meta">{changed === 0 ? 'The definitions are the same.' : `${changed} lines differ.`}</p>
      <pre className="diff" tabIndex={0} aria-label={`Differences from v${before.version} to v${after.version}`}>
        {lines.map((l, i) => (
          <span key={i} className={`diff-${l.kind}`}>
            {l.kind === 'added' ? '+ ' : l.kind === 'removed' ? '- ' : '  '}
            {l.text}
            {'\n'}
          </span>
        ))}
      </pre>
    </>
  );
}
