/**
 * How a step's row changes: pure functions from one StepRecord to the next. The runner decides
 * when; these say what the row then holds. Internal to the runner.
 */
import type { CompletedResult } from '../nodes/node-handler.js';
import type { StepRecord, StepStatus, StoredError } from '../storage/records.js';
import type { Json } from '../kernel/json.js';
import { plainConstructor, plainMaker } from '../kernel/plain.js';

type Loose<T> = { [K in keyof T]?: T[K] | undefined };
type MutableStep = { -readonly [K in keyof StepRecord]: StepRecord[K] };

// Step rows are made with `new`, never as literals: see plain.ts.
const StepRow = plainConstructor(function (this: MutableStep, runId: string, path: string, nodeId: string, seq: number, status: StepStatus, attempt: number, startedAt: number) {
  this.run_id = runId;
  this.path = path;
  this.node_id = nodeId;
  this.seq = seq;
  this.status = status;
  this.attempt = attempt;
  this.started_at = startedAt;
});

/** Copies of step rows (see strip), made with `new` like every step row. */
const newStepCopy = plainMaker();

/** The row of a step that starts (or waits for room to start) at `startedAt`. */
export function newStep(runId: string, path: string, nodeId: string, seq: number, status: StepStatus, attempt: number, startedAt: number): StepRecord {
  return new StepRow(runId, path, nodeId, seq, status, attempt, startedAt);
}

/** Removes keys whose value is undefined (how a field is cleared), so step rows stay plain JSON. */
function strip(value: Loose<StepRecord>): StepRecord {
  // A fresh object rather than `delete`, which would leave the row in slow dictionary mode.
  const record = newStepCopy();
  for (const [key, field] of Object.entries(value)) if (field !== undefined) record[key] = field;
  return record as unknown as StepRecord;
}

/**
 * The row `step` becomes with `changes` (an undefined value clears a field). Every changed row is
 * made this way or by the constructors above, never as a literal: step rows are kept (see plain.ts).
 */
export function changedStep(step: StepRecord, changes: Loose<StepRecord>): StepRecord {
  // Object.assign, not a spread: a spread clone that gains keys costs V8 a new hidden class (see ScopeContexts.open).
  return strip(Object.assign({}, step, changes));
}

/**
 * A step's `state` once its attempt has settled (completed, failed, waits again): without the
 * wake signal a woken `running` row keeps for recovery (see planner/wake-transition.ts), which
 * must not resume a later attempt. Allocates only when there is one to drop.
 */
export function settledState(state: Json | undefined): Json | undefined {
  const object = asObject(state);
  if (object === undefined || !('wake' in object)) return state;
  const { wake: _wake, ...rest } = object;
  return Object.keys(rest).length === 0 ? undefined : rest;
}

/** `value` when it is a plain JSON object (a step's `state`, say), else undefined. */
export function asObject(value: Json | undefined): Record<string, Json> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, Json>) : undefined;
}

/** The row of a step that completed with `result` at `now`. */
export function completedStep(step: StepRecord, result: CompletedResult, now: number): StepRecord {
  const { output, fired, writes, callId, input } = result;
  // Built field by field (no spread + delete): this runs for every step.
  const done: MutableStep = new StepRow(step.run_id, step.path, step.node_id, step.seq, 'completed', step.attempt, step.started_at);
  const stepInput = input ?? step.input_data;
  if (stepInput !== undefined) done.input_data = stepInput;
  done.output_data = output;
  if (fired !== undefined) done.fired = fired;
  const settled = settledState(step.state);
  const state = writes ? ({ ...(asObject(settled) ?? {}), writes } as Json) : settled;
  if (state !== undefined) done.state = state;
  if (callId !== undefined) done.execution_id = callId;
  done.completed_at = now;
  done.duration_ms = now - step.started_at;
  return done;
}

/** A step that ended without completing: `failed` keeps what it waited for, `skipped` drops it. */
export function endedStep(step: StepRecord, status: 'failed' | 'skipped', error: StoredError, now: number): StepRecord {
  return changedStep(step, { status, error, completed_at: now, duration_ms: now - step.started_at, ...(status === 'skipped' ? { waiter: undefined } : {}) });
}

/** The row of a step that was never started because its path was not taken. */
export function skippedStep(runId: string, path: string, nodeId: string, seq: number, reason: string, now: number): StepRecord {
  const row: MutableStep = new StepRow(runId, path, nodeId, seq, 'skipped', 0, now);
  row.completed_at = now;
  row.duration_ms = 0;
  row.error = { code: 'skipped', message: reason };
  return row;
}

/** The step's state with a failed attempt added to its `attempts` history. */
export function withFailedAttempt(step: StepRecord, error: StoredError, failedAt: number): Json {
  const state = asObject(settledState(step.state)) ?? {};
  const attempts = [...((state.attempts as Json[] | undefined) ?? []), { attempt: step.attempt, error: error as unknown as Json, started_at: step.started_at, failed_at: failedAt }];
  return { ...state, attempts };
}
