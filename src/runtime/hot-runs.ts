/**
 * The runs this process drives: a RunController for each, from the run's start (or its adoption:
 * claim, then restore from its committed steps) until it ends, the engine closes, or it only waits
 * and is parked (see parked-runs.ts: let go from memory, loaded again by whatever wakes it), and
 * what ties a child run to the parent step waiting for it. It is the owner its controllers report to, and
 * the ChildRuns port their `sub_workflow` steps start children through (using the engine's
 * RunAdmission to create them). Internal to the engine.
 */
import type { TraceScope } from '../telemetry/tracing.js';
import type { WakeSignal } from '../nodes/node-handler.js';
import type { Json } from '../kernel/json.js';
import type { AuditEvent, RunRecord, StepRecord } from '../storage/records.js';
import type { DeliveredEvent, Storage } from '../storage/storage.js';
import { isFinishedRun } from '../storage/storage-helpers.js';
import type { Clock } from '../kernel/clock.js';
import type { WorkflowDefinition } from '../definition/definition.js';
import { IllegalStateError, NotFoundError, TrellisError, isTrellisError } from '../kernel/errors.js';
import { compilePlan } from '../planner/plan.js';
import { RunController } from './run-controller.js';
import type { ChildRuns, RunDeps, RunOwner, RunServices } from './run-deps.js';
import { sumUsage } from '../calls/run-usage.js';
import type { StoredDefinitions } from './stored-definitions.js';
import { StepBudget } from '../calls/step-budget.js';
import { acceptsEvent } from '../nodes/wait-for-event-node.js';
import { endStored } from './run-ending.js';
import { CHILD_INBOX_EVENT, CONTROL_INBOX_EVENT, RUN_PATH, childPayload, controlPayload, controlRequest, inboxWake, isReserved, type RunControlRequest } from './inbox-wakes.js';
import { ParkedRuns } from './parked-runs.js';

/** How runs come to exist: the engine's admission (idempotency keys, queues, child runs). */
export interface RunAdmission {
  /** Creates (once per `key`) and starts a child run of a stored workflow for the parent's step at `stepPath`; resolves with its id. */
  createChild(parent: RunRecord, stepPath: string, workflowId: string, version: number | undefined, input: Json, key: string): Promise<string>;
  /** A run's final state is committed: queued runs of its workflow may be admitted now. */
  runEnded(run: RunRecord): void;
}

/** What the hot runs need of their engine. */
export interface HotRunsParts {
  readonly services: RunServices;
  /** One object per stored version, so each is frozen and planned once (see stored-definitions.ts). */
  readonly definitions: StoredDefinitions;
  /** Made once the hot runs exist, since admission drives the runs it admits. */
  admission(runs: HotRuns): RunAdmission;
  readonly clock: Clock;
  readonly instanceId: string;
  readonly leaseMs: number;
  /** Steps of one root run that may execute at once, unless its workflow sets `max_concurrency`. */
  readonly concurrency: number | undefined;
  storage(): Promise<Storage>;
  /** A run became hot: lease renewal must be running. */
  held(): void;
  /** No run is hot any more (each finished, was dropped or detached). */
  idle(): void;
  /**
   * Called once a run is claimed, with its committed steps, before it is driven: the poison check
   * (see run-recovery.ts). Returns the record to drive, or undefined when the run was ended instead.
   */
  vet(run: RunRecord, steps: readonly StepRecord[]): Promise<RunRecord | undefined>;
  /** Reports an error of background work (waking a parent, say) that has no caller to throw to. */
  reportError(event: string, error: unknown): void;
  /** Whether a timer of a parked run is armed (the process is held open for it, as for a loaded run). */
  timersArmed?(on: boolean): void;
}

export class HotRuns implements RunOwner, ChildRuns {
  readonly #parts: HotRunsParts;
  readonly #deps: { -readonly [K in keyof RunDeps]: RunDeps[K] };
  readonly #admission: RunAdmission;
  readonly #controllers = new Map<string, RunController>();
  /** Adoptions under way, by run id: every caller of one run awaits the same (single flight). */
  readonly #adopting = new Map<string, Promise<RunController | undefined>>();
  readonly #parked: ParkedRuns;

