/**
 * The Storage contract, part nine: dead letters and the audit trail. Audit events land with the
 * change they record, in its transaction (and not when it is refused); they survive the deletion
 * of their subject. A run retries at most one failed run (`retry_of` is unique).
 */
import type { ConformanceSection } from './conformance-section.js';
import { makeRun, makeStep, makeWorkflow } from './storage-fixtures.js';
import type { AuditEvent } from '../storage/records.js';

function event(id: string, at: number, over: Partial<AuditEvent> = {}): AuditEvent {
  return { id, at, actor: 'alice', action: 'run.started', subject_type: 'run', subject_id: 'r1', ...over };
}

/** findDeadLetters, retry_of, discarded_at, appendAudit, listAudit and audit events carried by writes. */
export function auditConformance({ vitest: { describe, expect }, test }: ConformanceSection): void {
  describe('dead letters', () => {
    test('lists failed runs no run retries and not discarded, and stuck runs when asked, newest first, by pages', async (storage) => {
      await storage.createRun(makeRun('failed_old', { status: 'failed', created_at: 1, error_message: 'boom' }));
      await storage.createRun(makeRun('failed_new', { status: 'failed', created_at: 5, workflow_id: 'other' }));
      await storage.createRun(makeRun('retried', { status: 'failed', created_at: 3 }));
      await storage.createRun(makeRun('retry', { status: 'running', created_at: 4, retry_of: 'retried' }));
      await storage.createRun(makeRun('discarded', { status: 'failed', created_at: 2 }));
      expect(await storage.updateRun('discarded', { discarded_at: 9 })).toMatchObject({ discarded_at: 9 });
      await storage.createRun(makeRun('done', { status: 'completed', created_at: 2 }));
      await storage.createRun(makeRun('stuck', { status: 'running', created_at: 2 }));

      const ids = async (filter: Parameters<typeof storage.findDeadLetters>[0]) => (await storage.findDeadLetters(filter)).map((r) => r.id);
      expect(await ids({ limit: 10 })).toEqual(['failed_new', 'failed_old']);
      expect(await ids({ limit: 10, stuck_before: 3 })).toEqual(['failed_new', 'stuck', 'failed_old']);
      expect(await ids({ limit: 10, stuck_before: 5 })).toEqual(['failed_new', 'retry', 'stuck', 'failed_old']);
      expect(await ids({ limit: 10, workflow_id: 'other' })).toEqual(['failed_new']);
      expect(await ids({ limit: 1, stuck_before: 3 })).toEqual(['failed_new']);
      expect(await ids({ limit: 10, stuck_before: 3, after: { created_at: 5, id: 'failed_new' } })).toEqual(['stuck', 'failed_old']);
      expect((await storage.getRun('retry'))?.retry_of).toBe('retried');
      expect((await storage.listRuns({ retry_of: 'retried' })).map((r) => r.id)).toEqual(['retry']);
    });

    test('a second run retrying the same run is refused with conflict, in createRun and in commit', async (storage) => {
      await storage.createRun(makeRun('failed', { status: 'failed' }));
      await storage.createRun(makeRun('first', { retry_of: 'failed' }));
      await expect(storage.createRun(makeRun('second', { retry_of: 'failed' }))).rejects.toMatchObject({ code: 'conflict' });
      const audit = [event('a1', 1)];
      await expect(storage.commit({ runId: 'third', steps: [], create: makeRun('third', { retry_of: 'failed' }), audit })).rejects.toMatchObject({ code: 'conflict' });
      expect(await storage.getRun('second')).toBeUndefined();
      expect(await storage.getRun('third')).toBeUndefined();
      expect(await storage.listAudit({ limit: 10 })).toEqual([]);
      // Deleting the retry frees the run to be retried again.
      expect(await storage.deleteRun('first')).toBe(true);
      await storage.createRun(makeRun('again', { retry_of: 'failed' }));
    });
  });

  describe('audit trail', () => {
    test('appends and lists by subject, actor and time, newest first, with a cursor; records round-trip', async (storage) => {
      const full = event('e2', 20, { action: 'workflow.updated', subject_type: 'workflow', subject_id: 'wf', before_version: 1, after_version: 2, detail: { reason: 'x', n: null } });
      await storage.appendAudit([event('e1', 10), full, event('e3', 30, { actor: 'bob' }), event('e4', 30, { actor: 'bob', subject_id: 'r2' })]);
      const ids = async (filter: Parameters<typeof storage.listAudit>[0]) => (await storage.listAudit(filter)).map((e) => e.id);
      expect(await ids({ limit: 10 })).toEqual(['e4', 'e3', 'e2', 'e1']);
      expect(await ids({ limit: 10, subject_id: 'r1' })).toEqual(['e3', 'e1']);
      expect(await ids({ limit: 10, subject_type: 'workflow' })).toEqual(['e2']);
      expect(await ids({ limit: 10, actor: 'bob' })).toEqual(['e4', 'e3']);
      expect(await ids({ limit: 10, since: 20, until: 30 })).toEqual(['e2']);
      expect(await ids({ limit: 2 })).toEqual(['e4', 'e3']);
      expect(await ids({ limit: 2, after: { at: 30, id: 'e3' } })).toEqual(['e2', 'e1']);
      expect((await storage.listAudit({ limit: 1, subject_type: 'workflow' }))[0]).toStrictEqual(full);
      expect((await storage.listAudit({ limit: 1, subject_id: 'r2' }))[0]).toStrictEqual(event('e4', 30, { actor: 'bob', subject_id: 'r2' }));
    });

    test('commit appends its events with the change, and none when it is refused', async (storage) => {
      await storage.commit({ runId: 'r1', steps: [makeStep('r1', 'a', 1)], create: makeRun('r1', { status: 'running' }), audit: [event('start', 1)] });
      expect(await storage.commit({ runId: 'r1', steps: [], run: { status: 'cancelled' }, expect: { status: 'paused' }, audit: [event('refused', 2)] })).toBe(false);
      expect(await storage.commit({ runId: 'r1', steps: [], run: { status: 'cancelled' }, expect: { status: 'running' }, audit: [event('cancel', 3, { action: 'run.cancelled' })] })).toBe(true);
      expect(await storage.commit({ runId: 'r1', steps: [makeStep('r1', 'b', 2)], audit: [event('step', 4)] })).toBe(true);
      expect((await storage.listAudit({ limit: 10 })).map((e) => e.id)).toEqual(['step', 'cancel', 'start']);
    });

    test('saveWorkflow, deleteWorkflow and deleteRun append their events; the events outlive the run', async (storage) => {
      await storage.saveWorkflow(makeWorkflow('wf', 1), [event('v1', 1, { action: 'workflow.created', subject_type: 'workflow', subject_id: 'wf', after_version: 1 })]);
      // Writing the same version again is a no-op, and so records nothing.
      await storage.saveWorkflow(makeWorkflow('wf', 1), [event('again', 2, { subject_type: 'workflow', subject_id: 'wf' })]);
      await expect(storage.saveWorkflow(makeWorkflow('wf', 1, { name: 'other' }), [event('taken', 2)])).rejects.toMatchObject({ code: 'conflict' });
      await storage.deleteWorkflow('wf', [event('wf_gone', 3, { action: 'workflow.deleted', subject_type: 'workflow', subject_id: 'wf' })]);
      expect(await storage.getWorkflow('wf')).toBeUndefined();
      await storage.createRun(makeRun('r1', { status: 'completed' }));
      expect(await storage.deleteRun('r1', { status: 'running' }, [event('refused', 4)])).toBe(false);
      expect(await storage.deleteRun('r1', undefined, [event('run_gone', 5, { action: 'run.deleted' })])).toBe(true);
      expect((await storage.listAudit({ limit: 10 })).map((e) => e.id)).toEqual(['run_gone', 'wf_gone', 'v1']);
    });
  });
}
