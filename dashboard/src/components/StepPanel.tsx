/**
 * One node of a run: its steps (every iteration of a loop or branch of a parallel block, by path), and
 * the chosen step in full: inputs, output, errors and earlier attempts, what it waits for, the text a
 * streaming model has sent so far, and its model calls (the request as sent, the answer, tokens, cost).
 */
import { formatCost, formatDuration, formatTime } from '../format';
import type { Json, ModelCall, TraceStep } from '../types';
import { JsonBlock, StatusBadge } from './common';

export function StepPanel(props: {
  nodeId: string;
  steps: readonly TraceStep[];
  selectedPath: string | undefined;
  onSelectPath: (path: string) => void;
  calls: readonly ModelCall[];
  tokens: Readonly<Record<string, string>>;
}) {
  const { nodeId, steps, selectedPath, onSelectPath, calls, tokens } = props;
  const step = steps.find((s) => s.path === selectedPath) ?? steps.at(-1);
  return (
    <section className="card step-panel" aria-label={`Step ${nodeId}`}>
      <h2>{nodeId}</h2>
      {steps.length === 0 && <p>This node has not run.</p>}
      {steps.length > 1 && (
        <details open>
          <summary>
            {steps.length} steps of this node
          </summary>
          <ul className="iterations">
            {steps.map((s) => (
              <li key={`${s.path}#${s.attempt}`}>
                <button type="button" aria-pressed={s === step} onClick={() => onSelectPath(s.path)}>
                  {s.path} <StatusBadge status={s.status} />
                </button>
              </li>
            ))}
          </ul>
        </details>
      )}
      {step && <StepDetail step={step} calls={calls.filter((c) => c.step_path === step.path || (c.step_path === undefined && c.workflow_node_id === step.node_id))} streamed={tokens[step.path]} />}
    </section>
  );
}

function StepDetail({ step, calls, streamed }: { step: TraceStep; calls: readonly ModelCall[]; streamed: string | undefined }) {
  const cost = calls.reduce((sum, c) => sum + (c.cost_usd ?? 0), 0);
  return (
    <div className="step-detail" data-step-path={step.path}>
      <dl className="facts">
        <dt>Path</dt>
        <dd>{step.path}</dd>
        <dt>Status</dt>
        <dd>
          <StatusBadge status={step.status} />
        </dd>
        <dt>Type</dt>
        <dd>{step.node_type}</dd>
        <dt>Attempt</dt>
        <dd>{step.attempt}</dd>
        <dt>Started</dt>
        <dd>{formatTime(step.started_at)}</dd>
        <dt>Duration</dt>
        <dd>{formatDuration(step.duration_ms)}</dd>
        {calls.length > 0 && (
          <>
            <dt>Cost</dt>
            <dd>{formatCost(cost)}</dd>
          </>
        )}
      </dl>
      {step.error_message && (
        <p role="alert" className="error">
          {step.error_code ? `${step.error_code}: ` : ''}
          {step.error_message}
        </p>
      )}
      {step.attempts && step.attempts.length > 0 && (
        <>
          <h3>Earlier attempts</h3>
          <ul>
            {step.attempts.map((a) => (
              <li key={a.attempt}>
                Attempt {a.attempt}: {a.error.code}: {a.error.message}
              </li>
            ))}
          </ul>
        </>
      )}
      {step.waiting_for && (
        <>
          <h3>Waiting for {step.waiting_for.kind}</h3>
          {step.waiting_for.message && <p className="message">{step.waiting_for.message}</p>}
          {step.waiting_for.data !== undefined && <JsonBlock label="Data to review" value={step.waiting_for.data} />}
        </>
      )}
      <h3>Inputs</h3>
      <JsonBlock label="Inputs" value={step.input_data} />
      <h3>Output</h3>
      <JsonBlock label="Output" value={step.output_data} />
      {streamed !== undefined && step.status === 'running' && (
        <>
          <h3>Streaming</h3>
          <pre className="json streaming" aria-live="polite" aria-label="Streamed answer">
            {streamed}
          </pre>
        </>
      )}
      {calls.map((call) => (
        <ModelCallView key={call.id} call={call} />
      ))}
    </div>
  );
}

/** The messages of a request, whatever the adapter named them: `messages`, `prompt`, `system`. */
function promptOf(request: Json): Json {
  if (request && typeof request === 'object' && !Array.isArray(request)) {
    const { messages, prompt, system } = request;
    if (messages !== undefined || prompt !== undefined) return { ...(system === undefined ? {} : { system }), ...(messages === undefined ? {} : { messages }), ...(prompt === undefined ? {} : { prompt }) };
  }
  return request;
}

/** The answer's text, when the response has one; else the whole response. */
function answerOf(response: Json | undefined): Json | undefined {
  if (response && typeof response === 'object' && !Array.isArray(response)) {
    for (const key of ['text', 'content', 'output']) if (typeof response[key] === 'string') return response[key];
  }
  return response;
}

function tokensOf(usage: Json | undefined): string {
  const u = (usage ?? {}) as { input_tokens?: number; output_tokens?: number };
  return `${u.input_tokens ?? 0} tokens in, ${u.output_tokens ?? 0} out`;
}

function ModelCallView({ call }: { call: ModelCall }) {
  return (
    <div className="model-call" data-call-id={call.id}>
      <h3>
        Model call · {call.provider_model} · <StatusBadge status={call.status} />
      </h3>
      <p className="meta">
        {formatDuration(call.duration_ms)} · {formatCost(call.cost_usd)} · {tokensOf(call.usage)}
        {call.attempt !== undefined && ` · attempt ${call.attempt}`}
      </p>
      <h4>Prompt as sent</h4>
      <JsonBlock label="Prompt as sent" value={promptOf(call.request)} />
      <h4>Model answer</h4>
      <JsonBlock label="Model answer" value={answerOf(call.response)} />
      {call.error !== undefined && <JsonBlock label="Call error" value={call.error} />}
      <details>
        <summary>Execution record</summary>
        <JsonBlock label="Execution record" value={call as unknown as Json} />
      </details>
    </div>
  );
}
