/**
 * The Express router over real HTTP: a real express app on 127.0.0.1 (`listen(0)`), Node's fetch
 * as the client, an engine on MemoryStorage with a scripted provider.
 */
import express from 'express';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { workflow, Engine, TrellisError, ScriptedProvider, type ScriptedProviderOptions, MemoryStorage } from '../src/index.js';
import { createRouter, type RouterOptions } from '../src/express/index.js';
import { until } from './helpers.js';
import { jsonCaller, readServerSentEvents, type Reply } from './http-client.js';

const servers: Server[] = [];
const engines: Engine[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const engine of engines.splice(0)) await engine.close();
});

function makeEngine(options: ScriptedProviderOptions = {}, storage = new MemoryStorage()): Engine {
  const engine = new Engine({ storage, providers: { mock: new ScriptedProvider((req) => `echo: ${req.prompt}`, options) } });
  engines.push(engine);
  return engine;
}

async function serve(engine: Engine, options: RouterOptions = { allowUnauthenticated: true }) {
  const app = express();
  app.use('/api', createRouter(engine, options));
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  const call = jsonCaller(base);
  return { base, call };
}

const greet = () => workflow('greet', { variables: { name: { type: 'string', required: true } }, tags: ['demo'] }).prompt('hello', { model: 'mock:x', template: 'Hi {{input.name}}' });

async function settle(call: (m: string, p: string) => Promise<Reply>, id: string): Promise<Reply> {
  for (let i = 0; i < 2000; i++) {
    const reply = await call('GET', `/workflow-executions/${id}`);
    if (['completed', 'failed', 'cancelled'].includes(reply.body.status)) return reply;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`run ${id} did not end`);
}

describe('createRouter options', () => {
  it('refuses to create a router without authorize unless allowUnauthenticated is set on purpose', () => {
    const engine = makeEngine();
    expect(() => createRouter(engine, {})).toThrow(/authorize/);
    expect(() => createRouter(engine, { allowUnauthenticated: false })).toThrow(TrellisError);
    expect(() => createRouter(engine, { allowUnauthenticated: true })).not.toThrow();
    expect(() => createRouter(engine, { authorize: () => true })).not.toThrow();
    expect(() => createRouter(engine, { authorize: () => true, bodyLimit: -1 })).toThrow(/bodyLimit/);
  });
});

