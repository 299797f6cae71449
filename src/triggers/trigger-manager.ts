/**
 * `createTriggers(host)`: runs the schedule and event triggers of stored workflows. It reads
 * triggers from stored definitions (data first), arms schedules on the clock, catches up on
 * fires missed while no process ran, and starts event-triggered runs, including chains on
 * `workflow.completed` / `workflow.failed`. Webhooks arrive over HTTP (`createHooksRouter`).
 */
import type { Cron } from 'croner';
import { systemClock, type Clock } from '../kernel/clock.js';
import type { TriggerHost } from './trigger-host.js';
import { TrellisError } from '../kernel/errors.js';
import type { TrellisEvents } from '../kernel/events.js';
import type { Json } from '../kernel/json.js';
import { matchEventTrigger, WORKFLOW_COMPLETED, WORKFLOW_FAILED } from './event-trigger.js';
import { compileSchedule, latestFireBetween, runSchedule } from './schedule-trigger.js';
import { mapInput, triggersOfType, type EventTriggerConfig, type ScheduleTriggerConfig, type StoredTrigger } from './trigger-config.js';

/** Where a trigger problem happened. */
export interface TriggerErrorContext {
  readonly kind: 'schedule' | 'event' | 'config';
  readonly workflowId?: string;
  readonly triggerId?: string;
}

/** Options of {@link createTriggers}. */
export interface TriggersOptions {
  /**
   * The clock schedules wait on. Pass the engine's clock when you gave it one (a FakeClock in tests).
   * @default the system clock
   */
  readonly clock?: Clock;
  /**
   * Called when a trigger cannot fire (invalid config, a start that failed). Triggers never throw
   * into the caller's process.
   * @default publishes `listener:error` on `engine.events` with `event: 'trigger:<kind>'`
   */
  readonly onError?: (error: unknown, context: TriggerErrorContext) => void;
}

/** Options of one {@link Triggers.emit}. */
export interface EmitOptions {
  /** Emitting the same key again starts no new runs (per target workflow and trigger). */
  readonly idempotencyKey?: string;
}

/** The running triggers of an engine. */
export interface Triggers {
  /** Reads stored workflows, catches up on missed schedule fires, arms schedules, listens for run ends. Idempotent. */
  start(): Promise<void>;
  /** Disarms every schedule and stops listening; runs already started go on. */
  stop(): void;
  /** Starts every active workflow with a matching event trigger; resolves with the started run ids. */
  emit(name: string, payload?: unknown, options?: EmitOptions): Promise<string[]>;
  /** Re-reads stored workflows: new schedules are armed (without catch-up), removed ones disarmed. */
  refresh(): Promise<void>;
}

interface ArmedSchedule {
  readonly signature: string;
  readonly stop: () => void;
}

/**
 * Creates the trigger runner of an engine (any {@link TriggerHost}). Call `start()` once the
 * engine is ready and `stop()` before closing it.
 *
 * @example
 * const triggers = createTriggers(engine);
 * await triggers.start();
 * await triggers.emit('order.created', { id: 42, total: 120 });
 */
export function createTriggers(engine: TriggerHost, options: TriggersOptions = {}): Triggers {
  return new TriggerManager(engine, options);
}

class TriggerManager implements Triggers {
  readonly #engine: TriggerHost;
  readonly #clock: Clock;
  readonly #onError: (error: unknown, context: TriggerErrorContext) => void;
  readonly #schedules = new Map<string, ArmedSchedule>();
  #events: StoredTrigger<EventTriggerConfig>[] | undefined;
  #started: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;

  constructor(engine: TriggerHost, options: TriggersOptions) {
    this.#engine = engine;
    this.#clock = options.clock ?? systemClock;
    this.#onError = options.onError ?? ((error, context) => engine.events.publish('listener:error', { event: `trigger:${context.kind}`, error }));
  }

