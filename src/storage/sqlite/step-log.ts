/**
 * The step log: how SqliteStorage keeps a run's steps. Each commit appends one log entry per run
 * (all the step rows it writes, as one JSON text), and a run's steps are read back by folding its
 * entries in order, the last write of a path winning and its LLM calls adding up.
 *
 * Why a log and not a row per step: SQLite's cost per commit is the B-tree pages it writes. A step
 * row is inserted small when its step starts and grows when it completes; rows that grow in the
 * middle of full pages split them, and every split rewrites three leaves and their parents. An
 * entry is written once, never grows, and lands at the end of its run's key range: a commit
 * writes the leaf, the entry's overflow page, page 1 as the file grows, and a split only every few
 * commits (the pages per commit, measured, are in docs/performance-notes.md).
 *
 * This file is the pure part: entries as text, and entries folded back into steps.
 */
import { TrellisError } from '../../kernel/errors.js';
import type { Json } from '../../kernel/json.js';
import type { ModelCallRecord, StepRecord } from '../records.js';
import { numberText, stringText } from '../json-text.js';
import { largeOutput, type BlobRow } from '../sql/sql-options.js';
import { compactCallId, decodeCallLines, expandCallId } from '../step-calls.js';

/*
 * A step in an entry is a JSON array, fields at fixed places (the ones every step has first, so a
 * just-started step is six values) with trailing absent fields left off. A JSON-valued field is
 * wrapped in an array, `[value]`, so that a present JSON null stays apart from an absent field.
 * The calls a commit adds to a step are an array of their stored lines (see step-calls.ts), as
 * JSON rather than as the text of the lines, which would escape every quote in them.
 */
const PATH = 0;
const NODE = 1;
const SEQ = 2;
const STATUS = 3;
const ATTEMPT = 4;
const STARTED = 5;
const COMPLETED = 6;
const DURATION = 7;
const INPUT = 8;
const OUTPUT = 9;
const FIRED = 10;
const STATE = 11;
const ERROR = 12;
const WAITER = 13;
const EXECUTION = 14;
const OUTPUT_REF = 15;
const CALLS = 16;

type LoggedLine = readonly unknown[];

/**
 * Writes steps as entry lines. It keeps the line being written and how many absent fields wait to
 * be written before the next value (as nulls, and not at all when no value follows) in fields, not
 * in a writer object per line: encoding is synchronous and runs for every step of every commit, so
 * one encoder is made per step log and reused.
 */
export class StepLineEncoder {
  #line = '';
  #nulls = 0;

  /**
   * One step of a commit as its entry text. An output too large to stay in the step is added to
   * `blobs` and named by its hash. `calls` holds the stored lines of the calls the commit adds,
   * each followed by a comma (see attachCalls).
   */
  encode(step: StepRecord, calls: string | undefined, largeOutputBytes: number, blobs: BlobRow[]): string {
    this.#line = `[${stringText(step.path)},${stringText(step.node_id)},${numberText(step.seq)},${stringText(step.status)},${numberText(step.attempt)},${numberText(step.started_at)}`;
    this.#nulls = 0;
    this.#put(step.completed_at === undefined ? undefined : numberText(step.completed_at));
    this.#put(step.duration_ms === undefined ? undefined : numberText(step.duration_ms));
    this.#putJson(step.input_data);
    let blob: BlobRow | undefined;
    if (step.output_data === undefined) this.#put(undefined);
    else {
      const output = JSON.stringify(step.output_data);
      blob = largeOutput(output, largeOutputBytes);
      this.#put(blob ? undefined : `[${output}]`);
    }
    this.#putJson(step.fired);
    this.#putJson(step.state);
    this.#putJson(step.error);
    this.#putJson(step.waiter);
    this.#put(step.execution_id === undefined ? undefined : stringText(compactCallId(step.execution_id, step.run_id, step.path)));
    if (blob) {
      this.#put(stringText(blob.hash));
      blobs.push(blob);
    } else this.#put(undefined);
    this.#put(calls === undefined || calls === '' ? undefined : `[${calls.slice(0, -1)}]`);
    const text = `${this.#line}]`;
    this.#line = '';
    return text;
  }

  /** Appends raw JSON text, or an absent field for undefined. */
  #put(value: string | undefined): void {
    if (value === undefined) {
      this.#nulls++;
      return;
    }
    for (; this.#nulls > 0; this.#nulls--) this.#line += ',null';
    this.#line += `,${value}`;
  }

