/**
 * What the model caller knows about one run it serves: the workflow's budget with the run's usage
 * so far, and, for replays and forks, where recorded answers come from and which nodes run live.
 * Attached by the engine when it starts driving a run; runs with neither need no state.
 */
import { addUsage, usageOfRecord, ZERO_USAGE, type UsageTotals } from './pricing.js';
import type { ModelCallRecord, RunRecord } from '../storage/records.js';
import type { RunBudget } from './call-budget.js';
import type { WorkflowDefinition } from '../definition/definition.js';
import { createReplayResponder, forkScope, replaySpecOf, type ForkOverride, type ReplayResponder, type ReplaySpec } from './replay-answers.js';

/** Loads the call records of a run. */
export type LoadCalls = (runId: string) => Promise<ModelCallRecord[]>;

/** Per-run state of the model caller. */
export class RunCalls {
  readonly budget: RunBudget | undefined;
  readonly spec: ReplaySpec | undefined;
  readonly #runId: string;
  readonly #load: LoadCalls;
  readonly #live: ReadonlySet<string> | undefined;
  readonly #counted = new Set<string>();
  #usage: UsageTotals = ZERO_USAGE;
  #baseline: Promise<UsageTotals> | undefined;
  #responder: Promise<ReplayResponder> | undefined;

  /** Undefined when the run has no budget and is no replay: nothing to track. */
  static for(run: RunRecord, definition: WorkflowDefinition, load: LoadCalls): RunCalls | undefined {
    const budget = definition.definition.settings?.budget;
    const spec = replaySpecOf(run.trigger);
    if (!budget && !spec) return undefined;
    return new RunCalls(run.id, budget, spec, definition, load);
  }

  private constructor(runId: string, budget: RunBudget | undefined, spec: ReplaySpec | undefined, definition: WorkflowDefinition, load: LoadCalls) {
    this.#runId = runId;
    this.budget = budget;
    this.spec = spec;
    this.#load = load;
    this.#live = spec?.type === 'fork' && spec.from_node !== undefined ? forkScope(definition, spec.from_node) : undefined;
  }

  /** Counts a call's usage (once per record id). */
  add(recordId: string, usage: UsageTotals): void {
    if (this.#counted.has(recordId)) return;
    this.#counted.add(recordId);
    this.#usage = addUsage(this.#usage, usage);
  }

  /**
   * The run's usage so far: calls counted here plus committed records of earlier processes (a
   * recovered run), read once and without double counting.
   */
  async usageSoFar(): Promise<UsageTotals> {
    this.#baseline ??= this.#load(this.#runId).then((records) => records.filter((r) => !this.#counted.has(r.id)).reduce((sum, r) => addUsage(sum, usageOfRecord(r)), ZERO_USAGE));
    return addUsage(await this.#baseline, this.#usage);
  }

  /** Whether `nodeId` answers from records (a replay, or a fork before its `from_node`). */
  replays(nodeId: string): boolean {
    if (!this.spec) return false;
    return this.spec.type === 'replay' || !this.#live?.has(nodeId);
  }

  /** The responder over the source run's records, loaded once. */
  responder(): Promise<ReplayResponder> {
    this.#responder ??= this.#load(this.spec!.source_execution_id).then(createReplayResponder);
    return this.#responder;
  }

  /** The fork's edits for `nodeId`, if any. */
  override(nodeId: string): ForkOverride | undefined {
    return this.spec?.overrides?.[nodeId];
  }
}
