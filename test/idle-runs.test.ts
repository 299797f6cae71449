/**
 * Issue 20: waiting runs are not held in memory. A run that only waits (approvals, events, timers,
 * a user's pause) is parked once its state is committed: its controller is let go, and it is
 * stored unowned with its wake time; whatever wakes it (an approval or event here or on another
 * process, its timer, resume, cancel) claims it and loads it from storage again. The counts here
 * are of the hot-run registry (`metrics().runtime.active_runs`), never of memory: memory is bench:idle's.
 */
import { describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, ScriptedProvider, workflow, type Storage } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { CHILD_CHECK_MIN_MS, PARKED_UNTIL_WOKEN } from '../src/planner/run-parking.js';
import { until } from './helpers.js';
import { scratch } from './scratch.js';
import { scratchStorages } from './scratch-storages.js';

const area = scratch('idle_runs');
const { kinds, sameDatabase } = scratchStorages(area);
const DAY = 86_400_000;

const approve = () => workflow('approve', { variables: { n: 'number' } }).approval('ok').transform('after', { n: 'input.n' }).end({ n: 'after.n' });

function engineOn(storage: Storage, extra: Partial<ConstructorParameters<typeof Engine>[0]> = {}) {
  const clock = new FakeClock();
  const engine = new Engine({ storage, providers: { mock: new ScriptedProvider(() => 'ok') }, clock, ...extra });
  return { engine, clock };
}

const statusOf = async (storage: Storage, id: string) => (await storage.getRun(id))?.status;

describe.each(kinds)('runs waiting for approvals are parked, not held (%s)', (kind, make) => {
  // Enough to show that nothing is held per run; fewer on the databases, whose round trips are slower.
  const N = kind === 'memory' ? 2000 : 200;

  it(`holds none of ${N} runs waiting for approvals, and every one completes once approved`, async () => {
    const storage = make();
    const { engine } = engineOn(storage);
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push(await engine.start(approve(), { n: i }));
    await until(async () => engine.metrics().runtime.active_runs === 0 && (await storage.listRuns({ status: 'paused', limit: N + 1 })).length === N, 60_000);
    // Parked: unowned, no timer (only a person moves it), no orphan for anyone's recovery.
    const parked = await storage.getRun(ids[0]!);
    expect(parked).toMatchObject({ status: 'paused', lease_expires_at: PARKED_UNTIL_WOKEN });
    expect(parked?.owner).toBeUndefined();
    expect(await storage.findOrphanRuns(Date.now() + DAY, 10)).toEqual([]);
    expect(await engine.recover()).toEqual([]);
    expect(engine.metrics().runtime.active_runs).toBe(0);
    // Approving loads each run again, claims it, and it runs to its end.
    for (let i = 0; i < ids.length; i += 50) await Promise.all(ids.slice(i, i + 50).map((id) => engine.approve(id, 'ok')));
    await until(async () => (await storage.listRuns({ status: 'completed', limit: N + 1 })).length === N, 60_000);
    expect((await engine.wait(ids[N - 1]!)).output_data).toEqual({ n: N - 1 });
    expect(engine.metrics().runtime.active_runs).toBe(0);
    await engine.close();
  }, 120_000);

  it('engine.wait() on a run that gets parked resolves once another engine on the same database approves it', async () => {
    if (kind === 'memory') return; // one storage object per process: shown with two engines on the same database
    const storage = make();
    const { engine: a } = engineOn(storage, { instanceId: 'a' });
    const { engine: b } = engineOn(sameDatabase(storage), { instanceId: 'b' });
    const id = await a.start(approve(), { n: 7 });
    const waited = a.wait(id, { pollMs: 10 });
    await until(async () => a.metrics().runtime.active_runs === 0 && (await statusOf(storage, id)) === 'paused');
    // Another process wakes it: the parked run is unowned, so its claim succeeds at once.
    await b.approve(id, 'ok');
    expect((await waited).output_data).toEqual({ n: 7 });
    expect((await b.get(id))?.status).toBe('completed');
    await Promise.all([a.close(), b.close()]);
  });
});

