/**
 * A small model of workflows and of what the README promises about running them, for model-based
 * tests: random programs (sequences of prompts, conditions, parallel blocks waiting for all, any or
 * a count of branches, for-each loops with concurrency, sub-workflows, terminating ends), built with the fluent
 * builder, and a reference of their outcome written from the README's rules alone:
 * - a failing step fails the run, except in a branch of an `any`/`count` block, where it loses the branch;
 * - `any`/`count` continue once enough branches completed and cancel the others;
 * - a loop fails when one of its iterations fails;
 * - an `end` with `terminate` completes the run at once, whatever else is still running;
 * - an approved approval goes on; a rejected one runs its `onReject` branch instead of the rest of
 *   its chain (the branch then leaves where the chain leaves), or, without one, completes the run
 *   at once like a terminating end.
 */
import fc from 'fast-check';
import { workflow, type WorkflowBuilder } from '../../src/index.js';

export type Program = readonly Step[];

export type Step =
  | { readonly kind: 'prompt'; readonly fail: boolean }
  | { readonly kind: 'sub' }
  | { readonly kind: 'when'; readonly cond: boolean; readonly then: Program; readonly else: Program }
  | { readonly kind: 'parallel'; readonly waitFor: 'all' | 'any' | 'count'; readonly required: number; readonly branches: readonly Program[] }
  | { readonly kind: 'forEach'; readonly items: number; readonly concurrency: number; readonly body: Program }
  | { readonly kind: 'terminate' }
  /** A human approval the test answers with `approve`; its message says which answer it gets. */
  | { readonly kind: 'approval'; readonly approve: boolean; readonly onReject: Program | undefined };

/** Programs of at most `depth` nested blocks. Failing prompts stay outside `any`/`count` branches (see README: they only lose a branch there). */
export function programArbitrary(depth = 3): fc.Arbitrary<Program> {
  const prompt = (tolerant: boolean): fc.Arbitrary<Step> =>
    tolerant ? fc.constant({ kind: 'prompt', fail: false } as const) : fc.record({ kind: fc.constant('prompt' as const), fail: fc.integer({ min: 0, max: 5 }).map((x) => x === 0) });
  // An approval's onReject branch is a program one level down, or empty (rejecting skips the rest of the chain), or absent.
  const approval = (onReject: fc.Arbitrary<Program | undefined>): fc.Arbitrary<Step> =>
    fc.record({ kind: fc.constant('approval' as const), approve: fc.boolean(), onReject });
  const program = (level: number, tolerant: boolean): fc.Arbitrary<Program> => {
    const leaf = fc.oneof(
      { weight: 5, arbitrary: prompt(tolerant) },
      { weight: 1, arbitrary: fc.constant({ kind: 'sub' } as const) },
      { weight: 1, arbitrary: approval(fc.option(fc.constant([] as Program), { nil: undefined })) },
    );
    const step = level <= 0 ? leaf : stepOf(level, tolerant);
    return fc.array(step, { minLength: 1, maxLength: 3 });
  };
  const stepOf = (level: number, tolerant: boolean): fc.Arbitrary<Step> =>
    fc.oneof(
      { weight: 4, arbitrary: prompt(tolerant) },
      { weight: 1, arbitrary: fc.constant({ kind: 'sub' } as const) },
      { weight: 1, arbitrary: approval(fc.option(program(level - 1, tolerant), { nil: undefined })) },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('when' as const), cond: fc.boolean(), then: program(level - 1, tolerant), else: program(level - 1, tolerant) }),
      },
      {
        weight: 2,
        arbitrary: fc.constantFrom('all' as const, 'any' as const, 'count' as const).chain((waitFor) =>
          fc.array(branch(level - 1, tolerant || waitFor !== 'all'), { minLength: 2, maxLength: 3 }).map(oneGoesOn).chain((branches) =>
            fc.integer({ min: 1, max: branches.length }).map((required) => ({ kind: 'parallel' as const, waitFor, required, branches })),
          ),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant('forEach' as const), items: fc.integer({ min: 0, max: 3 }), concurrency: fc.integer({ min: 1, max: 3 }), body: program(level - 1, tolerant) }),
      },
    );
  // At least one branch reaches the merge, so the block never ends every path (a loop body must come back).
  const oneGoesOn = (branches: Program[]): Program[] =>
    branches.every((steps) => steps.at(-1)?.kind === 'terminate') ? [...branches.slice(0, -1), branches.at(-1)!.slice(0, -1)] : branches;
  // A branch may end the whole run with a terminating end.
  const branch = (level: number, tolerant: boolean): fc.Arbitrary<Program> =>
    fc.tuple(program(level, tolerant), fc.integer({ min: 0, max: 7 }).map((x) => x === 0)).map(([steps, terminate]) => (terminate ? [...steps, { kind: 'terminate' } as const] : steps));
  return program(depth, false);
}

