/**
 * A Storage that loads its driver on `init()`. Importing Trellis must not load kysely, pg or
 * better-sqlite3: a host that never uses a SQL store never pays for it.
 */
import { IllegalStateError } from '../kernel/errors.js';
import type { Storage } from './storage.js';
import { commitEach } from './commit-each.js';

/** Delegates every call to a driver created by `load()` during `init()`. */
export abstract class LazyStorage implements Storage {
  readonly #load: () => Promise<Storage>;
  #driver: Storage | undefined;
  #loading: Promise<Storage> | undefined;

  protected constructor(load: () => Promise<Storage>) {
    this.#load = load;
  }

  /** The loaded driver; throws before `init()`. */
  protected get driver(): Storage {
    if (!this.#driver) throw new IllegalStateError(`${this.constructor.name} used before init()`);
    return this.#driver;
  }

  /** The driver, when it has the fleet-limit method `name` (the SQL drivers all do). */
  #fleet(name: 'admitQueuedRuns' | 'acquireLimitSlot' | 'releaseLimitSlot' | 'takeLimitTokens'): Storage {
    if (!this.driver[name]) throw new IllegalStateError(`${this.constructor.name}'s driver has no ${name}`);
    return this.driver;
  }

  async init(): Promise<void> {
    this.#loading ??= this.#load().then((driver) => (this.#driver = driver));
    await (await this.#loading).init();
  }

  async close(): Promise<void> {
    await this.#driver?.close();
  }

  createRun: Storage['createRun'] = (run) => this.driver.createRun(run);
  getRun: Storage['getRun'] = (id) => this.driver.getRun(id);
  listRuns: Storage['listRuns'] = (filter) => this.driver.listRuns(filter);
  updateRun: Storage['updateRun'] = (id, patch, expect) => this.driver.updateRun(id, patch, expect);
  commit: Storage['commit'] = (commit) => this.driver.commit(commit);
  commitMany: NonNullable<Storage['commitMany']> = (commits) => (this.driver.commitMany ? this.driver.commitMany(commits) : commitEach(this.driver, commits));
  getSteps: Storage['getSteps'] = (runId) => this.driver.getSteps(runId);
  getStep: Storage['getStep'] = (runId, path) => this.driver.getStep(runId, path);
  deleteRun: Storage['deleteRun'] = (id, expect, audit) => this.driver.deleteRun(id, expect, audit);
  purgeRuns: Storage['purgeRuns'] = (filter) => this.driver.purgeRuns(filter);
  countRuns: Storage['countRuns'] = (filter) => this.driver.countRuns(filter);
  checkHealth: Storage['checkHealth'] = () => this.driver.checkHealth();
  claimRun: Storage['claimRun'] = (id, owner, leaseUntil, now) => this.driver.claimRun(id, owner, leaseUntil, now);
  renewLeases: Storage['renewLeases'] = (owner, leaseUntil, runIds) => this.driver.renewLeases(owner, leaseUntil, runIds);
  findOrphanRuns: Storage['findOrphanRuns'] = (now, limit, owner) => this.driver.findOrphanRuns(now, limit, owner);
  claimReadyRuns: NonNullable<Storage['claimReadyRuns']> = async (owner, leaseUntil, now, limit) => {
    if (!this.driver.claimReadyRuns) throw new IllegalStateError(`${this.constructor.name}'s driver cannot claim ready runs`);
    return this.driver.claimReadyRuns(owner, leaseUntil, now, limit);
  };
  admitQueuedRuns: NonNullable<Storage['admitQueuedRuns']> = async (workflowId, limit, claim, now) => this.#fleet('admitQueuedRuns').admitQueuedRuns!(workflowId, limit, claim, now);
  acquireLimitSlot: NonNullable<Storage['acquireLimitSlot']> = async (slot, limit, now) => this.#fleet('acquireLimitSlot').acquireLimitSlot!(slot, limit, now);
  releaseLimitSlot: NonNullable<Storage['releaseLimitSlot']> = async (scope, holder) => this.#fleet('releaseLimitSlot').releaseLimitSlot!(scope, holder);
  takeLimitTokens: NonNullable<Storage['takeLimitTokens']> = async (bucket, amount, now, force) => this.#fleet('takeLimitTokens').takeLimitTokens!(bucket, amount, now, force);
  findDueSteps: Storage['findDueSteps'] = (now, limit) => this.driver.findDueSteps(now, limit);
  findEventWaiters: Storage['findEventWaiters'] = (event, limit) => this.driver.findEventWaiters(event, limit);
  findApprovalWaiters: Storage['findApprovalWaiters'] = (filter) => this.driver.findApprovalWaiters(filter);
  announceWork: NonNullable<Storage['announceWork']> = async (runId) => this.driver.announceWork?.(runId);
  watchWork: NonNullable<Storage['watchWork']> = async (listener) => (this.driver.watchWork ? this.driver.watchWork(listener) : async () => undefined);
  deliverEvent: Storage['deliverEvent'] = (event) => this.driver.deliverEvent(event);
  findDeliveredEvents: Storage['findDeliveredEvents'] = (runIds, limit) => this.driver.findDeliveredEvents(runIds, limit);
  deleteDeliveredEvents: Storage['deleteDeliveredEvents'] = (ids) => this.driver.deleteDeliveredEvents(ids);
  saveWorkflow: Storage['saveWorkflow'] = (record, audit) => this.driver.saveWorkflow(record, audit);
  getWorkflow: Storage['getWorkflow'] = (id, version) => this.driver.getWorkflow(id, version);
  listWorkflows: Storage['listWorkflows'] = (filter) => this.driver.listWorkflows(filter);
  listWorkflowVersions: Storage['listWorkflowVersions'] = (id) => this.driver.listWorkflowVersions(id);
  deleteWorkflow: Storage['deleteWorkflow'] = (id, audit) => this.driver.deleteWorkflow(id, audit);
  savePrompt: Storage['savePrompt'] = (record) => this.driver.savePrompt(record);
  getPrompt: Storage['getPrompt'] = (id, version) => this.driver.getPrompt(id, version);
  listPrompts: Storage['listPrompts'] = () => this.driver.listPrompts();
  deletePrompt: Storage['deletePrompt'] = (id) => this.driver.deletePrompt(id);
  saveCall: Storage['saveCall'] = (record) => this.driver.saveCall(record);
  getCall: Storage['getCall'] = (id) => this.driver.getCall(id);
  listCalls: Storage['listCalls'] = (filter) => this.driver.listCalls(filter);
  scanWorkflows: Storage['scanWorkflows'] = (options) => this.driver.scanWorkflows(options);
  scanPrompts: Storage['scanPrompts'] = (options) => this.driver.scanPrompts(options);
  scanRuns: Storage['scanRuns'] = (options) => this.driver.scanRuns(options);
  saveBundle: Storage['saveBundle'] = (record) => this.driver.saveBundle(record);
  getBundle: Storage['getBundle'] = (id) => this.driver.getBundle(id);
  findDeadLetters: Storage['findDeadLetters'] = (filter) => this.driver.findDeadLetters(filter);
  appendAudit: Storage['appendAudit'] = (events) => this.driver.appendAudit(events);
  listAudit: Storage['listAudit'] = (filter) => this.driver.listAudit(filter);
}
