/**
 * What starts when, in one run: launching ready steps (or keeping them pending while the run is
 * paused or its step budget is full), skipping steps whose path was not taken, and, after a step
 * settles, asking the planner about each successor and applying its verdict. It writes the rows
 * and queues their events; the rules themselves are the planner's. Internal to the runner.
 */
import type { StepRecord } from '../storage/records.js';
import type { Clock } from '../kernel/clock.js';
import { TrellisError } from '../kernel/errors.js';
import type { Plan } from '../planner/plan.js';
import { blockingSource, isTerminal, readiness, type PlannerView } from '../planner/planner.js';
import { changedStep, newStep, skippedStep } from '../planner/step-records.js';
import { breakpointAt } from '../planner/breakpoints.js';
import type { StepBudget } from '../calls/step-budget.js';
import { cancelRegion, type CancellationScope } from './run-cancellation.js';
import type { CommitBatch } from './commit-batch.js';
import type { LoopIterations } from './loop-iterations.js';
import type { RunEvents } from './run-events.js';
import type { StepExecutor } from './step-executor.js';
import type { StepTable } from './step-table.js';
import type { StepTimers } from './step-timers.js';
import type { ChildRuns } from './run-deps.js';
import { plainCopier } from '../kernel/plain.js';

// The parts live as long as the run: copied into an object made with `new` (see kernel/plain.ts).
const copyParts = plainCopier<RunSchedulerParts>();

/** The parts of a run the scheduler works with. */
export interface RunSchedulerParts {
  readonly runId: string;
  readonly plan: Plan;
  readonly clock: Clock;
  readonly steps: StepTable;
  readonly batch: CommitBatch;
  readonly events: RunEvents;
  readonly timers: StepTimers;
  readonly executor: StepExecutor;
  readonly budget: StepBudget;
  /** The run as the planner sees it. */
  readonly view: PlannerView;
  /** Child runs of the run's `sub_workflow` steps. */
  readonly children: Pick<ChildRuns, 'cancelChild'>;
  /** The run's loops (made on first use: most runs have none). */
  loops(): LoopIterations;
  /** A step the planner says cannot run fails, routed like any failure. */
  fail(step: StepRecord, error: TrellisError): void;
  /** Debug mode: the run's breakpoints (see planner/breakpoints.ts); undefined for most runs. */
  readonly breakpoints: readonly string[] | undefined;
  /** A step became ready at a breakpoint: the run pauses (this sets `paused`) before it starts. */
  hitBreakpoint(path: string, entry: string): void;
}

/** Starts, keeps pending and skips the steps of one run. Also the scope that cancelling works in. */
export class RunScheduler implements CancellationScope {
  readonly plan: Plan;
  readonly clock: Clock;
  readonly steps: StepTable;
  readonly executor: StepExecutor;
  readonly timers: StepTimers;
  /** Paused by the user: nothing new starts (in-flight steps finish). */
  paused = false;
  /** The run has ended (or is no longer driven by this process): nothing more starts or is decided. */
  finished = false;
  readonly #parts: RunSchedulerParts;
  /** Joins known to wait, by step path, with a source step path that keeps them waiting. */
  readonly #blockers = new Map<string, string>();

  constructor(parts: RunSchedulerParts) {
    this.#parts = copyParts(parts);
    this.plan = parts.plan;
    this.clock = parts.clock;
    this.steps = parts.steps;
    this.executor = parts.executor;
    this.timers = parts.timers;
  }

  /** Writes a step row into the table and the next commit. */
  put(step: StepRecord): void {
    this.steps.put(step);
    this.#parts.batch.step(step);
  }

