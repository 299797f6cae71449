import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStorage } from '../src/storage/sqlite-storage.js';
import { SCHEMA_VERSION, pendingMigrations } from '../src/storage/sql-schema.js';
import { stepCallId } from '../src/storage/step-calls.js';
import type { LlmExecutionRecord } from '../src/storage/records.js';
import { Engine } from '../src/core/engine.js';
import { workflow } from '../src/core/builder.js';
import { ScriptedProvider } from '../src/providers/scripted-provider.js';
import { makeRun, makeStep, storageConformance } from './storage-conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-sqlite-'));
let counter = 0;
const nextFile = () => join(dir, `db-${++counter}.sqlite`);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

storageConformance('SqliteStorage (file)', async () => {
  const storage = new SqliteStorage({ path: nextFile() });
  await storage.init();
  return storage;
});

storageConformance('SqliteStorage (:memory:)', async () => {
  const storage = new SqliteStorage(':memory:');
  await storage.init();
  return storage;
});

describe('SqliteStorage specifics', () => {
  it('sets the pragmas and migrates idempotently, keeping data', async () => {
    const path = nextFile();
    const first = new SqliteStorage(path);
    await first.init();
    await first.init();
    await first.createRun(makeRun('kept'));
    await first.close();
    const second = new SqliteStorage({ path });
    await second.init();
    expect(await second.getRun('kept')).toStrictEqual(makeRun('kept'));
    await second.close();
    const raw = new Database(path);
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.prepare("SELECT value FROM trellis_meta WHERE key = 'schema_version'").get()).toEqual({ value: String(SCHEMA_VERSION) });
    raw.close();
  });

  it('upgrades a version 1 database in place, keeping its runs, idempotency keys, event waits and LLM records', async () => {
    const path = nextFile();
    const raw = new Database(path);
    raw.exec('CREATE TABLE trellis_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    // The schema exactly as version 1 left it: every statement up to version 1, none after.
    const all = pendingMigrations('sqlite', '', 0);
    for (const statement of all.slice(0, all.length - pendingMigrations('sqlite', '', 1).length)) raw.exec(statement);
    raw.prepare("INSERT INTO trellis_meta (key, value) VALUES ('schema_version', '1')").run();
    // A run left waiting for an event by version 1.
    raw.prepare("INSERT INTO workflow_executions (id, workflow_id, workflow_version, status, input_data, variables, created_at, revision, recovery_count) VALUES ('old', 'wf', 1, 'paused', '{}', '{}', 1, 0, 0)").run();
    raw.prepare(`INSERT INTO workflow_execution_steps (run_id, path, node_id, seq, status, attempt, waiter, started_at) VALUES ('old', 'hold', 'hold', 1, 'waiting', 1, '{"kind":"event","event":"go"}', 1)`).run();
    // An LLM call it made, in the executions table where version 1 kept every call.
    raw.prepare(`INSERT INTO executions (id, status, provider_model, workflow_execution_id, workflow_node_id, step_path, request, created_at) VALUES ('exec_old', 'completed', 'mock:m', 'old', 'ask', 'ask', '{}', 5)`).run();
    raw.close();
    const storage = new SqliteStorage(path);
    await storage.init();
    expect((await storage.findEventWaiters('go', 10)).map((s) => `${s.run_id}/${s.path}`)).toEqual(['old/hold']);
    await storage.createRun(makeRun('keyed', { idempotency_key: 'once' }));
    expect((await storage.createRun(makeRun('again', { idempotency_key: 'once' }))).id).toBe('keyed');
    const oldCall: LlmExecutionRecord = { id: 'exec_old', status: 'completed', provider_model: 'mock:m', workflow_execution_id: 'old', workflow_node_id: 'ask', step_path: 'ask', request: {}, created_at: 5 };
    expect(await storage.getExecution('exec_old')).toStrictEqual(oldCall);
    // A call made after the upgrade lives in its step's row; both are listed, oldest first.
    const newCall = { ...oldCall, id: stepCallId('exec_new', 'old', 'hold'), workflow_node_id: 'hold', step_path: 'hold', created_at: 9 };
    await storage.commit({ runId: 'old', steps: [makeStep('old', 'hold', 1)], executions: [newCall] });
    expect(await storage.listExecutions({ workflow_execution_id: 'old' })).toStrictEqual([oldCall, newCall]);
    await storage.close();
    const check = new Database(path);
    expect(check.prepare("SELECT value FROM trellis_meta WHERE key = 'schema_version'").get()).toEqual({ value: String(SCHEMA_VERSION) });
    const indexes = (check.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'workflow_executions' AND sql IS NOT NULL").all() as { name: string; sql: string }[]).map((i) => i.name);
    expect(indexes).toContain('workflow_executions_idempotency_key');
    expect(indexes).not.toContain('workflow_executions_lease');
    check.close();
  });

  it("keeps a step's LLM calls in its own row, not in a table of their own", async () => {
    const path = nextFile();
    const engine = new Engine({ storage: new SqliteStorage(path), providers: { mock: new ScriptedProvider((r) => `${r.prompt}!`) } });
    await engine.init();
    const run = await engine.run(workflow('two').prompt('a', { model: 'mock:m', template: 'hi' }).prompt('b', { model: 'mock:m', template: '{{a.text}}' }), {});
    const calls = await engine.executions.list({ workflow_execution_id: run.id });
    expect(calls.map((c) => [c.workflow_node_id, c.response])).toMatchObject([['a', { text: 'hi!' }], ['b', { text: 'hi!!' }]]);
    for (const call of calls) expect(await engine.executions.get(call.id)).toStrictEqual(call);
    expect(run.execution_trace.filter((s) => s.execution_id !== undefined).map((s) => s.execution_id)).toEqual(calls.map((c) => c.id));
    await engine.close();
    const raw = new Database(path);
    expect(raw.prepare('SELECT count(*) AS n FROM executions').get()).toEqual({ n: 0 });
    expect(raw.prepare("SELECT path FROM workflow_execution_steps WHERE calls IS NOT NULL ORDER BY path").all()).toEqual([{ path: 'a' }, { path: 'b' }]);
    raw.close();
  });

  it('refuses a database whose schema is newer than the code', async () => {
    const path = nextFile();
    const storage = new SqliteStorage(path);
    await storage.init();
    await storage.close();
    const raw = new Database(path);
    raw.prepare("UPDATE trellis_meta SET value = '7' WHERE key = 'schema_version'").run();
    raw.close();
    const newer = new SqliteStorage(path);
    await expect(newer.init()).rejects.toMatchObject({ code: 'schema_version', message: expect.stringMatching(new RegExp(`version 7 .*\\(${SCHEMA_VERSION}\\)`)) });
    await newer.close();
  });

  it('keeps a large output in one blob row, with only a reference in the step row', async () => {
    const path = nextFile();
    const storage = new SqliteStorage({ path, largeOutputBytes: 100 });
    await storage.init();
    const output = { text: 'y'.repeat(500) };
    await storage.createRun(makeRun('r'));
    await storage.commit({ runId: 'r', steps: [makeStep('r', 'a', 1, { output_data: output }), makeStep('r', 'b', 2, { output_data: output }), makeStep('r', 'c', 3, { output_data: 'tiny' })] });
    expect((await storage.getStep('r', 'b'))?.output_data).toEqual(output);
    const raw = new Database(path, { readonly: true });
    expect(raw.prepare('SELECT count(*) AS n FROM blobs').get()).toEqual({ n: 1 });
    expect(raw.prepare('SELECT path, output_data, output_ref IS NOT NULL AS ref FROM workflow_execution_steps ORDER BY seq').all()).toEqual([
      { path: 'a', output_data: null, ref: 1 },
      { path: 'b', output_data: null, ref: 1 },
      { path: 'c', output_data: '"tiny"', ref: 0 },
    ]);
    raw.close();
    await storage.deleteRun('r');
    const after = new Database(path, { readonly: true });
    expect(after.prepare('SELECT count(*) AS n FROM blobs').get()).toEqual({ n: 0 });
    after.close();
    await storage.close();
  });

  it('rejects bad options naming the option', () => {
    expect(() => new SqliteStorage({ path: '' })).toThrow(/path/);
    expect(() => new SqliteStorage({ path: ':memory:', largeOutputBytes: -1 })).toThrow(/largeOutputBytes/);
  });

  it('never surfaces SQLITE_BUSY when processes share the file', async () => {
    const path = nextFile();
    const setup = new SqliteStorage(path);
    await setup.init();
    const runs = 20;
    for (let i = 0; i < runs; i++) await setup.createRun(makeRun(`run${i}`, { status: 'running' }));
    await setup.close();
    const contender = join(import.meta.dirname, 'fixtures', 'sqlite-contender.ts');
    let signalReady: () => void = () => {};
    const firstReady = new Promise<void>((resolve) => (signalReady = resolve));
    const workers = ['w1', 'w2', 'w3'].map(
      (owner) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', contender, path, owner, String(runs), '1500'], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            if (out.includes('ready')) signalReady();
          });
          child.stderr.on('data', (d: Buffer) => (out += d.toString()));
          child.on('close', (code) => resolve({ code, out }));
        }),
    );
    // This process contends too, through a second instance on the same file, while the others run.
    const local = new SqliteStorage(path);
    await local.init();
    await firstReady;
    let localSteps = 0;
    for (let i = 0; i < 300; i++) {
      const id = `run${i % runs}`;
      if (await local.commit({ runId: id, steps: [makeStep(id, `local-${i}`, 100_000 + i)], run: { usage: { i } } })) localSteps++;
      await local.claimRun(id, 'local', Date.now() + 2, Date.now());
    }
    const results = await Promise.all(workers);
    let workerSteps = 0;
    for (const { code, out } of results) {
      expect(out).not.toMatch(/SQLITE_BUSY|database is locked/);
      expect(code, out).toBe(0);
      workerSteps += Number(/steps=(\d+)/.exec(out)?.[1]);
    }
    expect(workerSteps).toBeGreaterThan(0);
    let stored = 0;
    for (let i = 0; i < runs; i++) stored += (await local.getSteps(`run${i}`)).length;
    expect(stored).toBe(localSteps + workerSteps);
    await local.close();
  });
});
