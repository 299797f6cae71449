/**
 * Issue 15 item 5: a workflow version, once written, never changes. Concurrent writers get
 * distinct versions, each holding its own definition; a deleted id re-created never reuses a
 * version a run may still be pinned to. On real SQLite files and a real PostgreSQL schema.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, PostgresStorage, ScriptedProvider, SqliteStorage, workflow, type Storage } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';

const PG_URL = process.env.TRELLIS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const dir = mkdtempSync(join(tmpdir(), 'trellis-versions-'));
const schemas: string[] = [];

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (schemas.length === 0) return;
  const admin = new pg.Pool({ connectionString: PG_URL, max: 1 });
  try {
    for (const schema of schemas) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await admin.end();
  }
});

/** `count` storages over one database, as separate processes would open it. */
type Opener = (count: number) => Storage[];

const BACKENDS: Record<string, Opener> = {
  sqlite: (count) => {
    const path = join(dir, `${randomUUID()}.sqlite`);
    return Array.from({ length: count }, () => new SqliteStorage({ path }));
  },
  postgres: (count) => {
    const schema = `trellis_versions_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    schemas.push(schema);
    return Array.from({ length: count }, () => new PostgresStorage({ connectionString: PG_URL, schema }));
  },
};

const greet = (template: string) => workflow('greet', { id: 'greet' }).prompt('say', { model: 'mock:any', template }).end({ text: 'say.text' });
const engineOn = (storage: Storage) => new Engine({ storage, providers: { mock: new ScriptedProvider((req) => req.prompt) }, clock: new FakeClock() });

for (const [name, open] of Object.entries(BACKENDS)) {
  describe(`workflow versions on ${name}`, () => {
    it('four concurrent updates from four engines get four distinct versions, each holding its own definition', async () => {
      const engines = open(5).map(engineOn);
      try {
        // Storage is opened (and migrated) one engine at a time; the race is in the updates.
        for (const engine of engines) await engine.init();
        const [first, ...writers] = engines as [Engine, ...Engine[]];
        await first.workflows.create(greet('v1'));
        const records = await Promise.all(writers.map((engine, i) => engine.workflows.update('greet', greet(`writer ${i}`))));
        expect(new Set(records.map((r) => r.version)).size).toBe(4);
        for (const [i, record] of records.entries()) {
          const stored = await first.workflows.get('greet', record.version);
          expect(stored!.definition.definition.nodes.find((n) => n.id === 'say')!.config['template']).toBe(`writer ${i}`);
        }
        expect((await first.workflows.versions('greet')).map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
      } finally {
        for (const engine of engines) await engine.close();
      }
    });

    it('concurrent runs of different inline definitions under one id pin distinct versions', async () => {
      const engines = open(4).map(engineOn);
      try {
        for (const engine of engines) await engine.init();
        const runs = await Promise.all(engines.map((engine, i) => engine.run(greet(`inline ${i}`), {})));
        expect(new Set(runs.map((r) => r.workflow_version)).size).toBe(4);
        for (const [i, run] of runs.entries()) {
          expect(run.output_data).toEqual({ text: `inline ${i}` });
          const stored = await engines[0]!.workflows.get('greet', run.workflow_version);
          expect(stored!.definition.definition.nodes.find((n) => n.id === 'say')!.config['template']).toBe(`inline ${i}`);
        }
      } finally {
        for (const engine of engines) await engine.close();
      }
    });
  });
}

describe('a deleted workflow id re-created', () => {
  it('continues above the deleted versions: a run pinned to an old version keeps its definition', async () => {
    const clock = new FakeClock();
    const engine = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider((req) => req.prompt) }, clock });
    const gated = (template: string) =>
      workflow('gated', { id: 'gated' }).approval('ok', { message: 'go?' }).prompt('say', { model: 'mock:any', template }).end({ text: 'say.text' });
    const first = await engine.workflows.create(gated('before'));
    const id = await engine.startStored('gated', {});
    await engine.workflows.delete('gated', { force: true });
    const again = await engine.workflows.create(gated('after'));
    expect(first.version).toBe(1);
    expect(again.version).toBe(2);
    await engine.approve(id, 'ok');
    const run = await engine.wait(id);
    expect(run.workflow_version).toBe(1);
    expect(run.output_data).toEqual({ text: 'before' });
    // A second create of a live id is refused, as before.
    await expect(engine.workflows.create(gated('again'))).rejects.toMatchObject({ code: 'illegal_state' });
    await engine.close();
  });
});

describe('runs started together with a new workflow object', () => {
  it('share its one validation and store: one version, one write, every run on it; a bad input fails alone', async () => {
    const storage = new MemoryStorage();
    let saves = 0;
    const save = storage.saveWorkflow.bind(storage);
    storage.saveWorkflow = (record) => (saves++, save(record));
    const engine = engineOn(storage);
    const flow = workflow('together', { variables: { n: 'number' } }).prompt('say', { model: 'mock:any', template: 'n={{input.n}}' }).end({ text: 'say.text' });
    const started = await Promise.allSettled([...Array.from({ length: 50 }, (_, n) => engine.start(flow, { n })), engine.start(flow, { n: 'not a number' } as never)]);
    expect(started.filter((s) => s.status === 'fulfilled')).toHaveLength(50);
    expect(started.at(-1)).toMatchObject({ status: 'rejected', reason: { code: 'invalid_input' } });
    expect(saves).toBe(1);
    const runs = await Promise.all(started.flatMap((s) => (s.status === 'fulfilled' ? [engine.wait(s.value)] : [])));
    expect(new Set(runs.map((r) => `${r.workflow_id}@${r.workflow_version}`))).toEqual(new Set(['together@1']));
    await engine.close();
  });
});
