/**
 * Tenant isolation through the HTTP router, over real HTTP (Express on 127.0.0.1, Node's fetch):
 * two tenants by bearer token and an `authorize` hook that scopes every id to its owner. A
 * definition's references (sub-workflows, stored prompts) are checked when it is stored and when
 * it is run, and lists show only what the request may read.
 */
import express from 'express';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { workflow, Engine, TrellisError, ScriptedProvider, MemoryStorage } from '../src/index.js';
import { createRouter, type AuthorizeFn } from '../src/express/index.js';

const servers: Server[] = [];
const engines: Engine[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  for (const engine of engines.splice(0)) await engine.close();
});

interface Reply {
  readonly status: number;
  readonly body: any;
}

const TENANTS: Record<string, 'a' | 'b'> = { 'Bearer token-a': 'a', 'Bearer token-b': 'b' };

/**
 * A host app with tenants: it records who created each workflow and prompt (as a real app would
 * in its own table) and lets a tenant touch only its own records or ids nobody owns yet. A run
 * belongs to the owner of its workflow.
 */
async function tenantApp() {
  const engine = new Engine({ storage: new MemoryStorage(), providers: { mock: new ScriptedProvider((req) => `echo: ${req.prompt}`) } });
  engines.push(engine);
  const owners = new Map<string, 'a' | 'b'>();
  const asked: string[] = [];
  const authorize: AuthorizeFn = async (req, action, resource) => {
    const tenant = TENANTS[req.get('authorization') ?? ''];
    if (!tenant) throw new TrellisError('auth', 'Unknown bearer token');
    asked.push(`${tenant} ${action} ${resource.type}${resource.id === undefined ? '' : `/${resource.id}`}`);
    if (resource.id === undefined) return true;
    let key = `${resource.type}:${resource.id}`;
    if (resource.type === 'execution') {
      const run = await engine.get(resource.id);
      if (!run) return true;
      key = `workflow:${run.workflow_id}`;
    }
    const owner = owners.get(key);
    return owner === undefined || owner === tenant;
  };
  const app = express();
  app.use('/api', createRouter(engine, { authorize }));
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
  const as =
    (tenant: 'a' | 'b') =>
    async (method: string, path: string, body?: unknown): Promise<Reply> => {
      const res = await fetch(base + path, {
        method,
        headers: { authorization: `Bearer token-${tenant}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await res.text();
      const reply = { status: res.status, body: text ? JSON.parse(text) : undefined };
      // The app records the owner of what a tenant creates.
      if (method === 'POST' && res.status === 201) owners.set(`${path === '/prompts' ? 'prompt' : 'workflow'}:${reply.body.id}`, tenant);
      return reply;
    };
  return { engine, owners, a: as('a'), b: as('b'), asked };
}

const secretWorkflow = (id: string) => workflow(id).prompt('answer', { model: 'mock:x', template: `confidential output of ${id}` }).build();
const secretPrompt = (id: string) => ({ id, template: `confidential prompt ${id}` });
const callsWorkflow = (id: string, target: string) => workflow(id).subWorkflow('child', { workflow_id: target }).build();
const usesPrompt = (id: string, promptId: string) => workflow(id).prompt('ask', { model: 'mock:x', prompt_id: promptId }).build();

describe('references are checked when a definition is stored', () => {
  it("refuses a workflow that runs another tenant's workflow or renders its prompt, on create and on update", async () => {
    const { engine, a, b, asked } = await tenantApp();
    expect((await b('POST', '/workflows', secretWorkflow('b-secret'))).status).toBe(201);
    expect((await b('POST', '/prompts', secretPrompt('b-prompt'))).status).toBe(201);

    const viaChild = await a('POST', '/workflows', callsWorkflow('a-steal', 'b-secret'));
    expect(viaChild.status).toBe(403);
    expect(viaChild.body.error).toMatchObject({ code: 'forbidden', details: { reference: { type: 'workflow', id: 'b-secret', node_id: 'child' } } });
    expect(viaChild.body.error.message).toContain('"b-secret"');
    const viaPrompt = await a('POST', '/workflows', usesPrompt('a-steal', 'b-prompt'));
    expect(viaPrompt.status).toBe(403);
    expect(viaPrompt.body.error.details.reference).toEqual({ type: 'prompt', id: 'b-prompt', node_id: 'ask' });
    expect(await engine.workflows.get('a-steal')).toBeUndefined();

    // Its own references pass; an update that adds a foreign one is refused and stores nothing.
    expect((await a('POST', '/prompts', secretPrompt('a-prompt'))).status).toBe(201);
    expect((await a('POST', '/workflows', usesPrompt('a-own', 'a-prompt'))).status).toBe(201);
    expect(asked).toContain('a prompt:read prompt/a-prompt');
    expect((await a('PUT', '/workflows/a-own', usesPrompt('a-own', 'b-prompt'))).status).toBe(403);
    expect((await a('PUT', '/workflows/a-own', callsWorkflow('a-own', 'b-secret'))).status).toBe(403);
    expect((await engine.workflows.get('a-own'))?.version).toBe(1);
    // The owner may reference its own records.
    expect((await b('POST', '/workflows', callsWorkflow('b-caller', 'b-secret'))).status).toBe(201);
  });
});

describe('references are checked when a run is started', () => {
  it("refuses a run that would reach a workflow another tenant created after the reference was stored", async () => {
    const { engine, a, b } = await tenantApp();
    expect((await a('POST', '/workflows', callsWorkflow('a-wrapper', 'later'))).status).toBe(201);
    expect((await b('POST', '/workflows', secretWorkflow('later'))).status).toBe(201);

    const run = await a('POST', '/workflows/a-wrapper/execute?wait=true', { input_data: {} });
    expect(run.status).toBe(403);
    expect(run.body.error.details.reference).toEqual({ type: 'workflow', id: 'later', node_id: 'child', workflow_id: 'a-wrapper' });
    expect(JSON.stringify(run.body)).not.toContain('confidential');
    expect(await engine.list()).toEqual([]);
  });

  it('follows sub-workflows to their prompts, through every level', async () => {
    const { engine, a, b } = await tenantApp();
    expect((await a('POST', '/workflows', callsWorkflow('a-outer', 'a-mid'))).status).toBe(201);
    expect((await a('POST', '/workflows', usesPrompt('a-mid', 'shared'))).status).toBe(201);
    expect((await b('POST', '/prompts', secretPrompt('shared'))).status).toBe(201);

    const run = await a('POST', '/workflows/a-outer/execute', { input_data: {} });
    expect(run.status).toBe(403);
    expect(run.body.error.details.reference).toEqual({ type: 'prompt', id: 'shared', node_id: 'ask', workflow_id: 'a-mid' });
    expect(await engine.list()).toEqual([]);

    // Once the prompt is A's own, the same run goes through and renders it.
    await engine.prompts.delete('shared');
    expect((await a('POST', '/prompts', secretPrompt('shared'))).status).toBe(201);
    const ok = await a('POST', '/workflows/a-outer/execute?wait=true', { input_data: {} });
    expect(ok.status).toBe(200);
    expect(ok.body.status).toBe('completed');
  });
});

describe('lists show only what the request may read', () => {
  it("keeps another tenant's workflows, runs and prompts out of every list, with full pages", async () => {
    const { a, b } = await tenantApp();
    for (const n of [1, 2, 3]) {
      expect((await b('POST', '/workflows', secretWorkflow(`b-${n}`))).status).toBe(201);
      expect((await a('POST', '/workflows', secretWorkflow(`a-${n}`))).status).toBe(201);
      expect((await b('POST', '/prompts', secretPrompt(`b-p${n}`))).status).toBe(201);
      expect((await a('POST', '/prompts', secretPrompt(`a-p${n}`))).status).toBe(201);
      expect((await b('POST', `/workflows/b-${n}/execute?wait=true`, { input_data: {} })).status).toBe(200);
      expect((await a('POST', `/workflows/a-${n}/execute?wait=true`, { input_data: {} })).status).toBe(200);
    }

    const workflows = await a('GET', '/workflows?limit=200');
    expect(workflows.body.data.map((w: { id: string }) => w.id).sort()).toEqual(['a-1', 'a-2', 'a-3']);
    const runs = await a('GET', '/workflow-executions?limit=200');
    expect(runs.body.data.map((r: { workflow_id: string }) => r.workflow_id).sort()).toEqual(['a-1', 'a-2', 'a-3']);
    const prompts = await a('GET', '/prompts');
    expect(prompts.body.data.map((p: { id: string }) => p.id).sort()).toEqual(['a-p1', 'a-p2', 'a-p3']);
    expect(JSON.stringify([workflows.body, runs.body, prompts.body])).not.toMatch(/b-/);

    // Pages are cut after filtering: full pages, and has_more tells the truth.
    const first = await a('GET', '/workflows?limit=2');
    const second = await a('GET', '/workflows?limit=2&offset=2');
    expect(first.body.data).toHaveLength(2);
    expect(first.body.pagination.has_more).toBe(true);
    expect(second.body.data).toHaveLength(1);
    expect(second.body.pagination.has_more).toBe(false);
    const pagedRuns = [await a('GET', '/workflow-executions?limit=2'), await a('GET', '/workflow-executions?limit=2&offset=2')];
    expect(pagedRuns.map((r) => [r.body.data.length, r.body.pagination.has_more])).toEqual([
      [2, true],
      [1, false],
    ]);
    const seen = new Set([...first.body.data, ...second.body.data].map((w: { id: string }) => w.id));
    expect(seen.size).toBe(3);

    // A filter the client adds still applies, inside its own records only.
    const byWorkflow = await a('GET', '/workflow-executions?workflow_id=b-1');
    expect(byWorkflow.body.data).toEqual([]);
  });

  it('fills pages across many storage batches when most rows belong to someone else', async () => {
    const { engine, owners, a } = await tenantApp();
    for (let n = 0; n < 260; n++) {
      const id = n % 100 === 50 ? `a-${n}` : `b-${n}`;
      await engine.workflows.create(secretWorkflow(id));
      owners.set(`workflow:${id}`, id.startsWith('a-') ? 'a' : 'b');
    }
    const first = (await a('GET', '/workflows?limit=2')).body;
    const second = (await a('GET', '/workflows?limit=2&offset=2')).body;
    expect([first.data.length, first.pagination.has_more, second.data.length, second.pagination.has_more]).toEqual([2, true, 1, false]);
    expect([...first.data, ...second.data].map((w: { id: string }) => w.id).sort()).toEqual(['a-150', 'a-250', 'a-50']);
  });
});
