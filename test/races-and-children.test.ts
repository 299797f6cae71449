/**
 * Races and child runs, as a user meets them: a join that fires early fires once, a loop that loses
 * a race mid-iteration loses cleanly, and a `sub_workflow` step that stops waiting takes its child
 * run with it. Slow branches never answer on their own: they end only when they are aborted, so no
 * assertion here depends on timing.
 */
import { describe, expect, it } from 'vitest';
import { workflow, type ProviderRequest, type TrellisEventName } from '../src/index.js';
import { edge, makeEngine, node, recordEvents, until } from './helpers.js';

/** A provider script: prompts containing "slow" hang until aborted; others answer at once. */
function raceScript(request: ProviderRequest): string | Promise<string> {
  if (request.prompt.includes('slow')) {
    return new Promise((_resolve, reject) => request.signal.addEventListener('abort', () => reject(new Error('aborted'))));
  }
  return `done: ${request.prompt}`;
}

const NODE_EVENTS: readonly TrellisEventName[] = ['node:started', 'node:completed', 'node:skipped', 'node:failed'];

/** How many times `event` was seen for `path`. */
function count(seen: readonly string[], event: string, path: string): number {
  return seen.filter((line) => line === `${event} ${path}`).length;
}

const model = 'mock:m';

function race(waitFor: 'any' | 'count') {
  return workflow('race')
    .parallel(
      {
        a: (b) => b.prompt('a', { model, template: 'slow a' }),
        b: (b) => b.prompt('b', { model, template: 'fast b' }),
        c: (b) => b.prompt('c', { model, template: waitFor === 'count' ? 'fast c' : 'slow c' }),
      },
      { id: 'p', waitFor, ...(waitFor === 'count' ? { requiredCount: 2 } : {}) },
    )
    .prompt('after', { model, template: 'after' })
    .end({ out: 'after.text' });
}

describe('a join that fires early fires once', () => {
  it.each(['any', 'count'] as const)('wait_for %s: the merge starts and completes once, before what follows it', async (waitFor) => {
    const { engine, mock } = makeEngine(raceScript);
    const seen = recordEvents(engine, NODE_EVENTS);
    const run = await engine.run(race(waitFor), {});
    expect(run.status).toBe('completed');
    expect(count(seen, 'node:started', 'p_merge')).toBe(1);
    expect(count(seen, 'node:completed', 'p_merge')).toBe(1);
    expect(count(seen, 'node:started', 'after')).toBe(1);
    const order = run.execution_trace.map((s) => s.node_id);
    expect(order.indexOf('p_merge')).toBeLessThan(order.indexOf('after'));
    expect(mock.calls.filter((c) => c.prompt === 'after')).toHaveLength(1);
    // The losers' calls were paid for: each is recorded, failed with the cancellation.
    const losers = (await engine.calls.list({ workflow_execution_id: run.id })).filter((c) => c.status === 'failed');
    expect(losers.map((c) => [c.workflow_node_id, (c.error as { code?: string } | undefined)?.code])).toEqual(waitFor === 'any' ? [['a', 'cancelled'], ['c', 'cancelled']] : [['a', 'cancelled']]);
  });

  it('a prompt node as the join is called once: one paid call for one step', async () => {
    const { engine, mock } = makeEngine(raceScript);
    const def = {
      name: 'paid-join',
      definition: {
        nodes: [
          node('start', 'start'),
          node('p', 'parallel', { wait_for: 'any', join: 'j' }),
          node('a', 'prompt_execution', { provider_model: model, template: 'slow a' }),
          node('b', 'prompt_execution', { provider_model: model, template: 'fast b' }),
          node('c', 'prompt_execution', { provider_model: model, template: 'slow c' }),
          node('j', 'prompt_execution', { provider_model: model, template: 'join' }),
          node('end', 'end'),
        ],
        edges: [
          edge('start', 'p'),
          edge('p', 'a', { source_output: 'a' }),
          edge('p', 'b', { source_output: 'b' }),
          edge('p', 'c', { source_output: 'c' }),
          edge('a', 'j'),
          edge('b', 'j'),
          edge('c', 'j'),
          edge('j', 'end'),
        ],
      },
    };
    const run = await engine.run(def, {});
    expect(run.status).toBe('completed');
    expect(mock.calls.filter((c) => c.prompt === 'join')).toHaveLength(1);
    expect(run.execution_trace.filter((s) => s.node_id === 'j').map((s) => s.status)).toEqual(['completed']);
  });
});

