/**
 * Issue 15 item 6: events are not lost. A `wait_for_event` filter is read before the step changes
 * state, so an event meant for another run never takes the step out of waiting while a matching
 * one arrives.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine, PostgresStorage, SqliteStorage, workflow, type Json, type Storage } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { runFixture } from './fixture-process.js';
import { makeEngine, until } from './helpers.js';
import { scratch } from './scratch.js';

const invoiceWait = () => workflow('ev').waitForEvent('paid', { event: 'invoice.paid', filter: 'event.invoice == input.invoice' }).end({ amount: 'paid.payload.amount' });

async function settle(turns: number): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve();
}

describe('concurrent events with per-run filters', () => {
  it('a refused event leaves the step waiting with no row written', async () => {
    const { engine, storage } = makeEngine();
    const id = await engine.start(invoiceWait(), { invoice: 'A' });
    await until(async () => (await engine.get(id))?.execution_trace.some((s) => s.status === 'waiting') ?? false);
    const before = JSON.stringify(await storage.getSteps(id));
    let commits = 0;
    const commit = storage.commit.bind(storage);
    storage.commit = (c) => (commits++, commit(c));
    await engine.emit('invoice.paid', { invoice: 'other', amount: 1 });
    await settle(50);
    expect(commits).toBe(0);
    expect(JSON.stringify(await storage.getSteps(id))).toBe(before);
  });

  it('at every offset, the matching event of two concurrent ones wakes its run', async () => {
    for (let offset = 0; offset < 30; offset++) {
      const { engine } = makeEngine();
      const a = await engine.start(invoiceWait(), { invoice: 'A' });
      const b = await engine.start(invoiceWait(), { invoice: 'B' });
      await until(async () => (await engine.list({ status: ['running'] })).length === 2 && (await Promise.all([a, b].map((id) => engine.get(id)))).every((r) => r!.execution_trace.some((s) => s.status === 'waiting')));
      const first = engine.emit('invoice.paid', { invoice: 'A', amount: 1 });
      await settle(offset);
      const second = engine.emit('invoice.paid', { invoice: 'B', amount: 2 });
      await Promise.all([first, second]);
      await until(async () => (await engine.get(b))!.status !== 'running' && (await engine.get(a))!.status !== 'running', 2000).catch(() => undefined);
      expect([offset, (await engine.get(a))!.output_data, (await engine.get(b))!.output_data]).toEqual([offset, { amount: 1 }, { amount: 2 }]);
      await engine.close();
    }
  });
});

/**
 * Issue 15 item 6b: an event emitted in another process than the one driving the waiting run is
 * not dropped. The emitter cannot take the run on (the owner's lease is live), so it leaves the
 * event in the run's inbox; the owner wakes the step on its next poll, reading the filter then.
 */
const { pgUrl: PG_URL, schema: pgSchema, dir } = scratch('events');

const POLL_MS = 1000;

/** Emits an event from another engine; resolves with what its `emit` resolved with. */
type Emitter = (event: string, payload: Json) => Promise<unknown>;

/** An engine of its own in this process, on its own storage object over the same database. */
function engineEmitter(open: () => Storage, clock: FakeClock): { emit: Emitter; close(): Promise<void> } {
  const engine = new Engine({ storage: open(), clock, leaseMs: 60_000 });
  return { emit: (event, payload) => engine.emit(event, payload), close: () => engine.close() };
}

/** A real child process per event (see fixtures/emit-worker.ts). */
function processEmitter(args: readonly string[]): Emitter {
  return async (event, payload) => {
    const { stdout } = await runFixture('emit-worker', [...args, event, JSON.stringify(payload)]);
    return JSON.parse(stdout) as unknown;
  };
}

/**
 * Engine B drives a run waiting for `go` (for invoice A only), its lease live; another engine,
 * sharing B's database, emits. B's clock is fake: its poll runs only when the test advances it.
 */
