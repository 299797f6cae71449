/**
 * Webhook triggers under attack (issue 16 item 3), over real HTTP: a captured signed delivery
 * replayed inside the tolerance window starts no second run whatever `Idempotency-Key` it carries;
 * every unauthenticated request gets one identical 401, whether or not the workflow or trigger
 * exists or is active; a client of the API cannot claim ahead of time the key a delivery will use.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { workflow, Engine, ScriptedProvider, MemoryStorage, signWebhook, type WorkflowTrigger } from '../src/index.js';
import { createHooksRouter, createRouter } from '../src/express/index.js';
import { serveOnLoopback } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const TRIGGERS: WorkflowTrigger[] = [
  { id: 'in', type: 'webhook', config: { secret: 's3cret' } },
  { id: 'byfield', type: 'webhook', config: { secret: 's3cret', idempotency_field: 'delivery.id' } },
  { id: 'open', type: 'webhook', config: {} },
];

async function setup() {
  const engine = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider(() => 'ok') } });
  cleanups.push(() => engine.close());
  await engine.workflows.create(workflow('hooked', { triggers: TRIGGERS }).prompt('p', { model: 'mock:x', template: 'Hi' }).build());
  await engine.workflows.create(workflow('sketch', { status: 'draft', triggers: TRIGGERS }).prompt('p', { model: 'mock:x', template: 'Hi' }).build());
  const app = express();
  app.use('/api', createRouter(engine, { allowUnauthenticated: true }));
  app.use(createHooksRouter(engine, { onError: () => undefined }));
  const base = await serveOnLoopback(app, cleanups);
  const post = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(base + path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
    return { status: res.status, body: (await res.json()) as any };
  };
  return { engine, post };
}

describe('webhook replays', () => {
  it('a signed delivery replayed under new, absent or changed Idempotency-Keys starts one run', async () => {
    const { engine, post } = await setup();
    const body = JSON.stringify({ order: 42 });
    const signature = signWebhook('s3cret', body);
    const first = await post('/hooks/hooked/in', body, { 'x-trellis-signature': signature });
    expect(first.status).toBe(202);
    const replays = [
      await post('/hooks/hooked/in', body, { 'x-trellis-signature': signature }),
      await post('/hooks/hooked/in', body, { 'x-trellis-signature': signature, 'idempotency-key': 'new-1' }),
      await post('/hooks/hooked/in', body, { 'x-trellis-signature': signature, 'idempotency-key': 'new-2' }),
      // A second `t` must not change which timestamp is verified or which run the replay maps to.
      await post('/hooks/hooked/in', body, { 'x-trellis-signature': `t=1,${signature}` }),
    ];
    expect(replays.map((r) => r.status)).toEqual([202, 202, 202, 401]);
    for (const reply of replays.slice(0, 3)) expect(reply.body.execution_id).toBe(first.body.execution_id);
    expect(await engine.list({ workflow_id: 'hooked' })).toHaveLength(1);

    // A new delivery (new timestamp or new body) is a new run.
    const later = await post('/hooks/hooked/in', body, { 'x-trellis-signature': signWebhook('s3cret', body, Math.floor(Date.now() / 1000) - 5) });
    expect(later.body.execution_id).not.toBe(first.body.execution_id);
    expect(await engine.list({ workflow_id: 'hooked' })).toHaveLength(2);
  });

  it('a signed delivery id comes from the signed body, never from the header', async () => {
    const { engine, post } = await setup();
    const body = JSON.stringify({ delivery: { id: 'd-1' } });
    const a = await post('/hooks/hooked/byfield', body, { 'x-trellis-signature': signWebhook('s3cret', body), 'idempotency-key': 'x' });
    // The sender's retry, signed anew, carries the same id in its body: the same run.
    const retry = await post('/hooks/hooked/byfield', body, { 'x-trellis-signature': signWebhook('s3cret', body, Math.floor(Date.now() / 1000) - 1), 'idempotency-key': 'y' });
    expect(retry.body.execution_id).toBe(a.body.execution_id);
    const runs = await engine.list({ workflow_id: 'hooked' });
    expect(runs.map((r) => r.trigger)).toEqual([{ type: 'webhook', id: 'byfield', delivery_id: 'd-1' }]);
  });
});

describe('webhook refusals reveal nothing', () => {
  it('answers unknown workflows, unknown triggers, drafts and bad signatures with one identical 401', async () => {
    const { engine, post } = await setup();
    const body = '{}';
    const good = signWebhook('s3cret', body);
    const replies = await Promise.all([
      post('/hooks/nope/in', body),
      post('/hooks/nope/in', body, { 'x-trellis-signature': good }),
      post('/hooks/hooked/nope', body),
      post('/hooks/hooked/nope', body, { 'x-trellis-signature': good }),
      post('/hooks/sketch/in', body),
      post('/hooks/sketch/open', body),
      post('/hooks/hooked/in', body),
      post('/hooks/hooked/in', body, { 'x-trellis-signature': signWebhook('guess', body) }),
      post('/hooks/hooked/in', body, { 'x-trellis-signature': 'v1=abc' }),
      post('/hooks/hooked/in', body, { 'x-trellis-signature': signWebhook('s3cret', body, Math.floor(Date.now() / 1000) - 301) }),
    ]);
    for (const reply of replies) expect(reply).toEqual({ status: 401, body: { error: { code: 'auth', message: 'Webhook delivery refused', details: null } } });
    expect(await engine.list({})).toHaveLength(0);
    // A sender holding the secret may learn that the workflow is not active.
    expect((await post('/hooks/sketch/in', body, { 'x-trellis-signature': good })).status).toBe(409);
  });
});

describe('webhook key space', () => {
  it('an API client cannot pre-claim the key a webhook delivery will use', async () => {
    const { engine, post } = await setup();
    const claimed = await post('/api/workflows/hooked/execute', '{}', { 'idempotency-key': 'webhook:hooked:open:delivery-77' });
    expect(claimed.status).toBe(202);
    const delivery = await post('/hooks/hooked/open', '{}', { 'idempotency-key': 'delivery-77' });
    expect(delivery.status).toBe(202);
    expect(delivery.body.execution_id).not.toBe(claimed.body.execution_id);
    const signedBody = JSON.stringify({ delivery: { id: 'delivery-78' } });
    await post('/api/workflows/hooked/execute', '{}', { 'idempotency-key': 'webhook:hooked:byfield:delivery-78' });
    const signed = await post('/hooks/hooked/byfield', signedBody, { 'x-trellis-signature': signWebhook('s3cret', signedBody) });
    const run = await engine.get(signed.body.execution_id);
    expect(run?.trigger).toEqual({ type: 'webhook', id: 'byfield', delivery_id: 'delivery-78' });
    // The client's own key still deduplicates the client's own retries.
    const again = await post('/api/workflows/hooked/execute', '{}', { 'idempotency-key': 'webhook:hooked:open:delivery-77' });
    expect(again.body.execution_id).toBe(claimed.body.execution_id);
  });
});
