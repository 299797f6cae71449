/**
 * The Storage contract as a test suite. Every implementation runs it: `make()` must return a fresh,
 * empty, initialised storage (it is called before each test and closed after it); `cleanup()` runs
 * once after the suite. Records must round-trip exactly (`toStrictEqual`): numbers stay numbers,
 * JSON `null` stays `null`, absent optional fields stay absent.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isTrellisError } from '../src/kernel/errors.js';
import type { BundleRecord, ModelCallRecord, PromptRecord, RunRecord, StepRecord, WorkflowRecord } from '../src/storage/records.js';
import type { Storage } from '../src/storage/storage.js';
import { stepCallId } from '../src/kernel/call-ids.js';

/** A run with only the required fields. */
export function makeRun(id: string, over: Partial<RunRecord> = {}): RunRecord {
  return { id, workflow_id: 'wf', workflow_version: 1, status: 'pending', input_data: {}, variables: {}, created_at: 1000, revision: 0, recovery_count: 0, ...over };
}

/** A step with only the required fields. */
export function makeStep(run_id: string, path: string, seq: number, over: Partial<StepRecord> = {}): StepRecord {
  return { run_id, path, node_id: path.split('.').at(-1)!, seq, status: 'completed', attempt: 1, started_at: 2000 + seq, ...over };
}

function makeWorkflow(id: string, version: number, over: Partial<WorkflowRecord> = {}): WorkflowRecord {
  return {
    id,
    version,
    name: `Workflow ${id}`,
    status: 'active',
    tags: [],
    definition: { id, name: `Workflow ${id}`, version, status: 'active', definition: { nodes: [], edges: [], variables: [], triggers: [] } },
    created_at: 100 + version,
    ...over,
  };
}

function makePrompt(id: string, version: number, over: Partial<PromptRecord> = {}): PromptRecord {
  return { id, version, name: `Prompt ${id}`, template: 'Hello {{name}} v' + version, variables: ['name'], created_at: 100 + version, ...over };
}

function makeCall(id: string, over: Partial<ModelCallRecord> = {}): ModelCallRecord {
  return { id, status: 'completed', provider_model: 'scripted:test', request: { messages: [] }, created_at: 10, ...over };
}

/** A run with every optional field set, including JSON nulls, floats and non-ASCII text. */
const FULL_RUN: RunRecord = makeRun('full', {
  status: 'running',
  input_data: { text: 'héllo ✓ 🚀', nested: { list: [1, 2.5, -3e-7, null, true, 'x'] }, empty: {} },
  variables: { count: 0, ratio: 0.1 + 0.2, big: 2 ** 52 + 1 },
  output_data: null,
  error_message: 'it "broke"\n',
  created_at: 1700000000123,
  started_at: 1700000000456.5,
  completed_at: 1700000000789,
  owner: 'engine-a',
  lease_expires_at: 1700000009999,
  revision: 3,
  recovery_count: 2,
  parent_id: 'parent',
  parent_step_path: 'loop[2].child',
  trigger: { type: 'webhook', headers: { a: 'b' } },
  idempotency_key: 'key-full',
  usage: { input_tokens: 12, output_tokens: 34, cost_usd: 0.0012 },
});

const FULL_STEP: StepRecord = makeStep('full', 'loop[2].review', 7, {
  status: 'waiting',
  attempt: 2,
  input_data: { a: [1, { b: null }] },
  output_data: null,
  fired: ['yes', 'no'],
  state: { iteration: 2 },
  error: { code: 'timeout', message: 'took too long' },
  waiter: { kind: 'approval', due_at: 5000, detail: { approvers: ['ann'] } },
  execution_id: 'exec-1',
  completed_at: 3000.25,
  duration_ms: 12.5,
});

async function rejectsWithCode(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isTrellisError(error), `expected a TrellisError, got ${String(error)}`).toBe(true);
  expect((error as { code: string }).code).toBe(code);
}

