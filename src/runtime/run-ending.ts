/**
 * Ending a stored run that no controller drives (its workflow version is gone, or it was failed as
 * poison), and sending such a run on again (`engine.retry`). Both write the run row and its live
 * steps in one commit, so a terminal run never shows a step still `running`. Internal to the engine.
 */
import type { RunRecord, StepRecord } from '../storage/records.js';
import type { RunPatch, Storage } from '../storage/storage.js';
import { IllegalStateError, NotFoundError, TrellisError } from '../kernel/errors.js';

/**
 * Fails a claimed run with `message`: its running steps fail (`internal`, the same message), its
 * waiting and pending ones are skipped. Fenced like every commit (owner and revision of the claim);
 * resolves false when another claim came in between.
 */
export function endStored(storage: Storage, run: RunRecord, steps: readonly StepRecord[], message: string, now: number, extra: RunPatch = {}): Promise<boolean> {
  const ended: StepRecord[] = [];
  for (const step of steps) {
    if (step.status === 'running') ended.push(endStep(step, 'failed', message, now));
    else if (step.status === 'waiting' || step.status === 'pending') ended.push(endStep(step, 'skipped', message, now));
  }
  return storage.commit({
    runId: run.id,
    steps: ended,
    run: { ...extra, status: 'failed', error_message: message, completed_at: now, owner: undefined, lease_expires_at: undefined },
    expect: { owner: run.owner ?? null, revision: run.revision },
  });
}

function endStep(step: StepRecord, status: 'failed' | 'skipped', message: string, now: number): StepRecord {
  const { waiter: _waiter, ...rest } = step;
  return { ...rest, status, error: { code: 'internal', message }, completed_at: now, duration_ms: now - step.started_at };
}

/**
 * Makes a failed run live again, unowned, for a claim to drive: its failed steps go back to
 * `running` (recovery runs a running step again, as after a crash), its strike count to 0. Steps
 * skipped when it failed stay skipped. Throws `not_found`, `illegal_state` (not failed) or
 * `conflict` (it changed meanwhile).
 */
export async function reopenFailedRun(storage: Storage, executionId: string): Promise<RunRecord> {
  const run = await storage.getRun(executionId);
  if (!run) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
  if (run.status !== 'failed') throw new IllegalStateError(`Execution ${executionId} is ${run.status}; only a failed execution can be retried`, { executionId, details: { status: run.status } });
  const steps: StepRecord[] = [];
  for (const step of await storage.getSteps(executionId)) {
    if (step.status !== 'failed') continue;
    const { error: _error, completed_at: _completed, duration_ms: _duration, ...rest } = step;
    steps.push({ ...rest, status: 'running' });
  }
  const patch = { status: 'running', error_message: undefined, completed_at: undefined, owner: undefined, lease_expires_at: undefined, recovery_count: 0 } as const;
  const reopened = await storage.commit({ runId: executionId, steps, run: patch, expect: { status: 'failed', revision: run.revision } });
  if (!reopened) throw new TrellisError('conflict', `Execution ${executionId} changed while it was being retried`, { executionId });
  return (await storage.getRun(executionId))!;
}
