/** When a run that only waits may be parked (let go from memory), and when it needs a driver again. */
import { describe, expect, it } from 'vitest';
import { CHILD_CHECK_MAX_MS, CHILD_CHECK_MIN_MS, PARKED_UNTIL_WOKEN, parkingWake, type ParkingFacts } from '../../src/planner/run-parking.js';
import type { StepRecord } from '../../src/storage/records.js';
import { done, step } from './planner-fixtures.js';

const NOW = 10_000_000;
const running: ParkingFacts = { userPaused: false, now: NOW };
const userPaused: ParkingFacts = { userPaused: true, now: NOW };
const approval = (path: string, due?: number) => step(path, 'waiting', { waiter: { kind: 'approval', ...(due === undefined ? {} : { due_at: due }) } });
const timer = (path: string, due: number) => step(path, 'waiting', { waiter: { kind: 'timer', due_at: due } });
const event = (path: string) => step(path, 'waiting', { waiter: { kind: 'event', event: 'go' } });
const retry = (path: string, due: number) => step(path, 'waiting', { waiter: { kind: 'retry', due_at: due } });
const child = (path: string, startedAt = NOW, due?: number) => step(path, 'waiting', { started_at: startedAt, waiter: { kind: 'child', child_id: 'c1', ...(due === undefined ? {} : { due_at: due }) } });

describe('parkingWake', () => {
  it.each<[string, StepRecord[], ParkingFacts, number | undefined]>([
    ['an approval without a timeout: only a person wakes it', [done('start'), approval('ok')], running, PARKED_UNTIL_WOKEN],
    ['the nearest timer of its waits', [done('start'), approval('ok', 500), timer('wait', 300), retry('p', 400), event('e')], running, 300],
    ['its deadline when nearer than its timers', [done('start'), timer('wait', 300)], { userPaused: false, deadline: 200, now: NOW }, 200],
    ['an event wait', [done('start'), event('e')], running, PARKED_UNTIL_WOKEN],
    ['not while a step executes', [done('start'), approval('ok'), step('a', 'running')], running, undefined],
    ['not while a step is about to start', [done('start'), approval('ok'), step('a', 'pending')], running, undefined],
    ['a child run just started: it looks at the child again after a minute', [done('start'), child('sub')], running, NOW + CHILD_CHECK_MIN_MS],
    ['a child run waited for 20 minutes: again after as long', [done('start'), child('sub', NOW - 1_200_000)], running, NOW + 1_200_000],
    ['a child run waited for days: again within the hour', [done('start'), child('sub', NOW - 5 * 86_400_000)], running, NOW + CHILD_CHECK_MAX_MS],
    ["a child run's timeout when nearer", [done('start'), child('sub', NOW, NOW + 5_000)], running, NOW + 5_000],
    ['a child run, with a step executing', [done('start'), child('sub'), step('a', 'running')], running, undefined],
    ['a user pause with steps held pending', [done('start'), step('a', 'pending')], userPaused, PARKED_UNTIL_WOKEN],
    ['a user pause with an event wait', [done('start'), event('e')], userPaused, PARKED_UNTIL_WOKEN],
    ['not a user pause with only approvals left (it would read back as paused for approvals)', [done('start'), approval('ok')], userPaused, undefined],
    ['not a run with nothing live (it is finished, not parked)', [done('start'), done('end')], running, undefined],
  ])('%s', (_name, steps, facts, expected) => {
    expect(parkingWake(steps, facts)).toBe(expected);
  });
});
