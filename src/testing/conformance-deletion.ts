/**
 * The Storage contract, part eight: deleting runs. `deleteRun` takes one run with everything keyed
 * to it and its child runs; `purgeRuns` takes ended runs oldest first, a batch at a time.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeCall, makeRun, makeStep } from './storage-fixtures.js';
import type { RunRecord } from '../storage/records.js';
import type { PurgeFilter, Storage } from '../storage/storage.js';
import { stepCallId } from '../kernel/call-ids.js';

/** A run that ended at `completed_at`, with a step and the LLM call it made. */
async function endedRun(storage: Storage, id: string, completedAt: number, over: Partial<RunRecord> = {}): Promise<void> {
  await storage.createRun(makeRun(id, { status: 'completed', completed_at: completedAt, ...over }));
  const call = makeCall(stepCallId(`exec_${id}`, id, 'ask'), { workflow_execution_id: id, workflow_node_id: 'ask', step_path: 'ask' });
  await storage.commit({ runId: id, steps: [makeStep(id, 'ask', 1)], calls: [call] });
}

const FINISHED = ['completed', 'failed', 'cancelled'] as const;
const purge = (over: Partial<PurgeFilter> = {}): PurgeFilter => ({ completed_before: 1000, status: FINISHED, limit: 100, ...over });

