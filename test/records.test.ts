/**
 * What a run leaves behind and how it reads (issue 17, Records): errors name the step path that
 * failed, every time of the execution record and of the HTTP JSON is one format (ISO 8601), and
 * runs can be deleted (one, or purged by age) by the engine and over HTTP. The storage side of
 * deleting is in the conformance suite (src/testing/conformance-deletion.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { workflow, Engine, MemoryStorage, ScriptedProvider, SqliteStorage, TrellisError, type PurgeFilter, type PurgeOptions, type TrellisEvents } from '../src/index.js';
import { createRouter, type AuthorizeFn } from '../src/express/index.js';
import { FakeClock } from '../src/testing/index.js';
import { makeEngine, serveOnLoopback, until } from './helpers.js';
import { scratch } from './scratch.js';
import { readServerSentEvents } from './http-client.js';

const { dir } = scratch('records');
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A map-reduce summariser whose provider fails for the document that says `doc3`. */
function summariser() {
  const made = makeEngine((req) => (req.prompt.includes('doc3') ? ScriptedProvider.fail('bad_request', 'the model refused') : `summary of ${req.prompt}`));
  const wf = workflow('summarise')
    .forEach('input.docs', (b) => b.prompt('summarise_doc', { model: 'mock:m', template: '{{doc}}' }), { id: 'per_doc', as: 'doc' })
    .end({ out: 'per_doc' });
  return { ...made, wf };
}

describe('errors name the step path', () => {
  it('a failing prompt inside a forEach: the run, the trace and the events say per_doc[3].summarise_doc', async () => {
    const { engine, wf } = summariser();
    const failed: TrellisEvents['execution:failed'][] = [];
    const nodeFailed: TrellisEvents['node:failed'][] = [];
    engine.events.on('execution:failed', (e) => failed.push(e));
    engine.events.on('node:failed', (e) => nodeFailed.push(e));

    const run = await engine.run(wf, { docs: ['doc0', 'doc1', 'doc2', 'doc3'] });

    expect(run.status).toBe('failed');
    expect(run.error_message).toBe('Step "per_doc[3].summarise_doc" failed: the model refused');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.error).toEqual({ code: 'bad_request', message: run.error_message, nodeId: 'summarise_doc', path: 'per_doc[3].summarise_doc' });
    expect(nodeFailed.map((e) => [e.path, e.error.message])).toEqual([['per_doc[3].summarise_doc', 'the model refused']]);
    const trace = new Map(run.execution_trace.map((s) => [s.path, s]));
    expect(trace.get('per_doc[3].summarise_doc')).toMatchObject({ status: 'failed', error_code: 'bad_request', error_message: 'the model refused' });
    // The loop the failure stopped says where the run failed, not just which node.
    expect(trace.get('per_doc')).toMatchObject({ status: 'skipped', error_message: 'run failed at step "per_doc[3].summarise_doc"' });
    // Read back from storage, the record says the same.
    expect((await engine.get(run.id))!.error_message).toBe(run.error_message);
  });

  it('a top-level step is named by its path too, which is its node id', async () => {
    const { engine } = makeEngine(() => ScriptedProvider.fail('auth', 'bad key'));
    const run = await engine.run(workflow('top').prompt('classify', { model: 'mock:m', template: 'x' }), {});
    expect(run.error_message).toBe('Step "classify" failed: bad key');
  });

  it('the error handler is told the path, and the steps it stops say which step failed', async () => {
    const { engine } = makeEngine((req) => (req.prompt === 'b' ? ScriptedProvider.fail('bad_request', 'no') : 'fine'));
    const wf = workflow('handled', { settings: { error_handler_node_id: 'handler' } })
      .forEach('input.items', (b) => b.prompt('work', { model: 'mock:m', template: '{{item}}' }), { id: 'each' })
      .end({ out: 'each' })
      .build();
    wf.definition.nodes.push({ id: 'handler', type: 'data_transform', name: 'handler', position: { x: 0, y: 0 }, config: { mapping: { failed: 'error.path' } }, inputs: [], outputs: [] });
    const run = await engine.run(wf, { items: ['a', 'b'] });
    expect(run.context.handler).toEqual({ failed: 'each[1].work' });
    expect(run.execution_trace.find((s) => s.path === 'each')).toMatchObject({ status: 'skipped', error_message: 'step "each[1].work" failed; routed to error handler "handler"' });
  });
});

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Every value under a key that names a time (`*_at`, `timestamp`, `dueAt`), by its path, however deep. */
function timeFields(value: unknown, path = ''): Map<string, unknown> {
  const found = new Map<string, unknown>();
  if (value === null || typeof value !== 'object') return found;
  for (const [key, inner] of Object.entries(value)) {
    const at = path === '' ? key : `${path}.${key}`;
    if (key.endsWith('_at') || key === 'timestamp' || key === 'dueAt') found.set(at, inner);
    for (const [p, v] of timeFields(inner, at)) found.set(p, v);
  }
  return found;
}

