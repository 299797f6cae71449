/**
 * The model calls of one step attempt: the records made so far, and the requests still waiting for
 * their provider. An aborted attempt (a lost race, a timeout, a cancel) settles at once, before the
 * provider's rejection arrives; the calls still in flight are then recorded as failed with the
 * abort's reason, in the same commit, so a paid call never vanishes from the run's records.
 */
import type { ModelCallRecord } from '../storage/records.js';

export class AttemptCalls {
  /** Records to commit with the attempt's outcome. */
  readonly records: ModelCallRecord[] = [];
  // Made on the first request: most steps call no model.
  #inFlight: Set<(error: unknown) => ModelCallRecord> | undefined;

  /** A request reached its provider; `failed` makes its record should the attempt be aborted first. */
  sending(failed: (error: unknown) => ModelCallRecord): () => void {
    const inFlight = (this.#inFlight ??= new Set());
    inFlight.add(failed);
    return () => inFlight.delete(failed);
  }

  /** The attempt was aborted with `reason`: each request still in flight is recorded as failed. */
  aborted(reason: unknown): void {
    if (this.#inFlight === undefined) return;
    for (const failed of this.#inFlight) this.records.push(failed(reason));
    this.#inFlight.clear();
  }
}
