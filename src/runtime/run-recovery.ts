/**
 * Recovery: finding runs that no live process advances and continuing them from their committed
 * steps. An orphan is a `pending` or `running` run whose owner's lease expired; a run waiting on a
 * timer that came due while it was loaded nowhere is adopted too. Every adoption is vetted for
 * poison first (see {@link vetAdopted}). Internal to the engine.
 */
import type { RunRecord, StepRecord } from '../storage/records.js';
import type { Storage } from '../storage/storage.js';
import type { Clock } from '../kernel/clock.js';
import type { TrellisEventEmitter } from '../kernel/events.js';
import { endStored } from './run-ending.js';

/** What recovery needs of the engine. */
export interface RecoveryHost {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly instanceId: string;
  readonly leaseMs: number;
  /** Whether this process drives the run already. */
  isHot(runId: string): boolean;
  /** Claims a run and continues it (single flight per run, vetted for poison); false when it is not driven here. */
  adopt(run: RunRecord): Promise<boolean>;
  /** Starts queued runs of a workflow while it is under its `max_concurrent_runs`. */
  admitNext(workflowId: string): Promise<void>;
  /** Wakes the steps of runs driven here with the events other processes left in their inbox. */
  takeDeliveredEvents(): Promise<void>;
  /**
   * A worker claims other processes' orphans through its work claims (in batches, up to its
   * capacity, see work-claims.ts): recovery then takes on only the runs its own instance id left.
   */
  readonly orphansAreClaimed?: boolean;
}

/** One recovery pass; resolves with the ids of the runs it took over. */
export async function recoverRuns(host: RecoveryHost): Promise<string[]> {
  const { storage, clock } = host;
  const now = clock.now();
  const taken: string[] = [];
  const admitted = new Set<string>();
  // Runs this instance id holds but this process does not drive were left by its previous life.
  for (const orphan of await storage.findOrphanRuns(now, 100, host.instanceId)) {
    if (host.isHot(orphan.id)) continue;
    if (orphan.status === 'pending' && orphan.started_at === undefined) {
      // A queued run: admit it under its workflow's concurrency limit instead of recovering it.
      if (!admitted.has(orphan.workflow_id)) await host.admitNext(orphan.workflow_id);
      admitted.add(orphan.workflow_id);
      continue;
    }
    if (host.orphansAreClaimed && orphan.owner !== host.instanceId) continue;
    // Through the hot runs, not a claim of its own: an approval or event racing this pass for the
    // same run shares its adoption instead of driving a second copy.
    if (await host.adopt(orphan)) taken.push(orphan.id);
  }
  // Timers that came due while their run was not loaded anywhere (e.g. an approval timeout).
  for (const step of await storage.findDueSteps(now, 100)) {
    if (host.isHot(step.run_id)) continue;
    const run = await storage.getRun(step.run_id);
    if (run && (run.owner === undefined || (run.lease_expires_at ?? 0) < now) && (await host.adopt(run))) taken.push(run.id);
  }
  // Events emitted in another process for runs driven here: read on every pass, so an event waits
  // at most one poll interval.
  await host.takeDeliveredEvents();
  return taken;
}

/** What the poison check needs. */
export interface PoisonCheck {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly events: TrellisEventEmitter;
  /** Deaths in a row with the same steps in flight, nothing committed between, that a run survives. */
  readonly maxRecoveryAttempts: number;
}

/**
 * Vets a run just claimed from storage before it is driven. A strike is counted only when steps
 * were in flight (`running`) at the previous owner's end: a run that died between steps or while
 * waiting is innocent (its count goes back to 0), and the controller clears the count with its first
 * settled step, so strikes count deaths in a row with nothing committed between. Past
 * `maxRecoveryAttempts` strikes the run is failed as poison, its in-flight steps with it, saying
 * which steps were running. Resolves with the record to drive, or undefined when it was failed.
 */
