/** What a RunController needs from its engine. Internal. */
import type { NodeHandler } from '../nodes/node-handler.js';
import type { RunRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { Storage } from '../storage/storage.js';
import type { Clock } from '../kernel/clock.js';
import type { TrellisEventEmitter } from '../kernel/events.js';
import type { IdGenerator } from '../kernel/ids.js';
import type { ModelCaller } from '../calls/model-call.js';

export interface RunDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly random: () => number;
  readonly events: TrellisEventEmitter;
  readonly handlers: ReadonlyMap<string, NodeHandler>;
  readonly models: ModelCaller;
  /** Called once when the run no longer needs this process (finished or abandoned). */
  onFinished(runId: string): void;
  /** Called after a run's final state is committed (completed, failed or cancelled). */
  onSettled(run: RunRecord): void;
  /** Starts a child run for a `sub_workflow` step; idempotent per `key`. */
  startChild(parent: RunRecord, stepPath: string, workflowId: string, version: number | undefined, input: Json, key: string): Promise<string>;
  /** A `sub_workflow` step's wait for its child is committed: wakes it now if the child already ended. */
  childWaiting(childId: string): void;
}