describe('a loop that loses a race', () => {
  it('while an iteration is running: its body is skipped and the run goes on', async () => {
    const { engine } = makeEngine(raceScript);
    const wf = workflow('loop-race', { variables: { items: 'array' } })
      .parallel(
        {
          loop: (b) => b.forEach('input.items', (body) => body.prompt('work', { model, template: 'slow {{item}}' }), { id: 'each', concurrency: 2 }),
          stop: (b) => b.waitForEvent('stop', { event: 'stop' }),
        },
        { id: 'race', waitFor: 'any' },
      )
      .prompt('after', { model, template: 'after' })
      .end({ out: 'after.text' });
    const id = await engine.start(wf, { items: ['x', 'y'] });
    await until(async () => (await engine.get(id))!.execution_trace.filter((s) => s.node_id === 'work' && s.status === 'running').length === 2);
    await engine.emit('stop', {});
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ out: 'done: after' });
    const byPath = Object.fromEntries(run.execution_trace.map((s) => [s.path, s.status]));
    expect(byPath).toMatchObject({ each: 'skipped', 'each[0].work': 'skipped', 'each[1].work': 'skipped', race_merge: 'completed', after: 'completed' });
  });
});

describe('a sub_workflow step that stops waiting cancels its child', () => {
  async function withChild(script = raceScript) {
    const made = makeEngine(script);
    await made.engine.workflows.create(workflow('child', { id: 'child' }).prompt('ask', { model, template: 'slow child' }).end({ out: 'ask.text' }));
    return made;
  }

  it('when the step loses a race', async () => {
    const { engine } = await withChild();
    const wf = workflow('parent')
      .parallel({ sub: (b) => b.subWorkflow('call', { workflow_id: 'child' }), stop: (b) => b.waitForEvent('stop', { event: 'stop' }) }, { id: 'race', waitFor: 'any' })
      .end();
    const id = await engine.start(wf, {});
    await until(async () => (await engine.list({ workflow_id: 'child' }))[0]?.status === 'running');
    await engine.emit('stop', {});
    expect((await engine.wait(id)).status).toBe('completed');
    const [child] = await engine.list({ workflow_id: 'child' });
    expect((await engine.wait(child!.id)).status).toBe('cancelled');
  });

  it('when the parent reaches an end with terminate', async () => {
    const { engine } = await withChild();
    const wf = workflow('parent')
      .parallel(
        {
          sub: (b) => b.subWorkflow('call', { workflow_id: 'child' }),
          quit: (b) => b.waitForEvent('quit', { event: 'quit' }).end({}, { id: 'quit_end', terminate: true }),
        },
        { id: 'fan' },
      )
      .end();
    const id = await engine.start(wf, {});
    await until(async () => (await engine.list({ workflow_id: 'child' }))[0]?.status === 'running');
    await engine.emit('quit', {});
    expect((await engine.wait(id)).status).toBe('completed');
    const [child] = await engine.list({ workflow_id: 'child' });
    expect((await engine.wait(child!.id)).status).toBe('cancelled');
  });

  it('a cancelled parent that waits on a child stays cancelled, and its child ends cancelled', async () => {
    const { engine } = makeEngine();
    await engine.workflows.create(workflow('never', { id: 'never' }).waitForEvent('never', { event: 'never' }));
    const id = await engine.start(workflow('parent').subWorkflow('sub', { workflow_id: 'never' }).prompt('after', { model, template: 'after' }).end(), {});
    await until(async () => (await engine.list({ workflow_id: 'never' }))[0]?.status === 'running');
    const ends: string[] = [];
    for (const name of ['execution:completed', 'execution:cancelled', 'execution:failed'] as const) {
      engine.events.on(name, (e) => void (e.executionId === id && ends.push(name)));
    }
    await engine.cancel(id, 'stop');
    const [child] = await engine.list({ workflow_id: 'never' });
    expect((await engine.wait(child!.id)).status).toBe('cancelled');
    // Let the child's end reach the parent, as it would if it woke it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const parent = (await engine.get(id))!;
    expect(parent.status).toBe('cancelled');
    expect(parent.execution_trace.find((s) => s.node_id === 'after')).toBeUndefined();
    expect(ends).toEqual(['execution:cancelled']);
  });
});
