/**
 * The Storage contract, part one: creating, reading, listing, patching and deleting runs, with
 * compare-and-set on status, revision and owner.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeRun, makeStep, FULL_RUN, rejectsWithCode } from './storage-fixtures.js';
import type { Storage } from '../storage/storage.js';

/** Runs: round-trips, idempotency keys, listing, `updateRun` with its expectations. */
export function runsConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('runs', () => {
    test('round-trips a run with every field, and one with none of the optional fields', async (storage) => {
      await storage.createRun(FULL_RUN);
      await storage.createRun(makeRun('min'));
      expect(await storage.getRun('full')).toStrictEqual(FULL_RUN);
      const min = await storage.getRun('min');
      expect(min).toStrictEqual(makeRun('min'));
      expect(Object.keys(min!).sort()).toEqual(Object.keys(makeRun('min')).sort());
      expect(await storage.getRun('missing')).toBeUndefined();
    });

    test('keeps a run\'s trace_context, written once at creation, through every patch', async (storage) => {
      const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
      await storage.createRun(makeRun('traced', { status: 'pending', trace_context: traceparent }));
      const claimed = await storage.updateRun('traced', { status: 'running', owner: 'engine-b', lease_expires_at: 9_000 });
      expect(claimed?.trace_context).toBe(traceparent);
      await storage.updateRun('traced', { status: 'completed', owner: undefined, lease_expires_at: undefined, completed_at: 9_500 });
      expect((await storage.getRun('traced'))?.trace_context).toBe(traceparent);
      expect((await storage.listRuns({ status: 'completed' })).map((r) => r.trace_context)).toEqual([traceparent]);
    });

    test('refuses a second run with the same id', async (storage) => {
      await storage.createRun(makeRun('dup'));
      await rejectsWithCode(expect, storage.createRun(makeRun('dup', { workflow_id: 'other' })), 'conflict');
      expect((await storage.getRun('dup'))?.workflow_id).toBe('wf');
    });

    test('returns the existing run for a repeated idempotency_key', async (storage) => {
      const first = await storage.createRun(makeRun('a', { idempotency_key: 'k1' }));
      expect(first).toStrictEqual(makeRun('a', { idempotency_key: 'k1' }));
      const again = await storage.createRun(makeRun('b', { idempotency_key: 'k1', created_at: 5 }));
      expect(again.id).toBe('a');
      expect(await storage.getRun('b')).toBeUndefined();
      const other = await storage.createRun(makeRun('c', { idempotency_key: 'k2' }));
      expect(other.id).toBe('c');
      await storage.deleteRun('a');
      expect((await storage.createRun(makeRun('d', { idempotency_key: 'k1' }))).id).toBe('d');
    });

    test('lists runs newest first with filters and pagination', async (storage) => {
      await storage.createRun(makeRun('r1', { created_at: 10, status: 'completed' }));
      await storage.createRun(makeRun('r2', { created_at: 20, workflow_id: 'other' }));
      await storage.createRun(makeRun('r3', { created_at: 30, status: 'running' }));
      await storage.createRun(makeRun('r4', { created_at: 30, status: 'failed' }));
      const ids = async (filter?: Parameters<Storage['listRuns']>[0]) => (await storage.listRuns(filter)).map((r) => r.id);
      expect(await ids()).toEqual(['r3', 'r4', 'r2', 'r1']);
      expect(await ids({ workflow_id: 'wf' })).toEqual(['r3', 'r4', 'r1']);
      expect(await ids({ status: 'running' })).toEqual(['r3']);
      expect(await ids({ status: ['completed', 'failed'] })).toEqual(['r4', 'r1']);
      expect(await ids({ status: [] })).toEqual([]);
      expect(await ids({ created_after: 20 })).toEqual(['r3', 'r4', 'r2']);
      expect(await ids({ created_before: 20 })).toEqual(['r2', 'r1']);
      expect(await ids({ created_after: 15, created_before: 25 })).toEqual(['r2']);
      expect(await ids({ limit: 2 })).toEqual(['r3', 'r4']);
      expect(await ids({ limit: 2, offset: 1 })).toEqual(['r4', 'r2']);
      expect(await ids({ offset: 3 })).toEqual(['r1']);
      expect(await ids({ limit: 0 })).toEqual([]);
      expect(await storage.listRuns({ workflow_id: 'wf', limit: 1 })).toStrictEqual([makeRun('r3', { created_at: 30, status: 'running' })]);
    });

    test('deletes a run with its steps', async (storage) => {
      await storage.createRun(makeRun('gone'));
      await storage.commit({ runId: 'gone', steps: [makeStep('gone', 'a', 1)] });
      await storage.deleteRun('gone');
      expect(await storage.getRun('gone')).toBeUndefined();
      expect(await storage.getSteps('gone')).toEqual([]);
      expect(await storage.getStep('gone', 'a')).toBeUndefined();
      await storage.deleteRun('never-existed');
    });
  });

  describe('updateRun', () => {
    test('patches fields and bumps revision only on a status change', async (storage) => {
      await storage.createRun(makeRun('u'));
      const started = await storage.updateRun('u', { status: 'running', started_at: 1500 });
      expect(started).toStrictEqual(makeRun('u', { status: 'running', started_at: 1500, revision: 1 }));
      expect(await storage.getRun('u')).toStrictEqual(started);
      const same = await storage.updateRun('u', { status: 'running', usage: { tokens: 5 } });
      expect(same?.revision).toBe(1);
      const noStatus = await storage.updateRun('u', { recovery_count: 4, output_data: null });
      expect(noStatus).toStrictEqual(makeRun('u', { status: 'running', started_at: 1500, revision: 1, usage: { tokens: 5 }, recovery_count: 4, output_data: null }));
      const done = await storage.updateRun('u', { status: 'completed', output_data: { answer: 42 }, completed_at: 1600 });
      expect(done?.revision).toBe(2);
      expect(done?.output_data).toEqual({ answer: 42 });
    });

    test('clears optional fields given as undefined and ignores undefined for required ones', async (storage) => {
      await storage.createRun(makeRun('c', { owner: 'x', lease_expires_at: 99, error_message: 'e', output_data: [1], usage: { a: 1 } }));
      const cleared = await storage.updateRun('c', { owner: undefined, lease_expires_at: undefined, error_message: undefined, output_data: undefined, usage: undefined });
      expect(cleared).toStrictEqual(makeRun('c'));
      expect(await storage.getRun('c')).toStrictEqual(makeRun('c'));
      const unchanged = await storage.updateRun('c', { status: undefined, recovery_count: undefined } as never);
      expect(unchanged).toStrictEqual(makeRun('c'));
    });

    test('is compare-and-set on status, revision and owner', async (storage) => {
      await storage.createRun(makeRun('cas', { status: 'running', revision: 5 }));
      expect(await storage.updateRun('cas', { status: 'paused' }, { status: 'pending' })).toBeUndefined();
      expect(await storage.updateRun('cas', { status: 'paused' }, { status: ['pending', 'completed'] })).toBeUndefined();
      expect(await storage.updateRun('cas', { status: 'paused' }, { revision: 4 })).toBeUndefined();
      expect(await storage.updateRun('cas', { status: 'paused' }, { owner: 'someone' })).toBeUndefined();
      expect(await storage.getRun('cas')).toStrictEqual(makeRun('cas', { status: 'running', revision: 5 }));
      const owned = await storage.updateRun('cas', { owner: 'me' }, { status: ['running', 'paused'], revision: 5, owner: null });
      expect(owned?.owner).toBe('me');
      expect(await storage.updateRun('cas', { status: 'paused' }, { owner: null })).toBeUndefined();
      const paused = await storage.updateRun('cas', { status: 'paused' }, { owner: 'me', revision: 5 });
      expect(paused).toStrictEqual(makeRun('cas', { status: 'paused', revision: 6, owner: 'me' }));
      expect(await storage.updateRun('missing', { status: 'paused' })).toBeUndefined();
    });
  });
}