/** Defines the Storage conformance suite for one implementation. */
export function storageConformance(name: string, make: () => Promise<Storage>, cleanup?: () => Promise<void>): void {
  describe(`Storage conformance: ${name}`, () => {
    let storage: Storage;

    beforeEach(async () => {
      storage = await make();
    });
    afterEach(async () => {
      await storage.close();
    });
    if (cleanup) afterAll(cleanup);

    describe('runs', () => {
      it('round-trips a run with every field, and one with none of the optional fields', async () => {
        await storage.createRun(FULL_RUN);
        await storage.createRun(makeRun('min'));
        expect(await storage.getRun('full')).toStrictEqual(FULL_RUN);
        const min = await storage.getRun('min');
        expect(min).toStrictEqual(makeRun('min'));
        expect(Object.keys(min!).sort()).toEqual(Object.keys(makeRun('min')).sort());
        expect(await storage.getRun('missing')).toBeUndefined();
      });

      it('refuses a second run with the same id', async () => {
        await storage.createRun(makeRun('dup'));
        await rejectsWithCode(storage.createRun(makeRun('dup', { workflow_id: 'other' })), 'conflict');
        expect((await storage.getRun('dup'))?.workflow_id).toBe('wf');
      });

      it('returns the existing run for a repeated idempotency_key', async () => {
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

      it('lists runs newest first with filters and pagination', async () => {
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

      it('deletes a run with its steps', async () => {
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
      it('patches fields and bumps revision only on a status change', async () => {
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

      it('clears optional fields given as undefined and ignores undefined for required ones', async () => {
        await storage.createRun(makeRun('c', { owner: 'x', lease_expires_at: 99, error_message: 'e', output_data: [1], usage: { a: 1 } }));
        const cleared = await storage.updateRun('c', { owner: undefined, lease_expires_at: undefined, error_message: undefined, output_data: undefined, usage: undefined });
        expect(cleared).toStrictEqual(makeRun('c'));
        expect(await storage.getRun('c')).toStrictEqual(makeRun('c'));
        const unchanged = await storage.updateRun('c', { status: undefined, recovery_count: undefined } as never);
        expect(unchanged).toStrictEqual(makeRun('c'));
      });

      it('is compare-and-set on status, revision and owner', async () => {
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

    describe('commit and steps', () => {
      it('round-trips steps exactly', async () => {
        await storage.createRun(makeRun('full'));
        const minimal = makeStep('full', 'start', 1);
        expect(await storage.commit({ runId: 'full', steps: [FULL_STEP, minimal] })).toBe(true);
        expect(await storage.getStep('full', FULL_STEP.path)).toStrictEqual(FULL_STEP);
        expect(await storage.getStep('full', 'start')).toStrictEqual(minimal);
        expect(await storage.getSteps('full')).toStrictEqual([minimal, FULL_STEP]);
        expect(await storage.getStep('full', 'nope')).toBeUndefined();
      });

      it('orders steps by seq and upserts them by path', async () => {
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

      it('writes LLM execution records in the same commit, and none when the expectation fails', async () => {
        await storage.createRun(makeRun('ex', { status: 'running' }));
        const running = makeCall('call1', { workflow_execution_id: 'ex', workflow_node_id: 'a', status: 'completed', created_at: 1 });
        expect(await storage.commit({ runId: 'ex', steps: [makeStep('ex', 'a', 1)], calls: [running] })).toBe(true);
        expect(await storage.getCall('call1')).toStrictEqual(running);
        const refused = makeCall('call2', { workflow_execution_id: 'ex', created_at: 2 });
        expect(await storage.commit({ runId: 'ex', steps: [makeStep('ex', 'b', 2)], calls: [refused], expect: { status: 'paused' } })).toBe(false);
        expect(await storage.getCall('call2')).toBeUndefined();
        expect(await storage.getStep('ex', 'b')).toBeUndefined();
      });

      it('creates a run together with its first steps, or not at all', async () => {
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

      it('applies a run patch with the steps', async () => {
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

      it('writes nothing when the expectation fails', async () => {
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

      it('stores a large output once and reads it back identically', async () => {
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

    describe('leases and recovery', () => {
      it('claims free, own and expired runs, and refuses live leases of others', async () => {
        await storage.createRun(makeRun('c1', { status: 'running' }));
        const claimed = await storage.claimRun('c1', 'a', 2000, 1000);
        expect(claimed).toStrictEqual(makeRun('c1', { status: 'running', owner: 'a', lease_expires_at: 2000 }));
        expect(await storage.claimRun('c1', 'b', 2500, 1500)).toBeUndefined();
        expect((await storage.claimRun('c1', 'a', 3000, 1500))?.lease_expires_at).toBe(3000);
        // The lease must have expired strictly before now.
        expect(await storage.claimRun('c1', 'b', 4000, 3000)).toBeUndefined();
        expect(await storage.claimRun('c1', 'b', 4000, 3001)).toStrictEqual(makeRun('c1', { status: 'running', owner: 'b', lease_expires_at: 4000 }));
        expect(await storage.getRun('c1')).toStrictEqual(makeRun('c1', { status: 'running', owner: 'b', lease_expires_at: 4000 }));
        await storage.createRun(makeRun('c2', { owner: 'a' }));
        expect((await storage.claimRun('c2', 'b', 10, 5))?.owner).toBe('b');
        expect(await storage.claimRun('missing', 'a', 10, 5)).toBeUndefined();
      });

      it('lets exactly one of two concurrent claimers win', async () => {
        const ids = Array.from({ length: 12 }, (_, i) => `race${i}`);
        for (const id of ids) await storage.createRun(makeRun(id, { status: 'running', owner: 'dead', lease_expires_at: 50 }));
        const results = await Promise.all(ids.map((id) => Promise.all([storage.claimRun(id, 'a', 5000, 100), storage.claimRun(id, 'b', 5000, 100)])));
        for (const [index, [a, b]] of results.entries()) {
          expect([a, b].filter((r) => r !== undefined)).toHaveLength(1);
          const winner = a ? 'a' : 'b';
          expect((await storage.getRun(ids[index]!))?.owner).toBe(winner);
        }
      });

      it('renews the leases of the owner’s active runs only', async () => {
        await storage.createRun(makeRun('l1', { status: 'running', owner: 'a', lease_expires_at: 10 }));
        await storage.createRun(makeRun('l2', { status: 'paused', owner: 'a', lease_expires_at: 10 }));
        await storage.createRun(makeRun('l3', { status: 'completed', owner: 'a', lease_expires_at: 10 }));
        await storage.createRun(makeRun('l4', { status: 'running', owner: 'b', lease_expires_at: 10 }));
        await storage.renewLeases('a', 99);
        const lease = async (id: string) => (await storage.getRun(id))?.lease_expires_at;
        expect([await lease('l1'), await lease('l2'), await lease('l3'), await lease('l4')]).toEqual([99, 99, 10, 10]);
      });

      it('finds orphan runs oldest first', async () => {
        await storage.createRun(makeRun('o1', { status: 'running', created_at: 30 }));
        await storage.createRun(makeRun('o2', { status: 'pending', created_at: 10, owner: 'dead', lease_expires_at: 99 }));
        await storage.createRun(makeRun('o3', { status: 'running', created_at: 20, owner: 'alive', lease_expires_at: 101 }));
        await storage.createRun(makeRun('o4', { status: 'paused', created_at: 5 }));
        await storage.createRun(makeRun('o5', { status: 'completed', created_at: 5 }));
        await storage.createRun(makeRun('o6', { status: 'running', created_at: 40, owner: 'no-lease' }));
        await storage.createRun(makeRun('o7', { status: 'running', created_at: 50, owner: 'edge', lease_expires_at: 100 }));
        expect((await storage.findOrphanRuns(100, 10)).map((r) => r.id)).toEqual(['o2', 'o1', 'o6']);
        expect((await storage.findOrphanRuns(100, 2)).map((r) => r.id)).toEqual(['o2', 'o1']);
        expect(await storage.findOrphanRuns(100, 1)).toStrictEqual([makeRun('o2', { status: 'pending', created_at: 10, owner: 'dead', lease_expires_at: 99 })]);
      });

      it('finds waiting steps that are due, in running or paused runs', async () => {
        const statuses = { r: 'running', p: 'paused', d: 'completed', n: 'pending' } as const;
        for (const [id, status] of Object.entries(statuses)) await storage.createRun(makeRun(id, { status }));
        const waiting = (run: string, path: string, due: number | undefined, over: Partial<StepRecord> = {}) =>
          makeStep(run, path, 1, { status: 'waiting', waiter: due === undefined ? { kind: 'event', event: 'go' } : { kind: 'timer', due_at: due }, ...over });
        const due1 = waiting('r', 'a', 100);
        const due2 = waiting('p', 'a', 50);
        const due3 = waiting('r', 'b', 100);
        await storage.commit({ runId: 'r', steps: [due1, due3, waiting('r', 'late', 101), waiting('r', 'event', undefined), waiting('r', 'done', 10, { status: 'completed' })] });
        await storage.commit({ runId: 'p', steps: [due2] });
        await storage.commit({ runId: 'd', steps: [waiting('d', 'a', 10)] });
        await storage.commit({ runId: 'n', steps: [waiting('n', 'a', 10)] });
        expect(await storage.findDueSteps(100, 10)).toStrictEqual([due2, due1, due3]);
        expect(await storage.findDueSteps(100, 1)).toStrictEqual([due2]);
        expect(await storage.findDueSteps(49, 10)).toEqual([]);
      });

      it('finds the steps waiting for an event, in running or paused runs, and forgets them once they stop waiting', async () => {
        const statuses = { r: 'running', p: 'paused', d: 'completed' } as const;
        for (const [id, status] of Object.entries(statuses)) await storage.createRun(makeRun(id, { status }));
        const waitsFor = (run: string, path: string, event: string) => makeStep(run, path, 1, { status: 'waiting', waiter: { kind: 'event', event, due_at: 500 } });
        const rGo = waitsFor('r', 'b', 'go');
        const pGo = waitsFor('p', 'a', 'go');
        await storage.commit({ runId: 'r', steps: [rGo, waitsFor('r', 'c', 'stop'), makeStep('r', 'timer', 1, { status: 'waiting', waiter: { kind: 'timer', due_at: 5 } })] });
        await storage.commit({ runId: 'p', steps: [pGo] });
        await storage.commit({ runId: 'd', steps: [waitsFor('d', 'a', 'go')] });
        expect(await storage.findEventWaiters('go', 10)).toStrictEqual([pGo, rGo]);
        expect(await storage.findEventWaiters('go', 1)).toStrictEqual([pGo]);
        expect(await storage.findEventWaiters('nobody', 10)).toEqual([]);
        await storage.commit({ runId: 'r', steps: [makeStep('r', 'b', 1, { status: 'running' })] });
        expect(await storage.findEventWaiters('go', 10)).toStrictEqual([pGo]);
      });
    });

    describe('workflows', () => {
      it('keeps every version and returns the latest', async () => {
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

      it('lists the latest version of each workflow with filters', async () => {
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

      it('deletes a workflow with all its versions', async () => {
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
      it('keeps versions, replaces a re-saved version, lists the latest of each', async () => {
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

    describe('model calls and bundles', () => {
      it('saves, updates and filters model calls', async () => {
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

      it('rewrites a step as a bare running row: every other field is cleared, its calls are kept', async () => {
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

      it('keeps step-scoped LLM calls across commits and attempts, and finds each by its id', async () => {
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

      it('saves and updates bundles', async () => {
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
  });
}
