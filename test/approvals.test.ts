/**
 * Human approvals as the approver and the pipeline see them (issue 17, points 6 and 7): what is
 * asked (the rendered message, the data to review, the answers, the deadline) wherever a waiting
 * step shows (the trace, `node:waiting`, `execution:paused`, the inbox `engine.approvals.list`),
 * and what a rejection leads to: the `onReject` branch, or, without one, the end of the run,
 * completed, with `{ rejected: { step, reason } }`. The HTTP side is in approvals-http.test.ts.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { ScriptedProvider, validateWorkflow, workflow, type ProviderRequest, type TrellisEvents, type UntypedRun, type WorkflowBuilder, type WorkflowOutputs } from '../src/index.js';
import { edge, makeEngine, node, until } from './helpers.js';

const HOUR = 3_600_000;

/** The triage pipeline: classify, draft a reply, ask before sending it. */
const triage = (onTimeout: 'reject' | 'approve' | 'fail' = 'reject') =>
  workflow('triage', { variables: { id: 'string', ticket: 'string' } })
    .transform('classify', { category: "'billing'", urgent: 'true' })
    .prompt('draft', { model: 'mock:m', template: 'Reply to: {{input.ticket}}' })
    .approval('send', {
      message: 'Send the reply to ticket {{input.id}}?',
      data: { category: 'classify.category', draft: 'draft.text' },
      timeout_ms: HOUR,
      on_timeout: onTimeout,
    })
    .transform('sent', { sent: 'true' })
    .end({ sent: 'sent.sent' });

const TICKET = { id: 'T-1', ticket: 'I was charged twice' };
const ASKED = { message: 'Send the reply to ticket T-1?', data: { category: 'billing', draft: 'Dear customer' }, outcomes: ['approve', 'reject'] };

