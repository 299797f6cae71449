/**
 * The `Idempotency-Key` of `POST /workflows/:id/execute`. A repeated key answers the run the key
 * started, but only for the same request: the same workflow, the same pinned version when one is
 * given, and the same input. Another body under a used key is a client bug (a key reused across
 * orders, a retry that changed its payload); answering with the first run would hand back a run of
 * other input as if it were this one's, so it is a 409 instead.
 */
import type { Engine } from '../engine/engine.js';
import { resolveInput } from '../definition/run-input.js';
import { TrellisError } from '../kernel/errors.js';

/**
 * A client's key lives in its own space, `user:<key>`: the engine's keys (`webhook:`,
 * `schedule:`, `bundle:`, child runs) can then never be claimed ahead of time through this route
 * (a client sending `webhook:<workflow>:<trigger>:<id>` would otherwise answer the real delivery with its own run).
 */
export function clientKey(key: string): string {
  return `user:${key}`;
}

/** What a keyed execute request asked for. */
export interface KeyedRequest {
  readonly key: string;
  readonly workflowId: string;
  readonly version: number | undefined;
  /** The run input the request sent (`input_data` with `variables` over it). */
  readonly input: Record<string, unknown>;
}

/**
 * Throws `conflict` (409) unless run `executionId`, which the key of `request` started (or just
 * started), was started by the same request. Inputs are compared as the engine stores them, after
 * the declared variables' rules (defaults and all) of the run's version, so the same input sent
 * with its keys in another order, or split differently between `input_data` and `variables`, is
 * the same request; no body hash needs storing.
 */
export async function assertSameRequest(engine: Engine, executionId: string, request: KeyedRequest): Promise<void> {
  const run = await engine.get(executionId);
  if (!run) return;
  const used = `Idempotency-Key "${request.key}" was already used`;
  const details = { execution_id: executionId };
  if (run.workflow_id !== request.workflowId) {
    throw new TrellisError('conflict', `${used} to start a run of workflow "${run.workflow_id}"`, { executionId, details });
  }
  if (request.version !== undefined && request.version !== run.workflow_version) {
    throw new TrellisError('conflict', `${used} to start a run of version ${run.workflow_version}, not ${request.version}; send a new key for a new request`, { executionId, details });
  }
  const stored = await engine.workflows.get(run.workflow_id, run.workflow_version);
  // The run's version was deleted since: compare what was sent with what was stored.
  const input = stored ? resolveInput(stored.definition, request.input, Number.POSITIVE_INFINITY).input : request.input;
  if (canonical(input) !== canonical(run.input_data)) {
    throw new TrellisError('conflict', `${used} with a different body: run ${executionId} was started with other input; send a new key for a new request`, { executionId, details });
  }
}

/** JSON with every object's keys sorted, so that key order does not make two equal values differ. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item) ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : item,
  );
}
