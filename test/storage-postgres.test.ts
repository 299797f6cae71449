import { randomUUID } from 'node:crypto';
import pg from 'pg';
import * as vitest from 'vitest';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { describeStorageConformance } from '../src/testing/index.js';
import { SCHEMA_VERSION } from '../src/storage/sql/sql-schema.js';
import { makeRun, makeStep } from '../src/testing/storage-fixtures.js';

// A real server is required: these tests fail, rather than skip, when it is down.
const URL = process.env.TRELLIS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `trellis_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
const admin = new pg.Pool({ connectionString: URL, max: 2 });

const TABLES = ['workflow_event_inbox', 'workflow_execution_steps', 'workflow_executions', 'workflows', 'prompts', 'executions', 'execution_bundles', 'blobs', 'audit_events', 'limit_slots', 'limit_buckets'];

afterAll(async () => {
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
});

describeStorageConformance('PostgresStorage', async () => {
  const storage = new PostgresStorage({ connectionString: URL, schema });
  await storage.init();
  // DELETE, not TRUNCATE: TRUNCATE waits for an ACCESS EXCLUSIVE lock on every table, which a busy
  // machine's lingering connections (a previous case's pool still closing) held long enough to time out.
  // The tables are small here, and TABLES lists children before the runs they reference.
  await admin.query(TABLES.map((t) => `DELETE FROM "${schema}".${t}`).join('; '));
  return storage;
}, { vitest });

describe('PostgresStorage specifics', () => {
  it('migrates idempotently, even when initialised concurrently, and leaves a given pool open', async () => {
    const pool = new pg.Pool({ connectionString: URL, max: 4 });
    const other = `${schema}_b`;
    try {
      const storages = [0, 1, 2].map(() => new PostgresStorage({ pool, schema: other }));
      await Promise.all(storages.map((s) => s.init()));
      await storages[0]!.createRun(makeRun('r'));
      for (const s of storages) await s.close();
      expect((await pool.query(`SELECT value FROM "${other}".trellis_meta WHERE key = 'schema_version'`)).rows).toEqual([{ value: String(SCHEMA_VERSION) }]);
      const again = new PostgresStorage({ pool, schema: other });
      await again.init();
      expect(await again.getRun('r')).toStrictEqual(makeRun('r'));
      await again.close();
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${other}" CASCADE`);
      await pool.end();
    }
  });

  it('refuses a database whose schema is newer than the code', async () => {
    const other = `${schema}_c`;
    try {
      const storage = new PostgresStorage({ connectionString: URL, schema: other });
      await storage.init();
      await admin.query(`UPDATE "${other}".trellis_meta SET value = '${SCHEMA_VERSION + 1}' WHERE key = 'schema_version'`);
      await expect(storage.init()).rejects.toMatchObject({ code: 'schema_version', message: expect.stringMatching(new RegExp(`version ${SCHEMA_VERSION + 1} .*\\(${SCHEMA_VERSION}\\)`)) });
      await storage.close();
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS "${other}" CASCADE`);
    }
  });

  it('stores JSON as jsonb and large outputs once in blobs', async () => {
    const storage = new PostgresStorage({ connectionString: URL, schema, largeOutputBytes: 100 });
    await storage.init();
    const output = { text: 'z'.repeat(500) };
    await storage.createRun(makeRun('pg-blob', { input_data: { a: 1 } }));
    await storage.commit({ runId: 'pg-blob', steps: [makeStep('pg-blob', 'a', 1, { output_data: output }), makeStep('pg-blob', 'b', 2, { output_data: output })] });
    expect((await storage.getSteps('pg-blob')).map((s) => s.output_data)).toEqual([output, output]);
    const { rows } = await admin.query(`SELECT pg_typeof(input_data)::text AS t, input_data->>'a' AS a FROM "${schema}".workflow_executions WHERE id = 'pg-blob'`);
    expect(rows).toEqual([{ t: 'jsonb', a: '1' }]);
    const blobs = await admin.query(`SELECT count(*)::int AS n FROM "${schema}".blobs`);
    expect(blobs.rows).toEqual([{ n: 1 }]);
    await storage.deleteRun('pg-blob');
    expect((await admin.query(`SELECT count(*)::int AS n FROM "${schema}".blobs`)).rows).toEqual([{ n: 0 }]);
    await storage.close();
  });

  it('finds approval waits through a partial index on waiting steps', async () => {
    const storage = new PostgresStorage({ connectionString: URL, schema });
    await storage.init();
    const client = await admin.connect();
    try {
      // With sequential scans priced out, a plan that can use the index does: the query's predicate matches the index's.
      await client.query('SET enable_seqscan = off');
      const { rows } = await client.query(
        `EXPLAIN SELECT s.run_id FROM "${schema}".workflow_execution_steps s WHERE s.status = 'waiting' AND (s.waiter ->> 'kind') = 'approval' ORDER BY s.started_at`,
      );
      expect(rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n')).toContain('workflow_execution_steps_approval');
    } finally {
      await client.query('RESET enable_seqscan');
      client.release();
      await storage.close();
    }
  });

  it('purging takes the blobs only the purged runs referenced, their child runs’ included', async () => {
    const other = `${schema}_purge`;
    const storage = new PostgresStorage({ connectionString: URL, schema: other, largeOutputBytes: 100 });
    try {
      await storage.init();
      const mine = { text: 'm'.repeat(500) };
      const shared = { text: 's'.repeat(500) };
      await storage.createRun(makeRun('old', { status: 'completed', completed_at: 10 }));
      await storage.createRun(makeRun('old-child', { status: 'completed', completed_at: 9, parent_id: 'old' }));
      await storage.createRun(makeRun('kept', { status: 'completed', completed_at: 500 }));
      await storage.commit({ runId: 'old', steps: [makeStep('old', 'a', 1, { output_data: shared })] });
      await storage.commit({ runId: 'old-child', steps: [makeStep('old-child', 'a', 1, { output_data: mine })] });
      await storage.commit({ runId: 'kept', steps: [makeStep('kept', 'a', 1, { output_data: shared })] });
      const blobs = async () => (await admin.query(`SELECT data FROM "${other}".blobs ORDER BY data`)).rows.map((row: { data: string }) => JSON.parse(row.data) as unknown);
      expect(await blobs()).toEqual([mine, shared]);
      expect(await storage.purgeRuns({ completed_before: 100, status: ['completed'], limit: 10 })).toBe(1);
      expect(await blobs()).toEqual([shared]);
      expect((await storage.getStep('kept', 'a'))?.output_data).toEqual(shared);
    } finally {
      await storage.close();
      await admin.query(`DROP SCHEMA IF EXISTS "${other}" CASCADE`);
    }
  });

  it('serialises concurrent commits with expectations on one run', async () => {
    const storage = new PostgresStorage({ connectionString: URL, schema });
    await storage.init();
    await storage.createRun(makeRun('pg-race', { status: 'running' }));
    // Ten writers race to complete the run: exactly one commit's expectation holds.
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        storage.commit({ runId: 'pg-race', steps: [makeStep('pg-race', `s${i}`, i)], run: { status: 'completed' }, expect: { status: 'running', revision: 0 } }),
      ),
    );
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await storage.getSteps('pg-race')).toHaveLength(1);
    expect((await storage.getRun('pg-race'))?.revision).toBe(1);
    await storage.close();
  });

  it('reports an unreachable server as a storage error and rejects bad options', async () => {
    const storage = new PostgresStorage({ connectionString: 'postgres://postgres@127.0.0.1:1/none', connectionRetryMs: 200 });
    await expect(storage.init()).rejects.toMatchObject({ code: 'storage' });
    await storage.close();
    expect(() => new PostgresStorage({})).toThrow(/connectionString/);
  });
});
