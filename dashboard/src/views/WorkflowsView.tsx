/** Workflows: the latest version of each. */
import { api } from '../api';
import { ErrorNote, StatusBadge } from '../components/common';
import { formatTime } from '../format';
import { useLoad } from '../hooks';
import { href } from '../route';
import type { Page, Workflow } from '../types';

export function WorkflowsView() {
  const workflows = useLoad(() => api.get<Page<Workflow>>('/workflows?limit=200'), []);
  return (
    <div>
      <h1>Workflows</h1>
      <ErrorNote error={workflows.error} />
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">Workflow</th>
              <th scope="col">Name</th>
              <th scope="col">Version</th>
              <th scope="col">Status</th>
              <th scope="col">Nodes</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {workflows.data?.data.map((w) => (
              <tr key={w.id}>
                <td>
                  <a href={href('workflows', w.id)}>{w.id}</a>
                </td>
                <td>{w.name}</td>
                <td>{w.version}</td>
                <td>
                  <StatusBadge status={w.status} />
                </td>
                <td>{w.definition.nodes.length}</td>
                <td>{formatTime(w.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {workflows.data?.data.length === 0 && <p>No workflows stored.</p>}
    </div>
  );
}
