/**
 * Advances one run: applies the planner's decisions (what is ready, what a failure or a wake leads
 * to, when the run is finished), executes steps through their handlers, and commits each step's
 * facts (its row, the rows of the steps it made ready or skipped, its call records) in one
 * transaction. Steps that settle in the same tick commit together. Events are emitted only after
 * the commit. The parts: RunScheduler starts and skips steps, StepOutcomes applies what an attempt
 * led to, restoreRun continues a recovered run, RunRow holds the run's record.
 */
import type { AuditEvent, RunRecord, StepRecord } from '../storage/records.js';
import type { RunPatch } from '../storage/storage.js';
import type { ArrivedInput, StepContext, WakeSignal } from '../nodes/node-handler.js';
import { compileExpression } from '../expressions/expressions.js';
import { arrivedInputs, type PlannerView } from '../planner/planner.js';
import type { Plan, PlanEdge } from '../planner/plan.js';
import { liveWaits, runOutcome } from '../planner/run-outcome.js';
import { isBudgetWaived, wakeTransition } from '../planner/wake-transition.js';
import { restoreRun } from './run-restore.js';
import { ScopeContexts } from './scope-contexts.js';
import { LoopIterations } from './loop-iterations.js';
import { IllegalStateError, TrellisError } from '../kernel/errors.js';
import type { RunDeps } from './run-deps.js';
import type { StepBudget } from '../calls/step-budget.js';
import type { Outcome } from './inflight-step.js';
import type { StepContextHost } from './step-context.js';
import { StepExecutor } from './step-executor.js';
import { waitingApprovals } from './approval-requests.js';
import { StepTimers } from './step-timers.js';
import { stopEverything } from './run-cancellation.js';
import { RunEvents } from './run-events.js';
import { RunRow } from './run-row.js';
import { RunScheduler } from './run-scheduler.js';
import { StepOutcomes } from './step-outcomes.js';
import { StepTable } from './step-table.js';
import { toWorkflowExecution, type WorkflowExecution } from './run-view.js';
import { CommitBatch } from './commit-batch.js';
import { plainCopier } from '../kernel/plain.js';
import type { TraceScope } from '../telemetry/tracing.js';
import { RunTrace } from './run-tracing.js';
import { parkingWake } from '../planner/run-parking.js';

// The root context is run data a run keeps: made with `new`, not as a literal (see plain.ts).
const copyRootContext = plainCopier<Record<string, unknown>>();

/** Drives one run in this process. Created by the engine; not part of the public API. */
export class RunController implements PlannerView, StepContextHost {
  readonly #deps: RunDeps;
  readonly #plan: Plan;
  readonly #row: RunRow;
  readonly #steps = new StepTable();
  readonly #contexts: ScopeContexts;
  readonly #executor: StepExecutor;
  readonly #timers: StepTimers;
  readonly #scheduler: RunScheduler;
  readonly #outcomes: StepOutcomes;
  readonly #events: RunEvents;
  #loopIterations: LoopIterations | undefined;
  #runTimeout: (() => void) | undefined;
  /** The run's step budget, shared with its sub-workflow runs. */
  readonly budget: StepBudget;
  readonly #unsubscribeBudget: (() => void) | undefined;
  readonly #batch: CommitBatch;
  /** This engine let the run go (`detach`: it closed, or gave the run up): a refused commit after that is no news. */
  #letGo = false;
  /** Resolves `letGo` (made only when someone waits for it). */
  #resolveLetGo: (() => void) | undefined;
  #letGoPromise: Promise<void> | undefined;
  /** How `ended` settled (true: the run ended; false: let go), once it has. */
  #endedAs: boolean | undefined;
  #endedPromise: Promise<boolean> | undefined;
  #resolveEnded: ((ended: boolean) => void) | undefined;
  /** A check for quiet is queued behind the next commit (see #scheduleFlush). */
  #quietAsked = false;
  readonly #quiet = (): void => {
    this.#quietAsked = false;
    if (!this.#letGo) this.#deps.owner.runQuiet(this.id);
  };
  readonly #trace: RunTrace | undefined;
  /** The step `runOneStep` released, until it settles; `resolve` ends the caller's wait. */
  #stepWatch: { readonly path: string; readonly resolve: () => void } | undefined;

