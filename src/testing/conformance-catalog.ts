/**
 * The Storage contract, part four: versioned workflows and prompts.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeWorkflow, makePrompt } from './storage-fixtures.js';
import type { Storage } from '../storage/storage.js';

/** Workflows and prompts: every version kept, the latest listed, filters, deletion. */
export function catalogConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('workflows', () => {
    test('keeps every version and returns the latest', async (storage) => {
      const v1 = makeWorkflow('w', 1, { tags: ['a'] });
      const v2 = makeWorkflow('w', 2, { tags: ['a', 'b'], status: 'draft' });
      await storage.saveWorkflow(v2);
      await storage.saveWorkflow(v1);
      expect(await storage.getWorkflow('w')).toStrictEqual(v2);
      expect(await storage.getWorkflow('w', 1)).toStrictEqual(v1);
      expect(await storage.getWorkflow('w', 3)).toBeUndefined();
      expect(await storage.getWorkflow('nope')).toBeUndefined();
      expect(await storage.listWorkflowVersions('w')).toStrictEqual([v1, v2]);
      expect(await storage.listWorkflows()).toStrictEqual([v2]);
    });

    test('writes a version once: the same content again is a no-op, another content a conflict', async (storage) => {
      const v1 = makeWorkflow('w', 1);
      await storage.saveWorkflow(v1);
      await storage.saveWorkflow({ ...v1, created_at: 999 });
      expect(await storage.getWorkflow('w', 1)).toStrictEqual(v1);
      await storage.saveWorkflow(makeWorkflow('w', 2));
      const other = makeWorkflow('w', 1, { name: 'Renamed', definition: { ...v1.definition, name: 'Renamed' } });
      const error = await storage.saveWorkflow(other).then(() => undefined, (e: unknown) => e);
      expect(error).toMatchObject({ code: 'conflict', details: { id: 'w', version: 1, highest: 2 } });
      await expect(storage.saveWorkflow(makeWorkflow('w', 1, { tags: ['new'] }))).rejects.toMatchObject({ code: 'conflict' });
      expect(await storage.getWorkflow('w', 1)).toStrictEqual(v1);
    });

    test('concurrent writers of one version: one wins, the others get a conflict', async (storage) => {
      const writes = [1, 2, 3, 4].map((n) => makeWorkflow('race', 1, { tags: [`writer${n}`] }));
      const results = await Promise.allSettled(writes.map((w) => storage.saveWorkflow(w)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'conflict' });
      const winner = writes[results.findIndex((r) => r.status === 'fulfilled')];
      expect(await storage.getWorkflow('race', 1)).toStrictEqual(winner);
    });

    test('a deleted version keeps its number: writing it again is a conflict that names the highest version', async (storage) => {
      const v1 = makeWorkflow('gone', 1);
      await storage.saveWorkflow(v1);
      await storage.saveWorkflow(makeWorkflow('gone', 2));
      await storage.deleteWorkflow('gone');
      // Even the identical content: the version stays deleted, so "saved" would be a lie.
      await expect(storage.saveWorkflow(v1)).rejects.toMatchObject({ code: 'conflict', details: { highest: 2 } });
      const v3 = makeWorkflow('gone', 3);
      await storage.saveWorkflow(v3);
      expect(await storage.getWorkflow('gone')).toStrictEqual(v3);
      expect(await storage.getWorkflow('gone', 1)).toBeUndefined();
    });

    test('lists the latest version of each workflow with filters', async (storage) => {
      await storage.saveWorkflow(makeWorkflow('alpha', 1, { name: 'Alpha Review', tags: ['legal'], created_at: 1 }));
      await storage.saveWorkflow(makeWorkflow('alpha', 2, { name: 'Alpha Review', tags: ['legal', 'v2'], created_at: 5 }));
      await storage.saveWorkflow(makeWorkflow('beta', 1, { name: 'Beta', status: 'draft', created_at: 3 }));
      await storage.saveWorkflow(makeWorkflow('gamma', 1, { name: 'Gamma review', status: 'archived', tags: ['legal'], created_at: 4 }));
      const ids = async (filter?: Parameters<Storage['listWorkflows']>[0]) => (await storage.listWorkflows(filter)).map((w) => `${w.id}@${w.version}`);
      expect(await ids()).toEqual(['beta@1', 'gamma@1', 'alpha@2']);
      expect(await ids({ status: 'draft' })).toEqual(['beta@1']);
      expect(await ids({ tag: 'legal' })).toEqual(['gamma@1', 'alpha@2']);
      expect(await ids({ tag: 'v2' })).toEqual(['alpha@2']);
      expect(await ids({ tag: 'leg' })).toEqual([]);
      expect(await ids({ name: 'REVIEW' })).toEqual(['gamma@1', 'alpha@2']);
      expect(await ids({ name: '%' })).toEqual([]);
      expect(await ids({ limit: 1, offset: 1 })).toEqual(['gamma@1']);
      expect(await ids({ offset: 2 })).toEqual(['alpha@2']);
    });

    test('deletes a workflow with all its versions', async (storage) => {
      await storage.saveWorkflow(makeWorkflow('d', 1));
      await storage.saveWorkflow(makeWorkflow('d', 2));
      await storage.saveWorkflow(makeWorkflow('kept', 1));
      await storage.deleteWorkflow('d');
      expect(await storage.getWorkflow('d')).toBeUndefined();
      expect(await storage.getWorkflow('d', 1)).toBeUndefined();
      expect(await storage.listWorkflowVersions('d')).toEqual([]);
      expect((await storage.listWorkflows()).map((w) => w.id)).toEqual(['kept']);
      await storage.deleteWorkflow('never');
    });
  });

  describe('prompts', () => {
    test('keeps versions, replaces a re-saved version, lists the latest of each', async (storage) => {
      const p1 = makePrompt('greet', 1);
      const p2 = makePrompt('greet', 2, { system: 'Be brief.', provider_model: 'openai:gpt-4o-mini' });
      await storage.savePrompt(p1);
      await storage.savePrompt(p2);
      await storage.savePrompt(makePrompt('other', 1, { created_at: 50 }));
      expect(await storage.getPrompt('greet')).toStrictEqual(p2);
      expect(await storage.getPrompt('greet', 1)).toStrictEqual(p1);
      expect(await storage.getPrompt('greet', 9)).toBeUndefined();
      const p1b = makePrompt('greet', 1, { template: 'changed' });
      await storage.savePrompt(p1b);
      expect(await storage.getPrompt('greet', 1)).toStrictEqual(p1b);
      expect(await storage.listPrompts()).toStrictEqual([makePrompt('other', 1, { created_at: 50 }), p2]);
      await storage.deletePrompt('greet');
      expect(await storage.getPrompt('greet')).toBeUndefined();
      expect(await storage.getPrompt('greet', 1)).toBeUndefined();
      expect((await storage.listPrompts()).map((p) => p.id)).toEqual(['other']);
    });
  });
}
