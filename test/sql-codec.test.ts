import { describe, expect, it } from 'vitest';
import { COLUMNS, STEP_ROW_COLUMNS, encodeCells, encodeStepCells } from '../src/storage/sql/sql-codec.js';
import { compactCallId } from '../src/storage/step-calls.js';
import { stepCallId } from '../src/kernel/call-ids.js';
import type { StepRecord } from '../src/index.js';

describe('step cells', () => {
  it('are the generic encoding of the step columns in STEP_ROW_COLUMNS order, plus the extra columns', () => {
    const callId = stepCallId('exec_9', 'r', 'loop[1].p');
    const steps: StepRecord[] = [
      { run_id: 'r', path: 'p', node_id: 'p', seq: 1, status: 'running', attempt: 1, started_at: 5 },
      {
        run_id: 'r', path: 'loop[1].p', node_id: 'p', seq: 2, status: 'waiting', attempt: 2, started_at: 5, input_data: { a: [1, 'x'] }, output_data: 'out',
        fired: ['true'], state: { s: null }, error: { code: 'timeout', message: 'm' }, waiter: { kind: 'event', event: 'go', due_at: 99 },
        execution_id: callId, completed_at: 7, duration_ms: 2,
      },
    ];
    for (const step of steps) {
      const { cells } = encodeStepCells(step, 1 << 20);
      expect(cells).toHaveLength(STEP_ROW_COLUMNS.length);
      const generic = encodeCells(COLUMNS.steps, step);
      generic[COLUMNS.steps.findIndex((c) => c.name === 'execution_id')] = step.execution_id === undefined ? null : compactCallId(step.execution_id, step.run_id, step.path);
      const extra = { due_at: step.waiter?.due_at ?? null, output_ref: null, wait_event: step.waiter?.kind === 'event' && step.status === 'waiting' ? step.waiter.event! : null, calls: null };
      expect(cells).toEqual([...generic, ...STEP_ROW_COLUMNS.slice(generic.length).map((name) => extra[name as keyof typeof extra])]);
    }
  });
});
