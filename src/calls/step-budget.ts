/**
 * How many steps of one whole run may execute at once. One budget is shared by the run and every
 * nested loop, parallel block and sub-workflow run inside it (while they run in this process),
 * so nesting never multiplies the limit.
 */
export class StepBudget {
  readonly limit: number | undefined;
  #running = 0;
  /** Made on first subscription: most runs have no limit, and a Set per run is not free. */
  #waiters: Set<() => void> | undefined;

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
    if (this.limit === undefined || this.#waiters === undefined) return;
    for (const wake of [...this.#waiters]) {
      if (!this.hasRoom()) return;
      wake();
    }
  }

  /** Calls `wake` whenever room frees up; returns the unsubscribe function. */
  subscribe(wake: () => void): () => void {
    const waiters = (this.#waiters ??= new Set());
    waiters.add(wake);
    return () => waiters.delete(wake);
  }
}
