/**
 * What a host app meets over real HTTP beyond the happy path (issue 17, point 16): unknown routes
 * and wrong content types answer the JSON envelope, refusals read as English, an Idempotency-Key
 * is bound to its body, records have one shape, `?wait=true` returns when the run needs someone
 * or its timeout passes, and a client that goes away is not an error. Runs on Express 5 here and
 * on Express 4 through express4-router.test.ts.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { workflow, Engine, MemoryStorage, ScriptedProvider, TrellisError, type Script } from '../src/index.js';
import { createRouter, createStreamToken, type RouterOptions } from '../src/express/index.js';
import { FakeClock } from '../src/testing/index.js';
import { serveOnLoopback, until } from './helpers.js';
import { jsonCaller } from './http-client.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function makeEngine(script: Script = (req) => `echo: ${req.prompt}`, extra: Partial<ConstructorParameters<typeof Engine>[0]> = {}): Engine {
  const engine = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider(script) }, ...extra });
  cleanups.push(() => engine.close());
  return engine;
}

/** The router under /api of an express app on 127.0.0.1, with a host route of its own next to it. */
async function serve(engine: Engine, options: RouterOptions = { allowUnauthenticated: true }) {
  const app = express();
  app.use('/api', createRouter(engine, options));
  app.get('/api/health', (_req, res) => void res.json({ ok: true }));
  app.get('/health', (_req, res) => void res.json({ ok: true }));
  const base = `${await serveOnLoopback(app, cleanups)}/api`;
  const call = jsonCaller(base);
  return { base, call };
}

const greet = () => workflow('greet', { variables: { name: { type: 'string', required: true } } }).prompt('hello', { model: 'mock:x', template: 'Hi {{input.name}}' });

describe('answers in the JSON envelope', () => {
  it('answers an unknown route under the router with 404 not_found, a wrong method with 405 and Allow, and leaves host routes alone', async () => {
    const { call, base } = await serve(makeEngine());
    const unknown = await call('GET', '/workflows/greet/diagram');
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('content-type')).toMatch(/^application\/json/);
    expect(unknown.body.error).toMatchObject({ code: 'not_found', message: expect.stringContaining('GET /api/workflows/greet/diagram') });

    const wrongMethod = await call('PATCH', '/workflows/greet');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.body.error.code).toBe('method_not_allowed');
    expect(wrongMethod.headers.get('allow')).toBe('GET, PUT, DELETE, HEAD');
    expect((await call('DELETE', '/workflow-executions')).headers.get('allow')).toBe('GET, HEAD');

    // Paths the router does not own go on to the host's routes, or to Express's own 404.
    expect((await call('GET', '/health')).body).toEqual({ ok: true });
    expect((await fetch(`${base.replace(/\/api$/, '')}/health`)).status).toBe(200);
    expect((await fetch(`${base}/elsewhere`)).headers.get('content-type')).toMatch(/^text\/html/);
  });

  it('refuses a body that is not application/json with 415, and a missing body with a message saying what to send', async () => {
    const { call } = await serve(makeEngine());
    const asText = await call('POST', '/workflows', JSON.stringify(greet().build()), { 'content-type': 'text/plain' });
    expect(asText.status).toBe(415);
    expect(asText.body.error).toMatchObject({ code: 'unsupported_media_type', message: expect.stringContaining('content-type: application/json') });
    expect(asText.body.error.message).toContain('got content-type: text/plain');

    const form = await call('POST', '/workflows/greet/execute', 'input_data=1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);

    const missing = await call('POST', '/workflows');
    expect(missing.status).toBe(400);
    expect(missing.body.error.message).toBe('Request body is missing: send a JSON object with content-type: application/json');
    expect(missing.body.error.message).not.toMatch(/received undefined/);

    // A body is optional where the route says so: an empty POST still starts a run.
    await call('POST', '/workflows', workflow('plain').prompt('p', { model: 'mock:x', template: 'x' }).build());
    expect((await call('POST', '/workflows/plain/execute')).status).toBe(202);
    expect((await call('POST', '/workflows', greet().build(), { 'content-type': 'application/json; charset=utf-8' })).status).toBe(201);
  });

  it('says what a refused request was not allowed to do, in English', async () => {
    const { call } = await serve(makeEngine(), { authorize: (req, action) => req.get('authorization') === 'Bearer admin' || action === 'workflow:read' });
    await call('POST', '/workflows', greet().build(), { authorization: 'Bearer admin' });
    const messages = await Promise.all([
      call('GET', '/workflows'),
      call('POST', '/workflows/greet/execute', { input_data: { name: 'a' } }),
      call('DELETE', '/workflows/greet'),
      call('GET', '/workflow-executions/run_1'),
      call('POST', '/workflow-executions/run_1/approvals/check', { approved: true }),
      call('GET', '/workflow-templates'),
    ]).then((replies) => replies.map((r) => `${r.status} ${r.body.error.message}`));
    expect(messages).toEqual([
      '403 Not allowed to list workflows',
      '403 Not allowed to run workflow "greet"',
      '403 Not allowed to delete workflow "greet"',
      '403 Not allowed to read execution "run_1"',
      '403 Not allowed to answer the approvals of execution "run_1"',
      '403 Not allowed to list workflow templates',
    ]);
  });
});

