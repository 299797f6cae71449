/**
 * Work announcements within one process: the engines that share a storage object (a submit-only
 * engine and a worker in one process, say) wake each other at once. Processes sharing a SQLite
 * file do not hear each other: they find the work on their next poll.
 */
export class LocalWorkSignals {
  readonly #listeners = new Set<(runId: string) => void>();

  /** Calls every listener on a later turn: an announcement never runs engine code inside the caller's write. */
  async announce(runId: string): Promise<void> {
    for (const listener of this.#listeners) queueMicrotask(() => listener(runId));
  }

  async watch(listener: (runId: string) => void): Promise<() => Promise<void>> {
    // Wrapped, so one listener added twice is two subscriptions, each removed by its own stop.
    const subscription = (runId: string): void => listener(runId);
    this.#listeners.add(subscription);
    return async () => void this.#listeners.delete(subscription);
  }
}
