/**
 * What an engine does in a fleet, by its role: `'all'` starts and drives runs, as a single
 * process always did; `'submit'` (an API process, a serverless function) stores runs, approvals
 * and events for workers and reads results, and never executes a step; `'worker'` also takes
 * ready runs it did not start from the shared storage, up to its capacity, woken at once when the
 * storage announces work. The engine asks this object wherever the role makes a difference.
 * Internal to the engine.
 */
import type { WakeSignal } from '../nodes/node-handler.js';
import type { Json } from '../kernel/json.js';
import type { Clock } from '../kernel/clock.js';
import type { IdGenerator } from '../kernel/ids.js';
import type { AuditEvent, RunRecord, StepRecord } from '../storage/records.js';
import type { Storage } from '../storage/storage.js';
import { IllegalStateError, NotFoundError, TrellisError } from '../kernel/errors.js';
import { illegalStatus, type HotRuns } from '../runtime/hot-runs.js';
import { RunController } from '../runtime/run-controller.js';
import { APPROVAL_INBOX_EVENT, approvalPayload, type RunControlRequest } from '../runtime/inbox-wakes.js';
import { liveWaits } from '../planner/run-outcome.js';
import { WorkClaims } from '../runtime/work-claims.js';

/** What an engine process does in a fleet sharing one storage (see docs/scaling-out.md). */
export type EngineRole = 'all' | 'submit' | 'worker';

/**
 * Where a pause, resume, approval or rejection went: `'applied'` by this process, which drives the
 * run; `'requested'` when it was stored in the run's inbox for the process that drives it (or the
 * next to take it), because this engine drives no run or another live process drives this one.
 */
export type ControlOutcome = 'applied' | 'requested';

export const ENGINE_ROLES: readonly EngineRole[] = ['all', 'submit', 'worker'];

/** What the role needs of its engine. */
export interface EngineFleetParts {
  readonly role: EngineRole;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly instanceId: string;
  readonly leaseMs: number;
  /** Runs a worker drives at most. */
  readonly maxConcurrentRuns: number;
  readonly hot: HotRuns;
  storage(): Promise<Storage>;
  reportError(event: string, error: unknown): void;
}

export class EngineFleet {
  readonly #parts: EngineFleetParts;
  #claims: WorkClaims | undefined;
  #stopped = false;

  constructor(parts: EngineFleetParts) {
    this.#parts = parts;
  }

  /** Whether this engine executes steps (every role but `'submit'`). */
  get drives(): boolean {
    return this.#parts.role !== 'submit';
  }

  /** Throws on a submit-only engine, which drives no run: `what` names the refused call. */
  assertDrives(what: string, executionId?: string): void {
    if (this.drives) return;
    throw new IllegalStateError(`${what} needs an engine that drives runs; this one has role 'submit' (it stores runs, approvals and events for workers)`, executionId === undefined ? {} : { executionId });
  }

  /** The controller of a run driven (or loaded) here; throws on a submit-only engine, and `conflict` when another live process drives it. */
  controlHere(executionId: string, allowed: readonly RunRecord['status'][], what: string): Promise<RunController> {
    this.assertDrives(what, executionId);
    return this.#parts.hot.control(executionId, allowed);
  }

