/**
 * Advances one run: asks the planner what is ready, executes steps through their handlers,
 * applies retries and timeouts, and commits each step's facts (its row, the rows of the steps it
 * made ready or skipped, its LLM execution records) in one transaction. Steps that settle in the
 * same tick commit together. Events are emitted only after the commit.
 */
import type { RunRecord, StepRecord, Waiter } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { RunPatch } from '../storage/storage.js';
import type { ArrivedInput, CompletedResult, IterateResult, WakeSignal } from '../nodes/node-handler.js';
import { compileExpression } from '../expressions/expressions.js';
import { blockingSource, edgeFollowed, isTerminal, readiness, type PlannerView } from '../planner/planner.js';
import type { Plan, PlanEdge } from '../planner/plan.js';
import { splitStepPath } from '../planner/step-path.js';
import { ScopeContexts } from './scope-contexts.js';
import { LoopIterations, type LoopHost } from './loop-iterations.js';
import { IllegalStateError, TrellisError, toTrellisError } from '../kernel/errors.js';
import { failureVerdict } from '../planner/retry-verdict.js';
import type { RunDeps } from './run-deps.js';
import type { StepBudget } from '../calls/step-budget.js';
import { UsageTally } from '../calls/run-usage.js';
import { applyRunPatch } from '../storage/storage-helpers.js';
import type { Outcome } from './inflight-step.js';
import type { StepContextHost } from './step-context.js';
import { StepExecutor, type StepExecutorParts } from './step-executor.js';
import { StepTimers } from './step-timers.js';
import { asObject, changedStep, completedStep, newStep, skippedStep } from '../planner/step-records.js';
import { cancelRegion, stopEverything, type CancellationScope } from './run-cancellation.js';
import { RunEvents } from './run-events.js';
import { StepTable } from './step-table.js';
import { toWorkflowExecution, type WorkflowExecution } from './run-view.js';
import { CommitBatch, type CommitBatchHooks } from './commit-batch.js';
import { plainCopier } from '../kernel/plain.js';


// What lives as long as a run is made with `new`, not as literals: see plain.ts.
const copyRootContext = plainCopier<Record<string, unknown>>();
const copyBatchHooks = plainCopier<CommitBatchHooks>();
const copyExecutorParts = plainCopier<StepExecutorParts>();
const copyCancellationScope = plainCopier<CancellationScope>();
const copyLoopHost = plainCopier<LoopHost>();

