/** Readiness from plain facts: joins, dead paths, conditions, multi-choice edges, loops and nesting. */
import { describe, expect, it } from 'vitest';
import { compilePlan } from '../../src/planner/plan.js';
import { arrivedInputs, blockingSource, iterationState, readiness, type Readiness } from '../../src/planner/planner.js';
import type { StepRecord } from '../../src/storage/records.js';
import { chain, done, edge, FactsView, node, step, workflow } from './planner-fixtures.js';

/** The verdict without its active edges, as `kind`, `early` and `reason`, plus the sources of the active edges. */
function summary(verdict: Readiness): Record<string, unknown> {
  if (verdict.kind !== 'ready') return { ...verdict };
  return { kind: 'ready', early: verdict.early, from: verdict.active.map((e) => e.source_node_id) };
}

function parallel(waitFor: 'all' | 'any' | 'count', required?: number) {
  return compilePlan(
    workflow(
      [node('start', 'start'), node('par', 'parallel', { wait_for: waitFor, ...(required === undefined ? {} : { required_count: required }) }), node('a', 'task'), node('b', 'task'), node('c', 'task'), node('merge', 'merge'), node('end', 'end')],
      [edge('start', 'par'), edge('par', 'a', 'a'), edge('par', 'b', 'b'), edge('par', 'c', 'c'), edge('a', 'merge'), edge('b', 'merge'), edge('c', 'merge'), edge('merge', 'end')],
    ),
  );
}

const running = (path: string): StepRecord => step(path, 'running');
const failed = (path: string): StepRecord => step(path, 'failed');
const skipped = (path: string): StepRecord => step(path, 'skipped');

describe('joins', () => {
  it.each<[string, 'all' | 'any' | 'count', number | undefined, StepRecord[], Record<string, unknown>]>([
    ['all: a branch still running', 'all', undefined, [done('a'), done('b'), running('c')], { kind: 'wait' }],
    ['all: every branch done', 'all', undefined, [done('a'), done('b'), done('c')], { kind: 'ready', early: false, from: ['a', 'b', 'c'] }],
    ['all: a skipped branch is not waited for', 'all', undefined, [done('a'), skipped('b'), done('c')], { kind: 'ready', early: false, from: ['a', 'c'] }],
    ['all: nothing arrived', 'all', undefined, [skipped('a'), skipped('b'), skipped('c')], { kind: 'skip', reason: 'no incoming edge was followed' }],
    ['any: the first branch fires it early', 'any', undefined, [running('a'), done('b'), running('c')], { kind: 'ready', early: true, from: ['b'] }],
    ['any: a failed branch does not count', 'any', undefined, [failed('a'), running('b'), running('c')], { kind: 'wait' }],
    ['any: every branch failed', 'any', undefined, [failed('a'), failed('b'), failed('c')], { kind: 'fail', reason: 'parallel node "par" needed 1 branch(es) to complete but only 0 did' }],
    ['any: no branch was taken', 'any', undefined, [skipped('a'), skipped('b'), skipped('c')], { kind: 'skip', reason: 'no incoming branch was taken' }],
    ['count 2: one of two so far', 'count', 2, [done('a'), running('b'), failed('c')], { kind: 'wait' }],
    ['count 2: two done, one running', 'count', 2, [done('a'), done('b'), running('c')], { kind: 'ready', early: true, from: ['a', 'b'] }],
    ['count 2: two done, none running', 'count', 2, [done('a'), failed('b'), done('c')], { kind: 'ready', early: false, from: ['a', 'c'] }],
    ['count 2: too many failed', 'count', 2, [done('a'), failed('b'), failed('c')], { kind: 'fail', reason: 'parallel node "par" needed 2 branch(es) to complete but only 1 did' }],
  ])('%s', (_name, waitFor, required, steps, expected) => {
    const plan = parallel(waitFor, required);
    expect(summary(readiness(plan, new FactsView(steps), '', 'merge'))).toEqual(expected);
  });

  it('compiles each parallel to its merge, with the branch of every node in between', () => {
    const join = parallel('count', 2).joins.get('merge')!;
    expect({ parallel: join.parallelId, rule: join.rule, required: join.required, region: [...join.region].sort(), branches: Object.fromEntries(join.branchOf) }).toEqual({
      parallel: 'par',
      rule: 'count',
      required: 2,
      region: ['a', 'b', 'c'],
      branches: { a: 'a', b: 'b', c: 'c' },
    });
    expect([...parallel('all').tolerant.keys()]).toEqual([]);
    expect([...parallel('any').tolerant.keys()].sort()).toEqual(['a', 'b', 'c']);
  });

  it('says which unsettled branch keeps an all-join waiting, and none for an any-join', () => {
    expect(blockingSource(parallel('all'), new FactsView([done('a'), running('b'), done('c')]), '', 'merge')).toBe('b');
    expect(blockingSource(parallel('all'), new FactsView([done('a'), done('b'), done('c')]), '', 'merge')).toBeUndefined();
    expect(blockingSource(parallel('any'), new FactsView([running('a')]), '', 'merge')).toBeUndefined();
  });

  it('hands a merge what arrived along each branch', () => {
    const view = new FactsView([done('a', 1), skipped('b'), done('c', 3)]);
    expect(arrivedInputs(parallel('all'), view, '', 'merge')).toEqual([
      { sourceNodeId: 'a', output: 1, branch: 'a' },
      { sourceNodeId: 'c', output: 3, branch: 'c' },
    ]);
  });

  it('answers `exists` for a node that already has a step', () => {
    expect(readiness(parallel('all'), new FactsView([running('merge')]), '', 'merge')).toEqual({ kind: 'exists' });
  });
});