describe('records', () => {
  it('shows a workflow as the definition that was posted, with its version and created_at: no definition.definition', async () => {
    const { call } = await serve(makeEngine());
    const posted = { ...greet().build(), description: 'Says hello' };
    const created = await call('POST', '/workflows', posted);
    for (const record of [created.body, (await call('GET', '/workflows/greet')).body, (await call('GET', '/workflows')).body.data[0]]) {
      expect(Object.keys(record).sort()).toEqual(['created_at', 'definition', 'description', 'id', 'name', 'status', 'tags', 'version']);
      expect(record).toMatchObject({ id: 'greet', version: 1, name: 'greet', description: 'Says hello', status: 'active' });
      expect(Object.keys(record.definition).sort()).toEqual(['edges', 'nodes', 'triggers', 'variables']);
      expect(record.definition.nodes.map((n: { id: string }) => n.id)).toEqual(['start', 'hello', 'end']);
    }
    // What GET answers can be sent back, edited, as an update.
    const { body: current } = await call('GET', '/workflows/greet');
    const updated = await call('PUT', '/workflows/greet', { ...current, description: 'Says hello twice' });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ version: 2, description: 'Says hello twice' });
  });

  it('lists runs with their error_message and output_data, a large output as a preview', async () => {
    const engine = makeEngine((req) => (req.prompt.startsWith('big') ? 'x'.repeat(5000) : `echo: ${req.prompt}`));
    const { call } = await serve(engine);
    await call('POST', '/workflows', workflow('say', { variables: { text: 'string' } }).prompt('reply', { model: 'mock:x', template: '{{input.text}}' }).end({ reply: 'reply.text', words: "reply.text.split('x')" }).build());
    const small = (await call('POST', '/workflows/say/execute?wait=true', { input_data: { text: 'hi' } })).body.id;
    const big = (await call('POST', '/workflows/say/execute?wait=true', { input_data: { text: 'big' } })).body.id;
    const failed = (await engine.run(workflow('broken').transform('t', { x: 'input.missing.key' }), {})).id;

    const rows = new Map<string, any>((await call('GET', '/workflow-executions')).body.data.map((r: { id: string }) => [r.id, r]));
    expect(rows.get(small)).toMatchObject({ status: 'completed', output_data: { reply: 'echo: hi', words: ['echo: hi'] } });
    expect(rows.get(small)).not.toHaveProperty('output_truncated');
    expect(rows.get(failed)).toMatchObject({ status: 'failed', error_message: expect.stringContaining('missing') });
    expect(rows.get(failed)).not.toHaveProperty('output_data');

    const preview = rows.get(big);
    expect(preview.output_truncated).toBe(true);
    expect(preview.output_data.reply).toBe(`${'x'.repeat(100)}…`);
    expect(preview.output_data.words).toEqual(['', '', '', '', '', '… 4996 more']);
    expect(JSON.stringify(preview.output_data).length).toBeLessThanOrEqual(2000);
    // The whole output is in the run's own record.
    expect((await call('GET', `/workflow-executions/${big}`)).body.output_data.reply).toHaveLength(5000);
  });

  it('counts progress over the nodes that could run: a skipped branch is not left to do, a loop body node counts once', async () => {
    const { call } = await serve(makeEngine());
    const branching = workflow('branching', { variables: { go: 'boolean', xs: 'array' } })
      .when('input.go', (b) => b.transform('yes', { v: '1' }), (b) => b.transform('no', { v: '0' }).transform('no_again', { v: '0' }))
      .forEach('input.xs', (b) => b.transform('doubled', { v: 'item * 2' }), { id: 'each', as: 'item' })
      .end({ out: 'each' });
    await call('POST', '/workflows', branching.build());
    const run = await call('POST', '/workflows/branching/execute?wait=true', { input_data: { go: true, xs: [1, 2, 3] } });
    expect(run.body.status).toBe('completed');
    // start, the condition, yes, the join, the loop, its body node, end: 7 of 7 (no and no_again were skipped).
    expect(run.body.progress).toMatchObject({ completed_nodes: 7, total_nodes: 7 });
    const empty = await call('POST', '/workflows/branching/execute?wait=true', { input_data: { go: false, xs: [] } });
    expect(empty.body.progress).toMatchObject({ completed_nodes: 7, total_nodes: 7 });
  });
});

