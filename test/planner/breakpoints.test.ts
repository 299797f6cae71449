/** Debug mode's rules, as tables: which ready step a breakpoint stops at, and which breakpoints a workflow refuses. */
import { describe, expect, it } from 'vitest';
import { breakpointAt, breakpointIssues, breakpointMatches } from '../../src/planner/breakpoints.js';
import { edge, node, workflow } from './planner-fixtures.js';

describe('breakpointMatches', () => {
  it.each([
    // entry, step path, stops?
    ['draft', 'draft', true],
    ['draft', 'review', false],
    ['critique', 'review_loop[0].critique', true], // a node id: every iteration
    ['critique', 'outer[1].inner[2].critique', true], // ...at any depth
    ['review_loop', 'review_loop', true], // the loop step itself
    ['review_loop', 'review_loop[0].critique', false], // not its body
    ['review_loop[2].critique', 'review_loop[2].critique', true], // an indexed path: exactly
    ['review_loop[2].critique', 'review_loop[1].critique', false],
    ['review_loop[2].critique', 'critique', false],
    ['review_loop.critique', 'review_loop[0].critique', true], // no index: every iteration of that loop
    ['review_loop.critique', 'review_loop[7].critique', true],
    ['review_loop.critique', 'other_loop[0].critique', false],
    ['outer[1].inner.x', 'outer[1].inner[3].x', true],
    ['outer[1].inner.x', 'outer[0].inner[3].x', false],
    ['outer.x', 'outer[1].inner[3].x', false], // depth must agree
    ['crit', 'review_loop[0].critique', false], // no prefix matching
    ['bad path!', 'bad path!', true], // an exact path always matches (validation refuses such an entry first)
    ['bad path!', 'x', false],
  ] as const)('%s at %s: %s', (entry, path, stops) => {
    expect(breakpointMatches(entry, path)).toBe(stops);
  });
});

describe('breakpointAt', () => {
  it.each([
    [['draft', 'review_loop[2].critique'], 'review_loop[2].critique', 'review_loop[2].critique'],
    [['critique', 'review_loop[2].critique'], 'review_loop[2].critique', 'critique'], // the first entry that matches
    [['draft'], 'review_loop[2].critique', undefined],
    [[], 'draft', undefined],
    [undefined, 'draft', undefined],
  ] as const)('%j at %s: %s', (breakpoints, path, hit) => {
    expect(breakpointAt(path, breakpoints)).toBe(hit);
  });
});

describe('breakpointIssues', () => {
  const wf = workflow(
    [node('start', 'start'), node('draft', 'prompt_execution'), node('review_loop', 'loop'), node('critique', 'prompt_execution'), node('end', 'end')],
    [edge('start', 'draft'), edge('draft', 'review_loop'), edge('review_loop', 'critique', 'body'), edge('review_loop', 'end', 'done')],
  );
  it.each([
    [['draft', 'critique', 'review_loop', 'review_loop[2].critique', 'review_loop.critique'], []],
    [['drat'], ['unknown_breakpoint_node']],
    [['review_loop[1].nope'], ['unknown_breakpoint_node']],
    [['draft[1].critique'], ['breakpoint_scope_not_loop']],
    [['review_loop[1].critique[2]'], ['breakpoint_index_on_step']],
    [['', 'a..b', 'x[-1]', 'x[1'], ['invalid_breakpoint', 'invalid_breakpoint', 'invalid_breakpoint', 'invalid_breakpoint']],
    [['drat', 'nope', 'draft'], ['unknown_breakpoint_node', 'unknown_breakpoint_node']], // every problem, not the first
  ] as const)('%j: %j', (breakpoints, codes) => {
    expect(breakpointIssues(wf, breakpoints).map((i) => i.code)).toEqual(codes);
  });

  it('says which entry is wrong, where, and what was meant', () => {
    expect(breakpointIssues(wf, ['draft', 'critque'])).toEqual([
      { path: ['breakpoints', 1], code: 'unknown_breakpoint_node', nodeId: 'critque', message: 'Breakpoint "critque" names node "critque", which workflow "planner-test" does not have (did you mean "critique"?)' },
    ]);
  });
});
