/**
 * The public view of a run: the run row plus its steps, assembled into the execution record with
 * its context and trace. Built from committed facts only.
 */
import type { RunRecord, RunStatus, StepRecord, StepStatus, Waiter } from '../storage/records.js';
import type { ApprovalOutcome } from '../kernel/events.js';
import { approvalAsk } from './approval-requests.js';
import type { Json } from '../kernel/json.js';
import type { WorkflowDefinition } from '../definition/definition.js';
import { ScopeContexts, type ScopeContext } from './scope-contexts.js';
import type { Mutable } from '../kernel/mutable.js';

/** A failed attempt of a step that was tried again, in {@link TraceStep.attempts}. */
export interface TraceAttempt {
  readonly attempt: number;
  readonly error: { readonly code: string; readonly message: string };
  /** ISO 8601, like every time of the execution record. */
  readonly started_at: string;
  readonly failed_at: string;
}

/**
 * One entry of the execution trace: one step (the latest attempt; earlier ones in `attempts`).
 * Times are ISO 8601 strings (`2026-01-01T00:00:00.000Z`), durations milliseconds.
 */
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
  /** The id of the record of the model call this step made, if it called a model (`engine.calls.get(call_id)`). */
  readonly call_id?: string;
  /** What a waiting step waits for; a step waiting for approval also says what the person is asked. */
  readonly waiting_for?: WaitingFor;
  /** The earlier, failed attempts of a step that was retried, oldest first. */
  readonly attempts?: readonly TraceAttempt[];
  readonly started_at: string;
  readonly completed_at?: string;
  readonly duration_ms?: number;
}

/** What a waiting step waits for, in the trace. */
export interface WaitingFor {
  /** `approval`, `timer`, `retry`, `event` or `child`. */
  readonly kind: string;
  /** When the wait times out or the timer fires, if it does (ISO 8601). */
  readonly due_at?: string;
  /** Approvals: the node's rendered `message`, or null. */
  readonly message?: string | null;
  /** Approvals: what to review (the node's `data` mapping, evaluated when the step started waiting), or null. */
  readonly data?: Json;
  /** Approvals: the answers allowed. */
  readonly outcomes?: readonly ApprovalOutcome[];
  /** Approvals with a timeout: what the timeout decides. */
  readonly on_timeout?: 'approve' | 'reject' | 'fail';
}

/**
 * A workflow run as the engine and the HTTP API report it. Every time in it (its own, its trace's,
 * a waiting step's `due_at`) is an ISO 8601 string in UTC; durations are milliseconds. `O` is the
 * type of `output_data`: JSON, or what a builder's `end` declares when the run came from
 * `engine.run(builder, ...)`.
 */
export interface WorkflowExecution<O = Json> {
  readonly id: string;
  readonly workflow_id: string;
  readonly workflow_version: number;
  readonly status: RunStatus;
  readonly current_node_id?: string;
  readonly context: Readonly<Record<string, unknown>>;
  readonly input_data: Json;
  readonly output_data?: O;
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
  /** Debug mode: the breakpoints the run was started with (see `RunOptions.breakpoints`). */
  readonly breakpoints?: readonly string[];
  /**
   * Debug mode (and any pause): the step paths of a `paused` run that are ready but held before they
   * start, oldest first: the breakpoint it stopped at, and what else became ready meanwhile.
   * `engine.step` starts the first (or a named one), `engine.resume` all of them. Absent when none is held.
   */
  readonly paused_before?: readonly string[];
  /**
   * Nodes done of the nodes to do: a loop body's node counts once, a node skipped on every path
   * (a branch not taken) is not counted, and a completed run's total is the nodes that ran.
   */
  readonly progress: { readonly completed_nodes: number; readonly total_nodes: number; readonly current_step?: string };
  readonly execution_trace: readonly TraceStep[];
}

const recentIso = new Map<number, string>();
/** ISO text of a timestamp; the steps of a run share a few milliseconds, so recent answers are kept. */
const iso = (ms: number): string => {
  let text = recentIso.get(ms);
  if (text === undefined) {
    if (recentIso.size >= 256) recentIso.clear();
    text = new Date(ms).toISOString();
    recentIso.set(ms, text);
  }
  return text;
};