describe('Idempotency-Key', () => {
  it('answers the first run for the same body, 409 for another body, version or workflow under the same key', async () => {
    const { call } = await serve(makeEngine());
    const order = workflow('order', { variables: { sku: 'string', qty: { type: 'number', default_value: 1 } } }).transform('t', { sku: 'input.sku' });
    await call('POST', '/workflows', order.build());
    await call('PUT', '/workflows/order', order.build());
    await call('POST', '/workflows', greet().build());
    const key = { 'idempotency-key': 'order-7' };
    const first = await call('POST', '/workflows/order/execute', { input_data: { sku: 'A', qty: 2 } }, key);
    expect(first.status).toBe(202);

    // The same request, written differently: keys in another order, a value moved to variables.
    for (const body of [{ input_data: { qty: 2, sku: 'A' } }, { input_data: { sku: 'A' }, variables: { qty: 2 } }]) {
      const again = await call('POST', '/workflows/order/execute', body, key);
      expect(again.status).toBe(202);
      expect(again.body.execution_id).toBe(first.body.execution_id);
    }

    const otherBody = await call('POST', '/workflows/order/execute', { input_data: { sku: 'B', qty: 2 } }, key);
    expect(otherBody.status).toBe(409);
    expect(otherBody.body.error).toMatchObject({ code: 'conflict', details: { execution_id: first.body.execution_id } });
    expect(otherBody.body.error.message).toBe(`Idempotency-Key "order-7" was already used with a different body: run ${first.body.execution_id} was started with other input; send a new key for a new request`);
    expect((await call('POST', '/workflows/order/execute?version=1', { input_data: { sku: 'A', qty: 2 } }, key)).status).toBe(409);
    expect((await call('POST', '/workflows/greet/execute', { input_data: { name: 'A' } }, key)).status).toBe(409);

    // Another key is another request.
    const second = await call('POST', '/workflows/order/execute', { input_data: { sku: 'B', qty: 2 } }, { 'idempotency-key': 'order-8' });
    expect(second.status).toBe(202);
    expect(second.body.execution_id).not.toBe(first.body.execution_id);
    expect((await call('GET', '/workflow-executions?workflow_id=order')).body.data).toHaveLength(2);
  });
});