describe('what the approver sees', () => {
  it('get(): the waiting step carries the rendered message, the data to review, the answers, the deadline and what it decides', async () => {
    const { engine, clock } = makeEngine(() => 'Dear customer');
    const started = clock.now();
    const id = await engine.start(triage(), TICKET);
    await until(async () => (await engine.get(id))?.status === 'paused');
    const step = (await engine.get(id))!.execution_trace.find((s) => s.node_id === 'send');
    expect(step).toMatchObject({ status: 'waiting' });
    expect(step!.waiting_for).toEqual({ kind: 'approval', due_at: new Date(started + HOUR).toISOString(), ...ASKED, on_timeout: 'reject' });
  });

  it('a wait without a timeout or data shows null data and no deadline; other waits show no approval fields', async () => {
    const { engine } = makeEngine();
    const id = await engine.start(workflow('w').parallel({ a: (b) => b.approval('ok'), b: (b) => b.delay('later', HOUR) }), {});
    await until(async () => (await engine.get(id))?.execution_trace.filter((s) => s.status === 'waiting').length === 2);
    const trace = (await engine.get(id))!.execution_trace;
    expect(trace.find((s) => s.node_id === 'ok')!.waiting_for).toEqual({ kind: 'approval', message: null, data: null, outcomes: ['approve', 'reject'] });
    expect(Object.keys(trace.find((s) => s.node_id === 'later')!.waiting_for!)).toEqual(['kind', 'due_at']);
  });

  it('node:waiting and execution:paused carry what is asked', async () => {
    const { engine, clock } = makeEngine(() => 'Dear customer');
    const waiting: TrellisEvents['node:waiting'][] = [];
    const paused: TrellisEvents['execution:paused'][] = [];
    engine.events.on('node:waiting', (e) => void waiting.push(e));
    engine.events.on('execution:paused', (e) => void paused.push(e));
    const dueAt = clock.now() + HOUR;
    const id = await engine.start(triage(), TICKET);
    await until(() => paused.length === 1);
    expect(waiting).toEqual([expect.objectContaining({ executionId: id, nodeId: 'send', path: 'send', kind: 'approval', dueAt, ...ASKED, onTimeout: 'reject' })]);
    expect(paused[0]).toMatchObject({ executionId: id, reason: 'approval', approvals: [{ nodeId: 'send', path: 'send', dueAt, ...ASKED, onTimeout: 'reject' }] });
  });

  it('an over-budget call waiting for a person shows the budget message, and is in the inbox', async () => {
    const { engine } = makeEngine(() => ScriptedProvider.respond({ text: 'ok', usage: { input_tokens: 60, output_tokens: 35 } }));
    const overBudget = {
      name: 'budget',
      definition: {
        nodes: [node('start', 'start'), node('first', 'prompt_execution', { provider_model: 'mock:m', template: 'Hello' }), node('second', 'prompt_execution', { provider_model: 'mock:m', template: 'x'.repeat(40) }), node('end', 'end')],
        edges: [edge('start', 'first'), edge('first', 'second'), edge('second', 'end')],
        settings: { budget: { max_tokens: 100, on_exceed: 'pause' as const } },
      },
    };
    const id = await engine.start(overBudget, {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    const [pending] = await engine.approvals.list();
    expect(pending).toMatchObject({ execution_id: id, path: 'second', data: null, outcomes: ['approve', 'reject'], message: expect.stringMatching(/budget/i) });
    await engine.approve(id, 'second');
    expect((await engine.wait(id)).status).toBe('completed');
    expect(await engine.approvals.list()).toEqual([]);
  });
});

describe('engine.approvals.list', () => {
  it('lists what waits for a person across runs, longest waiting first, filtered by workflow and paged', async () => {
    const { engine, clock } = makeEngine(() => 'Dear customer');
    const first = await engine.start(triage(), TICKET);
    await until(async () => (await engine.get(first))?.status === 'paused');
    await clock.advance(1000);
    const reviews = workflow('reviews').forEach('[1, 2]', (b) => b.approval('ok', { message: 'Item {{item}}?', data: { item: 'item' } }), { id: 'each', concurrency: 2 });
    const second = await engine.start(reviews, {});
    await until(async () => (await engine.approvals.list()).length === 3);
    const second_since = new Date(clock.now()).toISOString();

    const all = await engine.approvals.list();
    expect(all).toEqual([
      { execution_id: first, workflow_id: expect.any(String), workflow_version: 1, path: 'send', node_id: 'send', ...ASKED, due_at: new Date(clock.now() - 1000 + HOUR).toISOString(), on_timeout: 'reject', since: new Date(clock.now() - 1000).toISOString() },
      { execution_id: second, workflow_id: expect.any(String), workflow_version: 1, path: 'each[0].ok', node_id: 'ok', message: 'Item 1?', data: { item: 1 }, outcomes: ['approve', 'reject'], since: second_since },
      { execution_id: second, workflow_id: expect.any(String), workflow_version: 1, path: 'each[1].ok', node_id: 'ok', message: 'Item 2?', data: { item: 2 }, outcomes: ['approve', 'reject'], since: second_since },
    ]);
    const reviewsId = all[1]!.workflow_id;
    expect((await engine.approvals.list({ workflowId: reviewsId })).map((a) => a.path)).toEqual(['each[0].ok', 'each[1].ok']);
    expect((await engine.approvals.list({ workflowId: 'nope' }))).toEqual([]);
    expect((await engine.approvals.list({ limit: 1, offset: 1 })).map((a) => a.path)).toEqual(['each[0].ok']);
    await expect(engine.approvals.list({ limit: 0 })).rejects.toMatchObject({ code: 'invalid_options', message: expect.stringMatching(/"limit"/) });

    // Answered at the path the inbox gives: it leaves the inbox.
    await engine.approve(second, all[2]!.path);
    await until(async () => (await engine.approvals.list()).length === 2);
    expect((await engine.approvals.list()).map((a) => a.path)).toEqual(['send', 'each[0].ok']);
    await engine.cancel(first);
    expect((await engine.approvals.list()).map((a) => a.path)).toEqual(['each[0].ok']);
  });
});

describe('a rejection', () => {
  /** Urgent tickets ask before paging on-call; declining notes it; every ticket gets its reply. */
  const escalation = workflow('escalation', { variables: { urgent: 'boolean' } })
    .when('input.urgent', (b) =>
      b.approval('escalate', { message: 'Page on-call?', onReject: (r) => r.transform('note', { escalated: 'false' }) }).transform('page', { escalated: 'true' }),
    )
    .transform('reply', { replied: 'true' })
    .end({ replied: 'reply.replied' });

  it.each([
    ['rejected: the onReject branch runs instead of what follows, and the chain goes on after it', false, 'note', 'page'],
    ['approved: what follows runs and the onReject branch does not', true, 'page', 'note'],
  ])('%s', async (_name, approve, ran, skipped) => {
    const { engine } = makeEngine();
    const id = await engine.start(escalation, { urgent: true });
    await until(async () => (await engine.get(id))?.status === 'paused');
    await (approve ? engine.approve(id, 'escalate') : engine.reject(id, 'escalate', 'not urgent enough'));
    const run = await engine.wait(id);
    expect(run).toMatchObject({ status: 'completed', output_data: { replied: true } });
    const status = (nodeId: string) => run.execution_trace.find((s) => s.node_id === nodeId)?.status;
    expect([status(ran), status(skipped), status('reply')]).toEqual(['completed', 'skipped', 'completed']);
    expect(run.execution_trace.find((s) => s.node_id === 'escalate')!.output_data).toEqual(approve ? { approved: true, data: null } : { approved: false, reason: 'not urgent enough', data: null });
  });

  it('with no rejected branch ends the run like a terminating end: completed, what runs elsewhere stopped, the rejection in output_data', async () => {
    const calls: ProviderRequest[] = [];
    const { engine } = makeEngine((request) => {
      calls.push(request);
      return new Promise(() => undefined); // in flight until the run stops it
    });
    const completed: TrellisEvents['execution:completed'][] = [];
    engine.events.on('execution:completed', (e) => void completed.push(e));
    const wf = workflow('send').parallel({
      ask: (b) => b.approval('send', { message: 'Send?' }).transform('sent', { sent: 'true' }),
      slow: (b) => b.prompt('summary', { model: 'mock:m', template: 'Summarise' }),
      later: (b) => b.delay('cool_off', HOUR),
    });
    const id = await engine.start(wf, {});
    await until(async () => calls.length === 1 && (await engine.get(id))?.execution_trace.filter((s) => s.status === 'waiting').length === 2);
    await engine.reject(id, 'send', 'wrong tone');
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');
    expect(run.error_message).toBeUndefined();
    expect(run.output_data).toEqual({ rejected: { step: 'send', reason: 'wrong tone' } });
    expect(completed).toEqual([expect.objectContaining({ executionId: id, output: { rejected: { step: 'send', reason: 'wrong tone' } } })]);
    const step = (nodeId: string) => run.execution_trace.find((s) => s.node_id === nodeId);
    expect(step('summary')).toMatchObject({ status: 'failed', error_code: 'cancelled', error_message: 'run ended by the rejection of "send"' });
    expect(calls[0]!.signal.aborted).toBe(true);
    expect(step('cool_off')).toMatchObject({ status: 'skipped' });
    expect(step('sent')).toBeUndefined();
  });

  it('inside a loop iteration names the step path, and a reason left out is null', async () => {
    const { engine } = makeEngine();
    const id = await engine.start(workflow('loop').forEach('[1, 2, 3]', (b) => b.approval('ok'), { id: 'each' }), {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    await engine.approve(id, 'each[0].ok');
    await until(async () => (await engine.approvals.list()).some((a) => a.path === 'each[1].ok'));
    await engine.reject(id, 'each[1].ok');
    expect((await engine.wait(id)).output_data).toEqual({ rejected: { step: 'each[1].ok', reason: null } });
  });

  it("on_timeout 'reject' follows the onReject branch when there is one", async () => {
    const { engine, clock } = makeEngine(() => 'Dear customer');
    const wf = workflow('timeout')
      .approval('send', { timeout_ms: HOUR, on_timeout: 'reject', onReject: (b) => b.transform('shelve', { shelved: 'send.reason' }).end({ shelved: 'shelve.shelved' }, { id: 'shelved' }) })
      .end({ sent: 'true' });
    const id = await engine.start(wf, {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    await clock.advance(HOUR - 1);
    expect((await engine.get(id))!.status).toBe('paused');
    await clock.advance(1);
    const run = await engine.wait(id);
    expect(run).toMatchObject({ status: 'completed', output_data: { shelved: 'timed out' } });
  });

  it("on_timeout 'reject' with no branch ends the run with the timeout as the reason", async () => {
    const { engine, clock } = makeEngine(() => 'Dear customer');
    const id = await engine.start(triage('reject'), TICKET);
    await until(async () => (await engine.get(id))?.status === 'paused');
    await clock.advance(HOUR);
    const run = await engine.wait(id);
    expect(run).toMatchObject({ status: 'completed', output_data: { rejected: { step: 'send', reason: 'timed out' } } });
    expect(run.execution_trace.find((s) => s.node_id === 'sent')).toBeUndefined();
  });

  it("on_timeout 'fail' still fails the run with code timeout", async () => {
    const { engine, clock } = makeEngine(() => 'Dear customer');
    const id = await engine.start(triage('fail'), TICKET);
    await until(async () => (await engine.get(id))?.status === 'paused');
    await clock.advance(HOUR);
    const run = await engine.wait(id);
    expect(run.status).toBe('failed');
    expect(run.execution_trace.find((s) => s.node_id === 'send')).toMatchObject({ status: 'failed', error_code: 'timeout' });
  });
});

describe('the data config key', () => {
  it('the builder writes it into the node config, and onReject as a rejected edge', () => {
    const def = workflow('w')
      .approval('ok', { message: 'Fine?', data: { total: 'input.total' }, onReject: (b) => b.transform('no', { n: '1' }) })
      .end({ done: 'true' })
      .build();
    expect(def.definition.nodes.find((n) => n.id === 'ok')!.config).toEqual({ message: 'Fine?', data: { total: 'input.total' } });
    const edges = def.definition.edges.map((e) => `${e.source_node_id}.${e.source_output} -> ${e.target_node_id}`);
    // Approved goes on to the end; the rejected branch, open at its end, gets an end of its own.
    expect(edges).toEqual(['start.out -> ok', 'ok.out -> end', 'ok.rejected -> no', 'no.out -> end_2']);
  });

  it('types: the onReject branch sees the outputs so far, and its nodes are optional', () => {
    const wf = workflow('t')
      .transform('a', { x: '1' })
      .approval('ok', {
        onReject: (b) => {
          expectTypeOf(b).toEqualTypeOf<WorkflowBuilder<{ a: { x: unknown }; ok: unknown }, UntypedRun>>();
          return b.transform('no', { n: '1' });
        },
      })
      .transform('yes', { y: '1' });
    expectTypeOf<WorkflowOutputs<typeof wf>>().toEqualTypeOf<{ a: { x: unknown }; ok: unknown; no?: { n: unknown }; yes: { y: unknown } }>();
  });

  it('JSON validation checks its expressions and its shape', () => {
    const make = (config: Record<string, unknown>) => ({
      name: 'v',
      definition: { nodes: [node('start', 'start'), node('ok', 'human_approval', config), node('end', 'end')], edges: [edge('start', 'ok'), edge('ok', 'end')] },
    });
    expect(validateWorkflow(make({ data: { total: 'input.total * 2' } })).ok).toBe(true);
    const issues = (config: Record<string, unknown>) => {
      const result = validateWorkflow(make(config));
      return result.ok ? [] : result.issues;
    };
    expect(issues({ data: { total: 'input.total *' } })).toEqual([expect.objectContaining({ code: 'bad_expression', path: ['definition', 'nodes', 1, 'config', 'data', 'total'] })]);
    expect(issues({ data: 'input.total' })).toEqual([expect.objectContaining({ path: ['definition', 'nodes', 1, 'config', 'data'] })]);
  });

  it('is evaluated when the step starts waiting: what it reads is frozen in the wait', async () => {
    const { engine } = makeEngine();
    const wf = workflow('w', { variables: { total: 'number' } })
      .transform('doubled', { total: 'input.total * 2' })
      .approval('ok', { data: { total: 'doubled.total', raw: 'input' } })
      .end({ by: 'ok.data.by' });
    const id = await engine.start(wf, { total: 21 });
    await until(async () => (await engine.approvals.list()).length === 1);
    expect((await engine.approvals.list())[0]!.data).toEqual({ total: 42, raw: { total: 21 } });
    await engine.approve(id, 'ok', { by: 'ana' });
    expect((await engine.wait(id)).output_data).toEqual({ by: 'ana' });
  });
});
