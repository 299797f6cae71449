import { describe, expect, it } from 'vitest';
import { encodeLoggedStep, foldLog, logEntry, loggedCalls, loggedStepRecord, outputRef } from '../src/storage/sqlite/step-log.js';
import { stepCallId } from '../src/kernel/call-ids.js';
import type { ModelCallRecord, StepRecord } from '../src/index.js';
import type { BlobRow } from '../src/storage/sql/sql-options.js';

const run = 'run_1';
const bare: StepRecord = { run_id: run, path: 'loop[3].ask', node_id: 'ask', seq: 4, status: 'running', attempt: 1, started_at: 100 };

/** Writes `steps` as one entry each and reads the run back. */
function roundTrip(...entries: StepRecord[][]): Map<string, StepRecord> {
  const bodies = entries.map((steps) => logEntry(steps.map((step) => encodeLoggedStep(step, undefined, 1 << 20, []))));
  return new Map([...foldLog(bodies)].map(([path, logged]) => [path, loggedStepRecord(run, logged)]));
}

describe('the step log', () => {
  it('writes a just-started step as its six common fields', () => {
    expect(JSON.parse(encodeLoggedStep(bare, undefined, 1 << 20, []))).toEqual(['loop[3].ask', 'ask', 4, 'running', 1, 100]);
  });

  it('reads back every field exactly, a JSON null apart from an absent field', () => {
    const full: StepRecord = {
      ...bare, status: 'waiting', attempt: 2, input_data: { prompt: 'p', n: null }, output_data: null, fired: ['true'], state: [null, { s: '"q"\n' }],
      error: { code: 'timeout', message: 'm' }, waiter: { kind: 'event', event: 'go', due_at: 99 }, execution_id: stepCallId('exec_9', run, bare.path),
      completed_at: 120, duration_ms: 20.5,
    };
    const sparse: StepRecord = { ...bare, path: 'b', node_id: 'b', output_data: 0, duration_ms: 0 };
    const read = roundTrip([full, sparse]);
    expect(read.get(full.path)).toStrictEqual(full);
    expect(read.get('b')).toStrictEqual(sparse);
    expect(Object.keys(read.get(full.path)!)).toEqual(Object.keys({ run_id: 0, path: 0, node_id: 0, seq: 0, status: 0, attempt: 0, input_data: 0, output_data: 0, fired: 0, state: 0, error: 0, waiter: 0, execution_id: 0, started_at: 0, completed_at: 0, duration_ms: 0 }));
  });

  it('keeps the last write of a path, whole: a later bare write clears what an earlier one held', () => {
    const done: StepRecord = { ...bare, status: 'completed', output_data: 'x', completed_at: 110 };
    const retried: StepRecord = { ...bare, attempt: 2, started_at: 130 };
    expect(roundTrip([bare], [done]).get(bare.path)).toStrictEqual(done);
    expect(roundTrip([bare], [done], [retried]).get(bare.path)).toStrictEqual(retried);
  });

  it('adds up the calls of a path across entries, the last write of a call winning', () => {
    const call = (status: ModelCallRecord['status'], attempt: number): ModelCallRecord => ({
      id: stepCallId(`exec_${attempt}`, run, bare.path), status, provider_model: 'mock:m', workflow_execution_id: run, workflow_node_id: 'ask', step_path: bare.path,
      attempt, request: { prompt: 'p' }, created_at: 100 + attempt,
    });
    const line = (step: StepRecord, records: ModelCallRecord[]) => {
      const calls = records.map((r) => `${JSON.stringify({ i: `:exec_${r.attempt}`, st: r.status, m: r.provider_model, a: r.attempt, q: r.request, t: r.created_at })},`).join('');
      return encodeLoggedStep(step, calls === '' ? undefined : calls, 1 << 20, []);
    };
    const bodies = [logEntry([line(bare, [call('running', 1)])]), logEntry([line({ ...bare, attempt: 2 }, [call('failed', 1), call('completed', 2)])]), logEntry([line(bare, [])])];
    const logged = foldLog(bodies).get(bare.path)!;
    expect(loggedCalls(run, logged)).toStrictEqual([call('failed', 1), call('completed', 2)]);
  });

  it('moves a large output to a blob and names it in the step', () => {
    const big: StepRecord = { ...bare, output_data: { text: 'y'.repeat(300) } };
    const blobs: BlobRow[] = [];
    const text = encodeLoggedStep(big, undefined, 100, blobs);
    const blob = blobs[0];
    expect(blobs).toHaveLength(1);
    expect(blob?.data).toBe(JSON.stringify(big.output_data));
    const logged = foldLog([logEntry([text])]).get(bare.path)!;
    expect(outputRef(logged)).toBe(blob!.hash);
    expect(loggedStepRecord(run, logged, blob!.data)).toStrictEqual(big);
    expect(() => loggedStepRecord(run, logged)).toThrow(/Blob .* is missing/);
  });
});
