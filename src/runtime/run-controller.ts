/**
 * Advances one run: applies the planner's decisions (what is ready, what a failure or a wake leads
 * to, when the run is finished), executes steps through their handlers, and commits each step's
 * facts (its row, the rows of the steps it made ready or skipped, its call records) in one
 * transaction. Steps that settle in the same tick commit together. Events are emitted only after
 * the commit.
 */
import type { RunRecord, StepRecord, Waiter } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { RunPatch } from '../storage/storage.js';
import type { ArrivedInput, CompletedResult, IterateResult, WakeSignal } from '../nodes/node-handler.js';
import { compileExpression } from '../expressions/expressions.js';
import { arrivedInputs, isTerminal, type PlannerView } from '../planner/planner.js';
import type { Plan, PlanEdge } from '../planner/plan.js';
import { splitStepPath } from '../planner/step-path.js';
import { failedRunMessage, failureRoute } from '../planner/failure-routing.js';
import { liveWaits, runOutcome } from '../planner/run-outcome.js';
import { terminatesRun, terminationReason } from '../planner/termination.js';
import { isBudgetWaived, wakeTransition } from '../planner/wake-transition.js';
import { ScopeContexts } from './scope-contexts.js';
import { LoopIterations, type LoopHost } from './loop-iterations.js';
import { IllegalStateError, TrellisError, toTrellisError } from '../kernel/errors.js';
import type { RunDeps } from './run-deps.js';
import type { StepBudget } from '../calls/step-budget.js';
import { UsageTally } from '../calls/run-usage.js';
import { applyRunPatch } from '../storage/storage-helpers.js';
import type { Outcome } from './inflight-step.js';
import type { StepContextHost } from './step-context.js';
import { StepExecutor, type StepExecutorParts } from './step-executor.js';
import { StepTimers } from './step-timers.js';
import { asObject, changedStep, completedStep } from '../planner/step-records.js';
import { stopEverything } from './run-cancellation.js';
import { RunEvents } from './run-events.js';
import { RunScheduler } from './run-scheduler.js';
import { StepTable } from './step-table.js';
import { toWorkflowExecution, type WorkflowExecution } from './run-view.js';
import { CommitBatch, type CommitBatchHooks } from './commit-batch.js';
import { plainCopier } from '../kernel/plain.js';