/** The stored workflow every `sub` step runs as a child: one prompt. */
export const CHILD_WORKFLOW_ID = 'model-child';
export const CHILD_PROMPT = 'child prompt';

/** Registers the child workflow `sub` steps run. */
export function childWorkflow(): WorkflowBuilder<object> {
  return workflow('model-child', { id: CHILD_WORKFLOW_ID }).prompt('ask', { model: 'mock:m', template: CHILD_PROMPT }).end() as WorkflowBuilder<object>;
}

/** Builds `program` with the fluent builder; prompt `i` has the template `p<i>` (or `fail p<i>`). */
export function buildProgram(program: Program): WorkflowBuilder<object> {
  let n = 0;
  const add = (b: WorkflowBuilder<object>, steps: Program): WorkflowBuilder<object> => {
    for (const step of steps) b = addStep(b, step);
    return b;
  };
  const addStep = (b: WorkflowBuilder<object>, step: Step): WorkflowBuilder<object> => {
    const id = `n${++n}`;
    switch (step.kind) {
      case 'prompt':
        return b.prompt(id, { model: 'mock:m', template: step.fail ? `fail ${id}` : id }) as WorkflowBuilder<object>;
      case 'when':
        return b.when(String(step.cond), (t) => add(t as WorkflowBuilder<object>, step.then), (e) => add(e as WorkflowBuilder<object>, step.else)) as WorkflowBuilder<object>;
      case 'parallel': {
        const branches = Object.fromEntries(step.branches.map((steps, i) => [`b${i}`, (x: WorkflowBuilder<object>) => add(x, steps)]));
        return b.parallel(branches as never, { id, waitFor: step.waitFor, ...(step.waitFor === 'count' ? { requiredCount: step.required } : {}) }) as WorkflowBuilder<object>;
      }
      case 'forEach':
        return b.forEach(`[${Array.from({ length: step.items }, (_, i) => i).join(',')}]`, (x) => add(x as WorkflowBuilder<object>, step.body), { id, concurrency: step.concurrency }) as WorkflowBuilder<object>;
      case 'terminate':
        return b.end({}, { id, terminate: true });
      case 'sub':
        return b.subWorkflow(id, { workflow_id: CHILD_WORKFLOW_ID }) as WorkflowBuilder<object>;
      case 'approval': {
        const message = step.approve ? 'approve' : 'reject';
        const onReject = step.onReject;
        return (onReject === undefined ? b.approval(id, { message }) : b.approval(id, { message, onReject: (r) => add(r as WorkflowBuilder<object>, onReject) })) as WorkflowBuilder<object>;
      }
    }
  };
  return add(workflow('model') as WorkflowBuilder<object>, program).end();
}

/** How a part of a program may end: completed, failed, or having ended the whole run. */
type Result = 'ok' | 'fail' | 'term';

/** The final statuses the README's rules allow for `program` run to its end (no cancel). */
export function allowedStatuses(program: Program): ReadonlySet<'completed' | 'failed'> {
  const results = sequence(program);
  const statuses = new Set<'completed' | 'failed'>();
  if (results.has('ok') || results.has('term')) statuses.add('completed');
  if (results.has('fail')) statuses.add('failed');
  return statuses;
}

function sequence(steps: Program): ReadonlySet<Result> {
  let now = new Set<Result>(['ok']);
  for (const step of steps) {
    if (!now.has('ok')) break;
    const next = new Set<Result>([...now].filter((r) => r !== 'ok'));
    // A rejection takes the rest of the chain's place: its branch ends the chain, or the run ends.
    const rejected = step.kind === 'approval' && !step.approve;
    for (const r of rejected ? (step.onReject === undefined ? new Set<Result>(['term']) : sequence(step.onReject)) : outcome(step)) next.add(r);
    if (rejected) return next;
    now = next;
  }
  return now;
}