/** A prompt that fails once and is retried after 1 s, then a one-minute delay. */
function retryThenDelay() {
  const made = makeEngine([ScriptedProvider.fail('provider_5xx', 'overloaded'), 'fine']);
  const wf = workflow('timed')
    .prompt('ask', { model: 'mock:m', template: 'x', retry: { max_attempts: 2, delay_ms: 1000, jitter: false } })
    .delay('cool_off', 60_000)
    .end({ answer: 'ask.text' });
  return { ...made, wf };
}

describe('one time format: ISO 8601 everywhere a run is shown', () => {
  it('engine.get(): the run, its trace, a retried step’s attempts and a waiting step’s due time', async () => {
    const { engine, clock, wf } = retryThenDelay();
    const id = await engine.start(wf, {});
    await clock.advance(1000);
    const waiting = (await engine.get(id))!;
    expect(waiting.execution_trace.find((s) => s.path === 'cool_off')?.status).toBe('waiting');
    const times = timeFields(waiting);
    expect([...times.keys()]).toEqual(expect.arrayContaining(['created_at', 'started_at', 'execution_trace.1.attempts.0.started_at', 'execution_trace.1.attempts.0.failed_at', 'execution_trace.2.waiting_for.due_at']));
    for (const [path, value] of times) expect(value, path).toMatch(ISO);
    expect(waiting.execution_trace[1]!.attempts).toEqual([{ attempt: 1, error: { code: 'provider_5xx', message: 'overloaded' }, started_at: '2026-01-01T00:00:00.000Z', failed_at: '2026-01-01T00:00:00.000Z' }]);
    expect(waiting.execution_trace[2]!.waiting_for).toEqual({ kind: 'timer', due_at: '2026-01-01T00:01:01.000Z' });

    await clock.advance(60_000);
    const done = await engine.wait(id);
    expect(done.status).toBe('completed');
    for (const [path, value] of timeFields(done)) expect(value, path).toMatch(ISO);
    expect(done.completed_at).toBe('2026-01-01T00:01:01.000Z');
  });

  it('over HTTP: the execution, the run list and the event stream', async () => {
    const { engine, clock, wf } = retryThenDelay();
    cleanups.push(() => engine.close());
    const app = express();
    app.use('/api', createRouter(engine, { allowUnauthenticated: true }));
    const base = `${await serveOnLoopback(app, cleanups)}/api`;
    const id = await engine.start(wf, {});
    const stream = readServerSentEvents(`${base}/workflow-executions/${id}/events`);
    await until(() => engine.events.listenerCount('node:waiting') > 0);
    await clock.advance(1000);
    const execution = await (await fetch(`${base}/workflow-executions/${id}`)).json();
    const list = await (await fetch(`${base}/workflow-executions`)).json();
    await clock.advance(60_000);
    const events = await stream;

    expect(timeFields(execution).get('execution_trace.1.attempts.0.failed_at')).toMatch(ISO);
    const streamed = events.filter((e) => e.name !== 'snapshot' && e.name !== 'end');
    expect(events.map((e) => e.name)).toEqual(expect.arrayContaining(['snapshot', 'node:started', 'node:waiting', 'execution:completed', 'end']));
    expect(streamed.find((e) => e.name === 'node:waiting' && e.data.kind === 'timer')?.data.dueAt).toBe('2026-01-01T00:01:01.000Z');
    for (const body of [execution, list, ...events.map((e) => e.data)]) {
      for (const [path, value] of timeFields(body)) expect(value, path).toMatch(ISO);
    }
    expect(streamed.every((e) => ISO.test(e.data.timestamp))).toBe(true);
  });

  it('over HTTP: an approval’s due time in execution:paused, the approval inbox and the trace', async () => {
    const { engine, clock } = makeEngine();
    cleanups.push(() => engine.close());
    const app = express();
    app.use('/api', createRouter(engine, { allowUnauthenticated: true }));
    const base = `${await serveOnLoopback(app, cleanups)}/api`;
    const wf = workflow('gated').delay('settle', 1000).approval('gate', { message: 'Ship it?', timeout_ms: 60_000, on_timeout: 'approve' });
    const id = await engine.start(wf, {});
    const stream = readServerSentEvents(`${base}/workflow-executions/${id}/events`);
    await until(() => engine.events.listenerCount('execution:paused') > 0);
    await clock.advance(1000);
    await until(async () => (await engine.get(id))?.status === 'paused');
    const inbox = await (await fetch(`${base}/approvals`)).json();
    const execution = await (await fetch(`${base}/workflow-executions/${id}`)).json();
    await clock.advance(60_000);
    const events = await stream;

    const due = '2026-01-01T00:01:01.000Z';
    expect(events.find((e) => e.name === 'execution:paused')?.data.approvals).toMatchObject([{ path: 'gate', dueAt: due }]);
    expect(events.find((e) => e.name === 'node:waiting' && e.data.kind === 'approval')?.data.dueAt).toBe(due);
    expect(inbox.data).toMatchObject([{ path: 'gate', due_at: due }]);
    expect(execution.execution_trace.find((s: { path: string }) => s.path === 'gate').waiting_for).toMatchObject({ kind: 'approval', due_at: due });
    for (const body of [inbox, execution, ...events.map((e) => e.data)]) {
      for (const [path, value] of timeFields(body)) expect(value, path).toMatch(ISO);
    }
  });
});


