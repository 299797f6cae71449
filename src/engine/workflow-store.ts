/**
 * `engine.workflows`: stored workflows, every version kept. Updating creates a new version;
 * running executions keep the version they started with. A version is written once: storage
 * refuses a second, different write of it (`conflict`), and every write here that picks "the next
 * version" retries above the highest one taken when it loses a race. Deleting marks the versions
 * deleted without freeing their numbers, so a re-created id continues above them and a run pinned
 * to an old version never sees another definition under it.
 */
import type { Storage } from '../storage/storage.js';
import type { WorkflowFilter, WorkflowRecord } from '../storage/records.js';
import type { Clock } from '../kernel/clock.js';
import type { WorkflowDefinition } from '../definition/definition.js';
import { IllegalStateError, NotFoundError, TrellisError } from '../kernel/errors.js';
import { takenUpTo } from '../storage/workflow-versions.js';
import type { ValidateWorkflowOptions } from '../definition/validation/validation.js';
import { resolveDefinition, type WorkflowSource } from '../definition/workflow-source.js';
import type { AuditEvent } from '../storage/records.js';
import type { ActorOptions, AuditChange } from './audit-trail.js';

/** The audit events of writing a version, once its number is known. */
type VersionEvents = (version: number) => AuditEvent[];

/** A stable id from a workflow's name when it has none. */
export function workflowIdFor(def: WorkflowDefinition): string {
  return def.id ?? (def.name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '') || 'workflow');
}

/** CRUD over stored workflows. */
export class WorkflowStore {
  readonly #storage: () => Promise<Storage>;
  readonly #clock: Clock;
  readonly #validation: () => ValidateWorkflowOptions;
  readonly #hasActiveRuns: (id: string) => Promise<boolean>;
  readonly #audit: (change: AuditChange, actor: string | undefined) => AuditEvent;

  /** @internal */
  constructor(
    storage: () => Promise<Storage>,
    clock: Clock,
    validation: () => ValidateWorkflowOptions,
    hasActiveRuns: (id: string) => Promise<boolean>,
    audit: (change: AuditChange, actor: string | undefined) => AuditEvent,
  ) {
    this.#storage = storage;
    this.#clock = clock;
    this.#validation = validation;
    this.#hasActiveRuns = hasActiveRuns;
    this.#audit = audit;
  }

  /** The audit event of writing a version of `id` (`before`: the version it follows). */
  #versionEvents(action: AuditChange['action'], id: string, before: number | undefined, actor: string | undefined): VersionEvents {
    return (version) => [this.#audit({ action, subjectType: 'workflow', subjectId: id, afterVersion: version, ...(before === undefined ? {} : { beforeVersion: before }) }, actor)];
  }