function outcome(step: Step): ReadonlySet<Result> {
  switch (step.kind) {
    case 'prompt':
      return new Set([step.fail ? 'fail' : 'ok']);
    case 'sub':
    case 'approval': // approved; a rejection is the sequence's to apply
      return new Set(['ok']);
    case 'terminate':
      return new Set(['term']);
    case 'when':
      return sequence(step.cond ? step.then : step.else);
    case 'forEach': {
      if (step.items === 0) return new Set(['ok']);
      return sequence(step.body);
    }
    case 'parallel': {
      const branches = step.branches.map(sequence);
      const out = new Set<Result>();
      if (branches.some((b) => b.has('term'))) out.add('term');
      if (step.waitFor === 'all') {
        if (branches.every((b) => b.has('ok'))) out.add('ok');
        if (branches.some((b) => b.has('fail'))) out.add('fail');
      } else {
        const required = step.waitFor === 'any' ? 1 : step.required;
        const possible = branches.filter((b) => b.has('ok')).length;
        const certain = branches.filter((b) => b.size === 1 && b.has('ok')).length;
        if (possible >= required) out.add('ok');
        if (certain < required) out.add('fail');
      }
      return out;
    }
  }
}

/**
 * How many times each prompt template must be sent when the run completes without a terminate or
 * a cancel: prompts on taken paths, once per iteration, outside `any`/`count` branches (whose
 * losers may be cancelled before they call). Undefined for a prompt that may or may not be sent.
 */
export function requiredCalls(program: Program): Map<string, number> {
  const calls = new Map<string, number>();
  let n = 0;
  const walk = (steps: Program, taken: number, counted: boolean): void => {
    let times = taken;
    for (const step of steps) {
      const id = `n${++n}`;
      switch (step.kind) {
        case 'prompt':
          if (counted && times > 0) calls.set(step.fail ? `fail ${id}` : id, times);
          break;
        case 'sub':
          if (counted) childCalls += times;
          else if (times > 0) childUncertain = true;
          break;
        case 'when':
          walk(step.then, step.cond ? times : 0, counted);
          walk(step.else, step.cond ? 0 : times, counted);
          break;
        case 'parallel':
          for (const branch of step.branches) walk(branch, times, counted && step.waitFor === 'all');
          break;
        case 'forEach':
          walk(step.body, times * step.items, counted);
          break;
        case 'terminate':
          break;
        case 'approval':
          // Its onReject branch is built right after it; a rejection skips the rest of this chain.
          if (step.onReject !== undefined) walk(step.onReject, step.approve ? 0 : times, counted);
          if (!step.approve) times = 0;
          break;
      }
    }
  };
  let childCalls = 0;
  let childUncertain = false;
  walk(program, 1, true);
  if (childCalls > 0 && !childUncertain) calls.set(CHILD_PROMPT, childCalls);
  return calls;
}

/** True when a terminating end, or a rejection with no branch (which ends the run like one), lies anywhere in the program. */
export function hasTerminate(program: Program): boolean {
  return program.some((step) => {
    switch (step.kind) {
      case 'terminate':
        return true;
      case 'approval':
        return step.approve ? false : step.onReject === undefined || hasTerminate(step.onReject);
      case 'when':
        return hasTerminate(step.then) || hasTerminate(step.else);
      case 'parallel':
        return step.branches.some(hasTerminate);
      case 'forEach':
        return hasTerminate(step.body);
      default:
        return false;
    }
  });
}

/** The node ids of the approvals whose rejection ends the run (rejected, with no onReject branch). */
export function endingRejections(program: Program): ReadonlySet<string> {
  const ids = new Set<string>();
  let n = 0;
  const walk = (steps: Program): void => {
    for (const step of steps) {
      const id = `n${++n}`;
      switch (step.kind) {
        case 'when':
          walk(step.then);
          walk(step.else);
          break;
        case 'parallel':
          for (const branch of step.branches) walk(branch);
          break;
        case 'forEach':
          walk(step.body);
          break;
        case 'approval':
          if (!step.approve && step.onReject === undefined) ids.add(id);
          if (step.onReject !== undefined) walk(step.onReject);
          break;
        default:
          break;
      }
    }
  };
  walk(program);
  return ids;
}