describe('workflows', () => {
  it('creates, lists with filters and pages, reads versions, updates and deletes', async () => {
    const { call } = await serve(makeEngine());
    const created = await call('POST', '/workflows', greet().build());
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'greet', version: 1, name: 'greet', status: 'active', tags: ['demo'] });
    expect(typeof created.body.created_at).toBe('string');
    await call('POST', '/workflows', workflow('other', { status: 'draft' }).prompt('p', { model: 'mock:x', template: 'x' }).build());
    await call('POST', '/workflows', workflow('third').prompt('p', { model: 'mock:x', template: 'x' }).build());

    expect((await call('POST', '/workflows', greet().build())).status).toBe(409);
    expect((await call('GET', '/workflows')).body.data.map((w: { id: string }) => w.id)).toEqual(['greet', 'other', 'third']);
    expect((await call('GET', '/workflows?status=draft')).body.data.map((w: { id: string }) => w.id)).toEqual(['other']);
    expect((await call('GET', '/workflows?tag=demo')).body.data.map((w: { id: string }) => w.id)).toEqual(['greet']);
    expect((await call('GET', '/workflows?name=THI')).body.data.map((w: { id: string }) => w.id)).toEqual(['third']);
    const paged = await call('GET', '/workflows?limit=2&offset=1');
    expect(paged.body.data.map((w: { id: string }) => w.id)).toEqual(['other', 'third']);
    expect(paged.body.pagination).toEqual({ limit: 2, offset: 1, has_more: false });
    expect((await call('GET', '/workflows?limit=1')).body.pagination).toEqual({ limit: 1, offset: 0, has_more: true });

    const v2 = await call('PUT', '/workflows/greet', { ...greet().build(), description: 'second' });
    expect(v2.status).toBe(200);
    expect(v2.body.version).toBe(2);
    expect((await call('GET', '/workflows/greet')).body.description).toBe('second');
    expect((await call('GET', '/workflows/greet?version=1')).body.version).toBe(1);
    expect((await call('GET', '/workflows/greet?version=9')).status).toBe(404);

    expect((await call('DELETE', '/workflows/greet')).status).toBe(204);
    const gone = await call('GET', '/workflows/greet');
    expect(gone.status).toBe(404);
    expect(gone.body.error.code).toBe('not_found');
    expect((await call('DELETE', '/workflows/greet')).status).toBe(404);
    expect((await call('PUT', '/workflows/nope', greet().build())).status).toBe(404);
  });

  it('answers 400 with every zod issue for bad queries and bodies, and the workflow issues for bad definitions', async () => {
    const { call } = await serve(makeEngine());
    const badQuery = await call('GET', '/workflows?limit=zero&status=weird&colour=red');
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.code).toBe('validation_failed');
    const paths = badQuery.body.error.details.map((i: { path: string[] }) => i.path.join('.'));
    expect(paths).toEqual(expect.arrayContaining(['query.limit', 'query.status', 'query']));
    expect(badQuery.body.error.details.find((i: { path: string[] }) => i.path[1] === 'limit')).toMatchObject({ code: 'invalid_type' });

    const notObject = await call('POST', '/workflows', [1, 2]);
    expect(notObject.status).toBe(400);
    expect(notObject.body.error.details[0].path).toEqual(['body']);

    const invalid = await call('POST', '/workflows', { name: 'broken', definition: { nodes: [{ id: 'a', type: 'nope', name: 'a', position: { x: 0, y: 0 }, config: {} }], edges: [] } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error.code).toBe('validation_failed');
    expect(invalid.body.error.details.length).toBeGreaterThan(0);
    expect(invalid.body.error.details[0]).toHaveProperty('message');

    const malformed = await call('POST', '/workflows', '{"name":');
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('validation_failed');
    expect((await call('GET', '/workflows/greet?version=-1')).status).toBe(400);
    expect((await call('DELETE', '/workflows/greet?force=yes')).status).toBe(400);
  });

  it('executes: 202 at once, 200 with ?wait=true, same run for a repeated Idempotency-Key', async () => {
    const { call } = await serve(makeEngine());
    await call('POST', '/workflows', greet().build());

    const started = await call('POST', '/workflows/greet/execute', { input_data: { name: 'Ada' } });
    expect(started.status).toBe(202);
    expect(started.body).toEqual({ execution_id: expect.any(String) });
    expect(started.headers.get('location')).toBe(`/api/workflow-executions/${started.body.execution_id}`);
    const done = await settle(call, started.body.execution_id);
    expect(done.body).toMatchObject({ status: 'completed', workflow_id: 'greet', progress: { completed_nodes: 3, total_nodes: 3 } });
    expect(done.body.duration_ms).toBeGreaterThanOrEqual(0);
    expect(done.body.context.hello.text).toBe('echo: Hi Ada');

    const waited = await call('POST', '/workflows/greet/execute?wait=true', { input_data: { name: 'x' }, variables: { name: 'Grace' } });
    expect(waited.status).toBe(200);
    expect(waited.body).toMatchObject({ status: 'completed', input_data: { name: 'Grace' } });
    expect(waited.body.execution_trace.map((s: { node_id: string }) => s.node_id)).toEqual(['start', 'hello', 'end']);

    const first = await call('POST', '/workflows/greet/execute', { input_data: { name: 'A' } }, { 'idempotency-key': 'order-1' });
    const again = await call('POST', '/workflows/greet/execute', { input_data: { name: 'A' } }, { 'idempotency-key': 'order-1' });
    expect(again.status).toBe(202);
    expect(again.body.execution_id).toBe(first.body.execution_id);
    const runs = await call('GET', '/workflow-executions?workflow_id=greet');
    expect(runs.body.data).toHaveLength(3);

    const missing = await call('POST', '/workflows/greet/execute', { input_data: {} });
    expect(missing.status).toBe(400);
    expect(missing.body.error).toMatchObject({ code: 'invalid_input', details: [{ path: ['input', 'name'], code: 'required' }] });
    expect((await call('POST', '/workflows/nope/execute', {})).status).toBe(404);
    expect((await call('POST', '/workflows/greet/execute', { input: {} })).status).toBe(400);
  });
});

