import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { makeCall, makeRun, makeStep } from '../src/testing/storage-fixtures.js';
import { stepCallId } from '../src/kernel/call-ids.js';
import { Reconnector, isConnectionError } from '../src/storage/postgres/postgres-connection.js';
import { scratch } from './scratch.js';

const { schema, pgUrl } = scratch('bigcommit');
const storage = new PostgresStorage({ connectionString: pgUrl, schema });
afterAll(() => storage.close());

describe('PostgreSQL commits larger than one statement can bind', () => {
  it('commits a run of 5,000 steps (with their calls) in one commit, in chunks under the 65,535-parameter limit', async () => {
    await storage.init();
    const steps = Array.from({ length: 5000 }, (_, i) => makeStep('big', `s${i}`, i));
    const calls = steps.slice(0, 3500).map((s) => makeCall(stepCallId(`exec_${s.path}`, 'big', s.path), { workflow_execution_id: 'big', workflow_node_id: s.node_id, step_path: s.path }));
    await storage.createRun(makeRun('big', { status: 'running' }));
    expect(await storage.commit({ runId: 'big', steps, calls })).toBe(true);
    expect(await storage.getSteps('big')).toHaveLength(5000);
    expect(await storage.listCalls({ workflow_execution_id: 'big' })).toHaveLength(3500);
  });

  it('creates a run with 5,000 first steps in one commit, and fences a large commit by its expectation', async () => {
    const steps = Array.from({ length: 5000 }, (_, i) => makeStep('big2', `s${i}`, i));
    expect(await storage.commit({ runId: 'big2', create: makeRun('big2', { status: 'running', owner: 'me' }), steps })).toBe(true);
    expect(await storage.getSteps('big2')).toHaveLength(5000);
    const more = steps.map((s) => ({ ...s, status: 'completed' as const }));
    expect(await storage.commit({ runId: 'big2', steps: more, expect: { owner: 'someone else' } })).toBe(false);
    expect(await storage.commit({ runId: 'big2', steps: more, expect: { owner: 'me' } })).toBe(true);
    expect((await storage.getSteps('big2')).every((s) => s.status === 'completed')).toBe(true);
  });
});

describe('an error of the statement, not of the connection', () => {
  it('is not retried as a lost connection: a statement over the parameter limit (08P01) fails at its first try', async () => {
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    try {
      const reconnect = new Reconnector(30_000);
      let tries = 0;
      const tooMany = Array.from({ length: 70_000 }, () => 1);
      const error: unknown = await reconnect
        .run(() => {
          tries++;
          return client.query('SELECT $1::int AS one', tooMany);
        })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: '08P01' });
      expect(isConnectionError(error)).toBe(false);
      expect(tries).toBe(1);
      // The connection still works: it was the statement that was refused.
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      await client.end();
    }
  });
});