// What lives as long as a run is made with `new`, not as literals: see plain.ts.
const copyRootContext = plainCopier<Record<string, unknown>>();
const copyBatchHooks = plainCopier<CommitBatchHooks>();
const copyExecutorParts = plainCopier<StepExecutorParts>();
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
  readonly #scheduler: RunScheduler;
  readonly #events: RunEvents;
  #loopIterations: LoopIterations | undefined;
  #runTimeout: (() => void) | undefined;
  /** The run's step budget, shared with its sub-workflow runs. */
  readonly budget: StepBudget;
  readonly #unsubscribeBudget: (() => void) | undefined;
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
      this.#scheduler.pumpPending();
      this.#scheduleFlush();
    });
    this.#contexts = new ScopeContexts(copyRootContext({ input: run.input_data, variables: run.variables }));
    this.#batch = new CommitBatch(run.id, copyBatchHooks({
      storage: () => deps.storage,
      // Usage totals ride along when the run row is written anyway (and always at the end), so an
      // ordinary step costs no run-row write; recovery recomputes them from the call records.
      prepare: (patch, calls) => {
        this.#usage.add(calls);
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
      finished: () => this.#scheduler.finished,
      settle: (path, attempt, outcome) => this.#settle(path, attempt, outcome),
    }));
    this.#scheduler = new RunScheduler({
      runId: run.id,
      plan,
      clock: deps.clock,
      steps: this.#steps,
      batch: this.#batch,
      events: this.#events,
      timers: this.#timers,
      executor: this.#executor,
      budget,
      view: this,
      loops: () => this.#loops,
      fail: (step, error) => this.#fail(step, error),
    });
    this.#scheduler.paused = run.status === 'paused'; // refined in #restore: a run paused only by approvals is not user-paused
    this.#done = new Promise((resolve, reject) => {
      this.#resolveDone = resolve;
      this.#rejectDone = reject;
    });
    this.#done.catch(() => undefined);
  }

  // Made on first use: most runs have no loop, and every object a run makes at its start is paid by every run.
  get #loops(): LoopIterations {
    return (this.#loopIterations ??= new LoopIterations(copyLoopHost({
      plan: this.#plan,
      contexts: this.#contexts,
      view: this,
      finished: () => this.#scheduler.finished,
      decide: (prefix, nodeId) => this.#scheduler.decide(prefix, nodeId),
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
    return this.#steps.childWaits();
  }

  /** Steps waiting for the event `name`. */
  eventWaiters(name: string): StepRecord[] {
    return this.#steps.eventWaiters(name);
  }

  /** Steps currently waiting (approvals, timers, events). */
  waitingSteps(): StepRecord[] {
    return this.#steps.waiting();
  }

  // ---- PlannerView and StepContextHost ----
  step(path: string): StepRecord | undefined {
    return this.#steps.get(path);
  }

  conditionHolds(edge: PlanEdge, prefix: string): boolean {
    return Boolean(compileExpression(edge.condition!).evaluate(this.#contexts.get(prefix) ?? {}));
  }

  arrived(prefix: string, nodeId: string): ArrivedInput[] {
    return arrivedInputs(this.#plan, this, prefix, nodeId);
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
      this.#scheduler.launch('', this.#plan.startId);
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
    this.#runTimeout = this.#deps.clock.setTimer(() => {
      if (this.#scheduler.finished) return;
      const message = `Run timed out after ${limit} ms`;
      this.#end({ status: 'failed', error_message: message }, new TrellisError('timeout', message));
      this.#events.after('execution:failed', () => ({ error: { code: 'timeout', message } }));
      this.#scheduleFlush();
    }, due - this.#deps.clock.now());
  }

  /**
   * Wakes a waiting step (approval, timer, event, child). Throws IllegalStateError when it is not
   * waiting for that. Resolves once the change is committed.
   */
  wake(path: string, signal: WakeSignal): Promise<void> {
    const transition = wakeTransition(this.id, path, this.#steps.get(path), signal, this.#deps.clock.now());
    if (transition.kind === 'illegal') throw transition.error;
    this.#timers.cancel(path);
    this.#scheduler.put(transition.step);
    switch (transition.kind) {
      case 'refused':
        this.#fail(transition.step, transition.error);
        this.#maybeFinish();
        break;
      case 'approved':
      case 'retry':
        if (transition.kind === 'approved') this.#resumeIfAwaitingApproval();
        this.#events.started(() => this.#steps.get(path));
        this.#executor.start(path, undefined, isBudgetWaived(transition.step));
        break;
      case 'resume':
        this.#resumeIfAwaitingApproval();
        this.#executor.start(path, transition.signal, isBudgetWaived(transition.step));
        break;
    }
    return this.#committed();
  }

  /** A run stored as `paused` only because it waited for a human runs again once one answers. */
  #resumeIfAwaitingApproval(): void {
    if (this.#run.status === 'paused' && !this.#scheduler.paused) this.#patchRun({ status: 'running' });
  }

  /** Pauses: nothing new starts; in-flight steps finish and are recorded. Resolves once committed. */
  pause(): Promise<void> {
    if (this.#scheduler.finished || this.#run.status !== 'running') throw new IllegalStateError(`Execution ${this.id} is ${this.#run.status}; only a running execution can be paused`, { executionId: this.id });
    this.#scheduler.paused = true;
    this.#patchRun({ status: 'paused' });
    this.#events.after('execution:paused', () => ({ reason: 'user' as const }));
    return this.#committed();
  }

  /** Resumes a paused run: pending steps start. Resolves once committed. */
  resume(): Promise<void> {
    if (this.#scheduler.finished || this.#run.status !== 'paused') throw new IllegalStateError(`Execution ${this.id} is ${this.#run.status}; only a paused execution can be resumed`, { executionId: this.id });
    this.#scheduler.paused = false;
    this.#patchRun({ status: 'running' });
    this.#events.after('execution:resumed', () => ({}));
    this.#scheduler.promoteAll();
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
    if (this.#scheduler.finished) return;
    this.#end({ status: 'cancelled', error_message: reason }, new TrellisError('cancelled', reason));
    this.#events.after('execution:cancelled', () => ({ reason }));
    this.#scheduleFlush();
  }

  /** Stops driving the run without changing it (engine shutdown); another engine may recover it. */
  detach(): void {
    this.#unsubscribeBudget?.();
    this.#runTimeout?.();
    this.#timers.cancelAll();
    this.#scheduler.finished = true;
  }

  // ---- Outcomes of step attempts ----

  #settle(path: string, attempt: number, outcome: Outcome): void {
    const step = this.#steps.get(path);
    if (!step || step.status !== 'running' || step.attempt !== attempt || this.#scheduler.finished) {
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
    this.#scheduler.pumpPending();
    this.#maybeFinish();
    this.#scheduleFlush();
  }

  #complete(step: StepRecord, result: CompletedResult): void {
    const { output, writes } = result;
    const now = this.#deps.clock.now();
    const done = completedStep(step, result, now);
    this.#scheduler.put(done);
    const { prefix, nodeId } = splitStepPath(step.path);
    this.#contexts.apply(prefix, nodeId, output, writes);
    this.#events.after('node:completed', () => ({ nodeId, path: step.path, output, durationMs: done.duration_ms ?? 0 }));
    if (this.#run.recovery_count > 0) this.#patchRun({ recovery_count: 0 });
    if (terminatesRun(this.#plan.nodes.get(nodeId)!)) {
      this.#end({ status: 'completed', output_data: output }, new TrellisError('cancelled', terminationReason(nodeId)));
      this.#events.after('execution:completed', () => ({ output, durationMs: now - (this.#run.started_at ?? now) }));
      return;
    }
    this.#scheduler.advance(prefix, nodeId);
  }

  #wait(step: StepRecord, waiter: Waiter): void {
    this.#scheduler.put(changedStep(step, { status: 'waiting', waiter }));
    this.#armTimer(step.path, waiter);
    const childId = waiter.kind === 'child' ? waiter.child_id : undefined;
    if (childId !== undefined) this.#batch.after(() => this.#deps.children.childWaiting(childId));
    this.#events.after('node:waiting', () => ({ nodeId: step.node_id, path: step.path, kind: waiter.kind, ...(waiter.due_at === undefined ? {} : { dueAt: waiter.due_at }) }));
  }

  #armTimer(path: string, waiter: Waiter): void {
    if (waiter.due_at === undefined) return;
    this.#timers.arm(path, waiter.due_at, () => {
      if (!this.#scheduler.finished && this.#steps.get(path)?.status === 'waiting') void this.wake(path, { kind: 'timer' });
    });
  }

  /** Applies the planner's route for a failed attempt. */
  #fail(step: StepRecord, error: TrellisError): void {
    const route = failureRoute(this.#plan, step, error, { view: this, now: this.#deps.clock.now(), random: this.#deps.random, runEnding: this.#scheduler.finished });
    this.#scheduler.put(route.step);
    const { path, attempt } = step;
    const { prefix, nodeId } = splitStepPath(path);
    const stored = route.error;
    if (route.kind === 'approval') {
      this.#events.after('node:waiting', () => ({ nodeId, path, kind: 'approval' }));
      return;
    }
    if (route.kind === 'retry') {
      this.#armTimer(path, route.waiter);
      this.#events.after('node:failed', () => ({ nodeId, path, error: stored, attempt, willRetry: true }));
      return;
    }
    this.#events.after('node:failed', () => ({ nodeId, path, error: stored, attempt, willRetry: false }));
    switch (route.kind) {
      case 'tolerated':
        this.#scheduler.advance(prefix, nodeId);
        return;
      case 'error_handler':
        this.#contexts.get('')!.error = route.context;
        stopEverything(this.#scheduler, new TrellisError('cancelled', route.reason));
        this.#scheduler.launch('', route.handlerId);
        return;
      case 'fail_run':
        this.#failRun(step, error);
        return;
    }
  }

  #failRun(step: StepRecord, error: TrellisError): void {
    if (this.#scheduler.finished) return;
    const message = failedRunMessage(step.node_id, error);
    this.#end({ status: 'failed', error_message: message }, new TrellisError('cancelled', `run failed at node "${step.node_id}"`));
    this.#events.after('execution:failed', () => ({ error: { code: error.code, message } }));
  }

  #startLoop(step: StepRecord, spec: IterateResult['spec']): void {
    const total = spec.mode === 'list' ? spec.items.length : spec.mode === 'count' ? spec.count : null;
    this.#scheduler.put(changedStep(step, { state: { ...(asObject(step.state) ?? {}), mode: spec.mode, total } }));
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
    // Re-run what was in flight (same attempt, same idempotency key, same budget waiver), re-arm waits, resume pending.
    for (const step of ordered) {
      if (step.status === 'running' && this.#plan.nodes.get(step.node_id)?.type !== 'loop') {
        this.#events.started(() => step);
        this.#executor.start(step.path, undefined, isBudgetWaived(step));
      } else if (step.status === 'waiting' && step.waiter) {
        this.#armTimer(step.path, step.waiter);
      }
    }
    // `paused` is stored for both a user pause and "waiting for a human"; only approvals waiting means the latter.
    if (this.#scheduler.paused && liveWaits(ordered, this.#holdsIterations) !== 'other') this.#scheduler.paused = false;
    this.#scheduler.promoteAll();
    // Decide whatever the committed facts make ready.
    for (const step of ordered) {
      if (!isTerminal(step)) continue;
      const { prefix, nodeId } = splitStepPath(step.path);
      if (prefix !== '' && !this.#contexts.get(prefix)) continue;
      this.#scheduler.advance(prefix, nodeId);
    }
    this.#loops.fillAll();
  }

  #restoreLoop(step: StepRecord): void {
    const handler = this.#deps.handlers.get('loop')!;
    const result = handler.execute(this.#executor.contextFor(step));
    if (result instanceof Promise || result.status !== 'iterate') return;
    this.#loops.restore(step, result.spec, this.#steps.values());
  }

  // ---- The run's row ----

  /** A running loop step only holds its iterations: it is not what its run waits for. */
  readonly #holdsIterations = (path: string): boolean => this.#loopIterations?.has(path) === true;

  #patchRun(patch: RunPatch): void {
    this.#batch.patch(patch);
    // The same explicit builder the storages use: this record mirrors the committed row.
    this.#run = applyRunPatch(this.#run, patch);
  }

  /** Finishes the run once the planner says no step is live; else marks a run that only waits for humans. */
  #maybeFinish(): void {
    if (this.#scheduler.finished) return;
    const outcome = runOutcome(this.#plan, this.#steps);
    if (!outcome.finished) {
      if (this.#run.status !== 'running' || this.#executor.running > 0) return;
      if (liveWaits(this.#steps.values(), this.#holdsIterations) !== 'approvals') return;
      this.#patchRun({ status: 'paused' });
      this.#events.after('execution:paused', () => ({ reason: 'approval' as const }));
      return;
    }
    const { output } = outcome;
    const now = this.#deps.clock.now();
    this.#finish({ status: 'completed', output_data: output });
    this.#events.after('execution:completed', () => ({ output, durationMs: now - (this.#run.started_at ?? now) }));
  }

  /** Ends the run before its steps are done: every live step stops with `reason`. */
  #end(patch: RunPatch, reason: TrellisError): void {
    stopEverything(this.#scheduler, reason);
    this.#finish(patch);
  }

  #finish(patch: RunPatch): void {
    this.#scheduler.finished = true;
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
