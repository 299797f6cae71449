/**
 * The timers of one run's waiting steps (delays, retry backoff, approval and event timeouts), by
 * step path. At most one per step; the clock is the engine's, so a FakeClock drives them in tests.
 */
import type { Clock } from '../kernel/clock.js';

export class StepTimers {
  readonly #clock: Clock;
  /** Made on first use: most runs never wait on a timer. */
  #cancels: Map<string, () => void> | undefined;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Calls `fire` at `dueAt` (at once when past due), replacing the step's earlier timer. */
  arm(path: string, dueAt: number, fire: () => void): void {
    this.cancel(path);
    const cancel = this.#clock.setTimer(() => {
      this.#cancels?.delete(path);
      fire();
    }, dueAt - this.#clock.now());
    (this.#cancels ??= new Map()).set(path, cancel);
  }

  cancel(path: string): void {
    const cancel = this.#cancels?.get(path);
    if (cancel === undefined) return;
    this.#cancels!.delete(path);
    cancel();
  }

  cancelAll(): void {
    if (!this.#cancels) return;
    for (const cancel of this.#cancels.values()) cancel();
    this.#cancels.clear();
  }
}
