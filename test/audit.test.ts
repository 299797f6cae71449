/**
 * The audit trail (issue 19): who created, changed, rolled back, executed, approved, rejected,
 * paused, resumed, cancelled or deleted what, and when, with the versions a definition change went
 * between; queryable by subject, actor and time; a refused change records nothing; deleting a run
 * keeps its events. On memory, a SQLite file and PostgreSQL, and over real HTTP.
 */
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, workflow, sequentialIds, type AuditEvent, type Storage } from '../src/index.js';
import { createRouter } from '../src/express/index.js';
import { FakeClock } from '../src/testing/index.js';
import { scratch } from './scratch.js';
import { scratchStorages } from './scratch-storages.js';
import { serveOnLoopback } from './helpers.js';
import { jsonCaller } from './http-client.js';

const area = scratch('audit');
const { kinds: STORAGES } = scratchStorages(area);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});


function makeEngine(storage: Storage) {
  const clock = new FakeClock();
  const engine = new Engine({ storage, clock, ids: sequentialIds() });
  engine.registerNode({ type: 'hang', execute: () => new Promise(() => undefined) });
  engine.registerNode({ type: 'noop', execute: () => ({ status: 'completed', output: 1 }) });
  cleanups.push(() => engine.close());
  return { engine, clock };
}

const brief = (events: readonly AuditEvent[]) => events.map((e) => [e.action, e.actor, e.subject_id]);

describe.each(STORAGES)('audit trail on %s', (_name, makeStorage) => {
  it('records workflow writes with the versions they went between, by actor, newest first', async () => {
    const { engine, clock } = makeEngine(makeStorage());
    const def = workflow('triage').node('a', 'noop').build();
    const t0 = clock.now();
    await engine.workflows.create(def, { actor: 'alice' });
    await clock.advance(10);
    await engine.workflows.update('triage', { ...def, description: 'v2' }, { actor: 'bob' });
    await clock.advance(10);
    await engine.workflows.rollback('triage', 1, { actor: 'alice' });
    await clock.advance(10);
    await engine.workflows.delete('triage', { actor: 'carol' });

    const { events } = await engine.audit.list({ subject: 'triage' });
    expect(events.map((e) => [e.action, e.actor, e.before_version, e.after_version, e.at - t0])).toEqual([
      ['workflow.deleted', 'carol', undefined, undefined, 30],
      ['workflow.rolled_back', 'alice', 2, 3, 20],
      ['workflow.updated', 'bob', 1, 2, 10],
      ['workflow.created', 'alice', undefined, 1, 0],
    ]);
    expect(brief((await engine.audit.list({ actor: 'alice' })).events)).toEqual([['workflow.rolled_back', 'alice', 'triage'], ['workflow.created', 'alice', 'triage']]);
    expect(brief((await engine.audit.list({ since: t0 + 10, until: t0 + 30 })).events).map((e) => e[0])).toEqual(['workflow.rolled_back', 'workflow.updated']);
    // A refused change records nothing.
    await expect(engine.workflows.update('triage', def, { actor: 'mallory' })).rejects.toMatchObject({ code: 'not_found' });
    expect((await engine.audit.list({ actor: 'mallory' })).events).toEqual([]);
  });

  it('records run starts, approvals, rejections, pause, resume, cancel and deletion; the events outlive the run', async () => {
    const engineClock = makeEngine(makeStorage());
    const { engine } = engineClock;
    const gated = workflow('gated').approval('gate').node('a', 'noop');
    const approved = await engine.start(gated, {}, { actor: 'alice' });
    await engine.wait(approved, { until: 'paused' });
    await engineClock.clock.advance(1);
    await engine.approve(approved, 'gate', { ok: true }, { actor: 'bob' });
    expect((await engine.wait(approved)).status).toBe('completed');
    const rejected = await engine.start(gated, {}, { actor: 'alice' });
    await engine.wait(rejected, { until: 'paused' });
    await engine.reject(rejected, 'gate', 'no budget', { actor: 'carol' });
    await engine.wait(rejected);

    // Events of one millisecond are ordered by id: the clock moves between these, so they read in order.
    const { clock } = engineClock;
    const hung = await engine.start(workflow('hung').node('h', 'hang'), {}, { actor: 'alice' });
    await clock.advance(1);
    await engine.pause(hung, { actor: 'bob' });
    await clock.advance(1);
    await engine.resume(hung, { actor: 'bob' });
    await clock.advance(1);
    await engine.cancel(hung, 'enough', { actor: 'carol' });
    await expect(engine.cancel(hung, 'again', { actor: 'mallory' })).rejects.toMatchObject({ code: 'illegal_state' });
    await clock.advance(1);
    await engine.deleteRun(hung, { actor: 'dave' });

    expect(brief((await engine.audit.list({ subject: approved })).events)).toEqual([['run.approved', 'bob', approved], ['run.started', 'alice', approved]]);
    expect((await engine.audit.list({ subject: rejected, actor: 'carol' })).events).toMatchObject([{ action: 'run.rejected', detail: { step: 'gate', reason: 'no budget' } }]);
    expect(await engine.get(hung)).toBeUndefined();
    expect(brief((await engine.audit.list({ subject: hung })).events)).toEqual([
      ['run.deleted', 'dave', hung],
      ['run.cancelled', 'carol', hung],
      ['run.resumed', 'bob', hung],
      ['run.paused', 'bob', hung],
      ['run.started', 'alice', hung],
    ]);
    expect((await engine.audit.list({ actor: 'mallory' })).events).toEqual([]);
    // Runs started without an actor are the system's; the workflows they stored on the way too.
    expect((await engine.audit.list({ subjectType: 'workflow' })).events.map((e) => [e.action, e.actor, e.subject_id])).toEqual([
      ['workflow.created', 'system', 'hung'],
      ['workflow.created', 'system', 'gated'],
    ]);
  });

  it('pages with a cursor and refuses a bad limit', async () => {
    const { engine, clock } = makeEngine(makeStorage());
    for (let i = 0; i < 5; i++) {
      await engine.workflows.create(workflow(`wf${i}`).node('a', 'noop'), { actor: 'alice' });
      await clock.advance(1);
    }
    const first = await engine.audit.list({ limit: 3 });
    const second = await engine.audit.list({ limit: 3, cursor: first.nextCursor! });
    expect([...first.events, ...second.events].map((e) => e.subject_id)).toEqual(['wf4', 'wf3', 'wf2', 'wf1', 'wf0']);
    expect(second.nextCursor).toBeUndefined();
    await expect(engine.audit.list({ limit: 0 })).rejects.toMatchObject({ code: 'invalid_options' });
  });
});

