/**
 * Run admission: how a run comes to exist. A run is recorded once per idempotency key, waits
 * `pending` while its workflow is at its `max_concurrent_runs` (admitted in order when one of
 * that workflow's runs ends), and a `sub_workflow` step's child is created here too, through the
 * runtime's RunAdmission port. Internal to the engine.
 */
import type { AuditEvent, RunRecord } from '../storage/records.js';
import type { ActorOptions, AuditChange } from './audit-trail.js';
import type { Json } from '../kernel/json.js';
import type { Storage } from '../storage/storage.js';
import type { Clock } from '../kernel/clock.js';
import type { IdGenerator } from '../kernel/ids.js';
import type { TrellisEventEmitter } from '../kernel/events.js';
import type { WorkflowDefinition } from '../definition/definition.js';
import { resolveInput } from '../definition/run-input.js';
import { engineReferenceIssues, type EngineNames } from '../definition/validation/engine-references.js';
import { NotFoundError, TrellisError, WorkflowValidationError, isTrellisError } from '../kernel/errors.js';
import { plainCopier, plainMaker } from '../kernel/plain.js';
import type { HotRuns, RunAdmission } from '../runtime/hot-runs.js';
import { breakpointIssues } from '../planner/breakpoints.js';
import { traceparentOf, type Tracing } from '../telemetry/tracing.js';
import type { Mutable } from '../kernel/mutable.js';

/** Options of one run. */
export interface RunOptions extends ActorOptions {
  /** Starting the same key twice returns the first run instead of starting another. */
  readonly idempotencyKey?: string;
  /** What started the run (recorded on it), e.g. `{ type: 'schedule', id: 'nightly' }`. */
  readonly trigger?: Json;
  /**
   * Cancels the run when it aborts. Aborted before the run is recorded: nothing is stored and the
   * call rejects with the signal's reason. Aborted later: the run is cancelled (the reason is
   * recorded as its `error_message`), and `run()` rejects with the signal's reason once that is committed.
   */
  readonly signal?: AbortSignal;
  /**
   * Debug mode: the steps the run pauses before, each a node id (that node in every loop
   * iteration) or a step path (`review_loop[2].critique`, exactly that step; `review_loop.critique`,
   * every iteration). The run goes `paused` before such a step starts, with the step listed in
   * `paused_before`; `engine.resume` runs on to the next breakpoint, `engine.step` runs one step.
   * Stored with the run, so a process that recovers it stops there too. Not inherited by child runs.
   * Throws `WorkflowValidationError` (nothing stored) for an entry naming a node the workflow lacks.
   *
   * @example
   * const id = await engine.start(wf, input, { breakpoints: ['draft', 'review_loop[2].critique'] });
   */
  readonly breakpoints?: readonly string[];
}

/** What admission needs of its engine. */
export interface RunAdmitterParts {
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly instanceId: string;
  readonly leaseMs: number;
  readonly maxInputBytes: number;
  readonly events: TrellisEventEmitter;
  /** The engine's providers and tools, which every `provider_model` and `tools` entry must name. */
  readonly names: EngineNames;
  /** The engine's spans; undefined when it does not trace. */
  readonly tracing: Tracing | undefined;
  storage(): Promise<Storage>;
  /** The audit event of a change by `actor` (see engine/audit-trail.ts). */
  audit(change: AuditChange, actor: string | undefined): AuditEvent;
  /** A submit-only engine stores runs unowned, for a worker to claim, and announces them (see engine-role.ts). */
  readonly submitOnly?: { announce(runId: string): Promise<void> };
}

/** A stored workflow version to start a run of. */
export interface RunTarget {
  readonly def: WorkflowDefinition;
  readonly workflowId: string;
  readonly version: number;
}

/** A run of a limited workflow on its way to the queue. */
interface QueuedRun {
  readonly record: RunRecord;
  readonly def: WorkflowDefinition;
  readonly limit: number;
  readonly trace: ReturnType<NonNullable<Tracing['startRun']>> | undefined;
  readonly audit: AuditEvent;
}

interface ChildLink {
  readonly parent_id: string;
  readonly parent_step_path: string;
}

/** A run row is kept: made with `new`, not as a literal (see plain.ts). */
const copyRunRow = plainCopier<RunRecord>();
const makeRunRow = plainMaker<Mutable<RunRecord>>();


/**
 * A new run's row, filled field by field: every run pays this, and a literal with conditional
 * spreads (then copied into the kept object) cost four throwaway objects and two copies per run.
 */
