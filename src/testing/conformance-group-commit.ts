/**
 * The Storage contract, part twelve: `commitMany`, the group commit that lets many runs in flight
 * share one transaction. Every commit of a group keeps the guarantees it has alone: atomic, fenced
 * by its own expectation, its failure its own. A storage without `commitMany` passes trivially
 * (the engine then commits one by one).
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeCall, makeRun, makeStep } from './storage-fixtures.js';
import type { AuditEvent } from '../storage/records.js';
import type { CommitOutcome, StepCommit, Storage } from '../storage/storage.js';
import { isTrellisError } from '../kernel/errors.js';

function event(id: string, subject: string): AuditEvent {
  return { id, at: 5, actor: 'alice', action: 'run.started', subject_type: 'run', subject_id: subject };
}

async function commitMany(storage: Storage, commits: readonly StepCommit[]): Promise<CommitOutcome[] | undefined> {
  return storage.commitMany?.(commits);
}

/** What a commit left: its run's status and revision, its steps' paths, whether its call is there. */
async function leftBy(storage: Storage, runId: string, callId?: string) {
  const run = await storage.getRun(runId);
  return {
    status: run?.status,
    revision: run?.revision,
    steps: (await storage.getSteps(runId)).map((s) => s.path),
    ...(callId === undefined ? {} : { call: (await storage.getCall(callId)) !== undefined }),
  };
}

