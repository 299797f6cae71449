/**
 * Issue 20: limits that hold across every engine sharing one storage. Two engines on two storage
 * objects of one database (what two processes have) share a provider's concurrency slots, its
 * requests per minute, and a workflow's `max_concurrent_runs`; a dead holder's slot frees itself
 * when its lease runs out. The multi-process version, with SIGKILLs, is fleet-mixed.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, PostgresStorage, SqliteStorage, workflow, type Provider, type ProviderRequest, type Storage } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { until } from './helpers.js';
import { scratch } from './scratch.js';
import { scratchStorages } from './scratch-storages.js';

const area = scratch('fleetlimits');
const { kinds, sameDatabase } = scratchStorages(area);

const engines: Engine[] = [];
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

/** A provider shared by both engines (as a real provider is by the fleet) that counts calls in flight. */
class CountingProvider implements Provider {
  readonly name = 'p';
  readonly calls: ProviderRequest[] = [];
  live = 0;
  peak = 0;
  constructor(readonly delayMs: number) {}
  async complete(request: ProviderRequest) {
    this.calls.push(request);
    this.live++;
    this.peak = Math.max(this.peak, this.live);
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    this.live--;
    return { text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } };
  }
}

/** Two storages on one database: two objects for SQLite and PostgreSQL, the same object for memory (one process). */
function pair(make: () => Storage): [Storage, Storage] {
  const first = make();
  return [first, first instanceof MemoryStorage ? first : sameDatabase(first)];
}

function engineOn(storage: Storage, provider: Provider, extra: ConstructorParameters<typeof Engine>[0] = {}): Engine {
  const engine = new Engine({ storage, providers: { p: provider }, limitScope: 'fleet', ...extra });
  engines.push(engine);
  return engine;
}

const fan = workflow('fan').parallel({
  a: (b) => b.prompt('pa', { model: 'p:m', template: 'a' }),
  b: (b) => b.prompt('pb', { model: 'p:m', template: 'b' }),
  c: (b) => b.prompt('pc', { model: 'p:m', template: 'c' }),
});