async function emitToOwner(open: () => Storage, clockB: FakeClock, emit: Emitter): Promise<void> {
  const b = new Engine({ storage: open(), clock: clockB, pollIntervalMs: POLL_MS, leaseMs: 600_000 });
  // A step executing in B keeps the run loaded there (a run that only waits is parked, and then
  // the emitter would claim it and wake it itself): B's lease is live while the events arrive.
  let release = (): void => undefined;
  const held = new Promise<{ status: 'completed'; output: Json }>((resolve) => (release = () => resolve({ status: 'completed', output: null })));
  b.registerNode({ type: 'hold', execute: () => held });
  const storage = open();
  try {
    await storage.init();
    await b.startBackground();
    const wf = workflow('go').parallel({ wait: (w) => w.waitForEvent('got', { event: 'go', filter: 'event.invoice == input.invoice' }), hold: (w) => w.node('held', 'hold') });
    const id = await b.start(wf.end({ amount: 'got.payload.amount' }), { invoice: 'A' });
    await until(async () => (await b.get(id))?.execution_trace.some((s) => s.node_id === 'got' && s.status === 'waiting') ?? false);

    // An event the filter refuses is delivered, then dropped by the owner with the step still waiting.
    expect(await emit('go', { invoice: 'other', amount: 1 })).toEqual([id]);
    expect(await storage.findDeliveredEvents([id], 10)).toHaveLength(1);
    await clockB.advance(POLL_MS);
    await until(async () => (await storage.findDeliveredEvents([id], 10)).length === 0);
    expect((await b.get(id))?.execution_trace.find((s) => s.node_id === 'got')?.status).toBe('waiting');

    // The emitter reports the run; nothing happens in B before its poll, which wakes the step.
    expect(await emit('go', { invoice: 'A', amount: 42 })).toEqual([id]);
    expect((await b.get(id))?.status).toBe('running');
    const endedInB = new Promise((resolve) => b.events.once('execution:completed', resolve));
    await clockB.advance(POLL_MS);
    await until(async () => (await b.get(id))?.execution_trace.find((s) => s.node_id === 'got')?.status === 'completed');
    release();
    await endedInB;
    const done = await b.wait(id);
    expect([done.status, done.output_data]).toEqual(['completed', { amount: 42 }]);
    expect(await storage.findDeliveredEvents([id], 10)).toEqual([]);
  } finally {
    await b.close();
    await storage.close();
  }
}

describe('an event emitted in another process than the owner of the waiting run', () => {
  const pgOpen = (): Storage => new PostgresStorage({ connectionString: PG_URL, schema: pgSchema });

  it('wakes the run in its owner on the owner’s next poll (two engines, one SQLite file)', async () => {
    const path = join(dir, 'engines.db');
    const open = (): Storage => new SqliteStorage({ path });
    const a = engineEmitter(open, new FakeClock());
    try {
      await emitToOwner(open, new FakeClock(), a.emit);
    } finally {
      await a.close();
    }
  });

  it('wakes the run in its owner on the owner’s next poll (two engines, PostgreSQL)', async () => {
    const a = engineEmitter(pgOpen, new FakeClock());
    try {
      await emitToOwner(pgOpen, new FakeClock(), a.emit);
    } finally {
      await a.close();
    }
  });

  // The emitter is a real process on the system clock: B's fake clock starts at the real time, so
  // its ten-minute lease is live for the emitter.
  it('wakes the run when a real child process emits (SQLite file)', async () => {
    const path = join(dir, 'processes.db');
    await emitToOwner(() => new SqliteStorage({ path }), new FakeClock(Date.now()), processEmitter(['sqlite', path, '']));
  });

  it('wakes the run when a real child process emits (PostgreSQL)', async () => {
    await emitToOwner(pgOpen, new FakeClock(Date.now()), processEmitter(['postgres', PG_URL, pgSchema]));
  });
});
