import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { workflow, Engine, sequentialIds, ScriptedProvider, SqliteStorage } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { concurrencyProbe, makeEngine, until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-waits-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Two engines on one SQLite file: the first "dies" (is abandoned), the second recovers after the lease. */
function pair(name: string) {
  const path = join(dir, `${name}.sqlite`);
  const clock = new FakeClock();
  const mockA = new ScriptedProvider((r) => `A:${r.prompt}`);
  const mockB = new ScriptedProvider((r) => `B:${r.prompt}`);
  const a = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: mockA }, clock, leaseMs: 1000, instanceId: 'A', ids: sequentialIds() });
  const later = new FakeClock(clock.now());
  const b = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: mockB }, clock: later, leaseMs: 1000, instanceId: 'B' });
  return { a, b, clock, later, mockA, mockB };
}

describe('sub-workflows', () => {
  it('runs a stored workflow as a child with its own trace, linked to the parent', async () => {
    const { engine } = makeEngine((r) => r.prompt.toUpperCase());
    await engine.workflows.create(workflow('child', { id: 'child' }).prompt('shout', { model: 'mock:m', template: '{{input.word}}' }).end({ loud: 'shout.text' }));
    const parent = workflow('parent').subWorkflow('call', { workflow_id: 'child', input_mapping: { word: 'input.w' } }).end({ got: 'call.output.loud' });
    const run = await engine.run(parent, { w: 'hi' });
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ got: 'HI' });
    const [child] = (await engine.list({ workflow_id: 'child' }));
    expect(child).toMatchObject({ parent_id: run.id, parent_step_path: 'call', status: 'completed' });
    expect((await engine.get(child!.id))!.execution_trace.map((s) => s.node_id)).toEqual(['start', 'shout', 'end']);
  });

  it('a failing child fails the parent step; cancelling the parent cancels the child', async () => {
    const { engine } = makeEngine(() => ScriptedProvider.fail('auth', 'bad key'));
    await engine.workflows.create(workflow('bad', { id: 'bad' }).prompt('p', { model: 'mock:m', template: 'x' }));
    const run = await engine.run(workflow('parent').subWorkflow('call', { workflow_id: 'bad' }), {});
    expect(run.status).toBe('failed');
    expect(run.error_message).toMatch(/Sub-workflow "bad" failed/);

    const { engine: e2 } = makeEngine();
    await e2.workflows.create(workflow('waits', { id: 'waits' }).approval('gate'));
    const id = await e2.start(workflow('parent2').subWorkflow('call', { workflow_id: 'waits' }), {});
    await until(async () => (await e2.list({ workflow_id: 'waits' }))[0]?.status === 'paused');
    await e2.cancel(id);
    const [child] = await e2.list({ workflow_id: 'waits' });
    expect((await e2.wait(child!.id)).status).toBe('cancelled');
  });
});

describe('one step budget per run, shared with sub-workflows', () => {
  it('settings.max_concurrency bounds the steps of the run and of its child runs together', async () => {
    const probe = concurrencyProbe(3);
    const { engine } = makeEngine(probe.answer);
    await engine.workflows.create(
      workflow('pair', { id: 'pair', settings: { max_concurrency: 10 } }).parallel({ a: (b) => b.prompt('pa', { model: 'mock:m', template: 'a' }), b: (b) => b.prompt('pb', { model: 'mock:m', template: 'b' }) }),
    );
    const parent = workflow('fan', { settings: { max_concurrency: 2 } }).forEach('[1,2,3,4]', (b) => b.subWorkflow('child', { workflow_id: 'pair' }), { concurrency: 4 });
    const run = await engine.run(parent, {});
    expect(run.status).toBe('completed');
    expect(probe.peak).toBe(2);
  });
});