describe('every way a parked run is woken', () => {
  it('a timer: a 30-day delay and a 30-day approval timeout fire on the fake clock from one process-wide timer', async () => {
    const storage = new MemoryStorage();
    const { engine, clock } = engineOn(storage);
    const start = clock.now();
    const delayed = await engine.start(workflow('d').delay('wait', 30 * DAY).end({ done: 'true' }), {});
    const timeout = await engine.start(workflow('a').approval('review', { timeout_ms: 31 * DAY, on_timeout: 'approve' }).end({ ok: 'review.approved' }), {});
    await until(async () => engine.metrics().runtime.active_runs === 0 && (await storage.getRun(timeout))?.status === 'paused' && (await storage.getRun(delayed))?.lease_expires_at !== undefined);
    expect((await storage.getRun(delayed))?.lease_expires_at).toBe(start + 30 * DAY);
    expect((await storage.getRun(timeout))?.lease_expires_at).toBe(start + 31 * DAY);
    await clock.advance(30 * DAY - 1000);
    expect(engine.metrics().runtime.active_runs).toBe(0);
    await clock.advance(1000);
    expect((await engine.wait(delayed)).output_data).toEqual({ done: true });
    expect((await engine.get(timeout))?.status).toBe('paused');
    await clock.advance(DAY);
    expect((await engine.wait(timeout)).output_data).toEqual({ ok: true });
    await engine.close();
  });

  it('an event, resume after a pause, and cancel', async () => {
    const storage = new MemoryStorage();
    const { engine } = engineOn(storage);
    const onEvent = await engine.start(workflow('e').waitForEvent('paid', { event: 'invoice.paid' }).end({ amount: 'paid.payload.amount' }), {});
    const paused = await engine.start(workflow('p').waitForEvent('go', { event: 'go' }).end(), {});
    const cancelled = await engine.start(approve(), { n: 1 });
    await until(async () => engine.metrics().runtime.active_runs === 0 && (await storage.getRun(cancelled))?.status === 'paused');
    expect(await engine.emit('invoice.paid', { amount: 12 })).toContain(onEvent);
    expect((await engine.wait(onEvent)).output_data).toEqual({ amount: 12 });
    // A user's pause parks too; resume loads it, and it waits (parked) again.
    await until(() => engine.metrics().runtime.active_runs === 0);
    await engine.pause(paused);
    await until(() => engine.metrics().runtime.active_runs === 0);
    expect(await statusOf(storage, paused)).toBe('paused');
    await engine.resume(paused);
    expect(await statusOf(storage, paused)).toBe('running');
    await engine.emit('go', {});
    expect((await engine.wait(paused)).status).toBe('completed');
    await engine.cancel(cancelled, 'not needed');
    expect((await engine.get(cancelled))?.status).toBe('cancelled');
    await until(() => engine.metrics().runtime.active_runs === 0);
    await engine.close();
  });

  it('a restart: a new engine (another instance id) on the same storage approves what the closed one parked', async () => {
    const storage = new MemoryStorage();
    const { engine: first } = engineOn(storage, { instanceId: 'first' });
    const id = await first.start(approve(), { n: 3 });
    await until(async () => first.metrics().runtime.active_runs === 0 && (await statusOf(storage, id)) === 'paused');
    await first.close();
    const { engine: second } = engineOn(storage, { instanceId: 'second' });
    expect(await second.recover()).toEqual([]); // parked: no orphan
    await second.approve(id, 'ok');
    expect((await second.wait(id)).output_data).toEqual({ n: 3 });
    await second.close();
  });

  it('a fleet: a run parked by a worker is approved on a submit-only engine and finished by a worker', async () => {
    const storage = new MemoryStorage();
    const { engine: submit } = engineOn(storage, { role: 'submit', instanceId: 'submit' });
    const { engine: worker } = engineOn(storage, { role: 'worker', instanceId: 'worker' });
    await worker.startBackground();
    const id = await submit.start(approve(), { n: 5 });
    await until(async () => worker.metrics().runtime.active_runs === 0 && (await statusOf(storage, id)) === 'paused' && (await storage.getRun(id))?.owner === undefined);
    // The decision goes to the run's inbox and is announced: a worker claims the parked run and applies it.
    await submit.approve(id, 'ok');
    expect((await submit.wait(id, { pollMs: 5 })).output_data).toEqual({ n: 5 });
    await Promise.all([submit.close(), worker.close()]);
  });
});

