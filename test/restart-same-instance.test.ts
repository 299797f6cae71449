/**
 * A process that restarts with the instance id that owned the runs takes them on at once, instead
 * of waiting out its previous life's leases; a process with another id still waits for them.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine, ScriptedProvider, SqliteStorage, workflow } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { scratch } from './scratch.js';

const { dir } = scratch('restart');

describe('restarting with the same instance id', () => {
  it('recovers the runs the previous process held at once; another id waits for the lease', async () => {
    const path = join(dir, 'restart.sqlite');
    const clock = new FakeClock();
    const provider = new ScriptedProvider(() => 'ok');
    const before = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: provider }, clock, instanceId: 'svc', leaseMs: 30_000 });
    const id = await before.start(workflow('long').delay('wait', 60_000).prompt('p', { model: 'mock:m', template: 'x' }).end({ done: 'p.text' }), {});
    await expect.poll(async () => (await before.get(id))?.execution_trace.find((s) => s.node_id === 'wait')?.status).toBe('waiting');
    // The process dies: its leases stay live for 30 s. (Its engine is left as it is, on a clock of
    // its own that never moves again, like a process that is gone.)
    const later = new FakeClock(clock.now());

    const stranger = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: provider }, clock: later, instanceId: 'other', leaseMs: 30_000 });
    expect(await stranger.recover()).toEqual([]);
    await stranger.close();

    const after = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: provider }, clock: later, instanceId: 'svc', leaseMs: 30_000 });
    expect(await after.recover()).toEqual([id]);
    await later.advance(60_000);
    expect((await after.wait(id)).output_data).toEqual({ done: 'ok' });
    await after.close();
  });
});

describe('two live processes sharing one instance id by mistake', () => {
  it('the one whose claim is older is fenced: its late commits are refused and no step runs twice', async () => {
    const path = join(dir, 'shared-id.sqlite');
    const oldClock = new FakeClock();
    const provider = new ScriptedProvider(() => 'ok');
    const old = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: provider }, clock: oldClock, instanceId: 'svc', leaseMs: 30_000 });
    const id = await old.start(workflow('long').delay('wait', 60_000).prompt('p', { model: 'mock:m', template: 'x' }).end({ done: 'p.text' }), {});
    await expect.poll(async () => (await old.get(id))?.execution_trace.find((s) => s.node_id === 'wait')?.status).toBe('waiting');

    const newClock = new FakeClock(oldClock.now());
    const twin = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: provider }, clock: newClock, instanceId: 'svc', leaseMs: 30_000 });
    expect(await twin.recover()).toEqual([id]);
    // Both are alive and both timers come due: the older driver's commit is refused.
    await oldClock.advance(60_000);
    await newClock.advance(60_000);
    expect((await twin.wait(id)).output_data).toEqual({ done: 'ok' });
    expect(provider.calls).toHaveLength(1);
    await Promise.all([old.close(), twin.close()]);
  });
});
