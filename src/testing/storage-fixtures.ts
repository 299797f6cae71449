/**
 * Records for the storage conformance suite: minimal ones built field by field, and full ones with
 * every optional field set (JSON nulls, floats, non-ASCII text) so a round-trip misses nothing.
 */
import type { ExpectStatic } from 'vitest';
import { isTrellisError } from '../kernel/errors.js';
import type { ModelCallRecord, PromptRecord, RunRecord, StepRecord, WorkflowRecord } from '../storage/records.js';

/** A run with only the required fields. */
export function makeRun(id: string, over: Partial<RunRecord> = {}): RunRecord {
  return { id, workflow_id: 'wf', workflow_version: 1, status: 'pending', input_data: {}, variables: {}, created_at: 1000, revision: 0, recovery_count: 0, ...over };
}

/** A step with only the required fields. */
export function makeStep(run_id: string, path: string, seq: number, over: Partial<StepRecord> = {}): StepRecord {
  return { run_id, path, node_id: path.split('.').at(-1)!, seq, status: 'completed', attempt: 1, started_at: 2000 + seq, ...over };
}

/** A workflow version with an empty graph. */
export function makeWorkflow(id: string, version: number, over: Partial<WorkflowRecord> = {}): WorkflowRecord {
  return {
    id,
    version,
    name: `Workflow ${id}`,
    status: 'active',
    tags: [],
    definition: { id, name: `Workflow ${id}`, version, status: 'active', definition: { nodes: [], edges: [], variables: [], triggers: [] } },
    created_at: 100 + version,
    ...over,
  };
}

/** A prompt version with one variable. */
export function makePrompt(id: string, version: number, over: Partial<PromptRecord> = {}): PromptRecord {
  return { id, version, name: `Prompt ${id}`, template: 'Hello {{name}} v' + version, variables: ['name'], created_at: 100 + version, ...over };
}

/** A completed model call with only the required fields. */
export function makeCall(id: string, over: Partial<ModelCallRecord> = {}): ModelCallRecord {
  return { id, status: 'completed', provider_model: 'scripted:test', request: { messages: [] }, created_at: 10, ...over };
}

/** A run with every optional field set, including JSON nulls, floats and non-ASCII text. */
export const FULL_RUN: RunRecord = makeRun('full', {
  status: 'running',
  input_data: { text: 'héllo ✓ 🚀', nested: { list: [1, 2.5, -3e-7, null, true, 'x'] }, empty: {} },
  variables: { count: 0, ratio: 0.1 + 0.2, big: 2 ** 52 + 1 },
  output_data: null,
  error_message: 'it "broke"\n',
  created_at: 1700000000123,
  started_at: 1700000000456.5,
  completed_at: 1700000000789,
  owner: 'engine-a',
  lease_expires_at: 1700000009999,
  revision: 3,
  recovery_count: 2,
  parent_id: 'parent',
  parent_step_path: 'loop[2].child',
  trigger: { type: 'webhook', headers: { a: 'b' } },
  idempotency_key: 'key-full',
  usage: { input_tokens: 12, output_tokens: 34, cost_usd: 0.0012 },
  trace_context: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  breakpoints: ['draft', 'review_loop[2].critique'],
});

/** A waiting step with every optional field set. */
export const FULL_STEP: StepRecord = makeStep('full', 'loop[2].review', 7, {
  status: 'waiting',
  attempt: 2,
  input_data: { a: [1, { b: null }] },
  output_data: null,
  fired: ['yes', 'no'],
  state: { iteration: 2 },
  error: { code: 'timeout', message: 'took too long' },
  waiter: { kind: 'approval', due_at: 5000, detail: { approvers: ['ann'] } },
  execution_id: 'exec-1',
  completed_at: 3000.25,
  duration_ms: 12.5,
});

/** Awaits `promise` and checks that it rejected with a TrellisError of this code. */
export async function rejectsWithCode(expect: ExpectStatic, promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isTrellisError(error), `expected a TrellisError, got ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
}
