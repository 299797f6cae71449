/**
 * What the event streams of one router share: one listener per event name on the engine, however
 * many streams are open, and one look at storage per watched run and poll, however many streams
 * watch it. A dashboard open in fifty tabs on an API process would otherwise add fifty listeners
 * per event name (each `node:token` then called fifty functions) and read the run from storage
 * fifty times a second.
 */
import type { TrellisEventName, TrellisEvents } from '../kernel/events.js';
import type { WorkflowExecution } from '../runtime/run-view.js';

/** How often a watched run with no event here is read from storage. */
export const STORED_POLL_MS = 1000;

/** The events relayed to a stream. */
export const STREAMED_EVENTS = [
  'execution:started',
  'execution:paused',
  'execution:resumed',
  'execution:completed',
  'execution:failed',
  'execution:cancelled',
  'node:started',
  'node:completed',
  'node:failed',
  'node:skipped',
  'node:waiting',
  'node:token',
] as const satisfies readonly TrellisEventName[];

/** A streamed event's name. */
export type StreamedEvent = (typeof STREAMED_EVENTS)[number];

type Listener = (payload: TrellisEvents[StreamedEvent]) => void;

/** What the hub needs of an engine: its events, and a run as stored. */
export interface WatchedEngine {
  readonly events: {
    on(event: StreamedEvent, listener: Listener): unknown;
    off(event: StreamedEvent, listener: Listener): unknown;
  };
  get(executionId: string): Promise<WorkflowExecution | undefined>;
}

/** One stream's side of a watch. */
export interface RunWatcher {
  /** An event of the run fired in this process. */
  event(name: StreamedEvent, payload: TrellisEvents[StreamedEvent]): void;
  /** The run as storage holds it, read because no event of it fired here since the last look. */
  stored(execution: WorkflowExecution): void;
}

interface WatchedRun {
  readonly watchers: Set<RunWatcher>;
  /** An event of the run fired since the last look: it is driven here, nothing to read. */
  heard: boolean;
  /** A look is under way: the next poll does not start another. */
  reading: boolean;
}

/** The streams' shared listeners and storage poll, for one engine. */
export class RunEventHub {
  readonly #engine: WatchedEngine;
  readonly #runs = new Map<string, WatchedRun>();
  readonly #listeners = new Map<StreamedEvent, Listener>();
  #poll: NodeJS.Timeout | undefined;

  constructor(engine: WatchedEngine) {
    this.#engine = engine;
  }

  /** Runs watched now (for tests and diagnostics). */
  get watchedRuns(): number {
    return this.#runs.size;
  }

  /** Sends `watcher` the run's events and, while none fire here, what storage shows; the function returned ends the watch. */
  watch(executionId: string, watcher: RunWatcher): () => void {
    if (this.#runs.size === 0) this.#attach();
    let run = this.#runs.get(executionId);
    if (!run) this.#runs.set(executionId, (run = { watchers: new Set(), heard: false, reading: false }));
    run.watchers.add(watcher);
    const watched = run;
    return () => {
      if (!watched.watchers.delete(watcher) || watched.watchers.size > 0) return;
      this.#runs.delete(executionId);
      if (this.#runs.size === 0) this.#detach();
    };
  }

  #attach(): void {
    for (const name of STREAMED_EVENTS) {
      const listener: Listener = (payload) => {
        const run = this.#runs.get(payload.executionId);
        if (!run) return;
        run.heard = true;
        for (const watcher of run.watchers) watcher.event(name, payload);
      };
      this.#listeners.set(name, listener);
      this.#engine.events.on(name, listener);
    }
    this.#poll = setInterval(() => this.#look(), STORED_POLL_MS);
    this.#poll.unref();
  }

  #detach(): void {
    for (const [name, listener] of this.#listeners) this.#engine.events.off(name, listener);
    this.#listeners.clear();
    clearInterval(this.#poll);
    this.#poll = undefined;
  }

  #look(): void {
    for (const [executionId, run] of this.#runs) {
      if (run.heard) {
        run.heard = false;
        continue;
      }
      if (run.reading) continue;
      run.reading = true;
      this.#engine
        .get(executionId)
        .then((execution) => {
          // An event that fired meanwhile says more than this read, and may say it later.
          if (execution && !run.heard) for (const watcher of run.watchers) watcher.stored(execution);
        })
        .catch(() => undefined)
        .finally(() => (run.reading = false));
    }
  }
}