describe.each(kinds)('fleet-wide limits on %s', (_kind, make) => {
  it('two engines share a provider’s concurrency slots: never more calls in flight than the limit, together', async () => {
    const provider = new CountingProvider(15);
    const [s1, s2] = pair(make);
    const limits = { p: { concurrency: 2 } };
    const [a, b] = [engineOn(s1, provider, { limits }), engineOn(s2, provider, { limits })];
    const runs = await Promise.all([a, a, a, b, b, b].map((engine) => engine.run(fan)));
    expect(runs.map((r) => r.status)).toEqual(Array(6).fill('completed'));
    expect(provider.calls).toHaveLength(18);
    expect(provider.peak).toBeLessThanOrEqual(2);
    expect(a.metrics().providers.p).toMatchObject({ calls: 9, active: 0, queued: 0 });
  });

  it('a workflow’s max_concurrent_runs holds across engines starting runs at once, and a run ending on either admits the next', async () => {
    const provider = new CountingProvider(1);
    const [s1, s2] = pair(make);
    const [a, b] = [engineOn(s1, provider), engineOn(s2, provider)];
    const gated = workflow('gated', { settings: { max_concurrent_runs: 2 } }).approval('gate');
    await a.workflows.create(gated);
    const ids = await Promise.all([a, b, a, b, a, b].map((engine) => engine.startStored('gated', {})));
    const statuses = async () => Promise.all(ids.map(async (id) => (await a.get(id))!.status));
    const active = async () => (await statuses()).filter((s) => s === 'running' || s === 'paused').length;
    await until(async () => (await statuses()).filter((s) => s === 'paused').length === 2);
    expect((await statuses()).filter((s) => s === 'pending')).toHaveLength(4);
    // Approve waiting runs on whichever engine drives them, until every run is done; never more than 2 at once.
    for (let done = 0; done < ids.length; ) {
      expect(await active()).toBeLessThanOrEqual(2);
      const waiting = (await Promise.all(ids.map((id) => s1.getRun(id)))).filter((r) => r!.status === 'paused');
      for (const run of waiting) {
        const driver = run!.owner === a.instanceId ? a : b;
        await driver.approve(run!.id, 'gate');
        await driver.wait(run!.id);
      }
      done = (await statuses()).filter((s) => s === 'completed').length;
      if (waiting.length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    expect(await statuses()).toEqual(Array(6).fill('completed'));
  });
});

describe('fleet-wide rate and leases', () => {
  it('two engines share requests per minute, on the engine clock', async () => {
    const clock = new FakeClock();
    const storage = new MemoryStorage();
    const provider = new CountingProvider(0);
    const limits = { p: { requestsPerMinute: 2 } };
    const [a, b] = [engineOn(storage, provider, { clock, limits }), engineOn(storage, provider, { clock, limits })];
    const single = workflow('one').prompt('x', { model: 'p:m', template: 'x' });
    const ids = [await a.start(single), await b.start(single), await b.start(single)];
    await until(() => provider.calls.length === 2);
    await until(() => a.metrics().providers.p!.queued + b.metrics().providers.p!.queued === 1);
    await clock.advance(29_000);
    expect(provider.calls).toHaveLength(2);
    await clock.advance(1_000); // 2 a minute: one more every 30 s, for the fleet
    await until(() => provider.calls.length === 3);
    for (const id of ids) expect((await (id === ids[0] ? a : b).wait(id)).status).toBe('completed');
  });

  it('a slot a dead process held frees itself when its lease runs out', async () => {
    const storage = new MemoryStorage();
    const provider = new CountingProvider(0);
    const engine = engineOn(storage, provider, { limits: { p: { concurrency: 1 } } });
    const now = Date.now();
    // What a SIGKILLed process leaves: a held slot nobody will release.
    expect(await storage.acquireLimitSlot({ scope: 'concurrency:p', holder: 'dead', expires_at: now + 1_500 }, 1, now)).toBe(true);
    const id = await engine.start(workflow('one').prompt('x', { model: 'p:m', template: 'x' }));
    await until(() => engine.metrics().providers.p!.queued === 1);
    expect(provider.calls).toHaveLength(0);
    expect((await engine.wait(id)).status).toBe('completed');
    expect(provider.calls).toHaveLength(1);
  });

  it('a cancelled call leaves the fleet’s line without calling the provider; a slot is freed when a call fails', async () => {
    const storage = new MemoryStorage();
    let release!: () => void;
    let failNext = false;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const calls: string[] = [];
    const provider: Provider = {
      name: 'p',
      async complete(request) {
        calls.push(request.prompt);
        if (failNext) throw Object.assign(new Error('bad request'), { status: 400 });
        await gate;
        return { text: 'ok', usage: { input_tokens: 1, output_tokens: 1 } };
      },
    };
    const [a, b] = [engineOn(storage, provider, { limits: { p: { concurrency: 1 } } }), engineOn(storage, provider, { limits: { p: { concurrency: 1 } } })];
    const single = (template: string) => workflow('one').prompt('x', { model: 'p:m', template });
    const first = await a.start(single('first'));
    await until(() => calls.length === 1);
    const second = await b.start(single('second'));
    await until(() => b.metrics().providers.p!.queued === 1);
    await b.cancel(second);
    expect((await b.wait(second)).status).toBe('cancelled');
    expect(b.metrics().providers.p!.queued).toBe(0);
    release();
    expect((await a.wait(first)).status).toBe('completed');
    failNext = true;
    expect((await b.run(single('fails'))).status).toBe('failed');
    failNext = false;
    // Had the failed call kept its slot, this one would wait for ever.
    expect((await a.run(single('after'))).status).toBe('completed');
    expect(calls).toEqual(['first', 'fails', 'after']);
  });

  it('limitScope: fleet by default on PostgreSQL, process elsewhere; a bad value is refused', () => {
    const pg = new PostgresStorage({ connectionString: area.pgUrl, schema: `${area.schema}_opt` });
    const probe = (storage: Storage, scope?: 'fleet' | 'process') => new Engine({ storage, ...(scope ? { limitScope: scope } : {}) });
    expect(() => probe(pg)).not.toThrow();
    expect(() => probe(new SqliteStorage({ path: ':memory:' }), 'fleet')).not.toThrow();
    expect(() => new Engine({ storage: new MemoryStorage(), limitScope: 'cluster' as never })).toThrowError(/"limitScope" must be 'process' or 'fleet', got "cluster"/);
    const bare = { ...new MemoryStorage() } as unknown as Storage;
    expect(() => new Engine({ storage: bare, limitScope: 'fleet' })).toThrowError(/"limitScope" 'fleet' needs a storage with acquireLimitSlot/);
  });
});
