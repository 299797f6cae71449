/** The rules of a run from plain facts: outcome, termination, failure routing, retries and wake transitions. */
import { describe, expect, it } from 'vitest';
import { compilePlan } from '../../src/planner/plan.js';
import { liveWaits, runOutcome } from '../../src/planner/run-outcome.js';
import { runTermination, terminatesRun } from '../../src/planner/termination.js';
import { failureRoute } from '../../src/planner/failure-routing.js';
import { NO_RETRY, retryDelay, shouldRetry } from '../../src/planner/retry-verdict.js';
import { isBudgetWaived, wakeTransition } from '../../src/planner/wake-transition.js';
import { TrellisError } from '../../src/kernel/errors.js';
import type { RetryPolicy } from '../../src/definition/definition.js';
import type { WakeSignal } from '../../src/nodes/node-handler.js';
import type { StepRecord } from '../../src/storage/records.js';
import { chain, done, edge, FactsView, node, step, workflow } from './planner-fixtures.js';

describe('run outcome', () => {
  const plan = compilePlan(
    workflow(
      [node('start', 'start'), node('loop', 'loop'), node('inner_end', 'end'), node('a', 'end'), node('b', 'end')],
      [edge('start', 'loop'), edge('loop', 'inner_end', 'body'), edge('loop', 'a', 'done'), edge('loop', 'b', 'done')],
    ),
  );

  it.each<[string, StepRecord[], unknown]>([
    ['not finished while a step is live', [done('start'), step('a', 'running')], { finished: false }],
    ['not finished while a step waits', [done('start'), step('a', 'waiting', { waiter: { kind: 'approval' } })], { finished: false }],
    ['finished with the output of the end that started last', [done('start'), step('a', 'completed', { output_data: 'A', seq: 10 }), step('b', 'completed', { output_data: 'B', seq: 11 })], { finished: true, output: 'B' }],
    ['an end inside a loop iteration is not the run`s output', [done('start'), step('loop[0].inner_end', 'completed', { output_data: 'inner', seq: 99 }), step('a', 'completed', { output_data: 'A', seq: 5 })], { finished: true, output: 'A' }],
    ['a skipped or failed end gives no output', [done('start'), step('a', 'skipped'), step('b', 'failed')], { finished: true, output: null }],
  ])('%s', (_name, steps, expected) => {
    expect(runOutcome(plan, new FactsView(steps))).toEqual(expected);
  });

  const approval = (path: string): StepRecord => step(path, 'waiting', { waiter: { kind: 'approval' } });
  it.each<[string, StepRecord[], string[], string]>([
    ['nothing live', [done('a')], [], 'nothing'],
    ['only approvals', [done('a'), approval('b'), approval('c')], [], 'approvals'],
    ['an approval and a timer', [approval('b'), step('c', 'waiting', { waiter: { kind: 'timer', due_at: 5 } })], [], 'other'],
    ['an approval and a running step', [approval('b'), step('c', 'running')], [], 'other'],
    ['a running loop holding an approval', [step('loop', 'running'), approval('loop[0].b')], ['loop'], 'approvals'],
    ['a running loop holding nothing else', [step('loop', 'running')], ['loop'], 'nothing'],
  ])('live waits: %s', (_name, steps, holding, expected) => {
    expect(liveWaits(steps, new Set(holding))).toBe(expected);
  });
});

describe('termination', () => {
  it.each<[string, string, Record<string, unknown>, boolean]>([
    ['an end with terminate: true', 'end', { terminate: true }, true],
    ['an ordinary end', 'end', {}, false],
    ['an end with terminate: false', 'end', { terminate: false }, false],
    ['any other node, whatever its config', 'task', { terminate: true }, false],
  ])('%s', (_name, type, config, expected) => {
    const plan = compilePlan(workflow([node('start', 'start'), node('n', type, config)], chain('start', 'n')));
    expect(terminatesRun(plan.nodes.get('n')!)).toBe(expected);
  });
});

