/**
 * What bundles need of their engine, and nothing more: the engine implements this narrow host,
 * so the bundles feature never sees the `Engine` class.
 */
import type { ModelCallRecord, PromptRecord, WorkflowRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { Storage } from '../storage/storage.js';
import type { Clock } from '../kernel/clock.js';
import type { IdGenerator } from '../kernel/ids.js';
import type { TrellisEventEmitter } from '../kernel/events.js';
import type { WorkflowSource } from '../definition/workflow-source.js';
import type { WorkflowExecution } from '../runtime/run-view.js';

/** The engine as bundles see it. */
export interface BundleHost {
  readonly clock: Clock;
  readonly ids: IdGenerator;
  /** Where a throwing `onProgress` listener is reported (`listener:error`). */
  readonly events: TrellisEventEmitter;
  /** Storage, opened. */
  storage(): Promise<Storage>;
  /** One recovery pass: runs a dead process left behind are continued. */
  recover(): Promise<unknown>;
  prompt(id: string, version?: number): Promise<PromptRecord | undefined>;
  workflow(id: string, version?: number): Promise<WorkflowRecord | undefined>;
  /** Validates a workflow and stores it, reusing an identical stored version. */
  storeWorkflow(source: WorkflowSource): Promise<WorkflowRecord>;
  /** Starts a run of a stored workflow version; an idempotency key seen before returns that run's id. */
  startStored(workflowId: string, input: Json, options: { readonly version: number; readonly idempotencyKey: string; readonly trigger: Json }): Promise<string>;
  /** Resolves once the run ends. */
  wait(runId: string, options: { signal?: AbortSignal }): Promise<WorkflowExecution>;
  /** The model call records of a run. */
  calls(runId: string): Promise<ModelCallRecord[]>;
}
