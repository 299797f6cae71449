/**
 * Comparing two runs step by step (`engine.compareRuns`): a fork beside its original, or any two
 * runs of one workflow. Steps are aligned by step path; the alignment is a pure function of the two
 * execution records and their model call records.
 */
import { jsonEqual } from '../storage/workflow-versions.js';
import type { Json } from '../kernel/json.js';
import type { ModelCallRecord, RunStatus, StepStatus } from '../storage/records.js';
import type { TraceStep, WorkflowExecution } from '../runtime/run-view.js';

/** One run's side of an aligned step. */
export interface ComparedStep {
  readonly status: StepStatus;
  readonly output_data?: Json;
  readonly error_message?: string;
  readonly duration_ms?: number;
  /** Tokens of the step's model calls (every attempt), 0 for a step that called no model. */
  readonly input_tokens: number;
  readonly output_tokens: number;
  /** Cost of the step's model calls in USD (a call without a price counts 0). */
  readonly cost_usd: number;
  /** The step's model call record, if it called a model (`engine.calls.get(call_id)`). */
  readonly call_id?: string;
}

/** One step path of either run, with each run's side (absent where that run has no such step). */
export interface AlignedStep {
  readonly path: string;
  readonly node_id: string;
  readonly original?: ComparedStep;
  readonly other?: ComparedStep;
  /** Both sides completed with deeply equal outputs. */
  readonly same_output: boolean;
}

/** A summary of one compared run. */
export interface ComparedRun {
  readonly id: string;
  readonly status: RunStatus;
  readonly output_data?: Json;
  readonly duration_ms?: number;
  readonly input_tokens: number;
  readonly output_tokens: number;
  readonly cost_usd: number;
}

/**
 * Two runs side by side: `original` and `other` (a fork of it, say), with their steps aligned by
 * step path in the order they ran: the original's order, each step only the other run has placed
 * after the step that preceded it there.
 */
export interface RunComparison {
  readonly original: ComparedRun;
  readonly other: ComparedRun;
  readonly steps: readonly AlignedStep[];
  /** The first path, in that order, where the runs differ (status or output); absent when they agree throughout. */
  readonly first_difference?: string;
}

/** A run to compare: its execution record and its model call records. */
export interface ComparedSource {
  readonly execution: WorkflowExecution;
  readonly calls: readonly ModelCallRecord[];
}

interface Usage {
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** Aligns the steps of two runs by step path (see {@link RunComparison}). Pure. */
export function alignRuns(original: ComparedSource, other: ComparedSource): RunComparison {
  const left = byPath(original);
  const right = byPath(other);
  const order = alignedOrder(original.execution.execution_trace, other.execution.execution_trace);
  const steps: AlignedStep[] = order.map((path) => {
    const a = left.steps.get(path);
    const b = right.steps.get(path);
    const same = a?.status === 'completed' && b?.status === 'completed' && jsonEqual(a.output_data, b.output_data);
    return {
      path,
      node_id: (a ?? b)!.node_id,
      ...(a === undefined ? {} : { original: side(a, left.usage.get(path)) }),
      ...(b === undefined ? {} : { other: side(b, right.usage.get(path)) }),
      same_output: same,
    };
  });
  const differs = steps.find((s) => s.original?.status !== s.other?.status || (s.original?.status === 'completed' && !s.same_output));
  return {
    original: summary(original),
    other: summary(other),
    steps,
    ...(differs === undefined ? {} : { first_difference: differs.path }),
  };
}

/**
 * Every path of `a` in order, then each path only `b` has inserted after the nearest path before
 * it in `b` that is already placed (at the start when there is none).
 */
export function alignedOrder(a: readonly Pick<TraceStep, 'path'>[], b: readonly Pick<TraceStep, 'path'>[]): string[] {
  const order = a.map((s) => s.path);
  const placed = new Set(order);
  let anchor = -1; // index in `order` of the last `b` path seen there
  for (const { path } of b) {
    const at = order.indexOf(path);
    if (at >= 0 && placed.has(path)) {
      anchor = at;
      continue;
    }
    order.splice(anchor + 1, 0, path);
    placed.add(path);
    anchor++;
  }
  return order;
}

function byPath(source: ComparedSource): { steps: Map<string, TraceStep>; usage: Map<string, Usage> } {
  const steps = new Map(source.execution.execution_trace.map((s) => [s.path, s]));
  const usage = new Map<string, Usage>();
  for (const call of source.calls) {
    const path = call.step_path ?? call.workflow_node_id;
    if (path === undefined) continue;
    const totals = usage.get(path) ?? { input_tokens: 0, output_tokens: 0, cost_usd: 0 };
    const used = tokens(call.usage);
    totals.input_tokens += used.input;
    totals.output_tokens += used.output;
    totals.cost_usd += call.cost_usd ?? 0;
    usage.set(path, totals);
  }
  return { steps, usage };
}

function tokens(usage: Json | undefined): { input: number; output: number } {
  const record = typeof usage === 'object' && usage !== null && !Array.isArray(usage) ? usage : {};
  const input = record['input_tokens'];
  const output = record['output_tokens'];
  return { input: typeof input === 'number' ? input : 0, output: typeof output === 'number' ? output : 0 };
}

function side(step: TraceStep, usage: Usage | undefined): ComparedStep {
  return {
    status: step.status,
    ...(step.output_data === undefined ? {} : { output_data: step.output_data }),
    ...(step.error_message === undefined ? {} : { error_message: step.error_message }),
    ...(step.duration_ms === undefined ? {} : { duration_ms: step.duration_ms }),
    input_tokens: usage?.input_tokens ?? 0,
    output_tokens: usage?.output_tokens ?? 0,
    cost_usd: usage?.cost_usd ?? 0,
    ...(step.call_id === undefined ? {} : { call_id: step.call_id }),
  };
}

function summary(source: ComparedSource): ComparedRun {
  const { execution, calls } = source;
  let input = 0;
  let output = 0;
  let cost = 0;
  for (const call of calls) {
    const used = tokens(call.usage);
    input += used.input;
    output += used.output;
    cost += call.cost_usd ?? 0;
  }
  return {
    id: execution.id,
    status: execution.status,
    ...(execution.output_data === undefined ? {} : { output_data: execution.output_data }),
    ...(execution.duration_ms === undefined ? {} : { duration_ms: execution.duration_ms }),
    input_tokens: input,
    output_tokens: output,
    cost_usd: cost,
  };
}
