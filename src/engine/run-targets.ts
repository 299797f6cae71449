/**
 * Which definition a run runs, for the engine: a workflow passed to `start` (validated, checked
 * against the engine's providers and tools, and stored once per object), and a stored version
 * read back for `get` (versions never change, so both are cached).
 */
import type { WorkflowDefinition } from '../definition/definition.js';
import { resolveInput } from '../definition/run-input.js';
import { resolveDefinition, type WorkflowSource } from '../definition/workflow-source.js';
import type { ValidateWorkflowOptions } from '../definition/validation/validation.js';
import { isWorkflowBuilder } from '../builder/builder.js';
import { deepFreeze } from '../kernel/deep-freeze.js';
import type { Storage } from '../storage/storage.js';
import type { RunTarget } from './run-admission.js';
import type { WorkflowStore } from './workflow-store.js';
import type { StoredDefinitions } from '../runtime/stored-definitions.js';

/** What the targets need of their engine. */
export interface RunTargetsParts {
  readonly workflows: WorkflowStore;
  /** The engine's stored versions, shared with the runs it drives. */
  readonly definitions: StoredDefinitions;
  readonly maxInputBytes: number;
  validation(): ValidateWorkflowOptions;
  /** Throws when the definition names a provider or tool the engine does not have. */
  assertReferences(def: WorkflowDefinition): void;
}

export class RunTargets {
  readonly #parts: RunTargetsParts;
  /**
   * Definitions already validated and stored, by the object the caller passed. A JSON definition is
   * deep-frozen when it first lands here and a builder never changes, so a hit is never stale.
   */
  readonly #resolved = new WeakMap<object, RunTarget>();
  /**
   * Definitions being stored, by the object passed: runs started together with a new workflow
   * (200 at once, say) share its one validation and store instead of each doing both. The input
   * is checked by admission, as on a cache hit.
   */
  readonly #storing = new WeakMap<object, Promise<RunTarget>>();

  constructor(parts: RunTargetsParts) {
    this.#parts = parts;
  }

  /** The target `workflow` resolved to before, when it is cached (see {@link resolve}). */
  known(workflow: WorkflowSource): RunTarget | undefined {
    return this.#resolved.get(workflow);
  }

  /** The stored version `workflow` runs as; the input, providers and tools are checked before anything is stored. */
  async resolve(workflow: WorkflowSource, input: unknown): Promise<RunTarget> {
    const known = this.#resolved.get(workflow) ?? this.#storing.get(workflow);
    if (known) return known;
    const def = resolveDefinition(workflow, this.#parts.validation());
    resolveInput(def, input, this.#parts.maxInputBytes);
    this.#parts.assertReferences(def);
    // What runs is what the object says from now on (frozen before the first await, so nothing
    // changes it between the copy validated above and the cache): changing it throws in strict
    // mode, and sloppy mode ignores the write. Our builders never change; another object with a
    // build() may, so it is built again on every start.
    const cacheable = isWorkflowBuilder(workflow) || typeof (workflow as { build?: unknown }).build !== 'function';
    if (cacheable && !isWorkflowBuilder(workflow)) deepFreeze(workflow);
    const storing = this.#parts.workflows.ensureStored(def).then((stored): RunTarget => {
      const target = { def: stored.definition, workflowId: stored.id, version: stored.version };
      if (cacheable) this.#resolved.set(workflow, target);
      return target;
    });
    if (cacheable) {
      this.#storing.set(workflow, storing);
      storing.then(
        () => this.#storing.delete(workflow),
        () => this.#storing.delete(workflow),
      );
    }
    return storing;
  }

  /** A stored workflow version's definition (cached: versions never change). */
  async version(storage: Storage, id: string, version: number): Promise<WorkflowDefinition | undefined> {
    const known = this.#parts.definitions.known(id, version);
    if (known) return known;
    const record = await storage.getWorkflow(id, version);
    return record && this.#parts.definitions.of(id, version, record.definition);
  }

  /**
   * The definition a run is pinned to, for showing the run: its version even when the workflow was
   * deleted since (a deleted version is kept for the runs pinned to it). With {@link version} alone,
   * a run's trace showed its node types only while this engine happened to hold the definition in
   * its cache from before the deletion, so what a view showed depended on timing.
   */
  async pinned(storage: Storage, id: string, version: number): Promise<WorkflowDefinition | undefined> {
    const live = await this.version(storage, id, version);
    if (live) return live;
    const [held] = await storage.scanWorkflows({ after: { id, version: version - 1 }, limit: 1 });
    return held && held.id === id && held.version === version ? held.definition : undefined;
  }
}
