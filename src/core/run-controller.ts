/**
 * Advances one run: asks the planner what is ready, executes steps through their handlers,
 * applies retries and timeouts, and commits each step's facts (its row, the rows of the steps it
 * made ready or skipped, its LLM execution records) in one transaction. Steps that settle in the
 * same tick commit together. Events are emitted only after the commit.
 */
import type { Json, LlmExecutionRecord, RunRecord, StepRecord, StoredError, Waiter } from '../storage/records.js';
import type { RunPatch } from '../storage/storage.js';
import type { ArrivedInput, CompletedResult, IterateResult, NodeResult, StepContext, WakeSignal } from '../nodes/node-handler.js';
import { compileExpression } from './expressions.js';
import { blockingSource, edgeFollowed, isTerminal, readiness, type PlannerView } from './planner.js';
import type { Plan, PlanEdge } from './plan.js';
import { splitStepPath } from './step-path.js';
import { ScopeContexts } from './scope-contexts.js';
import { LoopIterations } from './loop-iterations.js';
import { IllegalStateError, TrellisError, toTrellisError } from './errors.js';
import { NO_RETRY, retryDelay, shouldRetry } from './retry.js';
import type { RunDeps } from './run-deps.js';
import type { StepBudget } from './step-budget.js';
import { sumUsage } from './run-usage.js';
import { applyRunPatch } from '../storage/storage-helpers.js';
import { InflightStep, type Outcome } from './inflight-step.js';
import { RunStepContext, type StepContextHost } from './step-context.js';
import { StepTable } from './step-table.js';
import { toWorkflowExecution, type WorkflowExecution } from './execution-record.js';
import { CommitBatch } from './commit-batch.js';


/** How many pure steps may run between two commits of one run. */
const MAX_PURE_STEPS_PER_COMMIT = 64;

/** Drives one run in this process. Created by the engine; not part of the public API. */
export class RunController implements PlannerView, StepContextHost {
  readonly #deps: RunDeps;
  readonly #plan: Plan;
  #run: RunRecord;
  /** The run's usage totals, kept apart from `#run` (see `run`). */
  #usage: Json | undefined;
  readonly #steps = new StepTable();
  readonly #contexts: ScopeContexts;
  readonly #inflight = new Map<string, InflightStep>();
  readonly #timers = new Map<string, () => void>();
  readonly #loops: LoopIterations;
  #runTimeout: (() => void) | undefined;
  #running = 0;
  /** Pure steps to run before the next commit, oldest first. */
  readonly #ready: string[] = [];
  /** Joins known to wait, by step path, with a source step path that keeps them waiting. */
  readonly #blockers = new Map<string, string>();
  #draining = false;
  /** The run's step budget, shared with its sub-workflow runs. */
  readonly budget: StepBudget;
  readonly #unsubscribeBudget: (() => void) | undefined;
  #finished = false;
  #paused = false;
  readonly #batch: CommitBatch;
  readonly #done: Promise<RunRecord>;
  #resolveDone!: (run: RunRecord) => void;
  #rejectDone!: (error: unknown) => void;

