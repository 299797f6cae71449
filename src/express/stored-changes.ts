/**
 * What an event stream learns from storage rather than from events: in a fleet, a run may be
 * driven by another process (a worker, while this one serves HTTP), whose events fire there, not
 * here. The stream then reads the run every so often and sends, for each change it has not seen
 * an event of, the event that change stands for, built from the stored execution and marked
 * `from_storage: true` (no `node:token` deltas travel this way; the step's output does, once
 * stored). Pure: the stream keeps the state and does the reading.
 */
import type { TrellisEventName } from '../kernel/events.js';
import type { RunStatus, StepStatus } from '../storage/records.js';
import type { WorkflowExecution } from '../runtime/run-view.js';

/** What a stream has seen of a run: its status and each step's, from events or from storage. */
export interface SeenState {
  run: RunStatus;
  readonly steps: Map<string, StepStatus>;
  /**
   * The events the last look at storage sent (`name path`). A run driven here publishes its events
   * just after its commit lands: a look that fell between the two sent the change already, and its
   * event, arriving next, is not sent again. Cleared at each look, so it never holds more than one.
   */
  readonly sentFromStorage: Set<string>;
}

/** The step status a `node:*` event announces. */
const NODE_STATUS: Partial<Record<TrellisEventName, StepStatus>> = {
  'node:started': 'running',
  'node:completed': 'completed',
  'node:failed': 'failed',
  'node:skipped': 'skipped',
  'node:waiting': 'waiting',
};

/** The run status an `execution:*` event announces. */
const RUN_STATUS: Partial<Record<TrellisEventName, RunStatus>> = {
  'execution:started': 'running',
  'execution:resumed': 'running',
  'execution:paused': 'paused',
  'execution:completed': 'completed',
  'execution:failed': 'failed',
  'execution:cancelled': 'cancelled',
};

/** The state an execution (the stream's snapshot) shows. */
export function seenFrom(execution: WorkflowExecution): SeenState {
  return { run: execution.status, steps: new Map(execution.execution_trace.map((step) => [step.path, step.status])), sentFromStorage: new Set() };
}

const eventKey = (name: TrellisEventName, path: string | undefined): string => `${name} ${path ?? ''}`;

/** Records what an event of the run announced; false when the last look at storage sent it already. */
export function noteEvent(seen: SeenState, name: TrellisEventName, payload: { readonly path?: string }): boolean {
  // Most streams never look at storage: no key is built for their events (tokens come by the hundred).
  if (seen.sentFromStorage.size > 0 && seen.sentFromStorage.delete(eventKey(name, payload.path))) return false;
  const step = NODE_STATUS[name];
  if (step !== undefined && payload.path !== undefined) seen.steps.set(payload.path, step);
  const run = RUN_STATUS[name];
  if (run !== undefined) seen.run = run;
  return true;
}

/** The events the stored `execution` stands for that `seen` has not had, in trace order, run events last; `seen` is updated. */
export function storedChanges(seen: SeenState, execution: WorkflowExecution, now: number): [TrellisEventName, Record<string, unknown>][] {
  const out: [TrellisEventName, Record<string, unknown>][] = [];
  const base = { executionId: execution.id, workflowId: execution.workflow_id, timestamp: now, from_storage: true };
  for (const step of execution.execution_trace) {
    if (seen.steps.get(step.path) === step.status) continue;
    seen.steps.set(step.path, step.status);
    const node = { ...base, nodeId: step.node_id, path: step.path };
    if (step.status === 'running') out.push(['node:started', { ...node, nodeType: step.node_type, attempt: step.attempt }]);
    else if (step.status === 'completed') out.push(['node:completed', { ...node, output: step.output_data ?? null, durationMs: step.duration_ms ?? 0 }]);
    else if (step.status === 'failed') out.push(['node:failed', { ...node, error: { code: step.error_code ?? 'internal', message: step.error_message ?? '' }, attempt: step.attempt, willRetry: false }]);
    else if (step.status === 'skipped') out.push(['node:skipped', { ...node, reason: step.error_message ?? 'skipped' }]);
    else if (step.status === 'waiting') out.push(['node:waiting', { ...node, kind: step.waiting_for?.kind ?? 'unknown', ...(step.waiting_for?.due_at === undefined ? {} : { dueAt: Date.parse(step.waiting_for.due_at) }) }]);
  }
  if (seen.run !== execution.status) {
    const was = seen.run;
    seen.run = execution.status;
    switch (execution.status) {
      case 'paused': {
        const approvals = execution.execution_trace.some((s) => s.status === 'waiting' && s.waiting_for?.kind === 'approval');
        out.push(['execution:paused', { ...base, reason: approvals ? 'approval' : 'user' }]);
        break;
      }
      case 'running':
        if (was === 'paused') out.push(['execution:resumed', base]);
        break;
      case 'completed':
        out.push(['execution:completed', { ...base, output: execution.output_data ?? null, durationMs: execution.duration_ms ?? 0 }]);
        break;
      case 'failed':
        out.push(['execution:failed', { ...base, error: { code: 'internal', message: execution.error_message ?? '' } }]);
        break;
      case 'cancelled':
        out.push(['execution:cancelled', { ...base, reason: execution.error_message ?? 'cancelled' }]);
        break;
      default:
        break;
    }
  }
  seen.sentFromStorage.clear();
  for (const [name, data] of out) seen.sentFromStorage.add(eventKey(name, data.path as string | undefined));
  return out;
}
