import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { crashAndRecover } from './crash-recovery.js';

// A real server is required: this test fails, rather than skips, when it is down.
// The crash worker connects to this same URL; the schema is unique to this run.
const URL = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `trellis_crash_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
const dir = mkdtempSync(join(tmpdir(), 'trellis-crash-pg-'));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const admin = new pg.Pool({ connectionString: URL, max: 1 });
  try {
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end();
  }
});

describe('durability on PostgreSQL', () => {
  it('survives 15 SIGKILLs of a 20-step run without redoing committed steps', async () => {
    const storage = new PostgresStorage({ connectionString: URL, schema });
    await storage.init(); // rejects when the server is down: the test fails instead of skipping
    try {
      await crashAndRecover({ kind: 'postgres', where: schema, log: join(dir, 'calls.log'), kills: 15, storage });
    } finally {
      await storage.close();
    }
  }, 300_000);
});