function newRunRecord(id: string, workflowId: string, version: number, input: { readonly input: Json; readonly variables: Json }, now: number, owner: string, leaseUntil: number, options: RunOptions, breakpoints: string[] | undefined, link: ChildLink | undefined): RunRecord {
  const row = makeRunRow();
  row.id = id;
  row.workflow_id = workflowId;
  row.workflow_version = version;
  row.status = 'running';
  row.input_data = input.input;
  row.variables = input.variables;
  row.created_at = now;
  row.started_at = now;
  row.owner = owner;
  row.lease_expires_at = leaseUntil;
  row.revision = 0;
  row.recovery_count = 0;
  if (options.idempotencyKey !== undefined) row.idempotency_key = options.idempotencyKey;
  if (options.trigger !== undefined) row.trigger = options.trigger;
  if (breakpoints !== undefined) row.breakpoints = breakpoints;
  if (link !== undefined) {
    row.parent_id = link.parent_id;
    row.parent_step_path = link.parent_step_path;
  }
  return row;
}

/** Records runs and starts them, or queues them under their workflow's concurrency limit. */
export class RunAdmitter implements RunAdmission {
  readonly #parts: RunAdmitterParts;
  readonly #runs: HotRuns;
  /** Workflows with `max_concurrent_runs`, whose queued runs are admitted when one of theirs ends. */
  readonly #limited = new Set<string>();
  /** Definitions whose providers and tools this engine has: versions never change, so once is enough. */
  readonly #referencesChecked = new WeakSet<WorkflowDefinition>();

  constructor(parts: RunAdmitterParts, runs: HotRuns) {
    this.#parts = parts;
    this.#runs = runs;
  }