const nodesByDefinition = new WeakMap<WorkflowDefinition, ReadonlyMap<string, { readonly name: string; readonly type: string }>>();
function nodesOf(workflow: WorkflowDefinition | undefined): ReadonlyMap<string, { readonly name: string; readonly type: string }> {
  if (!workflow) return new Map();
  let nodes = nodesByDefinition.get(workflow);
  if (!nodes) nodesByDefinition.set(workflow, (nodes = new Map(workflow.definition.nodes.map((n) => [n.id, n]))));
  return nodes;
}

/** Assembles the execution record of `run` from its steps. */
export function toWorkflowExecution(run: RunRecord, steps: readonly StepRecord[], workflow: WorkflowDefinition | undefined, context?: ScopeContext): WorkflowExecution {
  const nodes = nodesOf(workflow);
  // The runner passes the root context it has built; a read from storage rebuilds it from the steps.
  const contexts = context === undefined ? new ScopeContexts({ input: run.input_data, variables: run.variables }) : undefined;
  let ordered = steps;
  for (let i = 1; i < steps.length; i++) {
    if (steps[i]!.seq < steps[i - 1]!.seq) {
      ordered = [...steps].sort((a, b) => a.seq - b.seq);
      break;
    }
  }
  let current: StepRecord | undefined;
  let held: string[] | undefined;
  const progress = new StepProgress();
  const trace: TraceStep[] = new Array<TraceStep>(ordered.length);
  for (let i = 0; i < ordered.length; i++) {
    const step = ordered[i]!;
    progress.add(step);
    if (step.status === 'completed') {
      if (contexts !== undefined && !step.path.includes('[')) contexts.apply('', step.node_id, step.output_data, (step.state as { writes?: Record<string, Json> } | undefined)?.writes);
    } else if (step.status === 'running' || step.status === 'waiting' || step.status === 'pending') {
      current = step;
      if (step.status === 'pending' && run.status === 'paused') (held ??= []).push(step.path);
    }
    const node = nodes.get(step.node_id);
    trace[i] = toTraceStep(step, node?.name, node?.type);
  }
  current ??= ordered.at(-1);
  // Built field by field, never with `delete`: this runs for every `get` and every finished `run`.
  const record: Mutable<WorkflowExecution> = { id: run.id, workflow_id: run.workflow_id, workflow_version: run.workflow_version, status: run.status, context: context ?? contexts!.get('')!, input_data: run.input_data, created_at: iso(run.created_at), progress: progress.flat ? progress.counts(nodes.size, run.status) : nodeProgress(ordered, nodes.size, run.status), execution_trace: trace };
  if (current) {
    record.current_node_id = current.node_id;
    (record.progress as Mutable<WorkflowExecution['progress']>).current_step = current.path;
  }
  if (run.output_data !== undefined) record.output_data = run.output_data;
  if (run.error_message !== undefined) record.error_message = run.error_message;
  if (run.started_at !== undefined) record.started_at = iso(run.started_at);
  if (run.completed_at !== undefined) record.completed_at = iso(run.completed_at);
  if (run.completed_at !== undefined && run.started_at !== undefined) record.duration_ms = run.completed_at - run.started_at;
  if (run.parent_id !== undefined) record.parent_id = run.parent_id;
  if (run.usage !== undefined) record.usage = run.usage;
  if (run.trigger !== undefined) record.trigger = run.trigger;
  if (run.breakpoints !== undefined) record.breakpoints = run.breakpoints;
  if (held !== undefined) record.paused_before = held;
  return record;
}

/** {@link NodeProgress} over `steps`. */
function nodeProgress(steps: readonly StepRecord[], nodes: number, status: RunStatus): { completed_nodes: number; total_nodes: number } {
  const progress = new NodeProgress();
  for (const step of steps) progress.add(step);
  return progress.counts(nodes, status);
}

