/**
 * The Storage contract, part nine: what observability reads. `countRuns` counts runs by workflow
 * and status over a creation-time window; `checkHealth` reads and writes, and reports the schema.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeRun } from './storage-fixtures.js';

/** countRuns and checkHealth. */
export function observabilityConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('run counts and health', () => {
    test('countRuns counts by workflow and status, ordered, within the window and workflow asked for', async (storage) => {
      expect(await storage.countRuns()).toEqual([]);
      const runs = [
        makeRun('a1', { workflow_id: 'b', status: 'completed', created_at: 100 }),
        makeRun('a2', { workflow_id: 'b', status: 'completed', created_at: 200 }),
        makeRun('a3', { workflow_id: 'b', status: 'failed', created_at: 300 }),
        makeRun('a4', { workflow_id: 'a', status: 'running', created_at: 300 }),
        makeRun('a5', { workflow_id: 'a', status: 'completed', created_at: 400, parent_id: 'a4' }),
        makeRun('a6', { workflow_id: 'B', status: 'cancelled', created_at: 50 }),
      ];
      for (const run of runs) await storage.createRun(run);

      expect(await storage.countRuns()).toEqual([
        { workflow_id: 'B', status: 'cancelled', count: 1 },
        { workflow_id: 'a', status: 'completed', count: 1 },
        { workflow_id: 'a', status: 'running', count: 1 },
        { workflow_id: 'b', status: 'completed', count: 2 },
        { workflow_id: 'b', status: 'failed', count: 1 },
      ]);
      // Both ends of the window are inclusive.
      expect(await storage.countRuns({ created_after: 200, created_before: 300 })).toEqual([
        { workflow_id: 'a', status: 'running', count: 1 },
        { workflow_id: 'b', status: 'completed', count: 1 },
        { workflow_id: 'b', status: 'failed', count: 1 },
      ]);
      expect(await storage.countRuns({ workflow_id: 'b', created_after: 150 })).toEqual([
        { workflow_id: 'b', status: 'completed', count: 1 },
        { workflow_id: 'b', status: 'failed', count: 1 },
      ]);
      expect(await storage.countRuns({ workflow_id: 'none' })).toEqual([]);

      // A status change moves the run to its new count.
      await storage.updateRun('a4', { status: 'completed', completed_at: 500 });
      expect(await storage.countRuns({ workflow_id: 'a' })).toEqual([{ workflow_id: 'a', status: 'completed', count: 2 }]);
    });

    test('checkHealth answers, writes, and reports a schema that is current when it has one', async (storage) => {
      const health = await storage.checkHealth();
      if (health.schema) expect(health.schema.version).toBe(health.schema.expected);
      // Checking twice (the probe row already there) is as good as once.
      expect(await storage.checkHealth()).toEqual(health);
    });
  });
}
