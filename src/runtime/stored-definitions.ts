/**
 * One definition object per stored workflow version, however many times the version is read. A
 * stored version never changes (versions are only added, and deleting one marks it), so the object
 * seen first stands for every later read of the same version, and what is derived from a
 * definition by its identity (its deep-frozen form and its plan, see planner/plan.ts) is derived
 * once per version instead of once per run loaded. A worker taking over 500 runs of one workflow
 * froze and planned the same definition 500 times: about a tenth of its CPU in the takeover.
 * Internal to the runner.
 */
import type { WorkflowDefinition } from '../definition/definition.js';

/** Versions remembered at most; past it the oldest is forgotten (and planned again if it comes back). */
const MAX_VERSIONS = 1000;

/**
 * One per engine, shared by the runs it drives and the runs it shows (the same id and version may
 * name different workflows in different storages, so never shared between engines).
 */
export class StoredDefinitions {
  readonly #byVersion = new Map<string, WorkflowDefinition>();

  /** The object seen for this version of workflow `id`, if any (a view needs no read then). */
  known(id: string, version: number): WorkflowDefinition | undefined {
    return this.#byVersion.get(`${id}\u0000${version}`);
  }

  /** `definition`, or the object seen before for the same version of workflow `id`. */
  of(id: string, version: number, definition: WorkflowDefinition): WorkflowDefinition {
    const key = `${id}\u0000${version}`;
    const seen = this.#byVersion.get(key);
    if (seen !== undefined) return seen;
    if (this.#byVersion.size >= MAX_VERSIONS) this.#byVersion.delete(this.#byVersion.keys().next().value!);
    this.#byVersion.set(key, definition);
    return definition;
  }
}
