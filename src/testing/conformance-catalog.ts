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
      const v2b = makeWorkflow('w', 2, { name: 'Renamed' });
      await storage.saveWorkflow(v2b);
      expect(await storage.listWorkflowVersions('w')).toStrictEqual([v1, v2b]);
      expect(await storage.listWorkflows()).toStrictEqual([v2b]);
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
