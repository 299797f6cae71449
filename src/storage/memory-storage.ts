/**
 * The reference Storage: everything in process memory. Fast and fully featured, but nothing
 * survives the process; use it in tests and for throwaway runs.
 */
import type {
  ApprovalFilter,
  AuditEvent,
  AuditFilter,
  DeadLetterFilter,
  ApprovalWaiter,
  BundleRecord,
  ModelCallRecord,
  PromptRecord,
  RunFilter,
  RunRecord,
  StepRecord,
  WorkflowFilter,
  WorkflowRecord,
} from './records.js';
import type { DeliveredEvent, PurgeFilter, RunCount, RunCountFilter, RunExpectation, RunPatch, RunScanOptions, ScanOptions, StepCommit, CommitOutcome, Storage, StorageHealth, VersionKey } from './storage.js';
import { idPage, versionPage } from './record-scans.js';
import { countRunRecords } from './run-counts.js';
import {
  ACTIVE_RUN_STATUSES,
  ORPHAN_RUN_STATUSES,
  TIMER_RUN_STATUSES,
  applyRunPatch,
  byCreatedThenId,
  byWaitingSince,
  isClaimable,
  needsDriver,
  isDeadLetter,
  isReadyToClaim,
  isPurgeable,
  matchesAuditFilter,
  newestFirst,
  matchesExpectation,
  matchesRunFilter,
  matchesWorkflowFilter,
  paginate,
  runExists,
} from './storage-helpers.js';
import { isStepScoped, lastWrites } from './step-calls.js';
import { parseStepCallId } from '../kernel/call-ids.js';
import { sameVersion, versionTaken } from './workflow-versions.js';
import { LocalWorkSignals } from './local-work-signals.js';
import { commitEach } from './commit-each.js';
import { neededTokens, refilledTokens, refillWaitMs, type AdmissionClaim, type BucketState, type LimitSlot, type RateBucket } from './fleet-limits.js';

/**
 * In-memory {@link Storage}, the reference implementation the conformance suite is written against.
 *
 * @example
 * const storage = new MemoryStorage();
 * await storage.init();
 */
export class MemoryStorage implements Storage {
  readonly #runs = new Map<string, RunRecord>();
  readonly #signals = new LocalWorkSignals();
  readonly #steps = new Map<string, Map<string, StepRecord>>();
  readonly #idempotency = new Map<string, string>();
  readonly #workflows = new Map<string, WorkflowRecord[]>();
  readonly #prompts = new Map<string, PromptRecord[]>();
  /**
   * Calls made by steps, by run (their ids name the run), in the order written: a run's calls go
   * with it, and writing one hashes nothing. As in a SQL step row, a call written twice is read
   * once, the last write winning.
   */
  readonly #runCalls = new Map<string, ModelCallRecord[]>();
  /** Every other call. */
  readonly #calls = new Map<string, ModelCallRecord>();
  readonly #bundles = new Map<string, BundleRecord>();
  /** Delivered events by id, in the order delivered. */
  readonly #inbox = new Map<string, DeliveredEvent>();
  /** Child run ids by parent run id: a deleted run's children go with it. */
  readonly #children = new Map<string, Set<string>>();
  /** The run retrying each retried run (`retry_of` is unique, as in SQL). */
  readonly #retries = new Map<string, string>();
  /** The audit trail, in the order appended; never rewritten. */
  readonly #audit: AuditEvent[] = [];
  /** Fleet-limit slots by scope: holder to lease end (see fleet-limits.ts). */
  readonly #slots = new Map<string, Map<string, number>>();
  /** Fleet-limit token buckets by scope. */
  readonly #buckets = new Map<string, BucketState>();

  async init(): Promise<void> {}
  async close(): Promise<void> {}

  async createRun(run: RunRecord): Promise<RunRecord> {
    if (run.idempotency_key !== undefined) {
      const existing = this.#idempotency.get(run.idempotency_key);
      if (existing !== undefined) return this.#runs.get(existing)!;
    }
    this.#insert(run);
    return run;
  }

