/**
 * Human approvals over real HTTP (issue 17, point 6): the run JSON and its event stream show what
 * the approver is asked, `GET /approvals` is the inbox across runs (filtered by workflow, paged,
 * and cut to the runs `authorize` lets the request read), and a rejection answered over HTTP ends
 * the run cleanly.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { workflow, type Engine } from '../src/index.js';
import { createRouter, type RouterOptions } from '../src/express/index.js';
import { makeEngine, serveOnLoopback, until } from './helpers.js';
import { readServerSentEvents } from './http-client.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(engine: Engine, options: RouterOptions = { allowUnauthenticated: true }) {
  const app = express();
  app.use('/api', createRouter(engine, options));
  cleanups.push(() => engine.close());
  const base = `${await serveOnLoopback(app, cleanups)}/api`;
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(base + path, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined };
  };
  return { base, call };
}

const review = workflow('review', { variables: { doc: 'string' } })
  .waitForEvent('ready', { event: 'doc.ready' })
  .transform('summary', { words: 'size(input.doc)' })
  .approval('publish', { message: 'Publish {{input.doc}}?', data: { words: 'summary.words' } })
  .end({ published: 'true' });
const other = workflow('other').approval('check', { message: 'Fine?' }).end();

const asked = (doc: string) => ({ message: `Publish ${doc}?`, data: { words: doc.length }, outcomes: ['approve', 'reject'] });


describe('approvals over HTTP', () => {
  it('GET /workflow-executions/:id shows what the waiting step asks', async () => {
    const { engine } = makeEngine();
    const { call } = await serve(engine);
    await call('POST', '/workflows', review.build());
    const id = (await call('POST', '/workflows/review/execute', { input_data: { doc: 'memo' } })).body.execution_id as string;
    await engine.emit('doc.ready');
    await until(async () => (await call('GET', `/workflow-executions/${id}`)).body.status === 'paused');
    const run = (await call('GET', `/workflow-executions/${id}`)).body;
    expect(run.execution_trace.find((s: { node_id: string }) => s.node_id === 'publish')).toMatchObject({ status: 'waiting', waiting_for: { kind: 'approval', ...asked('memo') } });
  });

  it('GET /approvals lists what waits across runs, by workflow and by page; answering one takes it off', async () => {
    const { engine } = makeEngine();
    const { call } = await serve(engine);
    await call('POST', '/workflows', review.build());
    await call('POST', '/workflows', other.build());
    const first = (await call('POST', '/workflows/review/execute', { input_data: { doc: 'memo' } })).body.execution_id as string;
    const second = (await call('POST', '/workflows/review/execute', { input_data: { doc: 'report' } })).body.execution_id as string;
    const third = (await call('POST', '/workflows/other/execute', {})).body.execution_id as string;
    await engine.emit('doc.ready');
    await until(async () => (await call('GET', '/approvals')).body.data.length === 3);

    const all = await call('GET', '/approvals');
    expect(all.status).toBe(200);
    const since = new Date(engine.clock.now()).toISOString();
    // The clock is fake and stands still: equal times are ordered by execution id, then path.
    const expected = [
      { execution_id: first, workflow_id: 'review', workflow_version: 1, path: 'publish', node_id: 'publish', ...asked('memo'), since },
      { execution_id: second, workflow_id: 'review', workflow_version: 1, path: 'publish', node_id: 'publish', ...asked('report'), since },
      { execution_id: third, workflow_id: 'other', workflow_version: 1, path: 'check', node_id: 'check', message: 'Fine?', data: null, outcomes: ['approve', 'reject'], since },
    ].sort((a, b) => (a.execution_id < b.execution_id ? -1 : 1));
    expect(all.body).toEqual({ data: expected, pagination: { limit: 50, offset: 0, has_more: false } });
    expect((await call('GET', '/approvals?workflow_id=review')).body.data.map((a: { execution_id: string }) => a.execution_id).sort()).toEqual([first, second].sort());
    expect((await call('GET', '/approvals?limit=1&offset=1')).body).toEqual({ data: [expected[1]], pagination: { limit: 1, offset: 1, has_more: true } });
    expect((await call('GET', '/approvals?status=paused')).status).toBe(400);

    const answered = await call('POST', `/workflow-executions/${third}/approvals/check`, { approved: true });
    expect(answered.body.status).toBe('completed');
    expect((await call('GET', '/approvals')).body.data.map((a: { execution_id: string }) => a.execution_id).sort()).toEqual([first, second].sort());
  });

  it('GET /approvals asks execution:list, and keeps only the approvals of runs the request may read', async () => {
    const { engine } = makeEngine();
    let readable = new Set<string>();
    const { call } = await serve(engine, {
      authorize: (req, action, resource) => {
        if (req.get('authorization') === 'Bearer admin') return true;
        if (req.get('authorization') !== 'Bearer tenant') return false;
        if (action === 'execution:read') return resource.id !== undefined && readable.has(resource.id);
        return action === 'execution:list';
      },
    });
    const admin = { authorization: 'Bearer admin' };
    await call('POST', '/workflows', other.build(), admin);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call('POST', '/workflows/other/execute', {}, admin)).body.execution_id as string);
    await until(async () => (await call('GET', '/approvals', undefined, admin)).body.data.length === 3);
    readable = new Set([ids[0]!, ids[2]!]);
    const tenant = await call('GET', '/approvals', undefined, { authorization: 'Bearer tenant' });
    expect(tenant.body.data.map((a: { execution_id: string }) => a.execution_id).sort()).toEqual([ids[0], ids[2]].sort());
    const refused = await call('GET', '/approvals', undefined, { authorization: 'Bearer nobody' });
    expect(refused).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
  });

  it('the event stream carries what is asked (node:waiting, execution:paused), and a rejection over HTTP ends the run cleanly', async () => {
    const { engine } = makeEngine();
    const { call, base } = await serve(engine);
    await call('POST', '/workflows', review.build());
    const id = (await call('POST', '/workflows/review/execute', { input_data: { doc: 'memo' } })).body.execution_id as string;
    let opened!: () => void;
    const streaming = new Promise<void>((resolve) => (opened = resolve));
    const events = readServerSentEvents(`${base}/workflow-executions/${id}/events`, { opened });
    await streaming;
    await engine.emit('doc.ready');
    await until(async () => (await call('GET', '/approvals')).body.data.length === 1);
    const rejected = await call('POST', `/workflow-executions/${id}/approvals/publish`, { approved: false, reason: 'too short' });
    expect(rejected.body).toMatchObject({ status: 'completed', output_data: { rejected: { step: 'publish', reason: 'too short' } } });

    const seen = await events;
    const waiting = seen.filter((e) => e.name === 'node:waiting').map((e) => e.data);
    expect(waiting.at(-1)).toMatchObject({ executionId: id, nodeId: 'publish', path: 'publish', kind: 'approval', ...asked('memo') });
    expect(seen.find((e) => e.name === 'execution:paused')!.data).toMatchObject({ reason: 'approval', approvals: [{ nodeId: 'publish', path: 'publish', ...asked('memo') }] });
    expect(seen.slice(-2).map((e) => e.name)).toEqual(['execution:completed', 'end']);
    expect(seen.at(-2)!.data.output).toEqual({ rejected: { step: 'publish', reason: 'too short' } });
  });
});
