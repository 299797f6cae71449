/**
 * The Storage contract, part twelve: limits that hold across every process sharing a storage
 * (optional methods; a storage without them keeps limits per process). Queued runs admitted under
 * a workflow's `max_concurrent_runs`, concurrency slots under a lease, and shared token buckets,
 * each atomic under concurrent callers.
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeRun } from './storage-fixtures.js';
import type { Storage } from '../storage/storage.js';

/** Scopes unique to one test: a SQL storage's limit tables are not wiped between tests sharing a schema. */
function scope(name: string): string {
  return `${name}:${Math.random().toString(36).slice(2)}`;
}

/** The fleet-limit methods, which a storage under this section must have. */
function fleet(storage: Storage): Required<Pick<Storage, 'admitQueuedRuns' | 'acquireLimitSlot' | 'releaseLimitSlot' | 'takeLimitTokens'>> {
  const { admitQueuedRuns, acquireLimitSlot, releaseLimitSlot, takeLimitTokens } = storage;
  if (!admitQueuedRuns || !acquireLimitSlot || !releaseLimitSlot || !takeLimitTokens) throw new Error('the storage lacks the fleet-limit methods');
  return {
    admitQueuedRuns: admitQueuedRuns.bind(storage),
    acquireLimitSlot: acquireLimitSlot.bind(storage),
    releaseLimitSlot: releaseLimitSlot.bind(storage),
    takeLimitTokens: takeLimitTokens.bind(storage),
  };
}

