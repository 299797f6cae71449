/**
 * Ending a stored run that no controller drives (its workflow version is gone, or it was failed as
 * poison). It writes the run row and its live steps in one commit, so a terminal run never shows a
 * step still `running` (`engine.retry` sends such a run on as a new run). Internal to the engine.
 */
import type { RunRecord, StepRecord } from '../storage/records.js';
import type { RunPatch, Storage } from '../storage/storage.js';

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
