/**
 * Dead letters (issue 19): failed, poison and stuck runs listed with their error, failed step and
 * what it saw; `engine.retry` continues one as a new run linked to it, seeded with the committed
 * steps before the failed one; `discard` closes it. On memory, a SQLite file and PostgreSQL, from
 * a restarted process, and over real HTTP.
 */
import { join } from 'node:path';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, SqliteStorage, workflow, sequentialIds, type Storage } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { FakeClock } from '../src/testing/index.js';
import { spawnFixture } from './fixture-process.js';
import { scratch } from './scratch.js';
import { scratchStorages } from './scratch-storages.js';
import { serveOnLoopback } from './helpers.js';
import { jsonCaller } from './http-client.js';

const area = scratch('deadletters');
const { kinds: STORAGES, sameDatabase } = scratchStorages(area);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});


/** `prepare` counts its executions; `charge` fails while `down` is set. */
function billing(storage: Storage, clock = new FakeClock(), ids = sequentialIds()) {
  const state = { down: true, prepared: 0, charged: [] as string[] };
  const engine = new Engine({ storage, clock, ids });
  engine.registerNode({ type: 'count', execute: () => ({ status: 'completed', output: { n: ++state.prepared } }) });
  engine.registerNode({
    type: 'charge',
    execute: (ctx) => {
      if (state.down) throw new Error('payment provider down');
      state.charged.push(ctx.idempotencyKey);
      return { status: 'completed', output: 'charged' };
    },
  });
  engine.registerNode({ type: 'hang', execute: () => new Promise(() => undefined) });
  cleanups.push(() => engine.close());
  return { engine, state, clock };
}

const pipeline = workflow('billing').node('prepare', 'count').node('charge', 'charge').end({ done: 'charge' });

