/**
 * Timers of any length: Node's setTimeout fires a delay of 2^31 ms (about 24.8 days) or more after
 * 1 ms, so the system clock splits long waits. On the fake clock (the engine) nothing fires early
 * and each wait fires once its time has passed; on the system clock (under vitest's fake timers,
 * which clamp as Node does) a 30-day timer re-arms instead of firing.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Engine, PostgresStorage, ScriptedProvider, workflow } from '../src/index.js';
import { MAX_TIMEOUT_MS, sleep, systemClock } from '../src/kernel/clock.js';
import { FakeClock } from '../src/testing/index.js';
import { makeEngine, until } from './helpers.js';
import { scratch } from './scratch.js';

const DAY = 86_400_000;
const THIRTY_DAYS = 30 * DAY;
/** Background loops (recovery polls, lease renewals) at a day's pace: a month of them at 1 s would be slow to fire. */
const SLOW_LOOPS = { pollIntervalMs: DAY, leaseMs: 3 * DAY };

describe('long timers on the engine (fake clock)', () => {
  it('a 30-day delay waits 30 days', async () => {
    const { engine, clock } = makeEngine(undefined, SLOW_LOOPS);
    const id = await engine.start(workflow('d').delay('wait', THIRTY_DAYS).end({ done: 'true' }), {});
    await until(async () => (await engine.get(id))?.execution_trace.some((s) => s.node_id === 'wait' && s.status === 'waiting') === true);
    await clock.advance(THIRTY_DAYS - 1000);
    expect((await engine.get(id))?.status).not.toBe('completed');
    await clock.advance(1000);
    expect((await engine.wait(id)).status).toBe('completed');
  });

  it('an approval with a 30-day timeout and on_timeout approve is not approved early', async () => {
    const { engine, clock } = makeEngine(undefined, SLOW_LOOPS);
    const wf = workflow('a').approval('review', { timeout_ms: THIRTY_DAYS, on_timeout: 'approve' }).end({ ok: 'review.approved' });
    const id = await engine.start(wf, {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    await clock.advance(THIRTY_DAYS - 1000);
    expect((await engine.get(id))?.status).toBe('paused');
    await clock.advance(1000);
    expect((await engine.wait(id)).output_data).toEqual({ ok: true });
  });

  it('a 30-day settings.timeout_ms fails the run after 30 days, not before', async () => {
    const { engine, clock } = makeEngine(undefined, SLOW_LOOPS);
    const wf = workflow('t', { settings: { timeout_ms: THIRTY_DAYS } }).approval('review').end();
    const id = await engine.start(wf, {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    await clock.advance(THIRTY_DAYS - 1000);
    expect((await engine.get(id))?.status).toBe('paused');
    await clock.advance(1000);
    const run = await engine.wait(id);
    expect(run.status).toBe('failed');
    expect(run.error_message).toMatch(/timed out/);
  });

  it('a retry-after of 30 days retries after 30 days', async () => {
    const provider = new ScriptedProvider([ScriptedProvider.fail('rate_limit', 'come back next month', { retryAfterMs: THIRTY_DAYS }), 'done']);
    const { engine, clock } = makeEngine(undefined, { ...SLOW_LOOPS, providers: { mock: provider } });
    const wf = workflow('r').prompt('ask', { model: 'mock:m', template: 'hi', retry: { max_attempts: 2, delay_ms: 10 } });
    const id = await engine.start(wf, {});
    await until(async () => (await engine.get(id))?.execution_trace.some((s) => s.node_id === 'ask' && s.status === 'waiting') === true);
    await clock.advance(THIRTY_DAYS - 1000);
    expect(provider.calls).toHaveLength(1);
    await clock.advance(1000);
    expect((await engine.wait(id)).status).toBe('completed');
    expect(provider.calls).toHaveLength(2);
  });

  it('the fake clock keeps delays past 2^31 ms', async () => {
    const clock = new FakeClock();
    const fired: number[] = [];
    clock.setTimer(() => fired.push(clock.now()), THIRTY_DAYS);
    const start = clock.now();
    await clock.advance(MAX_TIMEOUT_MS + 1);
    expect(fired).toEqual([]);
    await clock.advance(THIRTY_DAYS);
    expect(fired).toEqual([start + THIRTY_DAYS]);
  });
});

describe('long timers on the system clock (vitest fake timers)', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('a 30-day timer re-arms past 2^31 ms and fires once, at 30 days', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    systemClock.setTimer(fn, THIRTY_DAYS);
    vi.advanceTimersByTime(1000);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(MAX_TIMEOUT_MS);
    expect(fn).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(1); // the second chunk
    vi.advanceTimersByTime(THIRTY_DAYS - MAX_TIMEOUT_MS - 1001);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('cancelling a long timer stops it in any chunk', () => {
    vi.useFakeTimers();
    const early = vi.fn();
    const late = vi.fn();
    const cancelEarly = systemClock.setTimer(early, THIRTY_DAYS);
    const cancelLate = systemClock.setTimer(late, THIRTY_DAYS);
    cancelEarly();
    vi.advanceTimersByTime(MAX_TIMEOUT_MS + 10);
    cancelLate();
    vi.advanceTimersByTime(THIRTY_DAYS);
    expect(early).not.toHaveBeenCalled();
    expect(late).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('sleep on the system clock waits out a long delay', async () => {
    vi.useFakeTimers();
    let done = false;
    const slept = sleep(systemClock, 40 * DAY).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(39 * DAY);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(DAY);
    await slept;
    expect(done).toBe(true);
  });

  it('a short timer still fires after its delay, and a negative one at once', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    systemClock.setTimer(fn, 50);
    systemClock.setTimer(fn, -5);
    vi.advanceTimersByTime(0);
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(50);
    expect(fn).toHaveBeenCalledTimes(2);
  });
});

describe('a month on the fake clock against PostgreSQL', () => {
  it('renews leases once per write, not once per skipped period: no flood of the pool, the run still answers', async () => {
    let renewals = 0;
    const area = scratch('longtimers');
    const clock = new FakeClock();
    // Default loops: a 30 s lease renewed every 10 s is 259,200 renewals in 30 days if each skipped period fires one.
    const storage = new PostgresStorage({ connectionString: area.pgUrl, schema: area.schema });
    const renew = storage.renewLeases.bind(storage);
    Object.defineProperty(storage, 'renewLeases', { value: (...args: Parameters<typeof renew>) => (renewals++, renew(...args)) });
    const engine = new Engine({ storage, clock, providers: { mock: new ScriptedProvider(['ok']) } });
    try {
      const wf = workflow('month').approval('review', { timeout_ms: THIRTY_DAYS, on_timeout: 'approve' }).end({ ok: 'review.approved' });
      const id = await engine.start(wf, {});
      await until(async () => (await engine.get(id))?.status === 'paused');
      await clock.advance(THIRTY_DAYS - 1000);
      expect(renewals).toBeLessThan(100);
      expect((await engine.get(id))?.status).toBe('paused');
      await engine.approve(id, 'review');
      expect((await engine.wait(id)).output_data).toEqual({ ok: true });
    } finally {
      await engine.close();
    }
  });
});