/** Memory storage that records how many runs each `purgeRuns` batch removed. */
class BatchCountingStorage extends MemoryStorage {
  readonly batches: number[] = [];
  override async purgeRuns(filter: PurgeFilter): Promise<number> {
    const removed = await super.purgeRuns(filter);
    this.batches.push(removed);
    return removed;
  }
}

const echo = () => workflow('echo').prompt('say', { model: 'mock:m', template: '{{input.text}}' }).end({ said: 'say.text' });

describe('engine.deleteRun', () => {
  it('deletes an ended run with its trace and LLM records; a second delete is not_found', async () => {
    const { engine } = makeEngine();
    const run = await engine.run(echo(), { text: 'hello' });
    expect(await engine.calls.list({ workflow_execution_id: run.id })).toHaveLength(1);
    const other = await engine.run(echo(), { text: 'kept' });

    await engine.deleteRun(run.id);

    expect(await engine.get(run.id)).toBeUndefined();
    expect(await engine.calls.list({ workflow_execution_id: run.id })).toEqual([]);
    expect((await engine.list()).map((r) => r.id)).toEqual([other.id]);
    await expect(engine.deleteRun(run.id)).rejects.toMatchObject({ code: 'not_found', executionId: run.id });
  });

  it('refuses a run that has not ended with illegal_state; with force it cancels it (aborting its call) and deletes it', async () => {
    let aborted = false;
    const { engine, mock } = makeEngine((req) => new Promise((_resolve, reject) => req.signal?.addEventListener('abort', () => ((aborted = true), reject(req.signal!.reason)))));
    const id = await engine.start(echo(), { text: 'slow' });
    await until(() => mock.calls.length === 1);
    const refused = await engine.deleteRun(id).then(() => undefined, (e: unknown) => e);
    expect(refused).toBeInstanceOf(TrellisError);
    expect(refused).toMatchObject({ code: 'illegal_state', executionId: id, details: { status: 'running' }, message: expect.stringMatching(/force: true/) });
    expect((await engine.get(id))?.status).toBe('running');

    const cancelled: string[] = [];
    engine.events.on('execution:cancelled', (e) => cancelled.push(e.executionId));
    await engine.deleteRun(id, { force: true });
    expect(aborted).toBe(true);
    expect(cancelled).toEqual([id]);
    expect(await engine.get(id)).toBeUndefined();
    expect(await engine.calls.list({ workflow_execution_id: id })).toEqual([]);
  });

  it('deletes the child runs of a sub_workflow step with their parent, and a paused parent only with force', async () => {
    const { engine } = makeEngine();
    await engine.workflows.create(workflow('child', { id: 'child' }).prompt('say', { model: 'mock:m', template: 'x' }).approval('gate'));
    const id = await engine.start(workflow('parent').subWorkflow('call', { workflow_id: 'child' }), {});
    await until(async () => (await engine.list({ workflow_id: 'child' }))[0]?.status === 'paused');
    const [child] = await engine.list({ workflow_id: 'child' });
    await expect(engine.deleteRun(id)).rejects.toMatchObject({ code: 'illegal_state' });

    await engine.deleteRun(id, { force: true });

    expect(await engine.get(id)).toBeUndefined();
    expect(await engine.get(child!.id)).toBeUndefined();
    expect(await engine.calls.list({ workflow_execution_id: child!.id })).toEqual([]);
    expect(await engine.list()).toEqual([]);
  });
});

