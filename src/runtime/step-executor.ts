/**
 * Executes one run's step attempts: a step starts once its `running` row is committed (so effects
 * follow durable state), or at once, joining that commit, when its handler is pure. It holds the
 * run's step budget while it runs, is aborted by its `timeout_ms` or by cancellation, and hands its
 * outcome and LLM records back to the runner, which decides what follows. Internal to the runner.
 */
import type { RunRecord, StepRecord } from '../storage/records.js';
import type { NodeHandler, NodeResult, WakeSignal } from '../nodes/node-handler.js';
import type { CommitBatch } from './commit-batch.js';
import { TrellisError } from '../kernel/errors.js';
import { InflightStep, type Outcome } from './inflight-step.js';
import { AttemptCalls } from './attempt-calls.js';
import type { Plan } from '../planner/plan.js';
import type { RunDeps } from './run-deps.js';
import { RunStepContext, type StepContextHost } from './step-context.js';
import type { StepBudget } from '../calls/step-budget.js';
import { splitStepPath } from '../planner/step-path.js';
import { plainCopier } from '../kernel/plain.js';
import type { RunTrace } from './run-tracing.js';
import type { TraceScope } from '../telemetry/tracing.js';

// The parts live as long as the run: copied into an object made with `new` (see kernel/plain.ts).
const copyParts = plainCopier<StepExecutorParts>();

/** How many pure steps may run between two commits of one run. */
const MAX_PURE_STEPS_PER_COMMIT = 64;

/** What the executor needs of its run. */
export interface StepExecutorParts {
  readonly deps: RunDeps;
  readonly plan: Plan;
  readonly budget: StepBudget;
  readonly batch: CommitBatch;
  /** The run's spans, when the engine traces and the run is sampled. */
  readonly trace: RunTrace | undefined;
  /** Answers the step contexts' questions about the run (which edges arrived). */
  readonly host: StepContextHost;
  step(path: string): StepRecord | undefined;
  run(): RunRecord;
  /** The context of scope `prefix`. */
  context(prefix: string): Readonly<Record<string, unknown>> | undefined;
  finished(): boolean;
  /** An attempt ended; its LLM records are already queued for the commit. */
  settle(path: string, attempt: number, outcome: Outcome): void;
}

export class StepExecutor {
  readonly #parts: StepExecutorParts;
  /**
   * Attempts executing now, each knowing its slot. An array, not a map by path: a Map whose last
   * entry is deleted shrinks its table, which cost an allocation for every step.
   */
  readonly #inflight: (InflightStep | undefined)[] = [];
  /**
   * How many of `#inflight`'s slots hold an attempt. The array keeps its length (freed slots are
   * cleared, not popped): V8 trims an array's storage when a pop empties it, and every step that
   * ran alone then allocated it again.
   */
  #inflightCount = 0;
  /** Pure steps to run before the next commit, oldest first. */
  readonly #ready: string[] = [];
  /** How many of `#ready`'s entries are queued: the array is reused, not emptied (see `#inflightCount`). */
  #readyCount = 0;
  #draining = false;
  #running = 0;
  #idle: (() => void) | undefined;

  constructor(parts: StepExecutorParts) {
    this.#parts = copyParts(parts);
  }

  /** Steps started and not yet settled (including those waiting for their commit). */
  get running(): number {
    return this.#running;
  }

  /** Whether any handler is executing now. */
  get busy(): boolean {
    return this.#inflightCount > 0;
  }

