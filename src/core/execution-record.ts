/**
 * The public view of a run: the run row plus its steps, assembled into the execution record with
 * its context and trace. Built from committed facts only.
 */
import type { Json, RunRecord, RunStatus, StepRecord, StepStatus } from '../storage/records.js';
import type { WorkflowDefinition } from './definition.js';
import { ScopeContexts } from './scope-contexts.js';

/** One entry of the execution trace: one step (the latest attempt; earlier ones in `attempts`). */
export interface TraceStep {
  readonly node_id: string;
  readonly node_name: string;
  readonly node_type: string;
  /** Step path, e.g. `loop[2].summarize`. */
  readonly path: string;
  readonly status: StepStatus;
  readonly attempt: number;
  readonly input_data: Json;
  readonly output_data?: Json;
  readonly error_message?: string;
  readonly error_code?: string;
  /** The LLM execution record of this step, if it called a model. */
  readonly execution_id?: string;
  /** What a waiting step waits for. */
  readonly waiting_for?: { readonly kind: string; readonly due_at?: string };
  readonly attempts?: Json;
  readonly started_at: string;
  readonly completed_at?: string;
  readonly duration_ms?: number;
}

/** A workflow run as the engine and the HTTP API report it. */
export interface WorkflowExecution {
  readonly id: string;
  readonly workflow_id: string;
  readonly workflow_version: number;
  readonly status: RunStatus;
  readonly current_node_id?: string;
  readonly context: Readonly<Record<string, unknown>>;
  readonly input_data: Json;
  readonly output_data?: Json;
  readonly error_message?: string;
  readonly created_at: string;
  readonly started_at?: string;
  readonly completed_at?: string;
  readonly duration_ms?: number;
  readonly parent_id?: string;
  /** Tokens and cost of every LLM call of the run: `{ input_tokens, output_tokens, cost_usd, calls }`. */
  readonly usage?: Json;
  /** What started the run (manual, schedule, webhook, event, parent). */
  readonly trigger?: Json;
  readonly progress: { readonly completed_nodes: number; readonly total_nodes: number; readonly current_step?: string };
  readonly execution_trace: readonly TraceStep[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Assembles the execution record of `run` from its steps. */
export function toWorkflowExecution(run: RunRecord, steps: readonly StepRecord[], workflow: WorkflowDefinition | undefined): WorkflowExecution {
  const nodes = new Map((workflow?.definition.nodes ?? []).map((n) => [n.id, n]));
  const contexts = new ScopeContexts({ input: run.input_data, variables: run.variables });
  const ordered = [...steps].sort((a, b) => a.seq - b.seq);
  let current: StepRecord | undefined;
  let completed = 0;
  for (const step of ordered) {
    if (step.status === 'completed' && !step.path.includes('[')) {
      const writes = (step.state as { writes?: Record<string, Json> } | undefined)?.writes;
      contexts.apply('', step.node_id, step.output_data, writes);
    }
    if (step.status === 'completed') completed++;
    if (step.status === 'running' || step.status === 'waiting' || step.status === 'pending') current = step;
  }
  current ??= ordered.at(-1);
  const trace = ordered.map((step) => toTraceStep(step, nodes.get(step.node_id)?.name, nodes.get(step.node_id)?.type));
  return strip({
    id: run.id,
    workflow_id: run.workflow_id,
    workflow_version: run.workflow_version,
    status: run.status,
    current_node_id: current?.node_id,
    context: contexts.get('')!,
    input_data: run.input_data,
    output_data: run.output_data,
    error_message: run.error_message,
    created_at: iso(run.created_at),
    started_at: run.started_at === undefined ? undefined : iso(run.started_at),
    completed_at: run.completed_at === undefined ? undefined : iso(run.completed_at),
    duration_ms: run.completed_at !== undefined && run.started_at !== undefined ? run.completed_at - run.started_at : undefined,
    parent_id: run.parent_id,
    usage: run.usage,
    trigger: run.trigger,
    progress: strip({ completed_nodes: completed, total_nodes: nodes.size, current_step: current?.path }),
    execution_trace: trace,
  });
}

function toTraceStep(step: StepRecord, name: string | undefined, type: string | undefined): TraceStep {
  const attempts = (step.state as { attempts?: Json } | undefined)?.attempts;
  return strip({
    node_id: step.node_id,
    node_name: name ?? step.node_id,
    node_type: type ?? 'unknown',
    path: step.path,
    status: step.status,
    attempt: step.attempt,
    input_data: step.input_data ?? null,
    output_data: step.output_data,
    error_message: step.error?.message,
    error_code: step.error?.code,
    execution_id: step.execution_id,
    waiting_for: step.waiter ? strip({ kind: step.waiter.kind, due_at: step.waiter.due_at === undefined ? undefined : iso(step.waiter.due_at) }) : undefined,
    attempts,
    started_at: iso(step.started_at),
    completed_at: step.completed_at === undefined ? undefined : iso(step.completed_at),
    duration_ms: step.duration_ms,
  });
}

type Loose<T> = { [K in keyof T]?: T[K] | undefined };

function strip<T>(value: Loose<T>): T {
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) if (record[key] === undefined) delete record[key];
  return record as T;
}