describe('engine.purge', () => {
  /** Runs of `echo` that end one minute apart on the fake clock, oldest first. */
  async function history(count: number) {
    const made = makeEngine(() => 'ok');
    const ended: { id: string; at: number }[] = [];
    for (let i = 0; i < count; i++) {
      const run = await made.engine.run(echo(), { text: `n${i}` });
      ended.push({ id: run.id, at: made.clock.now() });
      await made.clock.advance(60_000);
    }
    return { ...made, ended };
  }

  it('removes ended runs that ended before olderThan, and keeps younger ones and runs still going', async () => {
    const { engine, clock, ended } = await history(5);
    const failed = await makeFailedRun(engine);
    const live = await engine.start(workflow('waits').approval('gate'), {});
    // The five ended at t0 .. t0+4min, the failed one at t0+5min; the cut at t0+2min takes the first two.
    expect(await engine.purge({ olderThan: new Date(ended[2]!.at) })).toBe(2);
    expect((await engine.list()).map((r) => r.id).sort()).toEqual([ended[2]!.id, ended[3]!.id, ended[4]!.id, failed, live].sort());
    // A status filter; a number of ms since epoch is a time too.
    expect(await engine.purge({ olderThan: clock.now() + 1, status: 'failed' })).toBe(1);
    expect(await engine.get(failed)).toBeUndefined();
    // A workflow filter, and every ended status by default: the run waiting for approval stays.
    expect(await engine.purge({ olderThan: clock.now() + 1, workflowId: 'nope' })).toBe(0);
    expect(await engine.purge({ olderThan: clock.now() + 1, workflowId: 'echo' })).toBe(3);
    expect((await engine.list()).map((r) => r.id)).toEqual([live]);
  });

  it('works in batches of 100, each its own transaction, and stops at limit', async () => {
    const storage = new BatchCountingStorage();
    const { engine, clock } = makeEngine(() => 'ok', { storage });
    for (let i = 0; i < 250; i++) await engine.run(echo(), { text: `n${i}` });
    await clock.advance(1);
    expect(await engine.purge({ olderThan: clock.now(), limit: 120 })).toBe(120);
    expect(storage.batches).toEqual([100, 20]);
    expect(await engine.purge({ olderThan: clock.now() })).toBe(130);
    expect(storage.batches).toEqual([100, 20, 100, 30]);
    expect(await engine.list()).toEqual([]);
  });

  it('stops between batches when its signal aborts, and refuses bad options naming the option', async () => {
    const { engine, clock } = await history(3);
    await expect(engine.purge({ olderThan: clock.now(), signal: AbortSignal.abort(new Error('shutting down')) })).rejects.toThrow('shutting down');
    expect(await engine.list()).toHaveLength(3);
    const bad = async (options: unknown) => engine.purge(options as PurgeOptions).then(() => undefined, (e: unknown) => e as TrellisError);
    expect(await bad({ olderThan: '2026-01-01' })).toMatchObject({ code: 'invalid_options', message: expect.stringMatching(/"olderThan" must be a Date or a time in ms since epoch/) });
    expect(await bad({ olderThan: new Date('nope') })).toMatchObject({ code: 'invalid_options', message: expect.stringMatching(/"olderThan".*invalid Date/) });
    expect(await bad({ olderThan: 1, status: 'running' })).toMatchObject({ code: 'invalid_options', message: expect.stringMatching(/"status" must be ended statuses only/) });
    expect(await bad({ olderThan: 1, status: [] })).toMatchObject({ code: 'invalid_options' });
    expect(await bad({ olderThan: 1, limit: 0 })).toMatchObject({ code: 'invalid_options', message: expect.stringMatching(/"limit"/) });
    expect(await bad(undefined)).toMatchObject({ code: 'invalid_options' });
    expect(await engine.list()).toHaveLength(3);
  });

  it('on a SQLite file: removes the run, its child runs and their records', async () => {
    const clock = new FakeClock();
    const engine = new Engine({ storage: new SqliteStorage({ path: join(dir, 'purge.sqlite') }), providers: { mock: new ScriptedProvider(() => 'ok') }, clock });
    cleanups.push(() => engine.close());
    await engine.workflows.create(workflow('child', { id: 'child' }).prompt('say', { model: 'mock:m', template: 'x' }));
    const parent = await engine.run(workflow('parent').subWorkflow('call', { workflow_id: 'child' }).end({ got: 'call.output' }), {});
    expect(parent.status).toBe('completed');
    await clock.advance(1);
    const kept = await engine.run(echo(), { text: 'later' });
    expect(await engine.list()).toHaveLength(3);
    // The parent and its child ended before now; `kept` ended now, which is not before it.
    expect(await engine.purge({ olderThan: clock.now() })).toBe(1);
    expect((await engine.list()).map((r) => r.id)).toEqual([kept.id]);
    expect(await engine.calls.list({})).toHaveLength(1);
  });
});

