/**
 * Issue 15 item 6: events are not lost. A `wait_for_event` filter is read before the step changes
 * state, so an event meant for another run never takes the step out of waiting while a matching
 * one arrives.
 */
import { describe, expect, it } from 'vitest';
import { workflow } from '../src/index.js';
import { makeEngine, until } from './helpers.js';

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