describe('wait_for_event', () => {
  it('waits mid-flow for a matching event and passes its payload on', async () => {
    const { engine } = makeEngine();
    const wf = workflow('ev').waitForEvent('paid', { event: 'invoice.paid', filter: 'event.invoice == input.invoice' }).end({ amount: 'paid.payload.amount' });
    const id = await engine.start(wf, { invoice: 'A-1' });
    await until(async () => (await engine.get(id))?.execution_trace.some((s) => s.status === 'waiting') ?? false);
    await engine.emit('invoice.paid', { invoice: 'B-2', amount: 1 });
    expect((await engine.get(id))!.status).toBe('running');
    await engine.emit('invoice.paid', { invoice: 'A-1', amount: 42 });
    expect((await engine.wait(id)).output_data).toEqual({ amount: 42 });
  });

  it('times out when nothing matching arrives', async () => {
    const { engine, clock } = makeEngine();
    const id = await engine.start(workflow('ev').waitForEvent('w', { event: 'never', timeout_ms: 5000 }), {});
    await until(async () => (await engine.get(id))?.execution_trace.some((s) => s.status === 'waiting') ?? false);
    await clock.advance(5000);
    const run = await engine.wait(id);
    expect(run.status).toBe('failed');
    expect(run.error_message).toMatch(/No "never" event/);
  });
});

describe('durable waits across a process death', () => {
  it('a delay fires on time in a fresh engine, or at once when past due', async () => {
    const { a, b, clock, later } = pair('delay');
    const id = await a.start(workflow('d').delay('wait', 60_000).transform('after', { ok: 'true' }), {});
    await until(async () => (await a.get(id))?.execution_trace.some((s) => s.status === 'waiting') ?? false);
    // A parks the run (it only waits), stored with its wake time. Process A dies here. B starts
    // 2 s later: the run is no orphan (nothing to take on before its timer); it is due at 60 s.
    void clock;
    await until(async () => (await b.get(id)) !== undefined && a.metrics().runtime.active_runs === 0);
    await later.advance(2000);
    expect(await b.recover()).toEqual([]);
    await later.advance(57_999);
    expect(await b.recover()).toEqual([]);
    expect((await b.get(id))!.status).toBe('running');
    await later.advance(1);
    expect(await b.recover()).toEqual([id]);
    expect((await b.wait(id)).status).toBe('completed');
  });

  it('an approval survives the restart and is addressed by path inside a loop', async () => {
    const { a, b, later, mockB } = pair('approval');
    const wf = workflow('review')
      .forEach('["x","y"]', (body) => body.prompt('draft', { model: 'mock:m', template: 'draft {{item}}' }).approval('approve'), { id: 'review_loop' })
      .end({ out: 'review_loop' });
    const id = await a.start(wf, {});
    await until(async () => (await a.get(id))?.status === 'paused');
    await later.advance(2000);
    // B finds the run paused (not orphaned): approving loads it from storage by path.
    await b.approve(id, 'review_loop[0].approve', { ok: 1 });
    await until(async () => (await b.get(id))?.execution_trace.some((s) => s.path === 'review_loop[1].approve' && s.status === 'waiting') ?? false);
    await expect(b.approve(id, 'review_loop[0].approve')).rejects.toMatchObject({ code: 'illegal_state' });
    await b.approve(id, 'approve', { ok: 2 });
    const run = await b.wait(id);
    expect(run.status).toBe('completed');
    // The draft of item 0 ran in A before the death and was not redone by B.
    expect(mockB.calls.map((c) => c.prompt)).toEqual(['draft y']);
    expect(run.output_data).toEqual({ out: [{ approved: true, data: { ok: 1 } }, { approved: true, data: { ok: 2 } }] });
  });

  it('close() releases the claim: another engine can act on the run at once, without waiting for the lease', async () => {
    const { a, b } = pair('handover');
    const id = await a.start(workflow('h').approval('gate').end({ ok: 'gate.approved' }), {});
    await until(async () => (await a.get(id))?.status === 'paused');
    await a.close();
    // B's clock has not moved: A's lease would still hold had close() not released it.
    await b.approve(id, 'gate');
    expect((await b.wait(id)).output_data).toEqual({ ok: true });
  });

  it('wait() gives up when its signal aborts, leaving the run alone', async () => {
    const { engine } = makeEngine();
    const id = await engine.start(workflow('w').approval('gate'), {});
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop waiting')), 20);
    await expect(engine.wait(id, { signal: controller.signal })).rejects.toThrow('stop waiting');
    expect((await engine.get(id))!.status).toBe('paused');
  });

  it('a retry backoff in progress resumes in the fresh engine', async () => {
    const path = join(dir, 'retry.sqlite');
    const clock = new FakeClock();
    const a = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: new ScriptedProvider([ScriptedProvider.fail('provider_5xx', 'boom')]) }, clock, leaseMs: 1000 });
    const mockB = new ScriptedProvider(['recovered']);
    const later = new FakeClock(clock.now());
    const b = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: mockB }, clock: later, leaseMs: 1000 });
    const id = await a.start(workflow('r').prompt('p', { model: 'mock:m', template: 'x', retry: { max_attempts: 3, delay_ms: 10_000, jitter: false } }), {});
    await until(async () => ((await a.get(id))?.execution_trace.some((s) => s.status === 'waiting') ?? false) && a.metrics().runtime.active_runs === 0);
    // Parked until its backoff ends: B takes it on then, not when A's lease would have run out.
    await later.advance(2000);
    expect(await b.recover()).toEqual([]);
    await later.advance(8000);
    expect(await b.recover()).toEqual([id]);
    const run = await b.wait(id);
    expect(run.status).toBe('completed');
    expect(run.execution_trace.find((s) => s.node_id === 'p')).toMatchObject({ attempt: 2 });
    expect(mockB.calls[0]!.idempotencyKey).toBe(`${id}:p:2`);
  });
});

