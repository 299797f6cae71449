/**
 * A worker's share of the fleet's work: runs that are ready for any process (stored by a
 * submit-only engine, let go by an engine that closed, or left by one whose lease ran out) are
 * claimed in batches with `claimReadyRuns` (row locks that skip what other claimants hold, on
 * PostgreSQL) under the same owner, lease and fencing rules as recovery, up to the worker's
 * capacity, and driven here. A pass runs on every poll of the background loop and at once when the
 * storage announces work (NOTIFY on PostgreSQL); an announcement for a run driven here takes what
 * was left in its inbox instead. Internal to the engine.
 */
import type { RunRecord } from '../storage/records.js';
import type { Storage } from '../storage/storage.js';
import type { Clock } from '../kernel/clock.js';

/**
 * Runs asked for in one statement. Small, and a pass yields between statements: workers woken by
 * the same announcement then take turns at a backlog (their statements skip each other's rows)
 * instead of the first one taking all of it.
 */
const BATCH = 8;

/** What claiming needs of the engine. */
export interface WorkClaimsHost {
  readonly storage: Storage & Required<Pick<Storage, 'claimReadyRuns'>>;
  readonly clock: Clock;
  readonly instanceId: string;
  readonly leaseMs: number;
  /** Runs this process drives at most (loaded ones, waiting ones included); it claims nothing past them. */
  readonly capacity: number;
  /** Runs driven or being loaded here now. */
  load(): number;
  isHot(runId: string): boolean;
  /** Loads and drives a run this process has just claimed; false when it was ended instead (poison, say). */
  adoptClaimed(run: RunRecord): Promise<boolean>;
  /** Wakes the steps of runs driven here with what other processes left in their inbox. */
  takeDeliveredEvents(runIds: readonly string[]): Promise<void>;
  reportError(event: string, error: unknown): void;
}

export class WorkClaims {
  readonly #host: WorkClaimsHost;
  #stopped = false;
  #unwatch: (() => Promise<void>) | undefined;
  /** The pass in flight; an announcement during it asks for one more after it (never two at once). */
  #pass: Promise<string[]> | undefined;
  #again = false;
  /** Adoptions started by passes, which `stop()` lets settle before the storage closes. */
  readonly #adoptions = new Set<Promise<unknown>>();

  constructor(host: WorkClaimsHost) {
    this.#host = host;
  }

  /** Listens for announced work (when the storage can) and claims what is ready now. */
  async start(): Promise<void> {
    const { storage } = this.#host;
    if (storage.watchWork && !this.#unwatch) {
      this.#unwatch = await storage.watchWork((runId) => this.#announced(runId));
      if (this.#stopped) await this.#unwatch();
    }
    await this.claim();
  }

  /**
   * Claims ready runs up to the capacity left and starts driving them; resolves with their ids.
   * Single flight: a call during a pass resolves with that pass, which then runs once more.
   */
  claim(): Promise<string[]> {
    if (this.#stopped) return Promise.resolve([]);
    if (this.#pass) {
      this.#again = true;
      return this.#pass;
    }
    const pass = this.#claimPass().finally(() => {
      this.#pass = undefined;
      if (this.#again && !this.#stopped) {
        this.#again = false;
        void this.claim().catch((error: unknown) => this.#host.reportError('claim', error));
      }
    });
    this.#pass = pass;
    return pass;
  }

  /** Takes nothing new from now on (the engine closes); resolves once passes and the adoptions they started have settled. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#unwatch?.().catch(() => undefined);
    this.#unwatch = undefined;
    await this.#pass?.catch(() => undefined);
    await Promise.allSettled([...this.#adoptions]);
  }

  #announced(runId: string): void {
    if (this.#stopped) return;
    const done = this.#host.isHot(runId) ? this.#host.takeDeliveredEvents([runId]) : this.claim();
    done.catch((error: unknown) => this.#host.reportError('claim', error));
  }

  async #claimPass(): Promise<string[]> {
    const { storage, clock, instanceId, leaseMs, capacity } = this.#host;
    const taken: string[] = [];
    for (;;) {
      const room = Math.min(BATCH, capacity - this.#host.load());
      if (this.#stopped || room <= 0) return taken;
      const now = clock.now();
      const batch = await storage.claimReadyRuns(instanceId, now + leaseMs, now, room);
      // Stopped meanwhile: these are claimed now, and driving them lets close() release them the usual way.
      const adoptions = batch.map((run) => this.#track(this.#host.adoptClaimed(run)).then((driven) => driven && taken.push(run.id)));
      await Promise.all(adoptions);
      if (batch.length < room) return taken;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  #track<T>(adoption: Promise<T>): Promise<T> {
    this.#adoptions.add(adoption);
    void adoption.finally(() => this.#adoptions.delete(adoption)).catch(() => undefined);
    return adoption;
  }
}