  /**
   * Records a run of `target` with `input` (checked against the workflow's variables) and starts
   * it, or queues it; resolves with its id (an earlier run's id when its idempotency key repeats).
   * `yieldToCaller`: the run's first events wait for the next macrotask, so that a caller handed
   * the id can subscribe to them first (`engine.start`); `engine.run` subscribes before, and skips the wait.
   */
  async create(storage: Storage, target: RunTarget, input: unknown, options: RunOptions, link?: ChildLink, yieldToCaller = false): Promise<string> {
    const { def, workflowId, version } = target;
    if (!replays(options.trigger)) this.assertReferences(def);
    const breakpoints = options.breakpoints === undefined || options.breakpoints.length === 0 ? undefined : [...options.breakpoints];
    if (breakpoints !== undefined) {
      const issues = breakpointIssues(def, breakpoints);
      if (issues.length > 0) throw new WorkflowValidationError(issues);
    }
    const resolved = resolveInput(def, input, this.#parts.maxInputBytes);
    const now = this.#parts.clock.now();
    let record: RunRecord = newRunRecord(this.#parts.ids('run'), workflowId, version, resolved, now, this.#parts.instanceId, now + this.#parts.leaseMs, options, breakpoints, link);
    const limit = def.definition.settings?.max_concurrent_runs;
    if (limit !== undefined) this.#limited.add(workflowId);
    // The run's span starts here, in the caller's context (its parent), and is stored with the run.
    const trace = this.#parts.tracing?.startRun(record, undefined);
    const traceparent = trace && traceparentOf(trace.span);
    if (traceparent !== undefined) record = copyRunRow({ ...record, trace_context: traceparent });
    const announce = (): void => void this.#parts.events.publish('execution:started', { executionId: record.id, workflowId, timestamp: now, input: resolved.input });
    const audit = this.#parts.audit({ action: 'run.started', subjectType: 'run', subjectId: record.id, detail: { workflow_id: workflowId, workflow_version: version } }, options.actor);
    if (limit !== undefined && storage.admitQueuedRuns) return this.#createQueued(storage, { record, def, limit, trace, audit }, yieldToCaller ? () => void setImmediate(announce) : announce, yieldToCaller);
    const queued = limit !== undefined && (await activeRuns(storage, workflowId)) >= limit;
    if (this.#parts.submitOnly) {
      // A worker runs it, under a span of its own linked to this one (trace_context): this span covers only the submission.
      trace?.span.setAttribute('trellis.run.status', 'submitted');
      trace?.span.end();
      return this.#storeForWorkers(storage, record, queued, yieldToCaller ? () => void setImmediate(announce) : announce, this.#parts.submitOnly.announce, audit);
    }
    if (!queued && record.idempotency_key === undefined) {
      // The run's row goes in with its first steps (and its audit event), in one transaction.
      await this.#runs.hold(record, def, trace).create(announce, yieldToCaller, audit);
      return record.id;
    }
    const run = await createAudited(storage, queued ? ({ ...record, status: 'pending', owner: undefined, lease_expires_at: undefined, started_at: undefined } as unknown as RunRecord) : record, audit);
    if (run.id !== record.id || queued) {
      // An earlier run with the same key answers, or the run waits its turn (admitNext starts it
      // later, its span linked to this one): this span covers only the admission.
      trace?.span.setAttribute('trellis.run.status', run.id !== record.id ? 'duplicate' : 'pending');
      trace?.span.end();
      return run.id !== record.id ? sameWorkflow(run, workflowId) : run.id;
    }
    const controller = this.#runs.hold(run, def, trace);
    const begin = (): void => {
      announce();
      controller.begin([]);
    };
    // Like a run created with its first steps: the caller learns the id and can subscribe to the
    // run's events before the first one fires.
    if (yieldToCaller) setImmediate(begin);
    else begin();
    return run.id;
  }

  /**
   * A run of a workflow with `max_concurrent_runs` on a storage that admits for the fleet: stored
   * queued, then admitted with the queue's oldest runs in one atomic step, so that engines starting
   * runs at once in several processes never exceed the limit together. Resolves with its id whether
   * it was admitted now (driven here, or left for a worker by a submit-only engine) or waits its turn.
   */
  async #createQueued(storage: Storage, queued: QueuedRun, started: () => void, yieldToCaller: boolean): Promise<string> {
    const { record, def, trace } = queued;
    const pending = { ...record, status: 'pending', owner: undefined, lease_expires_at: undefined, started_at: undefined } as unknown as RunRecord;
    const run = await createAudited(storage, pending, queued.audit);
    if (run.id !== record.id) {
      trace?.span.setAttribute('trellis.run.status', 'duplicate');
      trace?.span.end();
      return sameWorkflow(run, record.workflow_id);
    }
    const admitted = (await this.#admitQueued(storage, record.workflow_id, queued.limit, record.id)).find((r) => r.id === record.id);
    if (!admitted || this.#parts.submitOnly) {
      // Waiting its turn (admitted when one of its workflow's runs ends, by whichever process ends
      // it), or left for a worker: this span covers only the admission.
      trace?.span.setAttribute('trellis.run.status', admitted ? 'submitted' : 'pending');
      trace?.span.end();
      if (admitted) {
        started();
        await this.#parts.submitOnly?.announce(record.id);
      }
      return record.id;
    }
    const controller = this.#runs.hold(admitted, def, trace);
    const begin = (): void => {
      started();
      controller.begin([]);
    };
    if (yieldToCaller) setImmediate(begin);
    else begin();
    return record.id;
  }

  /**
   * Admits queued runs of a workflow under `limit` for the whole fleet and starts them: driven here
   * (a submit-only engine leaves them unowned and announces them, for a worker to claim). `self`,
   * a run its creator starts itself, is returned but not started here.
   */
  async #admitQueued(storage: Storage, workflowId: string, limit: number, self?: string): Promise<RunRecord[]> {
    const { clock, instanceId, leaseMs, submitOnly } = this.#parts;
    const now = clock.now();
    const admitted = await storage.admitQueuedRuns!(workflowId, limit, submitOnly ? {} : { owner: instanceId, leaseUntil: now + leaseMs }, now);
    for (const run of admitted) {
      if (run.id === self) continue;
      if (submitOnly) {
        await submitOnly.announce(run.id);
        continue;
      }
      const stored = await storage.getWorkflow(run.workflow_id, run.workflow_version);
      if (!stored) continue; // its version deleted: recovery fails it as it does any run without one
      this.#runs.drive(run, stored.definition, []);
      this.#parts.events.publish('execution:started', { executionId: run.id, workflowId, timestamp: now, input: run.input_data });
    }
    return admitted;
  }

  /**
   * A submit-only engine's run: stored unowned (a worker claims it and starts it from its first
   * step) or queued, never driven here. Announced once stored, so a listening worker takes it at once.
   */
  async #storeForWorkers(storage: Storage, record: RunRecord, queued: boolean, started: () => void, announce: (runId: string) => Promise<void>, audit: AuditEvent): Promise<string> {
    const unowned = { ...record, owner: undefined, lease_expires_at: undefined, ...(queued ? { status: 'pending', started_at: undefined } : {}) };
    const run = await createAudited(storage, unowned as unknown as RunRecord, audit);
    if (run.id !== record.id) return sameWorkflow(run, record.workflow_id);
    if (queued) return run.id; // admitted by a worker's recovery when its workflow has room
    started();
    await announce(run.id);
    return run.id;
  }

