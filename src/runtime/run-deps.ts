/**
 * What a RunController needs: the services every run shares, and two narrow ports owned by the
 * runtime (HotRuns implements both) instead of callbacks threaded down from the engine. Internal.
 */
import type { NodeHandler } from '../nodes/node-handler.js';
import type { RunRecord } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import type { Storage } from '../storage/storage.js';
import type { Clock } from '../kernel/clock.js';
import type { TrellisEventEmitter } from '../kernel/events.js';
import type { IdGenerator } from '../kernel/ids.js';
import type { ModelCaller } from '../calls/model-call.js';
import type { Logger } from '../kernel/logger.js';
import type { Tracing } from '../telemetry/tracing.js';

/** The services every run of an engine shares (storage comes once it is open). */
export interface RunServices {
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly random: () => number;
  readonly events: TrellisEventEmitter;
  readonly handlers: ReadonlyMap<string, NodeHandler>;
  readonly models: ModelCaller;
  /** Where a run given up here (its commit refused or failed) is reported. */
  readonly logger: Logger;
  /** The engine's spans; undefined when it does not trace. */
  readonly tracing?: Tracing | undefined;
}

/** What a run reports to the runs it belongs to. */
export interface RunOwner {
  /** The run no longer needs this process (finished or abandoned). Called once. */
  runFinished(runId: string): void;
  /** The run's final state is committed (completed, failed or cancelled). */
  runSettled(run: RunRecord): void;
  /** A commit of the run landed with nothing executing: it may only wait now, and be parked (see RunController.parkAt). */
  runQuiet(runId: string): void;
}

/** Child runs of `sub_workflow` steps, as the runtime that wakes their parents sees them. */
export interface ChildRuns {
  /** Starts a child run of a stored workflow for the step at `stepPath`; idempotent per `key`. Resolves with its id. */
  startChild(parent: RunRecord, stepPath: string, workflowId: string, version: number | undefined, input: Json, key: string): Promise<string>;
  /** A step's wait for its child is committed: wakes the step now if the child already ended. */
  childWaiting(childId: string): void;
  /** The step waiting for this child ended without it (its branch lost, its run ended): cancel the child. */
  cancelChild(childId: string, reason: string): void;
}

/** Everything a RunController is given. */
export interface RunDeps extends RunServices {
  readonly storage: Storage;
  readonly owner: RunOwner;
  readonly children: ChildRuns;
}
