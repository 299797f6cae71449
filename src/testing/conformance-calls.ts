/**
 * The Storage contract, part five: model call records (saved alone or with a step's commit) and
 * bundles.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeRun, makeStep, makeCall } from './storage-fixtures.js';
import type { BundleRecord, ModelCallRecord } from '../storage/records.js';
import type { Storage } from '../storage/storage.js';
import { stepCallId } from '../kernel/call-ids.js';

/** Model calls and bundles: round-trips, filters, calls kept with their step. */
export function callsConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('model calls and bundles', () => {
    test('saves, updates and filters model calls', async (storage) => {
      const full = makeCall('e1', {
        workflow_execution_id: 'run1',
        workflow_node_id: 'draft',
        step_path: 'loop[0].draft',
        attempt: 1,
        idempotency_key: 'run1:draft:1',
        response: { content: 'hi', tool_calls: null },
        usage: { input_tokens: 3 },
        cost_usd: 0.000123,
        error: { code: 'rate_limit', message: 'slow down' },
        started_at: 11,
        completed_at: 12.5,
        duration_ms: 1.5,
        created_at: 20,
      });
      const e2 = makeCall('e2', { workflow_execution_id: 'run1', workflow_node_id: 'review', created_at: 10 });
      const e3 = makeCall('e3', { workflow_execution_id: 'run2', workflow_node_id: 'draft', created_at: 5 });
      for (const e of [full, e2, e3]) await storage.saveCall(e);
      expect(await storage.getCall('e1')).toStrictEqual(full);
      expect(await storage.getCall('e2')).toStrictEqual(e2);
      expect(await storage.getCall('nope')).toBeUndefined();
      const ids = async (filter: Parameters<Storage['listCalls']>[0]) => (await storage.listCalls(filter)).map((e) => e.id);
      expect(await ids({})).toEqual(['e3', 'e2', 'e1']);
      expect(await ids({ workflow_execution_id: 'run1' })).toEqual(['e2', 'e1']);
      expect(await ids({ workflow_node_id: 'draft' })).toEqual(['e3', 'e1']);
      expect(await ids({ workflow_execution_id: 'run1', workflow_node_id: 'draft' })).toEqual(['e1']);
      const updated = makeCall('e2', { status: 'failed', workflow_execution_id: 'run1', workflow_node_id: 'review', created_at: 10 });
      await storage.saveCall(updated);
      expect(await storage.getCall('e2')).toStrictEqual(updated);
    });

    test('rewrites a step as a bare running row: every other field is cleared, its calls are kept', async (storage) => {
      await storage.createRun(makeRun('bare', { status: 'running' }));
      const callId = stepCallId('exec_1', 'bare', 'wait');
      const call = makeCall(callId, { workflow_execution_id: 'bare', workflow_node_id: 'wait', step_path: 'wait', created_at: 5 });
      const full = makeStep('bare', 'wait', 1, {
        status: 'waiting',
        input_data: { a: 1 },
        output_data: 'out',
        fired: ['true'],
        state: { attempts: [] },
        error: { code: 'timeout', message: 'slow' },
        waiter: { kind: 'event', event: 'go', due_at: 10 },
        execution_id: callId,
        completed_at: 3000,
        duration_ms: 999,
      });
      await storage.commit({ runId: 'bare', steps: [full], calls: [call] });
      expect(await storage.findEventWaiters('go', 10)).toHaveLength(1);
      const bare = makeStep('bare', 'wait', 1, { status: 'running', attempt: 2 });
      await storage.commit({ runId: 'bare', steps: [bare] });
      expect(await storage.getStep('bare', 'wait')).toStrictEqual(bare);
      expect(await storage.findEventWaiters('go', 10)).toEqual([]);
      expect(await storage.findDueSteps(100, 10)).toEqual([]);
      expect(await storage.getCall(callId)).toStrictEqual(call);
    });

    test('keeps step-scoped LLM calls across commits and attempts, and finds each by its id', async (storage) => {
      await storage.createRun(makeRun('sc', { status: 'running' }));
      const call = (token: string, path: string, over: Partial<ModelCallRecord> = {}) =>
        makeCall(stepCallId(token, 'sc', path), { workflow_execution_id: 'sc', workflow_node_id: path.split('.').at(-1)!, step_path: path, ...over });
      const first = call('exec_1', 'loop[0].draft', { status: 'failed', attempt: 1, error: { code: 'timeout', message: 'slow\nline' }, created_at: 30 });
      const tool = call('exec_2', 'loop[0].draft', {
        attempt: 1,
        idempotency_key: 'sc:loop[0].draft:1:2',
        response: { text: 'héllo ✓', finish_reason: null },
        usage: { input_tokens: 2 },
        cost_usd: 0.5,
        created_at: 31,
        started_at: 31.1,
        completed_at: 32,
        duration_ms: 0.9,
      });
      expect(await storage.commit({ runId: 'sc', steps: [makeStep('sc', 'loop[0].draft', 1, { status: 'waiting', attempt: 1 })], calls: [first, tool] })).toBe(true);
      // The step's next attempt adds to its calls; a rewrite of the step without calls keeps them.
      const second = call('exec_3', 'loop[0].draft', { attempt: 2, idempotency_key: 'custom-key', created_at: 40, started_at: 40, completed_at: 45, duration_ms: 5 });
      await storage.commit({ runId: 'sc', steps: [makeStep('sc', 'loop[0].draft', 1, { attempt: 2 })], calls: [second] });
      const done = makeStep('sc', 'loop[0].draft', 1, { attempt: 2, output_data: 'x', execution_id: second.id });
      await storage.commit({ runId: 'sc', steps: [done] });
      expect(await storage.getStep('sc', 'loop[0].draft')).toStrictEqual(done);
      // A step may name a call of another step (or any id) as its execution.
      const pointing = makeStep('sc', 'after', 3, { execution_id: second.id });
      await storage.commit({ runId: 'sc', steps: [pointing] });
      expect(await storage.getSteps('sc')).toStrictEqual([done, pointing]);
      // A call whose step is not in the commit, a plain id, and a call of another run are kept too.
      // The shapes the engine builds (stored compactly) and near misses of them (stored as they are).
      const shaped = call('exec_6', 'loop[0].draft', {
        attempt: 2,
        request: { seq: 0, model: 'm', prompt: 'p', options: { temperature: 0.5 } },
        response: { text: 'a\nb', finish_reason: null, model: null },
        usage: { input_tokens: 3, output_tokens: 4 },
        created_at: 41,
      });
      const nearMiss = call('exec_7', 'loop[0].draft', {
        attempt: 2,
        request: { model: 'm', seq: 0, prompt: 'p', options: {} },
        response: { text: 'x', finish_reason: 'stop', model: 'm', tool_calls: [] },
        usage: { input_tokens: 3, output_tokens: 4, cached: 1 },
        created_at: 42,
      });
      await storage.commit({ runId: 'sc', steps: [makeStep('sc', 'loop[0].draft', 1, { attempt: 2 })], calls: [shaped, nearMiss] });
      for (const record of [shaped, nearMiss]) expect(await storage.getCall(record.id)).toStrictEqual(record);
      const elsewhere = call('exec_4', 'other', { created_at: 35 });
      const plain = makeCall('plain', { workflow_execution_id: 'sc', workflow_node_id: 'draft', created_at: 33 });
      await storage.commit({ runId: 'sc', steps: [makeStep('sc', 'next', 2)], calls: [elsewhere, plain] });
      for (const record of [first, tool, second, elsewhere, plain]) expect(await storage.getCall(record.id)).toStrictEqual(record);
      expect(await storage.getCall(stepCallId('exec_9', 'sc', 'loop[0].draft'))).toBeUndefined();
      expect(await storage.getCall(stepCallId('exec_1', 'nope', 'loop[0].draft'))).toBeUndefined();
      const ids = async (filter: Parameters<Storage['listCalls']>[0]) => (await storage.listCalls(filter)).map((e) => e.id);
      expect(await ids({ workflow_execution_id: 'sc' })).toEqual([first.id, tool.id, plain.id, elsewhere.id, second.id, shaped.id, nearMiss.id]);
      expect(await ids({ workflow_execution_id: 'sc', workflow_node_id: 'draft' })).toEqual([first.id, tool.id, plain.id, second.id, shaped.id, nearMiss.id]);
      expect(await ids({ workflow_node_id: 'other' })).toEqual([elsewhere.id]);
      // Across runs: a node's calls in every run (runs before and after this one in key order), oldest first.
      for (const runId of ['sa', 'sz']) {
        await storage.createRun(makeRun(runId, { status: 'running' }));
        const theirs = makeCall(stepCallId(`exec_${runId}`, runId, 'draft'), { workflow_execution_id: runId, workflow_node_id: 'draft', step_path: 'draft', created_at: runId === 'sa' ? 1 : 99 });
        await storage.commit({ runId, steps: [makeStep(runId, 'draft', 1)], calls: [theirs] });
      }
      expect(await ids({ workflow_node_id: 'draft' })).toEqual([stepCallId('exec_sa', 'sa', 'draft'), first.id, tool.id, plain.id, second.id, shaped.id, nearMiss.id, stepCallId('exec_sz', 'sz', 'draft')]);
      expect(await ids({})).toHaveLength(9);
      // Written again under the same id (a commit retried), a call is still one record: the last write.
      const rewritten = { ...second, status: 'failed' as const };
      await storage.commit({ runId: 'sc', steps: [makeStep('sc', 'loop[0].draft', 1, { attempt: 2 })], calls: [rewritten] });
      expect(await storage.getCall(second.id)).toStrictEqual(rewritten);
      expect(await ids({ workflow_execution_id: 'sc', workflow_node_id: 'draft' })).toEqual([first.id, tool.id, plain.id, second.id, shaped.id, nearMiss.id]);
      // A refused commit writes none of its calls; deleting the run deletes them.
      const refused = call('exec_5', 'loop[0].draft', { created_at: 50 });
      expect(await storage.commit({ runId: 'sc', steps: [makeStep('sc', 'loop[0].draft', 1)], calls: [refused], expect: { status: 'paused' } })).toBe(false);
      expect(await storage.getCall(refused.id)).toBeUndefined();
      await storage.deleteRun('sc');
      expect(await storage.getCall(first.id)).toBeUndefined();
      expect(await storage.getCall(plain.id)).toBeUndefined();
      expect(await storage.listCalls({ workflow_execution_id: 'sc' })).toEqual([]);
    });

    test('saves and updates bundles', async (storage) => {
      const bundle: BundleRecord = {
        id: 'b1',
        target: { workflow_id: 'wf', version: 2 },
        status: 'running',
        items: [
          { index: 0, input: { q: 'a' }, status: 'pending' },
          { index: 1, input: null, run_id: 'r9', status: 'completed', output: { a: 1 } },
        ],
        created_at: 1,
      };
      await storage.saveBundle(bundle);
      expect(await storage.getBundle('b1')).toStrictEqual(bundle);
      const done: BundleRecord = { ...bundle, status: 'failed', completed_at: 9, items: [{ index: 0, input: { q: 'a' }, status: 'failed', error: 'boom' }] };
      await storage.saveBundle(done);
      expect(await storage.getBundle('b1')).toStrictEqual(done);
      expect(await storage.getBundle('nope')).toBeUndefined();
    });
  });
}
