/**
 * Pause, resume, approvals and retries asked over REST of a process that does not drive the run (an API
 * process beside a worker): the request is stored in the run's inbox for the worker, and the
 * answer says so at once with 202 and the execution as stored, instead of waiting for events that
 * only fire on the worker. Over real HTTP.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, ScriptedProvider, workflow } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { serveOnLoopback, until } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function apiBesideWorker(provider: ScriptedProvider) {
  const storage = new MemoryStorage();
  const worker = new Engine({ storage, providers: { mock: provider }, role: 'worker', instanceId: 'worker' });
  const api = new Engine({ storage, providers: { mock: new ScriptedProvider(['unused']) }, role: 'submit', instanceId: 'api' });
  cleanups.push(() => Promise.all([api.close(), worker.close()]));
  await worker.startBackground();
  const base = await serveOnLoopback(express().use(express.json()).use('/api', createRouter(api, { allowUnauthenticated: true })), cleanups);
  const post = (path: string, body: unknown = {}) =>
    fetch(`${base}/api/workflow-executions/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { api, worker, post };
}

describe('run control over REST on a process that does not drive the run', () => {
  it('answers an approval with 202 once it is stored, and the worker continues the run', async () => {
    const { api, worker, post } = await apiBesideWorker(new ScriptedProvider(['drafted']));
    const flow = workflow('review').approval('ok', { message: 'Ship it?' }).prompt('draft', { model: 'mock:m', template: 'go' }).end({ text: 'draft.text' });
    const id = await api.start(flow, {});
    await until(async () => (await api.get(id))?.execution_trace.some((s) => s.node_id === 'ok' && s.status === 'waiting') ?? false);

    const answer = await post(`${id}/approvals/ok`, { approved: true });
    expect(answer.status).toBe(202);
    expect(((await answer.json()) as { id: string }).id).toBe(id);
    const ended = await worker.wait(id);
    expect(ended).toMatchObject({ status: 'completed', output_data: { text: 'drafted' } });
  }, 30_000);

  it('answers pause and resume with 202, and the worker applies both', async () => {
    const held: (() => void)[] = [];
    const provider = new ScriptedProvider(async () => {
      await new Promise<void>((resolve) => held.push(resolve));
      return 'x';
    });
    const { api, worker, post } = await apiBesideWorker(provider);
    const flow = workflow('two').prompt('a', { model: 'mock:m', template: 'a' }).prompt('b', { model: 'mock:m', template: 'b' }).end({ text: 'b.text' });
    const id = await api.start(flow, {});
    await until(() => held.length === 1);

    expect((await post(`${id}/pause`)).status).toBe(202);
    held.shift()!();
    await until(async () => (await api.get(id))?.status === 'paused');
    expect((await post(`${id}/resume`)).status).toBe(202);
    await until(() => held.length === 1);
    held.shift()!();
    expect(await worker.wait(id)).toMatchObject({ status: 'completed', output_data: { text: 'x' } });
  }, 30_000);

  it('retries a failed run (the dashboard\'s dead-letter button) with 202, and the worker drives the new run', async () => {
    let broken = true;
    const { api, worker, post } = await apiBesideWorker(
      new ScriptedProvider(() => {
        if (broken) throw new Error('the model endpoint is misconfigured');
        return 'fixed';
      }),
    );
    const id = await api.start(workflow('one').prompt('a', { model: 'mock:m', template: 'a' }).end({ text: 'a.text' }), {});
    expect((await worker.wait(id)).status).toBe('failed');
    broken = false;
    const answer = await post(`${id}/retry`);
    expect(answer.status).toBe(202);
    const { execution_id: retryId, retry_of } = (await answer.json()) as { execution_id: string; retry_of: string };
    expect(retry_of).toBe(id);
    expect(await api.wait(retryId)).toMatchObject({ status: 'completed', output_data: { text: 'fixed' } });
  }, 30_000);
});
