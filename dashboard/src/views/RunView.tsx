/** One run, live: the graph, the chosen step, the timeline, the controls. */
import { useMemo, useState } from 'react';
import { api, path } from '../api';
import { ErrorNote, JsonBlock, Section, StatusBadge } from '../components/common';
import { RunControls } from '../components/RunControls';
import { RunGraph } from '../components/RunGraph';
import { StepPanel } from '../components/StepPanel';
import { Timeline } from '../components/Timeline';
import { formatCost, formatDuration, formatTime, triggerLabel } from '../format';
import { useLoad } from '../hooks';
import { useLiveRun } from '../live';
import { href } from '../route';
import type { Json, ModelCall, TraceStep, Workflow } from '../types';

export function RunView({ id }: { id: string }) {
  const live = useLiveRun(id);
  const execution = live.execution;
  const workflow = useLoad(
    () => (execution ? api.get<Workflow>(path`/workflows/${execution.workflow_id}` + `?version=${execution.workflow_version}`) : Promise.resolve(undefined)),
    [execution?.workflow_id, execution?.workflow_version],
  );
  const calls = useLoad(() => api.data<{ data: ModelCall[] }>(path`/executions/${id}/calls`), [id, live.version]);
  const [selectedNode, setSelectedNode] = useState<string>();
  const [selectedPath, setSelectedPath] = useState<string>();

  const stepsByNode = useMemo(() => {
    const map = new Map<string, TraceStep[]>();
    for (const step of execution?.execution_trace ?? []) {
      const list = map.get(step.node_id) ?? [];
      list.push(step);
      map.set(step.node_id, list);
    }
    return map;
  }, [execution]);

  if (!execution) {
    return (
      <div>
        <h1>Run {id}</h1>
        <ErrorNote error={live.error} />
        {!live.error && <p>Loading…</p>}
      </div>
    );
  }
  const definition = workflow.data?.definition;
  // Node ids of the held steps (`review_loop[2].approve` is a step of node `approve`).
  const pausedBefore = new Set((execution.status === 'paused' ? (execution.paused_before ?? []) : []).map(nodeOfPath));
  const breakpoints = new Set((execution.breakpoints ?? []).map(nodeOfPath));
  const trigger = execution.trigger as { type?: string; source_execution_id?: string } | undefined;
  const select = (step: TraceStep) => {
    setSelectedNode(step.node_id);
    setSelectedPath(step.path);
  };

  return (
    <div className="run-view" data-status={execution.status}>
      <div className="run-head">
        <h1>
          Run <span className="mono">{execution.id}</span> <StatusBadge status={execution.status} />
        </h1>
        <p className="meta">
          <a href={href('workflows', execution.workflow_id)}>{execution.workflow_id}</a> v{execution.workflow_version} · started {formatTime(execution.started_at ?? execution.created_at)} ·{' '}
          {formatDuration(execution.duration_ms)} · {formatCost(execution.usage?.cost_usd)} · {execution.usage?.input_tokens ?? 0}/{execution.usage?.output_tokens ?? 0} tokens in/out · trigger {triggerLabel(execution.trigger)} ·{' '}
          <span className={`connection ${live.connection}`}>{live.connection}</span>
        </p>
        {trigger?.source_execution_id && (
          <p>
            {trigger.type} of <a href={href('runs', trigger.source_execution_id)}>{trigger.source_execution_id}</a> ·{' '}
            <a href={`#/compare?left=${encodeURIComponent(trigger.source_execution_id)}&right=${encodeURIComponent(execution.id)}`}>compare step by step</a>
          </p>
        )}
        {execution.parent_id && (
          <p>
            Child of <a href={href('runs', execution.parent_id)}>{execution.parent_id}</a>
          </p>
        )}
        {execution.error_message && (
          <p role="alert" className="error">
            {execution.error_message}
          </p>
        )}
        <RunControls execution={execution} nodes={definition?.nodes ?? []} onChanged={live.refresh} />
      </div>
      <div className="run-grid">
        {definition ? (
          <RunGraph
            nodes={definition.nodes}
            edges={definition.edges}
            stepsByNode={stepsByNode}
            selected={selectedNode}
            pausedBefore={pausedBefore}
            breakpoints={breakpoints}
            onSelect={(nodeId) => {
              setSelectedNode(nodeId);
              setSelectedPath(undefined);
            }}
          />
        ) : (
          <div className="graph">
            <ErrorNote error={workflow.error} />
          </div>
        )}
        <div className="side">
          {selectedNode ? (
            <StepPanel nodeId={selectedNode} steps={stepsByNode.get(selectedNode) ?? []} selectedPath={selectedPath} onSelectPath={setSelectedPath} calls={calls.data?.data ?? []} tokens={live.tokens} />
          ) : (
            <Section title="Steps">
              <ol className="step-list">
                {execution.execution_trace.map((s) => (
                  <li key={`${s.path}#${s.attempt}`}>
                    <button type="button" onClick={() => select(s)}>
                      {s.path}
                    </button>{' '}
                    <StatusBadge status={s.status} /> {formatDuration(s.duration_ms)}
                  </li>
                ))}
              </ol>
              <p className="hint">Select a node in the graph or a step here to see its inputs, output and model calls.</p>
            </Section>
          )}
          {selectedNode && (
            <button type="button" className="link" onClick={() => setSelectedNode(undefined)}>
              Back to all steps
            </button>
          )}
        </div>
      </div>
      <Section title="Timeline">
        <Timeline steps={execution.execution_trace} now={Date.now()} onSelect={select} />
      </Section>
      <div className="two-col">
        <Section title="Input">
          <JsonBlock label="Run input" value={execution.input_data} />
        </Section>
        <Section title="Output">
          <JsonBlock label="Run output" value={execution.output_data as Json | undefined} />
        </Section>
      </div>
    </div>
  );
}

/** The node of a step path: the last segment, without its loop index. */
function nodeOfPath(stepPath: string): string {
  return stepPath.split('.').at(-1)!.replace(/\[\d+\]$/, '');
}