/** Drives one run in this process. Created by the engine; not part of the public API. */
export class RunController implements PlannerView, StepContextHost {
  readonly #deps: RunDeps;
  readonly #plan: Plan;
  #run: RunRecord;
  /** The run's usage totals, kept apart from `#run` (see `run`). */
  readonly #usage: UsageTally;
  readonly #steps = new StepTable();
  readonly #contexts: ScopeContexts;
  readonly #executor: StepExecutor;
  readonly #timers: StepTimers;
  #cancellationScope: CancellationScope | undefined;
  readonly #events: RunEvents;
  #loopIterations: LoopIterations | undefined;
  #runTimeout: (() => void) | undefined;
  /** Joins known to wait, by step path, with a source step path that keeps them waiting. */
  readonly #blockers = new Map<string, string>();
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
    this.#usage = new UsageTally(run.usage);
    this.budget = budget;
    this.#unsubscribeBudget = budget.limit === undefined ? undefined : budget.subscribe(() => {
      this.#pumpPending();
      this.#scheduleFlush();
    });
    this.#paused = run.status === 'paused'; // refined in #restore: a run paused only by approvals is not user-paused
    this.#contexts = new ScopeContexts(copyRootContext({ input: run.input_data, variables: run.variables }));
    this.#batch = new CommitBatch(run.id, copyBatchHooks({
      storage: () => deps.storage,
      // Usage totals ride along when the run row is written anyway (and always at the end), so an
      // ordinary step costs no run-row write; recovery recomputes them from the execution records.
      prepare: (patch, executions) => {
        this.#usage.add(executions);
        const usage = this.#usage.json;
        return patch !== undefined && usage !== undefined ? Object.assign({}, patch, { usage }) : patch;
      },
      failed: (error) => this.#abandon(error),
    }));
    this.#timers = new StepTimers(deps.clock);
    this.#events = new RunEvents(deps.events, deps.clock, this.#batch, plan, run);
    this.#executor = new StepExecutor(copyExecutorParts({
      deps,
      plan,
      budget,
      batch: this.#batch,
      host: this,
      step: (path) => this.#steps.get(path),
      run: () => this.#run,
      context: (prefix) => this.#contexts.get(prefix),
      finished: () => this.#finished,
      settle: (path, attempt, outcome) => this.#settle(path, attempt, outcome),
    }));
    this.#done = new Promise((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    this.#done.catch(() => undefined);
  }

  // Made on first use: most runs are never cancelled and have no loop, and every object a run
  // makes at its start is paid by every run.
  get #cancellation(): CancellationScope {
    return (this.#cancellationScope ??= copyCancellationScope({
      plan: this.#plan,
      clock: this.#deps.clock,
      steps: this.#steps,
      executor: this.#executor,
      timers: this.#timers,
      put: (step) => this.#put(step),
      skip: (prefix, nodeId, reason) => this.#skip(prefix, nodeId, reason),
      skipped: (step, reason) => this.#events.after('node:skipped', () => ({ nodeId: step.node_id, path: step.path, reason })),
    }));
  }

  get #loops(): LoopIterations {
    return (this.#loopIterations ??= new LoopIterations(copyLoopHost({
      plan: this.#plan,
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
    })));
  }

  get id(): string {
    return this.#run.id;
  }

  get run(): RunRecord {
    // Usage totals change with every LLM step; they join the record only when someone reads it.
    const usage = this.#usage.json;
    if (usage !== this.#run.usage) this.#run = applyRunPatch(this.#run, { usage });
    return this.#run;
  }

  /**
   * The run's execution record from this process's state. Once `done` resolved this is exactly
   * what was committed, so a caller waiting for the run needs no read back from storage.
   */
  execution(): WorkflowExecution {
    return toWorkflowExecution(this.run, [...this.#steps.values()], this.#plan.workflow, this.#contexts.get(''));
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

  /**
   * Starts a run that is not stored yet: its row is inserted by its first commit, together with its
   * first steps. `created` runs once that commit has landed, before any event of its steps; the
   * promise resolves then, or rejects when the commit fails (nothing was stored).
   */
  create(created: () => void): Promise<void> {
    this.#batch.create(this.#run);
    const landed = new Promise<void>((resolve, reject) => {
      this.#batch.after(() => {
        created();
        resolve();
      });
      this.#done.catch(reject);
    });
    this.begin([]);
    return landed;
  }

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
      stopEverything(this.#cancellation, new TrellisError('timeout', message));
      this.#finish({ status: 'failed', error_message: message });
      this.#events.after('execution:failed', () => ({ error: { code: 'timeout', message } }));
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
    this.#timers.cancel(path);
    if (signal.kind === 'approval' && (asObject(step.waiter.detail ?? null)?.reason as unknown) === 'budget') {
      if (!signal.approved) {
        this.#put(changedStep(step, { status: 'running', waiter: undefined }));
        this.#fail(this.#steps.get(path)!, new TrellisError('budget_exceeded', `Over-budget call refused by approver${signal.reason ? `: ${signal.reason}` : ''}`, { nodeId: step.node_id, retryable: false, details: { refused: true } }));
        this.#maybeFinish();
        return this.#committed();
      }
      // Approved: run the step again with its budget check waived for this attempt.
      this.#put(changedStep(step, { status: 'running', waiter: undefined, error: undefined, state: { ...(asObject(step.state) ?? {}), budget_waived: true } }));
      if (this.#run.status === 'paused' && !this.#paused) this.#patchRun({ status: 'running' });
      this.#events.started(() => this.#steps.get(path));
      this.#executor.start(path);
      return this.#committed();
    }
    if (step.waiter.kind === 'retry') {
      this.#put(changedStep(step, { status: 'running', attempt: step.attempt + 1, started_at: this.#deps.clock.now(), waiter: undefined }));
      this.#events.started(() => this.#steps.get(path));
      this.#executor.start(path);
    } else {
      this.#put(changedStep(step, { status: 'running', waiter: undefined }));
      if (this.#run.status === 'paused' && !this.#paused) this.#patchRun({ status: 'running' });
      const due = step.waiter.due_at;
      this.#executor.start(path, signal.kind === 'event' && due !== undefined ? { ...signal, dueAt: due } : signal);
    }
    return this.#committed();
  }

  /** Pauses: nothing new starts; in-flight steps finish and are recorded. Resolves once committed. */
  pause(): Promise<void> {
    if (this.#finished || this.#run.status !== 'running') throw new IllegalStateError(`Execution ${this.id} is ${this.#run.status}; only a running execution can be paused`, { executionId: this.id });
    this.#paused = true;
    this.#patchRun({ status: 'paused' });
    this.#events.after('execution:paused', () => ({ reason: 'user' as const }));
    return this.#committed();
  }

  /** Resumes a paused run: pending steps start. Resolves once committed. */
  resume(): Promise<void> {
    if (this.#finished || this.#run.status !== 'paused') throw new IllegalStateError(`Execution ${this.id} is ${this.#run.status}; only a paused execution can be resumed`, { executionId: this.id });
    this.#paused = false;
    this.#patchRun({ status: 'running' });
    this.#events.after('execution:resumed', () => ({}));
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
    stopEverything(this.#cancellation, new TrellisError('cancelled', reason));
    this.#finish({ status: 'cancelled', error_message: reason });
    this.#events.after('execution:cancelled', () => ({ reason }));
    this.#scheduleFlush();
  }

  /** Stops driving the run without changing it (engine shutdown); another engine may recover it. */
  detach(): void {
    this.#unsubscribeBudget?.();
    this.#runTimeout?.();
    this.#timers.cancelAll();
    this.#finished = true;
  }

  // ---- Launching and executing steps ----

  #launch(prefix: string, nodeId: string, path = prefix + nodeId): void {
    const now = this.#deps.clock.now();
    const canRun = !this.#paused && this.#hasBudget();
    const step = newStep(this.id, path, nodeId, this.#steps.nextSeq(), canRun ? 'running' : 'pending', 1, now);
    this.#put(step);
    if (canRun) {
      this.#events.started(() => this.#steps.get(path));
      this.#executor.start(path);
    }
  }

  #promote(path: string): void {
    const step = this.#steps.get(path)!;
    if (this.#paused || !this.#hasBudget()) return;
    this.#put(changedStep(step, { status: 'running', started_at: this.#deps.clock.now() }));
    this.#events.started(() => this.#steps.get(path));
    this.#executor.start(path);
  }

  #hasBudget(): boolean {
    return this.budget.hasRoom();
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
    const { output, writes } = result;
    const now = this.#deps.clock.now();
    const done = completedStep(step, result, now);
    this.#put(done);
    const { prefix, nodeId } = splitStepPath(step.path);
    this.#contexts.apply(prefix, nodeId, output, writes);
    this.#events.after('node:completed', () => ({ nodeId, path: step.path, output, durationMs: done.duration_ms ?? 0 }));
    if (this.#run.recovery_count > 0) this.#patchRun({ recovery_count: 0 });
    const node = this.#plan.nodes.get(nodeId)!;
    if (node.type === 'end' && (node.node.config as { terminate?: boolean }).terminate === true) {
      stopEverything(this.#cancellation, new TrellisError('cancelled', `run terminated by end node "${nodeId}"`));
      this.#finish({ status: 'completed', output_data: output });
      this.#events.after('execution:completed', () => ({ output, durationMs: now - (this.#run.started_at ?? now) }));
      return;
    }
    this.#advance(prefix, nodeId);
  }

  #wait(step: StepRecord, waiter: Waiter): void {
    this.#put(changedStep(step, { status: 'waiting', waiter }));
    this.#armTimer(step.path, waiter);
    const childId = waiter.kind === 'child' ? waiter.child_id : undefined;
    if (childId !== undefined) this.#batch.after(() => this.#deps.children.childWaiting(childId));
    this.#events.after('node:waiting', () => ({ nodeId: step.node_id, path: step.path, kind: waiter.kind, ...(waiter.due_at === undefined ? {} : { dueAt: waiter.due_at }) }));
  }

  #armTimer(path: string, waiter: Waiter): void {
    if (waiter.due_at === undefined) return;
    this.#timers.arm(path, waiter.due_at, () => {
      if (!this.#finished && this.#steps.get(path)?.status === 'waiting') void this.wake(path, { kind: 'timer' });
    });
  }

  #fail(step: StepRecord, error: TrellisError): void {
    const verdict = failureVerdict(this.#plan, step, error, this.#deps.clock.now(), this.#deps.random, this.#finished);
    this.#put(verdict.step);
    const { path, attempt } = step;
    const { prefix, nodeId } = splitStepPath(path);
    const stored = verdict.error;
    if (verdict.kind === 'retry') {
      this.#armTimer(path, verdict.waiter);
      this.#events.after('node:failed', () => ({ nodeId, path, error: stored, attempt, willRetry: true }));
      return;
    }
    if (verdict.kind === 'approval') {
      this.#events.after('node:waiting', () => ({ nodeId, path, kind: 'approval' }));
      return;
    }
    this.#events.after('node:failed', () => ({ nodeId, path, error: stored, attempt, willRetry: false }));
    if (this.#plan.tolerant.has(nodeId)) {
      this.#advance(prefix, nodeId);
      return;
    }
    const handlerId = this.#plan.workflow.definition.settings?.error_handler_node_id;
    if (handlerId !== undefined && !this.#steps.has(handlerId) && handlerId !== nodeId) {
      const root = this.#contexts.get('')!;
      root.error = { node_id: nodeId, path: step.path, code: error.code, message: error.message };
      stopEverything(this.#cancellation, new TrellisError('cancelled', `node "${nodeId}" failed; routed to error handler "${handlerId}"`));
      this.#launch('', handlerId);
      return;
    }
    this.#failRun(step, error);
  }

  #failRun(step: StepRecord, error: TrellisError): void {
    if (this.#finished) return;
    const message = `Node "${step.node_id}" failed: ${error.message}`;
    stopEverything(this.#cancellation, new TrellisError('cancelled', `run failed at node "${step.node_id}"`));
    this.#finish({ status: 'failed', error_message: message });
    this.#events.after('execution:failed', () => ({ error: { code: error.code, message } }));
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
    // The path is made once here and handed on: each new string costs a hash at every lookup.
    const path = prefix + nodeId;
    const blocker = this.#blockers.size === 0 ? undefined : this.#blockers.get(path);
    if (blocker !== undefined) {
      if (!isTerminal(this.#steps.get(blocker))) return;
      this.#blockers.delete(path);
    }
    const verdict = readiness(this.#plan, this, prefix, nodeId, path);
    switch (verdict.kind) {
      case 'ready':
        if (verdict.early) cancelRegion(this.#cancellation, prefix, nodeId);
        this.#launch(prefix, nodeId, path);
        return;
      case 'skip':
        this.#skip(prefix, nodeId, verdict.reason);
        this.#advance(prefix, nodeId);
        return;
      case 'fail': {
        const step = newStep(this.id, path, nodeId, this.#steps.nextSeq(), 'running', 1, this.#deps.clock.now());
        this.#put(step);
        this.#fail(step, new TrellisError('node_failed', verdict.reason, { nodeId, retryable: false }));
        return;
      }
      case 'wait': {
        const source = blockingSource(this.#plan, this, prefix, nodeId);
        if (source !== undefined) this.#blockers.set(path, source);
        return;
      }
      default:
        return;
    }
  }

  #skip(prefix: string, nodeId: string, reason: string): void {
    const path = prefix + nodeId;
    this.#put(skippedStep(this.id, path, nodeId, this.#steps.nextSeq(), reason, this.#deps.clock.now()));
    this.#events.after('node:skipped', () => ({ nodeId, path, reason }));
  }

  // ---- Loops ----

  #startLoop(step: StepRecord, spec: IterateResult['spec']): void {
    const total = spec.mode === 'list' ? spec.items.length : spec.mode === 'count' ? spec.count : null;
    this.#put(changedStep(step, { state: { ...(asObject(step.state) ?? {}), mode: spec.mode, total } }));
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
        this.#events.started(() => step);
        this.#executor.start(step.path);
      } else if (step.status === 'waiting' && step.waiter) {
        this.#armTimer(step.path, step.waiter);
      }
    }
    // `paused` is stored for both a user pause and "waiting for a human"; only approvals waiting means the latter.
    const onlyApprovals = ordered.every((s) => isTerminal(s) || this.#loopIterations?.has(s.path) === true || (s.status === 'waiting' && s.waiter?.kind === 'approval'));
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
    const result = handler.execute(this.#executor.contextFor(step));
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
    this.#events.after('execution:completed', () => ({ output: output ?? null, durationMs: now - (this.#run.started_at ?? now) }));
  }

  /** A run whose only live steps wait for a human is `paused` (with what it waits for in its steps). */
  #maybeMarkAwaitingApproval(): void {
    if (this.#run.status !== 'running' || this.#executor.running > 0) return;
    let waiting = false;
    for (const step of this.#steps.values()) {
      if (isTerminal(step) || this.#loopIterations?.has(step.path) === true) continue; // a running loop only holds its iterations
      if (step.status !== 'waiting' || step.waiter?.kind !== 'approval') return;
      waiting = true;
    }
    if (!waiting) return;
    this.#patchRun({ status: 'paused' });
    this.#events.after('execution:paused', () => ({ reason: 'approval' as const }));
  }

  #finish(patch: RunPatch): void {
    this.#finished = true;
    this.#unsubscribeBudget?.();
    this.#timers.cancelAll();
    this.#runTimeout?.();
    this.#patchRun(Object.assign({}, patch, { completed_at: this.#deps.clock.now(), owner: undefined, lease_expires_at: undefined }));
    this.#batch.after(() => {
      this.#deps.owner.runFinished(this.id);
      this.#deps.owner.runSettled(this.run);
      this.#resolveDone(this.run);
    });
  }

  #scheduleFlush(): void {
    this.#executor.runReady();
    // While other steps are still executing, give them a tick to settle so they commit together.
    this.#batch.schedule(this.#executor.busy);
  }

  /** A write failed: stop driving the run in memory; its committed state stays the truth for recovery. */
  #abandon(error: TrellisError): void {
    this.detach();
    this.#executor.abortAll(error);
    this.#deps.owner.runFinished(this.id);
    this.#rejectDone(error);
  }
}
