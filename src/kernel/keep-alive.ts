/**
 * What keeps the Node process running while an engine has work it promised to do: a run it drives
 * (waiting on a delay, a retry backoff or an approval timeout included), or its background loop.
 * Every timer the engine arms is unref'd (kernel/clock.ts), so an idle engine never holds a process
 * open; this one ref'd handle holds it while there is such work, and is let go when there is none
 * or the engine closes.
 */

/** The longest interval Node accepts; the handle only needs to exist, never to fire. */
const FOREVER_MS = 2 ** 31 - 1;

/** Holds the process open while at least one reason is held. */
export class KeepAlive {
  readonly #reasons = new Set<string>();
  readonly #enabled: boolean;
  #handle: ReturnType<typeof setInterval> | undefined;
  #holding = false;

  /** `enabled: false` (an engine on an injected clock, whose host drives time) never holds the process. */
  constructor(enabled: boolean) {
    this.#enabled = enabled;
  }

  /** Whether the process is being held open. */
  get holding(): boolean {
    return this.#holding;
  }

  hold(reason: string): void {
    if (!this.#enabled) return;
    this.#reasons.add(reason);
    // One handle for the engine's life, ref'd and unref'd: a run that starts and ends thousands of
    // times a second would otherwise make and clear a timer each time.
    if (this.#handle === undefined) this.#handle = setInterval(() => undefined, FOREVER_MS);
    else this.#handle.ref();
    this.#holding = true;
  }

  release(reason: string): void {
    this.#reasons.delete(reason);
    if (this.#reasons.size === 0 && this.#holding) {
      this.#handle!.unref();
      this.#holding = false;
    }
  }

  /** Lets the process go for good (the engine closes). */
  releaseAll(): void {
    this.#reasons.clear();
    if (this.#handle !== undefined) clearInterval(this.#handle);
    this.#handle = undefined;
    this.#holding = false;
  }
}
