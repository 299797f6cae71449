/**
 * Small seams of durability (issue 15, item 10), each against the real part: close() during a
 * recovery pass, PostgreSQL init() by a role that may not create schemas, SQLite waiting for
 * another process's write lock without freezing the event loop, and an idempotency key reused for
 * another workflow.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, PostgresStorage, SqliteStorage, TrellisError, workflow } from '../src/index.js';
import { makeRun, makeStep } from '../src/testing/storage-fixtures.js';
import { spawnFixture } from './fixture-process.js';
import { makeEngine, until } from './helpers.js';

const PG_URL = process.env.TRELLIS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'trellis-seams-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('close()', () => {
  it('waits for a recovery pass in flight before closing storage', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let closed = false;
    const usedAfterClose: string[] = [];
    class GatedStorage extends MemoryStorage {
      override async findOrphanRuns(now: number, limit: number) {
        await gate;
        return super.findOrphanRuns(now, limit);
      }
      override async findDueSteps(now: number, limit: number) {
        if (closed) usedAfterClose.push('findDueSteps');
        return super.findDueSteps(now, limit);
      }
      override async close() {
        closed = true;
        await super.close();
      }
    }
    const engine = new Engine({ storage: new GatedStorage() });
    const pass = engine.recover();
    let closeDone = false;
    const closing = engine.close().then(() => (closeDone = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closeDone).toBe(false);
    release();
    await expect(pass).resolves.toEqual([]);
    await closing;
    expect(usedAfterClose).toEqual([]);
  });
});

describe('an idempotency key reused for another workflow', () => {
  it('engine.start rejects with conflict naming both workflows, like the HTTP 409', async () => {
    const { engine } = makeEngine();
    const first = await engine.start(workflow('first').transform('t', { x: '1' }).build(), {}, { idempotencyKey: 'order-7' });
    expect(await engine.start(workflow('first').transform('t', { x: '1' }).build(), {}, { idempotencyKey: 'order-7' })).toBe(first);
    const error = await engine.start(workflow('second').transform('t', { x: '1' }).build(), {}, { idempotencyKey: 'order-7' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrellisError);
    expect(error).toMatchObject({ code: 'conflict', executionId: first });
    expect((error as Error).message).toContain('"first"');
    expect((error as Error).message).toContain('"second"');
    await engine.close();
  });
});

describe('PostgresStorage.init()', () => {
  it('needs no CREATE on the database when its schema exists', async () => {
    const tag = randomUUID().replaceAll('-', '').slice(0, 12);
    const role = `trellis_nocreate_${tag}`;
    const schema = `trellis_owned_${tag}`;
    const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      await admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${role}`);
      const { rows } = await admin.query<{ can: boolean }>(`SELECT has_database_privilege($1, current_database(), 'CREATE') AS can`, [role]);
      expect(rows[0]!.can).toBe(false);
      const url = new URL(PG_URL);
      url.username = role;
      const storage = new PostgresStorage({ connectionString: url.toString(), schema });
      try {
        await storage.init();
        await storage.init(); // and again, with the tables there
        await storage.createRun(makeRun('r'));
        expect((await storage.getRun('r'))?.id).toBe('r');
      } finally {
        await storage.close();
      }
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});

describe('SQLite and another process holding the write lock', () => {
  it('a commit waits for the lock while the event loop keeps running', async () => {
    const path = join(dir, 'busy.sqlite');
    const storage = new SqliteStorage(path);
    await storage.init();
    await storage.createRun(makeRun('r', { status: 'running' }));
    const holder = spawnFixture('sqlite-lock-holder', [path], { stdin: 'pipe' });
    holder.stderr.pipe(process.stderr);
    const exited = new Promise((resolve) => holder.on('exit', resolve));
    try {
      await new Promise<void>((resolve) => holder.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('locked') && resolve()));
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 5);
      let committed = false;
      const commit = storage.commit({ runId: 'r', steps: [makeStep('r', 'a', 1)] }).then((ok) => (committed = ok));
      // Only a free event loop lets the ticker count while the commit waits; then the lock goes.
      await until(() => ticks >= 5);
      expect(committed).toBe(false);
      holder.stdin.write('go\n');
      await commit;
      clearInterval(ticker);
      expect(committed).toBe(true);
      expect((await storage.getSteps('r')).map((s) => s.path)).toEqual(['a']);
    } finally {
      holder.kill();
      await exited;
      await storage.close();
    }
  });
});
