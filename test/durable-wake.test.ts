/**
 * A wake signal (an approval, an event, a child run's end) is written into the step's `running`
 * row, so a process that recovers the run after that row landed, but before the step completed,
 * resumes the step with it. Without it the node ran afresh and waited again: the decision, taken
 * out of the run's inbox once the row had landed, was lost (seen in the fleet test as an approval
 * that had to be given twice after SIGKILLs).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine, ScriptedProvider, SqliteStorage, workflow } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { wakeTransition, resumedWith } from '../src/planner/wake-transition.js';
import { completedStep, settledState } from '../src/planner/step-records.js';
import type { StepRecord } from '../src/storage/records.js';
import { scratch } from './scratch.js';

const { dir } = scratch('durable_wake');

const waiting: StepRecord = { run_id: 'r', path: 'ok', node_id: 'ok', seq: 1, status: 'waiting', attempt: 1, started_at: 0, waiter: { kind: 'approval' }, state: { attempts: [] } };

describe('the wake signal in the step row', () => {
  it('a resumed step`s row keeps its signal; a settled row drops it', () => {
    const signal = { kind: 'approval', approved: true, data: { amount: 5 } } as const;
    const transition = wakeTransition('r', 'ok', waiting, signal, 10);
    expect(transition.kind).toBe('resume');
    const row = (transition as { step: StepRecord }).step;
    expect(row.status).toBe('running');
    expect(resumedWith(row)).toEqual(signal);
    expect(resumedWith(waiting)).toBeUndefined();
    expect(settledState(row.state)).toEqual({ attempts: [] });
    expect(settledState({ wake: { kind: 'timer' } })).toBeUndefined();
    expect(completedStep(row, { status: 'completed', output: 1 }, 20).state).toEqual({ attempts: [] });
  });

  it('a run recovered after the woken row landed resumes the step with the decision instead of waiting again', async () => {
    const path = join(dir, 'wake.sqlite');
    const flow = workflow('pay').approval('ok', { message: 'Pay?' }).end({ data: 'ok.data' });
    const clock = new FakeClock();
    const first = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: new ScriptedProvider(['x']) }, clock, instanceId: 'first' });
    const id = await first.start(flow, {});
    await first.wait(id, { until: 'waiting' });
    await first.close();

    // What the first commit of the wake writes (the step `running`, its handler not yet resumed),
    // as a process that died right after it would leave it.
    const storage = new SqliteStorage({ path });
    await storage.init();
    const run = (await storage.getRun(id))!;
    const row = (await storage.getStep(id, 'ok'))!;
    const woken = wakeTransition(id, 'ok', row, { kind: 'approval', approved: true, data: { amount: 5 } }, clock.now());
    expect(await storage.commit({ runId: id, steps: [(woken as { step: StepRecord }).step], run: { status: 'running' }, expect: { revision: run.revision } })).toBe(true);
    await storage.close();

    const second = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: new ScriptedProvider(['x']) }, clock, instanceId: 'second' });
    await clock.advance(60_000); // past the lease of the first
    await second.recover();
    const done = await second.wait(id, { until: 'waiting' }); // without the signal the step waits again
    expect(done.status).toBe('completed');
    expect(done.output_data).toEqual({ data: { amount: 5 } });
    await second.close();
  });
});
