/**
 * The live event stream of a run another process drives: in a fleet the router often runs on an
 * API process (a submit-only engine) while a worker drives the run, and the run's events fire on
 * the worker. The stream then follows the run through storage, sending each change it finds as the
 * event it stands for (`from_storage: true`), and ends with the run. Over real HTTP.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, ScriptedProvider, workflow } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { noteEvent, seenFrom, storedChanges } from '../src/express/stored-changes.js';
import type { WorkflowExecution } from '../src/runtime/run-view.js';
import { serveOnLoopback, until } from './helpers.js';
import { readServerSentEvents } from './http-client.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const twoSteps = () => workflow('two').prompt('a', { model: 'mock:m', template: 'a' }).prompt('b', { model: 'mock:m', template: '{{a.text}}b' }).end({ text: 'b.text' });

/**
 * A submit-only engine serving the router and a worker on one storage; a run started on the API
 * side, driven by the worker, its first call held (`held` releases each call in turn).
 */
async function workerDrivenRun() {
  const storage = new MemoryStorage();
  const held: (() => void)[] = [];
  const mock = new ScriptedProvider(async (request) => {
    await new Promise<void>((resolve) => held.push(resolve));
    return `${request.prompt}!`;
  });
  const worker = new Engine({ storage, providers: { mock }, role: 'worker', instanceId: 'worker' });
  const api = new Engine({ storage, providers: { mock: new ScriptedProvider(['unused']) }, role: 'submit', instanceId: 'api' });
  cleanups.push(() => Promise.all([api.close(), worker.close()]));
  await worker.startBackground();
  const base = await serveOnLoopback(express().use('/api', createRouter(api, { allowUnauthenticated: true })), cleanups);
  const id = await api.start(twoSteps(), {});
  await until(() => held.length === 1);
  return { api, base, held, id };
}

describe('an event stream served where the run is not driven', () => {
  it('follows a run a worker drives through storage, and ends with it', async () => {
    const { base, held, id } = await workerDrivenRun();
    let opened = false;
    const reading = readServerSentEvents(`${base}/api/workflow-executions/${id}/events`, { opened: () => (opened = true) });
    await until(() => opened);
    held.shift()!();
    await until(() => held.length === 1);
    held.shift()!();
    const events = await reading;
    const names = events.map((e) => e.name);
    expect(names[0]).toBe('snapshot');
    expect(names.slice(-2)).toEqual(['execution:completed', 'end']);
    expect(names).toContain('node:completed');
    const completedB = events.find((e) => e.name === 'node:completed' && e.data.path === 'b');
    expect(completedB?.data).toMatchObject({ executionId: id, nodeId: 'b', output: { text: 'a!b!' }, from_storage: true });
    expect(typeof completedB?.data.timestamp).toBe('string');
    expect(events.at(-2)?.data).toMatchObject({ executionId: id, output: { text: 'a!b!' }, from_storage: true });
  }, 30_000);
});

describe('many event streams on one router', () => {
  it('share one engine listener per event name and each get every event of their run, here and through storage', async () => {
    const { api, base, held, id } = await workerDrivenRun();
    let opened = 0;
    const readings = Array.from({ length: 8 }, () => readServerSentEvents(`${base}/api/workflow-executions/${id}/events`, { opened: () => opened++ }));
    await until(() => opened === 8);
    expect(api.events.listenerCount('node:token')).toBe(1);
    expect(api.events.listenerCount('execution:completed')).toBe(1);
    held.shift()!();
    await until(() => held.length === 1);
    held.shift()!();
    const streams = await Promise.all(readings);
    for (const events of streams) {
      expect(events[0]?.name).toBe('snapshot');
      expect(events.slice(-2).map((e) => e.name)).toEqual(['execution:completed', 'end']);
      expect(events.find((e) => e.name === 'node:completed' && e.data.path === 'b')?.data).toMatchObject({ output: { text: 'a!b!' }, from_storage: true });
    }
    await until(() => api.events.listenerCount('node:token') === 0);
  }, 30_000);
});

describe('storedChanges', () => {
  const execution = (status: WorkflowExecution['status'], steps: [string, string][], extra: Partial<WorkflowExecution> = {}): WorkflowExecution =>
    ({
      id: 'r1',
      workflow_id: 'wf',
      status,
      execution_trace: steps.map(([path, s]) => ({ node_id: path, node_name: path, node_type: 'prompt_execution', path, status: s, attempt: 1, input_data: null, started_at: '2026-12-02T00:00:00.000Z' })),
      ...extra,
    }) as unknown as WorkflowExecution;

  it('sends each change once, steps in trace order before the run, and nothing for what was seen', () => {
    const seen = seenFrom(execution('running', [['start', 'completed'], ['a', 'running']]));
    expect(storedChanges(seen, execution('running', [['start', 'completed'], ['a', 'running']]), 5)).toEqual([]);
    const changes = storedChanges(seen, execution('paused', [['start', 'completed'], ['a', 'completed'], ['ok', 'waiting']], {}), 5);
    expect(changes.map(([name, data]) => [name, data.path ?? data.reason])).toEqual([
      ['node:completed', 'a'],
      ['node:waiting', 'ok'],
      ['execution:paused', 'user'],
    ]);
    expect(storedChanges(seen, execution('paused', [['start', 'completed'], ['a', 'completed'], ['ok', 'waiting']]), 6)).toEqual([]);
    const ended = storedChanges(seen, execution('cancelled', [['start', 'completed'], ['a', 'completed'], ['ok', 'skipped']], { error_message: 'no' }), 7);
    expect(ended.map(([name]) => name)).toEqual(['node:skipped', 'execution:cancelled']);
    expect(ended[1]![1]).toMatchObject({ executionId: 'r1', workflowId: 'wf', timestamp: 7, reason: 'no', from_storage: true });
  });

  it('does not send twice a change a look at storage sent just before its event arrived', () => {
    const seen = seenFrom(execution('running', [['start', 'completed'], ['a', 'running']]));
    // The commit of `a` landed and the stream looked before the event was published.
    expect(storedChanges(seen, execution('running', [['start', 'completed'], ['a', 'completed']]), 5).map(([name]) => name)).toEqual(['node:completed']);
    expect(noteEvent(seen, 'node:completed', { path: 'a' })).toBe(false);
    // Later events go out, and a repeat of the same event would too.
    expect(noteEvent(seen, 'node:started', { path: 'b' })).toBe(true);
    expect(noteEvent(seen, 'node:completed', { path: 'a' })).toBe(true);
    // The next look forgets what the last one sent: an event it stands for, arriving later, is new.
    storedChanges(seen, execution('paused', [['start', 'completed'], ['a', 'completed'], ['b', 'waiting']]), 6);
    storedChanges(seen, execution('paused', [['start', 'completed'], ['a', 'completed'], ['b', 'waiting']]), 7);
    expect(noteEvent(seen, 'execution:paused', {})).toBe(true);
  });
});