/** deleteRun and purgeRuns: what goes, what stays, and child runs going with their parent. */
export function deletionConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('deleting runs', () => {
    test('deleteRun takes the run, its steps, calls, inbox events and child runs, however deep, and nothing else', async (storage) => {
      await storage.createRun(makeRun('parent', { status: 'running' }));
      await storage.createRun(makeRun('child', { status: 'running', parent_id: 'parent', parent_step_path: 'loop[0].sub' }));
      await storage.createRun(makeRun('grandchild', { status: 'completed', completed_at: 5, parent_id: 'child', parent_step_path: 'sub' }));
      await storage.createRun(makeRun('other', { status: 'running' }));
      for (const id of ['parent', 'child', 'grandchild', 'other']) {
        const call = makeCall(stepCallId(`exec_${id}`, id, 'ask'), { workflow_execution_id: id, workflow_node_id: 'ask', step_path: 'ask' });
        await storage.commit({ runId: id, steps: [makeStep(id, 'ask', 1, { status: 'waiting', waiter: { kind: 'event', event: 'go', due_at: 10 } })], calls: [call] });
        // A call kept outside the steps (made outside a step, or stored before schema 3).
        await storage.saveCall(makeCall(`loose_${id}`, { workflow_execution_id: id }));
      }
      await storage.deliverEvent({ id: 'evt_child', run_id: 'child', path: 'ask', event: 'go', payload: null, created_at: 1 });
      await storage.deliverEvent({ id: 'evt_other', run_id: 'other', path: 'ask', event: 'go', payload: null, created_at: 1 });
      await storage.saveCall(makeCall('unrelated'));

      expect(await storage.deleteRun('parent')).toBe(true);

      for (const id of ['parent', 'child', 'grandchild']) {
        expect(await storage.getRun(id)).toBeUndefined();
        expect(await storage.getSteps(id)).toEqual([]);
        expect(await storage.listCalls({ workflow_execution_id: id })).toEqual([]);
        expect(await storage.getCall(`loose_${id}`)).toBeUndefined();
      }
      expect(await storage.findDeliveredEvents(['child', 'other'], 10)).toMatchObject([{ id: 'evt_other' }]);
      expect((await storage.findDueSteps(10, 10)).map((s) => s.run_id)).toEqual(['other']);
      expect((await storage.findEventWaiters('go', 10)).map((s) => s.run_id)).toEqual(['other']);
      expect(await storage.getRun('other')).toBeDefined();
      expect((await storage.listCalls({ workflow_execution_id: 'other' })).map((c) => c.id).sort()).toEqual([stepCallId('exec_other', 'other', 'ask'), 'loose_other'].sort());
      expect(await storage.getCall('unrelated')).toBeDefined();
      expect(await storage.deleteRun('parent')).toBe(false);
    });

    test('deleteRun with an expectation deletes only a run that matches it', async (storage) => {
      await storage.createRun(makeRun('live', { status: 'running', revision: 3 }));
      await storage.createRun(makeRun('kid', { status: 'completed', completed_at: 1, parent_id: 'live' }));
      expect(await storage.deleteRun('live', { status: FINISHED })).toBe(false);
      expect(await storage.deleteRun('live', { revision: 2 })).toBe(false);
      expect(await storage.getRun('live')).toStrictEqual(makeRun('live', { status: 'running', revision: 3 }));
      expect(await storage.getRun('kid')).toBeDefined();
      expect(await storage.deleteRun('live', { status: ['running'], revision: 3 })).toBe(true);
      expect(await storage.getRun('kid')).toBeUndefined();
      expect(await storage.deleteRun('missing', { status: FINISHED })).toBe(false);
    });

    test('purgeRuns takes ended runs before the time, by status and workflow, oldest first, a batch at a time', async (storage) => {
      await endedRun(storage, 'c3', 300);
      await endedRun(storage, 'c1', 100);
      await endedRun(storage, 'c2b', 200);
      await endedRun(storage, 'c2a', 200);
      await endedRun(storage, 'f1', 150, { status: 'failed' });
      await endedRun(storage, 'x1', 120, { status: 'cancelled', workflow_id: 'other' });
      await endedRun(storage, 'late', 1000);
      await storage.createRun(makeRun('active', { status: 'running' }));
      await storage.createRun(makeRun('queued', { status: 'pending' }));
      const left = async () => (await storage.listRuns()).map((r) => r.id).sort();

      expect(await storage.purgeRuns(purge({ status: [] }))).toBe(0);
      expect(await storage.purgeRuns(purge({ status: ['failed'] }))).toBe(1);
      expect(await left()).not.toContain('f1');
      expect(await storage.purgeRuns(purge({ workflow_id: 'other' }))).toBe(1);
      expect(await left()).not.toContain('x1');
      // Oldest completed first, ties by id: c1, then c2a before c2b.
      expect(await storage.purgeRuns(purge({ limit: 2 }))).toBe(2);
      expect(await left()).toEqual(['active', 'c2b', 'c3', 'late', 'queued']);
      expect(await storage.listCalls({ workflow_execution_id: 'c2a' })).toEqual([]);
      expect(await storage.getSteps('c1')).toEqual([]);
      expect(await storage.purgeRuns(purge({ completed_before: 300 }))).toBe(1);
      expect(await storage.purgeRuns(purge())).toBe(1);
      // Before is strict: a run that ended at the time itself stays, and runs that have not ended stay.
      expect(await storage.purgeRuns(purge())).toBe(0);
      expect(await left()).toEqual(['active', 'late', 'queued']);
      expect(await storage.purgeRuns(purge({ completed_before: 1e15, status: ['completed', 'running', 'pending'] }))).toBe(1);
      expect(await left()).toEqual(['active', 'queued']);
    });

    test('purgeRuns takes child runs with their parent, never alone, unless their parent is gone', async (storage) => {
      await endedRun(storage, 'parent', 500);
      // Children end before their parent does: the age of the parent decides.
      await endedRun(storage, 'child', 100, { parent_id: 'parent', parent_step_path: 'sub' });
      await endedRun(storage, 'grandchild', 90, { parent_id: 'child', parent_step_path: 'sub' });
      await endedRun(storage, 'orphan', 100, { parent_id: 'deleted-long-ago', parent_step_path: 'sub' });
      await endedRun(storage, 'young', 900);
      await endedRun(storage, 'young-child', 100, { parent_id: 'young', parent_step_path: 'sub' });

      expect(await storage.purgeRuns(purge({ completed_before: 200 }))).toBe(1);
      expect((await storage.listRuns()).map((r) => r.id).sort()).toEqual(['child', 'grandchild', 'parent', 'young', 'young-child']);
      expect(await storage.purgeRuns(purge({ completed_before: 600 }))).toBe(1);
      expect((await storage.listRuns()).map((r) => r.id).sort()).toEqual(['young', 'young-child']);
      expect(await storage.listCalls({ workflow_execution_id: 'grandchild' })).toEqual([]);
    });
  });
}