/**
 * `progress` counts nodes, not steps: a loop body's node counts once however many items it ran
 * for, and a node skipped on every path it had (a branch not taken) is not among the nodes to do,
 * so a completed run with a skipped branch reads 6 of 6, not 6 of 8. A completed run's total is
 * the nodes that ran (a loop over no items ran none of its body); a run under way, or one that
 * failed or was cancelled, still counts the nodes it has not reached.
 */
class NodeProgress {
  readonly #completed = new Set<string>();
  readonly #ran = new Set<string>();
  readonly #skipped = new Set<string>();

  add(step: StepRecord): void {
    if (step.status === 'skipped') this.#skipped.add(step.node_id);
    else this.#ran.add(step.node_id);
    if (step.status === 'completed') this.#completed.add(step.node_id);
  }

  counts(nodes: number, status: RunStatus): { completed_nodes: number; total_nodes: number } {
    let skippedOnly = 0;
    for (const id of this.#skipped) if (!this.#ran.has(id)) skippedOnly++;
    const total = status === 'completed' ? this.#ran.size : Math.max(nodes - skippedOnly, this.#ran.size);
    return { completed_nodes: this.#completed.size, total_nodes: total };
  }
}

/**
 * {@link NodeProgress} while every step is a top-level one (its path is its node id): each node
 * then has at most one step (a retry rewrites its row), so counting steps counts nodes, with no
 * set of ids made for every view. `flat` turns false at the first step in a loop iteration, and
 * the view counts with NodeProgress instead.
 */
class StepProgress {
  flat = true;
  #completed = 0;
  #ran = 0;
  #skipped = 0;

  add(step: StepRecord): void {
    if (step.path !== step.node_id) this.flat = false;
    if (step.status === 'skipped') this.#skipped++;
    else this.#ran++;
    if (step.status === 'completed') this.#completed++;
  }

  counts(nodes: number, status: RunStatus): { completed_nodes: number; total_nodes: number } {
    const total = status === 'completed' ? this.#ran : Math.max(nodes - this.#skipped, this.#ran);
    return { completed_nodes: this.#completed, total_nodes: total };
  }
}

function toTraceStep(step: StepRecord, name: string | undefined, type: string | undefined): TraceStep {
  const entry: Mutable<TraceStep> = { node_id: step.node_id, node_name: name ?? step.node_id, node_type: type ?? 'unknown', path: step.path, status: step.status, attempt: step.attempt, input_data: step.input_data ?? null, started_at: iso(step.started_at) };
  if (step.output_data !== undefined) entry.output_data = step.output_data;
  if (step.error !== undefined) {
    entry.error_message = step.error.message;
    entry.error_code = step.error.code;
  }
  if (step.execution_id !== undefined) entry.call_id = step.execution_id;
  if (step.waiter) entry.waiting_for = waitingFor(step.waiter);
  const attempts = (step.state as { attempts?: readonly StoredAttempt[] } | undefined)?.attempts;
  if (attempts !== undefined) entry.attempts = attempts.map(toTraceAttempt);
  if (step.completed_at !== undefined) entry.completed_at = iso(step.completed_at);
  if (step.duration_ms !== undefined) entry.duration_ms = step.duration_ms;
  return entry;
}

function waitingFor(waiter: Waiter): WaitingFor {
  const base = waiter.due_at === undefined ? { kind: waiter.kind } : { kind: waiter.kind, due_at: iso(waiter.due_at) };
  const ask = approvalAsk(waiter);
  if (ask === undefined) return base;
  return { ...base, message: ask.message, data: ask.data, outcomes: ask.outcomes, ...(ask.on_timeout === undefined ? {} : { on_timeout: ask.on_timeout }) };
}

/** A failed attempt as the step's state keeps it (see `withFailedAttempt`): times in ms since epoch. */
interface StoredAttempt {
  readonly attempt: number;
  readonly error: { readonly code: string; readonly message: string };
  readonly started_at: number;
  readonly failed_at: number;
}

// The state keeps numbers, like every stored time; the view shows them as the rest of the trace does.
function toTraceAttempt(attempt: StoredAttempt): TraceAttempt {
  return { attempt: attempt.attempt, error: attempt.error, started_at: iso(attempt.started_at), failed_at: iso(attempt.failed_at) };
}
