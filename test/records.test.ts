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
import { makeEngine, serveOnLoopback } from './helpers.js';

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