describe('workflow executions', () => {
  it('lists with filters and pages, reads one, its logs, and 404s', async () => {
    const engine = makeEngine();
    const { call } = await serve(engine);
    await call('POST', '/workflows', greet().build());
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c']) ids.push((await call('POST', '/workflows/greet/execute?wait=true', { input_data: { name } })).body.id);
    const failing = await engine.run(workflow('fails').transform('t', { x: 'input.missing.key' }), {});
    expect(failing.status).toBe('failed');

    const all = await call('GET', '/workflow-executions');
    expect(all.body.data).toHaveLength(4);
    expect(all.body.data[0]).not.toHaveProperty('owner');
    expect((await call('GET', '/workflow-executions?status=failed')).body.data.map((r: { id: string }) => r.id)).toEqual([failing.id]);
    expect((await call('GET', '/workflow-executions?status=completed,failed')).body.data).toHaveLength(4);
    expect((await call('GET', '/workflow-executions?workflow_id=greet&limit=2')).body).toMatchObject({ pagination: { limit: 2, offset: 0, has_more: true } });
    expect((await call('GET', `/workflow-executions?created_after=${Date.now() + 60_000}`)).body.data).toEqual([]);
    expect((await call('GET', '/workflow-executions?created_before=2000-01-01T00:00:00Z')).body.data).toEqual([]);
    const bad = await call('GET', '/workflow-executions?status=sleeping&created_after=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((i: { path: (string | number)[] }) => i.path.slice(0, 2).join('.'))).toEqual(expect.arrayContaining(['query.status', 'query.created_after']));

    const logs = await call('GET', `/workflow-executions/${ids[0]}/logs`);
    expect(logs.body.data.map((s: { node_id: string; status: string }) => `${s.node_id}:${s.status}`)).toEqual(['start:completed', 'hello:completed', 'end:completed']);
    expect((await call('GET', '/workflow-executions/nope')).status).toBe(404);
    expect((await call('GET', '/workflow-executions/nope/logs')).status).toBe(404);
    expect((await call('GET', '/workflow-executions/nope/events')).status).toBe(404);
  });

  it('pauses, resumes and cancels; 409 for a transition the run cannot make', async () => {
    const engine = makeEngine({ latencyMs: 150 });
    const { call } = await serve(engine);
    await call('POST', '/workflows', workflow('slow').prompt('a', { model: 'mock:x', template: 'a' }).prompt('b', { model: 'mock:x', template: 'b' }).build());
    const id = (await call('POST', '/workflows/slow/execute', {})).body.execution_id;
    const paused = await call('POST', `/workflow-executions/${id}/pause`);
    expect(paused.status).toBe(200);
    expect(paused.body.status).toBe('paused');
    expect((await call('POST', `/workflow-executions/${id}/pause`)).status).toBe(409);
    const resumed = await call('POST', `/workflow-executions/${id}/resume`);
    expect(resumed.body.status).toBe('running');
    const cancelled = await call('POST', `/workflow-executions/${id}/cancel`, { reason: 'changed my mind' });
    expect(cancelled.body).toMatchObject({ status: 'cancelled', error_message: 'changed my mind' });

    const other = (await call('POST', '/workflows/slow/execute?wait=true', {})).body.id;
    const conflict = await call('POST', `/workflow-executions/${other}/resume`);
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toMatchObject({ code: 'illegal_state', details: { status: 'completed' } });
    expect((await call('POST', `/workflow-executions/${other}/cancel`)).status).toBe(409);
    expect((await call('POST', '/workflow-executions/nope/resume')).status).toBe(404);
    expect((await call('POST', `/workflow-executions/${other}/cancel`, { reason: 42 })).status).toBe(400);
  });

  it('deletes a run: 204 for an ended one, 409 for a live one unless ?force=true, 404 after', async () => {
    const engine = makeEngine({ latencyMs: 150 });
    const { call } = await serve(engine);
    await call('POST', '/workflows', workflow('slow').prompt('a', { model: 'mock:x', template: 'a' }).build());
    const live = (await call('POST', '/workflows/slow/execute', {})).body.execution_id;
    expect(await call('DELETE', `/workflow-executions/${live}`)).toMatchObject({ status: 409, body: { error: { code: 'illegal_state', details: { status: 'running' } } } });
    expect((await call('DELETE', `/workflow-executions/${live}?force=true`)).status).toBe(204);
    const ended = (await call('POST', '/workflows/slow/execute?wait=true', {})).body.id;
    expect((await call('DELETE', `/workflow-executions/${ended}`)).status).toBe(204);
    for (const id of [live, ended]) expect((await call('GET', `/workflow-executions/${id}`)).status).toBe(404);
    expect((await call('DELETE', `/workflow-executions/${ended}`)).status).toBe(404);
  });

  it('50 concurrent resumes of a paused run: exactly one 200, the rest 409', async () => {
    const engine = makeEngine({ latencyMs: 100 });
    const { call } = await serve(engine);
    await call('POST', '/workflows', workflow('slow').prompt('a', { model: 'mock:x', template: 'a' }).prompt('b', { model: 'mock:x', template: 'b' }).build());
    const id = (await call('POST', '/workflows/slow/execute', {})).body.execution_id;
    expect((await call('POST', `/workflow-executions/${id}/pause`)).status).toBe(200);
    // The in-flight step finishes (waited for, not slept on: a busy machine can take longer); nothing new starts.
    await until(async () => (await call('GET', `/workflow-executions/${id}`)).body.execution_trace.some((s: { node_id: string; status: string }) => s.node_id === 'a' && s.status === 'completed'));
    const replies = await Promise.all(Array.from({ length: 50 }, () => call('POST', `/workflow-executions/${id}/resume`)));
    const statuses = replies.map((r) => r.status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(49);
    expect((await settle(call, id)).body.status).toBe('completed');
  });

  it('two concurrent approvals of one node: one wins, the other gets 409', async () => {
    const engine = makeEngine();
    const { call } = await serve(engine);
    await call('POST', '/workflows', workflow('gate').approval('check').end({ by: 'check.data.by' }).build());
    const id = (await call('POST', '/workflows/gate/execute', {})).body.execution_id;
    await until(async () => (await call('GET', `/workflow-executions/${id}`)).body.status === 'paused');
    const replies = await Promise.all(['ana', 'bob'].map((by) => call('POST', `/workflow-executions/${id}/approvals/check`, { approved: true, data: { by } })));
    expect(replies.map((r) => r.status).sort()).toEqual([200, 409]);
    const winner = replies.find((r) => r.status === 200)!;
    const done = await settle(call, id);
    expect(done.body.output_data).toEqual({ by: winner === replies[0] ? 'ana' : 'bob' });
  });

  it('cancel racing resume ends in a legal state', async () => {
    const engine = makeEngine({ latencyMs: 50 });
    const { call } = await serve(engine);
    await call('POST', '/workflows', workflow('race').prompt('a', { model: 'mock:x', template: 'a' }).prompt('b', { model: 'mock:x', template: 'b' }).build());
    const id = (await call('POST', '/workflows/race/execute', {})).body.execution_id;
    expect((await call('POST', `/workflow-executions/${id}/pause`)).status).toBe(200);
    const [resume, cancel] = await Promise.all([call('POST', `/workflow-executions/${id}/resume`), call('POST', `/workflow-executions/${id}/cancel`)]);
    expect([200, 409]).toContain(resume.status);
    expect(cancel.status).toBe(200);
    const final = await settle(call, id);
    expect(final.body.status).toBe('cancelled');
    const live = (final.body.execution_trace as { status: string }[]).filter((s) => s.status === 'running' || s.status === 'pending' || s.status === 'waiting');
    expect(live).toEqual([]);
  });

  it('approves and rejects human approvals over HTTP', async () => {
    const engine = makeEngine();
    const { call } = await serve(engine);
    await call('POST', '/workflows', workflow('review').approval('check', { message: 'Ship?' }).end({ by: 'check.data.by' }).build());

    const id = (await call('POST', '/workflows/review/execute', {})).body.execution_id;
    await until(async () => (await call('GET', `/workflow-executions/${id}`)).body.status === 'paused');
    const waiting = await call('GET', `/workflow-executions/${id}`);
    expect(waiting.body.execution_trace.find((s: { node_id: string }) => s.node_id === 'check')).toMatchObject({ status: 'waiting', waiting_for: { kind: 'approval' } });

    expect((await call('POST', `/workflow-executions/${id}/approvals/check`, { approved: 'yes' })).status).toBe(400);
    expect((await call('POST', `/workflow-executions/${id}/approvals/start`, { approved: true })).status).toBe(409);
    const approved = await call('POST', `/workflow-executions/${id}/approvals/check`, { approved: true, data: { by: 'ada' } });
    expect(approved.status).toBe(200);
    const done = await settle(call, id);
    expect(done.body).toMatchObject({ status: 'completed', output_data: { by: 'ada' } });
    expect((await call('POST', `/workflow-executions/${id}/approvals/check`, { approved: true })).status).toBe(409);

    const second = (await call('POST', '/workflows/review/execute', {})).body.execution_id;
    await until(async () => (await call('GET', `/workflow-executions/${second}`)).body.status === 'paused');
    expect((await call('POST', `/workflow-executions/${second}/approvals/check`, { approved: false, reason: 'not yet' })).status).toBe(200);
    const rejected = await settle(call, second);
    expect(rejected.body.execution_trace.find((s: { node_id: string }) => s.node_id === 'check').status).not.toBe('waiting');
  });
});

describe('server-sent events', () => {

  it('streams a snapshot, then node and token events of the run live, and closes when the run ends', async () => {
    const engine = makeEngine({ latencyMs: 60, chunkSize: 4 });
    const { call, base } = await serve(engine);
    const wf = workflow('stream').prompt('one', { model: 'mock:x', template: 'first prompt', stream: true }).prompt('two', { model: 'mock:x', template: 'second', stream: true });
    await call('POST', '/workflows', wf.build());
    const unrelated = (await call('POST', '/workflows/stream/execute', {})).body.execution_id;
    const id = (await call('POST', '/workflows/stream/execute', {})).body.execution_id;

    const events = await readServerSentEvents(`${base}/workflow-executions/${id}/events`);
    const names = events.map((e) => e.name);
    expect(names[0]).toBe('snapshot');
    expect(events[0]!.data).toMatchObject({ id, status: 'running' });
    expect(names).toContain('node:started');
    expect(names).toContain('node:completed');
    expect(names.filter((n) => n === 'node:token').length).toBeGreaterThan(2);
    expect(names.slice(-2)).toEqual(['execution:completed', 'end']);
    expect(events.filter((e) => e.name !== 'snapshot' && e.name !== 'end').every((e) => e.data.executionId === id)).toBe(true);
    expect(events.filter((e) => e.name === 'node:token').map((e) => e.data.delta).join('')).toContain('echo: first prompt');
    expect(unrelated).not.toBe(id);
    expect(engine.events.listenerCount('node:token')).toBe(0);

    // A finished run: the snapshot, then the stream ends at once.
    const after = await readServerSentEvents(`${base}/workflow-executions/${id}/events`);
    expect(after.map((e) => e.name)).toEqual(['snapshot', 'end']);
    expect(after[0]!.data.status).toBe('completed');
  });

  it('removes its listeners when the client disconnects', async () => {
    const engine = makeEngine({ latencyMs: 2000 });
    const { call, base } = await serve(engine);
    await call('POST', '/workflows', workflow('slow').prompt('a', { model: 'mock:x', template: 'a' }).build());
    const id = (await call('POST', '/workflows/slow/execute', {})).body.execution_id;
    const controller = new AbortController();
    const res = await fetch(`${base}/workflow-executions/${id}/events`, { signal: controller.signal });
    const reader = res.body!.getReader();
    const first = new TextDecoder().decode((await reader.read()).value);
    expect(first).toContain('event: snapshot');
    expect(engine.events.listenerCount('node:started')).toBe(1);
    controller.abort();
    await until(async () => engine.events.listenerCount('node:started') === 0);
    expect(engine.events.listenerCount('node:started')).toBe(0);
    await call('POST', `/workflow-executions/${id}/cancel`);
  });
});

describe('prompts and templates', () => {
  it('creates, versions, reads, lists and deletes prompts', async () => {
    const { call } = await serve(makeEngine());
    const created = await call('POST', '/prompts', { id: 'summary', template: 'Summarise {{text}}' });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: 'summary', version: 1, variables: ['text'] });
    expect((await call('POST', '/prompts', { id: 'summary', template: 'x' })).status).toBe(409);
    const updated = await call('PUT', '/prompts/summary', { template: 'Summarise briefly {{text}}', provider_model: 'mock:x' });
    expect(updated.body).toMatchObject({ version: 2, provider_model: 'mock:x' });
    expect((await call('GET', '/prompts/summary')).body.version).toBe(2);
    expect((await call('GET', '/prompts/summary?version=1')).body.template).toBe('Summarise {{text}}');
    expect((await call('GET', '/prompts')).body.data.map((p: { id: string }) => p.id)).toEqual(['summary']);
    const bad = await call('POST', '/prompts', { id: 'bad id!', template: '' });
    expect(bad.status).toBe(400);
    expect(bad.body.error.details.map((i: { path: string[] }) => i.path.join('.'))).toEqual(['body.id', 'body.template']);
    expect((await call('PUT', '/prompts/missing', { template: 'x' })).status).toBe(404);
    expect((await call('DELETE', '/prompts/summary')).status).toBe(204);
    expect((await call('GET', '/prompts/summary')).status).toBe(404);
    expect((await call('DELETE', '/prompts/summary')).status).toBe(404);
  });

  it('lists the built-in workflow templates', async () => {
    const { call } = await serve(makeEngine());
    const reply = await call('GET', '/workflow-templates');
    expect(reply.status).toBe(200);
    expect((reply.body.data as { id: string }[]).map((t) => t.id)).toEqual(expect.arrayContaining(['classify-and-route', 'map-reduce-summary', 'draft-critique-revise']));
  });
});