describe('run termination', () => {
  // `gate` has a rejected branch; `bare` has none; `looped` sends a rejection back to its loop (the next iteration).
  const plan = compilePlan(
    workflow(
      [node('start', 'start'), node('gate', 'human_approval'), node('no', 'task'), node('bare', 'human_approval'), node('loop', 'loop'), node('looped', 'human_approval'), node('stop', 'end', { terminate: true }), node('end', 'end')],
      [
        ...chain('start', 'gate', 'bare', 'loop', 'stop'),
        edge('gate', 'no', 'rejected'),
        edge('loop', 'looped', 'body'),
        { ...edge('looped', 'loop', 'rejected'), target_input: 'next' },
        { ...edge('looped', 'loop'), target_input: 'next' },
        edge('loop', 'end', 'done'),
      ],
    ),
  );
  const rejected = (reason: string | null) => ({ approved: false, reason, data: null });

  it.each<[string, string, string, unknown, readonly string[] | undefined, unknown]>([
    ['a terminating end: its output', 'stop', 'stop', { ok: 1 }, undefined, { output: { ok: 1 }, reason: 'run terminated by end node "stop"' }],
    ['an ordinary end: nothing', 'end', 'end', { ok: 1 }, undefined, undefined],
    ['an approval approved: nothing', 'bare', 'bare', { approved: true, data: null }, ['approved', 'out'], undefined],
    ['a rejection with a rejected branch: nothing, the branch runs', 'gate', 'gate', rejected('no'), ['rejected'], undefined],
    [
      'a rejection with nowhere to go: the run ends with what was rejected and why',
      'bare',
      'bare',
      rejected('too risky'),
      ['rejected'],
      { output: { rejected: { step: 'bare', reason: 'too risky' } }, reason: 'run ended by the rejection of "bare"' },
    ],
    ['a rejection without a reason', 'bare', 'bare', rejected(null), ['rejected'], { output: { rejected: { step: 'bare', reason: null } }, reason: 'run ended by the rejection of "bare"' }],
    ['a rejection whose branch goes back to its loop: nothing', 'loop[2].looped', 'looped', rejected('no'), ['rejected'], undefined],
  ])('%s', (_name, path, nodeId, output, fired, expected) => {
    expect(runTermination(plan, { path, nodeId, output: output as never, fired })).toEqual(expected);
  });

  it('names the step path of a rejection inside a loop iteration', () => {
    const inLoop = compilePlan(workflow([node('start', 'start'), node('loop', 'loop'), node('ok', 'human_approval')], [edge('start', 'loop'), edge('loop', 'ok', 'body')]));
    expect(runTermination(inLoop, { path: 'loop[3].ok', nodeId: 'ok', output: rejected('no'), fired: ['rejected'] })?.output).toEqual({ rejected: { step: 'loop[3].ok', reason: 'no' } });
  });
});

describe('retry verdicts', () => {
  const retryable = new TrellisError('provider_error', 'boom', { retryable: true });
  const permanent = new TrellisError('bad_request', 'bad', { retryable: false });

  it.each<[string, RetryPolicy, TrellisError, number, boolean]>([
    ['a retryable error under the attempt limit', { max_attempts: 3 }, retryable, 1, true],
    ['the last attempt', { max_attempts: 3 }, retryable, 3, false],
    ['a permanent error', { max_attempts: 3 }, permanent, 1, false],
    ['cancellation is never retried', { max_attempts: 3, retry_on_errors: ['cancelled'] }, new TrellisError('cancelled', 'stop'), 1, false],
    ['a listed code, even when not retryable', { max_attempts: 3, retry_on_errors: ['bad_request'] }, permanent, 1, true],
    ['an unlisted code', { max_attempts: 3, retry_on_errors: ['timeout'] }, retryable, 1, false],
    ['no policy: no retries', NO_RETRY, retryable, 1, false],
  ])('%s', (_name, policy, error, attempt, expected) => {
    expect(shouldRetry(policy, error, attempt)).toBe(expected);
  });

  it.each<[string, RetryPolicy, TrellisError, number, number, number]>([
    ['the base delay without jitter', { max_attempts: 5, delay_ms: 100, jitter: false }, retryable, 1, 0.5, 100],
    ['exponential backoff', { max_attempts: 5, delay_ms: 100, backoff_multiplier: 2, jitter: false }, retryable, 3, 0.5, 400],
    ['capped at max_delay_ms', { max_attempts: 9, delay_ms: 100, backoff_multiplier: 10, max_delay_ms: 5000, jitter: false }, retryable, 4, 0.5, 5000],
    ['jitter takes off up to a fifth', { max_attempts: 5, delay_ms: 1000 }, retryable, 1, 0.5, 900],
    ['never shorter than retry-after', { max_attempts: 5, delay_ms: 10, jitter: false }, new TrellisError('rate_limit', 'slow down', { retryable: true, retryAfterMs: 750 }), 1, 0, 750],
  ])('delay: %s', (_name, policy, error, attempt, random, expected) => {
    expect(retryDelay(policy, error, attempt, () => random)).toBe(expected);
  });
});

