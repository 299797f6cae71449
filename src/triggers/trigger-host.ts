/**
 * What triggers need of their engine: read stored workflows, start runs of them, list a
 * workflow's runs and hear when runs end. An `Engine` is such a host, so `createTriggers(engine)`
 * works, but the triggers feature never imports the `Engine` class.
 */
import type { RunRecord, WorkflowRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { TrellisEventEmitter } from '../kernel/events.js';

/** How a trigger starts a run of a stored workflow. */
export interface TriggeredRunOptions {
  /** What started the run, recorded on it. */
  readonly trigger: Json;
  /** A repeated key starts no second run (it resolves with the first run's id). */
  readonly idempotencyKey?: string;
}

/** Starts runs of stored workflows: what a webhook delivery needs. */
export interface WebhookHost {
  readonly workflows: { get(id: string): Promise<WorkflowRecord | undefined> };
  /** Starts a run of the latest version of a stored workflow; resolves with its id. */
  startStored(workflowId: string, input: unknown, options: TriggeredRunOptions): Promise<string>;
}

/** The engine as schedule and event triggers see it. */
export interface TriggerHost {
  /** Run ends (`execution:completed` / `execution:failed`) chain into event triggers; problems go to `listener:error`. */
  readonly events: TrellisEventEmitter;
  readonly workflows: { list(): Promise<WorkflowRecord[]> };
  /** Starts a run of the latest version of a stored workflow; resolves with its id. */
  startStored(workflowId: string, input: unknown, options: TriggeredRunOptions): Promise<string>;
  /** Runs of a workflow, newest first. */
  list(filter: { workflow_id: string; limit: number; offset: number }): Promise<RunRecord[]>;
}