  constructor(parts: HotRunsParts) {
    this.#parts = parts;
    this.#parked = new ParkedRuns({
      clock: parts.clock,
      instanceId: parts.instanceId,
      storage: () => parts.storage(),
      controller: (runId) => this.#controllers.get(runId),
      drop: (runId) => this.#drop(runId),
      drivesChildOf: (controller) => controller.childWaits().some((wait) => this.#controllers.has(wait.childId)),
      load: (runId, dueOnly) => this.#loadParked(runId, dueOnly),
      timersArmed: (on) => parts.timersArmed?.(on),
      reportError: (event, error) => parts.reportError(event, error),
    });
    const { clock, ids, random, events, handlers, models, logger, tracing } = parts.services;
    // One object every controller shares, read on hot paths: all its fields are present from the
    // start (storage is filled in by open(), before any run exists).
    this.#deps = { storage: undefined as unknown as Storage, clock, ids, random, events, handlers, models, logger, tracing, owner: this, children: this };
    this.#admission = parts.admission(this);
  }

  /** Storage is open: runs may be driven from now on. */
  open(storage: Storage): void {
    this.#deps.storage = storage;
  }

  get(runId: string): RunController | undefined {
    return this.#controllers.get(runId);
  }

  has(runId: string): boolean {
    return this.#controllers.has(runId);
  }

  get size(): number {
    return this.#controllers.size;
  }

  /** Ids of the runs driven here (whose leases this process renews). */
  ids(): string[] {
    return [...this.#controllers.keys()];
  }

  runFinished(runId: string): void {
    this.#drop(runId);
  }

  runQuiet(runId: string): void {
    this.#parked.quiet(runId);
  }

  /** Runs parked by this process since it started, and those of them waiting on a timer now. */
  get parking(): { readonly parked: number; readonly timers: number } {
    return { parked: this.#parked.parkedCount, timers: this.#parked.timers };
  }

  /** The engine closes: nothing more is parked, parked runs' timers stop; resolves once parking writes landed. */
  closeParking(): Promise<void> {
    return this.#parked.close();
  }

  #drop(runId: string): void {
    if (!this.#controllers.delete(runId)) return;
    this.#deps.models.detachRun(runId);
    if (this.#controllers.size === 0) this.#parts.idle();
  }

  /**
   * Loads a run parked here whose timer came due (`dueOnly`) or whose inbox got an event, unless
   * it was woken (or, for a timer, parked again with a later one) meanwhile.
   */
  async #loadParked(runId: string, dueOnly: boolean): Promise<void> {
    if (this.#controllers.has(runId)) return;
    const storage = await this.#parts.storage();
    const run = await storage.getRun(runId);
    // Driven somewhere (woken), or ended: its driver has its timers and inbox.
    if (!run || isFinishedRun(run.status) || run.owner !== undefined) return;
    const at = run.lease_expires_at;
    if (dueOnly && at !== undefined && at > this.#parts.clock.now()) return this.#parked.retime(runId, at);
    await this.adopt(run);
  }

  runSettled(run: RunRecord): void {
    this.#admission.runEnded(run);
    if (run.parent_id !== undefined) void this.wakeParent(run).catch((error: unknown) => this.#parts.reportError('sub_workflow', error));
  }

  startChild(parent: RunRecord, stepPath: string, workflowId: string, version: number | undefined, input: Json, key: string): Promise<string> {
    return this.#admission.createChild(parent, stepPath, workflowId, version, input, key);
  }

  // A child can end before its parent's step records that it waits (a fast child of pure steps):
  // its own wake-up then found nothing waiting, so look again once the wait is committed.
  childWaiting(childId: string): void {
    void this.#parts
      .storage()
      .then((storage) => storage.getRun(childId))
      .then((child) => (child && isFinishedRun(child.status) ? this.wakeParent(child) : undefined))
      .catch((error: unknown) => this.#parts.reportError('sub_workflow', error));
  }

  cancelChild(childId: string, reason: string): void {
    const request = { action: 'cancel', reason: `parent step ended: ${reason}` } as const;
    // Its grandchildren follow the same way: cancelling the child ends its waiting steps. A child
    // another live process drives gets the request in its inbox.
    void this.find(childId, ['pending', 'running', 'paused'])
      .then(async (child) => (child instanceof RunController ? child.cancel(request.reason) : void (await this.requestControl(childId, request))))
      .catch((error: unknown) => {
        // Already ended on its own: nothing to cancel.
        if (isTrellisError(error) && error.code === 'illegal_state') return;
        this.#parts.reportError('sub_workflow', error);
      });
  }

  /** Detaches every hot run (the engine closes; another engine may recover them) and returns them. */
  /**
   * Engine shutdown: every run here stops starting steps; resolves once their executing steps are
   * committed, or after `withinMs` on the engine's clock.
   */
  async drain(withinMs: number): Promise<void> {
    let cancel = (): void => undefined;
    const deadline = new Promise<void>((resolve) => (cancel = this.#parts.clock.setTimer(resolve, withinMs)));
    await Promise.race([Promise.all([...this.#controllers.values()].map((controller) => controller.drain())), deadline]);
    cancel();
  }

  detachAll(): RunController[] {
    const detached = [...this.#controllers.values()];
    for (const controller of detached) controller.detach();
    this.#controllers.clear();
    this.#parts.idle();
    return detached;
  }

  /** A controller for `run`, known to this process as hot, not yet begun. */
  hold(run: RunRecord, stored: WorkflowDefinition, trace?: TraceScope): RunController {
    const def = this.#parts.definitions.of(run.workflow_id, run.workflow_version, stored);
    // A sub-workflow run driven here shares its parent's step budget; a root run gets its own.
    const parent = run.parent_id === undefined ? undefined : this.#controllers.get(run.parent_id);
    const budget = parent?.budget ?? new StepBudget(def.definition.settings?.max_concurrency ?? this.#parts.concurrency);
    const controller = new RunController(this.#deps, compilePlan(def), run, budget, trace);
    this.#controllers.set(run.id, controller);
    this.#deps.models.attachRun(run, def);
    this.#parts.held();
    return controller;
  }

  /** Drives a stored run from its committed steps (none for a fresh one). */
  drive(run: RunRecord, def: WorkflowDefinition, steps: readonly StepRecord[]): RunController {
    const controller = this.hold(run, def);
    controller.begin(steps);
    if (steps.length > 0) void this.#parked.pinned(run.id, () => this.#settleFinishedChildren(controller)).catch((error: unknown) => this.#parts.reportError('sub_workflow', error));
    return controller;
  }

  /**
   * Claims a run and loads it into memory from its committed steps; undefined when another engine
   * holds it (or it ended). Single flight per run: callers racing for one run (approvals, resumes,
   * a recovery pass, an event) share one claim and one controller, so exactly one drives it.
   */
  adopt(run: RunRecord): Promise<RunController | undefined> {
    return this.#adopt(run, false);
  }

  /** Like {@link adopt}, for a run this process has just claimed (by `claimReadyRuns`): it is loaded without a second claim. */
  adoptClaimed(run: RunRecord): Promise<RunController | undefined> {
    return this.#adopt(run, true);
  }

  /** Adoptions under way (their runs count against a worker's capacity before they are hot). */
  get adopting(): number {
    return this.#adopting.size;
  }

  #adopt(run: RunRecord, claimed: boolean): Promise<RunController | undefined> {
    const existing = this.#controllers.get(run.id);
    if (existing) return Promise.resolve(existing);
    // Being parked: its claim is released first, then it is claimed again like any parked run.
    const parking = this.#parked.parking(run.id);
    if (parking) return parking.then(() => this.#adopt(run, false));
    // A run that ended is never driven again (driving it would finish it a second time).
    if (isFinishedRun(run.status)) return Promise.resolve(undefined);
    let adopting = this.#adopting.get(run.id);
    if (!adopting) {
      adopting = this.#claimAndLoad(run.id, claimed ? run : undefined).finally(() => this.#adopting.delete(run.id));
      this.#adopting.set(run.id, adopting);
    }
    return adopting;
  }

  async #claimAndLoad(runId: string, claimedAlready?: RunRecord): Promise<RunController | undefined> {
    const storage = await this.#parts.storage();
    const now = this.#parts.clock.now();
    const claimed = claimedAlready ?? (await storage.claimRun(runId, this.#parts.instanceId, now + this.#parts.leaseMs, now));
    if (!claimed || isFinishedRun(claimed.status)) return undefined;
    const workflow = await storage.getWorkflow(claimed.workflow_id, claimed.workflow_version);
    const steps = await storage.getSteps(runId);
    if (!workflow) {
      await endStored(storage, claimed, steps, `workflow ${claimed.workflow_id} v${claimed.workflow_version} no longer exists`, now);
      return undefined;
    }
    const vetted = await this.#parts.vet(claimed, steps);
    if (!vetted) return undefined;
    const usage = sumUsage({}, await storage.listCalls({ workflow_execution_id: runId }));
    const controller = this.drive({ ...vetted, usage }, workflow.definition, steps);
    // Events delivered while another process drove it (or while nobody did) wake it now, before it may be parked again.
    void this.#parked.pinned(runId, () => this.takeDeliveredEvents([runId])).catch((error: unknown) => this.#parts.reportError('event', error));
    return controller;
  }

  /** Finds or loads the controller of a run whose status is one of `allowed`. */
  async control(executionId: string, allowed: readonly RunRecord['status'][]): Promise<RunController> {
    const found = await this.find(executionId, allowed);
    if (found instanceof RunController) return found;
    throw new TrellisError('conflict', `Execution ${executionId} is being advanced by another engine (${found.owner})`, { executionId });
  }

  /**
   * Finds or loads the controller of a run whose status is one of `allowed`; when another live
   * process drives the run, says which (its owner) instead.
   */
  async find(executionId: string, allowed: readonly RunRecord['status'][]): Promise<RunController | { readonly owner: string | undefined }> {
    const hot = this.#controllers.get(executionId);
    if (hot) {
      if (!allowed.includes(hot.run.status)) throw illegalStatus(executionId, hot.run.status, allowed);
      return hot;
    }
    const storage = await this.#parts.storage();
    const run = await storage.getRun(executionId);
    if (!run) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
    if (!allowed.includes(run.status)) throw illegalStatus(executionId, run.status, allowed);
    return (await this.adopt(run)) ?? { owner: run.owner };
  }

  /**
   * Wakes the step of a running or paused run that waits at `nodeOrPath` (a node id, or a path when
   * it waits at several). Resolves false, waking nothing, when another live process drives the run.
   */
  async wake(executionId: string, nodeOrPath: string, signal: WakeSignal, audit?: AuditEvent): Promise<boolean> {
    const controller = await this.find(executionId, ['running', 'paused']);
    if (!(controller instanceof RunController)) return false;
    await controller.wake(resolvePath(controller, nodeOrPath, executionId), signal, audit);
    return true;
  }

  /**
   * Leaves a pause, resume or cancel in the inbox of a run this process does not drive, and
   * announces it to the fleet; whether it was stored (not when the run is neither running nor paused).
   */
  async requestControl(runId: string, request: RunControlRequest): Promise<boolean> {
    if (!(await this.#deliver(runId, [RUN_PATH], CONTROL_INBOX_EVENT, controlPayload(request)))) return false;
    const storage = await this.#parts.storage();
    await storage.announceWork?.(runId).catch((error: unknown) => this.#parts.reportError('announce', error));
    return true;
  }

  /**
   * Wakes every `wait_for_event` step waiting for `name` whose filter accepts `payload`, in runs
   * driven here or loaded now; a run another live process drives gets the event in its inbox, for
   * that process to wake the step (see {@link takeDeliveredEvents}). Resolves with the ids of the
   * runs woken here or delivered to.
   */
  async wakeEventWaiters(name: string, payload: Json, adopt = true): Promise<string[]> {
    const storage = await this.#parts.storage();
    const candidates = new Map<string, string[]>();
    for (const [id, controller] of this.#controllers) if (controller.eventWaiters(name).length > 0) candidates.set(id, []);
    // Runs no process here drives, found through the indexed event name of their waiting steps.
    for (const step of await storage.findEventWaiters(name, 1000)) if (!this.#controllers.has(step.run_id)) candidates.set(step.run_id, [...(candidates.get(step.run_id) ?? []), step.path]);
    const reached: string[] = [];
    for (const [id, stored] of candidates) {
      // Without `adopt` (a submit-only engine), every run gets the event in its inbox.
      const run = this.#controllers.has(id) || !adopt ? undefined : await storage.getRun(id);
      // An adoption that fails leaves the event in the inbox, for whoever takes the run on next.
      const controller = this.#controllers.get(id) ?? (run && (await this.adopt(run).catch(() => undefined)));
      if (controller ? await this.#parked.pinned(id, () => this.#wakeHere(controller, name, payload)) : await this.#deliver(id, stored, name, payload)) reached.push(id);
      // Left in the inbox of a run whose driver parked it meanwhile: nobody would read it before its next wake-up.
      if (!controller && adopt) await this.#loadParked(id, false).catch((error: unknown) => this.#parts.reportError('event', error));
    }
    return reached;
  }

  /** Wakes the steps of a run driven here that wait for `name` and accept `payload`; whether any woke. */
  async #wakeHere(controller: RunController, name: string, payload: Json): Promise<boolean> {
    let woken = false;
    for (const { path } of controller.eventWaiters(name)) {
      // The filter is read before the step changes state (a refused event writes nothing and
      // leaves it waiting for the next one), in the same turn as the wake-up.
      const step = controller.step(path);
      if (step?.status === 'waiting' && acceptsEvent(controller.contextFor(step), payload)) {
        await controller.wake(path, { kind: 'event', payload });
        woken = true;
      }
    }
    return woken;
  }

  /** Leaves the event in the inbox of a run this process could not take on (another live one drives it); whether it was stored. */
  async #deliver(runId: string, paths: readonly string[], name: string, payload: Json): Promise<boolean> {
    const storage = await this.#parts.storage();
    const { ids } = this.#parts.services;
    let delivered = false;
    for (const path of paths) {
      const event: DeliveredEvent = { id: ids('evt'), run_id: runId, path, event: name, payload, created_at: this.#parts.clock.now() };
      if (await storage.deliverEvent(event)) delivered = true;
    }
    return delivered;
  }

  /**
   * Takes the events other processes delivered to runs driven here (all of them, or `runIds`):
   * wakes each step still waiting for its event whose filter accepts it (or for the approval
   * decision a submit-only process left, see inbox-wakes.ts), then deletes the event.
   * An event whose step no longer waits for it (woken already, by this event before a crash kept
   * it from being deleted, or by another) is deleted with nothing woken; one whose wake-up failed
   * is kept for the next pass (or the run's next owner).
   */
  async takeDeliveredEvents(runIds: readonly string[] = this.ids()): Promise<void> {
    if (runIds.length === 0) return;
    const storage = await this.#parts.storage();
    const taken: string[] = [];
    for (const event of await storage.findDeliveredEvents(runIds, 1000)) {
      const controller = this.#controllers.get(event.run_id);
      // Dropped meanwhile: the run's next owner takes it.
      if (!controller) continue;
      const step = controller.step(event.path);
      try {
        const request = controlRequest(event);
        if (request) {
          if (await this.#applyControl(controller, request)) taken.push(event.id);
          continue;
        }
        // An approval given on a submit-only process travels this way too (see inbox-wakes.ts).
        const wake = inboxWake(step, event, () => acceptsEvent(controller.contextFor(step!), event.payload));
        if (wake) await controller.wake(event.path, wake);
        else if (isReserved(event.event) && inboxWake(await storage.getStep(event.run_id, event.path), event, () => true)) {
          // Not waiting here, yet waiting in storage: this process's view is stale (another claimed
          // the run while this one still held it, unaware). Dropping the decision would lose it;
          // the run's real owner takes it.
          continue;
        }
        taken.push(event.id);
      } catch (error) {
        this.#parts.reportError('event', error);
      }
    }
    if (taken.length > 0) await storage.deleteDeliveredEvents(taken);
  }

  /**
   * Applies a pause, resume or cancel another process left (see inbox-wakes.ts), as the call would
   * have here: one that no longer applies (the run is already paused, or ended) is dropped. Resolves
   * false, leaving it for the run's real owner, when this process's view is stale (another process
   * claimed the run while this one still held it, unaware); true once what it did is committed.
   */
  async #applyControl(controller: RunController, request: RunControlRequest): Promise<boolean> {
    const storage = await this.#parts.storage();
    const stored = await storage.getRun(controller.id);
    if (stored?.owner !== undefined && stored.owner !== this.#parts.instanceId) return false;
    const status = controller.run.status;
    let landed: Promise<void> | undefined;
    try {
      if (request.action === 'cancel') {
        controller.cancel(request.reason);
        landed = controller.committed();
      } else if (request.action === 'pause' && status === 'running') landed = controller.pause();
      else if (request.action === 'resume' && status === 'paused') landed = controller.resume();
    } catch (error) {
      // No longer applies (ended meanwhile, or paused only for approvals): as the call would have refused.
      if (error instanceof IllegalStateError) return true;
      throw error;
    }
    // A refused commit never lands: the run is let go here, and `done` settles instead.
    if (landed) await Promise.race([landed, controller.done.catch(() => undefined)]);
    return true;
  }

  /** A child run ended: wake the parent's `sub_workflow` step (loading the parent if needed). */
  async wakeParent(child: RunRecord): Promise<void> {
    await this.#parked.pinned(child.parent_id!, async () => {
      const storage = await this.#parts.storage();
      const stored = this.#controllers.has(child.parent_id!) ? undefined : await storage.getRun(child.parent_id!);
      const parent = this.#controllers.get(child.parent_id!) ?? (stored ? await this.adopt(stored) : undefined);
      const path = child.parent_step_path!;
      const signal: Extract<WakeSignal, { kind: 'child' }> = { kind: 'child', status: child.status, ...(child.output_data === undefined ? {} : { output: child.output_data }), ...(child.error_message === undefined ? {} : { error: child.error_message }) };
      if (!parent) {
        // Another live process drives the parent: the child's end goes to the parent's inbox, which
        // its owner reads when announced (or on its next poll), as an approval from a submit engine does.
        if (stored && !isFinishedRun(stored.status) && (await this.#deliver(stored.id, [path], CHILD_INBOX_EVENT, childPayload(signal)))) await storage.announceWork?.(stored.id);
        return;
      }
      if (parent.step(path)?.status !== 'waiting') return;
      await parent.wake(path, signal);
    });
  }

  /** After loading a run: children that ended while nobody drove the parent wake it now. */
  async #settleFinishedChildren(controller: RunController): Promise<void> {
    const storage = await this.#parts.storage();
    for (const wait of controller.childWaits()) {
      const child = await storage.getRun(wait.childId);
      if (child && isFinishedRun(child.status)) await this.wakeParent(child);
    }
  }
}

function resolvePath(controller: RunController, nodeOrPath: string, executionId: string): string {
  if (controller.step(nodeOrPath)?.status === 'waiting') return nodeOrPath;
  const candidates = controller.waitingSteps().filter((s) => s.node_id === nodeOrPath || s.path === nodeOrPath);
  if (candidates.length === 1) return candidates[0]!.path;
  if (candidates.length > 1) {
    throw new IllegalStateError(`Node "${nodeOrPath}" waits at several paths (${candidates.map((c) => c.path).join(', ')}); name one`, { executionId, nodeId: nodeOrPath });
  }
  const step = controller.step(nodeOrPath);
  throw new IllegalStateError(`Node "${nodeOrPath}" of execution ${executionId} is not waiting${step ? ` (it is ${step.status})` : ''}`, { executionId, nodeId: nodeOrPath });
}

/** A run-control call refused for the run's status. */
export function illegalStatus(executionId: string, status: string, allowed: readonly string[]): IllegalStateError {
  return new IllegalStateError(`Execution ${executionId} is ${status}; this needs it to be ${allowed.join(' or ')}`, { executionId, details: { status } });
}
