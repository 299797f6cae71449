/**
 * The NodeHandler port: one handler per node type. A handler returns a result and never throws
 * for flow control; an exception is a failure, classified by its code for retry policies.
 */
import type { ZodType } from 'zod';
import type { Clock } from '../kernel/clock.js';
import type { WorkflowNode } from '../definition/definition.js';
import type { Waiter } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { ModelCall, ModelResult } from '../calls/model-call.js';
import type { PromptRecord } from '../storage/records.js';

/** The node finished: its output, which outputs fired (default: all), and context paths it writes. */
export interface CompletedResult {
  readonly status: 'completed';
  readonly output: Json;
  /** Names of the outputs (edge `source_output`) to follow; absent means every outgoing edge. */
  readonly fired?: readonly string[];
  /** Context paths to set in the step's scope, e.g. from `output_mapping`. */
  readonly writes?: Readonly<Record<string, Json>>;
  /** The model call the step made (its record's id). */
  readonly callId?: string;
  /** What the step worked on, for the trace (e.g. the rendered prompt). */
  readonly input?: Json;
}

/** The node waits for an approval, a timer, an event or a child run. Waiting is data. */
export interface WaitingResult {
  readonly status: 'waiting';
  readonly waiter: Waiter;
}

/** A loop node asks the runner to iterate. */
export interface IterateResult {
  readonly status: 'iterate';
  /** `list`: one iteration per item; `count`: n iterations; `while`: iterate while `condition` holds. */
  readonly spec:
    | { readonly mode: 'list'; readonly items: readonly Json[] }
    | { readonly mode: 'count'; readonly count: number }
    | { readonly mode: 'while'; readonly condition: string };
}

/** What a handler returns. */
export type NodeResult = CompletedResult | WaitingResult | IterateResult;

/** Why a waiting step woke up. */
export type WakeSignal =
  | { readonly kind: 'timer' }
  | { readonly kind: 'approval'; readonly approved: boolean; readonly data?: Json; readonly reason?: string }
  | { readonly kind: 'event'; readonly payload: Json; /** The wait's deadline, kept when the event does not match. */ readonly dueAt?: number }
  | { readonly kind: 'child'; readonly status: string; readonly output?: Json; readonly error?: string };

/** An incoming edge that was followed, with what its source produced. */
export interface ArrivedInput {
  readonly sourceNodeId: string;
  /** Branch name when the source is inside a parallel branch. */
  readonly branch?: string;
  readonly output: Json | undefined;
}

/** Services a handler may use; the engine provides them. */
export interface StepServices {
  /** Calls an LLM through the engine: provider lookup, limits, recording, streaming, structured output. */
  callModel(call: ModelCall): Promise<ModelResult>;
  getPrompt(id: string, version?: number): Promise<PromptRecord | undefined>;
  /** Starts (once per step, even across re-runs) a child run of a stored workflow; resolves with its id. */
  startChild(workflowId: string, version: number | undefined, input: Json): Promise<string>;
}

/** Everything a handler sees while running one step. */
export interface StepContext<C = Record<string, unknown>> {
  readonly executionId: string;
  readonly workflowId: string;
  readonly node: WorkflowNode;
  readonly config: C;
  /** Step path, e.g. `loop[2].summarize`. */
  readonly path: string;
  readonly attempt: number;
  /** Stable for this step attempt across process restarts: send it where an API deduplicates. */
  readonly idempotencyKey: string;
  /** Aborted when the run is cancelled, the step times out, or its branch lost a race. */
  readonly signal: AbortSignal;
  readonly clock: Clock;
  /** The run context in this step's scope (input, variables, node outputs, loop item). Read-only. */
  readonly context: Readonly<Record<string, unknown>>;
  /** Incoming edges that were followed to reach this step. */
  readonly arrived: readonly ArrivedInput[];
  /** True when the node has an outgoing edge with this `source_output`. */
  hasOutput(name: string): boolean;
  /** Evaluates an expression in this step's context (plus `extra` variables). */
  evaluate(expression: string, extra?: Readonly<Record<string, unknown>>): unknown;
  /** Renders a `{{path}}` template in this step's context (plus `extra` variables). */
  render(template: string, extra?: Readonly<Record<string, unknown>>): string;
  readonly services: StepServices;
}

/** Implements one node type. Register custom ones with `engine.registerNode(handler)`. */
export interface NodeHandler<C = Record<string, unknown>> {
  /** The node `type` this handler runs. */
  readonly type: string;
  /**
   * Checks the `config` of every node of this type whenever a workflow using it is validated
   * (stored, updated or run): each problem is an `invalid_config` issue of the
   * `WorkflowValidationError`, alongside every other issue. A function is called on first
   * validation, for a handler that builds its schema only once zod is loaded.
   */
  readonly configSchema?: ZodType | (() => ZodType);
  /**
   * True when `execute` has no effect outside the run (no I/O, no calls): the engine may then run
   * it at once, in the same transaction as the step that made it ready, instead of first
   * committing its `running` row. A crash before that commit just runs it again.
   * @default false
   */
  readonly pure?: boolean;
  execute(ctx: StepContext<C>): NodeResult | Promise<NodeResult>;
  /** Finishes a waiting step when what it waited for arrives. */
  resume?(ctx: StepContext<C>, wake: WakeSignal): NodeResult | Promise<NodeResult>;
}

/** Helper to define a handler with a typed config. */
export function defineNode<C>(handler: NodeHandler<C>): NodeHandler<C> {
  return handler;
}