/** Fleet-wide admission, slots and buckets. */
export function fleetLimitsConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('fleet-wide limits', () => {
    test('admits the oldest queued runs of a workflow while it is under its limit', async (storage) => {
      const { admitQueuedRuns } = fleet(storage);
      await storage.createRun(makeRun('busy', { status: 'running', started_at: 900, owner: 'x', lease_expires_at: 5000 }));
      await storage.createRun(makeRun('paused', { status: 'paused', started_at: 900 }));
      await storage.createRun(makeRun('q3', { created_at: 1003 }));
      await storage.createRun(makeRun('q1', { created_at: 1001 }));
      await storage.createRun(makeRun('q2', { created_at: 1001 }));
      // Not queued: started before (a pending run taken back), and another workflow's.
      await storage.createRun(makeRun('restarted', { started_at: 800, created_at: 1 }));
      await storage.createRun(makeRun('other', { workflow_id: 'wf2', created_at: 1 }));

      expect(await admitQueuedRuns('wf', 2, { owner: 'a', leaseUntil: 9000 }, 2000)).toStrictEqual([]);
      expect(await admitQueuedRuns('wf', 4, { owner: 'a', leaseUntil: 9000 }, 2000)).toStrictEqual([
        makeRun('q1', { created_at: 1001, status: 'running', started_at: 2000, owner: 'a', lease_expires_at: 9000, revision: 1 }),
        makeRun('q2', { created_at: 1001, status: 'running', started_at: 2000, owner: 'a', lease_expires_at: 9000, revision: 1 }),
      ]);
      expect(await storage.getRun('q1')).toMatchObject({ status: 'running', owner: 'a', started_at: 2000 });
      expect(await admitQueuedRuns('wf', 4, { owner: 'a', leaseUntil: 9000 }, 2000)).toStrictEqual([]);
      await storage.updateRun('busy', { status: 'completed', completed_at: 2100 });
      // Without an owner, admitted runs are left for a worker to claim.
      expect(await admitQueuedRuns('wf', 4, {}, 2200)).toStrictEqual([makeRun('q3', { created_at: 1003, status: 'running', started_at: 2200, revision: 1 })]);
      expect(await storage.getRun('restarted')).toMatchObject({ status: 'pending', started_at: 800 });
      expect(await storage.getRun('other')).toMatchObject({ status: 'pending' });
    });

    test('concurrent admissions never exceed the limit together', async (storage) => {
      const { admitQueuedRuns } = fleet(storage);
      for (let i = 0; i < 12; i++) await storage.createRun(makeRun(`q${String(i).padStart(2, '0')}`, { created_at: 1000 + i }));
      const batches = await Promise.all(Array.from({ length: 6 }, (_, i) => admitQueuedRuns('wf', 5, { owner: `e${i}`, leaseUntil: 9000 }, 2000)));
      const admitted = batches.flat().map((r) => r.id).sort();
      expect(admitted).toEqual(['q00', 'q01', 'q02', 'q03', 'q04']);
      expect((await storage.listRuns({ workflow_id: 'wf', status: 'running' })).length).toBe(5);
    });

    test('holds at most `limit` slots of a scope; holders renew and release theirs; expired slots are free', async (storage) => {
      const { acquireLimitSlot, releaseLimitSlot } = fleet(storage);
      const s = scope('concurrency:p');
      const slot = (holder: string, expires_at = 5000) => ({ scope: s, holder, expires_at });
      expect(await acquireLimitSlot(slot('a'), 2, 1000)).toBe(true);
      expect(await acquireLimitSlot(slot('b'), 2, 1000)).toBe(true);
      expect(await acquireLimitSlot(slot('c'), 2, 1000)).toBe(false);
      // Another scope is counted apart.
      expect(await acquireLimitSlot({ scope: scope('concurrency:q'), holder: 'c', expires_at: 5000 }, 2, 1000)).toBe(true);
      expect(await acquireLimitSlot(slot('a', 8000), 2, 1000)).toBe(true);
      await releaseLimitSlot(s, 'a');
      await releaseLimitSlot(s, 'missing');
      expect(await acquireLimitSlot(slot('c'), 2, 1000)).toBe(true);
      expect(await acquireLimitSlot(slot('d'), 2, 1000)).toBe(false);
      // b and c expire at 5000: free strictly after it.
      expect(await acquireLimitSlot(slot('d', 9000), 2, 5000)).toBe(false);
      expect(await acquireLimitSlot(slot('d', 9000), 2, 5001)).toBe(true);
      expect(await acquireLimitSlot(slot('e', 9000), 2, 5001)).toBe(true);
      expect(await acquireLimitSlot(slot('f', 9000), 2, 5001)).toBe(false);
    });

    test('concurrent acquires take exactly `limit` slots', async (storage) => {
      const { acquireLimitSlot } = fleet(storage);
      const s = scope('concurrency:race');
      const won = await Promise.all(Array.from({ length: 10 }, (_, i) => acquireLimitSlot({ scope: s, holder: `h${i}`, expires_at: 9000 }, 3, 1000)));
      expect(won.filter(Boolean)).toHaveLength(3);
    });

    test('a bucket starts full, refills continuously, says how long to wait, and takes corrections', async (storage) => {
      const { takeLimitTokens } = fleet(storage);
      const bucket = { scope: scope('rpm:p'), perMinute: 60 };
      expect(await takeLimitTokens(bucket, 60, 10_000)).toBe(0);
      // Empty: one token a second.
      expect(await takeLimitTokens(bucket, 1, 10_000)).toBe(1000);
      expect(await takeLimitTokens(bucket, 2, 10_500)).toBe(1500);
      expect(await takeLimitTokens(bucket, 1, 11_000)).toBe(0);
      // A call that used less gives back (capped at a full bucket), one that used more takes more.
      expect(await takeLimitTokens(bucket, -30, 11_000, true)).toBe(0);
      expect(await takeLimitTokens(bucket, 30, 11_000)).toBe(0);
      expect(await takeLimitTokens(bucket, 10, 11_000, true)).toBe(0);
      expect(await takeLimitTokens(bucket, 1, 11_000)).toBe(11_000);
      // A take larger than the bucket waits for a full bucket, then goes.
      expect(await takeLimitTokens(bucket, 500, 200_000)).toBe(0);
      expect(await takeLimitTokens(bucket, 1, 200_000)).toBeGreaterThan(60_000);
      // A clock behind the bucket's (another host's) refills nothing and never un-refills.
      const other = { scope: scope('rpm:q'), perMinute: 60 };
      expect(await takeLimitTokens(other, 60, 50_000)).toBe(0);
      expect(await takeLimitTokens(other, 1, 40_000)).toBe(1000);
    });

    test('concurrent takes never overdraw a bucket', async (storage) => {
      const { takeLimitTokens } = fleet(storage);
      const bucket = { scope: scope('tpm:race'), perMinute: 50 };
      const waits = await Promise.all(Array.from({ length: 10 }, () => takeLimitTokens(bucket, 10, 1000)));
      expect(waits.filter((w) => w === 0)).toHaveLength(5);
    });
  });
}
