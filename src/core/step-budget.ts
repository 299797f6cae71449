/**
 * How many steps of one whole run may execute at once. One budget is shared by the run and every
 * nested loop, parallel block and sub-workflow run inside it (while they run in this process),
 * so nesting never multiplies the limit.
 */
export class StepBudget {
  readonly limit: number | undefined;
  #running = 0;
  readonly #waiters = new Set<() => void>();

  constructor(limit: number | undefined) {
    this.limit = limit;
  }

  /** True when one more step may start. */
  hasRoom(): boolean {
    return this.limit === undefined || this.#running < this.limit;
  }

  acquire(): void {
    this.#running++;
  }

  /** A step ended: controllers waiting for room get a chance to start pending steps. */
  release(): void {
    this.#running--;
    if (this.limit === undefined) return;
    for (const wake of [...this.#waiters]) {
      if (!this.hasRoom()) return;
      wake();
    }
  }

  /** Calls `wake` whenever room frees up; returns the unsubscribe function. */
  subscribe(wake: () => void): () => void {
    this.#waiters.add(wake);
    return () => this.#waiters.delete(wake);
  }
}