  constructor(deps: RunDeps, plan: Plan, run: RunRecord, budget: StepBudget) {
    this.#deps = deps;
    this.#plan = plan;
    this.#run = run;
    this.#usage = run.usage;
    this.budget = budget;
    this.#unsubscribeBudget = budget.limit === undefined ? undefined : budget.subscribe(() => {
      this.#pumpPending();
      this.#scheduleFlush();
    });
    this.#paused = run.status === 'paused'; // refined in #restore: a run paused only by approvals is not user-paused
    this.#contexts = new ScopeContexts({ input: run.input_data, variables: run.variables });
    this.#batch = new CommitBatch(run.id, {
      storage: () => deps.storage,
      // Usage totals ride along when the run row is written anyway (and always at the end), so an
      // ordinary step costs no run-row write; recovery recomputes them from the execution records.
      prepare: (patch, executions) => {
        if (executions.length > 0) this.#usage = sumUsage(asObject(this.#usage) ?? {}, executions);
        return patch !== undefined && this.#usage !== undefined ? { ...patch, usage: this.#usage } : patch;
      },
      failed: (error) => this.#abandon(error),
    });
    this.#loops = new LoopIterations({
      plan,
      contexts: this.#contexts,
      view: this,
      finished: () => this.#finished,
      decide: (prefix, nodeId) => this.#decide(prefix, nodeId),
      completeLoop: (path, results) => {
        const step = this.#steps.get(path);
        if (step?.status === 'running') this.#complete(step, { status: 'completed', output: results, fired: ['done'] });
      },
      failLoop: (path, error) => {
        const step = this.#steps.get(path);
        if (step?.status === 'running') this.#fail(step, error);
      },
    });
    this.#done = new Promise((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    this.#done.catch(() => undefined);
  }

  get id(): string {
    return this.#run.id;
  }

  get run(): RunRecord {
    // Usage totals change with every LLM step; they join the record only when someone reads it.
    if (this.#usage !== this.#run.usage) this.#run = applyRunPatch(this.#run, { usage: this.#usage });
    return this.#run;
  }

  /**
   * The run's execution record from this process's state. Once `done` resolved this is exactly
   * what was committed, so a caller waiting for the run needs no read back from storage.
   */
  execution(): WorkflowExecution {
    return toWorkflowExecution(this.run, [...this.#steps.values()], this.#plan.workflow);
  }

  /** Resolves with the final run record when the run completes, fails or is cancelled. */
  get done(): Promise<RunRecord> {
    return this.#done;
  }

  /** Child runs this run's waiting `sub_workflow` steps wait for, by step path. */
  childWaits(): { path: string; childId: string }[] {
    return this.waitingSteps().flatMap((s) => (s.waiter?.kind === 'child' && s.waiter.child_id !== undefined ? [{ path: s.path, childId: s.waiter.child_id }] : []));
  }

  /** Steps waiting for the event `name`. */
  eventWaiters(name: string): StepRecord[] {
    return this.waitingSteps().filter((s) => s.waiter?.kind === 'event' && s.waiter.event === name);
  }

  /** Steps currently waiting (approvals, timers, events). */
  waitingSteps(): StepRecord[] {
    return this.#steps.waiting();
  }

  // ---- PlannerView ----
  step(path: string): StepRecord | undefined {
    return this.#steps.get(path);
  }

  conditionHolds(edge: PlanEdge, prefix: string): boolean {
    return Boolean(compileExpression(edge.condition!).evaluate(this.#contexts.get(prefix) ?? {}));
  }

  // ---- Entry points ----

  /** Starts a fresh run, or continues one from its committed steps (recovery). */
  begin(steps: readonly StepRecord[]): void {
    this.#armRunTimeout();
    if (steps.length === 0) {
      this.#launch('', this.#plan.startId);
    } else {
      this.#restore(steps);
    }
    this.#maybeFinish();
    this.#scheduleFlush();
  }

  /** `settings.timeout_ms` bounds the whole run, measured from its start, across restarts. */
  #armRunTimeout(): void {
    const limit = this.#plan.workflow.definition.settings?.timeout_ms;
    if (limit === undefined) return;
    const due = (this.#run.started_at ?? this.#run.created_at) + limit;
    const cancel = this.#deps.clock.setTimer(() => {
      if (this.#finished) return;
      const message = `Run timed out after ${limit} ms`;
      this.#stopEverything(new TrellisError('timeout', message));
      this.#finish({ status: 'failed', error_message: message });
      this.#later(() => this.#emit('execution:failed', { error: { code: 'timeout', message } }));
      this.#scheduleFlush();
    }, due - this.#deps.clock.now());
    this.#runTimeout = cancel;
  }

  /**
   * Wakes a waiting step (approval, timer, event, child). Throws IllegalStateError when it is not
   * waiting for that. Resolves once the change is committed.
   */
  wake(path: string, signal: WakeSignal): Promise<void> {
    const step = this.#steps.get(path);
    if (!step || step.status !== 'waiting' || !step.waiter) {
      throw new IllegalStateError(`Step "${path}" of run ${this.id} is not waiting${step ? ` (it is ${step.status})` : ''}`, { executionId: this.id, nodeId: step?.node_id ?? path });
    }
    if (signal.kind !== 'timer' && signal.kind !== step.waiter.kind) {
      throw new IllegalStateError(`Step "${path}" waits for ${step.waiter.kind}, not ${signal.kind}`, { executionId: this.id, nodeId: step.node_id });
    }
    this.#timers.get(path)?.();
    this.#timers.delete(path);
    if (signal.kind === 'approval' && (asObject(step.waiter.detail ?? null)?.reason as unknown) === 'budget') {
      if (!signal.approved) {
        this.#put(strip({ ...step, status: 'running', waiter: undefined }));
        this.#fail(this.#steps.get(path)!, new TrellisError('budget_exceeded', `Over-budget call refused by approver${signal.reason ? `: ${signal.reason}` : ''}`, { nodeId: step.node_id, retryable: false, details: { refused: true } }));
        this.#maybeFinish();
        return this.#committed();
      }
      // Approved: run the step again with its budget check waived for this attempt.
      this.#put(strip({ ...step, status: 'running', waiter: undefined, error: undefined, state: { ...(asObject(step.state) ?? {}), budget_waived: true } }));
      if (this.#run.status === 'paused' && !this.#paused) this.#patchRun({ status: 'running' });
      this.#later(() => this.#emitStarted(this.#steps.get(path)!));
      this.#startExecution(path);
      return this.#committed();
    }
    if (step.waiter.kind === 'retry') {
      this.#put(strip({ ...step, status: 'running', attempt: step.attempt + 1, started_at: this.#deps.clock.now(), waiter: undefined }));
      this.#later(() => this.#emitStarted(this.#steps.get(path)!));
      this.#startExecution(path);
    } else {
      this.#put(strip({ ...step, status: 'running', waiter: undefined }));
      if (this.#run.status === 'paused' && !this.#paused) this.#patchRun({ status: 'running' });
      const due = step.waiter.due_at;
      this.#startExecution(path, signal.kind === 'event' && due !== undefined ? { ...signal, dueAt: due } : signal);
    }
    return this.#committed();
  }

  /** Pauses: nothing new starts; in-flight steps finish and are recorded. Resolves once committed. */
  pause(): Promise<void> {
    if (this.#finished || this.#run.status !== 'running') throw new IllegalStateError(`Execution ${this.id} is ${this.#run.status}; only a running execution can be paused`, { executionId: this.id });
    this.#paused = true;
    this.#patchRun({ status: 'paused' });
    this.#later(() => this.#emit('execution:paused', { reason: 'user' }));
    return this.#committed();
  }

  /** Resumes a paused run: pending steps start. Resolves once committed. */
  resume(): Promise<void> {
    if (this.#finished || this.#run.status !== 'paused') throw new IllegalStateError(`Execution ${this.id} is ${this.#run.status}; only a paused execution can be resumed`, { executionId: this.id });
    this.#paused = false;
    this.#patchRun({ status: 'running' });
    this.#later(() => this.#emit('execution:resumed', {}));
    for (const path of [...this.#steps.pending]) this.#promote(path);
    this.#maybeFinish();
    return this.#committed();
  }

  /** Resolves after the next commit, which carries every change made so far. */
  #committed(): Promise<void> {
    const done = new Promise<void>((resolve) => this.#batch.after(resolve));
    this.#scheduleFlush();
    return done;
  }

  /** Cancels: aborts in-flight steps (failed, reason cancelled), skips pending and waiting ones. */
  cancel(reason = 'cancelled'): void {
    if (this.#finished) return;
    this.#stopEverything(new TrellisError('cancelled', reason));
    this.#finish({ status: 'cancelled', error_message: reason });
    this.#later(() => this.#emit('execution:cancelled', { reason }));
    this.#scheduleFlush();
  }

  /** Stops driving the run without changing it (engine shutdown); another engine may recover it. */
  detach(): void {
    this.#unsubscribeBudget?.();
    this.#runTimeout?.();
    for (const cancel of this.#timers.values()) cancel();
    this.#timers.clear();
    this.#finished = true;
  }

  // ---- Launching and executing steps ----

  #launch(prefix: string, nodeId: string): void {
    const now = this.#deps.clock.now();
    const path = prefix + nodeId;
    const canRun = !this.#paused && this.#hasBudget();
    const step: StepRecord = { run_id: this.id, path, node_id: nodeId, seq: this.#steps.nextSeq(), status: canRun ? 'running' : 'pending', attempt: 1, started_at: now };
    this.#put(step);
    if (canRun) {
      this.#later(() => this.#emitStarted(this.#steps.get(path)!));
      this.#startExecution(path);
    }
  }

  #promote(path: string): void {
    const step = this.#steps.get(path)!;
    if (this.#paused || !this.#hasBudget()) return;
    this.#put({ ...step, status: 'running', started_at: this.#deps.clock.now() });
    this.#later(() => this.#emitStarted(this.#steps.get(path)!));
    this.#startExecution(path);
  }

  #hasBudget(): boolean {
    return this.budget.hasRoom();
  }

  /**
   * Runs the handler once the step's `running` row is committed (so effects follow durable state);
   * a pure handler (no effects outside the run) runs before that commit, joining it instead.
   */
  #startExecution(path: string, wake?: WakeSignal): void {
    this.#running++;
    this.budget.acquire();
    if (wake === undefined && this.#deps.handlers.get(this.#plan.nodes.get(this.#steps.get(path)!.node_id)!.type)?.pure === true) this.#ready.push(path);
    else this.#batch.after(() => this.#execute(path, wake));
  }

  /**
   * Runs the pure steps made ready so far. Called where an entry point is done planning (never in
   * the middle of an #advance), so a step settling here cannot see its run as finished early.
   */
  #runReady(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      // By index, not shift(): a loop can make thousands of steps ready at once. Past a bound the
      // rest wait for the commit, so a long run of pure steps neither holds the event loop nor
      // goes unpersisted for long.
      let i = 0;
      for (; i < this.#ready.length && i < MAX_PURE_STEPS_PER_COMMIT; i++) this.#execute(this.#ready[i]!);
      for (; i < this.#ready.length; i++) {
        const path = this.#ready[i]!;
        this.#batch.after(() => this.#execute(path));
      }
    } finally {
      this.#ready.length = 0;
      this.#draining = false;
    }
  }

  #execute(path: string, wake?: WakeSignal): void {
    const step = this.#steps.get(path);
    if (!step || step.status !== 'running' || this.#finished) {
      this.#running--;
      this.budget.release();
      return;
    }
    const node = this.#plan.nodes.get(step.node_id)!;
    const handler = this.#deps.handlers.get(node.type);
    const inflight = new InflightStep();
    this.#inflight.set(path, inflight);
    const records: LlmExecutionRecord[] = [];
    const timeout = node.node.timeout_ms;
    const cancelTimer = timeout === undefined ? undefined : this.#deps.clock.setTimer(() => inflight.abort(new TrellisError('timeout', `Node "${node.id}" timed out after ${timeout} ms`, { nodeId: node.id })), timeout);
    const settled = (outcome: Outcome): void => {
      cancelTimer?.();
      this.#inflight.delete(path);
      this.#running--;
      this.budget.release();
      this.#batch.executions(records);
      this.#settle(path, step.attempt, outcome);
    };
    let pending: NodeResult | Promise<NodeResult>;
    try {
      if (!handler) throw new TrellisError('not_implemented', `Node type "${node.type}" (node "${node.id}") is not implemented yet`, { nodeId: node.id, retryable: false });
      const ctx = this.#stepContext(step, inflight, records);
      if (wake) {
        if (!handler.resume) throw new TrellisError('illegal_state', `Node type "${node.type}" cannot be woken`, { nodeId: node.id });
        pending = handler.resume(ctx, wake);
      } else {
        pending = handler.execute(ctx);
      }
    } catch (error) {
      settled({ error: inflight.aborted && inflight.reason !== undefined ? inflight.reason : error });
      return;
    }
    // Settles on the handler's answer or on abort, whichever comes first: a handler that ignores its signal cannot hang the run.
    if (pending instanceof Promise) inflight.watch(pending, settled);
    else settled({ result: pending });
  }

  #settle(path: string, attempt: number, outcome: Outcome): void {
    const step = this.#steps.get(path);
    if (!step || step.status !== 'running' || step.attempt !== attempt || this.#finished) {
      this.#scheduleFlush();
      return;
    }
    try {
      if (outcome.error !== undefined || !outcome.result) this.#fail(step, toTrellisError(outcome.error ?? new Error('no result')));
      else if (outcome.result.status === 'completed') this.#complete(step, outcome.result);
      else if (outcome.result.status === 'waiting') this.#wait(step, outcome.result.waiter);
      else this.#startLoop(step, outcome.result.spec);
    } catch (error) {
      // A planner-side failure (e.g. an edge condition that does not evaluate) fails the run cleanly.
      this.#failRun(step, toTrellisError(error));
    }
    this.#pumpPending();
    this.#maybeFinish();
    this.#scheduleFlush();
  }

  /** Starts pending steps while the concurrency budget allows. */
  #pumpPending(): void {
    if (this.#paused || this.#finished || this.budget.limit === undefined) return;
    // Oldest first (insertion order), without scanning every step of the run.
    for (const path of [...this.#steps.pending]) {
      if (!this.#hasBudget()) return;
      this.#promote(path);
    }
  }

  #stepContext(step: StepRecord, inflight: { readonly signal: AbortSignal }, records: LlmExecutionRecord[]): StepContext {
    const { prefix } = splitStepPath(step.path);
    return new RunStepContext({
      deps: this.#deps,
      run: this.#run,
      step,
      prefix,
      node: this.#plan.nodes.get(step.node_id)!,
      context: this.#contexts.get(prefix) ?? {},
      signal: inflight,
      host: this,
      records,
    });
  }

  /** The incoming edges that were followed into `nodeId`, with their sources' outputs (StepContextHost). */
  arrived(prefix: string, nodeId: string): ArrivedInput[] {
    const node = this.#plan.nodes.get(nodeId)!;
    const join = this.#plan.joins.get(nodeId);
    const arrived: ArrivedInput[] = [];
    for (const edge of node.incoming) {
      if (edge.kind === 'body') continue;
      const step = this.#steps.get(prefix + edge.source_node_id);
      if (step?.status !== 'completed' || !edgeFollowed(this.#plan.nodes.get(edge.source_node_id)!, step, edge, prefix, this)) continue;
      const branch = join?.branchOf.get(edge.source_node_id);
      arrived.push({ sourceNodeId: edge.source_node_id, output: step.output_data, ...(branch === undefined ? {} : { branch }) });
    }
    return arrived;
  }

  // ---- Outcomes ----

  #complete(step: StepRecord, result: CompletedResult): void {
    const { output, fired, writes, executionId, input } = result;
    const now = this.#deps.clock.now();
    // Built field by field (no spread + delete): this runs for every step.
    const done: MutableStep = { run_id: step.run_id, path: step.path, node_id: step.node_id, seq: step.seq, status: 'completed', attempt: step.attempt, started_at: step.started_at };
    const stepInput = input ?? step.input_data;
    if (stepInput !== undefined) done.input_data = stepInput;
    done.output_data = output;
    if (fired !== undefined) done.fired = fired;
    const state = writes ? ({ ...(asObject(step.state) ?? {}), writes } as Json) : step.state;
    if (state !== undefined) done.state = state;
    if (executionId !== undefined) done.execution_id = executionId;
    done.completed_at = now;
    done.duration_ms = now - step.started_at;
    this.#put(done);
    const { prefix, nodeId } = splitStepPath(step.path);
    this.#contexts.apply(prefix, nodeId, output, writes);
    this.#later(() => this.#emit('node:completed', { nodeId, path: step.path, output, durationMs: done.duration_ms ?? 0 }));
    if (this.#run.recovery_count > 0) this.#patchRun({ recovery_count: 0 });
    const node = this.#plan.nodes.get(nodeId)!;
    if (node.type === 'end' && (node.node.config as { terminate?: boolean }).terminate === true) {
      this.#stopEverything(new TrellisError('cancelled', `run terminated by end node "${nodeId}"`));
      this.#finish({ status: 'completed', output_data: output });
      this.#later(() => this.#emit('execution:completed', { output, durationMs: now - (this.#run.started_at ?? now) }));
      return;
    }
    this.#advance(prefix, nodeId);
  }

  #wait(step: StepRecord, waiter: Waiter): void {
    this.#put(strip({ ...step, status: 'waiting', waiter }));
    this.#armTimer(step.path, waiter);
    const childId = waiter.kind === 'child' ? waiter.child_id : undefined;
    if (childId !== undefined) this.#batch.after(() => this.#deps.childWaiting(childId));
    this.#later(() => this.#emit('node:waiting', { nodeId: step.node_id, path: step.path, kind: waiter.kind, ...(waiter.due_at === undefined ? {} : { dueAt: waiter.due_at }) }));
  }

  #armTimer(path: string, waiter: Waiter): void {
    if (waiter.due_at === undefined) return;
    this.#timers.get(path)?.();
    const cancel = this.#deps.clock.setTimer(() => {
      this.#timers.delete(path);
      const current = this.#steps.get(path);
      if (!this.#finished && current?.status === 'waiting') void this.wake(path, { kind: 'timer' });
    }, waiter.due_at - this.#deps.clock.now());
    this.#timers.set(path, cancel);
  }

  #fail(step: StepRecord, error: TrellisError): void {
    const node = this.#plan.nodes.get(step.node_id)!;
    const policy = node.node.retry_policy ?? this.#plan.workflow.definition.settings?.retry_policy ?? NO_RETRY;
    const stored: StoredError = { code: error.code, message: error.message };
    const attempts = [...((asObject(step.state)?.attempts as Json[] | undefined) ?? []), { attempt: step.attempt, error: stored as unknown as Json, started_at: step.started_at, failed_at: this.#deps.clock.now() }];
    if (!this.#finished && shouldRetry(policy, error, step.attempt)) {
      const delay = retryDelay(policy, error, step.attempt, this.#deps.random);
      const waiter: Waiter = { kind: 'retry', due_at: this.#deps.clock.now() + delay };
      this.#put({ ...step, status: 'waiting', waiter, error: stored, state: { ...(asObject(step.state) ?? {}), attempts } });
      this.#armTimer(step.path, waiter);
      this.#later(() => this.#emit('node:failed', { nodeId: step.node_id, path: step.path, error: stored, attempt: step.attempt, willRetry: true }));
      return;
    }
    if (error.code === 'budget_exceeded' && error.details?.refused !== true && this.#plan.workflow.definition.settings?.budget?.on_exceed === 'pause' && !this.#finished) {
      // Over budget: wait for a human to allow this call (approve) or refuse it (reject).
      const waiter: Waiter = { kind: 'approval', detail: { reason: 'budget', message: error.message } };
      this.#put({ ...step, status: 'waiting', waiter, error: stored, state: { ...(asObject(step.state) ?? {}), attempts } });
      this.#later(() => this.#emit('node:waiting', { nodeId: step.node_id, path: step.path, kind: 'approval' }));
      return;
    }
    const now = this.#deps.clock.now();
    this.#put({ ...step, status: 'failed', error: stored, state: { ...(asObject(step.state) ?? {}), attempts }, completed_at: now, duration_ms: now - step.started_at });
    this.#later(() => this.#emit('node:failed', { nodeId: step.node_id, path: step.path, error: stored, attempt: step.attempt, willRetry: false }));
    const { prefix, nodeId } = splitStepPath(step.path);
    if (this.#plan.tolerant.has(nodeId)) {
      this.#advance(prefix, nodeId);
      return;
    }
    const handlerId = this.#plan.workflow.definition.settings?.error_handler_node_id;
    if (handlerId !== undefined && !this.#steps.has(handlerId) && handlerId !== nodeId) {
      const root = this.#contexts.get('')!;
      root.error = { node_id: nodeId, path: step.path, code: error.code, message: error.message };
      this.#stopEverything(new TrellisError('cancelled', `node "${nodeId}" failed; routed to error handler "${handlerId}"`));
      this.#launch('', handlerId);
      return;
    }
    this.#failRun(step, error);
  }

  #failRun(step: StepRecord, error: TrellisError): void {
    if (this.#finished) return;
    const message = `Node "${step.node_id}" failed: ${error.message}`;
    this.#stopEverything(new TrellisError('cancelled', `run failed at node "${step.node_id}"`));
    this.#finish({ status: 'failed', error_message: message });
    this.#later(() => this.#emit('execution:failed', { error: { code: error.code, message } }));
  }

  // ---- Planning ----

  /** After a step settled: decide its successors, then whether its iteration or loop is done. */
  #advance(prefix: string, nodeId: string): void {
    if (this.#finished) return;
    const node = this.#plan.nodes.get(nodeId)!;
    for (const edge of node.outgoing) this.#decide(prefix, edge.target_node_id);
    if (node.loopId !== undefined && prefix !== '') this.#loops.check(prefix);
  }

  #decide(prefix: string, nodeId: string): void {
    if (this.#finished) return;
    // A join over many branches is asked after each branch settles: while a known blocker is
    // unsettled the answer is still `wait`, without rescanning every incoming edge.
    const key = prefix + nodeId;
    const blocker = this.#blockers.get(key);
    if (blocker !== undefined) {
      if (!isTerminal(this.#steps.get(blocker))) return;
      this.#blockers.delete(key);
    }
    const verdict = readiness(this.#plan, this, prefix, nodeId);
    switch (verdict.kind) {
      case 'ready':
        if (verdict.early) this.#cancelRegion(prefix, nodeId);
        this.#launch(prefix, nodeId);
        return;
      case 'skip':
        this.#skip(prefix, nodeId, verdict.reason);
        this.#advance(prefix, nodeId);
        return;
      case 'fail': {
        const step: StepRecord = { run_id: this.id, path: prefix + nodeId, node_id: nodeId, seq: this.#steps.nextSeq(), status: 'running', attempt: 1, started_at: this.#deps.clock.now() };
        this.#put(step);
        this.#fail(step, new TrellisError('node_failed', verdict.reason, { nodeId, retryable: false }));
        return;
      }
      case 'wait': {
        const source = blockingSource(this.#plan, this, prefix, nodeId);
        if (source !== undefined) this.#blockers.set(key, source);
        return;
      }
      default:
        return;
    }
  }

  #skip(prefix: string, nodeId: string, reason: string): void {
    const now = this.#deps.clock.now();
    const path = prefix + nodeId;
    this.#put({ run_id: this.id, path, node_id: nodeId, seq: this.#steps.nextSeq(), status: 'skipped', attempt: 0, started_at: now, completed_at: now, duration_ms: 0, error: { code: 'skipped', message: reason } });
    this.#later(() => this.#emit('node:skipped', { nodeId, path, reason }));
  }

  /** A join fired early (`any`/`count`): branches still running lose; unstarted ones are skipped. */
  #cancelRegion(prefix: string, mergeId: string): void {
    const join = this.#plan.joins.get(mergeId)!;
    for (const id of join.region) {
      const path = prefix + id;
      const step = this.#steps.get(path);
      if (step === undefined) this.#skip(prefix, id, `branch lost: "${mergeId}" had enough branches`);
      else if (!isTerminal(step)) this.#supersede(step, 'branch lost the race');
      this.#cancelNested(path + '[');
    }
  }

  /** Marks a live step skipped and aborts its work. */
  #supersede(step: StepRecord, reason: string): void {
    this.#inflight.get(step.path)?.abort(new TrellisError('cancelled', reason));
    this.#timers.get(step.path)?.();
    this.#timers.delete(step.path);
    const now = this.#deps.clock.now();
    this.#put(strip({ ...step, status: 'skipped', waiter: undefined, error: { code: 'cancelled', message: reason }, completed_at: now, duration_ms: now - step.started_at }));
    this.#later(() => this.#emit('node:skipped', { nodeId: step.node_id, path: step.path, reason }));
  }

  #cancelNested(pathPrefix: string): void {
    for (const step of this.#steps.values()) if (step.path.startsWith(pathPrefix) && !isTerminal(step)) this.#supersede(step, 'enclosing step was cancelled');
  }

  /** Ends every live step: running ones fail with `cancelled`, waiting and pending ones are skipped. */
  #stopEverything(reason: TrellisError): void {
    const now = this.#deps.clock.now();
    for (const step of [...this.#steps.values()]) {
      if (isTerminal(step)) continue;
      this.#inflight.get(step.path)?.abort(reason);
      this.#timers.get(step.path)?.();
      this.#timers.delete(step.path);
      const stored: StoredError = { code: 'cancelled', message: reason.message };
      if (step.status === 'running' && this.#plan.nodes.get(step.node_id)?.type !== 'loop') {
        this.#put(strip({ ...step, status: 'failed', error: stored, completed_at: now, duration_ms: now - step.started_at }));
      } else {
        this.#put(strip({ ...step, status: 'skipped', waiter: undefined, error: stored, completed_at: now, duration_ms: now - step.started_at }));
      }
    }
  }

  // ---- Loops ----

  #startLoop(step: StepRecord, spec: IterateResult['spec']): void {
    const total = spec.mode === 'list' ? spec.items.length : spec.mode === 'count' ? spec.count : null;
    this.#put({ ...step, state: { ...(asObject(step.state) ?? {}), mode: spec.mode, total } });
    this.#loops.start(step, spec);
  }

  // ---- Recovery ----

  #restore(steps: readonly StepRecord[]): void {
    const ordered = this.#steps.load(steps);
    // Rebuild contexts and loop runtimes in the order things happened.
    for (const step of ordered) {
      const { prefix, nodeId } = splitStepPath(step.path);
      // An iteration of a loop that already finished needs no scope.
      if (prefix !== '' && !this.#contexts.get(prefix) && !this.#loops.reopen(prefix)) continue;
      if (step.status === 'completed') {
        this.#contexts.apply(prefix, nodeId, step.output_data, asObject(step.state)?.writes as Record<string, Json> | undefined);
      } else if (step.status === 'running' && this.#plan.nodes.get(nodeId)?.type === 'loop') {
        this.#restoreLoop(step);
      }
    }
    // Re-run what was in flight (same attempt, same idempotency key), re-arm waits, resume pending.
    for (const step of ordered) {
      if (step.status === 'running' && this.#plan.nodes.get(step.node_id)?.type !== 'loop') {
        this.#later(() => this.#emitStarted(step));
        this.#startExecution(step.path);
      } else if (step.status === 'waiting' && step.waiter) {
        this.#armTimer(step.path, step.waiter);
      }
    }
    // `paused` is stored for both a user pause and "waiting for a human"; only approvals waiting means the latter.
    const onlyApprovals = ordered.every((s) => isTerminal(s) || this.#loops.has(s.path) || (s.status === 'waiting' && s.waiter?.kind === 'approval'));
    if (this.#paused && onlyApprovals) this.#paused = false;
    for (const path of [...this.#steps.pending]) this.#promote(path);
    // Decide whatever the committed facts make ready.
    for (const step of ordered) {
      if (!isTerminal(step)) continue;
      const { prefix, nodeId } = splitStepPath(step.path);
      if (prefix !== '' && !this.#contexts.get(prefix)) continue;
      this.#advance(prefix, nodeId);
    }
    this.#loops.fillAll();
  }

  #restoreLoop(step: StepRecord): void {
    const handler = this.#deps.handlers.get('loop')!;
    const result = handler.execute(this.#stepContext(step, new InflightStep(), []));
    if (result instanceof Promise || result.status !== 'iterate') return;
    this.#loops.restore(step, result.spec, this.#steps.values());
  }

  // ---- State, commits and events ----

  #put(step: StepRecord): void {
    this.#steps.put(step);
    this.#batch.step(step);
  }

  #patchRun(patch: RunPatch): void {
    this.#batch.patch(patch);
    // The same explicit builder the storages use: this record mirrors the committed row.
    this.#run = applyRunPatch(this.#run, patch);
  }

  #maybeFinish(): void {
    if (this.#finished) return;
    if (this.#steps.live > 0) {
      this.#maybeMarkAwaitingApproval();
      return;
    }
    let output: Json | undefined;
    let seq = -1;
    for (const step of this.#steps.values()) {
      if (step.status === 'completed' && step.path === step.node_id && this.#plan.nodes.get(step.node_id)?.type === 'end' && step.seq > seq) {
        seq = step.seq;
        output = step.output_data;
      }
    }
    const now = this.#deps.clock.now();
    this.#finish({ status: 'completed', output_data: output ?? null });
    this.#later(() => this.#emit('execution:completed', { output: output ?? null, durationMs: now - (this.#run.started_at ?? now) }));
  }

  /** A run whose only live steps wait for a human is `paused` (with what it waits for in its steps). */
  #maybeMarkAwaitingApproval(): void {
    if (this.#run.status !== 'running' || this.#running > 0) return;
    let waiting = false;
    for (const step of this.#steps.values()) {
      if (isTerminal(step) || this.#loops.has(step.path)) continue; // a running loop only holds its iterations
      if (step.status !== 'waiting' || step.waiter?.kind !== 'approval') return;
      waiting = true;
    }
    if (!waiting) return;
    this.#patchRun({ status: 'paused' });
    this.#later(() => this.#emit('execution:paused', { reason: 'approval' }));
  }

  #finish(patch: RunPatch): void {
    this.#finished = true;
    this.#unsubscribeBudget?.();
    for (const cancel of this.#timers.values()) cancel();
    this.#timers.clear();
    this.#runTimeout?.();
    this.#patchRun({ ...patch, completed_at: this.#deps.clock.now(), owner: undefined, lease_expires_at: undefined });
    this.#batch.after(() => {
      this.#deps.onFinished(this.id);
      this.#deps.onSettled(this.run);
      this.#resolveDone(this.run);
    });
  }

  #scheduleFlush(): void {
    this.#runReady();
    // While other steps are still executing, give them a tick to settle so they commit together.
    this.#batch.schedule(this.#inflight.size > 0);
  }

  /** A write failed: stop driving the run in memory; its committed state stays the truth for recovery. */
  #abandon(error: TrellisError): void {
    this.detach();
    for (const inflight of this.#inflight.values()) inflight.abort(error);
    this.#deps.onFinished(this.id);
    this.#rejectDone(error);
  }

  /** Queues an event for after the commit; skipped outright when nobody listens. */
  #later(emit: () => void): void {
    if (this.#deps.events.hasListeners()) this.#batch.after(emit);
  }

  #emitStarted(step: StepRecord): void {
    this.#emit('node:started', { nodeId: step.node_id, path: step.path, nodeType: this.#plan.nodes.get(step.node_id)?.type ?? 'unknown', attempt: step.attempt });
  }

  #base(): { executionId: string; workflowId: string; timestamp: number } {
    return { executionId: this.id, workflowId: this.#run.workflow_id, timestamp: this.#deps.clock.now() };
  }

  #emit(event: string, payload: Record<string, unknown>): void {
    const events = this.#deps.events;
    if (events.listenerCount(event as never) === 0) return;
    events.publish(event as never, { ...this.#base(), ...payload } as never);
  }
}

function asObject(value: Json | undefined): Record<string, Json> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, Json>) : undefined;
}

type Loose<T> = { [K in keyof T]?: T[K] | undefined };
type MutableStep = { -readonly [K in keyof StepRecord]: StepRecord[K] };

/** Removes keys whose value is undefined (how a field is cleared), so step rows stay plain JSON. */
function strip(value: Loose<StepRecord>): StepRecord {
  // A fresh object rather than `delete`, which would leave the row in slow dictionary mode.
  const record: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) if (field !== undefined) record[key] = field;
  return record as unknown as StepRecord;
}
