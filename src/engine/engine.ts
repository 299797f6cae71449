/**
 * The Engine: a thin facade that wires storage, providers, node handlers, the planner and the
 * runner together, and offers the run-control API. Each run is driven by a RunController; this
 * class only creates, finds, recovers and addresses them.
 */
import type { NodeHandler } from '../nodes/node-handler.js';
import { BUILTIN_NODES } from '../nodes/builtin-nodes.js';
import type { ModelCallRecord, RunRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { Storage } from '../storage/storage.js';
import { ACTIVE_RUN_STATUSES } from '../storage/storage-helpers.js';
import { systemClock, type Clock } from '../kernel/clock.js';
import { KeepAlive } from '../kernel/keep-alive.js';
import { resolveEngineOptions, type EngineOptions, type ResolvedEngineOptions } from './engine-options.js';
import { IllegalStateError, NotFoundError } from '../kernel/errors.js';
import { TrellisEventEmitter } from '../kernel/events.js';
import { toWorkflowExecution, type WorkflowExecution } from '../runtime/run-view.js';
import { ModelCaller } from '../calls/model-call.js';
import { PromptStore } from './prompt-store.js';
import { createApprovalInbox, type ApprovalInbox } from './approval-inbox.js';
import { LeaseRenewal, recoverRuns, repeat, vetAdopted } from '../runtime/run-recovery.js';
import { startFork, startReplay, type ForkOptions } from './replay-runs.js';
import { WorkflowStore } from './workflow-store.js';
import type { RunArgs, RunOutputOf, WorkflowSource } from '../definition/workflow-source.js';
import { createTriggers, type EmitOptions, type Triggers } from '../triggers/trigger-manager.js';
import { createTemplates, type Templates } from '../templates/templates.js';
import { createBundles, type Bundles } from '../bundles/bundles.js';
import type { BundleHost } from '../bundles/bundle-host.js';
import { assertJsonDepth } from '../kernel/json-depth.js';
import { HotRuns } from '../runtime/hot-runs.js';
import { StoredDefinitions } from '../runtime/stored-definitions.js';
import { NodeRegistry } from './node-registry.js';
import { RunAdmitter, type RunOptions } from './run-admission.js';
import { RunWaiter, type WaitOptions } from './run-waiter.js';
import { RunTargets } from './run-targets.js';
import { deleteRun as deleteStoredRun, purgeRuns, type DeleteRunOptions, type PurgeOptions } from './run-deletion.js';
import { Retention, type RetentionStats } from './retention.js';
import { exportDocument, exportToStream, importDocument, type ExportOptions, type ImportOptions, type ImportResult, type JsonTextSource } from './export-import.js';
import { AuditTrail, type ActorOptions, type AuditChange } from './audit-trail.js';
import { createDeadLetters, type DeadLetters } from './dead-letters.js';
import { retryRun, type RetryOptions } from './run-retry.js';
import { MetricsCollector, type EngineMetrics } from './engine-metrics.js';
import { checkEngineHealth, type EngineHealth, type HealthHost, type HealthOptions } from './engine-health.js';
import { countRuns, type RunCountOptions } from './run-counts.js';
import type { RunCount } from '../storage/storage.js';
import type { Logger } from '../kernel/logger.js';
import { type ControlOutcome, EngineFleet } from './engine-role.js';
import { alignRuns, type RunComparison } from './run-comparison.js';

export type { RunOptions } from './run-admission.js';
export type { WaitUntil } from '../runtime/wait-until.js';
export type { WaitOptions } from './run-waiter.js';

/** Options of {@link Engine.step}. */
export interface StepRunOptions extends ActorOptions {
  /** The held step to run (a path of `paused_before`); default: the oldest held step. */
  readonly path?: string;
}

/** Options of {@link Engine.close}. */
export interface CloseOptions {
  /**
   * How long steps executing at close may take to finish and be committed (default 0: they are
   * aborted at once and run again wherever their runs are recovered). Measured on the engine's clock.
   */
  readonly drainMs?: number;
}


/**
 * Runs workflows durably inside your process.
 *
 * @example
 * const engine = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider(['hi']) } });
 * const run = await engine.run(workflow('hello').prompt('greet', { model: 'mock:any', template: 'Say hi' }), {});
 * console.log(run.status, run.output_data);
 */
export class Engine {
  /** Typed lifecycle events. Listeners are isolated: one that throws never breaks a run. */
  readonly events: TrellisEventEmitter;
  /** Stored workflows, every version kept. */
  readonly workflows: WorkflowStore;
  /** Versioned prompt templates. */
  readonly prompts: PromptStore;
  /** What waits for a person across runs: `engine.approvals.list({ workflowId?, limit?, offset? })`. */
  readonly approvals: ApprovalInbox;
  /** LLM execution records. */
  readonly calls: { list(filter: { workflow_execution_id?: string; workflow_node_id?: string }): Promise<ModelCallRecord[]>; get(id: string): Promise<ModelCallRecord | undefined> };
  /** Who changed what, and when: `engine.audit.list({ subject?, actor?, since?, until?, limit?, cursor? })`. */
  readonly audit: AuditTrail;
  /** Failed, poison and stuck runs: `engine.deadLetters.list(...)`, `.discard(id, { actor, reason })`; `engine.retry` sends one on. */
  readonly deadLetters: DeadLetters;

  readonly #options: ResolvedEngineOptions;
  readonly #nodes: NodeRegistry;
  readonly #models: ModelCaller;
  readonly #hot: HotRuns;
  /** Made by the hot runs it drives (see the constructor). */
  #admission!: RunAdmitter;
  #storage: Storage | undefined;
  #ready: Promise<Storage> | undefined;
  #loop: { stop(): Promise<void> } | undefined;
  /** Recovery passes in flight (the loop's and the host's own `recover()` calls): `close()` waits for them. */
  readonly #passes = new Set<Promise<unknown>>();
  readonly #leases: LeaseRenewal;
  /** Holds the process open while runs are driven here or the background loop runs (see kernel/keep-alive.ts). */
  readonly #keepAlive: KeepAlive;
  #closed = false;
  readonly #waiter: RunWaiter;
  #triggers: Triggers | undefined;
  #templates: Templates | undefined;
  #bundles: Bundles | undefined;
  readonly #targets: RunTargets;
  readonly #retention: Retention;
  readonly #metrics: MetricsCollector;
  readonly #health: HealthHost;
  /** What this process does in a fleet (its role): the engine asks it wherever the role matters. */
  readonly #fleet: EngineFleet;

  constructor(options: EngineOptions = {}) {
    const o = (this.#options = resolveEngineOptions(options));
    this.events = new TrellisEventEmitter(o.logger);
    this.#metrics = new MetricsCollector(o.logger);
    if (o.metrics) this.#metrics.listen(this.events);
    this.#nodes = new NodeRegistry([...BUILTIN_NODES, ...o.nodes]);
    const storage = (): Promise<Storage> => this.init();
    this.audit = new AuditTrail(storage, o.clock, o.ids);
    const audit = (change: AuditChange, actor: string | undefined) => this.audit.event(change, actor);
    this.workflows = new WorkflowStore(storage, o.clock, () => this.#nodes.validation(), async (id) => (await (await storage()).listRuns({ workflow_id: id, status: [...ACTIVE_RUN_STATUSES], limit: 1 })).length > 0, audit);
    this.deadLetters = createDeadLetters({ clock: o.clock, storage, audit, cancel: (id, reason, actor) => this.cancel(id, reason, { actor }) });
    this.prompts = new PromptStore(storage, o.clock);
    this.approvals = createApprovalInbox(storage);
    this.calls = {
      list: async (filter) => (await storage()).listCalls(filter),
      get: async (id) => (await storage()).getCall(id),
    };
    this.#models = new ModelCaller({
      providers: o.providers,
      clock: o.clock,
      ids: o.ids,
      structuredRetries: o.structuredRetries,
      prices: o.prices,
      limits: o.limits,
      fleetLimits: o.limitScope === 'fleet' ? { clock: o.clock, ids: o.ids, storage, leaseMs: o.leaseMs } : undefined,
      circuitBreaker: o.circuitBreaker,
      tools: o.tools,
      events: this.events,
      calls: (runId: string) => this.calls.list({ workflow_execution_id: runId }),
      tracing: o.tracing,
    });
    // On an injected clock the host drives time: holding the process for its timers would hang it.
    this.#keepAlive = new KeepAlive(o.clock === systemClock);
    // Renewed while runs are driven here, through a draining close too (close() stops it after).
    this.#leases = new LeaseRenewal(o.clock, o.leaseMs, () => this.#hot.size > 0, (until) => {
      // Only the runs still driven here: one dropped after a failed commit must become an orphan.
      return this.#storage && this.#metrics.leaseRenewal(this.#storage.renewLeases(this.instanceId, until, this.#hot.ids()), () => o.clock.now(), this.#hot.size);
    });
    const definitions = new StoredDefinitions();
    this.#hot = new HotRuns({
      definitions,
      services: { clock: o.clock, ids: o.ids, random: o.random, events: this.events, handlers: this.#nodes.handlers, models: this.#models, logger: o.logger, tracing: o.tracing },
      // Admission starts the runs it admits on these hot runs, which in turn ask it for child runs.
      admission: (runs) =>
        (this.#admission = new RunAdmitter({ clock: o.clock, ids: o.ids, instanceId: o.instanceId, leaseMs: o.leaseMs, maxInputBytes: o.maxInputBytes, events: this.events, tracing: o.tracing, storage, audit, names: { providers: new Set(o.providers.keys()), tools: new Set(o.tools.keys()) }, ...(o.role === 'submit' ? { submitOnly: { announce: (id) => this.#fleet.announce(id) } } : {}) }, runs)),
      clock: o.clock,
      instanceId: o.instanceId,
      leaseMs: o.leaseMs,
      concurrency: o.concurrency,
      storage,
      held: () => {
        this.#leases.ensure();
        this.#keepAlive.hold('runs');
        this.#metrics.holding(o.clock.now());
      },
      idle: () => {
        this.#keepAlive.release('runs');
        this.#metrics.idle();
      },
      vet: async (run, steps) => vetAdopted({ storage: await this.init(), clock: o.clock, events: this.events, maxRecoveryAttempts: o.maxRecoveryAttempts }, run, steps),
      reportError: (event, error) => this.events.publish('listener:error', { event, error }),
      // A parked run's timer holds the process open as the loaded run's own timer did.
      timersArmed: (on) => (on ? this.#keepAlive.hold('parked-timers') : this.#keepAlive.release('parked-timers')),
    });
    this.#fleet = new EngineFleet({ ...o, hot: this.#hot, storage, reportError: (event, error) => this.events.publish('listener:error', { event, error }) });
    this.#targets = new RunTargets({
      workflows: this.workflows,
      definitions,
      maxInputBytes: o.maxInputBytes,
      validation: () => this.#nodes.validation(),
      assertReferences: (def) => this.#admission.assertReferences(def),
    });
    this.#retention = new Retention(o.retention, o.clock);
    this.#health = { options: o, metrics: this.#metrics, storage, closed: () => this.#closed, loopRunning: () => this.#loop !== undefined, heldRuns: () => this.#hot.size, providers: () => this.#models.metrics().providers };
    this.#waiter = new RunWaiter({
      hot: this.#hot,
      events: this.events,
      read: (id) => this.get(id),
      cancel: (id, reason) => this.cancel(id, reason),
    });
  }

  /** The clock this engine reads time from (delays, timeouts, backoff, cron). */
  get clock(): Clock {
    return this.#options.clock;
  }

  /** The logger of the engine option `logger` (the router reports its errors there too). */
  get logger(): Logger {
    return this.#options.logger;
  }

  /** This engine instance's id (the owner recorded on runs it advances). */
  get instanceId(): string {
    return this.#options.instanceId;
  }

  /** Opens storage and runs migrations. Idempotent; every other method calls it. */
  init(): Promise<Storage> {
    this.#ready ??= (async () => {
      const storage = this.#options.storage ?? (await defaultStorage());
      await storage.init();
      this.#storage = storage;
      this.#hot.open(storage);
      this.#retention.start(storage);
      return storage;
    })();
    return this.#ready;
  }

  /** Adds (or replaces) a node type. */
  registerNode(handler: NodeHandler): void {
    this.#nodes.register(handler);
  }

  /**
   * Runs a workflow to the end and resolves with its execution record (also when it failed). With
   * a builder, `input` is typed from its declared variables and `output_data` from its `end`.
   */
  async run<W extends WorkflowSource>(workflow: W, ...[input, options = {}]: RunArgs<W, RunOptions>): Promise<WorkflowExecution<RunOutputOf<W>>> {
    const id = await this.#start(workflow, input, options, false);
    const execution = await this.wait(id);
    const { signal } = options;
    if (signal?.aborted && execution.status === 'cancelled') throw signal.reason;
    // What the builder's types say of the output is what its `end` steps write.
    return execution as WorkflowExecution<RunOutputOf<W>>;
  }

  /**
   * Starts a run and resolves with its id as soon as it is recorded; its first event fires after
   * (listening after `start()` is safe). `input` is typed like {@link Engine.run}'s. Throws
   * `WorkflowValidationError`, with nothing stored, when the definition is invalid or names a
   * provider or tool this engine does not have (issues `unknown_provider`, `unknown_tool`).
   */
  start<W extends WorkflowSource>(workflow: W, ...[input, options = {}]: RunArgs<W, RunOptions>): Promise<string> {
    return this.#start(workflow, input, options, true);
  }

  async #start(workflow: WorkflowSource, input: unknown, options: RunOptions, yieldToCaller: boolean): Promise<string> {
    this.#assertTakingRuns();
    options.signal?.throwIfAborted();
    // A workflow started before and an open storage are known at once: awaiting them would cost
    // every run two turns of the microtask queue, which a loop of short runs pays in full.
    const known = this.#targets.known(workflow) ?? (await this.#targets.resolve(workflow, input));
    const storage = this.#storage ?? (await this.init());
    const id = await this.#admission.create(storage, known, input, options, undefined, yieldToCaller);
    this.#waiter.cancelOnAbort(id, options.signal);
    return id;
  }

  /**
   * Starts a run of a stored workflow (latest version unless given). Throws
   * `WorkflowValidationError` when the version names a provider or tool this engine does not have.
   */
  async startStored(workflowId: string, input?: unknown, options: RunOptions & { version?: number } = {}): Promise<string> {
    const storage = await this.init();
    const stored = await storage.getWorkflow(workflowId, options.version);
    if (!stored) throw new NotFoundError(`Workflow "${workflowId}"${options.version ? ` version ${options.version}` : ''} not found`);
    this.#assertTakingRuns();
    options.signal?.throwIfAborted();
    const id = await this.#admission.create(storage, { def: stored.definition, workflowId: stored.id, version: stored.version }, input, options, undefined, true);
    this.#waiter.cancelOnAbort(id, options.signal);
    return id;
  }

  /**
   * Starts a replay of a run: the same workflow version and input, every model call answered
   * from the old run's execution records (no provider is called). Resolves with the new run's id.
   */
  replay(executionId: string): Promise<string> {
    return startReplay(this, executionId);
  }

  /**
   * Starts a fork of a run: steps before `fromNode` replay the old run's answers; `fromNode` and
   * everything reachable from it call the real providers, with `overrides` applied. Resolves with the new run's id.
   */
  fork(executionId: string, options: ForkOptions): Promise<string> {
    return startFork(this, executionId, options);
  }

  /**
   * This process's figures: per provider (calls, failures, breaker state, queue, tokens and cost,
   * by model too), per workflow and node (runs and steps by status, retries, waits by kind,
   * duration histograms with p50/p95/p99), and the runtime's (runs driven, queued calls, lease
   * renewals, recoveries). They start at zero with the process; {@link Engine.runCounts} reads
   * figures that span processes from storage. See docs/metrics.md.
   */
  metrics(): EngineMetrics {
    return this.#metrics.snapshot(this.#models.metrics().providers, this.#hot.size);
  }

  /**
   * Runs by workflow and status, counted in storage over every process (created since `since`,
   * say the last day, for a success rate). Cheap: an index covers it.
   *
   * @example
   * const day = await engine.runCounts({ since: Date.now() - 86_400_000 });
   */
  async runCounts(options: RunCountOptions = {}): Promise<RunCount[]> {
    return countRuns(await this.init(), options);
  }

  /**
   * Liveness, readiness and what is degraded (storage reachable and writable, schema current,
   * background loop turning, leases renewed on time, runs overdue for recovery, open breakers).
   * Never throws. The router's `health: true` option serves it for probes.
   */
  health(options?: HealthOptions): Promise<EngineHealth> {
    return checkEngineHealth(this.#health, options);
  }

  /** Schedule, webhook and event triggers of stored workflows, on the engine's clock. */
  get triggers(): Triggers {
    return (this.#triggers ??= createTriggers(this, { clock: this.#options.clock }));
  }

  /** Built-in workflow templates: list them, or store one as a new workflow. */
  get templates(): Templates {
    return (this.#templates ??= createTemplates(this.workflows));
  }

  /** Runs many inputs through one workflow or prompt as a resumable bundle. */
  get bundles(): Bundles {
    return (this.#bundles ??= createBundles(this.#bundleHost()));
  }

  /**
   * Emits an event: starts every active stored workflow with a matching event trigger, and wakes
   * every `wait_for_event` step waiting for `name` whose filter accepts the payload, in every run
   * the storage holds. A run another live process drives gets the event in its inbox, and that
   * process wakes the step on its next poll (`pollIntervalMs`), reading the filter then.
   * Resolves with the ids of the runs it started, then of the waiting runs it woke or delivered to.
   */
  async emit(name: string, payload: Json = {}, options?: EmitOptions): Promise<string[]> {
    assertJsonDepth(payload, 'payload');
    await this.init();
    const reached = await this.#fleet.wakeEventWaiters(name, payload);
    const started = await this.triggers.emit(name, payload, options);
    return [...started, ...reached.filter((id) => !started.includes(id))];
  }

  /**
   * Resolves with the execution record once the run completes, fails or is cancelled, or, with
   * `until`, once it pauses, waits, or a given step waits or ends (see {@link WaitUntil}). A run
   * this process stops driving (a commit failed or was refused) is waited for until it ends
   * wherever it is recovered, by reading storage every `pollMs`. Rejects when reading it fails,
   * when `signal` aborts, or when this engine closes first.
   *
   * @example
   * const id = await engine.start(triage, { ticket });
   * const run = await engine.wait(id, { until: 'paused' }); // an approval waits
   */
  wait(executionId: string, options: WaitOptions = {}): Promise<WorkflowExecution> {
    return this.#waiter.wait(executionId, options);
  }

  #assertTakingRuns(): void {
    if (this.#closed) throw new IllegalStateError('The engine is closed (or closing): it starts no more runs');
  }

  /** The execution record (run, context and trace), or undefined. */
  async get(executionId: string): Promise<WorkflowExecution | undefined> {
    const storage = await this.init();
    const run = await storage.getRun(executionId);
    if (!run) return undefined;
    const [steps, definition] = await Promise.all([storage.getSteps(executionId), this.#targets.pinned(storage, run.workflow_id, run.workflow_version)]);
    return toWorkflowExecution(run, steps, definition);
  }

  /** Lists runs, newest first. */
  async list(filter: Parameters<Storage['listRuns']>[0] = {}): Promise<RunRecord[]> {
    return (await this.init()).listRuns(filter);
  }

  /**
   * Pauses a run: no new step starts; in-flight steps finish and are recorded. Resolves once that
   * is committed; on a process that does not drive the run (a submit-only engine, or while another
   * live process drives it), once the request is stored for the run's driver (see docs/scaling-out.md).
   * Resolves with which of the two happened.
   */
  pause(executionId: string, options: ActorOptions = {}): Promise<ControlOutcome> {
    return this.#pauseOrResume(executionId, 'pause', options);
  }

  /**
   * Resumes a paused run (in debug mode: every held step starts, and the run goes on to the next
   * breakpoint). On a process that does not drive the run, resolves once the request is stored, as {@link Engine.pause}.
   */
  resume(executionId: string, options: ActorOptions = {}): Promise<ControlOutcome> {
    return this.#pauseOrResume(executionId, 'resume', options);
  }

  /** Pause or resume: applied here when this process drives the run, else left in its inbox for the driver. */
  async #pauseOrResume(executionId: string, action: 'pause' | 'resume', options: ActorOptions): Promise<ControlOutcome> {
    const audit = this.audit.runEvent(action === 'pause' ? 'run.paused' : 'run.resumed', executionId, options);
    const controller = await this.#fleet.control(executionId, action === 'pause' ? ['running'] : ['paused'], { action }, audit);
    if (!controller) return 'requested';
    await (action === 'pause' ? controller.pause(audit) : controller.resume(audit));
    return 'applied';
  }

  /**
   * Debug mode: runs exactly one step of a paused run, the oldest held step (the first of its
   * `paused_before`) or `options.path`, and leaves the run paused before whatever that step makes
   * ready. Resolves with the execution once the step has settled (completed, failed, waits, or a
   * loop started its iterations) and that is committed. Of steps ready together (parallel
   * branches) it runs one per call. Throws `illegal_state` when the run is not paused, holds no
   * step (or not `path`), or a step is still executing: concurrent calls never run two steps.
   *
   * @example
   * const id = await engine.start(wf, input, { breakpoints: ['draft'] });
   * await engine.wait(id, { until: 'paused' });
   * const after = await engine.step(id); // ran `draft`, paused before the next step
   */
  async step(executionId: string, options: StepRunOptions = {}): Promise<WorkflowExecution> {
    const controller = await this.#fleet.controlHere(executionId, ['paused'], 'step()');
    const { settled } = controller.runOneStep(options.path, (path) => this.audit.runEvent('run.stepped', executionId, options, { step: path }));
    await settled;
    return controller.execution();
  }

  /**
   * Two runs side by side, step by step: a fork beside its original (or any two runs), their steps
   * aligned by step path with each side's status, output, tokens, cost and duration, and the first
   * path where they differ. Throws `not_found` for an unknown id.
   *
   * @example
   * const forkId = await engine.fork(id, { fromNode: 'draft', overrides: { draft: { template: 'Shorter: {{input.topic}}' } } });
   * await engine.wait(forkId);
   * const { steps, first_difference } = await engine.compareRuns(id, forkId);
   */
  async compareRuns(originalId: string, otherId: string): Promise<RunComparison> {
    const load = async (id: string) => {
      const execution = await this.get(id);
      if (!execution) throw new NotFoundError(`Execution ${id} not found`, { executionId: id });
      return { execution, calls: await this.calls.list({ workflow_execution_id: id }) };
    };
    const [original, other] = await Promise.all([load(originalId), load(otherId)]);
    return alignRuns(original, other);
  }

  /**
   * Cancels a run: in-flight calls are aborted, the run ends `cancelled`. On a process that does not
   * drive the run, resolves once the request is stored, as {@link Engine.pause}.
   */
  async cancel(executionId: string, reason = 'cancelled by request', options: ActorOptions = {}): Promise<void> {
    const audit = this.audit.runEvent('run.cancelled', executionId, options, { reason });
    const controller = await this.#fleet.control(executionId, ['pending', 'running', 'paused'], { action: 'cancel', reason }, audit);
    if (!controller) return;
    const children = controller.childWaits();
    // The children its waiting sub_workflow steps started are cancelled once this is committed;
    // resolve when those driven here have ended too.
    controller.cancel(reason, audit);
    await controller.done.catch(() => undefined);
    await Promise.all(children.map(({ childId }) => this.#hot.get(childId)?.done.catch(() => undefined)));
  }

  /**
   * Approves a `human_approval` step (a node id, or a step path such as `review[2].approve`); `data`
   * flows into the context. Resolves `'applied'` when this process drives the run and woke the step,
   * `'requested'` when the decision was stored for the process that drives it.
   */
  async approve(executionId: string, nodeOrPath: string, data?: Json, options: ActorOptions = {}): Promise<ControlOutcome> {
    assertJsonDepth(data, 'data');
    return this.#fleet.wake(executionId, nodeOrPath, { kind: 'approval', approved: true, ...(data === undefined ? {} : { data }) }, this.audit.runEvent('run.approved', executionId, options, { step: nodeOrPath }));
  }

  /**
   * Rejects a `human_approval` step: it fires `rejected`, and the run follows the `rejected` branch;
   * without one the run ends, completed, with `output_data: { rejected: { step, reason } }`.
   * Resolves as {@link Engine.approve}.
   */
  async reject(executionId: string, nodeOrPath: string, reason?: string, options: ActorOptions = {}): Promise<ControlOutcome> {
    const detail = { step: nodeOrPath, ...(reason === undefined ? {} : { reason }) };
    return this.#fleet.wake(executionId, nodeOrPath, { kind: 'approval', approved: false, ...(reason === undefined ? {} : { reason }) }, this.audit.runEvent('run.rejected', executionId, options, detail));
  }


  /**
   * Deletes a run for good, with everything keyed to it (steps, LLM execution records, events
   * waiting in its inbox, large outputs no other run shares) and its child runs (`sub_workflow`),
   * however deep. A run that has not ended is refused with `illegal_state` unless `force` is set,
   * which cancels it first (a run another live process drives is cancelled through its inbox, and
   * deleted once its driver has ended it). Throws `not_found` for an unknown id.
   *
   * @example
   * await engine.deleteRun(id);                    // an ended run
   * await engine.deleteRun(id, { force: true });   // cancel it first if it is still going
   */
  async deleteRun(executionId: string, options: DeleteRunOptions = {}): Promise<void> {
    const cancel = async (id: string): Promise<void> => {
      await this.cancel(id, 'deleted', options);
      // Asked of another process (its driver): deleted once that one has ended it.
      await this.wait(id, options.signal ? { signal: options.signal } : {});
    };
    await deleteStoredRun(await this.init(), executionId, options, cancel, this.audit.runEvent('run.deleted', executionId, options));
  }

  /**
   * Deletes ended runs older than `olderThan` (by when they ended), as {@link deleteRun} does, in
   * batches of 100, one short transaction each, yielding to the event loop between batches: run it
   * on a schedule while the engine works. Child runs go with their parent and are not counted.
   * Resolves with how many runs it removed.
   *
   * @example
   * // Keep 30 days of history.
   * const removed = await engine.purge({ olderThan: new Date(Date.now() - 30 * 86_400_000) });
   */
  async purge(options: PurgeOptions): Promise<number> {
    return purgeRuns(await this.init(), options);
  }

  /** What the `retention` option removed since this engine started: a plain object, fit for metrics. */
  retentionStats(): RetentionStats {
    return this.#retention.stats();
  }

  /**
   * The store as one JSON document, streamed as chunks of text read a page at a time: workflows
   * (every version), prompts (every version), and with `runs` the runs with their steps and calls.
   * `importFrom` reads it into another engine or database. See docs/export-and-retention.md.
   *
   * @example
   * await writeFile('trellis-export.json', engine.exportData({ runs: true }));
   */
  exportData(options: ExportOptions = {}): AsyncIterable<string> {
    return exportDocument(() => this.init(), this.#options.clock, options);
  }

  /** Writes {@link exportData}'s document to a stream (a file, an HTTP response) and ends it. */
  exportTo(target: NodeJS.WritableStream, options: ExportOptions = {}): Promise<void> {
    return exportToStream(this.exportData(options), target);
  }

  /**
   * Reads an export document (a string, or a stream of text or bytes, read a line at a time) into
   * this engine's storage, keeping ids, versions and timestamps. Records already there with the same
   * content are skipped, so importing twice is safe; other content under the same key throws
   * `conflict` unless `onConflict: 'skip'`. Resolves with counts per section.
   *
   * @example
   * const result = await engine.importFrom(createReadStream('trellis-export.json'));
   */
  async importFrom(source: JsonTextSource, options: ImportOptions = {}): Promise<ImportResult> {
    return importDocument(await this.init(), source, options);
  }

  /**
   * Recovers orphaned runs: `pending`/`running` runs whose owner's lease expired. Each is claimed
   * and continued from its committed steps; a run whose steps were in flight at more than
   * `maxRecoveryAttempts` process ends in a row, nothing committed between, is failed as poison.
   * Resolves with the ids it took over.
   */
  recover(): Promise<string[]> {
    const o = this.#options;
    if (!this.#fleet.drives) return Promise.resolve([]); // a submit-only engine takes nothing on
    // Registered before init() settles: close() called meanwhile waits for this pass too.
    const pass = this.#metrics.recoveryPass(this.init().then((storage) => recoverRuns({
      storage,
      clock: o.clock,
      instanceId: this.instanceId,
      leaseMs: o.leaseMs,
      isHot: (runId) => this.#hot.has(runId),
      adopt: async (run) => (await this.#hot.adopt(run)) !== undefined,
      admitNext: (workflowId) => this.#admission.admitNext(workflowId),
      takeDeliveredEvents: () => this.#hot.takeDeliveredEvents(),
      orphansAreClaimed: this.#fleet.claimsOrphans,
    })), () => o.clock.now());
    this.#passes.add(pass);
    return pass.finally(() => this.#passes.delete(pass));
  }

  /**
   * Sends a failed run on (a poison run, say, once its cause is fixed) as a new run linked to it
   * (`retry_of`): seeded with its committed steps before the failed step (or `fromStep`), which runs
   * again, with what follows it: here, or on a submit-only engine (role `'submit'`) by the
   * worker that claims it, as a run it started. Resolves with the new run's id. Throws `not_found`,
   * `illegal_state` (not `failed`), or `conflict` when it was already retried (`details.retryId`).
   *
   * @example
   * const retryId = await engine.retry(failedId, { actor: 'ops@example.com' });
   * const run = await engine.wait(retryId);
   */
  async retry(executionId: string, options: RetryOptions = {}): Promise<string> {
    const { clock, ids, maxInputBytes } = this.#options;
    // The new run is stored unowned: a driving engine claims it now, a submit-only one announces it to the workers.
    const drive = (run: RunRecord): Promise<unknown> => (this.#fleet.drives ? this.#hot.adopt(run) : this.#fleet.announce(run.id));
    return retryRun({ clock, ids, maxInputBytes, targets: this.#targets, audit: this.audit, drive }, await this.init(), executionId, options);
  }

  /**
   * Starts the background loop: recovers orphaned runs now and every `pollIntervalMs`, fires due
   * timers, and starts the schedule and event triggers. Idempotent; `close()` stops it.
   */
  async startBackground(): Promise<void> {
    await this.init();
    if (this.#loop) return;
    await this.triggers.start();
    if (this.#loop || !this.#fleet.drives) return; // a submit-only engine runs its triggers only
    await this.#fleet.startClaims();
    const loop = repeat(this.#options.clock, this.#options.pollIntervalMs, async () => {
      try {
        await this.#fleet.claim();
        await this.recover();
      } catch (error) {
        this.events.publish('listener:error', { event: 'recover', error });
      }
    });
    this.#loop = loop;
    this.#keepAlive.hold('background');
    await loop.first;
  }

  /**
   * Shuts the engine down: new runs are refused, triggers and the background loop stop, then, for
   * up to `drainMs`, the steps executing now finish and are committed while nothing new starts.
   * Then the runs still driven here are let go (steps still executing are aborted and run again
   * wherever the run is recovered) and their leases released, so another engine takes them on at
   * once, and storage closes. `wait()` calls in flight reject.
   *
   * @example
   * process.once('SIGTERM', () => void engine.close({ drainMs: 10_000 }).then(() => process.exit(0)));
   */
  async close(options: CloseOptions = {}): Promise<void> {
    this.#closed = true;
    this.#triggers?.stop();
    await Promise.allSettled([this.#loop?.stop(), this.#retention.stop(), this.#fleet.stop(), ...this.#passes]); // a pass in flight still reads storage
    if (options.drainMs !== undefined && options.drainMs > 0) await this.#hot.drain(options.drainMs);
    this.#waiter.release(); // waits in flight stop: the runs are let go
    this.#keepAlive.releaseAll();
    this.#leases.stop();
    const detached = this.#hot.detachAll();
    await this.#hot.closeParking();
    // Release our claims so another engine can act on these runs at once instead of after the lease.
    if (this.#storage) {
      await Promise.all(detached.map((c) => this.#storage!.updateRun(c.id, { owner: undefined, lease_expires_at: undefined }, { owner: this.instanceId }).catch(() => undefined)));
      await this.#fleet.released(detached.map((c) => c.id));
    }
    if (this.#ready) await (await this.#ready).close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The engine as bundles see it. */
  #bundleHost(): BundleHost {
    return {
      clock: this.#options.clock,
      ids: this.#options.ids,
      events: this.events,
      storage: () => this.init(),
      recover: () => this.recover(),
      prompt: (id, version) => this.prompts.get(id, version),
      workflow: (id, version) => this.workflows.get(id, version),
      storeWorkflow: (source) => this.workflows.store(source),
      startStored: (workflowId, input, options) => this.startStored(workflowId, input, options),
      wait: (runId, options) => this.wait(runId, options),
      calls: (runId) => this.calls.list({ workflow_execution_id: runId }),
    };
  }
}


async function defaultStorage(): Promise<Storage> {
  const { SqliteStorage } = await import('../storage/sqlite/sqlite-storage.js');
  return new SqliteStorage({ path: 'trellis.sqlite' });
}
