/**
 * The StepContext a node handler sees for one step attempt. Internal to the runner. A class, not
 * an object of closures: one is made for every step, so its functions, services object and
 * idempotency key are made only when a handler asks for them.
 */
import type { ArrivedInput, StepContext, StepServices } from '../nodes/node-handler.js';
import type { CallSite, ModelCall, ModelResult } from '../calls/model-call.js';
import type { TraceScope } from '../telemetry/tracing.js';
import type { ModelCallRecord, PromptRecord, RunRecord, StepRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { WorkflowNode } from '../definition/definition.js';
import type { Clock } from '../kernel/clock.js';
import { compileExpression } from '../expressions/expressions.js';
import type { PlanNode } from '../planner/plan.js';
import type { ChildRuns } from './run-deps.js';
import type { ModelCaller } from '../calls/model-call.js';
import type { Storage } from '../storage/storage.js';
import type { TrellisEventEmitter } from '../kernel/events.js';
import { fillPlaceholders } from '../expressions/placeholders.js';
import type { AttemptCalls } from './attempt-calls.js';

/** What the context asks of the runner that made it. */
export interface StepContextHost {
  /** The incoming edges followed into `nodeId` in scope `prefix`. */
  arrived(prefix: string, nodeId: string): ArrivedInput[];
}

/** The services a step context uses, and no others (the run's RunDeps has them all). */
export interface StepContextServices {
  readonly clock: Clock;
  /** Where `node:token` events go. */
  readonly events: TrellisEventEmitter;
  readonly models: Pick<ModelCaller, 'call'>;
  readonly storage: Pick<Storage, 'getPrompt'>;
  readonly children: Pick<ChildRuns, 'startChild'>;
}

/** Everything one step attempt's context is made from. */
export interface StepContextParts {
  readonly deps: StepContextServices;
  readonly run: RunRecord;
  readonly step: StepRecord;
  /** The step's scope (its path without the node id). */
  readonly prefix: string;
  readonly node: PlanNode;
  /** The scope's context (read-only for the handler). */
  readonly context: Readonly<Record<string, unknown>>;
  /** Read lazily: an AbortSignal is only created when a handler looks at it. */
  readonly signal: { readonly signal: AbortSignal };
  readonly host: StepContextHost;
  /** The attempt's model calls: their records, committed with the step, and those in flight. */
  readonly calls: AttemptCalls;
  /** An approver allowed this attempt's over-budget call: its model calls skip the run's budget check. */
  readonly budgetWaived: boolean;
  /** The step attempt's span, when it is traced: the parent of its model calls' spans. */
  readonly trace: TraceScope | undefined;
}

export class RunStepContext implements StepContext {
  readonly executionId: string;
  readonly workflowId: string;
  readonly node: WorkflowNode;
  readonly config: Record<string, unknown>;
  readonly path: string;
  readonly attempt: number;
  readonly clock: Clock;
  readonly context: Readonly<Record<string, unknown>>;
  readonly #parts: StepContextParts;
  #idempotencyKey: string | undefined;
  #services: StepServices | undefined;
  #evaluate: StepContext['evaluate'] | undefined;
  #render: StepContext['render'] | undefined;

  constructor(parts: StepContextParts) {
    this.#parts = parts;
    this.executionId = parts.run.id;
    this.workflowId = parts.run.workflow_id;
    this.node = parts.node.node;
    this.config = parts.node.node.config;
    this.path = parts.step.path;
    this.attempt = parts.step.attempt;
    this.clock = parts.deps.clock;
    this.context = parts.context;
  }

  /** Stable across re-runs of this attempt after a crash, so providers and webhooks can deduplicate. */
  get idempotencyKey(): string {
    return (this.#idempotencyKey ??= `${this.executionId}:${this.path}:${this.attempt}`);
  }

  get signal(): AbortSignal {
    return this.#parts.signal.signal;
  }

  get arrived(): readonly ArrivedInput[] {
    return this.#parts.host.arrived(this.#parts.prefix, this.#parts.node.id);
  }

  // Handlers may pass these around detached from `ctx`, so each is a closure, made on first use.
  get hasOutput(): (name: string) => boolean {
    const outgoing = this.#parts.node.outgoing;
    return (name) => outgoing.some((e) => e.source_output === name);
  }

  get evaluate(): (expression: string, extra?: Readonly<Record<string, unknown>>) => unknown {
    return (this.#evaluate ??= (expression, extra) => compileExpression(expression).evaluate(extra ? { ...this.context, ...extra } : this.context));
  }

  get render(): (template: string, extra?: Readonly<Record<string, unknown>>) => string {
    return (this.#render ??= (template, extra) => fillPlaceholders(template, extra ? { ...this.context, ...extra } : this.context));
  }

  get services(): StepServices {
    return (this.#services ??= stepServices(this.idempotencyKey, this.#parts));
  }
}

function stepServices(idempotencyKey: string, parts: StepContextParts): StepServices {
  return new RunStepServices(idempotencyKey, parts);
}

/**
 * The services of one step. A class, not an object literal: one is made for every step that calls
 * a model and lives as long as the step, and V8 pretenures the objects of a literal's site when most
 * of them survive a young collection (see "Allocation sites" in docs/performance-notes.md).
 * The methods are own arrow functions, so a handler may destructure them.
 */
class RunStepServices implements StepServices {
  readonly callModel: StepServices['callModel'];
  readonly getPrompt: StepServices['getPrompt'];
  readonly startChild: StepServices['startChild'];

  constructor(idempotencyKey: string, parts: StepContextParts) {
    const { deps, run, step } = parts;
    this.callModel = (call: ModelCall): Promise<ModelResult> => deps.models.call(call, new StepCallSite(parts, idempotencyKey, parts.budgetWaived));
    this.getPrompt = (id: string, version?: number): Promise<PromptRecord | undefined> => deps.storage.getPrompt(id, version);
    this.startChild = (workflowId: string, version: number | undefined, input: Json): Promise<string> =>
      deps.children.startChild(run, step.path, workflowId, version, input, `child:${run.id}:${step.path}`);
  }
}

/** Who makes a model call: a class, so that `signal` stays lazy without a getter in an object literal (slow dictionary mode). */
class StepCallSite implements CallSite {
  readonly runId: string;
  readonly nodeId: string;
  readonly path: string;
  readonly attempt: number;
  readonly idempotencyKey: string;
  readonly budgetWaived: boolean;
  readonly trace: TraceScope | undefined;
  readonly #parts: StepContextParts;

  constructor(parts: StepContextParts, idempotencyKey: string, budgetWaived: boolean) {
    this.#parts = parts;
    this.runId = parts.run.id;
    this.nodeId = parts.node.id;
    this.path = parts.step.path;
    this.attempt = parts.step.attempt;
    this.idempotencyKey = idempotencyKey;
    this.budgetWaived = budgetWaived;
    this.trace = parts.trace;
  }

  get signal(): AbortSignal {
    return this.#parts.signal.signal;
  }

  onToken(delta: string): void {
    const { deps, run } = this.#parts;
    deps.events.publish('node:token', { executionId: run.id, workflowId: run.workflow_id, timestamp: deps.clock.now(), nodeId: this.nodeId, path: this.path, delta });
  }

  record(record: ModelCallRecord): void {
    this.#parts.calls.records.push(record);
  }

  sending(failed: (error: unknown) => ModelCallRecord): () => void {
    return this.#parts.calls.sending(failed);
  }
}
