/** A step whose handler is running: aborting it rejects its pending result at once. */
export class InflightStep {
  // Created on first use: AbortController is costly in Node, and most nodes never look at their signal.
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;
  reject: ((reason: unknown) => void) | undefined;

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

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
    this.reject?.(reason);
  }
}
