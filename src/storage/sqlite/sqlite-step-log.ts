/**
 * SqliteStorage's steps, kept as a step log (see step-log.ts): the statements that append a
 * commit's entry and read runs back, and the two small tables the log needs beside it. Steps
 * waiting for a time, an event or a person are also in `workflow_step_waits`, so the timer loop,
 * `emit` and the approval inbox find them by index; the blobs a run's steps reference are in
 * `workflow_step_blobs`, so deleting a run can drop the blobs nothing else references
 * (sqlite-run-deletion.ts). Every method runs inside the caller's
 * transaction or as one statement.
 */
import type Database from 'better-sqlite3';
import type { ApprovalFilter, ApprovalWaiter, ModelCallRecord, StepRecord } from '../records.js';
import type { BlobRow } from '../sql/sql-options.js';
import { TIMER_RUN_STATUSES } from '../storage-helpers.js';
import { escapeText } from '../odd-text.js';
import { bySeqThenPath, foldLog, StepLineEncoder, logEntry, loggedCalls, loggedNodeId, loggedStepRecord, outputRef, type LoggedStep } from './step-log.js';

type Row = Record<string, unknown>;

const TIMER_STATUSES = TIMER_RUN_STATUSES.map((s) => `'${s}'`).join(', ');

/** What the waits table holds of a waiting step: its due time, awaited event, and since when it waits for approval. */
interface Wait {
  readonly due: number | null;
  readonly event: string | null;
  readonly approvalSince: number | null;
}

/** The wait of a step that waits for a time, an event or a person; undefined for any other step. */
function waitOf(step: StepRecord): Wait | undefined {
  if (step.status !== 'waiting' || step.waiter === undefined) return undefined;
  const due = step.waiter.due_at ?? null;
  const event = step.waiter.kind === 'event' && step.waiter.event !== undefined ? escapeText(step.waiter.event) : null;
  const approvalSince = step.waiter.kind === 'approval' ? step.started_at : null;
  return due === null && event === null && approvalSince === null ? undefined : { due, event, approvalSince };
}

/**
 * Whether a run has rows in the waits table, as a column of the select that reads the run's fence
 * in a commit (sqlite-driver.ts): one statement per commit where two cost a microsecond more.
 */
export const WAITS_OF_RUN = 'EXISTS (SELECT 1 FROM workflow_step_waits w WHERE w.run_id = workflow_executions.id) AS had_waits';

const APPROVALS_SQL =
  `SELECT w.run_id, w.path, r.workflow_id, r.workflow_version FROM workflow_step_waits w JOIN workflow_executions r ON r.id = w.run_id ` +
  `WHERE w.approval_since IS NOT NULL AND r.status IN (${TIMER_STATUSES})`;

export class SqliteStepLog {
  /** Writes the lines of every entry this log appends (one encoder, reused: see StepLineEncoder). */
  readonly #stepLines = new StepLineEncoder();
  readonly #append: Database.Statement<[string, string]>;
  readonly #entries: Database.Statement<[string], Row>;
  readonly #allEntries: Database.Statement<[], Row>;
  readonly #putWait: Database.Statement<[string, string, number | null, string | null, number | null]>;
  readonly #dropWait: Database.Statement<[string, string]>;
  readonly #due: Database.Statement<[number, number], Row>;
  readonly #waitingFor: Database.Statement<[string, number], Row>;
  readonly #approvals: Database.Statement<[number, number], Row>;
  readonly #workflowApprovals: Database.Statement<[string, number, number], Row>;
  readonly #insertBlob: Database.Statement<[string, string]>;
  readonly #refBlob: Database.Statement<[string, string]>;
  readonly #blob: Database.Statement<[string], Row>;