describe('failure routing', () => {
  const nodes = [node('start', 'start'), node('work', 'task', {}, { retry_policy: { max_attempts: 2, delay_ms: 100, jitter: false } }), node('other', 'task'), node('handler', 'task'), node('end', 'end')];
  const edges = [...chain('start', 'work', 'end'), edge('start', 'other')];
  const plain = compilePlan(workflow(nodes, edges));
  const withHandler = compilePlan(workflow(nodes, edges, { error_handler_node_id: 'handler' }));
  const pausing = compilePlan(workflow(nodes, edges, { budget: { max_cost_usd: 1, on_exceed: 'pause' } }));
  const tolerant = compilePlan(
    workflow(
      [node('start', 'start'), node('par', 'parallel', { wait_for: 'any' }), node('a', 'task'), node('b', 'task'), node('merge', 'merge')],
      [edge('start', 'par'), edge('par', 'a', 'a'), edge('par', 'b', 'b'), edge('a', 'merge'), edge('b', 'merge')],
      { error_handler_node_id: 'start' },
    ),
  );
  const failure = new TrellisError('provider_error', 'boom', { retryable: true });
  const permanent = new TrellisError('bad_request', 'bad', { retryable: false });
  const overBudget = new TrellisError('budget_exceeded', 'over budget', { retryable: false });
  const refused = new TrellisError('budget_exceeded', 'refused', { retryable: false, details: { refused: true } });
  const at = (path: string, attempt = 1): StepRecord => step(path, 'running', { attempt, started_at: 1000 });
  const facts = (steps: StepRecord[] = [], runEnding = false) => ({ view: new FactsView(steps), now: 2000, random: () => 0, runEnding });

  it.each<[string, typeof plain, StepRecord, TrellisError, ReturnType<typeof facts>, string]>([
    ['a retryable failure with attempts left', plain, at('work'), failure, facts(), 'retry'],
    ['a retryable failure on the last attempt', plain, at('work', 2), failure, facts(), 'fail_run'],
    ['no retries once the run is ending', plain, at('work'), failure, facts([], true), 'fail_run'],
    ['over budget with on_exceed: pause', pausing, at('other'), overBudget, facts(), 'approval'],
    ['over budget, refused by the approver', pausing, at('other'), refused, facts(), 'fail_run'],
    ['over budget without on_exceed: pause', plain, at('other'), overBudget, facts(), 'fail_run'],
    ['a lost branch of an any-join', tolerant, at('a'), permanent, facts(), 'tolerated'],
    ['routed to the error handler', withHandler, at('other'), permanent, facts(), 'error_handler'],
    ['the error handler runs once', withHandler, at('other'), permanent, facts([done('handler')]), 'fail_run'],
    ['the error handler failing fails the run', withHandler, at('handler'), permanent, facts(), 'fail_run'],
    ['a retry comes before the error handler', withHandler, at('work'), failure, facts(), 'retry'],
  ])('%s', (_name, plan, failed, error, known, expected) => {
    expect(failureRoute(plan, failed, error, known).kind).toBe(expected);
  });

  it('a retry waits for its timer, with the attempt in the step`s history', () => {
    const route = failureRoute(plain, at('work'), failure, facts());
    expect(route).toMatchObject({ kind: 'retry', waiter: { kind: 'retry', due_at: 2100 }, error: { code: 'provider_error', message: 'boom' } });
    expect(route.step).toMatchObject({ status: 'waiting', waiter: { kind: 'retry', due_at: 2100 }, state: { attempts: [{ attempt: 1, error: { code: 'provider_error', message: 'boom' }, started_at: 1000, failed_at: 2000 }] } });
  });

  it('an over-budget call waits for an approval that says why', () => {
    expect(failureRoute(pausing, at('other'), overBudget, facts()).step).toMatchObject({ status: 'waiting', waiter: { kind: 'approval', detail: { reason: 'budget', message: 'over budget' } } });
  });

  it('the error handler gets the failure in the root context', () => {
    expect(failureRoute(withHandler, at('other'), permanent, facts())).toMatchObject({
      kind: 'error_handler',
      handlerId: 'handler',
      context: { node_id: 'other', path: 'other', code: 'bad_request', message: 'bad' },
      step: { status: 'failed', completed_at: 2000, duration_ms: 1000 },
    });
  });

  it('a failed run says which step failed it', () => {
    expect(failureRoute(plain, at('other'), permanent, facts())).toMatchObject({ kind: 'fail_run', message: 'Step "other" failed: bad' });
  });
});

