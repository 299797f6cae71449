import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, type BundleProgress, MemoryStorage, SqliteStorage, ScriptedProvider, type Script, type Provider } from '../src/index.js';
import { bundleInputs, bundleWorkflow, itemOf } from './fixtures/bundle-worker.js';
import { spawnFixture } from './fixture-process.js';
import { until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-bundles-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function memoryEngine(script: Script) {
  const mock = new ScriptedProvider(script);
  return { engine: new Engine({ storage: new MemoryStorage(), providers: { mock } }), mock };
}

/** A `slow:m` provider answering `out <n>` and counting calls per item. */
function countingProvider(calls: Map<number, number>): Provider {
  return {
    name: 'slow',
    async complete(request) {
      calls.set(itemOf(request), (calls.get(itemOf(request)) ?? 0) + 1);
      await new Promise((resolve) => setTimeout(resolve, 2));
      return { text: `out ${itemOf(request)}`, usage: { input_tokens: 2, output_tokens: 3 } };
    },
  };
}

describe('engine.bundles', () => {
  it('runs 20 inputs with at most 3 in flight and reports items in input order', async () => {
    let live = 0;
    let peak = 0;
    const { engine } = memoryEngine(async (r) => {
      live++;
      peak = Math.max(peak, live);
      const n = Number(/item (\d+)/.exec(r.prompt)?.[1]);
      await new Promise((res) => setTimeout(res, ((n * 7) % 5) + 1)); // finish out of order
      live--;
      return `out ${n}`;
    });
    const wf = bundleWorkflow.build();
    const mockWf = { ...wf, definition: { ...wf.definition, nodes: wf.definition.nodes.map((n) => (n.type === 'prompt_execution' ? { ...n, config: { ...n.config, provider_model: 'mock:m' } } : n)) } };
    const seen: BundleProgress[] = [];
    const result = await engine.bundles.run(mockWf, bundleInputs, { concurrency: 3, id: 'b20', onProgress: (p) => seen.push(p) });

    expect(peak).toBe(3);
    expect(result).toMatchObject({ id: 'b20', status: 'completed', total: 20, completed: 20, failed: 0, running: 0, pending: 0 });
    expect(result.items.map((i) => i.output)).toEqual(bundleInputs.map(({ n }) => ({ text: `out ${n}` })));
    expect(result.items.every((i) => i.status === 'completed' && typeof i.run_id === 'string')).toBe(true);
    expect(new Set(result.items.map((i) => i.run_id)).size).toBe(20);
    expect(Math.max(...seen.map((p) => p.running))).toBe(3);
    expect(seen.at(-1)?.completed).toBe(20);
    expect(result.summary).toMatchObject({ total: 20, completed: 20, failed: 0, tokens: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) } });
    expect(result.summary.tokens!.total_tokens).toBeGreaterThan(0);
    expect(result.summary.duration_ms).toBeGreaterThanOrEqual(0);

    expect(await engine.bundles.get('b20')).toEqual(result);
    const runs = await engine.list({ limit: 100 });
    expect(runs.map((r) => r.idempotency_key).sort()).toEqual(bundleInputs.map((_, i) => `bundle:b20:${i}`).sort());
    await expect(engine.bundles.run(mockWf, [], { id: 'b20' })).rejects.toMatchObject({ code: 'illegal_state' });
    await engine.close();
  });

  it('records a failing item as failed while the others complete', async () => {
    const { engine } = memoryEngine((r) => (r.prompt.includes('item 3') ? ScriptedProvider.fail('bad_request', 'item 3 is cursed') : `ok ${r.prompt}`));
    const wf = bundleWorkflow.build();
    const mockWf = { ...wf, definition: { ...wf.definition, nodes: wf.definition.nodes.map((n) => (n.type === 'prompt_execution' ? { ...n, config: { ...n.config, provider_model: 'mock:m' } } : n)) } };
    const inputs = [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }, 'not an object'];
    const result = await engine.bundles.run(mockWf, inputs, { concurrency: 2 });
    expect(result.status).toBe('completed');
    expect(result.summary).toMatchObject({ total: 5, completed: 3, failed: 2 });
    expect(result.items.map((i) => i.status)).toEqual(['completed', 'completed', 'failed', 'completed', 'failed']);
    expect(result.items[2]).toMatchObject({ status: 'failed', run_id: expect.any(String), error: expect.stringContaining('item 3 is cursed') });
    expect(result.items[4]).toMatchObject({ status: 'failed', error: expect.stringContaining('must be a JSON object') });
    expect(result.items[4]?.run_id).toBeUndefined();
    expect(result.items[3]?.output).toEqual({ text: 'ok item 4' });
    await engine.close();
  });

  it('runs a stored prompt over many inputs, pinned to the version current at creation', async () => {
    const { engine, mock } = memoryEngine((r) => ({ greeting: r.prompt.toUpperCase() }));
    await engine.prompts.save({ id: 'greet', template: 'hello {{name}} from {{city}}' });
    const result = await engine.bundles.run({ prompt_id: 'greet', model: 'mock:m' }, [
      { name: 'ada', city: 'london' },
      { name: 'alan', city: 'wilmslow' },
    ], { id: 'greetings' });
    expect(result.items.map((i) => i.output)).toEqual([
      { text: '{"greeting":"HELLO ADA FROM LONDON"}', json: { greeting: 'HELLO ADA FROM LONDON' } },
      { text: '{"greeting":"HELLO ALAN FROM WILMSLOW"}', json: { greeting: 'HELLO ALAN FROM WILMSLOW' } },
    ]);
    expect(mock.calls.map((c) => c.prompt)).toEqual(['hello ada from london', 'hello alan from wilmslow']);
    const record = await (await engine.init()).getBundle('greetings');
    expect(record?.target).toMatchObject({ kind: 'prompt', prompt_id: 'greet', prompt_version: 1, model: 'mock:m' });

    // A missing prompt variable fails that item only.
    const partial = await engine.bundles.run({ prompt_id: 'greet', version: 1, model: 'mock:m' }, [{ name: 'grace' }, { name: 'edsger', city: 'nuenen' }]);
    expect(partial.items.map((i) => i.status)).toEqual(['failed', 'completed']);
    await expect(engine.bundles.run({ prompt_id: 'missing', model: 'mock:m' }, [{}])).rejects.toMatchObject({ code: 'not_found' });
    await engine.close();
  });

  it('resumes a bundle whose engine stopped half way: nothing finished re-runs, no run starts twice', async () => {
    const path = join(dir, 'resume.sqlite');
    const first = new Map<number, number>();
    // The first engine answers items 0-4 and leaves every later call hanging, as if the process froze.
    const stuck: Provider = {
      name: 'slow',
      async complete(request) {
        first.set(itemOf(request), (first.get(itemOf(request)) ?? 0) + 1);
        // Stopped once items 5-7 hang in their calls (they start only after 0-4 are done).
        if (first.size === 8) stop.abort(new Error('stopped'));
        if (itemOf(request) >= 5) await new Promise(() => undefined);
        return { text: `out ${itemOf(request)}`, usage: { input_tokens: 1, output_tokens: 1 } };
      },
    };
    const stop = new AbortController();
    const engineA = new Engine({ storage: new SqliteStorage({ path }), providers: { slow: stuck }, leaseMs: 500 });
    const running = engineA.bundles.run(bundleWorkflow, bundleInputs, {
      id: 'half',
      concurrency: 3,
      signal: stop.signal,
    });
    await expect(running).rejects.toThrow('stopped');
    await engineA.close();
    expect([...first.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);

    const second = new Map<number, number>();
    const engineB = new Engine({ storage: new SqliteStorage({ path }), providers: { slow: countingProvider(second) }, leaseMs: 500 });
    const before = await engineB.bundles.get('half');
    expect(before).toMatchObject({ status: 'running', completed: 5, running: 3, pending: 12 });
    let started = 0;
    engineB.events.on('execution:started', () => void started++);
    const result = await engineB.bundles.resume('half');

    expect(result).toMatchObject({ status: 'completed', completed: 20, failed: 0 });
    expect(result.items.map((i) => i.output)).toEqual(bundleInputs.map(({ n }) => ({ text: `out ${n}` })));
    // Items finished before the stop were not called again; every other item exactly once more.
    for (let n = 0; n < 20; n++) expect(second.get(n), `item ${n}`).toBe(n < 5 ? undefined : 1);
    // One run per item: the three in flight were recovered, only the twelve never started were created.
    expect(started).toBe(12);
    const runs = await engineB.list({ limit: 100 });
    expect(runs).toHaveLength(20);
    expect(new Set(runs.map((r) => r.idempotency_key)).size).toBe(20);
    expect(await engineB.bundles.resume('half')).toMatchObject({ status: 'completed', completed: 20 });
    await expect(engineB.bundles.resume('nope')).rejects.toMatchObject({ code: 'not_found' });
    await engineB.close();
  });

  it('resumes after the bundle process is SIGKILLed', async () => {
    const path = join(dir, 'killed.sqlite');
    const log = join(dir, 'killed-calls.log');
    const child = spawnFixture('bundle-worker', [path, log, 'killed']);
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await until(() => /completed (7|8|9)\b/.test(out) || err.length > 0, 30_000);
    child.kill('SIGKILL');
    await exited;
    expect(err).toBe('');
    expect(out).not.toContain('bundle done');

    const storage = new SqliteStorage({ path });
    const calls = new Map<number, number>();
    const engine = new Engine({ storage, providers: { slow: countingProvider(calls) }, leaseMs: 300 });
    const atKill = await engine.list({ limit: 100 });
    const finished = new Set(atKill.filter((r) => r.status === 'completed').map((r) => Number(r.idempotency_key!.split(':')[2])));
    expect(finished.size).toBeGreaterThanOrEqual(7);
    expect(finished.size).toBeLessThan(20);
    let started = 0;
    engine.events.on('execution:started', () => void started++);
    const result = await engine.bundles.resume('killed', { recoverEveryMs: 50 });

    expect(result).toMatchObject({ status: 'completed', completed: 20, failed: 0 });
    expect(result.items.map((i) => i.output)).toEqual(bundleInputs.map(({ n }) => ({ text: `out ${n}` })));
    expect(started).toBe(20 - atKill.length);
    const runs = await engine.list({ limit: 100 });
    expect(new Set(runs.map((r) => r.idempotency_key)).size).toBe(20);
    expect(runs).toHaveLength(20);
    const childCalls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map(Number) : [];
    for (let n = 0; n < 20; n++) {
      if (finished.has(n)) expect(calls.get(n), `item ${n} had finished`).toBeUndefined();
      // An item in flight at the kill is called again by its recovered run; nothing more.
      expect(childCalls.filter((c) => c === n).length + (calls.get(n) ?? 0), `item ${n}`).toBeLessThanOrEqual(2);
      expect(calls.get(n) ?? 0).toBeLessThanOrEqual(1);
    }
    await engine.close();
  }, 60_000);
});
