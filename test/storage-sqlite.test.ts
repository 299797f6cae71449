import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import * as vitest from 'vitest';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { SqliteStorage, type ModelCallRecord, type StepRecord, Engine, workflow, ScriptedProvider } from '../src/index.js';
import { describeStorageConformance } from '../src/testing/index.js';
import { SCHEMA_VERSION, pendingMigrations } from '../src/storage/sql/sql-schema.js';
import { stepCallId } from '../src/kernel/call-ids.js';
import { makeRun, makeStep } from '../src/testing/storage-fixtures.js';
import { encodeLoggedStep, logEntry } from '../src/storage/sqlite/step-log.js';
import { spawnFixture } from './fixture-process.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-sqlite-'));
let counter = 0;
const nextFile = () => join(dir, `db-${++counter}.sqlite`);

/** Every step line of the step log, entry by entry. */
function loggedLines(raw: Database.Database): unknown[][] {
  const rows = raw.prepare('SELECT body FROM workflow_step_log ORDER BY run_id, n').all() as { body: string }[];
  return rows.flatMap((row) => JSON.parse(row.body) as unknown[][]);
}

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describeStorageConformance('SqliteStorage (file)', async () => {
  const storage = new SqliteStorage({ path: nextFile() });
  await storage.init();
  return storage;
}, { vitest });