  /**
   * Throws `WorkflowValidationError` listing every provider and tool `def` names that this engine
   * does not have (issues `unknown_provider`, `unknown_tool`), before anything is stored or run.
   */
  assertReferences(def: WorkflowDefinition): void {
    if (this.#referencesChecked.has(def)) return;
    const issues = engineReferenceIssues(def, this.#parts.names);
    if (issues.length > 0) throw new WorkflowValidationError(issues);
    this.#referencesChecked.add(def);
  }

  async createChild(parent: RunRecord, stepPath: string, workflowId: string, version: number | undefined, input: Json, key: string): Promise<string> {
    const storage = await this.#parts.storage();
    const stored = await storage.getWorkflow(workflowId, version);
    if (!stored) throw new NotFoundError(`Sub-workflow "${workflowId}"${version ? ` version ${version}` : ''} not found (step "${stepPath}")`, { executionId: parent.id });
    const target = { def: stored.definition, workflowId: stored.id, version: stored.version };
    return this.create(storage, target, input, { idempotencyKey: key, trigger: { type: 'parent', id: parent.id } }, { parent_id: parent.id, parent_step_path: stepPath });
  }

  runEnded(run: RunRecord): void {
    if (this.#limited.has(run.workflow_id)) void this.admitNext(run.workflow_id).catch((error: unknown) => this.#parts.events.publish('listener:error', { event: 'admit', error }));
  }

  /** Starts queued (`pending`) runs of a workflow while it is under its `max_concurrent_runs`. */
  async admitNext(workflowId: string): Promise<void> {
    this.#limited.add(workflowId);
    const { clock, instanceId, leaseMs } = this.#parts;
    const storage = await this.#parts.storage();
    if (storage.admitQueuedRuns) {
      // The latest version's limit: the one new runs are started under.
      const limit = (await storage.getWorkflow(workflowId))?.definition.definition.settings?.max_concurrent_runs;
      await this.#admitQueued(storage, workflowId, limit ?? Number.MAX_SAFE_INTEGER);
      return;
    }
    const queued = await storage.listRuns({ workflow_id: workflowId, status: 'pending' });
    for (const run of queued.reverse()) {
      const stored = await storage.getWorkflow(run.workflow_id, run.workflow_version);
      const limit = stored?.definition.definition.settings?.max_concurrent_runs;
      if (!stored || (limit !== undefined && (await activeRuns(storage, workflowId)) >= limit)) return;
      const now = clock.now();
      const claimed = await storage.claimRun(run.id, instanceId, now + leaseMs, now);
      if (!claimed) continue;
      const started = await storage.updateRun(run.id, { status: 'running', started_at: now }, { status: 'pending' });
      if (!started) continue;
      this.#runs.drive(started, stored.definition, []);
      this.#parts.events.publish('execution:started', { executionId: run.id, workflowId, timestamp: now, input: run.input_data });
    }
  }
}

/**
 * A replay answers every call from the recorded run, and a fork's replayed steps do too (its live
 * steps may take another model from its overrides): neither needs what the original run named.
 */
function replays(trigger: Json | undefined): boolean {
  const type = typeof trigger === 'object' && trigger !== null && !Array.isArray(trigger) ? trigger['type'] : undefined;
  return type === 'replay' || type === 'fork';
}

/**
 * The earlier run's id when it runs the same workflow. A key reused for another workflow is a
 * caller's bug: answering with that run would hand back another workflow's output as this one's
 * (the HTTP router answers 409 for the same reason).
 */
function sameWorkflow(run: RunRecord, workflowId: string): string {
  if (run.workflow_id === workflowId) return run.id;
  const message = `Idempotency key "${run.idempotency_key ?? ''}" was already used to start a run of workflow "${run.workflow_id}", not "${workflowId}"`;
  throw new TrellisError('conflict', message, { executionId: run.id, details: { workflowId: run.workflow_id, requestedWorkflowId: workflowId } });
}

/**
 * Inserts a run with its audit event in one commit; when its idempotency key is taken, the commit
 * is refused and the run holding the key is returned (no event: nothing was started).
 */
async function createAudited(storage: Storage, run: RunRecord, audit: AuditEvent): Promise<RunRecord> {
  try {
    await storage.commit({ runId: run.id, steps: [], create: run, audit: [audit] });
    return run;
  } catch (error) {
    if (run.idempotency_key === undefined || !(isTrellisError(error) && error.code === 'conflict')) throw error;
    return storage.createRun(run);
  }
}

async function activeRuns(storage: Storage, workflowId: string): Promise<number> {
  return (await storage.listRuns({ workflow_id: workflowId, status: ['running', 'paused'] })).length;
}
