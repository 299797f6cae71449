import { describe, expect, it } from 'vitest';
import { randomIds, sequentialIds } from '../src/index.js';

describe('randomIds', () => {
  it('makes ids of the prefix, the creation time, the process and a counter, in fixed-width hex', () => {
    const before = Date.now();
    const id = randomIds('exec');
    const after = Date.now();
    expect(id).toMatch(/^exec_[0-9a-f]{32}$/);
    const ms = parseInt(id.slice(5, 17), 16);
    expect(ms).toBeGreaterThanOrEqual(before);
    expect(ms).toBeLessThanOrEqual(after);
  });

  it('gives unique ids that sort in the order they were made, whatever the prefix in between', () => {
    const made: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      made.push(randomIds('run'));
      randomIds(i % 2 === 0 ? 'exec' : 'bundle');
    }
    expect(new Set(made).size).toBe(made.length);
    expect([...made].sort()).toEqual(made);
    // The process part is the same for every id of this process; the counter part differs.
    expect(new Set(made.map((id) => id.slice(16, 26))).size).toBe(1);
  });
});

describe('sequentialIds', () => {
  it('counts per prefix', () => {
    const ids = sequentialIds();
    expect([ids('run'), ids('exec'), ids('run')]).toEqual(['run_1', 'exec_1', 'run_2']);
  });
});