  /** Validates and stores a new workflow (version 1, or the definition's version). Nothing is written when invalid. */
  async create(source: WorkflowSource, options: ActorOptions = {}): Promise<WorkflowRecord> {
    const def = resolveDefinition(source, this.#validation());
    const storage = await this.#storage();
    const id = workflowIdFor(def);
    if (await storage.getWorkflow(id)) throw alreadyExists(id);
    // A deleted id keeps its version numbers: the new workflow starts above them. A concurrent
    // create that won is reported as such.
    const events = this.#versionEvents('workflow.created', id, undefined, options.actor);
    return this.#save(storage, id, def.version, def, events, async () => {
      if (await storage.getWorkflow(id)) throw alreadyExists(id);
    });
  }

  /** A version of a workflow (latest when absent), or undefined. */
  async get(id: string, version?: number): Promise<WorkflowRecord | undefined> {
    return (await this.#storage()).getWorkflow(id, version);
  }

  /** Latest version of each workflow, filtered by status, tag or name. */
  async list(filter?: WorkflowFilter): Promise<WorkflowRecord[]> {
    return (await this.#storage()).listWorkflows(filter);
  }

  /** Every version of one workflow, oldest first. */
  async versions(id: string): Promise<WorkflowRecord[]> {
    return (await this.#storage()).listWorkflowVersions(id);
  }

  /** Stores the definition as the next version of `id`. */
  async update(id: string, source: WorkflowSource, options: ActorOptions = {}): Promise<WorkflowRecord> {
    return this.#update(id, source, 'workflow.updated', options.actor);
  }

  async #update(id: string, source: WorkflowSource, action: AuditChange['action'], actor: string | undefined): Promise<WorkflowRecord> {
    const storage = await this.#storage();
    const latest = await storage.getWorkflow(id);
    if (!latest) throw new NotFoundError(`Workflow "${id}" not found`);
    const def = resolveDefinition(source, this.#validation());
    return this.#save(storage, id, latest.version + 1, def, this.#versionEvents(action, id, latest.version, actor));
  }

  /** Marks the latest version archived (as a new version). */
  async archive(id: string, options: ActorOptions = {}): Promise<WorkflowRecord> {
    const latest = await this.get(id);
    if (!latest) throw new NotFoundError(`Workflow "${id}" not found`);
    return this.update(id, { ...latest.definition, status: 'archived' }, options);
  }

  /** Makes an older version current again by copying it as the next version. */
  async rollback(id: string, version: number, options: ActorOptions = {}): Promise<WorkflowRecord> {
    const target = await this.get(id, version);
    if (!target) throw new NotFoundError(`Workflow "${id}" has no version ${version}`);
    return this.#update(id, target.definition, 'workflow.rolled_back', options.actor);
  }

  /** Deletes a workflow; refused while runs of it are active unless `force`. */
  async delete(id: string, options: { force?: boolean } & ActorOptions = {}): Promise<void> {
    const storage = await this.#storage();
    if (!(await storage.getWorkflow(id))) throw new NotFoundError(`Workflow "${id}" not found`);
    if (!options.force && (await this.#hasActiveRuns(id))) {
      throw new IllegalStateError(`Workflow "${id}" has running executions; pass { force: true } to delete it anyway`);
    }
    await storage.deleteWorkflow(id, [this.#audit({ action: 'workflow.deleted', subjectType: 'workflow', subjectId: id }, options.actor)]);
  }

  /** @internal Validates a workflow and stores it, reusing a version whose definition is identical. */
  store(source: WorkflowSource): Promise<WorkflowRecord> {
    return this.ensureStored(resolveDefinition(source, this.#validation()));
  }

  /** @internal Stores `def` under `id`, reusing a version whose definition is identical. */
  async ensureStored(def: WorkflowDefinition): Promise<WorkflowRecord> {
    const storage = await this.#storage();
    const id = workflowIdFor(def);
    const existing = await storage.getWorkflow(id, def.version);
    if (existing && JSON.stringify(existing.definition) === JSON.stringify(withId(def, id, existing.version))) return existing;
    // Stored on the way to running it (engine.run with a builder or a definition): the engine's own change.
    if (!existing) return this.#save(storage, id, def.version, def, this.#versionEvents('workflow.created', id, undefined, undefined));
    const latest = await storage.getWorkflow(id);
    return this.#save(storage, id, (latest?.version ?? def.version) + 1, def, this.#versionEvents('workflow.updated', id, latest?.version, undefined));
  }

  /**
   * Writes `def` as `version`, or, when that version is taken by another definition (a concurrent
   * writer, a deleted version), as the first version above the highest one taken. `onTaken` may
   * refuse the retry by throwing. Storage treats rewriting an identical version as a no-op, so two
   * writers of the same definition may share a version: it holds exactly what each wrote.
   */
  async #save(storage: Storage, id: string, version: number, def: WorkflowDefinition, events: VersionEvents, onTaken?: () => Promise<void>): Promise<WorkflowRecord> {
    for (let attempt = 0; ; attempt++) {
      const record: WorkflowRecord = {
        id,
        version,
        name: def.name,
        status: def.status,
        tags: def.tags ?? [],
        definition: withId(def, id, version),
        created_at: this.#clock.now(),
      };
      try {
        await storage.saveWorkflow(record, events(version));
        return record;
      } catch (error) {
        const highest = takenUpTo(error);
        if (highest === undefined) throw error;
        if (attempt >= MAX_VERSION_ATTEMPTS) {
          throw new TrellisError('conflict', `Workflow "${id}": no free version after ${attempt + 1} attempts; too many concurrent writers`, { cause: error, details: { id } });
        }
        await onTaken?.();
        version = Math.max(version, highest) + 1;
      }
    }
  }
}

/** Each lost race means another writer stored a version, so this bounds only a storm of writers. */
const MAX_VERSION_ATTEMPTS = 100;

function alreadyExists(id: string): IllegalStateError {
  return new IllegalStateError(`Workflow "${id}" already exists; use update() to add a version`, { details: { id } });
}

function withId(def: WorkflowDefinition, id: string, version: number): WorkflowDefinition {
  return { ...def, id, version };
}