  start(): Promise<void> {
    this.#started ??= (async () => {
      this.#listen();
      await this.#load(true);
    })();
    return this.#started;
  }

  stop(): void {
    for (const schedule of this.#schedules.values()) schedule.stop();
    this.#schedules.clear();
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#started = undefined;
  }

  refresh(): Promise<void> {
    return this.#load(false);
  }

  emit(name: string, payload: unknown = {}, options: EmitOptions = {}): Promise<string[]> {
    return this.#emit(name, payload, options.idempotencyKey, undefined);
  }

  async #emit(name: string, payload: unknown, idempotencyKey: string | undefined, sourceWorkflowId: string | undefined): Promise<string[]> {
    // Before start() or refresh(), the triggers are read once on first use.
    const triggers = this.#events ?? (this.#events = triggersOfType(await this.#engine.workflows.list(), 'event').triggers);
    const started: string[] = [];
    for (const trigger of triggers) {
      // A run's end never starts its own workflow again: that would be an endless chain.
      if (trigger.workflowId === sourceWorkflowId) continue;
      const match = matchEventTrigger(trigger, name, payload);
      if (!match.matches) {
        if ('error' in match) this.#onError(match.error, { kind: 'event', workflowId: trigger.workflowId, triggerId: trigger.triggerId });
        continue;
      }
      try {
        const id = await this.#engine.startStored(trigger.workflowId, mapInput(payload, trigger.config.input_mapping), {
          trigger: { type: 'event', id: trigger.triggerId, event: name },
          ...(idempotencyKey === undefined ? {} : { idempotencyKey: `event:${name}:${idempotencyKey}:${trigger.workflowId}:${trigger.triggerId}` }),
        });
        started.push(id);
      } catch (error) {
        this.#onError(error, { kind: 'event', workflowId: trigger.workflowId, triggerId: trigger.triggerId });
      }
    }
    return started;
  }

  /** Chains: a run's end is emitted as `workflow.completed` / `workflow.failed`, keyed by the run so it chains once. */
  #listen(): void {
    if (this.#unsubscribe) return;
    const chain = (name: string, payload: Record<string, unknown>, e: { executionId: string; workflowId: string }): void => {
      void this.#emit(name, { workflow_id: e.workflowId, execution_id: e.executionId, ...payload }, e.executionId, e.workflowId).catch((error: unknown) =>
        this.#onError(error, { kind: 'event' }),
      );
    };
    const completed = (e: TrellisEvents['execution:completed']): void => chain(WORKFLOW_COMPLETED, { output: e.output }, e);
    const failed = (e: TrellisEvents['execution:failed']): void => chain(WORKFLOW_FAILED, { output: null, error: e.error }, e);
    this.#engine.events.on('execution:completed', completed);
    this.#engine.events.on('execution:failed', failed);
    this.#unsubscribe = () => {
      this.#engine.events.off('execution:completed', completed);
      this.#engine.events.off('execution:failed', failed);
    };
  }

  async #load(catchUp: boolean): Promise<void> {
    const workflows = await this.#engine.workflows.list();
    const events = triggersOfType(workflows, 'event');
    const schedules = triggersOfType(workflows, 'schedule');
    for (const problem of [...events.problems, ...schedules.problems]) {
      this.#onError(new TrellisError('invalid_options', `Trigger "${problem.triggerId}" of workflow "${problem.workflowId}": ${problem.message}`), {
        kind: 'config',
        workflowId: problem.workflowId,
        triggerId: problem.triggerId,
      });
    }
    this.#events = events.triggers;

    const seen = new Set<string>();
    for (const trigger of schedules.triggers) {
      const key = `${trigger.workflowId}\u0000${trigger.triggerId}`;
      const signature = JSON.stringify(trigger.config);
      seen.add(key);
      if (this.#schedules.get(key)?.signature === signature) continue;
      this.#schedules.get(key)?.stop();
      this.#schedules.delete(key);
      let cron: Cron;
      try {
        cron = compileSchedule(trigger.config);
      } catch (error) {
        this.#onError(error, { kind: 'config', workflowId: trigger.workflowId, triggerId: trigger.triggerId });
        continue;
      }
      if (catchUp) await this.#catchUp(trigger, cron);
      this.#schedules.set(key, { signature, stop: runSchedule(cron, this.#clock, (fireAt) => void this.#fire(trigger, fireAt)) });
    }
    for (const [key, schedule] of this.#schedules) {
      if (seen.has(key)) continue;
      schedule.stop();
      this.#schedules.delete(key);
    }
  }

  /**
   * Fires missed while no process ran: `run_once` starts the latest one (same key as a live fire,
   * so two processes catching up at once still start one run), `skip` none. Fires are counted
   * from the latest run this trigger recorded; a trigger that never fired has nothing to catch up.
   */
  async #catchUp(trigger: StoredTrigger<ScheduleTriggerConfig>, cron: Cron): Promise<void> {
    if (trigger.config.catch_up !== 'run_once') return;
    try {
      const last = await this.#lastFire(trigger);
      if (last === undefined) return;
      const due = latestFireBetween(cron, last, this.#clock.now());
      if (due !== undefined) await this.#fire(trigger, due);
    } catch (error) {
      this.#onError(error, { kind: 'schedule', workflowId: trigger.workflowId, triggerId: trigger.triggerId });
    }
  }

  /** The `fire_at` of the newest run this trigger started (runs are listed newest first). */
  async #lastFire(trigger: StoredTrigger<ScheduleTriggerConfig>): Promise<number | undefined> {
    const page = 200;
    for (let offset = 0; ; offset += page) {
      const runs = await this.#engine.list({ workflow_id: trigger.workflowId, limit: page, offset });
      for (const run of runs) {
        const recorded = run.trigger as { type?: unknown; id?: unknown; fire_at?: unknown } | undefined;
        if (recorded?.type === 'schedule' && recorded.id === trigger.triggerId && typeof recorded.fire_at === 'string') {
          const at = Date.parse(recorded.fire_at);
          if (Number.isFinite(at)) return at;
        }
      }
      if (runs.length < page) return undefined;
    }
  }

  async #fire(trigger: StoredTrigger<ScheduleTriggerConfig>, fireAt: number): Promise<void> {
    const fireIso = new Date(fireAt).toISOString();
    try {
      await this.#engine.startStored(trigger.workflowId, trigger.config.input, {
        trigger: { type: 'schedule', id: trigger.triggerId, fire_at: fireIso } satisfies Json,
        idempotencyKey: `schedule:${trigger.workflowId}:${trigger.triggerId}:${fireIso}`,
      });
    } catch (error) {
      this.#onError(error, { kind: 'schedule', workflowId: trigger.workflowId, triggerId: trigger.triggerId });
    }
  }
}
