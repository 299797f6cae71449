/**
 * One run's lifecycle events, typed by {@link TrellisEvents}. Each is queued behind the commit that
 * carries the fact it announces (so a listener never sees what a crash could undo), and neither the
 * queueing nor the payload costs anything while nobody listens. Internal to the runner.
 */
import type { StepRecord } from '../storage/records.js';
import type { Clock } from '../kernel/clock.js';
import type { CommitBatch } from './commit-batch.js';
import type { TrellisEventEmitter, TrellisEventName, TrellisEvents } from '../kernel/events.js';
import type { Plan } from '../planner/plan.js';

/** Run events: those whose payload starts with the run's id, workflow and time. */
type RunEventName = Exclude<TrellisEventName, 'provider:circuit' | 'listener:error' | 'node:token'>;

/** An event's own fields, without the run's id, workflow and time, which are added when it is emitted. */
type RunEventPayload<K extends RunEventName> = Omit<TrellisEvents[K], 'executionId' | 'workflowId' | 'timestamp'>;

export class RunEvents {
  readonly #emitter: TrellisEventEmitter;
  readonly #clock: Clock;
  readonly #batch: CommitBatch;
  readonly #plan: Plan;
  readonly #executionId: string;
  readonly #workflowId: string;

  constructor(emitter: TrellisEventEmitter, clock: Clock, batch: CommitBatch, plan: Plan, run: { readonly id: string; readonly workflow_id: string }) {
    this.#emitter = emitter;
    this.#clock = clock;
    this.#batch = batch;
    this.#plan = plan;
    this.#executionId = run.id;
    this.#workflowId = run.workflow_id;
  }

  /**
   * Emits `event` after the next commit, with the payload `payload()` builds then. The emitter's
   * observer (the metrics) sees it now, from a payload built now: queueing a callback behind the
   * commit for it alone would cost every step more than the counting does.
   */
  after<K extends RunEventName>(event: K, payload: () => RunEventPayload<NoInfer<K>>): void {
    this.#emitter.observer?.(event, this.#workflowId, payload());
    if (this.#emitter.hasListeners()) this.#batch.after(() => this.#deliver(event, payload()));
  }

  /** Emits `node:started` for the step at `path` after the next commit, as the step then is. */
  started(step: () => StepRecord | undefined): void {
    const observer = this.#emitter.observer;
    if (observer) {
      const current = step();
      if (current) observer('node:started', this.#workflowId, this.#startedFields(current));
    }
    if (!this.#emitter.hasListeners()) return;
    this.#batch.after(() => {
      const current = step();
      if (current) this.#deliver('node:started', this.#startedFields(current));
    });
  }

  #startedFields(step: StepRecord): RunEventPayload<'node:started'> {
    return { nodeId: step.node_id, path: step.path, nodeType: this.#plan.nodes.get(step.node_id)?.type ?? 'unknown', attempt: step.attempt };
  }

  /** Emits `event` now (the caller knows its fact is committed). */
  emit<K extends RunEventName>(event: K, payload: RunEventPayload<K>): void {
    this.#emitter.observer?.(event, this.#workflowId, payload);
    this.#deliver(event, payload);
  }

  /** Calls the listeners of `event` (the observer saw it already). */
  #deliver<K extends RunEventName>(event: K, payload: RunEventPayload<K>): void {
    if (this.#emitter.listenerCount(event) === 0) return;
    this.#emitter.deliver(event, { executionId: this.#executionId, workflowId: this.#workflowId, timestamp: this.#clock.now(), ...payload } as TrellisEvents[K]);
  }
}