  /** Appends a JSON-valued field, wrapped (see above). */
  #putJson(value: unknown): void {
    this.#put(value === undefined ? undefined : `[${JSON.stringify(value)}]`);
  }
}

/** One step as its entry text, with an encoder of its own (see {@link StepLineEncoder.encode}). */
export function encodeLoggedStep(step: StepRecord, calls: string | undefined, largeOutputBytes: number, blobs: BlobRow[]): string {
  return new StepLineEncoder().encode(step, calls, largeOutputBytes, blobs);
}

type StoredCall = Record<string, unknown>;

/** A path's state after folding a run's entries: its last line and all its calls' stored lines. */
export interface LoggedStep {
  readonly line: LoggedLine;
  readonly calls: readonly StoredCall[];
}

const NO_CALLS: readonly StoredCall[] = [];

/** Folds a run's entries (in the order they were written) into the state of each path. */
export function foldLog(bodies: readonly string[]): Map<string, LoggedStep> {
  const steps = new Map<string, LoggedStep>();
  for (const body of bodies) {
    for (const line of JSON.parse(body) as LoggedLine[]) {
      const path = line[PATH] as string;
      const added = (line[CALLS] as StoredCall[] | null | undefined) ?? NO_CALLS;
      const before = steps.get(path)?.calls ?? NO_CALLS;
      steps.set(path, { line, calls: before.length === 0 ? added : added.length === 0 ? before : [...before, ...added] });
    }
  }
  return steps;
}

/** One entry's text: the lines of its steps (from {@link StepLineEncoder}) as one JSON array, as {@link foldLog} reads it. */
export function logEntry(lines: readonly string[]): string {
  return `[${lines.join(',')}]`;
}

/** The node a logged step belongs to. */
export function loggedNodeId(logged: LoggedStep): string {
  return logged.line[NODE] as string;
}

/** The hash of the blob a logged step's output lives in, if it does. */
export function outputRef(logged: LoggedStep): string | undefined {
  return (logged.line[OUTPUT_REF] as string | null | undefined) ?? undefined;
}

function unwrap(cell: unknown): Json | undefined {
  return Array.isArray(cell) ? (cell[0] as Json) : undefined;
}

/**
 * A logged step as its record. `blob` is the text of the blob its output lives in (see
 * {@link outputRef}); fields in the order the other storages give them.
 */
export function loggedStepRecord(runId: string, logged: LoggedStep, blob?: string): StepRecord {
  const line = logged.line;
  const path = line[PATH] as string;
  const step: Record<string, unknown> = { run_id: runId, path, node_id: line[NODE], seq: line[SEQ], status: line[STATUS], attempt: line[ATTEMPT] };
  const input = unwrap(line[INPUT]);
  if (input !== undefined) step.input_data = input;
  const ref = outputRef(logged);
  if (ref !== undefined) {
    if (blob === undefined) throw new TrellisError('storage', `Blob ${ref} of step ${runId}/${path} is missing`);
    step.output_data = JSON.parse(blob) as Json;
  } else {
    const output = unwrap(line[OUTPUT]);
    if (output !== undefined) step.output_data = output;
  }
  const fields = [['fired', FIRED], ['state', STATE], ['error', ERROR], ['waiter', WAITER]] as const;
  for (const [field, at] of fields) {
    const value = unwrap(line[at]);
    if (value !== undefined) step[field] = value;
  }
  const execution = line[EXECUTION];
  if (typeof execution === 'string') step.execution_id = expandCallId(execution, runId, path);
  step.started_at = line[STARTED];
  if (typeof line[COMPLETED] === 'number') step.completed_at = line[COMPLETED];
  if (typeof line[DURATION] === 'number') step.duration_ms = line[DURATION];
  return step as unknown as StepRecord;
}

/** The LLM calls a logged step holds, each id once (its last write). */
export function loggedCalls(runId: string, logged: LoggedStep): ModelCallRecord[] {
  if (logged.calls.length === 0) return [];
  return decodeCallLines({ run_id: runId, path: logged.line[PATH] as string, node_id: logged.line[NODE] as string }, logged.calls);
}

/** Orders steps as `getSteps` returns them: by `seq`, then path. */
export function bySeqThenPath(a: StepRecord, b: StepRecord): number {
  return a.seq - b.seq || (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);
}
