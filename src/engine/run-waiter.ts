/**
 * Waiting for runs, for the engine: `engine.wait(id, { until })` on a run driven here (woken by its
 * events, or its end) or elsewhere (read from storage), and a caller's AbortSignal tied to the run it
 * started. Both stop when the engine lets its runs go at close.
 */
import { untilAborted } from '../kernel/abortable.js';
import { IllegalStateError, NotFoundError, isTrellisError } from '../kernel/errors.js';
import type { TrellisEventEmitter } from '../kernel/events.js';
import type { HotRuns } from '../runtime/hot-runs.js';
import type { WorkflowExecution } from '../runtime/run-view.js';
import { hasReached, nextRunChange, type WaitUntil } from '../runtime/wait-until.js';

/** Options of {@link Engine.wait}. */
export interface WaitOptions {
  /** What to wait for; the run's end by default. Every choice also resolves when the run ends. */
  readonly until?: WaitUntil;
  /** Stops waiting (rejects with its reason); the run itself goes on. */
  readonly signal?: AbortSignal;
  /** How often a run driven by another process is read from storage. Default 50 ms. */
  readonly pollMs?: number;
}

/** What the waiter needs of its engine. */
export interface RunWaiterParts {
  readonly hot: Pick<HotRuns, 'get' | 'has'>;
  readonly events: TrellisEventEmitter;
  /** The run as storage has it. */
  read(executionId: string): Promise<WorkflowExecution | undefined>;
  cancel(executionId: string, reason: string): Promise<void>;
}

export class RunWaiter {
  readonly #parts: RunWaiterParts;
  #released = false;
  #release = noop;
  /** Resolves when the engine lets its runs go: every wait in flight stops. */
  readonly #gone = new Promise<void>((resolve) => (this.#release = resolve));
  /** `#gone` as a wait for a run's end reads it (the run did not end here); made once, not per wait. */
  readonly #goneNo = this.#gone.then(no);

  constructor(parts: RunWaiterParts) {
    this.#parts = parts;
  }

  /** The engine let its runs go (close, after draining): waits reject from now on. */
  release(): void {
    this.#released = true;
    this.#release();
  }

  wait(executionId: string, options: WaitOptions = {}): Promise<WorkflowExecution> {
    // engine.run's wait, the common one: a run driven here, to its end, with no signal. One
    // promise chain answers it; the loop below (an async function, costly to enter and for V8 to
    // optimise) is for every other case, and for this one when the run is let go before it ends.
    if ((options.until === undefined || options.until === 'end') && options.signal === undefined && !this.#released) {
      const hot = this.#parts.hot.get(executionId);
      if (hot) return Promise.race([hot.ended, this.#goneNo]).then((ended) => (ended ? hot.execution() : this.#waitLoop(executionId, options)));
    }
    return this.#waitLoop(executionId, options);
  }

  async #waitLoop(executionId: string, options: WaitOptions): Promise<WorkflowExecution> {
    const until = options.until ?? 'end';
    const { signal } = options;
    const { hot: runs, events } = this.#parts;
    for (;;) {
      this.#assertHeld(executionId);
      const hot = runs.get(executionId);
      if (hot) {
        if (until === 'end') {
          // Parked meanwhile (it only waits): read on from storage, woken by the run's events here.
          const ended = await untilAborted(Promise.race([hot.ended, this.#goneNo]), signal);
          // Everything the controller holds is committed once `done` resolved: no read back.
          if (ended) return hot.execution();
          this.#assertHeld(executionId);
        } else {
          // Subscribed before reading, so a change between the two is not missed.
          const change = nextRunChange(events, executionId);
          const now = hot.execution();
          if (hasReached(now, until)) {
            change.stop();
            // The view runs ahead of storage by the commit in flight: answer once that landed, so
            // what this wait reports is what any engine reads (and what a crash now would keep).
            await untilAborted(Promise.race([hot.committed(), hot.done.then(noop, noop), hot.letGo, this.#gone]), signal);
            return hot.execution();
          }
          await untilAborted(Promise.race([change.changed, hot.done.then(noop, noop), hot.letGo, this.#gone]), signal).finally(change.stop);
          continue;
        }
      }
      // Subscribed before reading: a run parked here is woken here, and its events end the poll at once.
      const change = nextRunChange(events, executionId);
      try {
        const current = await this.#parts.read(executionId);
        if (!current) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
        if (hasReached(current, until)) return current;
        if (runs.has(executionId)) continue;
        signal?.throwIfAborted();
        await untilAborted(Promise.race([new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 50)), change.changed, this.#gone]), signal);
      } finally {
        change.stop();
      }
    }
  }

  /** A run was recorded for a caller with `signal`: its abort cancels the run, from now until the run ends. */
  cancelOnAbort(executionId: string, signal: AbortSignal | undefined): void {
    if (!signal) return;
    const cancel = (): void => {
      const reason: unknown = signal.reason;
      this.#parts.cancel(executionId, reason instanceof Error ? reason.message : String(reason)).catch((error: unknown) => {
        // It ended, or the engine closed, before the abort: nothing left to cancel.
        if (!isTrellisError(error) || (error.code !== 'illegal_state' && error.code !== 'not_found')) this.#parts.events.publish('listener:error', { event: 'abort', error });
      });
    };
    if (signal.aborted) return cancel();
    signal.addEventListener('abort', cancel, { once: true });
    void this.wait(executionId).then(noop, noop).finally(() => signal.removeEventListener('abort', cancel));
  }

  #assertHeld(executionId: string): void {
    if (this.#released) throw new IllegalStateError(`The engine closed before execution ${executionId} got there; the run goes on when an engine recovers it`, { executionId });
  }
}

const noop = (): void => undefined;
const no = (): boolean => false;
