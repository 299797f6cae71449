/** `alignRuns`, the pure part of `engine.compareRuns`: steps of two runs side by side by step path. */
import { describe, expect, it } from 'vitest';
import { alignRuns, alignedOrder } from '../src/engine/run-comparison.js';
import type { TraceStep, WorkflowExecution } from '../src/runtime/run-view.js';
import type { ModelCallRecord } from '../src/storage/records.js';

const paths = (...list: string[]) => list.map((path) => ({ path }));

describe('alignedOrder', () => {
  it.each([
    [['a', 'b', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c']],
    [['a', 'b', 'c'], ['a', 'c'], ['a', 'b', 'c']], // a step only the original has
    [['a', 'c'], ['a', 'b', 'c'], ['a', 'b', 'c']], // one only the other has: after its predecessor there
    [['a', 'b'], ['x', 'a', 'b'], ['x', 'a', 'b']], // at the start when nothing precedes it
    [['a', 'b'], ['a', 'b', 'y', 'z'], ['a', 'b', 'y', 'z']],
    [['loop[0].x', 'loop[1].x'], ['loop[0].x', 'loop[1].x', 'loop[2].x'], ['loop[0].x', 'loop[1].x', 'loop[2].x']], // one more iteration
    [[], ['a'], ['a']],
  ])('%j beside %j: %j', (a, b, order) => {
    expect(alignedOrder(paths(...a), paths(...b))).toEqual(order);
  });
});

function step(path: string, status: TraceStep['status'], output?: unknown, extra: Partial<TraceStep> = {}): TraceStep {
  return { node_id: path.slice(path.lastIndexOf('.') + 1), node_name: path, node_type: 'x', path, status, attempt: 1, input_data: null, started_at: '2026-01-01T00:00:00.000Z', ...(output === undefined ? {} : { output_data: output as never }), ...extra };
}

function run(id: string, trace: TraceStep[]): WorkflowExecution {
  return { id, workflow_id: 'w', workflow_version: 1, status: 'completed', context: {}, input_data: {}, created_at: '2026-01-01T00:00:00.000Z', progress: { completed_nodes: 0, total_nodes: 0 }, execution_trace: trace, duration_ms: 10 };
}

const call = (path: string, input: number, output: number, cost?: number): ModelCallRecord => ({ id: `c-${path}-${input}`, status: 'completed', provider_model: 'm:m', request: {}, created_at: 0, step_path: path, usage: { input_tokens: input, output_tokens: output }, ...(cost === undefined ? {} : { cost_usd: cost }) });

describe('alignRuns', () => {
  it('pairs each path with both sides, sums tokens and cost per step, and names the first difference', () => {
    const original = run('r1', [step('draft', 'completed', { text: 'x' }, { duration_ms: 5, call_id: 'c1' }), step('review', 'completed', { text: 'ok' }), step('end', 'completed', 1)]);
    const fork = run('r2', [step('draft', 'completed', { text: 'x' }), step('review', 'failed', undefined, { error_message: 'boom' })]);
    const result = alignRuns({ execution: original, calls: [call('draft', 10, 5, 0.01), call('review', 3, 2)] }, { execution: fork, calls: [call('review', 4, 0), call('review', 4, 1, 0.5)] });
    expect(result.steps).toEqual([
      { path: 'draft', node_id: 'draft', same_output: true, original: { status: 'completed', output_data: { text: 'x' }, duration_ms: 5, input_tokens: 10, output_tokens: 5, cost_usd: 0.01, call_id: 'c1' }, other: { status: 'completed', output_data: { text: 'x' }, input_tokens: 0, output_tokens: 0, cost_usd: 0 } },
      { path: 'review', node_id: 'review', same_output: false, original: { status: 'completed', output_data: { text: 'ok' }, input_tokens: 3, output_tokens: 2, cost_usd: 0 }, other: { status: 'failed', error_message: 'boom', input_tokens: 8, output_tokens: 1, cost_usd: 0.5 } },
      { path: 'end', node_id: 'end', same_output: false, original: { status: 'completed', output_data: 1, input_tokens: 0, output_tokens: 0, cost_usd: 0 } },
    ]);
    expect(result.first_difference).toBe('review');
    expect(result.original).toEqual({ id: 'r1', status: 'completed', duration_ms: 10, input_tokens: 13, output_tokens: 7, cost_usd: 0.01 });
    expect(result.other).toMatchObject({ id: 'r2', input_tokens: 8, output_tokens: 1, cost_usd: 0.5 });
  });

  it('has no first difference for runs that agree throughout', () => {
    const a = run('a', [step('x', 'completed', [1, { b: 2 }]), step('y', 'skipped')]);
    const b = run('b', [step('x', 'completed', [1, { b: 2 }]), step('y', 'skipped')]);
    const result = alignRuns({ execution: a, calls: [] }, { execution: b, calls: [] });
    expect(result.first_difference).toBeUndefined();
    expect(result.steps.map((s) => s.same_output)).toEqual([true, false]);
  });
});