describe.each(STORAGES)('dead letters on %s', (_name, makeStorage) => {
  it('lists a failed run with its error and failed step; retry continues it from that step as a new linked run', async () => {
    const { engine, state } = billing(makeStorage());
    const failed = await engine.run(pipeline, {}, { idempotencyKey: 'invoice-7' });
    expect(failed.status).toBe('failed');

    const { items } = await engine.deadLetters.list();
    expect(items).toMatchObject([
      { execution_id: failed.id, workflow_id: 'billing', reason: 'failed', status: 'failed', step: { path: 'charge', node_id: 'charge', status: 'failed', error: { message: expect.stringMatching(/payment provider down/) } } },
    ]);

    state.down = false;
    const retryId = await engine.retry(failed.id, { actor: 'ops' });
    const done = await engine.wait(retryId);
    expect(done).toMatchObject({ status: 'completed', output_data: { done: 'charged' } });
    // `prepare` was committed before the failure: the retry starts with its output, not a second run of it.
    expect(state.prepared).toBe(1);
    expect(done.execution_trace.find((s) => s.node_id === 'prepare')?.output_data).toEqual({ n: 1 });
    // The retried step has a fresh idempotency key of its own run; the run's key follows the old one.
    expect(state.charged).toEqual([`${retryId}:charge:1`]);
    const stored = await (await engine.init()).getRun(retryId);
    expect(stored).toMatchObject({ retry_of: failed.id, idempotency_key: 'invoice-7:retry:1', trigger: { type: 'retry', id: failed.id } });

    expect((await engine.deadLetters.list()).items).toEqual([]);
    await expect(engine.retry(failed.id)).rejects.toMatchObject({ code: 'conflict', details: { retryId } });
    await expect(engine.retry(retryId)).rejects.toMatchObject({ code: 'illegal_state' });
    expect((await engine.audit.list({ subject: failed.id })).events).toMatchObject([
      { action: 'run.retried', actor: 'ops', detail: { retry_id: retryId, rerun: ['charge', 'end'] } },
      { action: 'run.started', actor: 'system' },
    ]);
  });

  it('retries from a chosen step, with a corrected input', async () => {
    const { engine, state } = billing(makeStorage());
    const failed = await engine.run(pipeline, { amount: 1 });
    state.down = false;
    const retryId = await engine.retry(failed.id, { fromStep: 'prepare', input: { amount: 2 } });
    expect((await engine.wait(retryId)).status).toBe('completed');
    expect(state.prepared).toBe(2);
    expect((await engine.get(retryId))?.input_data).toEqual({ amount: 2 });
    await expect(engine.retry(retryId, { fromStep: 'nope' })).rejects.toMatchObject({ code: 'illegal_state' });
  });

  it('refuses a fromStep that names no step, and leaves nothing behind', async () => {
    const { engine } = billing(makeStorage());
    const failed = await engine.run(pipeline, {});
    await expect(engine.retry(failed.id, { fromStep: 'nope' })).rejects.toMatchObject({ code: 'invalid_options' });
    expect((await engine.deadLetters.list()).items.map((d) => d.execution_id)).toEqual([failed.id]);
  });

  it('discard takes a failed run off the list for good, and records who and why', async () => {
    const { engine } = billing(makeStorage());
    const failed = await engine.run(pipeline, {});
    await engine.deadLetters.discard(failed.id, { actor: 'ops', reason: 'customer refunded by hand' });
    expect((await engine.deadLetters.list()).items).toEqual([]);
    expect((await engine.get(failed.id))?.status).toBe('failed');
    await expect(engine.retry(failed.id)).rejects.toMatchObject({ code: 'illegal_state' });
    await expect(engine.deadLetters.discard(failed.id)).rejects.toMatchObject({ code: 'illegal_state' });
    await expect(engine.deadLetters.discard('missing')).rejects.toMatchObject({ code: 'not_found' });
    expect((await engine.audit.list({ subject: failed.id, actor: 'ops' })).events).toMatchObject([{ action: 'run.discarded', detail: { reason: 'customer refunded by hand' } }]);
  });

  it('lists runs stuck past stuckAfterMs (on the engine clock); discarding one cancels it', async () => {
    const { engine, clock } = billing(makeStorage());
    const id = await engine.start(workflow('stuck').node('wait', 'hang'), {});
    expect((await engine.deadLetters.list({ stuckAfterMs: 60_000 })).items).toEqual([]);
    await clock.advance(61_000);
    expect((await engine.deadLetters.list({ stuckAfterMs: 60_000 })).items).toMatchObject([{ execution_id: id, reason: 'stuck', status: 'running', step: { path: 'wait', status: 'running' } }]);
    expect((await engine.deadLetters.list()).items).toEqual([]);
    await engine.deadLetters.discard(id, { actor: 'ops' });
    expect((await engine.get(id))?.status).toBe('cancelled');
    expect((await engine.deadLetters.list({ stuckAfterMs: 60_000 })).items).toEqual([]);
    expect((await engine.audit.list({ subject: id })).events.map((e) => e.action)).toEqual(['run.discarded', 'run.cancelled', 'run.started']);
  });

  it('pages newest first with a cursor, and filters by workflow', async () => {
    const { engine, clock } = billing(makeStorage());
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await engine.run(pipeline, {})).id);
      await clock.advance(10);
    }
    const first = await engine.deadLetters.list({ limit: 2 });
    expect(first.items.map((d) => d.execution_id)).toEqual([ids[2], ids[1]]);
    const second = await engine.deadLetters.list({ limit: 2, cursor: first.nextCursor! });
    expect(second.items.map((d) => d.execution_id)).toEqual([ids[0]]);
    expect(second.nextCursor).toBeUndefined();
    expect((await engine.deadLetters.list({ workflowId: 'other' })).items).toEqual([]);
    await expect(engine.deadLetters.list({ cursor: 'junk' })).rejects.toMatchObject({ code: 'invalid_options' });
  });
});

describe.each(STORAGES.slice(1))('two processes retrying the same run on %s', (_name, makeStorage) => {
  it('make one new run: the other gets conflict naming it', async () => {
    const storage = makeStorage();
    const a = billing(storage);
    const failed = await a.engine.run(pipeline, {});
    a.state.down = false;
    // A second engine, as another process would be, on the same database. Its ids must differ from
    // the first's, as real ones do: a sequential `run_1` would collide with the failed run itself,
    // and that conflict, not the retry's, would reach the loser before the winner's run is stored.
    const others = sequentialIds();
    const b = billing(sameDatabase(storage), new FakeClock(), (prefix) => `${others(prefix)}_b`);
    b.state.down = false;
    const results = await Promise.allSettled([a.engine.retry(failed.id), b.engine.retry(failed.id)]);
    const won = results.filter((r) => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const retryId = (won[0] as PromiseFulfilledResult<string>).value;
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'conflict', details: { retryId } } });
    expect(await a.engine.list({ limit: 10 })).toHaveLength(2);
  });
});


