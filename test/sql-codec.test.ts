import { describe, expect, it } from 'vitest';
import { BARE_STEP_COLUMNS, COLUMNS, isBareStep } from '../src/storage/sql-codec.js';
import type { StepRecord } from '../src/storage/records.js';

describe('bare step rows', () => {
  const bare: StepRecord = { run_id: 'r', path: 'p', node_id: 'p', seq: 1, status: 'running', attempt: 1, started_at: 5 };

  it('a step with only the bare columns is bare', () => {
    expect(Object.keys(bare).sort()).toEqual([...BARE_STEP_COLUMNS].sort());
    expect(isBareStep(bare)).toBe(true);
  });

  it('any other step column set makes a step not bare', () => {
    const others = COLUMNS.steps.map((c) => c.name).filter((name) => !BARE_STEP_COLUMNS.includes(name));
    expect(others.length).toBeGreaterThan(5);
    for (const name of others) expect(isBareStep({ ...bare, [name]: name === 'fired' ? [] : 0 } as StepRecord), name).toBe(false);
  });
});
