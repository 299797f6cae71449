/**
 * Issue 20, first slice, in one process: engine roles (a submit-only engine never executes a
 * step; a worker claims what it did not start, up to its capacity) and the in-process wake-ups
 * of engines sharing one storage object. The multi-process fleet on PostgreSQL is fleet-postgres.test.ts.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, ScriptedProvider, SqliteStorage, isTrellisError, workflow, type Storage } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { until } from './helpers.js';
import { scratch } from './scratch.js';

const { dir } = scratch('fleet_roles');

const review = () =>
  workflow('review', { variables: { n: 'number' } })
    .prompt('draft', { model: 'mock:m', template: 'draft {{input.n}}' })
    .approval('ok')
    .prompt('final', { model: 'mock:m', template: 'final {{draft.text}}' })
    .end({ text: 'final.text' });

/** A submit engine and a worker sharing `storage`; the submit engine's provider must never be called. */
function fleet(storage: Storage, worker: { maxConcurrentRuns?: number; storage?: Storage } = {}) {
  const clock = new FakeClock();
  const refused = new ScriptedProvider(() => {
    throw new Error('a submit-only engine called a provider');
  });
  const submit = new Engine({ storage, providers: { mock: refused }, clock, role: 'submit', instanceId: 'submit' });
  const calls: string[] = [];
  const mock = new ScriptedProvider((request) => (calls.push(request.prompt), `${request.prompt}!`));
  const work = new Engine({ storage: worker.storage ?? storage, providers: { mock }, clock, role: 'worker', instanceId: 'worker', ...(worker.maxConcurrentRuns ? { maxConcurrentRuns: worker.maxConcurrentRuns } : {}) });
  return { clock, submit, work, calls, refused };
}

/** A provider whose calls each wait until the test releases them (`held.shift()!()`), answering the prompt with a `!`. */
function heldCalls() {
  const held: (() => void)[] = [];
  const mock = new ScriptedProvider(async (request) => {
    await new Promise<void>((resolve) => held.push(resolve));
    return `${request.prompt}!`;
  });
  return { held, mock };
}

const waitingAt = async (engine: Engine, id: string, path: string) => (await engine.get(id))?.execution_trace.some((s) => s.path === path && s.status === 'waiting') ?? false;

/**
 * A `review` run a worker drove to its approval and parked (unowned, out of memory), with that
 * worker gone: nothing applies what a submit engine stores for the run until another worker starts.
 */
async function parkedWithNoWorker(storage: Storage, n: number): Promise<{ submit: Engine; id: string }> {
  const { submit, work } = fleet(storage);
  await work.startBackground();
  const id = await submit.start(review(), { n });
  await until(async () => (await waitingAt(submit, id, 'ok')) && (await storage.getRun(id))?.owner === undefined);
  await work.close();
  return { submit, id };
}

