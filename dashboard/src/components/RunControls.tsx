/**
 * Cancel, pause, resume, step, retry and fork, through the REST routes (which check each one). A run
 * paused at a breakpoint shows which step it waits before, and Step runs exactly that one.
 */
import { useState } from 'react';
import { api, path } from '../api';
import { navigate, href } from '../route';
import type { Execution, WorkflowNode } from '../types';

export function RunControls({ execution, nodes, onChanged }: { execution: Execution; nodes: readonly WorkflowNode[]; onChanged: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();
  const [forkFrom, setForkFrom] = useState(nodes[0]?.id ?? '');
  // A fork may try a change: a new template or model for the node it starts from (engine.fork's overrides).
  const [forkTemplate, setForkTemplate] = useState('');
  const [forkModel, setForkModel] = useState('');
  const [forkPause, setForkPause] = useState(false);
  const id = execution.id;
  const act = async (what: () => Promise<unknown>) => {
    setBusy(true);
    setError(undefined);
    try {
      await what();
      onChanged();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  const { status } = execution;
  const active = status === 'running' || status === 'pending' || status === 'paused';
  const pausedBefore = execution.paused_before ?? [];
  return (
    <div className="controls" role="group" aria-label="Run controls">
      {status === 'paused' && pausedBefore.length > 0 && (
        <p className="paused-note" data-paused-before={pausedBefore.join(' ')}>
          Paused before {pausedBefore.length === 1 ? 'step' : 'steps'} <strong>{pausedBefore.join(', ')}</strong>
          {pausedBefore.length > 1 && ' (Step runs the first)'}
        </p>
      )}
      {status === 'running' && (
        <button type="button" disabled={busy} onClick={() => void act(() => api.post(path`/workflow-executions/${id}/pause`))}>
          Pause
        </button>
      )}
      {status === 'paused' && (
        <>
          <button type="button" disabled={busy} title="Run the next held step, then pause again" onClick={() => void act(() => api.post(path`/workflow-executions/${id}/step`))}>
            Step
          </button>
          <button type="button" disabled={busy} onClick={() => void act(() => api.post(path`/workflow-executions/${id}/resume`))}>
            Resume
          </button>
        </>
      )}
      {active && (
        <button type="button" className="danger" disabled={busy} onClick={() => void act(() => api.post(path`/workflow-executions/${id}/cancel`, { reason: 'cancelled from the dashboard' }))}>
          Cancel
        </button>
      )}
      {status === 'failed' && (
        <button
          type="button"
          disabled={busy}
          onClick={() => void act(async () => navigate(href('runs', (await api.post<{ execution_id: string }>(path`/workflow-executions/${id}/retry`)).execution_id)))}
        >
          Retry
        </button>
      )}
      {!active && nodes.length > 0 && (
        <span className="fork">
          <label>
            Fork from
            <select value={forkFrom} onChange={(e) => setForkFrom(e.target.value)}>
              {nodes.map((n) => (
                <option key={n.id} value={n.id}>
                  {n.name || n.id}
                </option>
              ))}
            </select>
          </label>
          <label>
            New template for it (optional)
            <textarea className="fork-template" rows={2} value={forkTemplate} onChange={(e) => setForkTemplate(e.target.value)} />
          </label>
          <label>
            Model (optional)
            <input className="fork-model" value={forkModel} placeholder="provider:model" onChange={(e) => setForkModel(e.target.value)} />
          </label>
          <label>
            <input type="checkbox" checked={forkPause} onChange={(e) => setForkPause(e.target.checked)} /> Pause before it
          </label>
          <button
            type="button"
            disabled={busy || !forkFrom}
            onClick={() =>
              void act(async () => {
                const override = { ...(forkTemplate.trim() ? { template: forkTemplate } : {}), ...(forkModel.trim() ? { provider_model: forkModel.trim() } : {}) };
                const body = {
                  from_node: forkFrom,
                  ...(Object.keys(override).length > 0 ? { overrides: { [forkFrom]: override } } : {}),
                  ...(forkPause ? { breakpoints: [forkFrom] } : {}),
                };
                const fork = await api.post<{ execution_id: string }>(path`/workflow-executions/${id}/fork`, body);
                navigate(`#/compare?left=${encodeURIComponent(id)}&right=${encodeURIComponent(fork.execution_id)}`);
              })
            }
          >
            Fork
          </button>
        </span>
      )}
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </div>
  );
}