describe('audit trail over HTTP', () => {
  it('records the authorize principal, or the actor(req) option, as the actor of each change', async () => {
    const { engine } = makeEngine(new MemoryStorage());
    const app = express();
    app.use('/p', createRouter(engine, { authorize: (req) => ({ principal: req.get('x-user') ?? 'anonymous' }) }));
    app.use('/a', createRouter(engine, { allowUnauthenticated: true, actor: (req) => req.get('x-user') }));
    const base = await serveOnLoopback(app, cleanups);
    const p = jsonCaller(`${base}/p`);
    const a = jsonCaller(`${base}/a`);
    const def = workflow('hello').node('x', 'noop').build();
    expect((await p('POST', '/workflows', def, { 'x-user': 'alice' })).status).toBe(201);
    expect((await a('PUT', '/workflows/hello', { ...def, description: 'v2' }, { 'x-user': 'bob' })).status).toBe(200);
    const started = await p('POST', '/workflows/hello/execute', {}, { 'x-user': 'carol' });
    expect(started.status).toBe(202);
    const id = (started.body as { execution_id: string }).execution_id;
    await engine.wait(id);
    const trail = await p('GET', '/audit', undefined, { 'x-user': 'alice' });
    expect((trail.body as { data: AuditEvent[] }).data.map((e) => [e.action, e.actor, e.subject_id])).toEqual([
      ['run.started', 'carol', id],
      ['workflow.updated', 'bob', 'hello'],
      ['workflow.created', 'alice', 'hello'],
    ]);
  });
});
