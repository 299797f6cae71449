/** A fork (or replay) beside its original, step by step: two columns, rows matched by step path. */
import { api, path } from '../api';
import { ErrorNote, StatusBadge } from '../components/common';
import { formatDuration, triggerLabel } from '../format';
import { useInterval, useLoad } from '../hooks';
import { href } from '../route';
import type { Execution, Json, TraceStep } from '../types';

const preview = (value: Json | undefined) => (value === undefined ? '—' : JSON.stringify(value).slice(0, 160));

export function CompareView({ left, right }: { left: string; right: string }) {
  const runs = useLoad(() => Promise.all([api.get<Execution>(path`/workflow-executions/${left}`), api.get<Execution>(path`/workflow-executions/${right}`)]), [left, right]);
  useInterval(runs.reload, 2000);
  const [a, b] = runs.data ?? [];
  const paths: string[] = [];
  for (const run of [a, b]) for (const s of run?.execution_trace ?? []) if (!paths.includes(s.path)) paths.push(s.path);
  const at = (run: Execution | undefined, p: string): TraceStep | undefined => run?.execution_trace.filter((s) => s.path === p).at(-1);
  return (
    <div>
      <h1>Compare runs</h1>
      <ErrorNote error={runs.error} />
      <div className="table-wrap">
        <table className="compare">
          <thead>
            <tr>
              <th scope="col">Step</th>
              <th scope="col">
                Original <a href={href('runs', left)}>{left}</a> {a && <StatusBadge status={a.status} />}
              </th>
              <th scope="col">
                {triggerLabel(b?.trigger) === 'replay' ? 'Replay' : 'Fork'} <a href={href('runs', right)}>{right}</a> {b && <StatusBadge status={b.status} />}
              </th>
            </tr>
          </thead>
          <tbody>
            {paths.map((p) => {
              const x = at(a, p);
              const y = at(b, p);
              const differs = JSON.stringify(x?.output_data) !== JSON.stringify(y?.output_data);
              return (
                <tr key={p} className={differs ? 'differs' : undefined}>
                  <th scope="row">{p}</th>
                  {[x, y].map((s, i) => (
                    <td key={i}>
                      {s ? (
                        <>
                          <StatusBadge status={s.status} /> {formatDuration(s.duration_ms)}
                          <div className="mono small">{preview(s.output_data)}</div>
                        </>
                      ) : (
                        '—'
                      )}
                    </td>
                  ))}
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}
