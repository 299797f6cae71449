/**
 * The Storage contract, part three: what several processes and recovery rely on: leases claimed
 * by exactly one owner, orphan runs, and waiting steps found by due time, by event or as approvals.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeRun, makeStep } from './storage-fixtures.js';
import type { StepRecord } from '../storage/records.js';

/** Leases and recovery: claims, renewals, orphans, due timers, event waiters and approval waiters. */
export function recoveryConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('leases and recovery', () => {
    test('claims free, own and expired runs, and refuses live leases of others', async (storage) => {
      await storage.createRun(makeRun('c1', { status: 'running' }));
      const claimed = await storage.claimRun('c1', 'a', 2000, 1000);
      // Every claim bumps the revision (the fencing token of the owner's commits), a re-claim too.
      expect(claimed).toStrictEqual(makeRun('c1', { status: 'running', owner: 'a', lease_expires_at: 2000, revision: 1 }));
      expect(await storage.claimRun('c1', 'b', 2500, 1500)).toBeUndefined();
      expect(await storage.claimRun('c1', 'a', 3000, 1500)).toMatchObject({ lease_expires_at: 3000, revision: 2 });
      // The lease must have expired strictly before now.
      expect(await storage.claimRun('c1', 'b', 4000, 3000)).toBeUndefined();
      expect(await storage.claimRun('c1', 'b', 4000, 3001)).toStrictEqual(makeRun('c1', { status: 'running', owner: 'b', lease_expires_at: 4000, revision: 3 }));
      expect(await storage.getRun('c1')).toStrictEqual(makeRun('c1', { status: 'running', owner: 'b', lease_expires_at: 4000, revision: 3 }));
      await storage.createRun(makeRun('c2', { owner: 'a' }));
      expect((await storage.claimRun('c2', 'b', 10, 5))?.owner).toBe('b');
      expect(await storage.claimRun('missing', 'a', 10, 5)).toBeUndefined();
    });

    test('lets exactly one of two concurrent claimers win', async (storage) => {
      const ids = Array.from({ length: 12 }, (_, i) => `race${i}`);
      for (const id of ids) await storage.createRun(makeRun(id, { status: 'running', owner: 'dead', lease_expires_at: 50 }));
      const results = await Promise.all(ids.map((id) => Promise.all([storage.claimRun(id, 'a', 5000, 100), storage.claimRun(id, 'b', 5000, 100)])));
      for (const [index, [a, b]] of results.entries()) {
        expect([a, b].filter((r) => r !== undefined)).toHaveLength(1);
        const winner = a ? 'a' : 'b';
        expect((await storage.getRun(ids[index]!))?.owner).toBe(winner);
      }
    });

    test('claims ready runs in disjoint batches, oldest first, leaving queued and held runs', async (storage) => {
      await storage.createRun(makeRun('r1', { status: 'running', created_at: 30 }));
      await storage.createRun(makeRun('r2', { status: 'running', created_at: 10, owner: 'dead', lease_expires_at: 99 }));
      await storage.createRun(makeRun('r3', { status: 'pending', created_at: 20, started_at: 20 }));
      await storage.createRun(makeRun('r4', { status: 'pending', created_at: 5 })); // queued: admission's
      await storage.createRun(makeRun('r5', { status: 'running', created_at: 5, owner: 'alive', lease_expires_at: 100 }));
      await storage.createRun(makeRun('r6', { status: 'paused', created_at: 5 }));
      await storage.createRun(makeRun('r7', { status: 'completed', created_at: 5 }));
      for (let i = 0; i < 8; i++) await storage.createRun(makeRun(`r8-${i}`, { status: 'running', created_at: 40 + i }));
      // A paused run is ready once something waits in its inbox (an approval given elsewhere).
      await storage.createRun(makeRun('r9', { status: 'paused', created_at: 60 }));
      await storage.deliverEvent({ id: 'evt-r9', run_id: 'r9', path: 'ok', event: 'trellis:approval', payload: { approved: true }, created_at: 61 });
      const first = await storage.claimReadyRuns!('a', 500, 100, 2);
      expect(first).toStrictEqual([
        makeRun('r2', { status: 'running', created_at: 10, owner: 'a', lease_expires_at: 500, revision: 1 }),
        makeRun('r3', { status: 'pending', created_at: 20, started_at: 20, owner: 'a', lease_expires_at: 500, revision: 1 }),
      ]);
      expect(await storage.getRun('r2')).toStrictEqual(first[0]);
      // Two claimants at once never share a run, and between them they take every ready one.
      const [b, c] = await Promise.all([storage.claimReadyRuns!('b', 500, 100, 6), storage.claimReadyRuns!('c', 500, 100, 6)]);
      const taken = [...b!, ...c!].map((r) => r.id).sort();
      expect(taken).toEqual(['r1', ...Array.from({ length: 8 }, (_, i) => `r8-${i}`), 'r9'].sort());
      for (const run of [...b!, ...c!]) expect((await storage.getRun(run.id))?.owner).toBe(run.owner);
      expect(await storage.claimReadyRuns!('d', 500, 100, 10)).toEqual([]);
      // Leases running out make the runs ready again.
      expect((await storage.claimReadyRuns!('d', 900, 501, 2)).map((r) => [r.id, r.owner, r.revision])).toEqual([['r5', 'd', 1], ['r2', 'd', 2]]);
    });

    test('renews the leases of the owner’s active runs only', async (storage) => {
      await storage.createRun(makeRun('l1', { status: 'running', owner: 'a', lease_expires_at: 10 }));
      await storage.createRun(makeRun('l2', { status: 'paused', owner: 'a', lease_expires_at: 10 }));
      await storage.createRun(makeRun('l3', { status: 'completed', owner: 'a', lease_expires_at: 10 }));
      await storage.createRun(makeRun('l4', { status: 'running', owner: 'b', lease_expires_at: 10 }));
      await storage.renewLeases('a', 99);
      const lease = async (id: string) => (await storage.getRun(id))?.lease_expires_at;
      expect([await lease('l1'), await lease('l2'), await lease('l3'), await lease('l4')]).toEqual([99, 99, 10, 10]);
      // Given ids, only those: a run its owner dropped is left to expire.
      await storage.renewLeases('a', 120, ['l2', 'l3', 'l4', 'missing']);
      expect([await lease('l1'), await lease('l2'), await lease('l3'), await lease('l4')]).toEqual([99, 120, 10, 10]);
    });

    test('finds orphan runs oldest first', async (storage) => {
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
      // With an owner: also what that owner holds, live lease or not.
      expect((await storage.findOrphanRuns(100, 10, 'alive')).map((r) => r.id)).toEqual(['o2', 'o3', 'o1', 'o6']);
    });

    test('leaves parked runs (unowned, a wake time ahead) alone until their wake time or an inbox event, yet lets anyone claim them', async (storage) => {
      // Parked: a run that only waits, let go by its process; lease_expires_at is when it needs a driver again.
      await storage.createRun(makeRun('p-timer', { status: 'running', created_at: 1, lease_expires_at: 200 }));
      await storage.createRun(makeRun('p-never', { status: 'running', created_at: 2, lease_expires_at: Number.MAX_SAFE_INTEGER }));
      await storage.createRun(makeRun('p-paused', { status: 'paused', created_at: 3, lease_expires_at: Number.MAX_SAFE_INTEGER }));
      await storage.createRun(makeRun('p-event', { status: 'running', created_at: 4, lease_expires_at: Number.MAX_SAFE_INTEGER }));
      expect(await storage.findOrphanRuns(100, 10)).toEqual([]);
      expect(await storage.findOrphanRuns(100, 10, 'me')).toEqual([]);
      expect(await storage.claimReadyRuns!('a', 500, 100, 10)).toEqual([]);
      // Its timer is due: an orphan, and ready.
      expect((await storage.findOrphanRuns(201, 10)).map((r) => r.id)).toEqual(['p-timer']);
      // Something in its inbox: ready for a worker at once, whatever its wake time.
      await storage.deliverEvent({ id: 'evt-p1', run_id: 'p-event', path: 'wait', event: 'go', payload: {}, created_at: 5 });
      await storage.deliverEvent({ id: 'evt-p2', run_id: 'p-paused', path: 'ok', event: 'trellis:approval', payload: { approved: true }, created_at: 6 });
      expect((await storage.claimReadyRuns!('a', 500, 100, 10)).map((r) => [r.id, r.owner, r.lease_expires_at, r.revision])).toEqual([['p-paused', 'a', 500, 1], ['p-event', 'a', 500, 1]]);
      // Whoever wakes it claims it at once (an approval given on any process).
      expect(await storage.claimRun('p-never', 'b', 700, 100)).toMatchObject({ owner: 'b', lease_expires_at: 700, revision: 1 });
      expect(await storage.claimRun('p-timer', 'c', 700, 100)).toMatchObject({ owner: 'c', lease_expires_at: 700, revision: 1 });
      // Parking again releases the claim: the owner writes the wake time, expecting to hold the run.
      expect(await storage.updateRun('p-timer', { owner: undefined, lease_expires_at: 900 }, { owner: 'c' })).toMatchObject({ lease_expires_at: 900 });
      expect((await storage.getRun('p-timer'))?.owner).toBeUndefined();
      expect((await storage.findOrphanRuns(800, 10)).map((r) => r.id)).not.toContain('p-timer');
    });

    test('finds waiting steps that are due, in running or paused runs', async (storage) => {
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

    test('finds the steps waiting for an event, in running or paused runs, and forgets them once they stop waiting', async (storage) => {
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

    test('finds the steps waiting for approval across runs, longest waiting first, by workflow and by page', async (storage) => {
      await storage.createRun(makeRun('r', { status: 'running' }));
      await storage.createRun(makeRun('p', { status: 'paused', workflow_id: 'other', workflow_version: 3 }));
      await storage.createRun(makeRun('d', { status: 'completed' }));
      const asks = (run: string, path: string, since: number, due?: number) =>
        makeStep(run, path, 1, { status: 'waiting', started_at: since, waiter: { kind: 'approval', ...(due === undefined ? {} : { due_at: due }), detail: { message: `${path}?`, data: { n: since } } } });
      const rLate = asks('r', 'loop[1].ok', 30, 900);
      const rFirst = asks('r', 'b', 10);
      const pA = asks('p', 'a', 20);
      const pTie = asks('p', 'c', 30);
      await storage.commit({
        runId: 'r',
        steps: [rLate, rFirst, makeStep('r', 'timer', 1, { status: 'waiting', waiter: { kind: 'timer', due_at: 5 } }), makeStep('r', 'answered', 1, { waiter: { kind: 'approval' } })],
      });
      await storage.commit({ runId: 'p', steps: [pA, pTie] });
      await storage.commit({ runId: 'd', steps: [asks('d', 'a', 1)] });
      const inR = (step: StepRecord) => ({ step, workflow_id: 'wf', workflow_version: 1 });
      const inP = (step: StepRecord) => ({ step, workflow_id: 'other', workflow_version: 3 });
      // Ties on the time are broken by run id, then path.
      expect(await storage.findApprovalWaiters()).toStrictEqual([inR(rFirst), inP(pA), inP(pTie), inR(rLate)]);
      expect(await storage.findApprovalWaiters({ workflow_id: 'other' })).toStrictEqual([inP(pA), inP(pTie)]);
      expect(await storage.findApprovalWaiters({ workflow_id: 'nobody' })).toEqual([]);
      expect(await storage.findApprovalWaiters({ limit: 2, offset: 1 })).toStrictEqual([inP(pA), inP(pTie)]);
      expect(await storage.findApprovalWaiters({ offset: 3 })).toStrictEqual([inR(rLate)]);
      // An answered step leaves the list; so do the waits of a run that ended.
      await storage.commit({ runId: 'r', steps: [makeStep('r', 'b', 1, { status: 'running', started_at: 10 })] });
      await storage.updateRun('p', { status: 'cancelled' });
      expect(await storage.findApprovalWaiters()).toStrictEqual([inR(rLate)]);
    });
  });
}
