/**
 * The event streams of a router share one listener per event name and one storage look per run
 * (run-event-hub.ts): fifty open streams add no more listeners than one, and a run followed
 * through storage is read once a poll, whatever the number of its streams. Time is vitest's fake
 * clock.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { TrellisEventEmitter, type TrellisEvents } from '../src/kernel/events.js';
import { RunEventHub, STORED_POLL_MS, STREAMED_EVENTS, type RunWatcher } from '../src/express/run-event-hub.js';
import type { WorkflowExecution } from '../src/runtime/run-view.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** An engine as the hub sees it: events, and a `get` that counts its reads and can be held. */
function fakeEngine() {
  const events = new TrellisEventEmitter();
  const reads: string[] = [];
  let hold: Promise<void> | undefined;
  const engine = {
    events,
    reads,
    holdReads(until: Promise<void>) {
      hold = until;
    },
    async get(executionId: string): Promise<WorkflowExecution | undefined> {
      reads.push(executionId);
      if (hold) await hold;
      return { id: executionId, status: 'running' } as WorkflowExecution;
    },
  };
  return engine;
}

/** A watcher that records what it was sent. */
function recorder() {
  const got = { events: [] as string[], stored: 0 };
  const watcher: RunWatcher = {
    event: (name) => got.events.push(name),
    stored: () => got.stored++,
  };
  return { got, watcher };
}

const token = (executionId: string) => ({ executionId, workflowId: 'w', nodeId: 'a', path: 'a', delta: 'x', timestamp: 0 }) as unknown as TrellisEvents['node:token'];

describe('RunEventHub', () => {
  it('adds one listener per event name for fifty watchers, sends each event to every watcher of its run, and removes the listeners with the last watch', () => {
    const engine = fakeEngine();
    const hub = new RunEventHub(engine);
    const watchers = Array.from({ length: 50 }, () => recorder());
    const other = recorder();
    const ends = watchers.map(({ watcher }) => hub.watch('r1', watcher));
    const endOther = hub.watch('r2', other.watcher);
    for (const name of STREAMED_EVENTS) expect(engine.events.listenerCount(name)).toBe(1);

    engine.events.publish('node:token', token('r1'));
    engine.events.publish('node:token', token('elsewhere'));
    expect(watchers.every(({ got }) => got.events.join() === 'node:token')).toBe(true);
    expect(other.got.events).toEqual([]);

    ends.forEach((end) => end());
    expect(engine.events.listenerCount('node:token')).toBe(1);
    endOther();
    endOther();
    for (const name of STREAMED_EVENTS) expect(engine.events.listenerCount(name)).toBe(0);
    expect(engine.events.hasListeners()).toBe(false);
    expect(hub.watchedRuns).toBe(0);
  });

  it('reads a run once a poll for all its watchers, not while its events fire here, and stops when nobody watches', async () => {
    const engine = fakeEngine();
    const hub = new RunEventHub(engine);
    const watchers = Array.from({ length: 20 }, () => recorder());
    const ends = watchers.map(({ watcher }) => hub.watch('r1', watcher));
    const other = recorder();
    const endOther = hub.watch('r2', other.watcher);

    await vi.advanceTimersByTimeAsync(STORED_POLL_MS);
    expect(engine.reads.sort()).toEqual(['r1', 'r2']);
    expect(watchers.every(({ got }) => got.stored === 1)).toBe(true);
    expect(other.got.stored).toBe(1);

    // An event of r1 fired here: the next poll reads only r2.
    engine.events.publish('node:token', token('r1'));
    engine.reads.length = 0;
    await vi.advanceTimersByTimeAsync(STORED_POLL_MS);
    expect(engine.reads).toEqual(['r2']);
    await vi.advanceTimersByTimeAsync(STORED_POLL_MS);
    expect(engine.reads.sort()).toEqual(['r1', 'r2', 'r2']);

    ends.forEach((end) => end());
    endOther();
    engine.reads.length = 0;
    await vi.advanceTimersByTimeAsync(5 * STORED_POLL_MS);
    expect(engine.reads).toEqual([]);
  });

  it('starts no second read of a run while one is under way, and sends nothing from a read an event overtook', async () => {
    const engine = fakeEngine();
    const hub = new RunEventHub(engine);
    const { got, watcher } = recorder();
    const end = hub.watch('r1', watcher);
    let release!: () => void;
    engine.holdReads(new Promise<void>((resolve) => (release = resolve)));

    await vi.advanceTimersByTimeAsync(3 * STORED_POLL_MS);
    expect(engine.reads).toEqual(['r1']);
    engine.events.publish('node:token', token('r1'));
    release();
    await vi.advanceTimersByTimeAsync(0);
    expect(got).toEqual({ events: ['node:token'], stored: 0 });
    end();
  });
});
