/**
 * Debug mode over real HTTP on loopback: breakpoints in the start body, `POST .../step`,
 * `POST .../fork` and `GET .../compare/:otherId`, with their authorization.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { workflow } from '../src/index.js';
import { createRouter, type RouterAction, type RouterResource } from '../src/express/index.js';
import { makeEngine, serveOnLoopback } from './helpers.js';
import { jsonCaller } from './http-client.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const drafting = workflow('drafting')
  .prompt('draft', { model: 'mock:m', template: 'Draft about {{input.topic}}' })
  .prompt('review', { model: 'mock:m', template: 'Review {{draft.text}}' });

async function serve(refuse: (action: RouterAction, resource: RouterResource) => boolean = () => false) {
  const { engine } = makeEngine((r) => `answer to ${r.prompt}`);
  cleanups.push(() => engine.close());
  await engine.workflows.create(drafting.build());
  const asked: string[] = [];
  const app = express();
  app.use(createRouter(engine, {
    authorize: (_req, action, resource) => {
      asked.push(`${action} ${resource.type}:${resource.id ?? ''}`);
      return !refuse(action, resource);
    },
  }));
  const call = jsonCaller(await serveOnLoopback(app, cleanups));
  return { engine, call, asked };
}

describe('debug mode over HTTP', () => {
  it('starts a run with breakpoints, steps it one step at a time, and resumes it', async () => {
    const { engine, call } = await serve();
    const started = await call('POST', '/workflows/drafting/execute', { input_data: { topic: 'owls' }, breakpoints: ['review'] });
    expect(started.status).toBe(202);
    const id = started.body.execution_id as string;
    await engine.wait(id, { until: 'paused' });
    const read = await call('GET', `/workflow-executions/${id}`);
    expect(read.body).toMatchObject({ status: 'paused', breakpoints: ['review'], paused_before: ['review'] });

    const stepped = await call('POST', `/workflow-executions/${id}/step`);
    expect(stepped.status).toBe(200);
    expect(stepped.body).toMatchObject({ status: 'paused', paused_before: ['end'] });
    expect(stepped.body.execution_trace.find((s: { path: string }) => s.path === 'review')).toMatchObject({ status: 'completed' });

    const wrong = await call('POST', `/workflow-executions/${id}/step`, { path: 'draft' });
    expect(wrong.status).toBe(409);
    expect(wrong.body.error.code).toBe('illegal_state');

    expect((await call('POST', `/workflow-executions/${id}/resume`)).status).toBe(200);
    expect((await engine.wait(id)).status).toBe('completed');
  });

  it('answers 400 with every problem for breakpoints naming unknown nodes, and starts nothing', async () => {
    const { engine, call } = await serve();
    const refused = await call('POST', '/workflows/drafting/execute', { input_data: { topic: 'x' }, breakpoints: ['drat', 'nope'] });
    expect(refused.status).toBe(400);
    expect(refused.body.error.code).toBe('validation_failed');
    expect(refused.body.error.details.map((i: { code: string }) => i.code)).toEqual(['unknown_breakpoint_node', 'unknown_breakpoint_node']);
    expect(refused.body.error.details[0].message).toContain('did you mean "draft"?');
    expect(await engine.list()).toEqual([]);
  });

  it('forks a run from a step with an edited prompt, and compares it with its original', async () => {
    const { engine, call, asked } = await serve();
    const original = await engine.run(drafting, { topic: 'owls' });
    const forked = await call('POST', `/workflow-executions/${original.id}/fork`, { from_node: 'review', overrides: { review: { template: 'Critique {{draft.text}}' } } });
    expect(forked.status).toBe(202);
    const forkId = forked.body.execution_id as string;
    expect(forked.headers.get('location')).toBe(`/workflow-executions/${forkId}`);
    expect(asked).toContain(`execution:read execution:${original.id}`);
    expect(asked).toContain('workflow:execute workflow:drafting');
    await engine.wait(forkId);

    const compared = await call('GET', `/workflow-executions/${original.id}/compare/${forkId}`);
    expect(compared.status).toBe(200);
    expect(compared.body.steps.map((s: { path: string }) => s.path)).toEqual(['start', 'draft', 'review', 'end']);
    expect(compared.body.first_difference).toBe('review');
    expect(compared.body.steps[2].other.output_data.text).toBe('answer to Critique answer to Draft about owls');
    expect(asked).toContain(`execution:read execution:${forkId}`);

    const badFork = await call('POST', `/workflow-executions/${original.id}/fork`, { from_node: 'nope' });
    expect(badFork.status).toBe(400);
    expect(badFork.body.error).toMatchObject({ code: 'bad_request', message: 'fork: fromNode "nope" is not a node of workflow "drafting"' });
  });

  it('refuses a fork of a workflow the caller may not execute, and a comparison with a run it may not read', async () => {
    let secret = '';
    const { engine, call } = await serve((action, resource) => (action === 'workflow:execute' && resource.id === 'drafting') || (action === 'execution:read' && resource.id === secret));
    const original = await engine.run(drafting, { topic: 'owls' });
    const other = await engine.run(drafting, { topic: 'bats' });
    secret = other.id;
    expect((await call('POST', `/workflow-executions/${original.id}/fork`, { from_node: 'review' })).status).toBe(403);
    expect((await engine.list()).length).toBe(2);
    expect((await call('GET', `/workflow-executions/${original.id}/compare/${other.id}`)).status).toBe(403);
    expect((await call('GET', `/workflow-executions/${other.id}/compare/${original.id}`)).status).toBe(403);
    expect((await call('POST', `/workflow-executions/${original.id}/step`)).status).toBe(409); // completed: nothing to step
  });
});
