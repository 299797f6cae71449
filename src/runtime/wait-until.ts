/**
 * What `engine.wait(id, { until })` waits for, as a rule over the execution record, and the signal
 * that a run driven here may have changed (the events published after each of its commits).
 */
import type { TrellisEventEmitter, TrellisEventName } from '../kernel/events.js';
import { isFinishedRun } from '../storage/storage-helpers.js';
import type { WorkflowExecution } from './run-view.js';

/**
 * The point of a run `engine.wait` resolves at; every one of them is also reached when the run ends.
 * - `'end'` (the default): the run completed, failed or was cancelled.
 * - `'paused'`: the run is `paused` (by `pause()`, or because only approvals are left).
 * - `'waiting'`: the run is paused, or one of its steps waits (an approval, an event, a timer, a child run, a retry backoff).
 * - `{ step }`: the step at that node id (any loop or branch position) or exact step path waits or has ended.
 */
export type WaitUntil = 'end' | 'paused' | 'waiting' | { readonly step: string };

const ENDED_OR_WAITING = new Set(['waiting', 'completed', 'failed', 'skipped']);

/** Whether `execution` has reached `until`. */
export function hasReached(execution: WorkflowExecution, until: WaitUntil): boolean {
  if (isFinishedRun(execution.status)) return true;
  if (until === 'end') return false;
  if (until === 'paused') return execution.status === 'paused';
  if (until === 'waiting') return execution.status === 'paused' || execution.execution_trace.some((s) => s.status === 'waiting');
  return execution.execution_trace.some((s) => (s.path === until.step || s.node_id === until.step) && ENDED_OR_WAITING.has(s.status));
}

// Published after a commit that may move a run towards a point someone waits for.
const CHANGES: readonly TrellisEventName[] = [
  'execution:completed',
  'execution:failed',
  'execution:cancelled',
  'execution:paused',
  'execution:resumed',
  'node:waiting',
  'node:completed',
  'node:failed',
  'node:skipped',
];

/**
 * Resolves at the next event of run `runId` that may change what `hasReached` says. Subscribe
 * before reading the run, so a change between the read and the wait is not missed; `stop` unsubscribes.
 */
export function nextRunChange(events: TrellisEventEmitter, runId: string): { readonly changed: Promise<void>; stop(): void } {
  let stop = (): void => undefined;
  const changed = new Promise<void>((resolve) => {
    const listener = (payload: { readonly executionId?: string }): void => {
      if (payload.executionId !== runId) return;
      stop();
      resolve();
    };
    for (const name of CHANGES) events.on(name, listener as never);
    stop = () => {
      for (const name of CHANGES) events.off(name, listener as never);
    };
  });
  return { changed, stop };
}
