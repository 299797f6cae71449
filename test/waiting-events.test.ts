/**
 * What a UI driven by events sees of a run that waits: an approval answered resumes the run
 * (`execution:resumed`), a retry backoff is a wait (`node:waiting`, kind `retry`), and resuming a
 * run that waits for a person says what it waits for instead of doing nothing.
 */
import { describe, expect, it } from 'vitest';
import { ScriptedProvider, workflow } from '../src/index.js';
import { makeEngine, recordEvents, until } from './helpers.js';

describe('waiting, as events and run control tell it', () => {
  it('approving a run paused for a person emits execution:resumed', async () => {
    const { engine } = makeEngine();
    const id = await engine.start(workflow('gate').approval('gate').transform('after', { ok: 'true' }).end(), {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    const seen = recordEvents(engine, ['execution:resumed', 'execution:completed']);
    await engine.approve(id, 'gate');
    expect((await engine.wait(id)).status).toBe('completed');
    expect(seen).toEqual(['execution:resumed', 'execution:completed']);
  });

  it('resuming a run that waits for approval is refused with what it waits for', async () => {
    const { engine } = makeEngine();
    const id = await engine.start(workflow('gate').approval('gate').end(), {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    await expect(engine.resume(id)).rejects.toMatchObject({ code: 'illegal_state', details: { waiting: ['gate'] } });
    await engine.approve(id, 'gate');
    expect((await engine.wait(id)).status).toBe('completed');
  });

  it('a retry backoff is announced as node:waiting with kind retry and its due time', async () => {
    let calls = 0;
    const { engine, clock } = makeEngine(() => (++calls === 1 ? ScriptedProvider.fail('rate_limit', 'slow down') : 'ok'));
    const waits: { kind: string; dueAt?: number }[] = [];
    engine.events.on('node:waiting', (e) => void waits.push({ kind: e.kind, ...(e.dueAt === undefined ? {} : { dueAt: e.dueAt }) }));
    const id = await engine.start(workflow('r').prompt('p', { model: 'mock:m', template: 'x', retry: { max_attempts: 2, delay_ms: 1000 } }).end(), {});
    await until(() => waits.length === 1);
    expect(waits[0]).toEqual({ kind: 'retry', dueAt: expect.any(Number) });
    await clock.advance(60_000);
    expect((await engine.wait(id)).status).toBe('completed');
  });
});
