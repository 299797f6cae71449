/**
 * The in-memory side of running loops: which iterations of each running loop have started and
 * finished, their results in input order, and when to start the next ones (concurrency for
 * for_each/count, the condition for while). The facts themselves are the iteration steps in
 * storage; after a restart, `restore` rebuilds this state from them.
 */
import type { IterateResult } from '../nodes/node-handler.js';
import { tooMany } from '../nodes/loop-node.js';
import type { StepRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import { toTrellisError, type TrellisError } from '../kernel/errors.js';
import { compileExpression } from '../expressions/expressions.js';
import type { Plan } from '../planner/plan.js';
import { iterationState, type PlannerView } from '../planner/planner.js';
import type { ScopeContext, ScopeContexts } from './scope-contexts.js';
import { iterationPrefix, parseIterationPrefix, splitStepPath } from '../planner/step-path.js';
import { plainCopier } from '../kernel/plain.js';

// The parts live as long as the run: copied into an object made with `new` (see kernel/plain.ts).
const copyHost = plainCopier<LoopHost>();

/** What the loop machinery needs from the run it belongs to. */
export interface LoopHost {
  readonly plan: Plan;
  readonly contexts: ScopeContexts;
  readonly view: PlannerView;
  /** True once the run has ended: no iteration may start. */
  finished(): boolean;
  /** Decides (starts or skips) a node in a scope. */
  decide(prefix: string, nodeId: string): void;
  /** Every iteration of the loop step at `path` is done: complete it with the results. */
  completeLoop(path: string, results: Json[]): void;
  /** The loop step at `path` fails (condition error, too many iterations). */
  failLoop(path: string, error: TrellisError): void;
}

interface LoopRuntime {
  readonly path: string;
  readonly parentPrefix: string;
  readonly loopId: string;
  readonly spec: IterateResult['spec'];
  readonly as: string;
  readonly indexAs: string;
  readonly concurrency: number;
  readonly max: number;
  readonly results: Json[];
  readonly finished: Set<number>;
  next: number;
  running: number;
}

/** The running loops of one run, by loop step path. */
export class LoopIterations {
  readonly #host: LoopHost;
  readonly #loops = new Map<string, LoopRuntime>();

  constructor(host: LoopHost) {
    this.#host = copyHost(host);
  }

  /** True while the loop step at `path` has iterations to run or running. */
  has(path: string): boolean {
    return this.#loops.has(path);
  }

  /** Starts a loop step's iterations. */
  start(step: StepRecord, spec: IterateResult['spec']): void {
    this.#fill(this.#create(step, spec));
  }

  /** Rebuilds a running loop from its committed iteration steps (started ones count as running until checked). */
  restore(step: StepRecord, spec: IterateResult['spec'], steps: Iterable<StepRecord>): void {
    const rt = this.#create(step, spec);
    const head = `${step.path}[`;
    const started = new Set<number>();
    for (const s of steps) {
      if (s.path.startsWith(head)) started.add(Number(s.path.slice(head.length, s.path.indexOf(']', head.length))));
    }
    for (const index of started) {
      rt.next = Math.max(rt.next, index + 1);
      rt.running++;
    }
  }

  /** During a restore: opens the scope of the iteration `prefix` if its loop is running. False for a finished loop. */
  reopen(prefix: string): boolean {
    const scope = parseIterationPrefix(prefix);
    const rt = scope && this.#loops.get(scope.parentPrefix + scope.loopId);
    if (!scope || !rt) return false;
    this.#open(rt, scope.index, rt.spec.mode === 'list' ? (rt.spec.items[scope.index] ?? null) : scope.index);
    return true;
  }

  /** Starts whatever iterations every running loop may start now (after a restore). */
  fillAll(): void {
    for (const rt of [...this.#loops.values()]) this.#fill(rt);
  }

  /** A step in iteration scope `prefix` settled: when the whole iteration is done, record it and go on. */
  check(prefix: string): void {
    const scope = parseIterationPrefix(prefix);
    if (!scope) return;
    const rt = this.#loops.get(scope.parentPrefix + scope.loopId);
    if (!rt || rt.finished.has(scope.index)) return;
    const state = iterationState(this.#host.plan, this.#host.view, scope.loopId, prefix);
    if (state.kind === 'running') return;
    if (state.kind === 'failed') return; // the failing step already decided the run's fate
    rt.results[scope.index] = state.result as Json;
    rt.finished.add(scope.index);
    rt.running--;
    // Keep the last iteration's scope for a while-condition; drop the others to bound memory.
    if (rt.spec.mode !== 'while') this.#host.contexts.close(prefix);
    else if (scope.index > 0) this.#host.contexts.close(iterationPrefix(rt.parentPrefix, rt.loopId, scope.index - 1));
    this.#fill(rt);
  }

  #create(step: StepRecord, spec: IterateResult['spec']): LoopRuntime {
    const { prefix, nodeId } = splitStepPath(step.path);
    const config = this.#host.plan.nodes.get(nodeId)!.node.config as { as?: string; index_as?: string; concurrency?: number; max_iterations: number };
    const runtime: LoopRuntime = {
      path: step.path,
      parentPrefix: prefix,
      loopId: nodeId,
      spec,
      as: config.as ?? 'item',
      indexAs: config.index_as ?? 'index',
      concurrency: spec.mode === 'while' ? 1 : (config.concurrency ?? 1),
      max: config.max_iterations,
      results: [],
      finished: new Set(),
      next: 0,
      running: 0,
    };
    this.#loops.set(step.path, runtime);
    return runtime;
  }

  #fill(rt: LoopRuntime): void {
    if (this.#host.finished()) return;
    if (rt.spec.mode === 'while') {
      if (rt.running > 0) return;
      const contexts = this.#host.contexts;
      const scope = rt.next === 0 ? rt.parentPrefix : iterationPrefix(rt.parentPrefix, rt.loopId, rt.next - 1);
      const ctx = contexts.get(scope) ?? contexts.get(rt.parentPrefix) ?? {};
      let holds: boolean;
      try {
        holds = Boolean(compileExpression(rt.spec.condition).evaluate(ctx));
      } catch (error) {
        return this.#fail(rt, toTrellisError(error));
      }
      if (!holds) return this.#complete(rt);
      if (rt.next >= rt.max) return this.#fail(rt, tooMany(rt.loopId, `more than ${rt.max}`, rt.max));
      // A while iteration's item is the previous iteration's result (null the first time).
      this.#startIteration(rt, rt.next, rt.next === 0 ? null : (rt.results[rt.next - 1] ?? null));
      return;
    }
    const total = rt.spec.mode === 'list' ? rt.spec.items.length : rt.spec.count;
    while (rt.running < rt.concurrency && rt.next < total && !this.#host.finished()) {
      const index = rt.next;
      this.#startIteration(rt, index, rt.spec.mode === 'list' ? (rt.spec.items[index] ?? null) : index);
    }
    if (rt.finished.size === total) this.#complete(rt);
  }

  #startIteration(rt: LoopRuntime, index: number, item: Json): void {
    rt.next = Math.max(rt.next, index + 1);
    rt.running++;
    const prefix = iterationPrefix(rt.parentPrefix, rt.loopId, index);
    this.#open(rt, index, item, prefix);
    for (const entry of this.#host.plan.loops.get(rt.loopId)!.entries) this.#host.decide(prefix, entry);
  }

  #open(rt: LoopRuntime, index: number, item: Json, prefix = iterationPrefix(rt.parentPrefix, rt.loopId, index)): ScopeContext {
    const contexts = this.#host.contexts;
    const existing = contexts.get(prefix);
    if (existing) return existing;
    // A while loop refines: each iteration starts from the previous one's scope, so its nodes see
    // the last draft, critique, ... under their ids. for_each and count iterations are independent.
    const previous = rt.spec.mode === 'while' && index > 0 ? iterationPrefix(rt.parentPrefix, rt.loopId, index - 1) : undefined;
    const from = previous !== undefined && contexts.get(previous) ? previous : rt.parentPrefix;
    return contexts.open(prefix, from, { [rt.as]: item, [rt.indexAs]: index });
  }

  #complete(rt: LoopRuntime): void {
    this.#loops.delete(rt.path);
    const results: Json[] = [];
    for (let i = 0; i < rt.next; i++) results.push(rt.results[i] ?? null);
    this.#host.completeLoop(rt.path, results);
  }

  #fail(rt: LoopRuntime, error: TrellisError): void {
    this.#loops.delete(rt.path);
    this.#host.failLoop(rt.path, error);
  }
}
