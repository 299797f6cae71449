/**
 * What a run leaves behind and how it reads (issue 17, Records): errors name the step path that
 * failed, every time of the execution record and of the HTTP JSON is one format (ISO 8601), and
 * runs can be deleted (one, or purged by age) by the engine and over HTTP. The storage side of
 * deleting is in the conformance suite (conformance-purge.ts).
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { workflow, ScriptedProvider, TrellisError, type Engine, type TrellisEvents } from '../src/index.js';
import { createRouter, type AuthorizeFn } from '../src/express/index.js';
import { makeEngine, serveOnLoopback, until } from './helpers.js';

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
    const stream = readEvents(`${base}/workflow-executions/${id}/events`);
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
});

/** The events of a Server-Sent Events stream, until the server ends it. */
async function readEvents(url: string): Promise<{ name: string; data: any }[]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const events: { name: string; data: any }[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    for (let at = buffer.indexOf('\n\n'); at >= 0; at = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      const name = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (name && data) events.push({ name, data: JSON.parse(data) });
    }
  }
  return events;
}
