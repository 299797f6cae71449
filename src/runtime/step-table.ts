/**
 * The steps of one run as the process driving it knows them: the latest row of each path, how many
 * are still live, which wait for room to start, and the next sequence number. Internal to the runner.
 */
import type { StepRecord } from '../storage/records.js';
import { isTerminal } from '../planner/planner.js';

export class StepTable {
  readonly #steps = new Map<string, StepRecord>();
  /** Paths of steps that are ready but wait for the budget or a resume, oldest first. */
  readonly pending = new Set<string>();
  #live = 0;
  #waiting = 0;
  #seq = 0;

  get(path: string): StepRecord | undefined {
    return this.#steps.get(path);
  }

  has(path: string): boolean {
    return this.#steps.has(path);
  }

  values(): IterableIterator<StepRecord> {
    return this.#steps.values();
  }

  /** Steps not yet completed, skipped or failed. */
  get live(): number {
    return this.#live;
  }

  /** Steps waiting (approvals, timers, events, children): counted, so that asking costs no scan. */
  get waitingCount(): number {
    return this.#waiting;
  }

  /** The sequence number of the next step to start (the trace's order). */
  nextSeq(): number {
    return ++this.#seq;
  }

  /** Records the latest row of a step, keeping the live count and the pending set in step. */
  put(step: StepRecord): void {
    const previous = this.#steps.get(step.path);
    const wasLive = previous !== undefined && !isTerminal(previous);
    const isLive = !isTerminal(step);
    if (wasLive && !isLive) this.#live--;
    else if (!wasLive && isLive) this.#live++;
    if (previous?.status === 'waiting') this.#waiting--;
    if (step.status === 'waiting') this.#waiting++;
    this.#steps.set(step.path, step);
    if (step.status === 'pending') this.pending.add(step.path);
    else if (this.pending.size > 0) this.pending.delete(step.path);
  }

  /** Loads committed rows (recovery); returns them in the order they started. */
  load(steps: readonly StepRecord[]): StepRecord[] {
    const ordered = [...steps].sort((a, b) => a.seq - b.seq);
    for (const step of ordered) {
      this.put(step);
      this.#seq = Math.max(this.#seq, step.seq);
    }
    return ordered;
  }

  /** Steps currently waiting (approvals, timers, events, children). */
  waiting(): StepRecord[] {
    return [...this.#steps.values()].filter((s) => s.status === 'waiting');
  }

  /** Child runs the waiting `sub_workflow` steps wait for, by step path. */
  childWaits(): { path: string; childId: string }[] {
    return this.waiting().flatMap((s) => (s.waiter?.kind === 'child' && s.waiter.child_id !== undefined ? [{ path: s.path, childId: s.waiter.child_id }] : []));
  }

  /** Steps waiting for the event `name`. */
  eventWaiters(name: string): StepRecord[] {
    return this.waiting().filter((s) => s.waiter?.kind === 'event' && s.waiter.event === name);
  }
}
