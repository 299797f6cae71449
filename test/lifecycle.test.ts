/**
 * The engine's lifecycle as a host sees it (issue 17, points 3 to 5): a draining close, an
 * AbortSignal on run/start/startStored, waiting for a pause or a step, and listening after start.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, ScriptedProvider, SqliteStorage, workflow, type ProviderRequest } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { makeEngine } from './helpers.js';
import { scratch } from './scratch.js';

const space = scratch('lifecycle');
const engines: Engine[] = [];
afterEach(async () => {
  await Promise.allSettled(engines.splice(0).map((e) => e.close()));
});

/** A provider whose calls wait until the test lets them answer; `seen` counts calls by prompt. */
function gatedProvider() {
  const gates: { prompt: string; signal: AbortSignal; open(): void }[] = [];
  const seen: string[] = [];
  const provider = new ScriptedProvider(async (request: ProviderRequest) => {
    const prompt = String(request.messages.at(-1)?.content ?? '');
    seen.push(prompt);
    await new Promise<void>((resolve, reject) => {
      gates.push({ prompt, signal: request.signal, open: resolve });
      request.signal.addEventListener('abort', () => reject(request.signal.reason), { once: true });
    });
    return `answer to ${prompt}`;
  });
  return { provider, gates, seen };
}

async function callStarted(gates: readonly unknown[], count: number): Promise<void> {
  while (gates.length < count) await new Promise((r) => setImmediate(r));
}

const twoSteps = workflow('two_steps')
  .prompt('first', { model: 'mock:m', template: 'one' })
  .prompt('second', { model: 'mock:m', template: 'two' })
  .end({ text: 'second.text' });

function engineOn(file: string, provider: ScriptedProvider, clock = new FakeClock(), instanceId = 'a'): Engine {
  const engine = new Engine({ storage: new SqliteStorage({ path: file }), providers: { mock: provider }, clock, instanceId });
  engines.push(engine);
  return engine;
}

describe('close({ drainMs })', () => {
  it('lets the call in flight finish and commit, starts nothing new, and the next process does not pay for it again', async () => {
    const file = join(space.dir, 'drain.sqlite');
    const { provider, gates, seen } = gatedProvider();
    const first = engineOn(file, provider);
    const id = await first.start(twoSteps);
    await callStarted(gates, 1);

    const closed = first.close({ drainMs: 60_000 });
    await expect(first.start(twoSteps)).rejects.toMatchObject({ code: 'illegal_state' });
    gates[0]!.open();
    await closed;

    expect(gates[0]!.signal.aborted).toBe(false);
    const next = engineOn(file, new ScriptedProvider(() => 'answer to two'), new FakeClock(), 'b');
    const stored = await next.get(id);
    expect(stored?.status).toBe('running');
    expect(stored?.execution_trace.find((s) => s.node_id === 'first')).toMatchObject({ status: 'completed', output_data: expect.objectContaining({ text: 'answer to one' }) });
    expect(stored?.execution_trace.find((s) => s.node_id === 'second')?.status).not.toBe('running');
    expect(seen).toEqual(['one']); // the second step never started in the closing process

    // Its lease was released at close: the next process takes the run on at once.
    expect(await next.recover()).toEqual([id]);
    const done = await next.wait(id);
    expect(done.status).toBe('completed');
    expect(done.output_data).toEqual({ text: 'answer to two' });
    expect((await next.calls.list({ workflow_execution_id: id })).filter((c) => c.workflow_node_id === 'first')).toHaveLength(1);
  });

  it('aborts what is still executing at the deadline (on the engine clock) and lets the run go', async () => {
    const file = join(space.dir, 'deadline.sqlite');
    const { provider, gates } = gatedProvider();
    const clock = new FakeClock();
    const engine = engineOn(file, provider, clock);
    const id = await engine.start(twoSteps);
    await callStarted(gates, 1);

    let closed = false;
    const closing = engine.close({ drainMs: 10_000 }).then(() => (closed = true));
    await clock.advance(9_999);
    expect(closed).toBe(false);
    await clock.advance(1);
    await closing;
    expect(gates[0]!.signal.aborted).toBe(true);

    const next = engineOn(file, new ScriptedProvider(() => 'again'), new FakeClock(), 'b');
    const run = await next.get(id);
    expect(run?.status).toBe('running');
    expect(await next.recover()).toEqual([id]);
    expect((await next.wait(id)).status).toBe('completed');
  });

  it('a close without drainMs aborts the call in flight at once', async () => {
    const { provider, gates } = gatedProvider();
    const engine = engineOn(join(space.dir, 'quick.sqlite'), provider);
    await engine.start(twoSteps);
    await callStarted(gates, 1);
    await engine.close();
    expect(gates[0]!.signal.aborted).toBe(true);
  });

  it('a waiter of a run the engine let go rejects, saying so', async () => {
    const { provider, gates } = gatedProvider();
    const engine = engineOn(join(space.dir, 'waiters.sqlite'), provider);
    const unfinished = engine.run(twoSteps);
    const rejected = expect(unfinished).rejects.toMatchObject({ code: 'illegal_state', message: expect.stringContaining('closed') });
    await callStarted(gates, 1);
    const closing = engine.close({ drainMs: 60_000 });
    gates[0]!.open();
    await closing;
    await rejected;
  });
});

