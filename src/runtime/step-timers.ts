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

  /**
   * Calls `fire` at `dueAt` (at once when past due), replacing the step's earlier timer. With
   * `overdue` (a run loaded again after its timer came due while nobody held it) a timer already
   * due fires on the next turn rather than on the clock's next tick: a fake clock that is not
   * advanced again would otherwise never fire it.
   */
  arm(path: string, dueAt: number, fire: () => void, overdue = false): void {
    this.cancel(path);
    const run = (): void => {
      this.#cancels?.delete(path);
      fire();
    };
    let cancel: () => void;
    if (overdue && dueAt <= this.#clock.now()) {
      const handle = setImmediate(run);
      cancel = () => clearImmediate(handle);
    } else {
      cancel = this.#clock.setTimer(run, dueAt - this.#clock.now());
    }
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