describe('after a restart', () => {
  it('a run failed by another process is listed here and retried from its failed step', async () => {
    const path = join(area.dir, 'restarted.sqlite');
    const child = spawnFixture('dead-letter-worker', [path]);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    const [, failedId] = /failed (\S+)/.exec(out) ?? [];
    expect(failedId).toBeDefined();

    const engine = new Engine({ storage: new SqliteStorage({ path }) });
    cleanups.push(() => engine.close());
    engine.registerNode({ type: 'count', execute: () => ({ status: 'completed', output: 'again' }) });
    engine.registerNode({ type: 'charge', execute: () => ({ status: 'completed', output: 'charged' }) });
    expect((await engine.deadLetters.list()).items).toMatchObject([{ execution_id: failedId, step: { path: 'charge' }, error_message: expect.stringMatching(/payment provider down/) }]);
    const retryId = await engine.retry(failedId!, { actor: 'ops' });
    const done = await engine.wait(retryId);
    expect(done.status).toBe('completed');
    // The other process's committed output is kept, not recomputed here.
    expect(done.execution_trace.find((s) => s.node_id === 'prepare')?.output_data).toMatchObject({ counted: true, key: `${failedId}:prepare:1` });
    expect((await engine.audit.list({ subject: failedId! })).events.map((e) => [e.action, e.actor])).toEqual([['run.retried', 'ops'], ['run.started', 'cron']]);
  }, 60_000);
});

describe('over HTTP', () => {
  it('lists dead letters, retries and discards them, and answers the audit trail, with the authorize principal as actor', async () => {
    const { engine, state } = billing(new MemoryStorage());
    const app = express();
    let hidden = '';
    app.use('/api', createRouter(engine, { authorize: (req, _action, resource) => (req.get('authorization') === 'Bearer alice' && resource.id !== hidden ? { principal: 'alice' } : false) }));
    const call = jsonCaller(`${await serveOnLoopback(app, cleanups)}/api`);
    const auth = { authorization: 'Bearer alice' };
    const one = await engine.run(pipeline, {});
    const two = await engine.run(pipeline, {});

    expect((await call('GET', '/dead-letters', undefined, { authorization: 'Bearer bob' })).status).toBe(403);
    const listed = await call('GET', '/dead-letters?limit=1', undefined, auth);
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject({ data: [{ execution_id: two.id, step: { path: 'charge' } }], next_cursor: expect.any(String) });
    const rest = await call('GET', `/dead-letters?limit=1&cursor=${(listed.body as { next_cursor: string }).next_cursor}`, undefined, auth);
    expect(rest.body).toMatchObject({ data: [{ execution_id: one.id }] });
    // A run the caller may not read is left out of the list.
    hidden = two.id;
    expect((await call('GET', '/dead-letters', undefined, auth)).body).toMatchObject({ data: [{ execution_id: one.id }] });
    hidden = '';

    state.down = false;
    const retried = await call('POST', `/workflow-executions/${one.id}/retry`, { from_step: 'charge' }, auth);
    expect(retried.status).toBe(202);
    const retryId = (retried.body as { execution_id: string }).execution_id;
    expect((await engine.wait(retryId)).status).toBe('completed');
    expect((await call('POST', `/workflow-executions/${one.id}/retry`, {}, auth)).status).toBe(409);
    expect((await call('POST', `/dead-letters/${two.id}/discard`, { reason: 'duplicate' }, auth)).status).toBe(204);
    expect((await call('GET', '/dead-letters', undefined, auth)).body).toMatchObject({ data: [], next_cursor: null });

    const audit = await call('GET', '/audit?subject_type=run&actor=alice', undefined, auth);
    expect(audit.body).toMatchObject({
      data: [
        { action: 'run.discarded', subject_id: two.id, actor: 'alice', detail: { reason: 'duplicate' }, at: expect.stringMatching(/^\d{4}-/) },
        { action: 'run.retried', subject_id: one.id, actor: 'alice', detail: { retry_id: retryId, from_step: 'charge' } },
      ],
    });
    expect((await call('GET', '/audit?since=junk', undefined, auth)).status).toBe(400);
  });
});