  /**
   * The controller of a run to pause, resume or cancel, loaded here if need be; undefined when the
   * request was left in the run's inbox instead, because this engine drives no run (role
   * `'submit'`) or another live process drives this one. The run's driver applies it when the
   * storage announces it (PostgreSQL: at once), else at its next poll; one that no longer applies
   * by then (the run ended or is paused already) is dropped. A queued (`pending`) run no process
   * drives is cancelled in storage directly.
   */
  async control(executionId: string, allowed: readonly RunRecord['status'][], request: RunControlRequest, audit?: AuditEvent): Promise<RunController | undefined> {
    if (this.drives) {
      const found = await this.#parts.hot.find(executionId, allowed);
      if (found instanceof RunController) return found;
    }
    const storage = await this.#parts.storage();
    for (let attempt = 0; attempt < 3; attempt++) {
      const run = await storage.getRun(executionId);
      if (!run) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
      if (!allowed.includes(run.status)) throw illegalStatus(executionId, run.status, allowed);
      if (request.action === 'resume') await refuseResumeOfApprovals(storage, executionId);
      const done =
        run.status === 'pending' && request.action === 'cancel'
          ? await storage.commit({ runId: executionId, steps: [], run: { status: 'cancelled', error_message: request.reason, completed_at: this.#parts.clock.now(), owner: undefined, lease_expires_at: undefined }, expect: { status: 'pending', revision: run.revision }, ...(audit ? { audit: [audit] } : {}) })
          : await this.#parts.hot.requestControl(executionId, request);
      if (!done) continue; // it changed meanwhile (admitted, or ended): look again
      // A request is stored in the inbox, not yet applied: its audit event follows it on its own.
      if (audit && run.status !== 'pending') await storage.appendAudit([audit]);
      return undefined;
    }
    throw new TrellisError('conflict', `Execution ${executionId} changed while the request was being stored; try again`, { executionId });
  }

  /**
   * Wakes a waiting step. A submit-only engine, or any engine while another live process drives
   * the run, leaves an approval decision in the run's inbox and announces it: the process driving
   * the run (or the next to claim it) wakes the step.
   */
  async wake(executionId: string, nodeOrPath: string, signal: Extract<WakeSignal, { kind: 'approval' }>, audit?: AuditEvent): Promise<ControlOutcome> {
    if (this.drives && (await this.#parts.hot.wake(executionId, nodeOrPath, signal, audit))) return 'applied';
    const storage = await this.#parts.storage();
    const run = await storage.getRun(executionId);
    if (!run) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
    if (run.status !== 'running' && run.status !== 'paused') throw illegalStatus(executionId, run.status, ['running', 'paused']);
    const path = waitingApproval(await storage.getSteps(executionId), nodeOrPath, executionId);
    const { ids, clock } = this.#parts;
    const stored = await storage.deliverEvent({ id: ids('evt'), run_id: executionId, path, event: APPROVAL_INBOX_EVENT, payload: approvalPayload(signal), created_at: clock.now() });
    if (!stored) throw new IllegalStateError(`Execution ${executionId} ended before the decision was stored`, { executionId });
    // The decision is stored in the inbox, not yet applied: its audit event follows it on its own.
    if (audit) await storage.appendAudit([audit]);
    await this.announce(executionId);
    return 'requested';
  }

  /** Wakes event waiters; a submit-only engine leaves the event in every waiting run's inbox and announces it. */
  async wakeEventWaiters(name: string, payload: Json): Promise<string[]> {
    if (this.drives) return this.#parts.hot.wakeEventWaiters(name, payload);
    const reached = await this.#parts.hot.wakeEventWaiters(name, payload, false);
    await Promise.all(reached.map((id) => this.announce(id)));
    return reached;
  }

  /** Tells the fleet that `runId` has work ready; best effort (polling finds it otherwise). */
  async announce(runId: string): Promise<void> {
    const storage = await this.#parts.storage();
    await storage.announceWork?.(runId).catch((error: unknown) => this.#parts.reportError('announce', error));
  }

  /** A worker starts listening for announced work and claims what is ready; other roles do nothing. */
  async startClaims(): Promise<void> {
    if (this.#parts.role !== 'worker' || this.#claims || this.#stopped) return;
    const { clock, instanceId, leaseMs, maxConcurrentRuns, hot, reportError } = this.#parts;
    const storage = await this.#parts.storage();
    if (!hasClaims(storage)) throw new TrellisError('invalid_options', `Engine option "role" 'worker' needs a storage with claimReadyRuns (MemoryStorage, SqliteStorage and PostgresStorage have it); ${storage.constructor.name} has not`);
    const claims = new WorkClaims({
      storage,
      clock,
      instanceId,
      leaseMs,
      capacity: maxConcurrentRuns,
      load: () => hot.size + hot.adopting,
      isHot: (runId) => hot.has(runId),
      adoptClaimed: async (run) => (await hot.adoptClaimed(run)) !== undefined,
      takeDeliveredEvents: (runIds) => hot.takeDeliveredEvents(runIds),
      reportError,
    });
    this.#claims = claims;
    await claims.start();
  }

  /** One claim pass of a worker's background loop (the safety net under announcements). */
  async claim(): Promise<void> {
    await this.#claims?.claim();
  }

  /** Whether recovery leaves other processes' orphans to the claims. */
  get claimsOrphans(): boolean {
    return this.#parts.role === 'worker';
  }

  /** The engine closes: nothing new is claimed from now on. */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#claims?.stop();
  }

  /** Runs let go at close: a worker announces them, so another takes them on at once. */
  async released(runIds: readonly string[]): Promise<void> {
    if (this.#parts.role === 'worker') await Promise.all(runIds.map((id) => this.announce(id)));
  }
}

function hasClaims(storage: Storage): storage is Storage & Required<Pick<Storage, 'claimReadyRuns'>> {
  return typeof storage.claimReadyRuns === 'function';
}

/** The path of the step of `steps` waiting for a person at `nodeOrPath` (a node id, or a path when it waits at several). */
function waitingApproval(steps: readonly StepRecord[], nodeOrPath: string, executionId: string): string {
  const candidates = steps.filter((s) => s.status === 'waiting' && s.waiter?.kind === 'approval' && (s.path === nodeOrPath || s.node_id === nodeOrPath));
  const exact = candidates.find((s) => s.path === nodeOrPath);
  if (exact) return exact.path;
  if (candidates.length === 1) return candidates[0]!.path;
  if (candidates.length > 1) throw new IllegalStateError(`Node "${nodeOrPath}" waits at several paths (${candidates.map((c) => c.path).join(', ')}); name one`, { executionId, nodeId: nodeOrPath });
  const step = steps.find((s) => s.path === nodeOrPath || s.node_id === nodeOrPath);
  throw new IllegalStateError(`Node "${nodeOrPath}" of execution ${executionId} is not waiting for approval${step ? ` (it is ${step.status})` : ''}`, { executionId, nodeId: nodeOrPath });
}

/**
 * A run stored as `paused` only because every live step waits for a person is not resumed, it is
 * approved: refused here as the driving engine refuses it (whose view the stored steps give, as a
 * run loaded from them reads its pause), rather than sent to the driver to be dropped.
 */
async function refuseResumeOfApprovals(storage: Storage, executionId: string): Promise<void> {
  const steps = await storage.getSteps(executionId);
  if (liveWaits(steps, undefined) !== 'approvals') return;
  const waiting = steps.filter((s) => s.status === 'waiting').map((s) => s.path);
  throw new IllegalStateError(`Execution ${executionId} waits for approval at ${waiting.join(', ')}: approve or reject it instead`, { executionId, details: { waiting } });
}
