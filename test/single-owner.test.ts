/**
 * One owner per run inside a process: a stored run taken on by many callers at once (approvals,
 * resumes, a recovery pass, the background loop) is adopted once, so each step after it runs once
 * and exactly one approval of a step wins; the others fail with `illegal_state` or `conflict`.
 * Real storages: a SQLite file, and the PostgreSQL server for the approvals.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine, PostgresStorage, SqliteStorage, isTrellisError, workflow, type NodeHandler, type Storage } from '../src/index.js';
import { until } from './helpers.js';
import { scratch } from './scratch.js';

const { pgUrl: PG_URL, schema, dir } = scratch('owner');

/** A node type that counts its executions by node id; `hold` ones never finish (until released). */
function counting(): { handler: NodeHandler; runs: Map<string, number>; release(): void } {
  const runs = new Map<string, number>();
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  return {
    runs,
    release: () => release(),
    handler: {
      type: 'count',
      async execute(ctx) {
        runs.set(ctx.node.id, (runs.get(ctx.node.id) ?? 0) + 1);
        if ((ctx.config as { hold?: boolean }).hold) await held;
        return { status: 'completed', output: runs.get(ctx.node.id) ?? 0 };
      },
    },
  };
}

const gated = workflow('gated').approval('gate').node('after', 'count').end({ n: 'after' });

function settledCodes(results: PromiseSettledResult<unknown>[]): { won: number; codes: Set<string> } {
  const codes = new Set<string>();
  for (const r of results) if (r.status === 'rejected') codes.add(isTrellisError(r.reason) ? r.reason.code : String(r.reason));
  return { won: results.filter((r) => r.status === 'fulfilled').length, codes };
}

/** Engine A starts a run that waits for approval, then closes; engine B gets 50 approvals at once. */
async function fiftyApprovals(open: () => Storage): Promise<void> {
  const a = new Engine({ storage: open() });
  a.registerNode(counting().handler);
  const id = await a.start(gated, {});
  await until(async () => (await a.get(id))?.status === 'paused');
  await a.close();

  const b = new Engine({ storage: open() });
  const count = counting();
  b.registerNode(count.handler);
  try {
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => b.approve(id, 'gate')));
    const { won, codes } = settledCodes(results);
    expect(won).toBe(1);
    expect([...codes].every((c) => c === 'illegal_state' || c === 'conflict')).toBe(true);
    expect((await b.wait(id)).status).toBe('completed');
    expect(count.runs.get('after')).toBe(1);
  } finally {
    await b.close();
  }
}

describe('one owner per run in a process', () => {
  it('lets exactly one of 50 concurrent approvals of a stored run win (SQLite)', async () => {
    const path = join(dir, 'approvals.sqlite');
    await fiftyApprovals(() => new SqliteStorage({ path }));
  }, 30_000);

  it('lets exactly one of 50 concurrent approvals of a stored run win (PostgreSQL)', async () => {
    await fiftyApprovals(() => new PostgresStorage({ connectionString: PG_URL, schema }));
  }, 30_000);

  it('refuses a second approval of the same step on a hot run (a double click)', async () => {
    const engine = new Engine({ storage: new SqliteStorage({ path: join(dir, 'double.sqlite') }) });
    const count = counting();
    engine.registerNode(count.handler);
    try {
      const id = await engine.start(gated, {});
      await until(async () => (await engine.get(id))?.status === 'paused');
      const results = await Promise.allSettled([engine.approve(id, 'gate'), engine.approve(id, 'gate')]);
      expect(settledCodes(results)).toEqual({ won: 1, codes: new Set(['illegal_state']) });
      await expect(engine.approve(id, 'gate')).rejects.toMatchObject({ code: 'illegal_state' });
      expect((await engine.wait(id)).status).toBe('completed');
      expect(count.runs.get('after')).toBe(1);
    } finally {
      await engine.close();
    }
  }, 30_000);

  it('runs the next step of a paused stored run once for 50 concurrent resumes', async () => {
    const path = join(dir, 'resumes.sqlite');
    const a = new Engine({ storage: new SqliteStorage({ path }) });
    const first = counting();
    a.registerNode(first.handler);
    const wf = workflow('paused').node('first', 'count', { hold: true }).node('after', 'count').end({ n: 'after' });
    const id = await a.start(wf, {});
    await until(async () => first.runs.get('first') === 1);
    await a.pause(id);
    first.release();
    await until(async () => (await a.get(id))?.execution_trace.find((s) => s.node_id === 'first')?.status === 'completed');
    await a.close();

    const b = new Engine({ storage: new SqliteStorage({ path }) });
    const count = counting();
    b.registerNode(count.handler);
    try {
      const results = await Promise.allSettled(Array.from({ length: 50 }, () => b.resume(id)));
      const { won, codes } = settledCodes(results);
      expect(won).toBe(1);
      expect([...codes].every((c) => c === 'illegal_state' || c === 'conflict')).toBe(true);
      expect((await b.wait(id)).status).toBe('completed');
      expect(count.runs.get('after')).toBe(1);
      expect(count.runs.get('first')).toBeUndefined();
    } finally {
      await b.close();
    }
  }, 30_000);

  it('runs an in-flight step once when an approval races recover() and the background loop', async () => {
    const path = join(dir, 'race.sqlite');
    // Two branches: an approval, and a step that is in flight when engine A goes away.
    const wf = workflow('race')
      .parallel({ human: (p) => p.approval('gate'), machine: (p) => p.node('work', 'count', { hold: true }) }, { id: 'fan' })
      .node('after', 'count')
      .end({ n: 'after' });
    for (let trial = 0; trial < 5; trial++) {
      const a = new Engine({ storage: new SqliteStorage({ path }) });
      const held = counting();
      a.registerNode(held.handler);
      const id = await a.start(wf, {});
      await until(async () => held.runs.get('work') === 1);
      await a.close(); // the run stays `running`, unowned: an orphan with `work` in flight

      const b = new Engine({ storage: new SqliteStorage({ path }), pollIntervalMs: 5 });
      const count = counting();
      count.release(); // `work` finishes at once here
      b.registerNode(count.handler);
      try {
        const racers = [b.approve(id, 'gate'), b.recover(), b.startBackground(), b.recover(), b.approve(id, 'gate')];
        const results = await Promise.allSettled(racers);
        expect(results.filter((r, i) => (i === 0 || i === 4) && r.status === 'fulfilled')).toHaveLength(1);
        expect((await b.wait(id)).status).toBe('completed');
        expect(count.runs.get('work')).toBe(1);
        expect(count.runs.get('after')).toBe(1);
      } finally {
        await b.close();
      }
    }
  }, 60_000);
});