describe('event stream tokens', () => {
  const secret = 'a-secret-of-at-least-32-bytes-long!!';
  const bearer = { authorization: 'Bearer user' };
  const authorize: RouterOptions['authorize'] = (req) => {
    if (req.get('authorization') !== 'Bearer user') throw new TrellisError('auth', 'Send Authorization: Bearer <token>');
    return true;
  };

  it('mints a token after authorize, which opens that run\'s stream without an Authorization header until it expires', async () => {
    const clock = new FakeClock();
    const engine = makeEngine(undefined, { clock });
    const { call, base } = await serve(engine, { authorize, streamTokenSecret: secret, streamTokenTtlMs: 30_000 });
    await call('POST', '/workflows', workflow('gate').approval('check').build(), bearer);
    const id = (await call('POST', '/workflows/gate/execute', {}, bearer)).body.execution_id;
    const other = (await call('POST', '/workflows/gate/execute', {}, bearer)).body.execution_id;

    expect((await call('POST', `/workflow-executions/${id}/events/token`)).status).toBe(401);
    const minted = await call('POST', `/workflow-executions/${id}/events/token`, undefined, bearer);
    expect(minted.status).toBe(200);
    expect(minted.body).toEqual({ access_token: expect.any(String), expires_at: new Date(clock.now() + 30_000).toISOString(), url: `/api/workflow-executions/${id}/events?access_token=${minted.body.access_token}` });
    expect((await call('POST', '/workflow-executions/nope/events/token', undefined, bearer)).status).toBe(404);

    const open = async (url: string) => {
      const controller = new AbortController();
      const res = await fetch(url, { signal: controller.signal });
      const first = res.status === 200 ? new TextDecoder().decode((await res.body!.getReader().read()).value) : await res.text();
      controller.abort();
      return { status: res.status, first };
    };
    const origin = base.replace(/\/api$/, '');
    expect(await open(`${origin}${minted.body.url}`)).toMatchObject({ status: 200, first: expect.stringContaining('event: snapshot') });
    // Without a token, authorize decides (no header here: 401); a token is bound to its run and cannot be altered.
    expect((await open(`${base}/workflow-executions/${id}/events`)).status).toBe(401);
    const forOther = await open(`${base}/workflow-executions/${other}/events?access_token=${minted.body.access_token}`);
    expect(forOther).toMatchObject({ status: 401, first: expect.stringContaining('not valid for this execution') });
    const [stamp, signature] = (minted.body.access_token as string).split('.');
    const later = `${(parseInt(stamp!, 36) + 3_600_000).toString(36)}.${signature}`;
    expect((await open(`${base}/workflow-executions/${id}/events?access_token=${later}`)).status).toBe(401);
    expect((await open(`${base}/workflow-executions/${id}/events?access_token=${createStreamToken({ secret, executionId: id, now: clock.now() })}`)).status).toBe(200);

    await clock.advance(30_000);
    const expired = await open(`${origin}${minted.body.url}`);
    expect(expired).toMatchObject({ status: 401, first: expect.stringContaining('has expired') });
  });

  it('answers 404 for a token when no secret is set, and refuses a short secret', async () => {
    const { call } = await serve(makeEngine(), { authorize });
    const reply = await call('POST', '/workflow-executions/run_1/events/token', undefined, bearer);
    expect(reply.status).toBe(404);
    expect(reply.body.error.message).toContain('streamTokenSecret');
    expect(() => createRouter(makeEngine(), { authorize, streamTokenSecret: 'short' })).toThrow(/at least 32 bytes/);
    expect(() => createRouter(makeEngine(), { authorize, streamTokenSecret: secret, streamTokenTtlMs: 2 * 3_600_000 })).toThrow(/streamTokenTtlMs/);
  });
});

