/**
 * Debug mode (issue 21, engine part): breakpoints pause a run before a step starts (no side effect
 * of it), `engine.step` runs exactly one held step and pauses again, `engine.resume` runs on to the
 * next breakpoint; breakpoints are stored with the run, so a process that recovers it stops there
 * too; `engine.compareRuns` lines a fork up beside its original. On memory, a SQLite file and PostgreSQL.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Engine, ScriptedProvider, workflow, type Storage, type WorkflowValidationError } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { scratch } from './scratch.js';
import { scratchStorages } from './scratch-storages.js';

const area = scratch('debug');
const { kinds: STORAGES, sameDatabase } = scratchStorages(area);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** An engine whose `mark` node records each path it executes in `ran` (its side effect). */
function makeEngine(storage: Storage, options: { hang?: boolean; clock?: FakeClock; instanceId?: string; role?: 'submit' } = {}) {
  const clock = options.clock ?? new FakeClock();
  const ran: string[] = [];
  const engine = new Engine({ storage, clock, providers: { mock: new ScriptedProvider((r) => `answer to ${r.prompt}`) }, ...(options.instanceId === undefined ? {} : { instanceId: options.instanceId }), ...(options.role === undefined ? {} : { role: options.role }) });
  engine.registerNode({
    type: 'mark',
    execute: (ctx) => {
      if (options.hang && ctx.path === 'b') return new Promise(() => undefined);
      ran.push(ctx.path);
      return { status: 'completed', output: ctx.path };
    },
  });
  cleanups.push(() => engine.close());
  return { engine, ran, clock };
}

const line = workflow('line').node('a', 'mark').node('b', 'mark').node('c', 'mark');
const looped = workflow('looped').node('draft', 'mark').repeat(3, (b) => b.node('critique', 'mark'), { id: 'review_loop' }).node('publish', 'mark');
const forked = workflow('forked').node('a', 'mark').parallel({ x: (b) => b.node('px', 'mark'), y: (b) => b.node('py', 'mark') }, { id: 'fan' }).node('z', 'mark');