  #insert(run: RunRecord): void {
    if (this.#runs.has(run.id) || (run.idempotency_key !== undefined && this.#idempotency.has(run.idempotency_key)) || (run.retry_of !== undefined && this.#retries.has(run.retry_of))) {
      throw runExists(run.id);
    }
    if (run.retry_of !== undefined) this.#retries.set(run.retry_of, run.id);
    if (run.idempotency_key !== undefined) this.#idempotency.set(run.idempotency_key, run.id);
    this.#runs.set(run.id, run);
    this.#steps.set(run.id, new Map());
    if (run.parent_id !== undefined) {
      const siblings = this.#children.get(run.parent_id);
      if (siblings) siblings.add(run.id);
      else this.#children.set(run.parent_id, new Set([run.id]));
    }
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    return this.#runs.get(id);
  }

  async listRuns(filter: RunFilter = {}): Promise<RunRecord[]> {
    const rows = [...this.#runs.values()].filter((r) => matchesRunFilter(r, filter));
    rows.sort((a, b) => b.created_at - a.created_at || (a.id < b.id ? -1 : 1));
    return paginate(rows, filter);
  }

  async updateRun(id: string, patch: RunPatch, expect?: RunExpectation): Promise<RunRecord | undefined> {
    const run = this.#runs.get(id);
    if (!run || !matchesExpectation(run, expect)) return undefined;
    const next = applyRunPatch(run, patch);
    this.#runs.set(id, next);
    return next;
  }

  async commit(commit: StepCommit): Promise<boolean> {
    if (commit.create) {
      // Checked before inserting, so a refused commit leaves no run behind.
      if (!matchesExpectation(commit.create, commit.expect)) return false;
      this.#insert(commit.create);
    }
    const run = this.#runs.get(commit.runId);
    if (!run) return false;
    if (!matchesExpectation(run, commit.expect)) return false;
    let steps = this.#steps.get(commit.runId);
    if (!steps) this.#steps.set(commit.runId, (steps = new Map()));
    for (const step of commit.steps) steps.set(step.path, step);
    if (commit.calls) for (const record of commit.calls) this.#saveCall(record);
    if (commit.run) this.#runs.set(commit.runId, applyRunPatch(run, commit.run));
    if (commit.audit) this.#audit.push(...commit.audit);
    return true;
  }

  /** A commit here costs no I/O: grouping would only delay it (see {@link Storage.groupCommits}). */
  readonly groupCommits: boolean = false;

  /** One commit after the other: each is atomic on its own (nothing here awaits mid-commit), so a group is too. */
  commitMany(commits: readonly StepCommit[]): Promise<CommitOutcome[]> {
    return commitEach(this, commits);
  }

  async getSteps(runId: string): Promise<StepRecord[]> {
    const steps = [...(this.#steps.get(runId)?.values() ?? [])];
    return steps.sort((a, b) => a.seq - b.seq || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }

  async getStep(runId: string, path: string): Promise<StepRecord | undefined> {
    return this.#steps.get(runId)?.get(path);
  }

  async deleteRun(id: string, expect?: RunExpectation, audit?: readonly AuditEvent[]): Promise<boolean> {
    const run = this.#runs.get(id);
    if (!run || !matchesExpectation(run, expect)) return false;
    this.#deleteTrees([id]);
    if (audit) this.#audit.push(...audit);
    return true;
  }

  async purgeRuns(filter: PurgeFilter): Promise<number> {
    const picked = [...this.#runs.values()]
      .filter((r) => isPurgeable(r, filter) && (r.parent_id === undefined || !this.#runs.has(r.parent_id)))
      .sort((a, b) => a.completed_at! - b.completed_at! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, filter.limit);
    this.#deleteTrees(picked.map((r) => r.id));
    return picked.length;
  }

  async countRuns(filter: RunCountFilter = {}): Promise<RunCount[]> {
    return countRunRecords(this.#runs.values(), filter);
  }

  /** Memory is always reachable and writable, and has no schema. */
  async checkHealth(): Promise<StorageHealth> {
    return {};
  }

  /** Deletes `roots` and every run below them (child runs, recursively) with what is keyed to each. */
  #deleteTrees(roots: readonly string[]): void {
    const doomed = new Set<string>();
    const pending = [...roots];
    for (let id = pending.pop(); id !== undefined; id = pending.pop()) {
      if (doomed.has(id)) continue;
      doomed.add(id);
      pending.push(...(this.#children.get(id) ?? []));
    }
    for (const id of doomed) {
      const run = this.#runs.get(id);
      if (run?.idempotency_key !== undefined) this.#idempotency.delete(run.idempotency_key);
      if (run?.parent_id !== undefined) this.#children.get(run.parent_id)?.delete(id);
      if (run?.retry_of !== undefined) this.#retries.delete(run.retry_of);
      this.#children.delete(id);
      this.#runs.delete(id);
      this.#steps.delete(id);
      this.#runCalls.delete(id);
    }
    for (const [key, record] of this.#calls) if (record.workflow_execution_id !== undefined && doomed.has(record.workflow_execution_id)) this.#calls.delete(key);
    for (const [key, event] of this.#inbox) if (doomed.has(event.run_id)) this.#inbox.delete(key);
  }

  async claimRun(id: string, owner: string, leaseUntil: number, now: number): Promise<RunRecord | undefined> {
    const run = this.#runs.get(id);
    if (!run) return undefined;
    if (!isClaimable(run, owner, now)) return undefined;
    // A claim bumps the revision: it is the fencing token of the owner's commits (see StepCommit.expect).
    const next = { ...run, owner, lease_expires_at: leaseUntil, revision: run.revision + 1 };
    this.#runs.set(id, next);
    return next;
  }

  async renewLeases(owner: string, leaseUntil: number, runIds?: readonly string[]): Promise<void> {
    for (const id of runIds ?? [...this.#runs.keys()]) {
      const run = this.#runs.get(id);
      if (run?.owner === owner && ACTIVE_RUN_STATUSES.includes(run.status)) this.#runs.set(id, { ...run, lease_expires_at: leaseUntil });
    }
  }

  async findOrphanRuns(now: number, limit: number, owner?: string): Promise<RunRecord[]> {
    const rows = [...this.#runs.values()].filter((r) => ORPHAN_RUN_STATUSES.includes(r.status) && needsDriver(r, now, owner));
    return rows.sort(byCreatedThenId).slice(0, limit);
  }

  async claimReadyRuns(owner: string, leaseUntil: number, now: number, limit: number): Promise<RunRecord[]> {
    const inboxes = new Set([...this.#inbox.values()].map((e) => e.run_id));
    // A parked run (unowned, its wake time ahead) is ready once something waits in its inbox.
    const ready = [...this.#runs.values()]
      .filter((r) => (isReadyToClaim(r) || (r.status === 'paused' && inboxes.has(r.id))) && (needsDriver(r, now) || (r.owner === undefined && inboxes.has(r.id))))
      .sort(byCreatedThenId)
      .slice(0, limit);
    const claimed: RunRecord[] = [];
    for (const run of ready) {
      const next = { ...run, owner, lease_expires_at: leaseUntil, revision: run.revision + 1 };
      this.#runs.set(run.id, next);
      claimed.push(next);
    }
    return claimed;
  }

  async admitQueuedRuns(workflowId: string, limit: number, claim: AdmissionClaim, now: number): Promise<RunRecord[]> {
    const runs = [...this.#runs.values()].filter((r) => r.workflow_id === workflowId);
    const active = runs.filter((r) => r.status === 'running' || r.status === 'paused').length;
    const queued = runs.filter((r) => r.status === 'pending' && r.started_at === undefined).sort(byCreatedThenId);
    const admitted: RunRecord[] = [];
    for (const run of queued.slice(0, Math.max(0, limit - active))) {
      // A queued run is unowned; admitted without an owner it stays so, for a worker to claim.
      const next: RunRecord = { ...run, status: 'running', started_at: now, revision: run.revision + 1, ...(claim.owner === undefined ? {} : { owner: claim.owner }), ...(claim.leaseUntil === undefined ? {} : { lease_expires_at: claim.leaseUntil }) };
      this.#runs.set(run.id, next);
      admitted.push(next);
    }
    return admitted;
  }

  async acquireLimitSlot(slot: LimitSlot, limit: number, now: number): Promise<boolean> {
    let held = this.#slots.get(slot.scope);
    if (!held) this.#slots.set(slot.scope, (held = new Map()));
    for (const [holder, expiresAt] of held) if (expiresAt < now) held.delete(holder);
    if (!held.has(slot.holder) && held.size >= limit) return false;
    held.set(slot.holder, slot.expires_at);
    return true;
  }

  async releaseLimitSlot(scope: string, holder: string): Promise<void> {
    this.#slots.get(scope)?.delete(holder);
  }

  async takeLimitTokens(bucket: RateBucket, amount: number, now: number, force = false): Promise<number> {
    const state = this.#buckets.get(bucket.scope) ?? { tokens: bucket.perMinute, refilled_at: now };
    const available = refilledTokens(state, bucket.perMinute, now);
    const need = neededTokens(amount, bucket.perMinute);
    if (!force && available < need) return refillWaitMs(available, need, bucket.perMinute);
    this.#buckets.set(bucket.scope, { tokens: Math.min(bucket.perMinute, available - amount), refilled_at: Math.max(state.refilled_at, now) });
    return 0;
  }

  announceWork(runId: string): Promise<void> {
    return this.#signals.announce(runId);
  }

  watchWork(listener: (runId: string) => void): Promise<() => Promise<void>> {
    return this.#signals.watch(listener);
  }

  async findDueSteps(now: number, limit: number): Promise<StepRecord[]> {
    const due: StepRecord[] = [];
    for (const [runId, steps] of this.#steps) {
      const run = this.#runs.get(runId);
      if (!run || !TIMER_RUN_STATUSES.includes(run.status)) continue;
      for (const step of steps.values()) {
        if (step.status === 'waiting' && step.waiter?.due_at !== undefined && step.waiter.due_at <= now) due.push(step);
      }
    }
    const key = (s: StepRecord): string => `${s.run_id}\u0000${s.path}`;
    due.sort((a, b) => a.waiter!.due_at! - b.waiter!.due_at! || (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    return due.slice(0, limit);
  }

  async findEventWaiters(event: string, limit: number): Promise<StepRecord[]> {
    const found: StepRecord[] = [];
    for (const [runId, steps] of this.#steps) {
      const run = this.#runs.get(runId);
      if (!run || !TIMER_RUN_STATUSES.includes(run.status)) continue;
      for (const step of steps.values()) if (step.status === 'waiting' && step.waiter?.kind === 'event' && step.waiter.event === event) found.push(step);
    }
    found.sort((a, b) => (a.run_id < b.run_id ? -1 : a.run_id > b.run_id ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return found.slice(0, limit);
  }

  async findApprovalWaiters(filter: ApprovalFilter = {}): Promise<ApprovalWaiter[]> {
    const found: ApprovalWaiter[] = [];
    for (const [runId, steps] of this.#steps) {
      const run = this.#runs.get(runId);
      if (!run || !TIMER_RUN_STATUSES.includes(run.status) || (filter.workflow_id !== undefined && run.workflow_id !== filter.workflow_id)) continue;
      for (const step of steps.values()) {
        if (step.status === 'waiting' && step.waiter?.kind === 'approval') found.push({ step, workflow_id: run.workflow_id, workflow_version: run.workflow_version });
      }
    }
    return paginate(found.sort((a, b) => byWaitingSince(a.step, b.step)), filter);
  }

  async deliverEvent(event: DeliveredEvent): Promise<boolean> {
    if (this.#inbox.has(event.id)) return true;
    const run = this.#runs.get(event.run_id);
    if (!run || !TIMER_RUN_STATUSES.includes(run.status)) return false;
    this.#inbox.set(event.id, event);
    return true;
  }

  async findDeliveredEvents(runIds: readonly string[], limit: number): Promise<DeliveredEvent[]> {
    const wanted = new Set(runIds);
    const found = [...this.#inbox.values()].filter((e) => wanted.has(e.run_id));
    found.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return found.slice(0, limit);
  }

  async deleteDeliveredEvents(ids: readonly string[]): Promise<void> {
    for (const id of ids) this.#inbox.delete(id);
  }

  // Insert-only: a version is written once (deleted ones stay, for the runs pinned to them).
  async saveWorkflow(record: WorkflowRecord, audit?: readonly AuditEvent[]): Promise<void> {
    const versions = this.#workflows.get(record.id) ?? [];
    const existing = versions.find((v) => v.version === record.version);
    if (existing) {
      if (sameVersion(existing, record)) return;
      throw versionTaken(record.id, record.version, versions.at(-1)!.version);
    }
    versions.push(record);
    versions.sort((a, b) => a.version - b.version);
    this.#workflows.set(record.id, versions);
    if (audit) this.#audit.push(...audit);
  }

  // A version is visible unless it is marked deleted; "latest" is the highest visible version.
  async getWorkflow(id: string, version?: number): Promise<WorkflowRecord | undefined> {
    const visible = this.#visibleVersions(id);
    return version === undefined ? visible.at(-1) : visible.find((v) => v.version === version);
  }

  async listWorkflows(filter: WorkflowFilter = {}): Promise<WorkflowRecord[]> {
    const latest: WorkflowRecord[] = [];
    for (const id of this.#workflows.keys()) {
      const last = this.#visibleVersions(id).at(-1);
      if (last && matchesWorkflowFilter(last, filter)) latest.push(last);
    }
    return paginate(latest.sort(byCreatedThenId), filter);
  }

  async listWorkflowVersions(id: string): Promise<WorkflowRecord[]> {
    return this.#visibleVersions(id);
  }

  #visibleVersions(id: string): WorkflowRecord[] {
    return (this.#workflows.get(id) ?? []).filter((v) => v.deleted !== true);
  }

  async deleteWorkflow(id: string, audit?: readonly AuditEvent[]): Promise<void> {
    const versions = this.#workflows.get(id);
    if (versions) this.#workflows.set(id, versions.map((v) => ({ ...v, deleted: true })));
    if (audit) this.#audit.push(...audit);
  }

  async savePrompt(record: PromptRecord): Promise<void> {
    const versions = (this.#prompts.get(record.id) ?? []).filter((v) => v.version !== record.version);
    versions.push(record);
    versions.sort((a, b) => a.version - b.version);
    this.#prompts.set(record.id, versions);
  }

  async getPrompt(id: string, version?: number): Promise<PromptRecord | undefined> {
    const versions = this.#prompts.get(id);
    if (!versions) return undefined;
    return version === undefined ? versions.at(-1) : versions.find((v) => v.version === version);
  }

  async listPrompts(): Promise<PromptRecord[]> {
    return [...this.#prompts.values()].map((v) => v.at(-1)!).sort(byCreatedThenId);
  }

  async deletePrompt(id: string): Promise<void> {
    this.#prompts.delete(id);
  }

  async saveCall(record: ModelCallRecord): Promise<void> {
    this.#saveCall(record);
  }

  #saveCall(record: ModelCallRecord): void {
    if (!isStepScoped(record)) {
      this.#calls.set(record.id, record);
      return;
    }
    const runId = record.workflow_execution_id!;
    const calls = this.#runCalls.get(runId);
    if (calls) calls.push(record);
    else this.#runCalls.set(runId, [record]);
  }

  async getCall(id: string): Promise<ModelCallRecord | undefined> {
    const step = parseStepCallId(id);
    return (step && this.#runCalls.get(step.runId)?.findLast((call) => call.id === id)) ?? this.#calls.get(id);
  }

  /** A run's step calls, each id once (its last write). */
  #callsOf(runId: string): ModelCallRecord[] {
    return lastWrites(this.#runCalls.get(runId) ?? []);
  }

  async listCalls(filter: { readonly workflow_execution_id?: string; readonly workflow_node_id?: string }): Promise<ModelCallRecord[]> {
    const runId = filter.workflow_execution_id;
    const stepCalls = runId === undefined ? [...this.#runCalls.keys()].flatMap((id) => this.#callsOf(id)) : this.#callsOf(runId);
    return [...this.#calls.values(), ...stepCalls]
      .filter((e) => (runId === undefined || e.workflow_execution_id === runId) && (filter.workflow_node_id === undefined || e.workflow_node_id === filter.workflow_node_id))
      .sort(byCreatedThenId);
  }

  async scanWorkflows(options: ScanOptions<VersionKey>): Promise<WorkflowRecord[]> {
    return versionPage([...this.#workflows.values()].flat(), options);
  }

  async scanPrompts(options: ScanOptions<VersionKey>): Promise<PromptRecord[]> {
    return versionPage([...this.#prompts.values()].flat(), options);
  }

  async scanRuns(options: RunScanOptions): Promise<RunRecord[]> {
    const { status } = options;
    return idPage(status === undefined ? this.#runs.values() : [...this.#runs.values()].filter((r) => status.includes(r.status)), options);
  }

  async saveBundle(record: BundleRecord): Promise<void> {
    this.#bundles.set(record.id, record);
  }

  async findDeadLetters(filter: DeadLetterFilter): Promise<RunRecord[]> {
    const rows = [...this.#runs.values()].filter((r) => isDeadLetter(r, filter, this.#retries.has(r.id)));
    return rows.sort(newestFirst((r) => r.created_at)).slice(0, filter.limit);
  }

  async appendAudit(events: readonly AuditEvent[]): Promise<void> {
    this.#audit.push(...events);
  }

  async listAudit(filter: AuditFilter): Promise<AuditEvent[]> {
    return this.#audit.filter((e) => matchesAuditFilter(e, filter)).sort(newestFirst((e) => e.at)).slice(0, filter.limit);
  }

  async getBundle(id: string): Promise<BundleRecord | undefined> {
    return this.#bundles.get(id);
  }
}
