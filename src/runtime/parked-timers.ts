/**
 * The timers of the runs this process parked (see parked-runs.ts): one clock timer for the whole
 * process, set for the nearest due time, over a binary heap of (due time, run id), instead of a
 * timer and a loaded run per waiting step. What is due is handed back by run id; the caller reads
 * the run from storage, which says whether it still waits (a run woken meanwhile is skipped).
 */
import type { Clock } from '../kernel/clock.js';

interface Entry {
  readonly at: number;
  readonly runId: string;
}

/** What the timers tell their owner. */
export interface ParkedTimersHost {
  readonly clock: Clock;
  /** These runs' timers came due. */
  due(runIds: readonly string[]): void;
  /** Whether a timer is armed now (an armed timer holds the process open, as a loaded run did). */
  armed(on: boolean): void;
}

export class ParkedTimers {
  readonly #host: ParkedTimersHost;
  readonly #heap: Entry[] = [];
  #cancel: (() => void) | undefined;
  /** The due time the clock timer is set for. */
  #armedAt: number | undefined;
  #stopped = false;

  constructor(host: ParkedTimersHost) {
    this.#host = host;
  }

  /** Runs waiting on a timer. */
  get size(): number {
    return this.#heap.length;
  }

  /** Tells the owner at `at` that `runId` is due (at once when past). */
  add(runId: string, at: number): void {
    if (this.#stopped) return;
    const heap = this.#heap;
    heap.push({ at, runId });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.at <= heap[i]!.at) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    this.#heap.length = 0;
    this.#arm();
  }

  #arm(): void {
    const next = this.#heap[0];
    if (next?.at === this.#armedAt && this.#cancel) return;
    this.#cancel?.();
    this.#cancel = undefined;
    this.#armedAt = undefined;
    if (next === undefined) {
      this.#host.armed(false);
      return;
    }
    this.#armedAt = next.at;
    this.#cancel = this.#host.clock.setTimer(() => this.#fire(), next.at - this.#host.clock.now());
    this.#host.armed(true);
  }

  #fire(): void {
    this.#cancel = undefined;
    this.#armedAt = undefined;
    const now = this.#host.clock.now();
    const due: string[] = [];
    while (this.#heap.length > 0 && this.#heap[0]!.at <= now) due.push(this.#pop());
    this.#arm();
    if (due.length > 0) this.#host.due(due);
  }

  #pop(): string {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let least = i;
        if (left < heap.length && heap[left]!.at < heap[least]!.at) least = left;
        if (right < heap.length && heap[right]!.at < heap[least]!.at) least = right;
        if (least === i) break;
        [heap[least], heap[i]] = [heap[i]!, heap[least]!];
        i = least;
      }
    }
    return top.runId;
  }
}