describe.each(kinds)('a parent waiting on a child run is parked too (%s)', (_kind, make) => {
  const child = () => workflow('child', { id: 'child', variables: { n: 'number' } }).approval('ok').transform('twice', { n: 'input.n * 2' }).end({ n: 'twice.n' });
  const parent = () => workflow('parent', { variables: { n: 'number' } }).subWorkflow('call', { workflow_id: 'child', input_mapping: { n: 'input.n' } }).end({ got: 'call.output.n' });

  it("holds neither while the child waits on a person; the child's end loads and finishes the parent", async () => {
    const storage = make();
    const { engine } = engineOn(storage);
    await engine.workflows.create(child());
    const ids = await Promise.all([1, 2, 3].map((n) => engine.start(parent(), { n })));
    await until(async () => engine.metrics().runtime.active_runs === 0 && (await storage.listRuns({ workflow_id: 'child', status: 'paused' })).length === 3);
    // Let go from memory first, then stored unowned (the parking write lands a moment later).
    await until(async () => (await Promise.all(ids.map((id) => storage.getRun(id)))).every((run) => run?.status === 'running' && run.owner === undefined));
    for (const kid of await storage.listRuns({ workflow_id: 'child' })) await engine.approve(kid.id, 'ok');
    const ended = await Promise.all(ids.map((id) => engine.wait(id)));
    expect(ended.map((r) => r.output_data)).toEqual([{ got: 2 }, { got: 4 }, { got: 6 }]);
    await engine.close();
  });

  it('a parent whose child is driven here stays loaded until the child is parked (no park and reload per call)', async () => {
    const storage = make();
    const parks: string[] = [];
    const watched = new Proxy(storage, {
      get: (target, key) => {
        const value: unknown = Reflect.get(target, key);
        if (key === 'updateRun') return (id: string, patch: { owner?: unknown }, expect?: unknown) => ('owner' in patch && patch.owner === undefined && parks.push(id), target.updateRun(id, patch as never, expect as never));
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    // The child's call answers a few turns of the event loop later, after the parent's parking check.
    const slow = new ScriptedProvider(async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return 'ok';
    });
    const { engine } = engineOn(watched, { providers: { mock: slow } });
    await engine.workflows.create(workflow('quick', { id: 'quick', variables: { n: 'number' } }).prompt('ask', { model: 'mock:m', template: 'x' }).transform('twice', { n: 'input.n * 2' }).end({ n: 'twice.n' }));
    const quick = workflow('parent', { variables: { n: 'number' } }).subWorkflow('call', { workflow_id: 'quick', input_mapping: { n: 'input.n' } }).end({ got: 'call.output.n' });
    const runs = await Promise.all([1, 2, 3, 4].map((n) => engine.run(quick, { n })));
    expect(runs.map((r) => r.output_data)).toEqual([{ got: 2 }, { got: 4 }, { got: 6 }, { got: 8 }]);
    expect(parks).toEqual([]);
    await engine.close();
  });

  it("a parent whose child's wake-up was lost (the child ended while no process told it) looks again on its own", async () => {
    const storage = make();
    const { engine, clock } = engineOn(storage);
    await engine.workflows.create(child());
    const id = await engine.start(parent(), { n: 5 });
    await until(async () => engine.metrics().runtime.active_runs === 0 && (await storage.listRuns({ workflow_id: 'child', status: 'paused' })).length === 1);
    // Parked (unowned) until its own look at the child, a minute on.
    await until(async () => (await storage.getRun(id))?.lease_expires_at === clock.now() + CHILD_CHECK_MIN_MS);
    expect((await storage.getRun(id))?.owner).toBeUndefined();
    // The child ends behind the engine's back, as when its process died between its last commit and the wake-up.
    const [kid] = await storage.listRuns({ workflow_id: 'child' });
    await storage.updateRun(kid!.id, { status: 'completed', output_data: { n: 50 }, completed_at: clock.now() });
    await clock.advance(CHILD_CHECK_MIN_MS - 1000);
    expect((await storage.getRun(id))?.status).toBe('running');
    await clock.advance(1000);
    expect((await engine.wait(id)).output_data).toEqual({ got: 50 });
    await engine.close();
  });
});
