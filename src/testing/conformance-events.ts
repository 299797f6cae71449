/**
 * The Storage contract, part seven: the event inbox. `emit` leaves an event for a waiting step of a
 * run another live process drives; that process reads its runs' inbox and deletes what it took.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeRun } from './storage-fixtures.js';
import type { DeliveredEvent } from '../storage/storage.js';

function delivered(id: string, runId: string, over: Partial<DeliveredEvent> = {}): DeliveredEvent {
  return { id, run_id: runId, path: 'wait', event: 'go', payload: { n: 1, nested: { list: [1, null, 'x'] } }, created_at: 1000, ...over };
}

/** The inbox: delivered events stored for live runs only, read by run oldest first, deleted by id. */
export function eventsConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('event inbox', () => {
    test('stores events for running and paused runs only, and reads them back exactly, oldest first', async (storage) => {
      await storage.createRun(makeRun('r1', { status: 'running' }));
      await storage.createRun(makeRun('r2', { status: 'paused' }));
      await storage.createRun(makeRun('r3', { status: 'completed' }));
      await storage.createRun(makeRun('r4', { status: 'pending' }));
      const late = delivered('e1', 'r1', { created_at: 3000, path: 'loop[2].wait', payload: null });
      const early = delivered('e2', 'r1', { created_at: 1500.5 });
      const paused = delivered('e3', 'r2', { created_at: 2000, event: 'order.paid', payload: 'text' });
      expect(await storage.deliverEvent(late)).toBe(true);
      expect(await storage.deliverEvent(early)).toBe(true);
      expect(await storage.deliverEvent(paused)).toBe(true);
      expect(await storage.deliverEvent(delivered('e4', 'r3'))).toBe(false);
      expect(await storage.deliverEvent(delivered('e5', 'r4'))).toBe(false);
      expect(await storage.deliverEvent(delivered('e6', 'missing'))).toBe(false);
      expect(await storage.findDeliveredEvents(['r1', 'r2', 'r3', 'r4', 'missing'], 10)).toStrictEqual([early, paused, late]);
      expect(await storage.findDeliveredEvents(['r1'], 10)).toStrictEqual([early, late]);
      expect(await storage.findDeliveredEvents(['r1', 'r2'], 2)).toStrictEqual([early, paused]);
      expect(await storage.findDeliveredEvents([], 10)).toStrictEqual([]);
    });

    test('delivering an id twice stores it once', async (storage) => {
      await storage.createRun(makeRun('r1', { status: 'running' }));
      const event = delivered('e1', 'r1');
      expect(await storage.deliverEvent(event)).toBe(true);
      expect(await storage.deliverEvent({ ...event, payload: { other: true } })).toBe(true);
      expect(await storage.findDeliveredEvents(['r1'], 10)).toStrictEqual([event]);
    });

    test('deletes taken events by id, and a run’s events with the run', async (storage) => {
      await storage.createRun(makeRun('r1', { status: 'running' }));
      await storage.createRun(makeRun('r2', { status: 'running' }));
      for (const [id, run] of [['a', 'r1'], ['b', 'r1'], ['c', 'r2']] as const) await storage.deliverEvent(delivered(id, run));
      await storage.deleteDeliveredEvents(['a', 'missing']);
      await storage.deleteDeliveredEvents([]);
      expect((await storage.findDeliveredEvents(['r1', 'r2'], 10)).map((e) => e.id)).toEqual(['b', 'c']);
      await storage.deleteRun('r1');
      expect((await storage.findDeliveredEvents(['r1', 'r2'], 10)).map((e) => e.id)).toEqual(['c']);
    });

    test('keeps odd text in event names and payloads', async (storage) => {
      await storage.createRun(makeRun('r1', { status: 'running' }));
      const event = delivered('e1', 'r1', { event: 'nul\u0000 \ud800 \ufdd0', payload: { text: 'a\u0000b \udfff', '\u0000key': ['\ufdd0'] } });
      await storage.deliverEvent(event);
      expect(await storage.findDeliveredEvents(['r1'], 10)).toStrictEqual([event]);
    });
  });
}
