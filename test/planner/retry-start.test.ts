/** Where a retry of a failed run starts, from plain facts (planner/retry-start.ts). */
import { describe, expect, it } from 'vitest';
import { compilePlan } from '../../src/planner/plan.js';
import { retryIdempotencyKey, retryStart } from '../../src/planner/retry-start.js';
import { chain, done, edge, node, step, workflow } from './planner-fixtures.js';

describe('retry start', () => {
  // start -> a -> gate -> (yes) b -> end ; (no) c -> end
  const plan = compilePlan(
    workflow(
      [node('start', 'start'), node('a', 'task'), node('gate', 'condition'), node('b', 'task'), node('c', 'task'), node('end', 'end')],
      [...chain('start', 'a', 'gate'), edge('gate', 'b', 'true'), edge('gate', 'c', 'false'), edge('b', 'end'), edge('c', 'end')],
    ),
  );
  const failedAtB = [done('start'), done('a', { n: 1 }), done('gate', true, ['true']), step('c', 'skipped'), step('b', 'failed', { error: { code: 'internal', message: 'boom' } }), step('end', 'skipped', { error: { code: 'internal', message: 'boom' } })];

  it('by default starts at the failed step: keeps what came before and branches not taken, drops what the failure ended', () => {
    const start = retryStart(plan, failedAtB, 'new');
    expect(start.rerun).toEqual(['b', 'end']);
    expect(start.steps.map((s) => [s.path, s.status, s.run_id])).toEqual([
      ['start', 'completed', 'new'],
      ['a', 'completed', 'new'],
      ['gate', 'completed', 'new'],
      ['c', 'skipped', 'new'],
    ]);
    expect(start.steps[1]?.output_data).toEqual({ n: 1 });
  });

  it('from an earlier node (by id or path) runs it and everything after it again', () => {
    expect(retryStart(plan, failedAtB, 'new', 'a').rerun).toEqual(['a', 'b', 'c', 'end', 'gate']);
    expect(retryStart(plan, failedAtB, 'new', 'a').steps.map((s) => s.path)).toEqual(['start']);
    expect(retryStart(plan, failedAtB, 'new', 'gate').steps.map((s) => s.path)).toEqual(['start', 'a']);
  });

  it('refuses a fromStep that names nothing, or comes after the failed step', () => {
    expect(() => retryStart(plan, failedAtB, 'new', 'nope')).toThrow(expect.objectContaining({ code: 'invalid_options' }));
    expect(() => retryStart(plan, failedAtB, 'new', 'end')).toThrow(/after the failed step b/);
  });

  it('inside a loop, runs the enclosing loop again, whole', () => {
    const looped = compilePlan(
      workflow(
        [node('start', 'start'), node('loop', 'loop'), node('x', 'task'), node('after', 'end')],
        [edge('start', 'loop'), edge('loop', 'x', 'body'), edge('x', 'loop'), edge('loop', 'after', 'done')],
      ),
    );
    const steps = [done('start'), step('loop', 'failed'), done('loop[0].x'), step('loop[1].x', 'failed')];
    const start = retryStart(looped, steps, 'new');
    expect(start.rerun).toEqual(['after', 'loop', 'x']);
    expect(start.steps.map((s) => s.path)).toEqual(['start']);
  });

  it('derives the idempotency key of a retry from the key of the run it retries', () => {
    expect(retryIdempotencyKey(undefined)).toBeUndefined();
    expect(retryIdempotencyKey('order-7')).toBe('order-7:retry:1');
    expect(retryIdempotencyKey('order-7:retry:1')).toBe('order-7:retry:2');
  });
});