/** commitMany: several runs in one transaction, each atomic and fenced on its own. */
export function groupCommitConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('group commit (commitMany)', () => {
    test('lands the commits of several runs together: new runs, steps, calls, patches, audit events', async (storage) => {
      await storage.createRun(makeRun('g1', { status: 'running', owner: 'me' }));
      await storage.createRun(makeRun('g2', { status: 'running', owner: 'me' }));
      const big = makeStep('g3', 'big', 2, { output_data: { text: 'x'.repeat(300_000) } });
      const outcomes = await commitMany(storage, [
        { runId: 'g1', steps: [makeStep('g1', 'a', 1)], calls: [makeCall('c1', { workflow_execution_id: 'g1', workflow_node_id: 'a' })], expect: { owner: 'me', revision: 0 } },
        { runId: 'g2', steps: [makeStep('g2', 'a', 1)], run: { status: 'completed', output_data: { ok: 2 } }, expect: { owner: 'me', revision: 0 }, audit: [event('e2', 'g2')] },
        { runId: 'g3', create: makeRun('g3', { status: 'running', owner: 'me' }), steps: [makeStep('g3', 'a', 1), big], expect: { owner: 'me' } },
      ]);
      if (outcomes === undefined) return;
      expect(outcomes).toEqual([true, true, true]);
      expect(await leftBy(storage, 'g1', 'c1')).toEqual({ status: 'running', revision: 0, steps: ['a'], call: true });
      expect(await leftBy(storage, 'g2')).toEqual({ status: 'completed', revision: 1, steps: ['a'] });
      expect((await storage.getRun('g2'))?.output_data).toEqual({ ok: 2 });
      expect(await storage.getStep('g3', 'big')).toStrictEqual(big);
      expect((await storage.listAudit({ limit: 100 })).map((e) => e.id)).toEqual(['e2']);
    });

    test("one run's fence failing leaves the others landing, and nothing of it written", async (storage) => {
      for (const id of ['f1', 'f2', 'f3']) await storage.createRun(makeRun(id, { status: 'running', owner: 'me', revision: 4 }));
      const outcomes = await commitMany(storage, [
        { runId: 'f1', steps: [makeStep('f1', 'a', 1)], run: { status: 'paused' }, expect: { owner: 'me', revision: 4 } },
        // Taken over: another claim bumped the revision this owner expects.
        { runId: 'f2', steps: [makeStep('f2', 'a', 1)], calls: [makeCall('c2', { workflow_execution_id: 'f2' })], run: { status: 'completed' }, expect: { owner: 'me', revision: 3 }, audit: [event('e2', 'f2')] },
        { runId: 'f3', steps: [makeStep('f3', 'a', 1)], expect: { owner: 'me', revision: 4 }, audit: [event('e3', 'f3')] },
        // A run that is not there, and a new run whose expectation does not hold for the row it creates.
        { runId: 'ghost', steps: [makeStep('ghost', 'a', 1)], expect: { owner: 'me' } },
        { runId: 'f4', create: makeRun('f4', { status: 'running', owner: 'other' }), steps: [makeStep('f4', 'a', 1)], expect: { owner: 'me' } },
      ]);
      if (outcomes === undefined) return;
      expect(outcomes).toEqual([true, false, true, false, false]);
      expect(await leftBy(storage, 'f1')).toEqual({ status: 'paused', revision: 5, steps: ['a'] });
      expect(await leftBy(storage, 'f2', 'c2')).toEqual({ status: 'running', revision: 4, steps: [], call: false });
      expect(await leftBy(storage, 'f3')).toEqual({ status: 'running', revision: 4, steps: ['a'] });
      expect(await storage.getSteps('ghost')).toEqual([]);
      expect(await storage.getRun('f4')).toBeUndefined();
      expect((await storage.listAudit({ limit: 100 })).map((e) => e.id)).toEqual(['e3']);
    });

    test("one run's refused facts (its id or idempotency key taken) fail that commit alone", async (storage) => {
      await storage.createRun(makeRun('taken', { idempotency_key: 'key-1' }));
      await storage.createRun(makeRun('ok1', { status: 'running', owner: 'me' }));
      const outcomes = await commitMany(storage, [
        { runId: 'taken', create: makeRun('taken', { status: 'running' }), steps: [makeStep('taken', 'a', 1)], audit: [event('e0', 'taken')] },
        { runId: 'ok1', steps: [makeStep('ok1', 'a', 1)], expect: { owner: 'me', revision: 0 } },
        { runId: 'dup', create: makeRun('dup', { status: 'running', idempotency_key: 'key-1' }), steps: [makeStep('dup', 'a', 1)] },
        { runId: 'new', create: makeRun('new', { status: 'running', owner: 'me' }), steps: [makeStep('new', 'a', 1)], expect: { owner: 'me' } },
      ]);
      if (outcomes === undefined) return;
      expect(outcomes.map((o) => (o instanceof Error ? (isTrellisError(o) ? o.code : 'error') : o))).toEqual(['conflict', true, 'conflict', true]);
      expect(await leftBy(storage, 'taken')).toEqual({ status: 'pending', revision: 0, steps: [] });
      expect(await leftBy(storage, 'ok1')).toEqual({ status: 'running', revision: 0, steps: ['a'] });
      expect(await storage.getRun('dup')).toBeUndefined();
      expect(await storage.getSteps('dup')).toEqual([]);
      expect(await leftBy(storage, 'new')).toEqual({ status: 'running', revision: 0, steps: ['a'] });
      expect(await storage.listAudit({ limit: 100 })).toEqual([]);
    });

    test('commits of one run in a group land in the order given', async (storage) => {
      const outcomes = await commitMany(storage, [
        { runId: 'o1', create: makeRun('o1', { status: 'running', owner: 'me' }), steps: [makeStep('o1', 'a', 1)], expect: { owner: 'me' } },
        { runId: 'o2', create: makeRun('o2', { status: 'running', owner: 'me' }), steps: [makeStep('o2', 'a', 1)], expect: { owner: 'me' } },
        { runId: 'o1', steps: [makeStep('o1', 'b', 2)], run: { status: 'paused' }, expect: { owner: 'me', revision: 0 } },
        // Expects what the commit before it left.
        { runId: 'o1', steps: [makeStep('o1', 'c', 3)], run: { status: 'completed' }, expect: { owner: 'me', revision: 1 } },
      ]);
      if (outcomes === undefined) return;
      expect(outcomes).toEqual([true, true, true, true]);
      expect(await leftBy(storage, 'o1')).toEqual({ status: 'completed', revision: 2, steps: ['a', 'b', 'c'] });
      expect(await leftBy(storage, 'o2')).toEqual({ status: 'running', revision: 0, steps: ['a'] });
    });
  });
}