export async function vetAdopted(check: PoisonCheck, run: RunRecord, steps: readonly StepRecord[]): Promise<RunRecord | undefined> {
  const { storage } = check;
  const inFlight = steps.filter((s) => s.status === 'running');
  const expect = { owner: run.owner ?? null, revision: run.revision };
  if (inFlight.length === 0) {
    if (run.recovery_count === 0) return run;
    return storage.updateRun(run.id, { recovery_count: 0 }, expect);
  }
  const strikes = run.recovery_count + 1;
  if (strikes <= check.maxRecoveryAttempts) {
    // Counted before it runs: if this recovery ends the process too, the next one knows.
    return storage.updateRun(run.id, { recovery_count: strikes }, expect);
  }
  const now = check.clock.now();
  // Name the innermost steps (a running loop's path prefixes its running body steps).
  const paths = inFlight.map((s) => s.path).filter((path, _, all) => !all.some((other) => other !== path && other.startsWith(`${path}[`)));
  const message = `Run failed as poison: the process ended ${strikes} times while step ${paths.join(', ')} was running, with nothing committed in between (maxRecoveryAttempts ${check.maxRecoveryAttempts}); engine.retry(id) sends it on`;
  if (await endStored(storage, run, steps, message, now, { recovery_count: strikes })) {
    check.events.publish('execution:failed', { executionId: run.id, workflowId: run.workflow_id, timestamp: now, error: { code: 'internal', message } });
  }
  return undefined;
}

/**
 * Renews the leases of the runs an engine drives, every third of a lease, for as long as it drives
 * any: a run whose lease runs out is an orphan to every other engine.
 */
export class LeaseRenewal {
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #renew: (until: number) => Promise<void> | void;
  readonly #busy: () => boolean;
  #cancel: (() => void) | undefined;
  #stopped = false;

  /** `renew` may return its write: the next renewal is then timed from when it settled. */
  constructor(clock: Clock, leaseMs: number, busy: () => boolean, renew: (until: number) => Promise<void> | void) {
    this.#clock = clock;
    this.#leaseMs = leaseMs;
    this.#busy = busy;
    this.#renew = renew;
  }

  /** Makes sure renewal is scheduled (a run was just taken on). */
  ensure(): void {
    if (this.#cancel || this.#stopped) return;
    const every = Math.max(10, Math.floor(this.#leaseMs / 3));
    const tick = (): void => {
      this.#cancel = undefined;
      if (!this.#busy() || this.#stopped) return;
      // The next renewal is timed from the end of this one, so renewals never pile up on a slow
      // database, and a clock that jumps far ahead (a test's fake clock advanced by days) renews
      // once per write, not once per period it skipped.
      void Promise.resolve(this.#renew(this.#clock.now() + this.#leaseMs))
        .catch(() => undefined)
        .then(() => {
          if (this.#cancel || this.#stopped) return;
          this.#cancel = this.#clock.setTimer(tick, every);
        });
    };
    this.#cancel = this.#clock.setTimer(tick, every);
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
  }
}

/**
 * Calls `pass` now and then every `intervalMs` after the previous pass ended, until stopped.
 * `stop()` resolves when a pass in flight has ended: its owner closes the storage after that, not
 * under a pass that is still reading it.
 */
export function repeat(clock: Clock, intervalMs: number, pass: () => Promise<void>): { readonly first: Promise<void>; stop(): Promise<void> } {
  let stopped = false;
  let cancel: (() => void) | undefined;
  let current: Promise<void> = Promise.resolve();
  const tick = (): Promise<void> => {
    if (stopped) return Promise.resolve();
    current = pass().then(() => {
      if (!stopped) cancel = clock.setTimer(() => void tick(), intervalMs);
    });
    return current;
  };
  return {
    first: tick(),
    stop: () => {
      stopped = true;
      cancel?.();
      return current.catch(() => undefined);
    },
  };
}
