import { describe, expect, it } from 'vitest';
import { workflow, ScriptedProvider } from '../src/index.js';
import { concurrencyProbe, edge, makeEngine, node, until } from './helpers.js';

describe('loops', () => {
  it('for_each collects results in input order whatever order items finish in', async () => {
    const { engine } = makeEngine(async (r) => {
      const n = Number(r.prompt.split(' ')[1]);
      await new Promise((res) => setTimeout(res, (5 - n) * 3));
      return `done ${n}`;
    });
    const wf = workflow('fe', { variables: { items: 'array' } })
      .forEach('input.items', (b) => b.prompt('work', { model: 'mock:m', template: 'item {{item}}' }), { id: 'each', concurrency: 5 })
      .end({ results: 'each.map(r, r.text)' });
    const run = await engine.run(wf, { items: [1, 2, 3, 4, 5] });
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ results: ['done 1', 'done 2', 'done 3', 'done 4', 'done 5'] });
    expect(run.execution_trace.filter((s) => s.node_id === 'work').map((s) => s.path).sort()).toEqual(['each[0].work', 'each[1].work', 'each[2].work', 'each[3].work', 'each[4].work']);
  });

  it('respects for_each concurrency', async () => {
    const probe = concurrencyProbe(2);
    const { engine } = makeEngine(probe.answer);
    const wf = workflow('fe').forEach('[1,2,3,4,5,6,7,8]', (b) => b.prompt('w', { model: 'mock:m', template: '{{index}}' }), { concurrency: 3 });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(probe.peak).toBe(3);
  });

  it('an empty list runs zero iterations and continues', async () => {
    const { engine, mock } = makeEngine();
    const wf = workflow('fe').forEach('[]', (b) => b.prompt('w', { model: 'mock:m', template: 'x' }), { id: 'each' }).end({ n: 'size(each)' });
    const run = await engine.run(wf, {});
    expect(run.output_data).toEqual({ n: 0 });
    expect(mock.calls).toHaveLength(0);
  });

  it('fails a loop over max_iterations with a clear error', async () => {
    const { engine } = makeEngine();
    const wf = workflow('fe').forEach('[1,2,3]', (b) => b.transform('t', { x: 'item' }), { id: 'each', max_iterations: 2 });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('failed');
    expect(run.error_message).toMatch(/each.*3 iterations.*max_iterations of 2/);
  });

  it('while re-evaluates its condition on the last iteration', async () => {
    let score = 0;
    const { engine } = makeEngine(() => ({ score: (score += 3) }));
    const wf = workflow('wh')
      .transform('init', { ready: 'false' })
      .while('default(draft.json.score, 0) < 8', (b) => b.prompt('draft', { model: 'mock:m', template: 'draft {{index}}' }), { id: 'revise', max_iterations: 10 })
      .end({ drafts: 'size(revise)' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ drafts: 3 });
  });

  it('while iterations build on the previous one (its outputs and item)', async () => {
    const { engine } = makeEngine();
    const wf = workflow('acc')
      .while('default(acc.n, 0) < 3', (b) => b.transform('acc', { n: 'default(acc.n, 0) + 1', prev: 'item' }), { id: 'count_up', max_iterations: 10 })
      .end({ out: 'count_up' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ out: [{ n: 1, prev: null }, { n: 2, prev: { n: 1, prev: null } }, { n: 3, prev: { n: 2, prev: { n: 1, prev: null } } }] });
  });

  it('while fails past max_iterations', async () => {
    const { engine } = makeEngine();
    const wf = workflow('wh').while('true', (b) => b.transform('t', { x: '1' }), { id: 'forever', max_iterations: 4 });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('failed');
    expect(run.error_message).toMatch(/max_iterations of 4/);
    expect(run.execution_trace.filter((s) => s.node_id === 't')).toHaveLength(4);
  });

  it('count loops and nested loops address steps by path', async () => {
    const { engine } = makeEngine();
    const wf = workflow('nested')
      .repeat(2, (outer) => outer.forEach('[10, 20]', (inner) => inner.transform('cell', { v: 'item' }), { id: 'inner' }), { id: 'outer' })
      .end({ grid: 'outer' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ grid: [[{ v: 10 }, { v: 20 }], [{ v: 10 }, { v: 20 }]] });
    expect(run.execution_trace.map((s) => s.path)).toContain('outer[1].inner[0].cell');
  });
});