  constructor(raw: Database.Database) {
    // n is the rowid: one more than the largest, so after every entry already written (schema 13).
    this.#append = raw.prepare('INSERT INTO workflow_step_log (run_id, body) VALUES (?, ?)');
    this.#entries = raw.prepare('SELECT body FROM workflow_step_log WHERE run_id = ? ORDER BY n');
    this.#allEntries = raw.prepare('SELECT run_id, body FROM workflow_step_log ORDER BY run_id, n');
    this.#putWait = raw.prepare(
      'INSERT INTO workflow_step_waits (run_id, path, due_at, wait_event, approval_since) VALUES (?, ?, ?, ?, ?) ' +
        'ON CONFLICT (run_id, path) DO UPDATE SET due_at = excluded.due_at, wait_event = excluded.wait_event, approval_since = excluded.approval_since',
    );
    this.#dropWait = raw.prepare('DELETE FROM workflow_step_waits WHERE run_id = ? AND path = ?');
    this.#due = raw.prepare(
      `SELECT w.run_id, w.path FROM workflow_step_waits w JOIN workflow_executions r ON r.id = w.run_id ` +
        `WHERE w.due_at <= ? AND r.status IN (${TIMER_STATUSES}) ORDER BY w.due_at, w.run_id, w.path LIMIT ?`,
    );
    this.#waitingFor = raw.prepare(
      `SELECT w.run_id, w.path FROM workflow_step_waits w JOIN workflow_executions r ON r.id = w.run_id ` +
        `WHERE w.wait_event = ? AND r.status IN (${TIMER_STATUSES}) ORDER BY w.run_id, w.path LIMIT ?`,
    );
    // LIMIT -1 is "no limit": SQLite takes an OFFSET only after a LIMIT.
    const approvalsOrder = ' ORDER BY w.approval_since, w.run_id, w.path LIMIT ? OFFSET ?';
    this.#approvals = raw.prepare(APPROVALS_SQL + approvalsOrder);
    this.#workflowApprovals = raw.prepare(`${APPROVALS_SQL} AND r.workflow_id = ?${approvalsOrder}`);
    this.#insertBlob = raw.prepare('INSERT INTO blobs (hash, data) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING');
    this.#refBlob = raw.prepare('INSERT INTO workflow_step_blobs (run_id, hash) VALUES (?, ?) ON CONFLICT DO NOTHING');
    this.#blob = raw.prepare('SELECT data FROM blobs WHERE hash = ?');
  }

  /**
   * Appends one entry with `steps` (each path once) and the call lines `calls` holds for them, and
   * keeps the waits and blob references in step. Inside the commit's transaction. `hadWaits`: the
   * run had rows in the waits table before this commit (read with its fence, see {@link WAITS_OF_RUN}).
   */
  append(runId: string, steps: readonly StepRecord[], calls: ReadonlyMap<string, string>, largeOutputBytes: number, hadWaits: boolean): void {
    if (steps.length === 0) return;
    const lines = new Array<string>(steps.length);
    const blobs: BlobRow[] = [];
    let ended: StepRecord[] | undefined;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      lines[i] = this.#stepLines.encode(step, calls.get(step.path), largeOutputBytes, blobs);
      const wait = waitOf(step);
      if (wait) this.#putWait.run(runId, step.path, wait.due, wait.event, wait.approvalSince);
      else (ended ??= []).push(step);
    }
    this.#append.run(runId, logEntry(lines));
    // A step that no longer waits leaves the waits table; most runs have none, and then nothing is to drop.
    if (ended && hadWaits) for (const step of ended) this.#dropWait.run(runId, step.path);
    for (const blob of blobs) {
      this.#insertBlob.run(blob.hash, blob.data);
      this.#refBlob.run(runId, blob.hash);
    }
  }

  /** The state of each path of a run. */
  fold(runId: string): Map<string, LoggedStep> {
    return foldLog(this.#entries.all(runId).map((row) => row.body as string));
  }

  /** A logged step as its record, its large output read from `blobs`. */
  record(runId: string, logged: LoggedStep): StepRecord {
    const ref = outputRef(logged);
    return loggedStepRecord(runId, logged, ref === undefined ? undefined : ((this.#blob.get(ref)?.data as string | undefined) ?? undefined));
  }

  /** All steps of a run, by `seq` then path. */
  steps(runId: string): StepRecord[] {
    return [...this.fold(runId).values()].map((logged) => this.record(runId, logged)).sort(bySeqThenPath);
  }

  step(runId: string, path: string): StepRecord | undefined {
    const logged = this.fold(runId).get(path);
    return logged && this.record(runId, logged);
  }

  /** Waiting steps due at or before `now`, in runs that are running or paused. */
  dueSteps(now: number, limit: number): StepRecord[] {
    return this.#waiting(this.#due.all(now, limit));
  }

  /** Steps waiting for `event`, in runs that are running or paused. */
  eventWaiters(event: string, limit: number): StepRecord[] {
    return this.#waiting(this.#waitingFor.all(escapeText(event), limit));
  }

  /** Steps waiting for approval in runs that are running or paused, with their run's workflow, longest waiting first. */
  approvalWaiters(filter: ApprovalFilter): ApprovalWaiter[] {
    const limit = filter.limit ?? -1;
    const offset = filter.offset ?? 0;
    const rows = filter.workflow_id === undefined ? this.#approvals.all(limit, offset) : this.#workflowApprovals.all(filter.workflow_id, limit, offset);
    return this.#waiting(rows, (step, row) => ({ step, workflow_id: row.workflow_id as string, workflow_version: Number(row.workflow_version) }));
  }

  /** The steps named by (run_id, path) rows, in their order, each run folded once, made into `T` by `make`. */
  #waiting<T = StepRecord>(rows: readonly Row[], make: (step: StepRecord, row: Row) => T = (step) => step as T): T[] {
    const runs = new Map<string, Map<string, LoggedStep>>();
    const found: T[] = [];
    for (const row of rows) {
      const runId = row.run_id as string;
      let folded = runs.get(runId);
      if (!folded) runs.set(runId, (folded = this.fold(runId)));
      const logged = folded.get(row.path as string);
      if (!logged) continue;
      const step = this.record(runId, logged);
      // The waits row and the log are two reads: another process's commit between them may have
      // moved the step on (an approval given, a timer fired). It no longer waits: not a waiter.
      if (step.status === 'waiting') found.push(make(step, row));
    }
    return found;
  }

  /**
   * The LLM calls held by steps: of one run, or of every run; optionally of one node. Every run's
   * entries are read in key order and folded one run at a time, so only one run is in memory.
   */
  calls(runId: string | undefined, nodeId: string | undefined): ModelCallRecord[] {
    const calls: ModelCallRecord[] = [];
    const collect = (id: string, bodies: readonly string[]): void => {
      for (const logged of foldLog(bodies).values()) {
        if (nodeId === undefined || loggedNodeId(logged) === nodeId) calls.push(...loggedCalls(id, logged));
      }
    };
    if (runId !== undefined) {
      collect(runId, this.#entries.all(runId).map((row) => row.body as string));
      return calls;
    }
    let current: string | undefined;
    let bodies: string[] = [];
    for (const row of this.#allEntries.iterate()) {
      if (row.run_id !== current) {
        if (current !== undefined) collect(current, bodies);
        current = row.run_id as string;
        bodies = [];
      }
      bodies.push(row.body as string);
    }
    if (current !== undefined) collect(current, bodies);
    return calls;
  }

  /** The calls of one step. */
  stepCalls(runId: string, path: string): ModelCallRecord[] {
    const logged = this.fold(runId).get(path);
    return logged ? loggedCalls(runId, logged) : [];
  }
}
