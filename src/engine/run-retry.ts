/**
 * `engine.retry`: a failed run continues as a new run, linked to it (`retry_of`), seeded with the
 * old run's committed steps before the retried one (planner/retry-start.ts), then driven from them
 * like a recovered run. Storage lets one run retry a given run, so two processes retrying the same
 * run make one new run: the other gets `conflict` naming it. Internal to the engine.
 */
import type { WorkflowDefinition } from '../definition/definition.js';
import { resolveInput } from '../definition/run-input.js';
import { IllegalStateError, NotFoundError, TrellisError, isTrellisError } from '../kernel/errors.js';
import type { Clock } from '../kernel/clock.js';
import type { IdGenerator } from '../kernel/ids.js';
import type { Json } from '../kernel/json.js';
import { compilePlan } from '../planner/plan.js';
import { retryIdempotencyKey, retryStart } from '../planner/retry-start.js';
import type { AuditEvent, RunRecord } from '../storage/records.js';
import type { Storage } from '../storage/storage.js';
import type { ActorOptions, AuditChange } from './audit-trail.js';

/** Options of `engine.retry`. */
export interface RetryOptions extends ActorOptions {
  /**
   * Where the new run starts: a node id or a step path. That step, and every step after it, runs
   * again; the committed steps before it are kept. A step inside a loop runs its whole loop again.
   * @default the failed step(s)
   */
  readonly fromStep?: string;
  /** A corrected input for the new run (checked like a run's input); steps kept from before `fromStep` keep their outputs. @default the old run's input */
  readonly input?: Json;
}

/** What a retry needs of its engine. */
export interface RetryParts {
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly maxInputBytes: number;
  readonly targets: { version(storage: Storage, workflowId: string, version: number): Promise<WorkflowDefinition | undefined> };
  readonly audit: { event(change: AuditChange, actor: string | undefined): AuditEvent };
  /** Has the new run driven: claimed here, or announced to the fleet's workers (a submit-only engine). */
  drive(run: RunRecord): Promise<unknown>;
}

/** Retries the failed run `executionId`; resolves with the new run's id. */
export async function retryRun(parts: RetryParts, storage: Storage, executionId: string, options: RetryOptions = {}): Promise<string> {
  const old = await storage.getRun(executionId);
  if (!old) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
  if (old.status !== 'failed') throw new IllegalStateError(`Execution ${executionId} is ${old.status}; only a failed execution can be retried`, { executionId, details: { status: old.status } });
  if (old.discarded_at !== undefined) throw new IllegalStateError(`Execution ${executionId} was discarded; it cannot be retried`, { executionId });
  await assertNotRetried(storage, executionId);
  const def = await parts.targets.version(storage, old.workflow_id, old.workflow_version);
  if (!def) throw new NotFoundError(`Workflow "${old.workflow_id}" version ${old.workflow_version} of execution ${executionId} no longer exists`, { executionId });
  const id = parts.ids('run');
  const start = retryStart(compilePlan(def), await storage.getSteps(executionId), id, options.fromStep);
  const input = options.input === undefined ? { input: old.input_data, variables: old.variables } : resolveInput(def, options.input, parts.maxInputBytes);
  const now = parts.clock.now();
  const key = retryIdempotencyKey(old.idempotency_key);
  // Unowned: the claim that drives it is an ordinary adoption, here or by any process's recovery.
  const run: RunRecord = {
    id,
    workflow_id: old.workflow_id,
    workflow_version: old.workflow_version,
    status: 'running',
    input_data: input.input,
    variables: input.variables,
    created_at: now,
    started_at: now,
    revision: 0,
    recovery_count: 0,
    trigger: { type: 'retry', id: executionId },
    retry_of: executionId,
    ...(key === undefined ? {} : { idempotency_key: key }),
  };
  const detail = { retry_id: id, rerun: [...start.rerun], ...(options.fromStep === undefined ? {} : { from_step: options.fromStep }) };
  const audit = [parts.audit.event({ action: 'run.retried', subjectType: 'run', subjectId: executionId, detail }, options.actor)];
  try {
    await storage.commit({ runId: id, steps: start.steps, create: run, audit });
  } catch (error) {
    // Another process retried it first: the unique `retry_of` refused this one.
    if (isTrellisError(error) && error.code === 'conflict') await assertNotRetried(storage, executionId);
    throw error;
  }
  await parts.drive(run);
  return id;
}

async function assertNotRetried(storage: Storage, executionId: string): Promise<void> {
  const [retry] = await storage.listRuns({ retry_of: executionId, limit: 1 });
  if (retry) {
    throw new TrellisError('conflict', `Execution ${executionId} was already retried as ${retry.id}`, { executionId, details: { retryId: retry.id } });
  }
}