describe('engine roles', () => {
  it('validates role and maxConcurrentRuns', () => {
    const bad = (options: object) => {
      try {
        new Engine({ storage: new MemoryStorage(), ...options });
      } catch (error) {
        return isTrellisError(error) ? `${error.code}: ${error.message}` : String(error);
      }
      return 'accepted';
    };
    expect(bad({ role: 'api' })).toBe(`invalid_options: Engine option "role" must be one of 'all', 'submit', 'worker', got "api"`);
    expect(bad({ maxConcurrentRuns: 1.5 })).toBe('invalid_options: Engine option "maxConcurrentRuns" must be a whole number, got 1.5');
    expect(bad({ maxConcurrentRuns: 0 })).toBe('invalid_options: Engine option "maxConcurrentRuns" must be a positive number, got 0');
    expect(bad({ role: 'worker', maxConcurrentRuns: 3 })).toBe('accepted');
  });

  it('a worker needs a storage that can claim ready runs', async () => {
    const storage = new MemoryStorage();
    const older = new Proxy(storage, {
      get: (target, key) => {
        const value: unknown = key === 'claimReadyRuns' ? undefined : Reflect.get(target, key);
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    const work = new Engine({ storage: older, role: 'worker' });
    await expect(work.startBackground()).rejects.toThrow(`Engine option "role" 'worker' needs a storage with claimReadyRuns`);
    await work.close();
  });

  it('a submit-only engine stores runs that a worker sharing the storage takes at once, and approves through the inbox', async () => {
    const storage = new MemoryStorage();
    const { submit, work, calls, refused } = fleet(storage);
    await work.startBackground(); // its loop polls on the fake clock, which never moves here: wake-ups do the work
    const started: string[] = [];
    submit.events.on('execution:started', ({ executionId }) => started.push(executionId));
    const id = await submit.start(review(), { n: 1 });
    const stored = await storage.getRun(id);
    expect(stored?.status).toBe('running');
    await until(() => waitingAt(submit, id, 'ok'));
    // The worker drove it to the approval, then parked it (it only waits): unowned, not held in memory.
    await until(async () => work.metrics().runtime.active_runs === 0 && (await storage.getRun(id))?.owner === undefined);
    await submit.approve(id, 'ok', { note: 'fine' });
    const done = await submit.wait(id, { pollMs: 5 });
    expect(done.status).toBe('completed');
    expect(done.output_data).toEqual({ text: 'final draft 1!!' });
    expect(calls).toEqual(['draft 1', 'final draft 1!']);
    expect(refused.calls).toHaveLength(0);
    expect(started).toEqual([id]);
    await Promise.all([submit.close(), work.close()]);
  });

  it('two answers to one approval stored before the worker applies either: the first counts, the second is dropped', async () => {
    const storage = new MemoryStorage();
    const { submit, work, calls } = fleet(storage);
    await work.startBackground();
    const id = await submit.start(review(), { n: 2 });
    await until(async () => (await waitingAt(submit, id, 'ok')) && (await storage.getRun(id))?.owner === undefined);
    // An API process answering twice (a double click, two reviewers): both decisions reach the inbox.
    await Promise.all([submit.approve(id, 'ok', { by: 'ana' }), submit.reject(id, 'ok', 'too late')]);
    const done = await submit.wait(id, { pollMs: 5 });
    expect(done.status).toBe('completed');
    expect(done.output_data).toEqual({ text: 'final draft 2!!' });
    expect(calls).toEqual(['draft 2', 'final draft 2!']);
    expect(done.execution_trace.find((s) => s.path === 'ok')?.output_data).toEqual({ approved: true, data: { by: 'ana' } });
    expect(await storage.findDeliveredEvents([id], 10)).toEqual([]);
    await Promise.all([submit.close(), work.close()]);
  });

  it('a submit-only engine refuses what needs a driving engine, and recovers nothing', async () => {
    const storage = new MemoryStorage();
    const { submit, work } = fleet(storage);
    const id = await submit.start(review(), { n: 2 });
    const refusal = async (call: Promise<unknown>) => call.then(() => 'done', (error: unknown) => (isTrellisError(error) ? error.code : String(error)));
    expect(await refusal(submit.step(id))).toBe('illegal_state');
    expect(await submit.recover()).toEqual([]);
    // Nothing waits at `ok` yet: the decision is refused, not stored for later.
    expect(await refusal(submit.approve(id, 'ok'))).toBe('illegal_state');
    expect((await storage.getRun(id))?.owner).toBeUndefined();
    expect(await storage.getSteps(id)).toEqual([]);
    await Promise.all([submit.close(), work.close()]);
  });

  it('a failed run retried on a submit-only engine is driven by a worker, from the failed step on', async () => {
    const storage = new MemoryStorage();
    const { submit } = fleet(storage);
    const calls: string[] = [];
    let broken = true;
    const mock = new ScriptedProvider((request) => {
      calls.push(request.prompt);
      if (request.prompt.startsWith('final') && broken) throw new Error('the model endpoint is misconfigured');
      return `${request.prompt}!`;
    });
    const work = new Engine({ storage, providers: { mock }, role: 'worker', instanceId: 'worker' });
    await work.startBackground();
    const chain = workflow('chain', { variables: { n: 'number' } })
      .prompt('draft', { model: 'mock:m', template: 'draft {{input.n}}' })
      .prompt('final', { model: 'mock:m', template: 'final {{draft.text}}' })
      .end({ text: 'final.text' });
    const failedId = await submit.start(chain, { n: 5 });
    expect((await submit.wait(failedId)).status).toBe('failed');
    expect(calls).toEqual(['draft 5', 'final draft 5!']);

    broken = false;
    const retryId = await submit.retry(failedId, { actor: 'ops' });
    const retried = await submit.wait(retryId);
    expect(retried).toMatchObject({ status: 'completed', output_data: { text: 'final draft 5!!' } });
    expect((await storage.getRun(retryId))?.retry_of).toBe(failedId);
    // The committed draft was kept: only the failed step was called again, by the worker.
    expect(calls).toEqual(['draft 5', 'final draft 5!', 'final draft 5!']);
    await Promise.all([submit.close(), work.close()]);
  });

  it('pause, resume and cancel asked where the run is not driven reach its driver through the run inbox', async () => {
    const storage = new MemoryStorage();
    const clock = new FakeClock();
    const { held, mock } = heldCalls();
    const submit = new Engine({ storage, providers: { mock: new ScriptedProvider(['unused']) }, clock, role: 'submit', instanceId: 'submit' });
    const work = new Engine({ storage, providers: { mock }, clock, role: 'worker', instanceId: 'worker' });
    // Another engine that drives runs, but not this one: it used to refuse with `conflict`.
    const other = new Engine({ storage, providers: { mock }, clock, instanceId: 'other' });
    await work.startBackground();
    const chain = workflow('chain', { variables: { n: 'number' } })
      .prompt('a', { model: 'mock:m', template: 'a{{input.n}}' })
      .prompt('b', { model: 'mock:m', template: '{{a.text}}b' })
      .end({ text: 'b.text' });
    const status = async (id: string) => (await storage.getRun(id))?.status;

    const id = await submit.start(chain, { n: 1 });
    await until(() => held.length === 1);
    await submit.pause(id, { actor: 'ops' });
    await until(async () => (await status(id)) === 'paused');
    held.shift()!(); // `a` answers while paused: it is recorded, and `b` does not start
    await until(async () => (await storage.getStep(id, 'a'))?.status === 'completed');
    expect(held).toHaveLength(0);
    await other.resume(id);
    await until(() => held.length === 1);
    held.shift()!();
    expect((await submit.wait(id, { pollMs: 5 })).output_data).toEqual({ text: 'a1!b!' });

    const cancelled = await submit.start(chain, { n: 2 });
    await until(() => held.length === 1);
    await other.cancel(cancelled, 'not needed', { actor: 'ops' });
    await until(async () => (await status(cancelled)) === 'cancelled');
    expect((await storage.getRun(cancelled))?.error_message).toBe('not needed');
    held.shift()!();
    // Asked again once it ended: refused, as anywhere.
    await expect(submit.cancel(cancelled)).rejects.toMatchObject({ code: 'illegal_state' });
    const audit = await storage.listAudit({ limit: 100 });
    expect(audit.filter((e) => e.action === 'run.paused' || e.action === 'run.cancelled').map((e) => [e.action, e.actor])).toEqual([
      ['run.paused', 'ops'],
      ['run.cancelled', 'ops'],
    ]);
    expect(await storage.findDeliveredEvents([id, cancelled], 10)).toEqual([]);
    await Promise.all([submit.close(), work.close(), other.close()]);
  });

  it('an approval asked of an engine that drives runs, but not this one, reaches its driver through the inbox', async () => {
    const storage = new MemoryStorage();
    const clock = new FakeClock();
    const { held, mock } = heldCalls();
    const work = new Engine({ storage, providers: { mock }, clock, role: 'worker', instanceId: 'worker' });
    const other = new Engine({ storage, providers: { mock }, clock, instanceId: 'other' });
    await work.startBackground();
    // One branch waits for a person while the other's call is in flight: the worker holds the run.
    const both = workflow('both')
      .parallel({ ask: (b) => b.approval('ok'), busy: (b) => b.prompt('slow', { model: 'mock:m', template: 'slow' }) }, { id: 'fan' })
      .end({ text: 'fan_merge' });
    const id = await work.start(both, {});
    await until(async () => held.length === 1 && (await waitingAt(work, id, 'ok')));
    expect((await storage.getRun(id))?.owner).toBe('worker');
    await other.approve(id, 'ok'); // used to refuse with `conflict`
    await until(async () => (await storage.getStep(id, 'ok'))?.status === 'completed');
    held.shift()!();
    expect((await work.wait(id)).status).toBe('completed');
    await Promise.all([work.close(), other.close()]);
  });

  it('resume asked where the run is not driven is refused for a run paused only for approvals, as where it is', async () => {
    const storage = new MemoryStorage();
    const { submit, work } = fleet(storage);
    await work.startBackground();
    const id = await submit.start(review(), { n: 3 });
    await until(() => waitingAt(submit, id, 'ok'));
    await expect(submit.resume(id)).rejects.toMatchObject({ code: 'illegal_state', message: expect.stringContaining('waits for approval at ok: approve or reject it instead') });
    expect(await storage.findDeliveredEvents([id], 10)).toEqual([]);
    await Promise.all([submit.close(), work.close()]);
  });

  it('a queued run (pending) that no process drives is cancelled in storage by a submit-only engine', async () => {
    const storage = new MemoryStorage();
    const { submit, work } = fleet(storage);
    const limited = workflow('limited', { variables: { n: 'number' }, settings: { max_concurrent_runs: 1 } })
      .prompt('draft', { model: 'mock:m', template: 'draft {{input.n}}' })
      .approval('ok')
      .end({ text: 'draft.text' });
    const first = await submit.start(limited, { n: 1 });
    const queued = await submit.start(limited, { n: 2 });
    expect((await storage.getRun(queued))?.status).toBe('pending');
    await submit.cancel(queued, 'changed my mind');
    expect(await storage.getRun(queued)).toMatchObject({ status: 'cancelled', error_message: 'changed my mind' });
    expect((await storage.getRun(first))?.status).not.toBe('cancelled');
    await Promise.all([submit.close(), work.close()]);
  });

  it('the approvals list marks an answer stored for the run\'s driver until the driver applies it', async () => {
    const storage = new MemoryStorage();
    const { submit, id } = await parkedWithNoWorker(storage, 5);
    expect((await submit.approvals.list()).map((a) => [a.execution_id, a.path, a.answered])).toEqual([[id, 'ok', undefined]]);
    expect(await submit.approve(id, 'ok')).toBe('requested');
    expect((await submit.approvals.list()).map((a) => [a.execution_id, a.path, a.answered])).toEqual([[id, 'ok', true]]);

    const { work: next } = fleet(storage);
    await next.startBackground();
    expect((await submit.wait(id, { pollMs: 5 })).status).toBe('completed');
    expect(await submit.approvals.list()).toEqual([]);
    await Promise.all([submit.close(), next.close()]);
  });

  it('a forced delete of a run no process drives stops waiting at its signal, and the stored cancel applies once a worker takes the run', async () => {
    const storage = new MemoryStorage();
    const { submit, id } = await parkedWithNoWorker(storage, 4);

    const stop = new AbortController();
    const deleting = submit.deleteRun(id, { force: true, signal: stop.signal });
    await until(async () => (await storage.findDeliveredEvents([id], 10)).length === 1); // the cancel request is stored
    stop.abort(new Error('gave up'));
    await expect(deleting).rejects.toThrow('gave up');
    expect((await storage.getRun(id))?.status).toBe('paused');

    const { work: next } = fleet(storage);
    await next.startBackground();
    await until(async () => (await storage.getRun(id))?.status === 'cancelled');
    await submit.deleteRun(id);
    expect(await storage.getRun(id)).toBeUndefined();
    await Promise.all([submit.close(), next.close()]);
  });

  it('a worker drives no more than maxConcurrentRuns at once, and takes more as runs end', async () => {
    const storage = new MemoryStorage();
    const clock = new FakeClock();
    const submit = new Engine({ storage, providers: { mock: new ScriptedProvider(['unused']) }, clock, role: 'submit', instanceId: 'submit' });
    // Each call is held until the test releases it: the runs it belongs to are being driven.
    const held: (() => void)[] = [];
    let inFlight = 0;
    let most = 0;
    const mock = new ScriptedProvider(async () => {
      most = Math.max(most, ++inFlight);
      await new Promise<void>((resolve) => held.push(resolve));
      inFlight--;
      return 'done';
    });
    const work = new Engine({ storage, providers: { mock }, clock, role: 'worker', instanceId: 'worker', maxConcurrentRuns: 2 });
    await work.startBackground();
    const busy = workflow('busy', { variables: { n: 'number' } }).prompt('draft', { model: 'mock:m', template: 'draft {{input.n}}' }).end({ text: 'draft.text' });
    for (let n = 0; n < 5; n++) await submit.start(busy, { n });
    await until(() => held.length === 2);
    const owned = async () => (await storage.listRuns({})).filter((r) => r.owner === 'worker' && r.status !== 'completed').length;
    await clock.advance(1000); // a poll: still full, it claims nothing
    expect(await owned()).toBe(2);
    while ((await storage.listRuns({ status: 'completed' })).length < 5) {
      held.shift()?.();
      await clock.advance(1000);
      expect(await owned()).toBeLessThanOrEqual(2);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(most).toBe(2);
    await Promise.all([submit.close(), work.close()]);
  });

  it('runs waiting on a person are parked and do not count against maxConcurrentRuns', async () => {
    const storage = new MemoryStorage();
    const { submit, work, clock } = fleet(storage, { maxConcurrentRuns: 2 });
    await work.startBackground();
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) ids.push(await submit.start(review(), { n }));
    await until(async () => {
      await clock.advance(1000);
      return (await Promise.all(ids.map((id) => waitingAt(submit, id, 'ok')))).every(Boolean);
    });
    for (const id of ids) await submit.approve(id, 'ok');
    await until(async () => {
      await clock.advance(1000);
      return (await storage.listRuns({ status: 'completed' })).length === 5;
    });
    await Promise.all([submit.close(), work.close()]);
  });

  it('an event emitted on a submit-only engine reaches the run a worker drives', async () => {
    const storage = new MemoryStorage();
    const { submit, work } = fleet(storage);
    await work.startBackground();
    const id = await submit.start(workflow('ev').waitForEvent('paid', { event: 'invoice.paid', filter: 'event.invoice == input.invoice' }).end({ amount: 'paid.payload.amount' }), { invoice: 'A' });
    await until(() => waitingAt(submit, id, 'paid'));
    expect(await submit.emit('invoice.paid', { invoice: 'B', amount: 1 })).toEqual([id]); // delivered, refused by the filter on the worker
    expect(await submit.emit('invoice.paid', { invoice: 'A', amount: 2 })).toEqual([id]);
    expect((await submit.wait(id, { pollMs: 5 })).output_data).toEqual({ amount: 2 });
    await Promise.all([submit.close(), work.close()]);
  });

  it('on two SQLite storage objects (as two processes would have), the worker finds submitted runs on its poll', async () => {
    const path = join(dir, 'fleet.sqlite');
    const { submit, work, clock } = fleet(new SqliteStorage({ path }), { storage: new SqliteStorage({ path }) });
    await work.startBackground();
    const id = await submit.start(review(), { n: 3 });
    await until(async () => {
      await clock.advance(1000);
      return waitingAt(submit, id, 'ok');
    });
    await submit.approve(id, 'ok');
    await until(async () => {
      await clock.advance(1000);
      return (await submit.get(id))?.status === 'completed';
    });
    expect((await submit.get(id))?.output_data).toEqual({ text: 'final draft 3!!' });
    await Promise.all([submit.close(), work.close()]);
  });
});