  /**
   * Starts the `running` step at `path`: after the commit that carries its row, or, for a pure
   * handler, in the next {@link runReady} before that commit. `budgetWaived` says an approver
   * allowed this attempt's over-budget call: its model calls skip the run's budget check.
   */
  start(path: string, wake?: WakeSignal, budgetWaived = false): void {
    const { deps, plan, budget, batch } = this.#parts;
    this.#running++;
    budget.acquire();
    if (wake === undefined && !budgetWaived && deps.handlers.get(plan.nodes.get(this.#parts.step(path)!.node_id)!.type)?.pure === true) this.#ready[this.#readyCount++] = path;
    else batch.after(() => this.#execute(path, wake, budgetWaived));
  }

  /**
   * Runs the pure steps made ready so far. The runner calls it where an entry point is done planning
   * (never in the middle of deciding successors), so a step settling here cannot see its run as
   * finished early.
   */
  runReady(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      // By index, not shift(): a loop can make thousands of steps ready at once. Past a bound the
      // rest wait for the commit, so a long run of pure steps neither holds the event loop nor
      // goes unpersisted for long.
      let i = 0;
      for (; i < this.#readyCount && i < MAX_PURE_STEPS_PER_COMMIT; i++) this.#execute(this.#ready[i]!);
      for (; i < this.#readyCount; i++) {
        const path = this.#ready[i]!;
        this.#parts.batch.after(() => this.#execute(path));
      }
    } finally {
      this.#readyCount = 0;
      this.#draining = false;
    }
  }

  /**
   * Resolves once no step is started and unsettled, after the commit that carries what the last
   * ones did (a draining shutdown waits for it; the caller has stopped new steps from starting).
   */
  idle(): Promise<void> {
    const idle = new Promise<void>((resolve) => (this.#idle = resolve));
    this.#checkIdle();
    return idle;
  }

  #checkIdle(): void {
    const idle = this.#idle;
    if (idle === undefined || this.#running > 0) return;
    this.#idle = undefined;
    this.#parts.batch.after(idle);
    this.#parts.batch.schedule(false);
  }

  /** Aborts the step's attempt, if one is executing: it settles at once with `reason`. */
  abort(path: string, reason: unknown): void {
    for (let i = 0; i < this.#inflightCount; i++) {
      const inflight = this.#inflight[i]!;
      if (inflight.path === path) return inflight.abort(reason);
    }
  }

  abortAll(reason: unknown): void {
    for (const inflight of this.#inflight.slice(0, this.#inflightCount)) inflight!.abort(reason);
  }

  /** A context for `step` that is not an attempt of its own (a loop re-reading its spec on recovery). */
  contextFor(step: StepRecord): RunStepContext {
    return this.#context(step, new InflightStep(step.path), new AttemptCalls(), false);
  }

  #execute(path: string, wake?: WakeSignal, budgetWaived = false): void {
    const parts = this.#parts;
    const step = parts.step(path);
    if (!step || step.status !== 'running' || parts.finished()) {
      this.#running--;
      parts.budget.release();
      this.#checkIdle();
      return;
    }
    const node = parts.plan.nodes.get(step.node_id)!;
    const handler = parts.deps.handlers.get(node.type);
    const inflight = new InflightStep(path);
    this.#enter(inflight);
    const trace = parts.trace;
    const traced = trace?.step(path, node.id, node.type, step.attempt);
    const calls = new AttemptCalls();
    const timeout = node.node.timeout_ms;
    const cancelTimer = timeout === undefined ? undefined : parts.deps.clock.setTimer(() => inflight.abort(new TrellisError('timeout', `Node "${node.id}" timed out after ${timeout} ms`, { nodeId: node.id })), timeout);
    const settled = (outcome: Outcome): void => {
      cancelTimer?.();
      if (traced !== undefined) trace!.endStep(traced.span, outcome);
      this.#leave(inflight);
      this.#running--;
      parts.budget.release();
      if (inflight.aborted) calls.aborted(inflight.reason);
      parts.batch.calls(calls.records);
      parts.settle(path, step.attempt, outcome);
      this.#checkIdle();
    };
    let pending: NodeResult | Promise<NodeResult>;
    try {
      if (!handler) throw new TrellisError('not_implemented', `Node type "${node.type}" (node "${node.id}") is not implemented yet`, { nodeId: node.id, retryable: false });
      const ctx = this.#context(step, inflight, calls, budgetWaived, traced);
      if (wake) {
        if (!handler.resume) throw new TrellisError('illegal_state', `Node type "${node.type}" cannot be woken`, { nodeId: node.id });
        const { resume } = handler;
        pending = traced === undefined ? resume.call(handler, ctx, wake) : trace!.tracing.with(traced, () => resume.call(handler, ctx, wake));
      } else {
        // With the step's span active, what the handler runs (child runs, host code) nests under it.
        pending = traced === undefined || !nestsWork(handler) ? handler.execute(ctx) : trace!.tracing.with(traced, () => handler.execute(ctx));
      }
    } catch (error) {
      settled({ error: inflight.aborted && inflight.reason !== undefined ? inflight.reason : error });
      return;
    }
    // Settles on the handler's answer or on abort, whichever comes first: a handler that ignores its signal cannot hang the run.
    if (pending instanceof Promise) inflight.watch(pending, settled);
    else settled({ result: pending });
  }

  #enter(inflight: InflightStep): void {
    inflight.slot = this.#inflightCount;
    this.#inflight[this.#inflightCount++] = inflight;
  }

  /** Removes `inflight` by moving the last attempt into its slot. */
  #leave(inflight: InflightStep): void {
    const lastSlot = --this.#inflightCount;
    const last = this.#inflight[lastSlot]!;
    this.#inflight[lastSlot] = undefined;
    if (last !== inflight) {
      last.slot = inflight.slot;
      this.#inflight[inflight.slot] = last;
    }
  }

  #context(step: StepRecord, inflight: { readonly signal: AbortSignal }, calls: AttemptCalls, budgetWaived: boolean, trace?: TraceScope): RunStepContext {
    const parts = this.#parts;
    const { prefix } = splitStepPath(step.path);
    return new RunStepContext({
      deps: parts.deps,
      run: parts.run(),
      step,
      prefix,
      node: parts.plan.nodes.get(step.node_id)!,
      context: parts.context(prefix) ?? {},
      signal: inflight,
      host: parts.host,
      calls,
      budgetWaived,
      trace,
    });
  }
}

/**
 * Whether work a handler starts should run with its step's span active. Not for a pure handler (no
 * I/O, no host code), nor for the prompt node, whose outside work is its provider requests and
 * tools, each run under a span of its own: making the step's span active too costs every LLM step.
 */
function nestsWork(handler: NodeHandler): boolean {
  return handler.pure !== true && handler.type !== 'prompt_execution';
}
