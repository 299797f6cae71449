import { join } from 'node:path';
import { describe, it } from 'vitest';
import { PostgresStorage } from '../src/index.js';
import { crashAndRecover } from './crash-recovery.js';
import { scratch } from './scratch.js';

// A real server is required: this test fails, rather than skips, when it is down.
// The crash worker connects to this same URL; the schema is unique to this run.
const { pgUrl: URL, schema, dir } = scratch('crash_pg');

describe('durability on PostgreSQL', () => {
  it('survives 10 SIGKILLs of a 20-step run without redoing committed steps', async () => {
    const storage = new PostgresStorage({ connectionString: URL, schema });
    await storage.init(); // rejects when the server is down: the test fails instead of skipping
    try {
      await crashAndRecover({ kind: 'postgres', where: schema, log: join(dir, 'calls.log'), kills: 10, storage });
    } finally {
      await storage.close();
    }
  }, 300_000);
});