describe('errors and authorization', () => {
  it('answers 413 for a body over the limit', async () => {
    const { call } = await serve(makeEngine(), { allowUnauthenticated: true, bodyLimit: '1kb' });
    const reply = await call('POST', '/workflows', { name: 'x'.repeat(2000), definition: { nodes: [], edges: [] } });
    expect(reply.status).toBe(413);
    expect(reply.body.error.code).toBe('payload_too_large');
  });

  it('answers 500 with a generic message and no internals when storage throws', async () => {
    class BrokenStorage extends MemoryStorage {
      override async listRuns(): Promise<never> {
        throw new Error('connection to db://admin:hunter2@10.0.0.5 refused');
      }
    }
    const seen: unknown[] = [];
    const { base } = await serve(makeEngine({}, new BrokenStorage()), { allowUnauthenticated: true, onError: (e) => seen.push(e) });
    const res = await fetch(`${base}/workflow-executions`);
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(JSON.parse(text)).toEqual({ error: { code: 'internal', message: 'Internal server error', details: null } });
    expect(text).not.toMatch(/hunter2|at |stack/);
    expect(String(seen[0])).toContain('hunter2');
  });

  it('asks authorize with the action and resource: false answers 403, an auth error 401', async () => {
    const asked: string[] = [];
    const { call } = await serve(makeEngine(), {
      authorize: (req, action, resource) => {
        asked.push(`${action} ${resource.type}${resource.id ? `/${resource.id}` : ''}`);
        if (!req.get('authorization')) throw new TrellisError('auth', 'Missing bearer token');
        return req.get('authorization') === 'Bearer admin' || action.endsWith(':read') || action.endsWith(':list');
      },
    });
    const admin = { authorization: 'Bearer admin' };
    const reader = { authorization: 'Bearer reader' };
    expect((await call('POST', '/workflows', greet().build(), admin)).status).toBe(201);
    expect((await call('GET', '/workflows/greet', undefined, reader)).status).toBe(200);
    const denied = await call('DELETE', '/workflows/greet', undefined, reader);
    expect(denied.status).toBe(403);
    expect(denied.body.error.code).toBe('forbidden');
    expect((await call('POST', '/workflows/greet/execute', { input_data: { name: 'a' } }, reader)).status).toBe(403);
    expect((await call('GET', '/workflows')).status).toBe(401);
    expect(asked).toEqual([
      'workflow:create workflow',
      'workflow:read workflow/greet',
      'workflow:delete workflow/greet',
      'workflow:execute workflow/greet',
      'workflow:list workflow',
    ]);
    expect((await call('GET', '/workflows/greet', undefined, admin)).status).toBe(200);
  });
});