describe('nesting matrix', () => {
  it('loop × parallel × approval: approvals inside parallel branches inside a loop, addressed by path', async () => {
    const { engine } = makeEngine((r) => r.prompt);
    const wf = workflow('matrix')
      .forEach(
        '[1,2]',
        (body) => body.parallel({ left: (p) => p.approval('ok_left'), right: (p) => p.prompt('auto', { model: 'mock:m', template: 'r{{item}}' }) }, { id: 'both' }),
        { id: 'outer', concurrency: 2 },
      )
      .end({ out: 'outer' });
    const id = await engine.start(wf, {});
    await until(async () => (await engine.get(id))?.execution_trace.filter((s) => s.status === 'waiting').length === 2);
    await expect(engine.approve(id, 'ok_left')).rejects.toThrow(/several paths/);
    await engine.approve(id, 'outer[1].ok_left', { n: 1 });
    await engine.approve(id, 'outer[0].ok_left', { n: 0 });
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({
      out: [
        { left: { approved: true, data: { n: 0 } }, right: { text: 'r1' } },
        { left: { approved: true, data: { n: 1 } }, right: { text: 'r2' } },
      ],
    });
  });

  it('loop × sub-workflow × condition', async () => {
    const { engine } = makeEngine((r) => r.prompt);
    await engine.workflows.create(
      workflow('inner', { id: 'inner' })
        .when('input.n > 1', (b) => b.transform('big', { v: "'big'" }), (b) => b.transform('small', { v: "'small'" }))
        .end({ size: "default(big.v, small.v)" }),
    );
    const wf = workflow('outer').forEach('[1,2,3]', (b) => b.subWorkflow('call', { workflow_id: 'inner', input_mapping: { n: 'item' } }), { id: 'each', concurrency: 3 }).end({ sizes: 'each.map(x, x.output.size)' });
    const run = await engine.run(wf, {});
    expect(run.output_data).toEqual({ sizes: ['small', 'big', 'big'] });
  });
});
