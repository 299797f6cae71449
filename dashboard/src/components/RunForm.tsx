/**
 * Starts a run of a workflow's latest version: one field per declared variable (by its type), and
 * optionally breakpoints, nodes the run pauses before so it can be stepped through.
 */
import { useId, useState } from 'react';
import { api, path } from '../api';
import type { Json, Workflow, WorkflowVariable } from '../types';

function initial(variable: WorkflowVariable): string {
  if (variable.default_value === undefined) return variable.type === 'boolean' ? 'false' : '';
  return typeof variable.default_value === 'string' ? variable.default_value : JSON.stringify(variable.default_value);
}

function parse(variable: WorkflowVariable, text: string): Json | undefined {
  if (text === '' && variable.type !== 'string') return undefined;
  switch (variable.type) {
    case 'string':
      return text;
    case 'number': {
      const n = Number(text);
      if (!Number.isFinite(n)) throw new Error(`${variable.name}: expected a number`);
      return n;
    }
    case 'boolean':
      return text === 'true';
    default:
      try {
        return JSON.parse(text) as Json;
      } catch {
        if (variable.type === 'any') return text;
        throw new Error(`${variable.name}: expected JSON (${variable.type})`);
      }
  }
}

export function RunForm({ workflow, onStarted }: { workflow: Workflow; onStarted: (executionId: string) => void }) {
  const ids = useId();
  const variables = workflow.definition.variables ?? [];
  const [values, setValues] = useState<Record<string, string>>(() => Object.fromEntries(variables.map((v) => [v.name, initial(v)])));
  const [breakpoints, setBreakpoints] = useState<string[]>([]);
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const input: Record<string, Json> = {};
      for (const v of variables) {
        const value = parse(v, values[v.name] ?? '');
        if (value !== undefined) input[v.name] = value;
      }
      const started = await api.post<{ execution_id: string }>(path`/workflows/${workflow.id}/execute`, { input_data: input, ...(breakpoints.length > 0 ? { breakpoints } : {}) });
      onStarted(started.execution_id);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      className="run-form"
      aria-label={`Run ${workflow.id}`}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {variables.length === 0 && <p className="hint">This workflow declares no variables.</p>}
      {variables.map((v) => {
        const fieldId = `${ids}-${v.name}`;
        const value = values[v.name] ?? '';
        const set = (text: string) => setValues((all) => ({ ...all, [v.name]: text }));
        return (
          <div key={v.name} className="field">
            <label htmlFor={fieldId}>
              {v.name} <span className="hint">({v.type}{v.required === false || v.default_value !== undefined ? ', optional' : ''})</span>
            </label>
            {v.type === 'boolean' ? (
              <input id={fieldId} type="checkbox" checked={value === 'true'} onChange={(e) => set(String(e.target.checked))} />
            ) : v.type === 'string' || v.type === 'number' ? (
              <input id={fieldId} type={v.type === 'number' ? 'number' : 'text'} value={value} onChange={(e) => set(e.target.value)} />
            ) : (
              <textarea id={fieldId} rows={3} value={value} onChange={(e) => set(e.target.value)} />
            )}
            {v.description && <p className="hint">{v.description}</p>}
          </div>
        );
      })}
      <fieldset className="breakpoints">
        <legend>Breakpoints (pause before)</legend>
        {workflow.definition.nodes.map((n) => (
          <label key={n.id} className="check">
            <input
              type="checkbox"
              checked={breakpoints.includes(n.id)}
              onChange={(e) => setBreakpoints((all) => (e.target.checked ? [...all, n.id] : all.filter((b) => b !== n.id)))}
            />{' '}
            {n.id}
          </label>
        ))}
      </fieldset>
      <button type="submit" disabled={busy}>
        Start run
      </button>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
    </form>
  );
}