describe('dead paths and conditions', () => {
  const byOutput = compilePlan(
    workflow(
      [node('start', 'start'), node('cond', 'condition', { expression: 'input.ok' }), node('yes', 'task'), node('no', 'task'), node('join', 'task'), node('end', 'end')],
      [edge('start', 'cond'), edge('cond', 'yes', 'true'), edge('cond', 'no', 'false'), edge('yes', 'join'), edge('no', 'join'), edge('join', 'end')],
    ),
  );
  const byPath = compilePlan(
    workflow(
      [node('start', 'start'), node('cond', 'condition', { expression: 'input.ok', true_path: 'yes', false_path: 'no' }), node('yes', 'task'), node('no', 'task')],
      [edge('start', 'cond'), edge('cond', 'yes'), edge('cond', 'no')],
    ),
  );

  it.each<[string, typeof byOutput, StepRecord[], string, Record<string, unknown>]>([
    ['the true output is taken', byOutput, [done('cond', null, ['true'])], 'yes', { kind: 'ready', early: false, from: ['cond'] }],
    ['the false output is dead', byOutput, [done('cond', null, ['true'])], 'no', { kind: 'skip', reason: 'no incoming edge was followed' }],
    ['the false output is taken', byOutput, [done('cond', null, ['false'])], 'no', { kind: 'ready', early: false, from: ['cond'] }],
    ['a merge does not wait for the dead branch', byOutput, [done('cond', null, ['true']), done('yes'), skipped('no')], 'join', { kind: 'ready', early: false, from: ['yes'] }],
    ['a merge waits for the live branch', byOutput, [done('cond', null, ['true']), running('yes'), skipped('no')], 'join', { kind: 'wait' }],
    ['both branches dead: the merge is dead too', byOutput, [skipped('yes'), skipped('no')], 'join', { kind: 'skip', reason: 'no incoming edge was followed' }],
    ['a failed source is not followed', byOutput, [failed('yes'), skipped('no')], 'join', { kind: 'skip', reason: 'no incoming edge was followed' }],
    ['true_path names the target', byPath, [done('cond', null, ['true'])], 'yes', { kind: 'ready', early: false, from: ['cond'] }],
    ['false_path names the other target', byPath, [done('cond', null, ['true'])], 'no', { kind: 'skip', reason: 'no incoming edge was followed' }],
    ['false_path, taken', byPath, [done('cond', null, ['false'])], 'no', { kind: 'ready', early: false, from: ['cond'] }],
  ])('%s', (_name, plan, steps, nodeId, expected) => {
    expect(summary(readiness(plan, new FactsView(steps), '', nodeId))).toEqual(expected);
  });

  it('skips a node without incoming edges', () => {
    const plan = compilePlan(workflow([node('start', 'start'), node('orphan', 'task')], []));
    expect(readiness(plan, new FactsView(), '', 'orphan')).toEqual({ kind: 'skip', reason: 'no incoming edge' });
    expect(readiness(plan, new FactsView(), '', 'missing')).toEqual({ kind: 'skip', reason: 'unknown node missing' });
  });
});

describe('multi-choice edges', () => {
  const plan = compilePlan(
    workflow(
      [node('route', 'task'), node('x', 'task'), node('y', 'task'), node('z', 'task'), node('m', 'task')],
      [edge('route', 'x', 'out', 'x_holds'), edge('route', 'y', 'out', 'y_holds'), edge('route', 'z'), edge('x', 'm'), edge('y', 'm')],
    ),
  );
  const conditions = { x_holds: true, y_holds: false };

  it.each<[string, StepRecord[], string, Record<string, unknown>]>([
    ['an edge whose condition holds', [done('route')], 'x', { kind: 'ready', early: false, from: ['route'] }],
    ['an edge whose condition does not hold', [done('route')], 'y', { kind: 'skip', reason: 'no incoming edge was followed' }],
    ['an edge without a condition', [done('route')], 'z', { kind: 'ready', early: false, from: ['route'] }],
    ['several targets join again', [done('route'), done('x'), skipped('y')], 'm', { kind: 'ready', early: false, from: ['x'] }],
  ])('%s', (_name, steps, nodeId, expected) => {
    expect(summary(readiness(plan, new FactsView(steps, conditions), '', nodeId))).toEqual(expected);
  });

  it('reads an edge condition only for a source that completed and fired that output', () => {
    // `x_holds` has no answer here: asking for it would throw.
    expect(summary(readiness(plan, new FactsView([running('route')]), '', 'x'))).toEqual({ kind: 'wait' });
  });
});

