/**
 * Breakpoints of debug mode: which ready steps a run pauses before. An entry is a node id, which
 * matches that node in every loop iteration (`critique`), or a step path, which matches exactly
 * (`review_loop[2].critique`); a path segment without an index matches every iteration of that
 * loop (`review_loop.critique`). Pure: the runner asks when a step becomes ready, once per step.
 */
import type { WorkflowDefinition } from '../definition/definition.js';
import type { ValidationIssue } from '../kernel/errors.js';
import { didYouMean } from '../kernel/did-you-mean.js';

/** One segment of a breakpoint or step path: a node id, with the loop index it is in when given. */
interface Segment {
  readonly id: string;
  readonly index?: number;
}

const SEGMENT = /^([A-Za-z_][A-Za-z0-9_-]*)(?:\[(\d+)\])?$/;

/** Splits `a[1].b` into segments; undefined when it is not a well-formed path. */
function segments(path: string): Segment[] | undefined {
  const parts = path.split('.');
  const out: Segment[] = [];
  for (const part of parts) {
    const match = SEGMENT.exec(part);
    if (!match) return undefined;
    out.push(match[2] === undefined ? { id: match[1]! } : { id: match[1]!, index: Number(match[2]) });
  }
  return out;
}

/** Whether the breakpoint `entry` matches the step at `path` (see the file comment). */
export function breakpointMatches(entry: string, path: string): boolean {
  if (entry === path) return true;
  const wanted = segments(entry);
  if (!wanted) return false;
  if (wanted.length === 1 && wanted[0]!.index === undefined) {
    // A node id: that node at any depth, in any iteration.
    const dot = path.lastIndexOf('.');
    return (dot < 0 ? path : path.slice(dot + 1)) === entry;
  }
  const actual = segments(path);
  if (!actual || actual.length !== wanted.length) return false;
  return wanted.every((w, i) => {
    const a = actual[i]!;
    return a.id === w.id && (w.index === undefined || w.index === a.index);
  });
}

/**
 * The first breakpoint of `breakpoints` that the step at `path` stops at, or undefined. Asked once
 * per step, when it becomes ready: a step released past its breakpoint (resumed, stepped) is not
 * asked again, so "the steps already released" need no bookkeeping.
 *
 * @example
 * breakpointAt('review_loop[2].critique', ['draft', 'review_loop[2].critique']); // 'review_loop[2].critique'
 * breakpointAt('review_loop[1].critique', ['review_loop[2].critique']); // undefined
 */
export function breakpointAt(path: string, breakpoints: readonly string[] | undefined): string | undefined {
  if (breakpoints === undefined) return undefined;
  for (const entry of breakpoints) if (breakpointMatches(entry, path)) return entry;
  return undefined;
}

/**
 * Every problem with `breakpoints` for `workflow`: an entry that is not a node id or step path
 * (`invalid_breakpoint`), names a node the workflow does not have (`unknown_breakpoint_node`, with
 * a did-you-mean), or gives an index to a node that is not a loop (`breakpoint_index_not_loop`).
 */
export function breakpointIssues(workflow: WorkflowDefinition, breakpoints: readonly string[]): ValidationIssue[] {
  const nodes = new Map(workflow.definition.nodes.map((n) => [n.id, n.type]));
  const issues: ValidationIssue[] = [];
  breakpoints.forEach((entry, i) => {
    const path = ['breakpoints', i];
    const parsed = typeof entry === 'string' ? segments(entry) : undefined;
    if (!parsed) {
      issues.push({ path, code: 'invalid_breakpoint', message: `Breakpoint ${JSON.stringify(entry)} is not a node id or a step path such as "review_loop[2].critique"` });
      return;
    }
    parsed.forEach((segment, depth) => {
      const type = nodes.get(segment.id);
      if (type === undefined) {
        const near = didYouMean(segment.id, nodes.keys());
        issues.push({ path, code: 'unknown_breakpoint_node', nodeId: segment.id, message: `Breakpoint "${entry}" names node "${segment.id}", which workflow "${workflow.id ?? workflow.name}" does not have${near === undefined ? '' : ` (did you mean "${near}"?)`}` });
      } else if (depth < parsed.length - 1 && type !== 'loop') {
        issues.push({ path, code: 'breakpoint_scope_not_loop', nodeId: segment.id, message: `Breakpoint "${entry}": "${segment.id}" encloses other steps only if it is a loop (it is ${type})` });
      } else if (depth === parsed.length - 1 && segment.index !== undefined) {
        issues.push({ path, code: 'breakpoint_index_on_step', nodeId: segment.id, message: `Breakpoint "${entry}": an index belongs to the loop that encloses the step ("loop[2].${segment.id}"), not to the step itself` });
      }
    });
  });
  return issues;
}