describe('AbortSignal on run, start and startStored', () => {
  it('an aborted signal stores nothing', async () => {
    const { engine, storage } = makeEngine();
    engines.push(engine);
    const wf = workflow('w').prompt('p', { model: 'mock:m', template: 'x' }).end({ t: 'p.text' });
    await expect(engine.start(wf, {}, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(engine.run(wf, {}, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    await engine.workflows.store(wf);
    await expect(engine.startStored('w', {}, { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
    expect(await storage.listRuns({})).toEqual([]);
  });

  it('aborting mid-run cancels the run, aborts its call, and run() rejects with the reason', async () => {
    const { provider, gates } = gatedProvider();
    const { engine } = makeEngine(undefined, { providers: { mock: provider } });
    engines.push(engine);
    const controller = new AbortController();
    const running = engine.run(twoSteps, {}, { signal: controller.signal });
    await callStarted(gates, 1);
    controller.abort(new Error('the client went away'));
    await expect(running).rejects.toThrow('the client went away');
    expect(gates[0]!.signal.aborted).toBe(true);
    const [run] = await engine.list({});
    expect(run).toMatchObject({ status: 'cancelled', error_message: 'the client went away' });
  });

  it('start() and startStored() tie the run to the signal until it ends', async () => {
    const { engine } = makeEngine();
    engines.push(engine);
    const review = workflow('review').approval('ok', { message: 'Ship it?' }).end({ ok: 'ok.approved' });
    await engine.workflows.store(review);
    const a = new AbortController();
    const b = new AbortController();
    const first = await engine.start(review, {}, { signal: a.signal });
    const second = await engine.startStored('review', {}, { signal: b.signal });
    await engine.wait(first, { until: 'paused' });
    a.abort();
    expect(await engine.wait(first)).toMatchObject({ status: 'cancelled' });

    // A run that ended is left alone by a later abort.
    await engine.wait(second, { until: 'paused' });
    await engine.approve(second, 'ok');
    expect((await engine.wait(second)).status).toBe('completed');
    b.abort();
    await new Promise((r) => setImmediate(r));
    expect((await engine.get(second))?.status).toBe('completed');
  });
});

describe('wait(id, { until }) and listening after start', () => {
  const triage = workflow('triage')
    .prompt('classify', { model: 'mock:m', template: 'classify' })
    .approval('escalate', { message: 'Escalate?' })
    .prompt('reply', { model: 'mock:m', template: 'reply' })
    .end({ text: 'reply.text' });

  it('resolves when the run pauses for an approval, when a step waits or ends, and at the end', async () => {
    const { engine } = makeEngine();
    engines.push(engine);
    const id = await engine.start(triage);
    const paused = await engine.wait(id, { until: 'paused' });
    expect(paused.status).toBe('paused');
    expect(paused.execution_trace.find((s) => s.node_id === 'escalate')?.status).toBe('waiting');
    expect((await engine.wait(id, { until: 'waiting' })).status).toBe('paused');
    expect((await engine.wait(id, { until: { step: 'classify' } })).execution_trace.find((s) => s.node_id === 'classify')?.status).toBe('completed');

    const replied = engine.wait(id, { until: { step: 'reply' } });
    await engine.approve(id, 'escalate');
    expect((await replied).execution_trace.find((s) => s.node_id === 'reply')?.status).toBe('completed');
    expect((await engine.wait(id)).status).toBe('completed');
  });

  it('resolves at the end when the point is never reached', async () => {
    const { engine } = makeEngine();
    engines.push(engine);
    const id = await engine.start(workflow('plain').prompt('p', { model: 'mock:m', template: 'x' }).end({ t: 'p.text' }));
    expect((await engine.wait(id, { until: 'paused' })).status).toBe('completed');
  });

  it('sees a run driven by another engine on the same storage, by reading it', async () => {
    const file = join(space.dir, 'other.sqlite');
    const driver = engineOn(file, new ScriptedProvider(() => 'x'), new FakeClock(), 'driver');
    const watcher = engineOn(file, new ScriptedProvider(() => 'x'), new FakeClock(), 'watcher');
    const id = await driver.start(triage);
    expect((await watcher.wait(id, { until: 'paused', pollMs: 5 })).status).toBe('paused');
  });

  it('stops waiting when its signal aborts, the run going on', async () => {
    const { engine } = makeEngine();
    engines.push(engine);
    const id = await engine.start(triage);
    const stop = new AbortController();
    const waiting = engine.wait(id, { signal: stop.signal });
    stop.abort();
    await expect(waiting).rejects.toMatchObject({ name: 'AbortError' });
    expect((await engine.wait(id, { until: 'paused' })).status).toBe('paused');
  });

  it('a listener added right after start() sees the run from its first event', async () => {
    const { engine } = makeEngine();
    engines.push(engine);
    const id = await engine.start(triage);
    const seen: string[] = [];
    engine.events.on('execution:started', (e) => void (e.executionId === id && seen.push('started')));
    engine.events.on('node:completed', (e) => void (e.executionId === id && seen.push(`completed ${e.nodeId}`)));
    const waiting = await engine.events.next('node:waiting', (e) => e.executionId === id);
    expect(waiting.nodeId).toBe('escalate');
    expect(seen).toEqual(['started', 'completed classify']);
  });

  it('a listener added right after start() of a run with an idempotency key sees it too', async () => {
    const { engine } = makeEngine();
    engines.push(engine);
    const id = await engine.start(triage, {}, { idempotencyKey: 'ticket-1' });
    const started = await engine.events.next('execution:started', (e) => e.executionId === id);
    expect(started.executionId).toBe(id);
    await engine.events.next('node:waiting', (e) => e.executionId === id);
  });
});
