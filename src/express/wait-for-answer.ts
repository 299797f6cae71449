/**
 * `POST /workflows/:id/execute?wait=true`: holds the request until the run has an answer for its
 * caller, or until the request's timeout. An answer is the run's end, a pause, or a step that waits
 * for someone (an approval, an event): a run that needs a person must not hold a request for the
 * four hours the person takes. A step waiting on a timer, a retry backoff or a child run is the run
 * still working by itself, so the request waits on (the timeout bounds it).
 */
import type { Engine } from '../engine/engine.js';
import { untilAborted } from '../kernel/abortable.js';
import { NotFoundError } from '../kernel/errors.js';
import type { TrellisEventName } from '../kernel/events.js';
import type { WorkflowExecution } from '../runtime/run-view.js';
import { isFinishedRun } from '../storage/storage-helpers.js';

/** The waits that need someone outside the run. */
const WAITS_FOR_SOMEONE = new Set(['approval', 'event']);

/** Events after which a run may have reached an answer. */
const CHANGES: readonly TrellisEventName[] = ['node:started', 'node:waiting', 'node:completed', 'node:failed', 'node:skipped', 'execution:paused', 'execution:resumed', 'execution:completed', 'execution:failed', 'execution:cancelled'];

/** How often a run this process does not drive is read again (its events are published elsewhere). */
const REREAD_MS = 250;

/** Whether `execution` is at a point its caller should hear about. */
export function hasAnswer(execution: WorkflowExecution): boolean {
  return isFinishedRun(execution.status) || execution.status === 'paused' || execution.execution_trace.some((s) => s.status === 'waiting' && WAITS_FOR_SOMEONE.has(s.waiting_for?.kind ?? ''));
}

/**
 * The run once it {@link hasAnswer} (`timedOut: false`), or as it is after `timeoutMs` on the
 * engine's clock (`timedOut: true`). Rejects with `signal`'s reason when it aborts (the client went
 * away); every listener is removed either way.
 */
export async function waitForAnswer(engine: Engine, executionId: string, timeoutMs: number, signal: AbortSignal): Promise<{ execution: WorkflowExecution; timedOut: boolean }> {
  const stop = new AbortController();
  const onGone = (): void => stop.abort(signal.reason);
  signal.addEventListener('abort', onGone, { once: true });
  let timedOut = false;
  const cancelTimeout = engine.clock.setTimer(() => {
    timedOut = true;
    stop.abort();
  }, timeoutMs);
  try {
    for (;;) {
      // Listening before the read: a change between the read and the wait is not missed.
      const change = nextChange(engine, executionId);
      try {
        const execution = await engine.wait(executionId, { until: 'waiting', signal: stop.signal });
        if (hasAnswer(execution)) return { execution, timedOut: false };
        await untilAborted(change.changed, stop.signal);
      } finally {
        change.stop();
      }
    }
  } catch (error) {
    if (!timedOut || signal.aborted) throw error;
    const execution = await engine.get(executionId);
    if (!execution) throw new NotFoundError(`Execution ${executionId} not found`, { executionId });
    return { execution, timedOut: true };
  } finally {
    cancelTimeout();
    signal.removeEventListener('abort', onGone);
  }
}

/** Resolves at the next event of the run, or after {@link REREAD_MS}; `stop` removes the listeners and the timer. */
function nextChange(engine: Engine, runId: string): { readonly changed: Promise<void>; stop(): void } {
  let stop = (): void => undefined;
  const changed = new Promise<void>((resolve) => {
    const listener = (payload: { readonly executionId?: string }): void => {
      if (payload.executionId === runId) resolve();
    };
    const timer = setTimeout(resolve, REREAD_MS);
    timer.unref();
    for (const name of CHANGES) engine.events.on(name, listener as never);
    stop = () => {
      clearTimeout(timer);
      for (const name of CHANGES) engine.events.off(name, listener as never);
    };
  });
  return { changed, stop };
}