describe.each(STORAGES)('debug mode on %s', (_name, makeStorage) => {
  it('pauses before a breakpoint with nothing of that step done, and resume runs on to the end', async () => {
    const { engine, ran } = makeEngine(makeStorage());
    const id = await engine.start(line, {}, { breakpoints: ['b'] });
    const paused = await engine.wait(id, { until: 'paused' });
    expect(paused.status).toBe('paused');
    expect(paused.paused_before).toEqual(['b']);
    expect(paused.breakpoints).toEqual(['b']);
    expect(ran).toEqual(['a']);
    expect(paused.execution_trace.find((s) => s.path === 'b')?.status).toBe('pending');
    // As storage has it, read by anyone.
    expect((await engine.get(id))?.paused_before).toEqual(['b']);
    await engine.resume(id, { actor: 'dev' });
    const done = await engine.wait(id);
    expect(done.status).toBe('completed');
    expect(done.paused_before).toBeUndefined();
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('can stop before the very first step: the run is stored paused with nothing run', async () => {
    const { engine, ran } = makeEngine(makeStorage());
    const id = await engine.start(line, {}, { breakpoints: ['start'] });
    await engine.wait(id, { until: 'paused' });
    const stored = (await engine.get(id))!;
    expect(stored).toMatchObject({ status: 'paused', paused_before: ['start'] });
    expect(stored.execution_trace.map((s) => [s.path, s.status])).toEqual([['start', 'pending']]);
    expect(ran).toEqual([]);
    await engine.resume(id);
    expect((await engine.wait(id)).status).toBe('completed');
    expect(ran).toEqual(['a', 'b', 'c']);
  });

  it('announces the breakpoint in execution:paused', async () => {
    const { engine } = makeEngine(makeStorage());
    const paused = engine.events.next('execution:paused');
    const id = await engine.start(line, {}, { breakpoints: ['c'] });
    expect(await paused).toMatchObject({ executionId: id, reason: 'breakpoint', path: 'c', breakpoint: 'c' });
  });

  it('steps one step at a time, pausing before each next step, and audits each step', async () => {
    const { engine, ran } = makeEngine(makeStorage());
    const id = await engine.start(line, {}, { breakpoints: ['a'] });
    expect((await engine.wait(id, { until: 'paused' })).paused_before).toEqual(['a']);
    const afterA = await engine.step(id, { actor: 'dev' });
    expect(ran).toEqual(['a']);
    expect(afterA.status).toBe('paused');
    expect(afterA.paused_before).toEqual(['b']);
    expect((await engine.get(id))?.paused_before).toEqual(['b']);
    await engine.step(id, { actor: 'dev' });
    expect(ran).toEqual(['a', 'b']);
    const afterC = await engine.step(id, { actor: 'dev' });
    expect(ran).toEqual(['a', 'b', 'c']);
    // The end step is held too; stepping it finishes the run.
    expect(afterC.paused_before).toEqual(['end']);
    expect((await engine.step(id)).status).toBe('completed');
    await expect(engine.step(id)).rejects.toMatchObject({ code: 'illegal_state' });
    const { events } = await engine.audit.list({ subject: id });
    expect(events.filter((e) => e.action === 'run.stepped').map((e) => [e.actor, e.detail])).toEqual([
      ['system', { step: 'end' }],
      ['dev', { step: 'c' }],
      ['dev', { step: 'b' }],
      ['dev', { step: 'a' }],
    ]);
  });

  it('stops at an indexed loop path exactly, and at a plain node id in every iteration', async () => {
    const { engine, ran } = makeEngine(makeStorage());
    const exact = await engine.start(looped, {}, { breakpoints: ['review_loop[1].critique'] });
    const paused = await engine.wait(exact, { until: 'paused' });
    expect(paused.paused_before).toEqual(['review_loop[1].critique']);
    expect(ran).toEqual(['draft', 'review_loop[0].critique']);
    await engine.resume(exact);
    expect((await engine.wait(exact)).status).toBe('completed');

    ran.length = 0;
    const every = await engine.start(looped, {}, { breakpoints: ['critique'] });
    const stops: string[] = [];
    for (;;) {
      const run = await engine.wait(every, { until: 'paused' });
      if (run.status !== 'paused') break;
      stops.push(...(run.paused_before ?? []));
      await engine.resume(every);
    }
    expect(stops).toEqual(['review_loop[0].critique', 'review_loop[1].critique', 'review_loop[2].critique']);
    expect(ran).toEqual(['draft', 'review_loop[0].critique', 'review_loop[1].critique', 'review_loop[2].critique', 'publish']);
  });

  it('runs one of two steps ready together per step() call: concurrent calls never run two', async () => {
    const { engine, ran } = makeEngine(makeStorage());
    const id = await engine.start(forked, {}, { breakpoints: ['px', 'py'] });
    const paused = await engine.wait(id, { until: 'paused' });
    expect([...(paused.paused_before ?? [])].sort()).toEqual(['px', 'py']);
    const results = await Promise.allSettled([engine.step(id), engine.step(id)]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'illegal_state' } });
    expect(ran).toEqual(['a', paused.paused_before![0]]);
    // A named held step runs next.
    const other = paused.paused_before![1]!;
    await engine.step(id, { path: other });
    expect(ran).toEqual(['a', paused.paused_before![0], other]);
    await expect(engine.step(id, { path: 'nope' })).rejects.toMatchObject({ code: 'illegal_state' });
    await engine.resume(id);
    expect((await engine.wait(id)).status).toBe('completed');
  });

  it('a step() whose step is still executing when the engine closes resolves with the run as it was left', async () => {
    const { engine } = makeEngine(makeStorage(), { hang: true });
    const id = await engine.start(line, {}, { breakpoints: ['b'] });
    await engine.wait(id, { until: 'paused' });
    const started = engine.events.next('node:started', (e) => e.path === 'b');
    const stepping = engine.step(id);
    await started;
    await expect(engine.step(id)).rejects.toMatchObject({ code: 'illegal_state' }); // b still executes
    await engine.close();
    const left = await stepping;
    expect(left.status).toBe('paused');
    expect(left.execution_trace.find((s) => s.path === 'b')?.status).toBe('running');
  });

  it('refuses breakpoints naming nodes the workflow lacks, listing every problem, with nothing stored', async () => {
    const { engine } = makeEngine(makeStorage());
    const error = await engine.start(looped, {}, { breakpoints: ['critque', 'review_loop[1].nope', 'draft[2].x', 'bad path!'] }).catch((e: unknown) => e as WorkflowValidationError);
    expect(error).toMatchObject({ code: 'validation_failed' });
    const { issues } = error as WorkflowValidationError;
    expect(issues.map((i) => i.code)).toEqual(['unknown_breakpoint_node', 'unknown_breakpoint_node', 'breakpoint_scope_not_loop', 'unknown_breakpoint_node', 'invalid_breakpoint']);
    expect(issues[0]!.message).toContain('did you mean "critique"?');
    expect(await engine.list()).toEqual([]);
  });

  it('a run resumed at every breakpoint ends with the same outputs as one without breakpoints (property)', async () => {
    const { engine } = makeEngine(makeStorage());
    const plain = await engine.run(looped, {});
    const nodes = ['start', 'draft', 'critique', 'review_loop', 'publish', 'end', 'review_loop[0].critique', 'review_loop[2].critique'];
    await fc.assert(
      fc.asyncProperty(fc.subarray(nodes, { minLength: 1 }), fc.boolean(), async (breakpoints, stepping) => {
        const id = await engine.start(looped, {}, { breakpoints });
        for (;;) {
          const run = await engine.wait(id, { until: 'paused' });
          if (run.status !== 'paused') break;
          if (stepping) await engine.step(id);
          else await engine.resume(id);
        }
        const debugged = await engine.wait(id);
        expect(debugged.status).toBe('completed');
        expect(debugged.output_data).toEqual(plain.output_data);
        const outputs = (trace: typeof plain.execution_trace) => trace.map((s) => [s.path, s.status, s.output_data]).sort();
        expect(outputs(debugged.execution_trace)).toEqual(outputs(plain.execution_trace));
      }),
      { numRuns: 8 },
    );
  });

  it('lines a fork up beside its original by step path', async () => {
    const { engine } = makeEngine(makeStorage());
    const wf = workflow('drafting').prompt('draft', { model: 'mock:m', template: 'Draft about {{input.topic}}' }).prompt('review', { model: 'mock:m', template: 'Review {{draft.text}}' });
    const original = await engine.run(wf, { topic: 'owls' });
    // A fork can stop before the step it tries a change on, too.
    const forkId = await engine.fork(original.id, { fromNode: 'review', overrides: { review: { template: 'Critique {{draft.text}}' } }, breakpoints: ['review'] });
    expect((await engine.wait(forkId, { until: 'paused' })).paused_before).toEqual(['review']);
    await engine.resume(forkId);
    expect((await engine.wait(forkId)).status).toBe('completed');
    const comparison = await engine.compareRuns(original.id, forkId);
    expect(comparison.steps.map((s) => s.path)).toEqual(['start', 'draft', 'review', 'end']);
    const [, draft, review] = comparison.steps;
    expect(draft).toMatchObject({ same_output: true, original: { status: 'completed' }, other: { status: 'completed' } });
    expect(draft!.original!.input_tokens).toBeGreaterThan(0);
    expect(review!.same_output).toBe(false);
    expect(review!.other!.output_data).toMatchObject({ text: 'answer to Critique answer to Draft about owls' });
    expect(comparison.first_difference).toBe('review');
    expect(comparison.original.id).toBe(original.id);
    expect(comparison.other.id).toBe(forkId);
    await expect(engine.compareRuns(original.id, 'run_missing')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe.each(STORAGES.filter(([name]) => name !== 'memory'))('debug mode across processes on %s', (_name, makeStorage) => {
  it('a recovered run stops at its stored breakpoints', async () => {
    const clock = new FakeClock();
    const storage = makeStorage();
    const first = makeEngine(storage, { hang: true, clock, instanceId: 'first' });
    const started = first.engine.events.next('node:started', (e) => e.path === 'b');
    const id = await first.engine.start(line, {}, { breakpoints: ['c'] });
    await started;
    await first.engine.close(); // b never finished: the run is let go, running
    const second = makeEngine(sameDatabase(storage), { clock, instanceId: 'second' });
    expect(await second.engine.recover()).toEqual([id]);
    const paused = await second.engine.wait(id, { until: 'paused' });
    expect(paused.paused_before).toEqual(['c']);
    expect(second.ran).toEqual(['b']);
    await second.engine.resume(id);
    expect((await second.engine.wait(id)).status).toBe('completed');
    expect(second.ran).toEqual(['b', 'c']);
  });

  it('a paused run stepped by another process keeps stopping before each step', async () => {
    const clock = new FakeClock();
    const storage = makeStorage();
    const first = makeEngine(storage, { clock, instanceId: 'first' });
    const id = await first.engine.start(line, {}, { breakpoints: ['a'] });
    await first.engine.wait(id, { until: 'paused' });
    await first.engine.close();
    const second = makeEngine(sameDatabase(storage), { clock, instanceId: 'second' });
    const after = await second.engine.step(id);
    expect(second.ran).toEqual(['a']);
    expect(after.paused_before).toEqual(['b']);
    await second.engine.resume(id);
    expect((await second.engine.wait(id)).status).toBe('completed');
  });

  it('a submit-only engine stores the breakpoints for the worker that runs the run, and refuses to step it itself', async () => {
    const clock = new FakeClock();
    const storage = makeStorage();
    const api = makeEngine(storage, { clock, instanceId: 'api', role: 'submit' });
    const id = await api.engine.start(line, {}, { breakpoints: ['b'] });
    const worker = makeEngine(sameDatabase(storage), { clock, instanceId: 'worker' });
    expect(await worker.engine.recover()).toEqual([id]);
    expect((await worker.engine.wait(id, { until: 'paused' })).paused_before).toEqual(['b']);
    // The worker's wait answers once what it reports is committed: the submit engine reads it at once.
    expect((await api.engine.get(id))?.paused_before).toEqual(['b']);
    await expect(api.engine.step(id)).rejects.toMatchObject({ code: 'illegal_state' });
    expect((await worker.engine.step(id)).paused_before).toEqual(['c']);
    expect(worker.ran).toEqual(['a', 'b']);
    expect(api.ran).toEqual([]);
  });
});