/** A run of its own workflow that fails at once. */
async function makeFailedRun(engine: Engine): Promise<string> {
  const run = await engine.run(workflow('fails').transform('bad', { x: 'input.missing.deeper' }), {});
  expect(run.status).toBe('failed');
  return run.id;
}

describe('DELETE /workflow-executions/:id', () => {
  /**
   * A router with two tenants by bearer token: a run belongs to the tenant that owns its workflow,
   * and `authorize` lets a tenant touch only its own runs (as test/tenant-isolation.test.ts does).
   */
  async function tenantRouter() {
    const { engine } = makeEngine();
    cleanups.push(() => engine.close());
    const owners: Record<string, 'a' | 'b'> = { 'a-echo': 'a', 'a-waits': 'a', 'b-echo': 'b' };
    const asked: string[] = [];
    const authorize: AuthorizeFn = async (req, action, resource) => {
      const tenant = ({ 'Bearer token-a': 'a', 'Bearer token-b': 'b' } as const)[req.get('authorization') ?? ''];
      if (!tenant) throw new TrellisError('auth', 'Unknown bearer token');
      asked.push(`${tenant} ${action} ${resource.id ?? ''}`);
      if (resource.type !== 'execution' || resource.id === undefined) return true;
      const run = await engine.get(resource.id);
      return run === undefined || owners[run.workflow_id] === tenant;
    };
    const app = express();
    app.use('/api', createRouter(engine, { authorize }));
    const base = `${await serveOnLoopback(app, cleanups)}/api`;
    const as = (tenant: 'a' | 'b') => async (method: string, path: string) => {
      const res = await fetch(base + path, { method, headers: { authorization: `Bearer token-${tenant}` } });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    };
    return { engine, asked, a: as('a'), b: as('b') };
  }

  it('deletes an ended run (204, then 404), asking authorize as execution:delete', async () => {
    const { engine, asked, a } = await tenantRouter();
    const run = await engine.run(workflow('a-echo').prompt('say', { model: 'mock:m', template: 'x' }), {});
    expect((await a('DELETE', `/workflow-executions/${run.id}`)).status).toBe(204);
    expect(asked).toContain(`a execution:delete ${run.id}`);
    expect(await engine.get(run.id)).toBeUndefined();
    expect((await a('GET', `/workflow-executions/${run.id}`)).status).toBe(404);
    expect(await a('DELETE', `/workflow-executions/${run.id}`)).toMatchObject({ status: 404, body: { error: { code: 'not_found' } } });
  });

  it('answers 409 for a run that has not ended, and deletes it with ?force=true', async () => {
    const { engine, a } = await tenantRouter();
    const id = await engine.start(workflow('a-waits').approval('gate'), {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    expect(await a('DELETE', `/workflow-executions/${id}`)).toMatchObject({ status: 409, body: { error: { code: 'illegal_state', details: { status: 'paused' } } } });
    expect(await a('DELETE', `/workflow-executions/${id}?force=yes`)).toMatchObject({ status: 400, body: { error: { code: 'validation_failed' } } });
    expect((await engine.get(id))?.status).toBe('paused');
    expect((await a('DELETE', `/workflow-executions/${id}?force=true`)).status).toBe(204);
    expect(await engine.get(id)).toBeUndefined();
  });

  it("refuses another tenant's run with 403 and leaves it", async () => {
    const { engine, a, b } = await tenantRouter();
    const run = await engine.run(workflow('b-echo').prompt('say', { model: 'mock:m', template: 'x' }), {});
    expect(await a('DELETE', `/workflow-executions/${run.id}`)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
    expect(await a('DELETE', `/workflow-executions/${run.id}?force=true`)).toMatchObject({ status: 403 });
    expect((await engine.get(run.id))?.status).toBe('completed');
    expect((await b('DELETE', `/workflow-executions/${run.id}`)).status).toBe(204);
  });
});

describe('the default storage', () => {
  it('is trellis.sqlite in the working directory of the process, not beside the script', async () => {
    const cwd = join(dir, 'service');
    mkdirSync(cwd);
    const script = join(dir, 'default-storage.mts');
    const index = pathToFileURL(join(import.meta.dirname, '../src/index.ts')).href;
    writeFileSync(
      script,
      `import { Engine, ScriptedProvider, workflow } from ${JSON.stringify(index)};
       const engine = new Engine({ providers: { mock: new ScriptedProvider(() => 'ok') } });
       const run = await engine.run(workflow('w').prompt('p', { model: 'mock:m', template: 'x' }), {});
       await engine.close();
       console.log(run.status);`,
    );
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', tsx, script], { cwd });
    expect(stdout.trim()).toBe('completed');
    expect(existsSync(join(cwd, 'trellis.sqlite'))).toBe(true);
    expect(existsSync(join(dir, 'trellis.sqlite'))).toBe(false);
  });
});