describe('parallel and merge', () => {
  it('wait_for all collects branch outputs by branch name', async () => {
    const { engine } = makeEngine((r) => r.prompt.toUpperCase());
    const wf = workflow('par')
      .parallel({ a: (b) => b.prompt('pa', { model: 'mock:m', template: 'a' }), b: (b) => b.prompt('pb', { model: 'mock:m', template: 'b' }) }, { id: 'fan' })
      .end({ merged: 'fan_merge' });
    const run = await engine.run(wf, {});
    expect(run.output_data).toEqual({ merged: { a: { text: 'A' }, b: { text: 'B' } } });
  });

  it('wait_for any takes the first branch and cancels the others', async () => {
    // The slow branch never answers on its own: the run can only end if the race cancels it.
    const { engine } = makeEngine((r) => (r.prompt === 'fast' ? r.prompt : new Promise<string>((_, reject) => r.signal.addEventListener('abort', () => reject(new Error('aborted'))))));
    const wf = workflow('race')
      .parallel(
        { fast: (b) => b.prompt('f', { model: 'mock:m', template: 'fast' }), slow: (b) => b.prompt('s', { model: 'mock:m', template: 'slow' }).transform('after_slow', { x: '1' }) },
        { id: 'race', waitFor: 'any' },
      )
      .end({ winner: 'race_merge' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ winner: { fast: { text: 'fast' } } });
    const byNode = Object.fromEntries(run.execution_trace.map((s) => [s.node_id, s.status]));
    expect(byNode).toMatchObject({ f: 'completed', s: 'skipped', after_slow: 'skipped' });
  });

  it('a wide fan-out joins once every branch settled, whatever order they finish in', async () => {
    // Branches finish in a shuffled order, so the join's waiting is re-decided as each one lands.
    const order = Array.from({ length: 40 }, (_, i) => (i * 17) % 40);
    const { engine } = makeEngine(async (r) => {
      const n = Number(r.prompt.slice(1));
      await new Promise((res) => setTimeout(res, order.indexOf(n) / 4));
      return `a${n}`;
    });
    const branches: Record<string, (b: ReturnType<typeof workflow>) => ReturnType<typeof workflow>> = {};
    for (let i = 0; i < 40; i++) branches[`b${i}`] = (b) => b.prompt(`p${i}`, { model: 'mock:m', template: `q${i}` });
    const wf = workflow('wide').parallel(branches as never, { id: 'fan' }).end({ n: 'size(fan_merge)', last: 'fan_merge.b39.text' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    // A join that fired early would have collected fewer branches.
    expect(run.output_data).toEqual({ n: 40, last: 'a39' });
  });

  it('wait_for any survives a failing first branch', async () => {
    const { engine } = makeEngine(async (r) => {
      if (r.prompt === 'bad') return ScriptedProvider.fail('bad_request', 'nope');
      await new Promise((res) => setTimeout(res, 5));
      return 'good';
    });
    const wf = workflow('race')
      .parallel({ bad: (b) => b.prompt('x', { model: 'mock:m', template: 'bad' }), good: (b) => b.prompt('y', { model: 'mock:m', template: 'good' }) }, { id: 'race', waitFor: 'any' })
      .end({ winner: 'race_merge' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ winner: { good: { text: 'good' } } });
  });

  it('fails when all branches fail under wait_for any, and count needs its count', async () => {
    const { engine } = makeEngine(() => ScriptedProvider.fail('bad_request', 'nope'));
    const wf = workflow('race').parallel({ a: (b) => b.prompt('x', { model: 'mock:m', template: 'a' }), b: (b) => b.prompt('y', { model: 'mock:m', template: 'b' }) }, { waitFor: 'any' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('failed');
    const { engine: e2 } = makeEngine((r) => (r.prompt === 'c' ? ScriptedProvider.fail('bad_request', 'no') : 'ok'));
    const wf2 = workflow('count').parallel(
      { a: (b) => b.prompt('x', { model: 'mock:m', template: 'a' }), b: (b) => b.prompt('y', { model: 'mock:m', template: 'b' }), c: (b) => b.prompt('z', { model: 'mock:m', template: 'c' }) },
      { id: 'p', waitFor: 'count', requiredCount: 2 },
    );
    const run2 = await e2.run(wf2, {});
    expect(run2.status).toBe('completed');
  });

  it('a merge after a condition does not wait for the path not taken', async () => {
    const { engine } = makeEngine();
    const wf = workflow('cond').when('input.n > 1', (b) => b.transform('big', { v: "'big'" }), (b) => b.transform('small', { v: "'small'" })).end({ out: 'when_1_join' });
    const run = await engine.run(wf, { n: 5 });
    expect(run.status).toBe('completed');
    expect(Object.values(run.output_data as object)[0]).toEqual({ big: { v: 'big' } });
  });

  it('multi-choice: several true edge conditions start several branches; the merge waits only for them', async () => {
    const { engine } = makeEngine();
    const def = {
      name: 'multi',
      definition: {
        nodes: [node('start', 'start'), node('a', 'data_transform', { mapping: { v: '1' } }), node('b', 'data_transform', { mapping: { v: '2' } }), node('c', 'data_transform', { mapping: { v: '3' } }), node('m', 'merge'), node('end', 'end', { output: { m: 'm' } })],
        edges: [
          edge('start', 'a', { condition: 'input.x > 0' }),
          edge('start', 'b', { condition: 'input.x > 5' }),
          edge('start', 'c', { condition: 'input.x > 100' }),
          edge('a', 'm'),
          edge('b', 'm'),
          edge('c', 'm'),
          edge('m', 'end'),
        ],
      },
    };
    const run = await engine.run(def, { x: 10 });
    expect(run.output_data).toEqual({ m: { a: { v: 1 }, b: { v: 2 } } });
    expect(run.execution_trace.find((s) => s.node_id === 'c')!.status).toBe('skipped');
  });

  it('nested: a loop with a parallel block inside', async () => {
    const { engine } = makeEngine((r) => r.prompt);
    const wf = workflow('np')
      .forEach('["x","y"]', (b) => b.parallel({ l: (p) => p.prompt('left', { model: 'mock:m', template: 'L{{item}}' }), r: (p) => p.prompt('right', { model: 'mock:m', template: 'R{{item}}' }) }, { id: 'pp' }), { id: 'each', concurrency: 2 })
      .end({ out: 'each' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ out: [{ l: { text: 'Lx' }, r: { text: 'Rx' } }, { l: { text: 'Ly' }, r: { text: 'Ry' } }] });
  });
});

describe('delays, approvals and run control', () => {
  it('a delay is a durable timer driven by the clock', async () => {
    const { engine, clock, storage } = makeEngine();
    const wf = workflow('d').delay('wait', 60_000).transform('after', { ok: 'true' });
    const id = await engine.start(wf, {});
    await until(async () => (await storage.getStep(id, 'wait'))?.status === 'waiting');
    expect((await storage.getStep(id, 'wait'))!.waiter).toMatchObject({ kind: 'timer', due_at: clock.now() + 60_000 });
    await clock.advance(59_999);
    expect((await engine.get(id))!.status).toBe('running');
    await clock.advance(1);
    expect((await engine.wait(id)).status).toBe('completed');
  });

  it('approval: pauses the run, approver data flows into the context', async () => {
    const { engine } = makeEngine();
    const wf = workflow('a').approval('review', { message: 'ok?' }).end({ who: 'review.data.by' });
    const id = await engine.start(wf, {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    const paused = (await engine.get(id))!;
    expect(paused.execution_trace.find((s) => s.node_id === 'review')).toMatchObject({ status: 'waiting', waiting_for: { kind: 'approval' } });
    await engine.approve(id, 'review', { by: 'ana' });
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ who: 'ana' });
    await expect(engine.approve(id, 'review')).rejects.toMatchObject({ code: 'illegal_state' });
  });

  it('approving twice or a node that is not waiting is an error; a rejection without a rejected edge ends the run', async () => {
    const { engine } = makeEngine();
    const wf = workflow('a').approval('review').transform('t', { x: '1' });
    const id = await engine.start(wf, {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    await expect(engine.approve(id, 't')).rejects.toMatchObject({ code: 'illegal_state' });
    await engine.reject(id, 'review', 'not good');
    await expect(engine.reject(id, 'review')).rejects.toMatchObject({ code: 'illegal_state' });
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ rejected: { step: 'review', reason: 'not good' } });
    expect(run.execution_trace.find((s) => s.node_id === 't'), 'what follows the approval never runs').toBeUndefined();
  });

  it('approval timeout applies on_timeout', async () => {
    const { engine, clock } = makeEngine();
    const wf = workflow('a').approval('review', { timeout_ms: 86_400_000, on_timeout: 'approve' }).end({ ok: 'review.approved' });
    const id = await engine.start(wf, {});
    await until(async () => (await engine.get(id))?.status === 'paused');
    await clock.advance(86_400_000);
    const run = await engine.wait(id);
    expect(run.output_data).toEqual({ ok: true });
  });

  it('pause stops new steps; resume continues; resuming a completed run is illegal', async () => {
    const { engine, mock } = makeEngine(async () => {
      await new Promise((r) => setTimeout(r, 10));
      return 'x';
    });
    const wf = workflow('p').prompt('one', { model: 'mock:m', template: '1' }).prompt('two', { model: 'mock:m', template: '2' });
    const id = await engine.start(wf, {});
    await until(() => mock.calls.length === 1);
    await engine.pause(id);
    // The step in flight lands (waited for: on a busy machine 40 ms was not always enough), then nothing new starts.
    await until(async () => (await engine.get(id))!.execution_trace.find((s) => s.node_id === 'one')?.status === 'completed');
    await new Promise((r) => setTimeout(r, 20));
    expect(mock.calls).toHaveLength(1);
    const paused = (await engine.get(id))!;
    expect(paused.status).toBe('paused');
    expect(paused.execution_trace.find((s) => s.node_id === 'one')!.status).toBe('completed');
    expect(paused.execution_trace.find((s) => s.node_id === 'two')!.status).toBe('pending');
    await engine.resume(id);
    const run = await engine.wait(id);
    expect(run.status).toBe('completed');
    await expect(engine.resume(id)).rejects.toMatchObject({ code: 'illegal_state' });
  });

  it('cancel aborts in-flight calls: the step fails with cancelled, pending ones are skipped', async () => {
    let aborted = false;
    const { engine, mock } = makeEngine(
      (r) =>
        new Promise((_, reject) => {
          r.signal.addEventListener('abort', () => {
            aborted = true;
            reject(r.signal.reason);
          });
        }),
    );
    const wf = workflow('c').prompt('slow', { model: 'mock:m', template: 'x' }).transform('after', { x: '1' });
    const id = await engine.start(wf, {});
    await until(() => mock.calls.length === 1);
    await engine.cancel(id);
    const run = await engine.wait(id);
    expect(run.status).toBe('cancelled');
    expect(aborted).toBe(true);
    expect(run.execution_trace.find((s) => s.node_id === 'slow')).toMatchObject({ status: 'failed', error_code: 'cancelled' });
  });

  it('cancel aborts every call still in flight after others finished out of order', async () => {
    // Five parallel calls; the 2nd and 4th answer first (out of start order), then the run is
    // cancelled: exactly the three still in flight are aborted and fail with `cancelled`.
    const answers = new Map<string, (text: string) => void>();
    const aborted: string[] = [];
    const { engine, mock } = makeEngine(
      (r) =>
        new Promise((resolve, reject) => {
          answers.set(r.prompt, (text) => resolve({ text, usage: { input_tokens: 1, output_tokens: 1 } }));
          r.signal.addEventListener('abort', () => {
            aborted.push(r.prompt);
            reject(r.signal.reason);
          });
        }),
    );
    const branches = Object.fromEntries(['a', 'b', 'c', 'd', 'e'].map((k) => [k, (b: ReturnType<typeof workflow>) => b.prompt(`p_${k}`, { model: 'mock:m', template: k })]));
    const id = await engine.start(workflow('ooo').parallel(branches as never), {});
    await until(() => mock.calls.length === 5);
    answers.get('b')!('B');
    answers.get('d')!('D');
    await until(async () => (await engine.get(id))!.execution_trace.filter((s) => s.status === 'completed' && s.node_id.startsWith('p_')).length === 2);
    await engine.cancel(id);
    const run = await engine.wait(id);
    expect(run.status).toBe('cancelled');
    expect(aborted.sort()).toEqual(['a', 'c', 'e']);
    const status = (nodeId: string) => run.execution_trace.find((s) => s.node_id === nodeId);
    for (const k of ['b', 'd']) expect(status(`p_${k}`)).toMatchObject({ status: 'completed' });
    for (const k of ['a', 'c', 'e']) expect(status(`p_${k}`)).toMatchObject({ status: 'failed', error_code: 'cancelled' });
  });

  it('per-node timeout fails the step with code timeout', async () => {
    const { engine, clock } = makeEngine(() => new Promise(() => undefined));
    const wf = workflow('t').prompt('hang', { model: 'mock:m', template: 'x', timeout_ms: 1000 });
    const id = await engine.start(wf, {});
    await clock.advance(1000);
    const run = await engine.wait(id);
    expect(run.status).toBe('failed');
    expect(run.execution_trace.find((s) => s.node_id === 'hang')).toMatchObject({ error_code: 'timeout' });
  });

  it('end with terminate stops the run at once', async () => {
    const { engine, mock } = makeEngine(() => new Promise(() => undefined));
    const wf = workflow('term')
      .parallel({ quick: (b) => b.transform('q', { v: '1' }).end({ v: 'q.v' }, { terminate: true, id: 'stop' }), slow: (b) => b.prompt('never', { model: 'mock:m', template: 'x' }) }, { id: 'p' });
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ v: 1 });
    expect(mock.calls.length).toBeLessThanOrEqual(1);
  });

  it('a workflow error handler catches a node that failed for good', async () => {
    const { engine } = makeEngine(() => ScriptedProvider.fail('auth', 'bad key'));
    const wf = workflow('eh', { settings: { error_handler_node_id: 'handler' } })
      .prompt('p', { model: 'mock:m', template: 'x' })
      .end();
    const def = wf.build();
    def.definition.nodes.push({ ...node('handler', 'data_transform', { mapping: { failed: 'error.node_id' } }), inputs: [], outputs: [] });
    const run = await engine.run(def, {});
    expect(run.status).toBe('completed');
    expect(run.context.handler).toEqual({ failed: 'p' });
  });

  it('limits concurrent steps of one run with settings.max_concurrency', async () => {
    const probe = concurrencyProbe(3);
    const { engine } = makeEngine(probe.answer);
    const wf = workflow('budget', { settings: { max_concurrency: 2 } }).forEach(
      '[1,2,3]',
      (b) => b.parallel({ a: (p) => p.prompt('pa', { model: 'mock:m', template: 'a' }), b: (p) => p.prompt('pb', { model: 'mock:m', template: 'b' }) }),
      { concurrency: 3 },
    );
    const run = await engine.run(wf, {});
    expect(run.status).toBe('completed');
    expect(probe.peak).toBe(2);
  });
});

describe('run-level limits', () => {
  it('settings.timeout_ms fails the whole run when it takes too long', async () => {
    const { engine, clock } = makeEngine(() => new Promise(() => undefined));
    const wf = workflow('slow', { settings: { timeout_ms: 10_000 } }).prompt('hang', { model: 'mock:m', template: 'x' });
    const id = await engine.start(wf, {});
    await clock.advance(9_999);
    expect((await engine.get(id))!.status).toBe('running');
    await clock.advance(1);
    const run = await engine.wait(id);
    expect(run.status).toBe('failed');
    expect(run.error_message).toMatch(/timed out after 10000 ms/);
    expect(run.execution_trace.find((s) => s.node_id === 'hang')).toMatchObject({ status: 'failed', error_code: 'cancelled' });
  });

  it('settings.max_concurrent_runs queues extra runs as pending and starts them as others end', async () => {
    const { engine } = makeEngine();
    const wf = workflow('one-at-a-time', { settings: { max_concurrent_runs: 1 } }).approval('gate');
    const first = await engine.start(wf, {});
    const second = await engine.start(wf, {});
    await until(async () => (await engine.get(first))?.status === 'paused');
    expect((await engine.get(second))!.status).toBe('pending');
    await engine.approve(first, 'gate');
    await engine.wait(first);
    await until(async () => (await engine.get(second))?.status === 'paused');
    await engine.approve(second, 'gate');
    expect((await engine.wait(second)).status).toBe('completed');
  });
});