  /** `started`: the run's span, when its admission began it (see RunTrace.open). */
  constructor(deps: RunDeps, plan: Plan, run: RunRecord, budget: StepBudget, started?: TraceScope) {
    this.#deps = deps;
    this.#plan = plan;
    this.budget = budget;
    this.#unsubscribeBudget = budget.limit === undefined ? undefined : budget.subscribe(() => {
      this.#scheduler.pumpPending();
      this.#scheduleFlush();
    });
    this.#contexts = new ScopeContexts(copyRootContext({ input: run.input_data, variables: run.variables }));
    this.#batch = new CommitBatch(run, {
      storage: () => deps.storage,
      prepare: (patch, calls) => this.#row.prepare(patch, calls),
      failed: (error) => this.#abandon(error),
    });
    this.#row = new RunRow(run, this.#batch);
    this.#timers = new StepTimers(deps.clock);
    this.#events = new RunEvents(deps.events, deps.clock, this.#batch, plan, run);
    this.#trace = RunTrace.open(deps.tracing, run, started);
    this.#executor = new StepExecutor({
      deps,
      plan,
      budget,
      batch: this.#batch,
      trace: this.#trace,
      host: this,
      step: (path) => this.#steps.get(path),
      run: () => this.#row.record,
      context: (prefix) => this.#contexts.get(prefix),
      finished: () => this.#scheduler.finished,
      settle: (path, attempt, outcome) => this.#settle(path, attempt, outcome),
    });
    const { clock } = deps;
    const steps = this.#steps;
    const batch = this.#batch;
    const events = this.#events;
    const timers = this.#timers;
    const executor = this.#executor;
    const loops = (): LoopIterations => this.#loops;
    this.#scheduler = new RunScheduler({ runId: run.id, plan, clock, steps, batch, events, timers, executor, budget, view: this, children: deps.children, loops, fail: (step, error) => this.#outcomes.fail(step, error), breakpoints: run.breakpoints, hitBreakpoint: (path, entry) => this.#hitBreakpoint(path, entry) });
    this.#scheduler.paused = run.status === 'paused'; // refined by restoreRun: a run paused only by approvals is not user-paused
    this.#outcomes = new StepOutcomes({
      plan,
      clock,
      random: deps.random,
      view: this,
      row: this.#row,
      contexts: this.#contexts,
      scheduler: this.#scheduler,
      events,
      timers,
      batch,
      children: deps.children,
      loops,
      end: (patch, reason) => this.#end(patch, reason),
      wake: (path, signal) => this.wake(path, signal),
    });
  }

  // Made on first use: most runs have no loop, and every object a run makes at its start is paid by every run.
  get #loops(): LoopIterations {
    return (this.#loopIterations ??= new LoopIterations({
      plan: this.#plan,
      contexts: this.#contexts,
      view: this,
      finished: () => this.#scheduler.finished,
      decide: (prefix, nodeId) => this.#scheduler.decide(prefix, nodeId),
      completeLoop: (path, results) => {
        const step = this.#steps.get(path);
        if (step?.status === 'running') this.#outcomes.complete(step, { status: 'completed', output: results, fired: ['done'] });
      },
      failLoop: (path, error) => {
        const step = this.#steps.get(path);
        if (step?.status === 'running') this.#outcomes.fail(step, error);
      },
    }));
  }

  get id(): string {
    return this.#row.record.id;
  }

  get run(): RunRecord {
    return this.#row.withUsage;
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
    return this.#row.done;
  }

  /**
   * Resolves with true once the run has ended and its final state is committed (as `done`), or
   * with false when this process stops driving it first (parked, detached, abandoned): a waiter
   * for the run's end needs one promise, not a race over `done` and `letGo` made for every wait.
   */
  get ended(): Promise<boolean> {
    if (this.#endedAs !== undefined) return Promise.resolve(this.#endedAs);
    return (this.#endedPromise ??= new Promise<boolean>((resolve) => (this.#resolveEnded = resolve)));
  }

  /** Settles `ended` (once). */
  #settleEnded(ended: boolean): void {
    if (this.#endedAs !== undefined) return;
    this.#endedAs = ended;
    this.#resolveEnded?.(ended);
    this.#resolveEnded = undefined;
  }

  /**
   * Resolves when this process stops driving the run without it ending: it was parked (it only
   * waits; a wake-up loads it again), detached at close, or abandoned. A waiter of `done` races it.
   */
  get letGo(): Promise<void> {
    if (this.#letGo) return Promise.resolve();
    return (this.#letGoPromise ??= new Promise<void>((resolve) => (this.#resolveLetGo = resolve)));
  }

  /**
   * When this run, which only waits, needs a driver again (its nearest timer or deadline, see
   * parkingWake), or undefined while it has work here: a step executing or about to start, or a
   * commit not landed yet.
   */
  parkAt(): number | undefined {
    if (this.#scheduler.finished || this.#letGo || this.#executor.running > 0 || this.#executor.busy || !this.#batch.idle) return undefined;
    // Counted first, so a long run that is busy never pays a scan of its steps: every live step
    // must wait (or, in a user's pause, wait or be held pending).
    const steps = this.#steps;
    if (steps.live !== steps.waitingCount + (this.#scheduler.paused ? steps.pending.size : 0)) return undefined;
    return parkingWake([...this.#steps.values()], { userPaused: this.#scheduler.paused, deadline: this.#deadline(), now: this.#deps.clock.now() });
  }

  /** Whether a commit is queued or landing. */
  get committing(): boolean {
    return !this.#batch.idle;
  }

  /**
   * Resolves once everything this run has done so far, flushed or still queued, has landed (a
   * commit is asked for now). Never resolves when the commit is refused (the run is abandoned
   * here): race it with {@link done}.
   */
  committed(): Promise<void> {
    return this.#committed();
  }

  /** Resolves once the commits flushed so far have landed. */
  committedAll(): Promise<void> {
    return this.#batch.settled();
  }

  /**
   * Lets the run go because it only waits (see {@link parkAt}): its state is all committed, and
   * whatever wakes it loads it again from storage. Nothing is written here: the caller releases
   * the run's claim in storage.
   */
  park(): void {
    this.#release('parked');
  }

  /** Child runs this run's waiting `sub_workflow` steps wait for, by step path. */
  childWaits(): { path: string; childId: string }[] {
    return this.#steps.childWaits();
  }

  /** Steps waiting for the event `name`. */
  eventWaiters(name: string): StepRecord[] {
    return this.#steps.eventWaiters(name);
  }

  /** The context a step would see, without starting an attempt (to check an event's filter before waking it). */
  contextFor(step: StepRecord): StepContext {
    return this.#executor.contextFor(step);
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
   * first steps. The promise resolves once that commit has landed, or rejects when it fails
   * (nothing was stored); `created` runs after, before any event of its steps, and with
   * `yieldToCaller` on the next macrotask (see CommitBatch.create).
   */
  create(created: () => void, yieldToCaller: boolean, audit?: AuditEvent): Promise<void> {
    if (audit) this.#batch.audit([audit]);
    const landed = new Promise<void>((resolve, reject) => {
      this.#batch.create(this.#row.record, resolve, yieldToCaller);
      this.#row.done.catch(reject);
    });
    this.#batch.after(created);
    this.begin([]);
    return landed;
  }

  /** Starts a fresh run, or continues one from its committed steps (recovery). */
  begin(steps: readonly StepRecord[]): void {
    if (this.#scheduler.finished) return; // cancelled (or detached) before it began
    this.#armRunTimeout();
    if (steps.length === 0) {
      this.#scheduler.launch('', this.#plan.startId);
    } else {
      restoreRun({
        plan: this.#plan,
        steps: this.#steps,
        contexts: this.#contexts,
        scheduler: this.#scheduler,
        executor: this.#executor,
        events: this.#events,
        handlers: this.#deps.handlers,
        loops: () => this.#loops,
        runningLoops: () => this.#loopIterations,
        armTimer: (path, waiter) => this.#outcomes.armTimer(path, waiter, true),
      }, steps);
    }
    this.#maybeFinish();
    this.#scheduleFlush();
  }

  /** `settings.timeout_ms` bounds the whole run, measured from its start, across restarts. */
  #armRunTimeout(): void {
    const due = this.#deadline();
    if (due === undefined) return;
    const limit = this.#plan.workflow.definition.settings!.timeout_ms!;
    const fire = (): void => {
      if (this.#scheduler.finished) return;
      const message = `Run timed out after ${limit} ms`;
      this.#end({ status: 'failed', error_message: message }, new TrellisError('timeout', message));
      this.#events.after('execution:failed', () => ({ error: { code: 'timeout', message } }));
      this.#scheduleFlush();
    };
    const left = due - this.#deps.clock.now();
    if (left > 0) {
      this.#runTimeout = this.#deps.clock.setTimer(fire, left);
      return;
    }
    // Loaded again past its deadline (parked, or recovered): on the next turn, not the clock's next tick.
    const handle = setImmediate(fire);
    this.#runTimeout = () => clearImmediate(handle);
  }

  /** When `settings.timeout_ms` ends the run, if it has one. */
  #deadline(): number | undefined {
    const limit = this.#plan.workflow.definition.settings?.timeout_ms;
    if (limit === undefined) return undefined;
    const run = this.#row.record;
    return (run.started_at ?? run.created_at) + limit;
  }

  /**
   * Wakes a waiting step (approval, timer, event, child). Throws IllegalStateError when it is not
   * waiting for that. Resolves once the change is committed.
   */
  wake(path: string, signal: WakeSignal, audit?: AuditEvent): Promise<void> {
    const transition = wakeTransition(this.id, path, this.#steps.get(path), signal, this.#deps.clock.now());
    if (transition.kind === 'illegal') throw transition.error;
    if (audit) this.#batch.audit([audit]);
    this.#timers.cancel(path);
    this.#scheduler.put(transition.step);
    switch (transition.kind) {
      case 'refused':
        this.#outcomes.fail(transition.step, transition.error);
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
    if (this.#row.record.status !== 'paused' || this.#scheduler.paused) return;
    this.#row.patch({ status: 'running' });
    this.#events.after('execution:resumed', () => ({}));
  }

  /** Pauses: nothing new starts; in-flight steps finish and are recorded. Resolves once committed. */
  pause(audit?: AuditEvent): Promise<void> {
    const { status } = this.#row.record;
    if (this.#scheduler.finished || status !== 'running') throw new IllegalStateError(`Execution ${this.id} is ${status}; only a running execution can be paused`, { executionId: this.id });
    if (audit) this.#batch.audit([audit]);
    this.#scheduler.paused = true;
    this.#row.patch({ status: 'paused' });
    this.#events.after('execution:paused', () => ({ reason: 'user' as const }));
    return this.#committed();
  }

  /** Resumes a paused run: pending steps start. Resolves once committed. */
  resume(audit?: AuditEvent): Promise<void> {
    const { status } = this.#row.record;
    if (this.#scheduler.finished || status !== 'paused') throw new IllegalStateError(`Execution ${this.id} is ${status}; only a paused execution can be resumed`, { executionId: this.id });
    if (!this.#scheduler.paused) {
      // Paused only because it waits for people: resuming would do nothing, so say what it waits for.
      const waiting = this.waitingSteps().filter((s) => s.waiter?.kind === 'approval').map((s) => s.path);
      throw new IllegalStateError(`Execution ${this.id} waits for approval at ${waiting.join(', ')}: approve or reject it instead`, { executionId: this.id, details: { waiting } });
    }
    if (audit) this.#batch.audit([audit]);
    this.#scheduler.paused = false;
    this.#row.patch({ status: 'running' });
    this.#events.after('execution:resumed', () => ({}));
    this.#scheduler.promoteAll();
    this.#maybeFinish();
    return this.#committed();
  }

  /** Debug mode: a step became ready at a breakpoint; the run pauses before it starts. */
  #hitBreakpoint(path: string, entry: string): void {
    this.#scheduler.paused = true;
    if (this.#row.record.status === 'running') this.#row.patch({ status: 'paused' });
    this.#events.after('execution:paused', () => ({ reason: 'breakpoint' as const, path, breakpoint: entry }));
  }

  /**
   * Debug mode's single step: starts one held (`pending`) step of a paused run, `path` or else the
   * oldest, and keeps the run paused, so what it makes ready is held in turn. Refused while a step
   * executes (so concurrent calls never start two), when the run is not paused, or when nothing is
   * held. Resolves with the released step's path once the step has settled (completed, failed,
   * waits, or a loop started its iterations) and that is committed, or the run ended.
   */
  runOneStep(path: string | undefined, audit: ((path: string) => AuditEvent) | undefined): { path: string; settled: Promise<void> } {
    const { status } = this.#row.record;
    if (this.#scheduler.finished || status !== 'paused') throw new IllegalStateError(`Execution ${this.id} is ${status}; only a paused execution can be stepped`, { executionId: this.id });
    if (this.#executor.running > 0 || this.#stepWatch !== undefined) throw new IllegalStateError(`Execution ${this.id} is executing a step; step again once it has settled`, { executionId: this.id });
    const held = [...this.#steps.pending];
    const chosen = path === undefined ? held[0] : held.find((p) => p === path);
    if (chosen === undefined) {
      const message = path === undefined ? `Execution ${this.id} holds no step to run${this.#scheduler.paused ? '' : ' (it waits for approvals: approve or reject instead)'}` : `Step "${path}" of execution ${this.id} is not held before it starts (held: ${held.join(', ') || 'none'})`;
      throw new IllegalStateError(message, { executionId: this.id, details: { held } });
    }
    if (audit) this.#batch.audit([audit(chosen)]);
    // A run paused only by approvals becomes user-paused: the step's successors are held too.
    this.#scheduler.paused = true;
    const settled = new Promise<void>((resolve) => {
      this.#stepWatch = { path: chosen, resolve };
      this.#row.done.then(() => resolve(), () => resolve());
    });
    this.#scheduler.release(chosen);
    this.#scheduleFlush();
    return { path: chosen, settled };
  }

  /** Resolves after the next commit, which carries every change made so far. */
  #committed(): Promise<void> {
    const done = new Promise<void>((resolve) => this.#batch.after(resolve));
    this.#scheduleFlush();
    return done;
  }

  /** Cancels: aborts in-flight steps (failed, reason cancelled), skips pending and waiting ones. */
  cancel(reason = 'cancelled', audit?: AuditEvent): void {
    if (this.#scheduler.finished) return;
    if (audit) this.#batch.audit([audit]);
    this.#end({ status: 'cancelled', error_message: reason }, new TrellisError('cancelled', reason));
    this.#events.after('execution:cancelled', () => ({ reason }));
    this.#scheduleFlush();
  }

  /**
   * Engine shutdown, first part: nothing new starts here (steps made ready are committed as
   * `pending`, timers are left to whoever drives the run next), and the steps executing now finish.
   * Resolves once none executes and everything they did is committed; `detach` follows.
   */
  drain(): Promise<void> {
    this.#scheduler.paused = true;
    this.#timers.cancelAll();
    return this.#executor.idle();
  }

  /**
   * Stops driving the run without changing it (engine shutdown); another engine may recover it.
   * Steps still executing are aborted: what they did is not committed and runs again there.
   */
  detach(): void {
    this.#release('detached');
  }

  #release(why: 'detached' | 'parked'): void {
    this.#letGo = true;
    this.#stepWatch?.resolve(); // a step() waiting here gets the run as this process leaves it
    this.#stepWatch = undefined;
    this.#unsubscribeBudget?.();
    this.#runTimeout?.();
    this.#timers.cancelAll();
    this.#scheduler.finished = true;
    this.#executor.abortAll(new TrellisError('cancelled', `The engine driving run ${this.id} closed`, { executionId: this.id }));
    this.#trace?.end(why);
    this.#resolveLetGo?.();
    this.#settleEnded(false);
  }

  // ---- Settling steps and ending the run ----

  #settle(path: string, attempt: number, outcome: Outcome): void {
    const step = this.#steps.get(path);
    if (this.#stepWatch?.path === path) {
      this.#batch.after(this.#stepWatch.resolve); // once what the step did is committed
      this.#stepWatch = undefined;
    }
    if (step?.status === 'running' && step.attempt === attempt && !this.#scheduler.finished) {
      this.#outcomes.settle(step, outcome);
      // Progress after a recovery: poison strikes count deaths with nothing committed between.
      if (this.#row.record.recovery_count > 0) this.#row.patch({ recovery_count: 0 });
      this.#scheduler.pumpPending();
      this.#maybeFinish();
    }
    this.#scheduleFlush();
  }

  /** Finishes the run once the planner says no step is live; else marks a run that only waits for humans. */
  #maybeFinish(): void {
    if (this.#scheduler.finished) return;
    const outcome = runOutcome(this.#plan, this.#steps);
    if (!outcome.finished) {
      if (this.#row.record.status !== 'running' || this.#executor.running > 0) return;
      if (liveWaits(this.#steps.values(), this.#loopIterations) !== 'approvals') return;
      this.#row.patch({ status: 'paused' });
      this.#events.after('execution:paused', () => ({ reason: 'approval' as const, approvals: waitingApprovals(this.#steps.waiting()) }));
      return;
    }
    const { output } = outcome;
    const now = this.#deps.clock.now();
    this.#finish({ status: 'completed', output_data: output });
    this.#events.after('execution:completed', () => ({ output, durationMs: now - (this.#row.record.started_at ?? now) }));
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
    this.#row.patch(Object.assign({}, patch, { completed_at: this.#deps.clock.now(), owner: undefined, lease_expires_at: undefined }));
    this.#trace?.end(patch.status ?? 'completed', patch.error_message);
    this.#batch.after(() => {
      this.#deps.owner.runFinished(this.id);
      this.#deps.owner.runSettled(this.run);
      this.#row.resolve();
      this.#settleEnded(true);
    });
  }

  #scheduleFlush(): void {
    this.#executor.runReady();
    // Nothing executes: once this commit lands the run may only wait, and its process let it go.
    if (this.#executor.running === 0 && !this.#quietAsked && !this.#scheduler.finished && (this.#steps.waitingCount > 0 || this.#scheduler.paused)) {
      this.#quietAsked = true;
      this.#batch.after(this.#quiet);
    }
    // While other steps are still executing, give them a tick to settle so they commit together.
    this.#batch.schedule(this.#executor.busy);
  }

  /** A write failed: stop driving the run in memory; its committed state stays the truth for recovery. */
  #abandon(error: TrellisError): void {
    // A refused commit means another engine claimed the run (this one's lease was lost); a failed
    // one, that storage is failing. Either way the run goes on wherever it is recovered. A run this
    // engine let go of (it closed) is expected to be claimed elsewhere: nothing to tell then.
    if (!this.#letGo) this.#deps.logger.warn({ executionId: this.id, err: error }, error.code === 'conflict' ? 'lease lost: another engine took the run over; stopped driving it here' : 'commit failed: stopped driving the run here; it is recovered from its committed steps');
    this.detach();
    this.#executor.abortAll(error);
    this.#deps.owner.runFinished(this.id);
    this.#row.reject(error);
    this.#settleEnded(false);
  }
}