describe('loops and nesting', () => {
  const plan = compilePlan(
    workflow(
      [node('start', 'start'), node('loop', 'loop', { mode: 'count', count: 3 }), node('a', 'task'), node('b', 'task'), node('end', 'end')],
      [edge('start', 'loop'), edge('loop', 'a', 'body'), ...chain('a', 'b'), edge('b', 'loop'), edge('loop', 'end', 'done')],
    ),
  );
  const nested = compilePlan(
    workflow(
      [node('start', 'start'), node('outer', 'loop'), node('inner', 'loop'), node('x', 'task'), node('end', 'end')],
      [edge('start', 'outer'), edge('outer', 'inner', 'body'), edge('inner', 'x', 'body'), edge('x', 'inner'), edge('inner', 'outer', 'done'), edge('outer', 'end', 'done')],
    ),
  );

  it('compiles a loop body, its entries and back edges', () => {
    const loop = plan.loops.get('loop')!;
    expect({ body: [...loop.body].sort(), entries: loop.entries, back: loop.backSources, direct: [...loop.direct].sort() }).toEqual({ body: ['a', 'b'], entries: ['a'], back: ['b'], direct: ['a', 'b'] });
    expect(plan.nodes.get('loop')!.incoming.map((e) => e.source_node_id)).toEqual(['start']); // the back edge never gates the loop
    expect(nested.loops.get('outer')!.direct).toEqual(['inner']);
    expect(nested.nodes.get('x')!.loopId).toBe('inner');
  });

  it.each<[string, typeof plan, StepRecord[], string, string, Record<string, unknown>]>([
    ['a body entry starts in an iteration of its loop', plan, [], 'loop[0].', 'a', { kind: 'ready', early: false, from: ['loop'] }],
    ['a body entry is dead outside its loop', plan, [], '', 'a', { kind: 'skip', reason: 'no incoming edge' }],
    ['the next body node follows in the same iteration', plan, [done('loop[2].a')], 'loop[2].', 'b', { kind: 'ready', early: false, from: ['a'] }],
    ['another iteration is not this one', plan, [done('loop[1].a')], 'loop[2].', 'b', { kind: 'wait' }],
    ['the loop`s done edge', plan, [done('loop', [], ['done'])], '', 'end', { kind: 'ready', early: false, from: ['loop'] }],
    ['an inner body entry in a nested iteration', nested, [], 'outer[1].inner[0].', 'x', { kind: 'ready', early: false, from: ['inner'] }],
    ['an inner loop in an outer iteration', nested, [], 'outer[1].', 'inner', { kind: 'ready', early: false, from: ['outer'] }],
  ])('%s', (_name, p, steps, prefix, nodeId, expected) => {
    expect(summary(readiness(p, new FactsView(steps), prefix, nodeId))).toEqual(expected);
  });

  it.each<[string, typeof plan, string, string, StepRecord[], Record<string, unknown>]>([
    ['running while a body step is live', plan, 'loop', 'loop[0].', [done('loop[0].a'), running('loop[0].b')], { kind: 'running' }],
    ['running while a body step has not started', plan, 'loop', 'loop[0].', [done('loop[0].a')], { kind: 'running' }],
    ['completed with the back edge source`s output', plan, 'loop', 'loop[0].', [done('loop[0].a', 'A'), done('loop[0].b', 'B')], { kind: 'completed', result: 'B' }],
    ['completed with the last completed output when the back source was skipped', plan, 'loop', 'loop[0].', [done('loop[0].a', 'A'), skipped('loop[0].b')], { kind: 'completed', result: 'A' }],
    ['an inner iteration, by its own prefix', nested, 'inner', 'outer[1].inner[0].', [done('outer[1].inner[0].x', 'X')], { kind: 'completed', result: 'X' }],
    ['an outer iteration ends with its inner loop', nested, 'outer', 'outer[1].', [done('outer[1].inner', ['X'])], { kind: 'completed', result: ['X'] }],
  ])('iteration: %s', (_name, p, loopId, prefix, steps, expected) => {
    expect(iterationState(p, new FactsView(steps), loopId, prefix)).toEqual(expected);
  });

  it('an iteration fails with its failed body step', () => {
    const bad = failed('loop[0].a');
    expect(iterationState(plan, new FactsView([bad, skipped('loop[0].b')]), 'loop', 'loop[0].')).toEqual({ kind: 'failed', step: bad });
  });
});