describe('?wait=true', () => {
  /** A provider whose answers wait until the test lets them go. */
  function gate() {
    let open: () => void = () => undefined;
    let asked = 0;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { open, asked: () => asked, script: (async () => (asked++, await opened, 'done')) as Script };
  }

  it('answers 200 once the run pauses for an approval or a step waits for an event, not only when it ends', async () => {
    const { call } = await serve(makeEngine());
    await call('POST', '/workflows', workflow('review').approval('check', { message: 'Ship?' }).end({ ok: 'true' }).build());
    await call('POST', '/workflows', workflow('hook').waitForEvent('paid', { event: 'order.paid' }).end({ ok: 'true' }).build());

    const paused = await call('POST', '/workflows/review/execute?wait=true', {});
    expect(paused.status).toBe(200);
    expect(paused.body.status).toBe('paused');
    expect(paused.body.execution_trace.find((s: { node_id: string }) => s.node_id === 'check')).toMatchObject({ status: 'waiting', waiting_for: { kind: 'approval' } });

    const waiting = await call('POST', '/workflows/hook/execute?wait=true&timeout=5m', {});
    expect(waiting.status).toBe(200);
    expect(waiting.body.execution_trace.find((s: { node_id: string }) => s.node_id === 'paid')).toMatchObject({ status: 'waiting', waiting_for: { kind: 'event' } });
  });

  it('answers 202 with the run as it is when the timeout passes on the engine clock first', async () => {
    const clock = new FakeClock();
    const { open, script } = gate();
    const engine = makeEngine(script, { clock });
    const { call } = await serve(engine);
    await call('POST', '/workflows', workflow('slow').prompt('think', { model: 'mock:x', template: 'hmm' }).build());

    const reply = call('POST', '/workflows/slow/execute?wait=true&timeout=30s', {});
    // The route listens for the run's events once its timeout is armed.
    await until(() => engine.events.listenerCount('node:started') > 0);
    await clock.advance(30_000);
    const timedOut = await reply;
    expect(timedOut.status).toBe(202);
    expect(timedOut.body).toMatchObject({ status: 'running', progress: { current_step: 'think' } });
    expect(timedOut.headers.get('location')).toBe(`/api/workflow-executions/${timedOut.body.id}`);
    expect(engine.events.listenerCount('node:started')).toBe(0);
    open();
    expect((await engine.wait(timedOut.body.id)).status).toBe('completed');
  });

  it('refuses a timeout without a unit, over 10 minutes, or without wait=true', async () => {
    const { call } = await serve(makeEngine());
    await call('POST', '/workflows', workflow('plain').prompt('p', { model: 'mock:x', template: 'x' }).build());
    for (const query of ['wait=true&timeout=30', 'wait=true&timeout=11m', 'wait=true&timeout=0s', 'timeout=5s']) {
      const reply = await call('POST', `/workflows/plain/execute?${query}`, {});
      expect(reply.status, query).toBe(400);
      expect(reply.body.error.details[0].path, query).toEqual(['query', 'timeout']);
    }
    expect((await call('POST', '/workflows/plain/execute?wait=true&timeout=1500ms', {})).body.status).toBe('completed');
  });

  it('takes a client that goes away as normal: nothing logged, no onError, no listener left', async () => {
    const { open, asked, script } = gate();
    const engine = makeEngine(script);
    const errors: unknown[] = [];
    const logged: unknown[] = [];
    const log = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    cleanups.push(() => (console.error = log));
    const { base, call } = await serve(engine, { allowUnauthenticated: true, onError: (error) => errors.push(error) });
    await call('POST', '/workflows', workflow('slow').prompt('think', { model: 'mock:x', template: 'hmm' }).build());

    const waiting = new AbortController();
    const request = fetch(`${base}/workflows/slow/execute?wait=true`, { method: 'POST', signal: waiting.signal }).catch((error: unknown) => error);
    await until(() => asked() > 0);
    const [id] = (await engine.list({ workflow_id: 'slow' })).map((r) => r.id);
    const streaming = new AbortController();
    const stream = await fetch(`${base}/workflow-executions/${id}/events`, { signal: streaming.signal });
    await stream.body!.getReader().read();

    waiting.abort();
    streaming.abort();
    await request;
    await until(() => engine.events.eventNames().every((name) => engine.events.listenerCount(name) === 0));
    open();
    expect((await engine.wait(id!)).status).toBe('completed');
    await new Promise((resolve) => setTimeout(resolve, 50)); // the aborted handlers have finished
    expect(errors).toEqual([]);
    expect(logged).toEqual([]);
  });
});
