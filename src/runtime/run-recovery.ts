/**
 * Recovery: finding runs that no live process advances and continuing them from their committed
 * steps. An orphan is a `pending` or `running` run whose owner's lease expired; a run waiting on a
 * timer that came due while it was loaded nowhere is adopted too. A run whose recovery killed the
 * process `maxRecoveryAttempts` times in a row is failed as poison instead. Internal to the engine.
 */
import type { RunRecord } from '../storage/records.js';
import type { Storage } from '../storage/storage.js';
import type { Clock } from '../kernel/clock.js';
import type { TrellisEventEmitter } from '../kernel/events.js';

/** What recovery needs of the engine. */
export interface RecoveryHost {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly instanceId: string;
  readonly leaseMs: number;
  readonly maxRecoveryAttempts: number;
  readonly events: TrellisEventEmitter;
  /** Whether this process drives the run already. */
  isHot(runId: string): boolean;
  /** Continues a claimed run from its committed steps; false when its workflow version is gone. */
  resume(run: RunRecord): Promise<boolean>;
  /** Claims a run and continues it; false when another live process holds it. */
  adopt(run: RunRecord): Promise<boolean>;
  /** Starts queued runs of a workflow while it is under its `max_concurrent_runs`. */
  admitNext(workflowId: string): Promise<void>;
}

/** One recovery pass; resolves with the ids of the runs it took over. */
export async function recoverRuns(host: RecoveryHost): Promise<string[]> {
  const { storage, clock } = host;
  const now = clock.now();
  const taken: string[] = [];
  const admitted = new Set<string>();
  for (const orphan of await storage.findOrphanRuns(now, 100)) {
    if (host.isHot(orphan.id)) continue;
    if (orphan.status === 'pending' && orphan.started_at === undefined) {
      // A queued run: admit it under its workflow's concurrency limit instead of recovering it.
      if (!admitted.has(orphan.workflow_id)) await host.admitNext(orphan.workflow_id);
      admitted.add(orphan.workflow_id);
      continue;
    }
    const claimed = await storage.claimRun(orphan.id, host.instanceId, now + host.leaseMs, now);
    if (!claimed) continue;
    if (claimed.recovery_count >= host.maxRecoveryAttempts) {
      const message = `Run failed: recovery was attempted ${claimed.recovery_count} times in a row and the process died each time (poison run)`;
      await storage.updateRun(claimed.id, { status: 'failed', error_message: message, completed_at: now, owner: undefined, lease_expires_at: undefined });
      host.events.publish('execution:failed', { executionId: claimed.id, workflowId: claimed.workflow_id, timestamp: now, error: { code: 'internal', message } });
      continue;
    }
    // Counted before it runs: if this recovery kills the process too, the next one knows.
    const counted = await storage.updateRun(claimed.id, { recovery_count: claimed.recovery_count + 1 });
    if (counted && (await host.resume(counted))) taken.push(claimed.id);
  }
  // Timers that came due while their run was not loaded anywhere (e.g. an approval timeout).
  for (const step of await storage.findDueSteps(now, 100)) {
    if (host.isHot(step.run_id)) continue;
    const run = await storage.getRun(step.run_id);
    if (run && (run.owner === undefined || (run.lease_expires_at ?? 0) < now) && (await host.adopt(run))) taken.push(run.id);
  }
  return taken;
}

/**
 * Renews the leases of the runs an engine drives, every third of a lease, for as long as it drives
 * any: a run whose lease runs out is an orphan to every other engine.
 */
export class LeaseRenewal {
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #renew: (until: number) => void;
  readonly #busy: () => boolean;
  #cancel: (() => void) | undefined;
  #stopped = false;

  constructor(clock: Clock, leaseMs: number, busy: () => boolean, renew: (until: number) => void) {
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
      this.#renew(this.#clock.now() + this.#leaseMs);
      this.#cancel = this.#clock.setTimer(tick, every);
    };
    this.#cancel = this.#clock.setTimer(tick, every);
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
    this.#cancel = undefined;
  }
}

/** Calls `pass` now and then every `intervalMs` after the previous pass ended, until stopped. */
export function repeat(clock: Clock, intervalMs: number, pass: () => Promise<void>): { readonly first: Promise<void>; stop(): void } {
  let stopped = false;
  let cancel: (() => void) | undefined;
  const tick = async (): Promise<void> => {
    if (stopped) return;
    await pass();
    if (!stopped) cancel = clock.setTimer(() => void tick(), intervalMs);
  };
  return {
    first: tick(),
    stop: () => {
      stopped = true;
      cancel?.();
    },
  };
}