  /** Starts `nodeId` in scope `prefix` (its row says `pending` while it may not start yet). */
  launch(prefix: string, nodeId: string, path = prefix + nodeId): void {
    // Asked once per step, as it becomes ready: a step held here and then released (resume, step)
    // is promoted, never launched again, so it does not stop twice.
    const { breakpoints } = this.#parts;
    if (breakpoints !== undefined && !this.paused) {
      const entry = breakpointAt(path, breakpoints);
      if (entry !== undefined) this.#parts.hitBreakpoint(path, entry);
    }
    const canRun = !this.paused && this.#parts.budget.hasRoom();
    this.put(newStep(this.#parts.runId, path, nodeId, this.steps.nextSeq(), canRun ? 'running' : 'pending', 1, this.clock.now()));
    if (canRun) this.#start(path);
  }

  /** Starts the pending step at `path` if the run may start steps now. */
  promote(path: string): void {
    if (this.paused || !this.#parts.budget.hasRoom()) return;
    this.put(changedStep(this.steps.get(path)!, { status: 'running', started_at: this.clock.now() }));
    this.#start(path);
  }

  /**
   * Debug mode's single step: starts the pending step at `path` although the run is paused (it
   * stays paused, so what this step makes ready is held in turn).
   */
  release(path: string): void {
    this.put(changedStep(this.steps.get(path)!, { status: 'running', started_at: this.clock.now() }));
    this.#start(path);
  }

  /** Starts pending steps, oldest first, while the run may. */
  promoteAll(): void {
    for (const path of [...this.steps.pending]) this.promote(path);
  }

  /** Starts pending steps while the concurrency budget allows. */
  pumpPending(): void {
    if (this.paused || this.finished || this.#parts.budget.limit === undefined) return;
    // Oldest first (insertion order), without scanning every step of the run.
    for (const path of [...this.steps.pending]) {
      if (!this.#parts.budget.hasRoom()) return;
      this.promote(path);
    }
  }

  #start(path: string): void {
    this.#parts.events.started(() => this.steps.get(path));
    this.executor.start(path);
  }

  /** After a step settled: decide its successors, then whether its iteration or loop is done. */
  advance(prefix: string, nodeId: string): void {
    if (this.finished) return;
    const node = this.plan.nodes.get(nodeId)!;
    // Indexed: a for-of makes an iterator per call until V8 optimises it (see planner.ts readiness).
    const outgoing = node.outgoing;
    for (let i = 0; i < outgoing.length; i++) this.decide(prefix, outgoing[i]!.target_node_id);
    if (node.loopId !== undefined && prefix !== '') this.#parts.loops().check(prefix);
  }

  /** Applies the planner's readiness verdict on `nodeId` in scope `prefix`. */
  decide(prefix: string, nodeId: string): void {
    if (this.finished) return;
    // A join over many branches is asked after each branch settles: while a known blocker is
    // unsettled the answer is still `wait`, without rescanning every incoming edge.
    // The path is made once here and handed on: each new string costs a hash at every lookup.
    const path = prefix + nodeId;
    const blocker = this.#blockers.size === 0 ? undefined : this.#blockers.get(path);
    if (blocker !== undefined) {
      if (!isTerminal(this.steps.get(blocker))) return;
      this.#blockers.delete(path);
    }
    const verdict = readiness(this.plan, this.#parts.view, prefix, nodeId, path);
    switch (verdict.kind) {
      case 'ready':
        if (verdict.early) {
          cancelRegion(this, prefix, nodeId);
          // A join fires once per scope: if ending the losers decided it already, it stands.
          if (this.steps.get(path) !== undefined) return;
        }
        this.launch(prefix, nodeId, path);
        return;
      case 'skip':
        this.skip(prefix, nodeId, verdict.reason);
        this.advance(prefix, nodeId);
        return;
      case 'fail': {
        const step = newStep(this.#parts.runId, path, nodeId, this.steps.nextSeq(), 'running', 1, this.clock.now());
        this.put(step);
        this.#parts.fail(step, new TrellisError('node_failed', verdict.reason, { nodeId, retryable: false }));
        return;
      }
      case 'wait': {
        const source = blockingSource(this.plan, this.#parts.view, prefix, nodeId);
        if (source !== undefined) this.#blockers.set(path, source);
        return;
      }
      default:
        return;
    }
  }

  /** Records `nodeId` in scope `prefix` as skipped without starting it. */
  skip(prefix: string, nodeId: string, reason: string): void {
    const path = prefix + nodeId;
    this.put(skippedStep(this.#parts.runId, path, nodeId, this.steps.nextSeq(), reason, this.clock.now()));
    this.#parts.events.after('node:skipped', () => ({ nodeId, path, reason }));
  }

  /** Announces, after the commit, that a live step was skipped. */
  skipped(step: StepRecord, reason: string): void {
    this.#parts.events.after('node:skipped', () => ({ nodeId: step.node_id, path: step.path, reason }));
  }

  cancelChild(childId: string, reason: string): void {
    this.#parts.batch.after(() => this.#parts.children.cancelChild(childId, reason));
  }
}
