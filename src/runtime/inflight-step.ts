import type { NodeResult } from '../nodes/node-handler.js';

/** How a step attempt ended: the handler's result, or what it threw (or why it was aborted). */
export interface Outcome {
  readonly result?: NodeResult;
  readonly error?: unknown;
}

/** A step whose handler is running: aborting it settles the step at once, whatever the handler does. */
export class InflightStep {
  /** The step's path. */
  readonly path: string;
  /** Where the executor keeps it (its index among the attempts executing). */
  slot = -1;
  // Created on first use: AbortController is costly in Node, and most nodes never look at their signal.
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;
  #done: ((outcome: Outcome) => void) | undefined;

  constructor(path: string) {
    this.path = path;
  }

  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  /** Calls `done` once: with the handler's answer, or with the abort reason if the step is aborted first. */
  watch(pending: Promise<NodeResult>, done: (outcome: Outcome) => void): void {
    this.#done = done;
    pending.then(
      (result) => this.#settle(this.#aborted && this.#reason !== undefined ? { error: this.#reason } : { result }),
      (error: unknown) => this.#settle({ error: this.#aborted && this.#reason !== undefined ? this.#reason : error }),
    );
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.#settle({ error: reason });
  }

  #settle(outcome: Outcome): void {
    const done = this.#done;
    if (!done) return;
    this.#done = undefined;
    done(outcome);
  }
}
