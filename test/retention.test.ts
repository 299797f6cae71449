import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, PostgresStorage, ScriptedProvider, SqliteStorage, type EngineOptions, type Storage } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { edge, node, until } from './helpers.js';
import { scratch } from './scratch.js';

const { dir, schema, pgUrl } = scratch('retention');
const DAY = 86_400_000;
const engines: Engine[] = [];
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

const ask = {
  id: 'ask',
  name: 'Ask',
  definition: {
    nodes: [node('start', 'start'), node('ask', 'prompt_execution', { provider_model: 'mock:m', template: '{{input.text}}' }), node('end', 'end', { output: { reply: 'ask.text' } })],
    edges: [edge('start', 'ask'), edge('ask', 'end')],
    variables: [{ name: 'text', type: 'string' as const, required: true }],
  },
};
const approve = {
  id: 'approve',
  name: 'Approve',
  definition: { nodes: [node('start', 'start'), node('ok', 'human_approval', {}), node('end', 'end')], edges: [edge('start', 'ok'), edge('ok', 'end')] },
};

function engineOn(storage: Storage, retention: EngineOptions['retention']) {
  const clock = new FakeClock();
  // Long answers, so that SQL storages keep them as blobs (largeOutputBytes below).
  const mock = new ScriptedProvider((request) => (request.prompt.startsWith('Fail') ? ScriptedProvider.fail('bad_request', 'refused') : `${request.prompt} `.repeat(40)));
  // A long lease: the run left waiting is renewed a few times over the days the clock skips, not thousands.
  const engine = new Engine({ storage, providers: { mock }, clock, leaseMs: DAY, ...(retention ? { retention } : {}) });
  engines.push(engine);
  return { engine, clock };
}

/** Runs ending now: three completed, one failed, one cancelled, and one left waiting for approval. */
async function history(engine: Engine): Promise<{ completed: string[]; failed: string; cancelled: string; waiting: string }> {
  await engine.workflows.create(ask);
  await engine.workflows.create(approve);
  const completed = [];
  for (const text of ['one', 'two', 'three']) completed.push((await engine.wait(await engine.startStored('ask', { text }))).id);
  const failed = (await engine.wait(await engine.startStored('ask', { text: 'Fail' }))).id;
  const cancelled = await engine.startStored('approve', {});
  await engine.wait(cancelled, { until: 'paused' });
  await engine.cancel(cancelled);
  const waiting = await engine.startStored('approve', {});
  await engine.wait(waiting, { until: 'paused' });
  return { completed, failed, cancelled, waiting };
}

async function statuses(engine: Engine): Promise<string[]> {
  return (await engine.list()).map((r) => r.status).sort();
}

/** Advances the clock past the next pass and waits for that pass to end. */
async function nextPass(engine: Engine, clock: FakeClock, ms: number): Promise<void> {
  const passes = engine.retentionStats().passes;
  await clock.advance(ms);
  await until(() => engine.retentionStats().passes > passes).catch((error: unknown) => {
    throw new Error(`no pass: ${JSON.stringify(engine.retentionStats())}`, { cause: error });
  });
}

async function prunesByStatusAndAge(storage: Storage, blobs?: () => Promise<number>): Promise<void> {
  // One pass every two days: each advance of two days below runs exactly one.
  const { engine, clock } = engineOn(storage, { completedDays: 1, failedDays: 3, intervalMs: 2 * DAY, batchSize: 2 });
  const runs = await history(engine);
  expect(await statuses(engine)).toEqual(['cancelled', 'completed', 'completed', 'completed', 'failed', 'paused']);
  if (blobs) expect(await blobs()).toBeGreaterThan(0);
  const stored = await engine.init();

  // Day two: the completed runs (more than a day old) go, in two batches of two, with their steps
  // and calls; the failed run (not three days old) stays.
  await nextPass(engine, clock, 2 * DAY);
  expect(await statuses(engine)).toEqual(['cancelled', 'failed', 'paused']);
  expect(engine.retentionStats()).toEqual({ enabled: true, passes: 1, removed: { completed: 3, failed: 0, cancelled: 0 }, lastPassAt: clock.now() });
  for (const id of runs.completed) {
    expect(await stored.getSteps(id)).toEqual([]);
    expect(await engine.calls.list({ workflow_execution_id: id })).toEqual([]);
  }

  // Day four: the failed run goes; a cancelled run has no retention set, and a waiting run never ends.
  await nextPass(engine, clock, 2 * DAY);
  expect((await engine.list()).map((r) => r.id).sort()).toEqual([runs.cancelled, runs.waiting].sort());
  expect(engine.retentionStats()).toMatchObject({ passes: 2, removed: { completed: 3, failed: 1, cancelled: 0 } });
  if (blobs) expect(await blobs()).toBe(0);

  // close() stops the timer: no pass after it.
  await engine.close();
  const passes = engine.retentionStats().passes;
  await clock.advance(10 * DAY);
  expect(engine.retentionStats().passes).toBe(passes);
}

describe('retention', () => {
  it('prunes ended runs per status and age, in batches, on the engine clock (SQLite)', async () => {
    await prunesByStatusAndAge(new SqliteStorage({ path: join(dir, 'retention.sqlite'), largeOutputBytes: 64 }));
  });

  it('prunes ended runs per status and age, their blobs too (PostgreSQL)', async () => {
    const admin = new pg.Pool({ connectionString: pgUrl, max: 1 });
    try {
      const count = async () => Number((await admin.query(`SELECT count(*)::int AS n FROM "${schema}".blobs`)).rows[0].n);
      await prunesByStatusAndAge(new PostgresStorage({ connectionString: pgUrl, schema, largeOutputBytes: 64 }), count);
    } finally {
      await admin.end();
    }
  });

  it('is off by default, and refuses bad options naming the field', () => {
    const { engine } = engineOn(new MemoryStorage(), undefined);
    expect(engine.retentionStats()).toEqual({ enabled: false, passes: 0, removed: { completed: 0, failed: 0, cancelled: 0 } });
    expect(() => new Engine({ retention: { completedDays: 0 } })).toThrow(/retention\.completedDays.*> 0/);
    expect(() => new Engine({ retention: { failedDays: 1, batchSize: 1.5 } })).toThrow(/retention\.batchSize/);
    expect(() => new Engine({ retention: { cancelledDays: 1, intervalMs: -1 } })).toThrow(/retention\.intervalMs/);
  });
});