describe('wake transitions', () => {
  const waiting = (kind: 'approval' | 'timer' | 'event' | 'child' | 'retry', extra: Partial<StepRecord> = {}): StepRecord =>
    step('w', 'waiting', { waiter: { kind, ...(kind === 'event' ? { event: 'go', due_at: 500 } : {}) }, ...extra });
  const budgetWait = step('w', 'waiting', { waiter: { kind: 'approval', detail: { reason: 'budget', message: 'over' } }, error: { code: 'budget_exceeded', message: 'over' }, state: { attempts: [] } });

  it.each<[string, StepRecord | undefined, WakeSignal, string]>([
    ['no such step', undefined, { kind: 'timer' }, 'illegal'],
    ['a step that is not waiting', step('w', 'running'), { kind: 'timer' }, 'illegal'],
    ['a signal of another kind', waiting('approval'), { kind: 'event', payload: null }, 'illegal'],
    ['an approval', waiting('approval'), { kind: 'approval', approved: true }, 'resume'],
    ['a timer on any wait with a deadline', waiting('approval'), { kind: 'timer' }, 'resume'],
    ['an event', waiting('event'), { kind: 'event', payload: 1 }, 'resume'],
    ['a child run ending', waiting('child'), { kind: 'child', status: 'completed' }, 'resume'],
    ['a retry timer', waiting('retry', { attempt: 2 }), { kind: 'timer' }, 'retry'],
    ['an over-budget call allowed', budgetWait, { kind: 'approval', approved: true }, 'approved'],
    ['an over-budget call refused', budgetWait, { kind: 'approval', approved: false, reason: 'too dear' }, 'refused'],
  ])('%s', (_name, current, signal, expected) => {
    expect(wakeTransition('run-1', 'w', current, signal, 700).kind).toBe(expected);
  });

  it('refuses with the reason, naming the run and the step', () => {
    const transition = wakeTransition('run-1', 'w', step('w', 'completed'), { kind: 'timer' }, 0);
    expect(transition.kind === 'illegal' && { message: transition.error.message, code: transition.error.code, executionId: transition.error.executionId }).toEqual({
      message: 'Step "w" of run run-1 is not waiting (it is completed)',
      code: 'illegal_state',
      executionId: 'run-1',
    });
  });

  it('a retry starts the next attempt now', () => {
    expect(wakeTransition('run-1', 'w', waiting('retry', { attempt: 2 }), { kind: 'timer' }, 700)).toMatchObject({ kind: 'retry', step: { status: 'running', attempt: 3, started_at: 700 } });
  });

  it('an event keeps the wait`s deadline for a handler that waits again', () => {
    const transition = wakeTransition('run-1', 'w', waiting('event'), { kind: 'event', payload: 1 }, 700);
    expect(transition).toMatchObject({ kind: 'resume', signal: { kind: 'event', payload: 1, dueAt: 500 }, step: { status: 'running' } });
    expect(transition.kind === 'resume' && transition.step.waiter).toBeUndefined();
  });

  it('an allowed over-budget call runs again, waived, and the waiver is in its row', () => {
    const transition = wakeTransition('run-1', 'w', budgetWait, { kind: 'approval', approved: true }, 700);
    expect(transition.kind).toBe('approved');
    const row = (transition as { step: StepRecord }).step;
    expect({ status: row.status, error: row.error, waiter: row.waiter, waived: isBudgetWaived(row) }).toEqual({ status: 'running', error: undefined, waiter: undefined, waived: true });
    expect(isBudgetWaived(budgetWait)).toBe(false);
  });

  it('a refused over-budget call fails for good, with the approver`s reason', () => {
    const transition = wakeTransition('run-1', 'w', budgetWait, { kind: 'approval', approved: false, reason: 'too dear' }, 700);
    expect(transition.kind === 'refused' && { message: transition.error.message, code: transition.error.code, retryable: transition.error.retryable, details: transition.error.details }).toEqual({
      message: 'Over-budget call refused by approver: too dear',
      code: 'budget_exceeded',
      retryable: false,
      details: { refused: true },
    });
  });
});