describeStorageConformance('SqliteStorage (:memory:)', async () => {
  const storage = new SqliteStorage(':memory:');
  await storage.init();
  return storage;
}, { vitest });

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
    const oldCall: ModelCallRecord = { id: 'exec_old', status: 'completed', provider_model: 'mock:m', workflow_execution_id: 'old', workflow_node_id: 'ask', step_path: 'ask', request: {}, created_at: 5 };
    expect(await storage.getCall('exec_old')).toStrictEqual(oldCall);
    // A call made after the upgrade lives in its step's row; both are listed, oldest first.
    const newCall = { ...oldCall, id: stepCallId('exec_new', 'old', 'hold'), workflow_node_id: 'hold', step_path: 'hold', created_at: 9 };
    await storage.commit({ runId: 'old', steps: [makeStep('old', 'hold', 1)], calls: [newCall] });
    expect(await storage.listCalls({ workflow_execution_id: 'old' })).toStrictEqual([oldCall, newCall]);
    await storage.close();
    const check = new Database(path);
    expect(check.prepare("SELECT value FROM trellis_meta WHERE key = 'schema_version'").get()).toEqual({ value: String(SCHEMA_VERSION) });
    const indexes = (check.prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'workflow_executions' AND sql IS NOT NULL").all() as { name: string; sql: string }[]).map((i) => i.name);
    expect(indexes).toContain('workflow_executions_idempotency_key');
    expect(indexes).not.toContain('workflow_executions_lease');
    check.close();
  });

  it('upgrades a version 3 database to the step log, every step reading back exactly as it was written', async () => {
    const path = nextFile();
    // Steps written by version 3 (a row each), with every field, a JSON null output, a large output and calls.
    const v3 = new Database(path);
    v3.exec('CREATE TABLE trellis_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    for (const statement of pendingMigrations('sqlite', '', 0).slice(0, -pendingMigrations('sqlite', '', 3).length)) v3.exec(statement);
    v3.prepare("INSERT INTO trellis_meta (key, value) VALUES ('schema_version', '3')").run();
    v3.prepare("INSERT INTO workflow_executions (id, workflow_id, workflow_version, status, input_data, variables, created_at, revision, recovery_count) VALUES ('r', 'wf', 1, 'running', '{}', '{}', 1, 0, 0)").run();
    const insert = v3.prepare(
      'INSERT INTO workflow_execution_steps (run_id, path, node_id, seq, status, attempt, input_data, output_data, output_ref, fired, state, error, waiter, due_at, wait_event, execution_id, started_at, completed_at, duration_ms, calls) ' +
        'VALUES (@run_id, @path, @node_id, @seq, @status, @attempt, @input_data, @output_data, @output_ref, @fired, @state, @error, @waiter, @due_at, @wait_event, @execution_id, @started_at, @completed_at, @duration_ms, @calls)',
    );
    const none = { input_data: null, output_data: null, output_ref: null, fired: null, state: null, error: null, waiter: null, due_at: null, wait_event: null, execution_id: null, completed_at: null, duration_ms: null, calls: null };
    const call = `{"i":":tok","st":"completed","m":"mock:m","a":1,"k":"1","Q":[0,"m","hi",{}],"t":10,"s":0,"c":2,"d":2,"R":["hi!",null,null],"U":[1,2]}\n`;
    insert.run({ ...none, run_id: 'r', path: 'ask', node_id: 'ask', seq: 1, status: 'completed', attempt: 2, input_data: '{"prompt":"hi","n":null}', output_data: 'null', fired: '["true"]', state: '{"i":[1,2]}', error: '{"code":"timeout","message":"slow"}', execution_id: ':tok', started_at: 10, completed_at: 12, duration_ms: 2, calls: call });
    v3.prepare("INSERT INTO blobs (hash, data) VALUES ('h1', '{\"big\":\"yyyy\"}')").run();
    insert.run({ ...none, run_id: 'r', path: 'loop[10].big', node_id: 'big', seq: 2, status: 'completed', attempt: 1, output_ref: 'h1', started_at: 13 });
    insert.run({ ...none, run_id: 'r', path: 'wait', node_id: 'wait', seq: 3, status: 'waiting', attempt: 1, waiter: '{"kind":"event","event":"go","due_at":50}', due_at: 50, wait_event: 'go', started_at: 14 });
    v3.close();
    const storage = new SqliteStorage(path);
    await storage.init();
    const expected: StepRecord[] = [
      { run_id: 'r', path: 'ask', node_id: 'ask', seq: 1, status: 'completed', attempt: 2, input_data: { prompt: 'hi', n: null }, output_data: null, fired: ['true'], state: { i: [1, 2] }, error: { code: 'timeout', message: 'slow' }, execution_id: stepCallId('tok', 'r', 'ask'), started_at: 10, completed_at: 12, duration_ms: 2 },
      { run_id: 'r', path: 'loop[10].big', node_id: 'big', seq: 2, status: 'completed', attempt: 1, output_data: { big: 'yyyy' }, started_at: 13 },
      { run_id: 'r', path: 'wait', node_id: 'wait', seq: 3, status: 'waiting', attempt: 1, waiter: { kind: 'event', event: 'go', due_at: 50 }, started_at: 14 },
    ];
    expect(await storage.getSteps('r')).toStrictEqual(expected);
    expect(await storage.findDueSteps(50, 10)).toStrictEqual([expected[2]]);
    expect(await storage.findEventWaiters('go', 10)).toStrictEqual([expected[2]]);
    expect((await storage.listCalls({ workflow_execution_id: 'r' })).map((c) => [c.id, c.response, c.idempotency_key])).toEqual([[stepCallId('tok', 'r', 'ask'), { text: 'hi!', finish_reason: null, model: null }, 'r:ask:1']]);
    // The old table is gone; new commits append to the converted entry.
    await storage.commit({ runId: 'r', steps: [makeStep('r', 'wait', 3, { started_at: 14 })] });
    expect(await storage.findEventWaiters('go', 10)).toEqual([]);
    expect((await storage.getSteps('r')).map((step) => step.status)).toEqual(['completed', 'completed', 'completed']);
    await storage.deleteRun('r');
    await storage.close();
    const check = new Database(path, { readonly: true });
    expect(check.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'workflow_execution_steps'").get()).toEqual({ n: 0 });
    expect(check.prepare('SELECT count(*) AS n FROM blobs').get()).toEqual({ n: 0 });
    check.close();
  });

  /** A new database file as schema `version` left it: the migrations up to it, and the version recorded. */
  const databaseAtVersion = (version: number) => {
    const path = nextFile();
    const db = new Database(path);
    db.exec('CREATE TABLE trellis_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
    for (const statement of pendingMigrations('sqlite', '', 0).slice(0, -pendingMigrations('sqlite', '', version).length)) db.exec(statement);
    db.prepare("INSERT INTO trellis_meta (key, value) VALUES ('schema_version', ?)").run(String(version));
    return { path, db };
  };

  it('upgrades a version 5 database, listing the approvals its live runs already waited at', async () => {
    const { path, db: v5 } = databaseAtVersion(5);
    const insertRun = v5.prepare("INSERT INTO workflow_executions (id, workflow_id, workflow_version, status, input_data, variables, created_at, revision, recovery_count) VALUES (?, 'wf', 2, ?, '{}', '{}', 1, 0, 0)");
    insertRun.run('live', 'paused');
    insertRun.run('over', 'completed');
    const append = v5.prepare('INSERT INTO workflow_step_log (run_id, n, body) VALUES (?, ?, ?)');
    const line = (step: StepRecord) => encodeLoggedStep(step, undefined, 1 << 20, []);
    const asks = (run: string, path: string, since: number) => makeStep(run, path, 1, { status: 'waiting', started_at: since, waiter: { kind: 'approval', detail: { message: 'ok?' } } });
    // In `live`: `ask` waits (its last entry), `was` waited and was answered since, `timer` waits for a time.
    append.run('live', 1, logEntry([line(makeStep('live', 'ask', 1, { status: 'running', started_at: 7 })), line(asks('live', 'was', 5))]));
    append.run('live', 2, logEntry([line(asks('live', 'ask', 7)), line(makeStep('live', 'was', 2, { started_at: 5 })), line(makeStep('live', 'timer', 3, { status: 'waiting', waiter: { kind: 'timer', due_at: 9 } }))]));
    append.run('over', 1, logEntry([line(asks('over', 'ask', 3))]));
    v5.close();
    const storage = new SqliteStorage(path);
    await storage.init();
    expect(await storage.findApprovalWaiters()).toStrictEqual([{ step: asks('live', 'ask', 7), workflow_id: 'wf', workflow_version: 2 }]);
    await storage.commit({ runId: 'live', steps: [makeStep('live', 'ask', 1, { started_at: 7 })] });
    expect(await storage.findApprovalWaiters()).toEqual([]);
    await storage.close();
  });

  it('upgrades a version 12 step log to write order, each run folding its entries as before', async () => {
    const { path, db: v12 } = databaseAtVersion(12);
    const insertRun = v12.prepare("INSERT INTO workflow_executions (id, workflow_id, workflow_version, status, input_data, variables, created_at, revision, recovery_count) VALUES (?, 'wf', 1, 'running', '{}', '{}', 1, 0, 0)");
    const append = v12.prepare('INSERT INTO workflow_step_log (run_id, n, body) VALUES (?, ?, ?)');
    const line = (step: StepRecord) => encodeLoggedStep(step, undefined, 1 << 20, []);
    // Written in the old key order, which is not the order the runs' entries were written in.
    for (const run of ['b', 'a']) {
      insertRun.run(run);
      append.run(run, 2, logEntry([line(makeStep(run, 'x', 1, { output_data: `${run}2` }))]));
      append.run(run, 1, logEntry([line(makeStep(run, 'x', 1, { status: 'running' })), line(makeStep(run, 'y', 2, { status: 'running' }))]));
    }
    v12.close();
    const storage = new SqliteStorage(path);
    await storage.init();
    for (const run of ['a', 'b']) {
      expect((await storage.getSteps(run)).map((s) => [s.path, s.status, s.output_data])).toEqual([['x', 'completed', `${run}2`], ['y', 'running', undefined]]);
      await storage.commit({ runId: run, steps: [makeStep(run, 'y', 2, { output_data: `${run}3` })] });
    }
    expect((await storage.getSteps('a')).map((s) => [s.path, s.output_data])).toEqual([['x', 'a2'], ['y', 'a3']]);
    await storage.close();
  });

  it('checkpoints the WAL in a worker thread while commits go on, and leaves no WAL behind on close', async () => {
    const path = nextFile();
    const storage = new SqliteStorage(path);
    await storage.init();
    const before = statSync(path).size;
    // 200 write transactions of a few pages each: fewer WAL pages than SQLite's own checkpoint waits for (1,000).
    for (let i = 0; i < 100; i++) {
      await storage.createRun(makeRun(`r${i}`));
      await storage.commit({ runId: `r${i}`, steps: [makeStep(`r${i}`, 'a', 1, { output_data: 'x'.repeat(200) })] });
    }
    // Only a checkpoint writes pages to the database file.
    await vi.waitFor(() => expect(statSync(path).size).toBeGreaterThan(before + 64 * 1024), { timeout: 5000 });
    await storage.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    const reopened = new SqliteStorage(path);
    await reopened.init();
    expect((await reopened.getSteps('r99')).map((s) => s.output_data)).toEqual(['x'.repeat(200)]);
    await reopened.close();
  });

  it('appends one log entry per commit and never rewrites an earlier one', async () => {
    const path = nextFile();
    const storage = new SqliteStorage(path);
    await storage.init();
    await storage.createRun(makeRun('r'));
    await storage.commit({ runId: 'r', steps: [makeStep('r', 'a', 1, { status: 'running' }), makeStep('r', 'b', 2, { status: 'running' })] });
    const raw = new Database(path, { readonly: true });
    const entries = () => raw.prepare("SELECT n, body FROM workflow_step_log WHERE run_id = 'r' ORDER BY n").all() as { n: number; body: string }[];
    const first = entries();
    await storage.commit({ runId: 'r', steps: [makeStep('r', 'a', 1, { output_data: 1 })] });
    await storage.commit({ runId: 'r', steps: [] });
    const after = entries();
    expect(after.map((e) => e.n)).toEqual([1, 2]);
    expect(after[0]).toEqual(first[0]);
    expect((await storage.getSteps('r')).map((s) => [s.path, s.status, s.output_data])).toEqual([['a', 'completed', 1], ['b', 'running', undefined]]);
    raw.close();
    await storage.close();
  });

  it("keeps a step's LLM calls in its own row, not in a table of their own", async () => {
    const path = nextFile();
    const engine = new Engine({ storage: new SqliteStorage(path), providers: { mock: new ScriptedProvider((r) => `${r.prompt}!`) } });
    await engine.init();
    const run = await engine.run(workflow('two').prompt('a', { model: 'mock:m', template: 'hi' }).prompt('b', { model: 'mock:m', template: '{{a.text}}' }), {});
    const calls = await engine.calls.list({ workflow_execution_id: run.id });
    expect(calls.map((c) => [c.workflow_node_id, c.response])).toMatchObject([['a', { text: 'hi!' }], ['b', { text: 'hi!!' }]]);
    for (const call of calls) expect(await engine.calls.get(call.id)).toStrictEqual(call);
    expect(run.execution_trace.filter((s) => s.call_id !== undefined).map((s) => s.call_id)).toEqual(calls.map((c) => c.id));
    await engine.close();
    const raw = new Database(path);
    expect(raw.prepare('SELECT count(*) AS n FROM executions').get()).toEqual({ n: 0 });
    // Each call sits in the log entry of the commit that completed its step (a line's last field).
    const withCalls = loggedLines(raw).filter((line) => Array.isArray(line[16])).map((line) => line[0]);
    expect(withCalls).toEqual(['a', 'b']);
    raw.close();
  });

  it('refuses a database whose schema is newer than the code', async () => {
    const path = nextFile();
    const storage = new SqliteStorage(path);
    await storage.init();
    await storage.close();
    const raw = new Database(path);
    raw.prepare("UPDATE trellis_meta SET value = ? WHERE key = 'schema_version'").run(String(SCHEMA_VERSION + 1));
    raw.close();
    const newer = new SqliteStorage(path);
    await expect(newer.init()).rejects.toMatchObject({ code: 'schema_version', message: expect.stringMatching(new RegExp(`version ${SCHEMA_VERSION + 1} .*\\(${SCHEMA_VERSION}\\)`)) });
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
    // In the log, a and b hold the blob's hash instead of their output (fields 9 and 15); c its output.
    expect(loggedLines(raw).map((line) => [line[0], line[9] ?? null, typeof line[15] === 'string'])).toEqual([
      ['a', null, true],
      ['b', null, true],
      ['c', ['tiny'], false],
    ]);
    raw.close();
    // A second run referencing the same blob keeps it alive when the first is deleted.
    await storage.createRun(makeRun('other'));
    await storage.commit({ runId: 'other', steps: [makeStep('other', 'a', 1, { output_data: output })] });
    const blobs = () => {
      const db = new Database(path, { readonly: true });
      const n = (db.prepare('SELECT count(*) AS n FROM blobs').get() as { n: number }).n;
      db.close();
      return n;
    };
    await storage.deleteRun('r');
    expect(blobs()).toBe(1);
    expect((await storage.getStep('other', 'a'))?.output_data).toEqual(output);
    await storage.deleteRun('other');
    expect(blobs()).toBe(0);
    await storage.close();
  });

  it('purging takes the blobs only the purged runs referenced, their child runs’ included', async () => {
    const path = nextFile();
    const storage = new SqliteStorage({ path, largeOutputBytes: 100 });
    await storage.init();
    const mine = { text: 'm'.repeat(500) };
    const shared = { text: 's'.repeat(500) };
    await storage.createRun(makeRun('old', { status: 'completed', completed_at: 10 }));
    await storage.createRun(makeRun('old-child', { status: 'completed', completed_at: 9, parent_id: 'old' }));
    await storage.createRun(makeRun('kept', { status: 'completed', completed_at: 500 }));
    await storage.commit({ runId: 'old', steps: [makeStep('old', 'a', 1, { output_data: shared })] });
    await storage.commit({ runId: 'old-child', steps: [makeStep('old-child', 'a', 1, { output_data: mine })] });
    await storage.commit({ runId: 'kept', steps: [makeStep('kept', 'a', 1, { output_data: shared })] });
    const blobs = () => {
      const db = new Database(path, { readonly: true });
      const rows = db.prepare('SELECT data FROM blobs ORDER BY data').all() as { data: string }[];
      db.close();
      return rows.map((row) => JSON.parse(row.data) as unknown);
    };
    expect(blobs()).toEqual([mine, shared]);
    expect(await storage.purgeRuns({ completed_before: 100, status: ['completed'], limit: 10 })).toBe(1);
    expect(blobs()).toEqual([shared]);
    expect((await storage.getStep('kept', 'a'))?.output_data).toEqual(shared);
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
    let signalReady: () => void = () => {};
    const firstReady = new Promise<void>((resolve) => (signalReady = resolve));
    const workers = ['w1', 'w2', 'w3'].map(
      (owner) =>
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawnFixture('sqlite-contender', [path, owner, String(runs), '1500']);
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
