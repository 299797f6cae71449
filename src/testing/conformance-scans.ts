/**
 * The Storage contract, part nine: scans. Every workflow version, prompt version and run, read a
 * page at a time from a key, in key order, so an export reads a store of any size in bounded memory.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makePrompt, makeRun, makeWorkflow } from './storage-fixtures.js';
import type { ScanOptions, Storage, VersionKey } from '../storage/storage.js';
import type { PromptRecord, RunRecord, WorkflowRecord } from '../storage/records.js';

/** Reads a scan to its end, `limit` records a page, the next page after the last key read. */
async function readAll<T, K>(page: (options: ScanOptions<K>) => Promise<T[]>, key: (record: T) => K, limit: number): Promise<T[]> {
  const all: T[] = [];
  for (let after: K | undefined; ; ) {
    const records = await page(after === undefined ? { limit } : { after, limit });
    all.push(...records);
    if (records.length < limit) return all;
    after = key(records.at(-1)!);
  }
}

/** scanWorkflows, scanPrompts and scanRuns. */
export function scansConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('scans', () => {
    test('scanWorkflows reads every version, deleted ones included, by id then version, a page at a time', async (storage) => {
      for (const [id, version] of [['b', 2], ['a', 1], ['b', 1], ['c', 1], ['a', 2], ['a', 3]] as const) await storage.saveWorkflow(makeWorkflow(id, version));
      await storage.deleteWorkflow('c');
      const scan = (s: Storage) => readAll<WorkflowRecord, VersionKey>((o) => s.scanWorkflows(o), (w) => ({ id: w.id, version: w.version }), 2);
      const all = await scan(storage);
      expect(all.map((w) => `${w.id}${w.version}`)).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'c1']);
      expect(all[0]).toStrictEqual(makeWorkflow('a', 1));
      expect(all.at(-1)).toStrictEqual({ ...makeWorkflow('c', 1), deleted: true });
      expect(await storage.scanWorkflows({ after: { id: 'a', version: 2 }, limit: 2 })).toStrictEqual([makeWorkflow('a', 3), makeWorkflow('b', 1)]);
      expect(await storage.scanWorkflows({ after: { id: 'c', version: 1 }, limit: 10 })).toEqual([]);
    });

    test('scanPrompts reads every version by id then version', async (storage) => {
      for (const [id, version] of [['q', 1], ['p', 2], ['p', 1], ['q', 2]] as const) await storage.savePrompt(makePrompt(id, version, { system: `sys ${id}` }));
      const all = await readAll<PromptRecord, VersionKey>((o) => storage.scanPrompts(o), (p) => ({ id: p.id, version: p.version }), 3);
      expect(all).toStrictEqual([makePrompt('p', 1, { system: 'sys p' }), makePrompt('p', 2, { system: 'sys p' }), makePrompt('q', 1, { system: 'sys q' }), makePrompt('q', 2, { system: 'sys q' })]);
    });

    test('scanRuns reads every run by id, child runs included, of the given statuses when asked', async (storage) => {
      await storage.createRun(makeRun('r3', { status: 'completed', completed_at: 5 }));
      await storage.createRun(makeRun('r1', { status: 'running' }));
      await storage.createRun(makeRun('r2', { status: 'failed', parent_id: 'r3', parent_step_path: 'sub' }));
      await storage.createRun(makeRun('r4'));
      const all = await readAll<RunRecord, string>((o) => storage.scanRuns(o), (r) => r.id, 3);
      expect(all.map((r) => r.id)).toEqual(['r1', 'r2', 'r3', 'r4']);
      expect(all[1]).toStrictEqual(makeRun('r2', { status: 'failed', parent_id: 'r3', parent_step_path: 'sub' }));
      expect((await storage.scanRuns({ limit: 10, status: ['completed', 'failed'] })).map((r) => r.id)).toEqual(['r2', 'r3']);
      expect((await storage.scanRuns({ after: 'r2', limit: 10, status: ['completed', 'pending'] })).map((r) => r.id)).toEqual(['r3', 'r4']);
      expect(await storage.scanRuns({ limit: 10, status: [] })).toEqual([]);
    });
  });
}
