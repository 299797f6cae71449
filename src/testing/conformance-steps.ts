/**
 * The Storage contract, part two: a commit writes steps, calls and a run patch together or not
 * at all; steps read back exactly, ordered by `seq`, upserted by path; large outputs round-trip.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeRun, makeStep, makeCall, FULL_STEP } from './storage-fixtures.js';
import { stepCallId } from '../kernel/call-ids.js';

/** Commits and steps: atomicity, expectations, ordering, large outputs. */
export function stepsConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('commit and steps', () => {
    test('round-trips steps exactly', async (storage) => {
      await storage.createRun(makeRun('full'));
      const minimal = makeStep('full', 'start', 1);
      expect(await storage.commit({ runId: 'full', steps: [FULL_STEP, minimal] })).toBe(true);
      expect(await storage.getStep('full', FULL_STEP.path)).toStrictEqual(FULL_STEP);
      expect(await storage.getStep('full', 'start')).toStrictEqual(minimal);
      expect(await storage.getSteps('full')).toStrictEqual([minimal, FULL_STEP]);
      expect(await storage.getStep('full', 'nope')).toBeUndefined();
    });

    test('orders steps by seq and upserts them by path', async (storage) => {
      await storage.createRun(makeRun('s'));
      await storage.commit({ runId: 's', steps: [makeStep('s', 'c', 3), makeStep('s', 'a', 1)] });
      await storage.commit({ runId: 's', steps: [makeStep('s', 'b', 2, { status: 'running' })] });
      expect((await storage.getSteps('s')).map((x) => x.path)).toEqual(['a', 'b', 'c']);
      await storage.commit({ runId: 's', steps: [makeStep('s', 'b', 2, { status: 'completed', output_data: 'ok' })] });
      await storage.commit({ runId: 's', steps: [makeStep('s', 'a', 9)] });
      const steps = await storage.getSteps('s');
      expect(steps.map((x) => `${x.path}:${x.seq}`)).toEqual(['b:2', 'c:3', 'a:9']);
      expect(steps[0]).toStrictEqual(makeStep('s', 'b', 2, { status: 'completed', output_data: 'ok' }));
      // A path given twice in one commit: the last one wins.
      await storage.commit({ runId: 's', steps: [makeStep('s', 'd', 10, { attempt: 1 }), makeStep('s', 'd', 10, { attempt: 2 })] });
      expect((await storage.getStep('s', 'd'))?.attempt).toBe(2);
      // Steps of other runs are not mixed in.
      await storage.createRun(makeRun('t'));
      await storage.commit({ runId: 't', steps: [makeStep('t', 'a', 1)] });
      expect(await storage.getSteps('s')).toHaveLength(4);
    });

    test('writes LLM execution records in the same commit, and none when the expectation fails', async (storage) => {
      await storage.createRun(makeRun('ex', { status: 'running' }));
      const running = makeCall('call1', { workflow_execution_id: 'ex', workflow_node_id: 'a', status: 'completed', created_at: 1 });
      expect(await storage.commit({ runId: 'ex', steps: [makeStep('ex', 'a', 1)], calls: [running] })).toBe(true);
      expect(await storage.getCall('call1')).toStrictEqual(running);
      const refused = makeCall('call2', { workflow_execution_id: 'ex', created_at: 2 });
      expect(await storage.commit({ runId: 'ex', steps: [makeStep('ex', 'b', 2)], calls: [refused], expect: { status: 'paused' } })).toBe(false);
      expect(await storage.getCall('call2')).toBeUndefined();
      expect(await storage.getStep('ex', 'b')).toBeUndefined();
    });

    test('creates a run together with its first steps, or not at all', async (storage) => {
      const fresh = makeRun('born', { status: 'running', owner: 'me' });
      const call = makeCall(stepCallId('exec_1', 'born', 'a'), { workflow_execution_id: 'born', workflow_node_id: 'a', step_path: 'a', created_at: 5 });
      const big = makeStep('born', 'b', 2, { output_data: { text: 'x'.repeat(300_000) } });
      expect(await storage.commit({ runId: 'born', create: fresh, steps: [makeStep('born', 'a', 1), big], calls: [call], run: { status: 'completed', output_data: { ok: true } } })).toBe(true);
      expect(await storage.getRun('born')).toStrictEqual({ ...fresh, status: 'completed', output_data: { ok: true }, revision: 1 });
      expect(await storage.getSteps('born')).toStrictEqual([makeStep('born', 'a', 1), big]);
      expect(await storage.getCall(call.id)).toStrictEqual(call);
      // A second run with that id: refused with `conflict`, and nothing of its commit is written.
      await expect(storage.commit({ runId: 'born', create: makeRun('born'), steps: [makeStep('born', 'c', 3)] })).rejects.toMatchObject({ code: 'conflict' });
      expect(await storage.getStep('born', 'c')).toBeUndefined();
      expect((await storage.getRun('born'))?.status).toBe('completed');
      // An expectation the new row does not meet: no run is created.
      expect(await storage.commit({ runId: 'unborn', create: makeRun('unborn'), steps: [makeStep('unborn', 'a', 1)], expect: { status: 'running' } })).toBe(false);
      expect(await storage.getRun('unborn')).toBeUndefined();
      expect(await storage.getSteps('unborn')).toEqual([]);
    });

    test('applies a run patch with the steps', async (storage) => {
      await storage.createRun(makeRun('p', { status: 'running', owner: 'me' }));
      const ok = await storage.commit({
        runId: 'p',
        steps: [makeStep('p', 'a', 1)],
        run: { status: 'completed', output_data: { done: true }, completed_at: 3000, owner: undefined },
        expect: { status: 'running', owner: 'me', revision: 0 },
      });
      expect(ok).toBe(true);
      expect(await storage.getRun('p')).toStrictEqual(makeRun('p', { status: 'completed', output_data: { done: true }, completed_at: 3000, revision: 1 }));
      expect(await storage.getSteps('p')).toStrictEqual([makeStep('p', 'a', 1)]);
      expect(await storage.commit({ runId: 'p', steps: [], run: { usage: { n: 1 } } })).toBe(true);
      expect((await storage.getRun('p'))?.usage).toEqual({ n: 1 });
    });

    test('writes nothing when the expectation fails', async (storage) => {
      await storage.createRun(makeRun('f', { status: 'running', owner: 'me' }));
      await storage.commit({ runId: 'f', steps: [makeStep('f', 'a', 1)] });
      for (const expectation of [{ status: 'paused' as const }, { owner: 'other' }, { owner: null }, { revision: 7 }]) {
        const ok = await storage.commit({
          runId: 'f',
          steps: [makeStep('f', 'a', 1, { status: 'failed' }), makeStep('f', 'b', 2)],
          run: { status: 'failed', error_message: 'nope' },
          expect: expectation,
        });
        expect(ok).toBe(false);
        expect(await storage.commit({ runId: 'f', steps: [makeStep('f', 'c', 3)], expect: expectation })).toBe(false);
      }
      expect(await storage.getRun('f')).toStrictEqual(makeRun('f', { status: 'running', owner: 'me' }));
      expect(await storage.getSteps('f')).toStrictEqual([makeStep('f', 'a', 1)]);
      expect(await storage.commit({ runId: 'missing', steps: [makeStep('missing', 'a', 1)] })).toBe(false);
      expect(await storage.getSteps('missing')).toEqual([]);
    });

    test('stores a large output once and reads it back identically', async (storage) => {
      const big = { rows: Array.from({ length: 6000 }, (_, i) => ({ i, text: `row ${i} ✓ ${'x'.repeat(40)}`, f: i / 7 })) };
      expect(JSON.stringify(big).length).toBeGreaterThan(256 * 1024);
      await storage.createRun(makeRun('big1', { status: 'running' }));
      await storage.createRun(makeRun('big2', { status: 'running' }));
      const s1 = makeStep('big1', 'load', 1, { output_data: big });
      const s2 = makeStep('big2', 'load', 1, { output_data: big, status: 'waiting', waiter: { kind: 'timer', due_at: 10 } });
      await storage.commit({ runId: 'big1', steps: [s1] });
      await storage.commit({ runId: 'big2', steps: [s2] });
      expect(await storage.getStep('big1', 'load')).toStrictEqual(s1);
      expect(await storage.getSteps('big2')).toStrictEqual([s2]);
      expect(await storage.findDueSteps(10, 10)).toStrictEqual([s2]);
      // Both runs share the stored output; deleting one must not lose it for the other.
      await storage.deleteRun('big1');
      expect(await storage.getStep('big2', 'load')).toStrictEqual(s2);
      // Overwriting the step with a small output reads back the small output.
      await storage.commit({ runId: 'big2', steps: [makeStep('big2', 'load', 1, { output_data: 'small' })] });
      expect((await storage.getStep('big2', 'load'))?.output_data).toBe('small');
    });
  });
}
