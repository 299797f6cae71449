/** Scratch space for one test file: a temporary folder and a PostgreSQL schema of its own, both removed after it. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll } from 'vitest';

/** The test server; the PostgreSQL tests fail, rather than skip, when it is down. */
export const PG_URL = process.env.TRELLIS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A folder and a schema name unique to this file (`name` makes them easy to spot), dropped in afterAll. */
export function scratch(name: string): { readonly dir: string; readonly schema: string; readonly pgUrl: string } {
  const schema = `trellis_${name}_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
  const dir = mkdtempSync(join(tmpdir(), `trellis-${name}-`));
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
    try {
      // The schema and every one named after it (`${schema}_2`...: tests that want several databases).
      const { rows } = await admin.query<{ nspname: string }>(`SELECT nspname FROM pg_namespace WHERE nspname = $1 OR starts_with(nspname, $2)`, [schema, `${schema}_`]);
      for (const { nspname } of rows) await admin.query(`DROP SCHEMA IF EXISTS "${nspname}" CASCADE`);
    } finally {
      await admin.end();
    }
  });
  return { dir, schema, pgUrl: PG_URL };
}
