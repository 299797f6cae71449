/**
 * Parking: a run that only waits (approvals, events, timers, a user's pause) is let go from memory
 * once everything it did is committed, and loaded again from storage by whatever wakes it. Ten
 * thousand runs waiting for people cost ten thousand rows, not ten thousand controllers.
 *
 * A parked run is stored unowned (`owner` null: any process may claim it to wake it, with the
 * usual claim, fencing and single flight), with `lease_expires_at` set to when it needs a driver
 * by itself: its nearest timer (delay, retry backoff, approval or event timeout, run deadline), or
 * never (PARKED_UNTIL_WOKEN). Recovery and workers' claims take an unowned run only once that time
 * has passed (or, for claims, when something waits in its inbox), so a parked run is neither an
 * orphan nor ready work while it waits. The process that parked it keeps one clock timer for the
 * nearest due time of its parked runs (ParkedTimers); in a fleet, a worker's claim pass or
 * recovery poll takes a due run whose parker is gone. Internal to the runtime.
 */
import type { Clock } from '../kernel/clock.js';
import type { Storage } from '../storage/storage.js';
import { PARKED_UNTIL_WOKEN } from '../planner/run-parking.js';
import type { RunController } from './run-controller.js';
import { ParkedTimers } from './parked-timers.js';

/** What parking needs of the hot runs. */
export interface ParkedRunsHost {
  readonly clock: Clock;
  readonly instanceId: string;
  storage(): Promise<Storage>;
  /** The controller of a run driven here. */
  controller(runId: string): RunController | undefined;
  /** Forgets the controller of a run being parked (it is no longer driven here). */
  drop(runId: string): void;
  /**
   * Whether a child run `controller` waits for is driven here: its end then wakes the parent in
   * memory, so the parent stays loaded (parking it would only load it again); once the child is
   * parked in turn, the parent's parking is looked at again.
   */
  drivesChildOf(controller: RunController): boolean;
  /**
   * Loads a parked run (claimed, single flight), if nobody drives it: with `dueOnly`, only when
   * its stored wake time has come (its timer fired), else at once (something waits in its inbox).
   */
  load(runId: string, dueOnly: boolean): Promise<void>;
  /** Whether a parked run's timer is armed (it holds the process open, as a loaded run did). */
  timersArmed(on: boolean): void;
  reportError(event: string, error: unknown): void;
}

export class ParkedRuns {
  readonly #host: ParkedRunsHost;
  readonly #timers: ParkedTimers;
  /** Runs with a parking check queued. */
  readonly #checks = new Set<string>();
  /** Runs something here is about to act on (a wake-up between loading and waking): never parked meanwhile. */
  readonly #pins = new Map<string, number>();
  /** Parkings whose write is in flight: an adoption of the run waits for it. */
  readonly #parking = new Map<string, Promise<void>>();
  #closed = false;
  #parked = 0;

  constructor(host: ParkedRunsHost) {
    this.#host = host;
    this.#timers = new ParkedTimers({
      clock: host.clock,
      armed: (on) => host.timersArmed(on),
      due: (runIds) => {
        for (const runId of runIds) void host.load(runId, true).catch((error: unknown) => host.reportError('timer', error));
      },
    });
  }

  /** Runs parked by this process since it started (a figure for tests and benchmarks). */
  get parkedCount(): number {
    return this.#parked;
  }

  /** Parked runs of this process that wait on a timer. */
  get timers(): number {
    return this.#timers.size;
  }

  /** A commit of the run landed with nothing executing: park it, on the next turn, if it only waits then. */
  quiet(runId: string): void {
    if (this.#closed || this.#checks.has(runId)) return;
    this.#checks.add(runId);
    // A macrotask later: whoever loaded the run to act on it (an approval, an event) acts in the
    // microtasks that follow the load, before this check.
    setImmediate(() => {
      this.#checks.delete(runId);
      this.#check(runId).catch((error: unknown) => this.#host.reportError('park', error));
    });
  }

  /** Keeps a run loaded while `act` runs (it acts on the controller across awaits). */
  async pinned<T>(runId: string, act: () => Promise<T>): Promise<T> {
    this.#pins.set(runId, (this.#pins.get(runId) ?? 0) + 1);
    try {
      return await act();
    } finally {
      const left = this.#pins.get(runId)! - 1;
      if (left > 0) this.#pins.set(runId, left);
      else {
        this.#pins.delete(runId);
        this.quiet(runId);
      }
    }
  }

  /** The parking write of a run, while in flight: an adoption waits for it before claiming the run. */
  parking(runId: string): Promise<void> | undefined {
    return this.#parking.get(runId);
  }

  /** A parked run's stored wake time is later than the timer that fired: keep an eye on it. */
  retime(runId: string, at: number): void {
    if (!this.#closed && at < PARKED_UNTIL_WOKEN) this.#timers.add(runId, at);
  }

  /** The engine closes: nothing more is parked; resolves once parking writes in flight have landed. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timers.stop();
    await Promise.allSettled([...this.#parking.values()]);
  }

  async #check(runId: string): Promise<void> {
    for (;;) {
      const controller = this.#host.controller(runId);
      if (!controller || this.#closed || this.#pins.has(runId)) return;
      const at = controller.parkAt();
      if (at !== undefined) return this.#host.drivesChildOf(controller) ? undefined : this.#park(controller, at);
      // Only a commit still landing stands in the way: look again once it has.
      if (!controller.committing) return;
      await controller.committedAll();
      // And a turn: a commit scheduled for the next tick (steps settling together) is not in flight yet.
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  #park(controller: RunController, at: number): void {
    const runId = controller.id;
    this.#host.drop(runId);
    controller.park();
    this.#parked++;
    // A parent loaded here, waiting for this run, may be parked now too.
    const parentId = controller.run.parent_id;
    if (parentId !== undefined && this.#host.controller(parentId)) this.quiet(parentId);
    let inboxed = false;
    const write = (async () => {
      const storage = await this.#host.storage();
      // Expecting this owner: a run whose lease ran out and that another process claimed is theirs.
      const parked = await storage.updateRun(runId, { owner: undefined, lease_expires_at: at }, { owner: this.#host.instanceId });
      if (!parked) return;
      this.retime(runId, at);
      // An event left in its inbox by a process that could not claim it just before: taken below.
      inboxed = (await storage.findDeliveredEvents([runId], 1)).length > 0;
    })()
      .catch((error: unknown) => {
        // Still claimed by this process, no longer renewed: its lease runs out, and recovery takes it on.
        this.#host.reportError('park', error);
      })
      .finally(() => {
        this.#parking.delete(runId);
        // Not awaited here: loading the run waits for this parking to end.
        if (inboxed && !this.#closed) void this.#host.load(runId, false).catch((error: unknown) => this.#host.reportError('event', error));
      });
    this.#parking.set(runId, write);
  }
}
