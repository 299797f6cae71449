/**
 * The SQL schema shared by SqliteStorage and PostgresStorage: table names, the Kysely database type
 * and the versioned migrations. Each migration is written once, with column types filled in per dialect.
 */
import { TrellisError } from '../../kernel/errors.js';

/** Schema version this code writes and understands. */
export const SCHEMA_VERSION = 13;

/** The two SQL dialects Trellis ships. */
export type SqlDialectName = 'sqlite' | 'postgres';

/** A value as it sits in a column: JSON columns hold JSON text, timestamps numbers, flags 0/1. */
export type Cell = string | number | null;

/** A row of any Trellis table, keyed by column name. */
export type SqlRow = Record<string, Cell>;

/** The database as Kysely sees it. Columns are loosely typed: the codec in sql-codec.ts owns the mapping. */
export interface TrellisDatabase {
  trellis_meta: { key: string; value: string };
  workflows: SqlRow;
  workflow_executions: SqlRow;
  workflow_execution_steps: SqlRow;
  prompts: SqlRow;
  executions: SqlRow;
  execution_bundles: SqlRow;
  blobs: { hash: string; data: string };
  workflow_event_inbox: SqlRow;
  audit_events: SqlRow;
  limit_slots: { scope: string; holder: string; expires_at: number };
  limit_buckets: { scope: string; tokens: number; refilled_at: number };
}

/** Column types per dialect. Postgres text uses the "C" collation so ordering by id matches JavaScript's. */
interface TypeMap {
  readonly dialect: SqlDialectName;
  readonly text: string;
  readonly json: string;
  readonly int: string;
  readonly num: string;
  /** Table suffix for tables clustered on their primary key. */
  readonly clustered: string;
  /** `ADD COLUMN` with the guard the dialect supports (SQLite has none; its migrations run once, under a write lock). */
  readonly addColumn: string;
  /** A text field of a JSON column, as SQL. */
  jsonField(column: string, key: string): string;
}

const TYPES: Record<SqlDialectName, TypeMap> = {
  // SQLite: hot tables are clustered on their key (WITHOUT ROWID), so a commit writes one page per table, not two.
  sqlite: { dialect: 'sqlite', text: 'TEXT', json: 'TEXT', int: 'INTEGER', num: 'INTEGER', clustered: ' WITHOUT ROWID', addColumn: 'ADD COLUMN', jsonField: (c, k) => `json_extract(${c}, '$.${k}')` },
  postgres: { dialect: 'postgres', text: 'text COLLATE "C"', json: 'jsonb', int: 'integer', num: 'double precision', clustered: '', addColumn: 'ADD COLUMN IF NOT EXISTS', jsonField: (c, k) => `(${c} ->> '${k}')` },
};

/**
 * One migration: the statements that bring the schema from `version - 1` to `version`. Each runs
 * once, in the transaction that records the new version; the schema changes are idempotent besides.
 */
interface Migration {
  readonly version: number;
  readonly statements: (t: TypeMap, p: string) => string[];
}

// Timestamps are `num`: double precision in Postgres (pg returns numbers, not bigint strings) and
// INTEGER affinity in SQLite (which keeps fractional values as REAL), so numbers round-trip unchanged.
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    statements: (t, p) => [
      `CREATE TABLE IF NOT EXISTS ${p}workflows (
        id ${t.text} NOT NULL, version ${t.int} NOT NULL, name ${t.text} NOT NULL, status ${t.text} NOT NULL,
        tags ${t.json} NOT NULL, definition ${t.json} NOT NULL, created_at ${t.num} NOT NULL, deleted ${t.int},
        PRIMARY KEY (id, version))`,
      `CREATE TABLE IF NOT EXISTS ${p}workflow_executions (
        id ${t.text} PRIMARY KEY, workflow_id ${t.text} NOT NULL, workflow_version ${t.int} NOT NULL,
        status ${t.text} NOT NULL, input_data ${t.json} NOT NULL, variables ${t.json} NOT NULL, output_data ${t.json},
        error_message ${t.text}, created_at ${t.num} NOT NULL, started_at ${t.num}, completed_at ${t.num},
        owner ${t.text}, lease_expires_at ${t.num}, revision ${t.int} NOT NULL, recovery_count ${t.int} NOT NULL,
        parent_id ${t.text}, parent_step_path ${t.text}, "trigger" ${t.json}, idempotency_key ${t.text}, usage ${t.json})`,
      `CREATE INDEX IF NOT EXISTS workflow_executions_status ON ${p}workflow_executions (status, created_at)`,
      `CREATE INDEX IF NOT EXISTS workflow_executions_workflow ON ${p}workflow_executions (workflow_id, created_at)`,
      `CREATE INDEX IF NOT EXISTS workflow_executions_created ON ${p}workflow_executions (created_at)`,
      `CREATE INDEX IF NOT EXISTS workflow_executions_owner ON ${p}workflow_executions (owner)`,
      `CREATE INDEX IF NOT EXISTS workflow_executions_lease ON ${p}workflow_executions (lease_expires_at)`,
      `CREATE UNIQUE INDEX IF NOT EXISTS workflow_executions_idempotency ON ${p}workflow_executions (idempotency_key)`,
      `CREATE TABLE IF NOT EXISTS ${p}workflow_execution_steps (
        run_id ${t.text} NOT NULL REFERENCES ${p}workflow_executions (id) ON DELETE CASCADE, path ${t.text} NOT NULL,
        node_id ${t.text} NOT NULL, seq ${t.int} NOT NULL, status ${t.text} NOT NULL, attempt ${t.int} NOT NULL,
        input_data ${t.json}, output_data ${t.json}, output_ref ${t.text}, fired ${t.json}, state ${t.json},
        error ${t.json}, waiter ${t.json}, due_at ${t.num}, execution_id ${t.text}, started_at ${t.num} NOT NULL,
        completed_at ${t.num}, duration_ms ${t.num}, PRIMARY KEY (run_id, path))${t.clustered}`,
      `CREATE INDEX IF NOT EXISTS workflow_execution_steps_due ON ${p}workflow_execution_steps (due_at) WHERE status = 'waiting'`,
      `CREATE INDEX IF NOT EXISTS workflow_execution_steps_ref ON ${p}workflow_execution_steps (output_ref) WHERE output_ref IS NOT NULL`,
      `CREATE TABLE IF NOT EXISTS ${p}prompts (
        id ${t.text} NOT NULL, version ${t.int} NOT NULL, name ${t.text} NOT NULL, template ${t.text} NOT NULL,
        system ${t.text}, variables ${t.json} NOT NULL, provider_model ${t.text}, created_at ${t.num} NOT NULL,
        PRIMARY KEY (id, version))`,
      `CREATE TABLE IF NOT EXISTS ${p}executions (
        id ${t.text} PRIMARY KEY, status ${t.text} NOT NULL, provider_model ${t.text} NOT NULL,
        workflow_execution_id ${t.text}, workflow_node_id ${t.text}, step_path ${t.text}, attempt ${t.int},
        idempotency_key ${t.text}, request ${t.json} NOT NULL, response ${t.json}, usage ${t.json}, cost_usd ${t.num},
        error ${t.json}, created_at ${t.num} NOT NULL, started_at ${t.num}, completed_at ${t.num}, duration_ms ${t.num})${t.clustered}`,
      // One index serves both look-ups (by run, by run and node): each index costs WAL pages on every step.
      `CREATE INDEX IF NOT EXISTS executions_run ON ${p}executions (workflow_execution_id, workflow_node_id)`,
      `CREATE TABLE IF NOT EXISTS ${p}execution_bundles (
        id ${t.text} PRIMARY KEY, target ${t.json} NOT NULL, status ${t.text} NOT NULL, items ${t.json} NOT NULL,
        created_at ${t.num} NOT NULL, completed_at ${t.num})`,
      `CREATE TABLE IF NOT EXISTS ${p}blobs (hash ${t.text} PRIMARY KEY, data ${t.text} NOT NULL)`,
    ],
  },
  {
    // Every index of the runs table is written when a run is created and again when it ends. The
    // lease index served no query (orphans are found through the status index); owners and
    // idempotency keys are indexed only where present, so a run without a key, or one that has
    // ended (and lost its owner), costs those indexes nothing. Steps waiting for an event carry its
    // name in an indexed column, so `emit` finds them without reading other runs' steps.
    version: 2,
    statements: (t, p) => [
      `ALTER TABLE ${p}workflow_execution_steps ${t.addColumn} wait_event ${t.text}`,
      `UPDATE ${p}workflow_execution_steps SET wait_event = ${t.jsonField('waiter', 'event')} WHERE status = 'waiting' AND ${t.jsonField('waiter', 'kind')} = 'event'`,
      `CREATE INDEX IF NOT EXISTS workflow_execution_steps_event ON ${p}workflow_execution_steps (wait_event) WHERE wait_event IS NOT NULL`,
      `DROP INDEX IF EXISTS ${p}workflow_executions_lease`,
      `DROP INDEX IF EXISTS ${p}workflow_executions_owner`,
      `CREATE INDEX IF NOT EXISTS workflow_executions_live_owner ON ${p}workflow_executions (owner) WHERE owner IS NOT NULL`,
      `DROP INDEX IF EXISTS ${p}workflow_executions_idempotency`,
      `CREATE UNIQUE INDEX IF NOT EXISTS workflow_executions_idempotency_key ON ${p}workflow_executions (idempotency_key) WHERE idempotency_key IS NOT NULL`,
    ],
  },
  {
    // LLM calls made by a step are kept in the step's row (see step-calls.ts): one B-tree page per
    // commit instead of three. Older records stay in `executions`, where they are still found.
    version: 3,
    statements: (t, p) => [`ALTER TABLE ${p}workflow_execution_steps ${t.addColumn} calls ${t.text}`],
  },
  {
    // SQLite keeps steps as a log, one entry per commit (see step-log.ts): an entry never grows,
    // where step rows grew inside full pages and split them. Existing rows become one entry per
    // run, in the entry's format (JSON fields wrapped in an array, calls an array of their lines);
    // waits and blob references get their own small tables.
    // PostgreSQL keeps a row per step: its tables are heaps that do not split on growth.
    version: 4,
    statements: (t) => (t.dialect === 'sqlite' ? [...SQLITE_STEP_LOG] : []),
  },
  {
    // Events for waiting steps of runs another live process drives, until their owner reads them
    // (see sql-event-inbox.ts). Read by run, so the run id leads the index.
    version: 5,
    statements: (t, p) => [
      `CREATE TABLE IF NOT EXISTS ${p}workflow_event_inbox (
        id ${t.text} PRIMARY KEY, run_id ${t.text} NOT NULL REFERENCES ${p}workflow_executions (id) ON DELETE CASCADE,
        path ${t.text} NOT NULL, event ${t.text} NOT NULL, payload ${t.json} NOT NULL, created_at ${t.num} NOT NULL)`,
      `CREATE INDEX IF NOT EXISTS workflow_event_inbox_run ON ${p}workflow_event_inbox (run_id, created_at)`,
    ],
  },
  {
    // Steps waiting for a person, found across runs for the approval inbox (`engine.approvals.list`)
    // by index, oldest first. PostgreSQL: a partial index on the step rows. SQLite: the waits table
    // also holds approval waits, with the time they started (see sqlite-step-log.ts); those already
    // waiting are read from the step log, the last entry of each path winning.
    version: 6,
    statements: (t, p) =>
      t.dialect === 'sqlite'
        ? [...SQLITE_APPROVAL_WAITS]
        : [
            `CREATE INDEX IF NOT EXISTS workflow_execution_steps_approval ON ${p}workflow_execution_steps (started_at) WHERE status = 'waiting' AND ${t.jsonField('waiter', 'kind')} = 'approval'`,
          ],
  },
  {
    // Deleting runs (engine.deleteRun, engine.purge): a run's child runs go with it, found by
    // parent; purge walks ended runs oldest first. Both are partial, so a run that has no parent,
    // or has not ended, costs them nothing: the finished index is written once, when a run ends.
    version: 7,
    statements: (_t, p) => [
      `CREATE INDEX IF NOT EXISTS workflow_executions_parent ON ${p}workflow_executions (parent_id) WHERE parent_id IS NOT NULL`,
      `CREATE INDEX IF NOT EXISTS workflow_executions_finished ON ${p}workflow_executions (completed_at, id) WHERE completed_at IS NOT NULL`,
    ],
  },
  {
    // Tracing: the W3C traceparent of a run's first span, so a process that recovers the run links
    // its span back to it (see telemetry/tracing.ts). Written with the run row, never updated.
    version: 8,
    statements: (t, p) => [`ALTER TABLE ${p}workflow_executions ${t.addColumn} trace_context ${t.text}`],
  },
  {
    // Dead letters and the audit trail. A run retries at most one failed run: the unique index makes
    // two processes retrying the same run meet, one insert winning. The audit trail is append-only
    // and keyed to nothing that is deleted (a deleted run's events stay); it is read by subject, by
    // actor and by time, newest first.
    version: 9,
    statements: (t, p) => [
      `ALTER TABLE ${p}workflow_executions ${t.addColumn} retry_of ${t.text}`,
      `ALTER TABLE ${p}workflow_executions ${t.addColumn} discarded_at ${t.num}`,
      `CREATE UNIQUE INDEX IF NOT EXISTS workflow_executions_retry_of ON ${p}workflow_executions (retry_of) WHERE retry_of IS NOT NULL`,
      `CREATE TABLE IF NOT EXISTS ${p}audit_events (
        id ${t.text} PRIMARY KEY, at ${t.num} NOT NULL, actor ${t.text} NOT NULL, action ${t.text} NOT NULL,
        subject_type ${t.text} NOT NULL, subject_id ${t.text} NOT NULL, before_version ${t.int}, after_version ${t.int}, detail ${t.json})`,
      `CREATE INDEX IF NOT EXISTS audit_events_at ON ${p}audit_events (at, id)`,
      `CREATE INDEX IF NOT EXISTS audit_events_subject ON ${p}audit_events (subject_id, at, id)`,
      `CREATE INDEX IF NOT EXISTS audit_events_actor ON ${p}audit_events (actor, at, id)`,
    ],
  },
  {
    // Run counts by workflow and status over a time window (`engine.runCounts`, success rates): the
    // creation-time index gains the workflow and status, so a window is counted from the index
    // alone. It replaces the index on created_at (which still serves listing runs newest first), so
    // a run writes no more index entries than before; its status changes now move its entry.
    version: 10,
    statements: (_t, p) => [
      `CREATE INDEX IF NOT EXISTS workflow_executions_created_counts ON ${p}workflow_executions (created_at, workflow_id, status)`,
      `DROP INDEX IF EXISTS ${p}workflow_executions_created`,
    ],
  },
  {
    // Debug mode: the breakpoints a run pauses before (a JSON array of step paths), stored with the
    // run so a process that recovers it stops at them too. Written with the run row, never updated.
    version: 11,
    statements: (t, p) => [`ALTER TABLE ${p}workflow_executions ${t.addColumn} breakpoints ${t.json}`],
  },
  {
    // Fleet-wide provider limits (issue 20): a concurrency slot is a row held under a lease (a killed
    // process's slots expire), a requests- or tokens-per-minute bucket is one row updated in place.
    // Both are small and hot: clustered on their key, no other index.
    version: 12,
    statements: (t, p) => [
      `CREATE TABLE IF NOT EXISTS ${p}limit_slots (
        scope ${t.text} NOT NULL, holder ${t.text} NOT NULL, expires_at ${t.num} NOT NULL, PRIMARY KEY (scope, holder))${t.clustered}`,
      `CREATE TABLE IF NOT EXISTS ${p}limit_buckets (
        scope ${t.text} PRIMARY KEY, tokens ${t.num} NOT NULL, refilled_at ${t.num} NOT NULL)${t.clustered}`,
    ],
  },
  {
    // SQLite's step log in write order (see step-log.ts): a group commit of many runs appends its
    // entries side by side at the end of the table, not one at the end of each run's key range.
    version: 13,
    statements: (t) => (t.dialect === 'sqlite' ? [...SQLITE_STEP_LOG_IN_WRITE_ORDER] : []),
  },
];

const SQLITE_APPROVAL_WAITS: readonly string[] = [
  `ALTER TABLE workflow_step_waits ADD COLUMN approval_since INTEGER`,
  `CREATE INDEX IF NOT EXISTS workflow_step_waits_approval ON workflow_step_waits (approval_since) WHERE approval_since IS NOT NULL`,
  // A step's line: [path, node, seq, status, attempt, started_at, ..., [waiter] at 13] (see step-log.ts).
  `INSERT INTO workflow_step_waits (run_id, path, due_at, wait_event, approval_since)
    SELECT run_id, path, NULL, NULL, started FROM (
      SELECT l.run_id, json_extract(j.value, '$[0]') AS path, json_extract(j.value, '$[3]') AS status,
        json_extract(j.value, '$[13][0].kind') AS kind, json_extract(j.value, '$[5]') AS started,
        row_number() OVER (PARTITION BY l.run_id, json_extract(j.value, '$[0]') ORDER BY l.n DESC) AS latest
      FROM workflow_step_log l JOIN workflow_executions r ON r.id = l.run_id, json_each(l.body) j
      WHERE r.status IN ('running', 'paused'))
    WHERE latest = 1 AND status = 'waiting' AND kind = 'approval'
    ON CONFLICT (run_id, path) DO UPDATE SET approval_since = excluded.approval_since`,
];

/** A JSON column of the old steps table as a wrapped entry field (NULL stays NULL). */
const wrapped = (column: string): string => `json('[' || ${column} || ']')`;

const SQLITE_STEP_LOG: readonly string[] = [
  `CREATE TABLE IF NOT EXISTS workflow_step_log (
    run_id TEXT NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE, n INTEGER NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (run_id, n)) WITHOUT ROWID`,
  `CREATE TABLE IF NOT EXISTS workflow_step_waits (
    run_id TEXT NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE, path TEXT NOT NULL, due_at INTEGER, wait_event TEXT,
    PRIMARY KEY (run_id, path)) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS workflow_step_waits_due ON workflow_step_waits (due_at) WHERE due_at IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS workflow_step_waits_event ON workflow_step_waits (wait_event) WHERE wait_event IS NOT NULL`,
  `CREATE TABLE IF NOT EXISTS workflow_step_blobs (
    run_id TEXT NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE, hash TEXT NOT NULL, PRIMARY KEY (run_id, hash)) WITHOUT ROWID`,
  `CREATE INDEX IF NOT EXISTS workflow_step_blobs_hash ON workflow_step_blobs (hash)`,
  `INSERT INTO workflow_step_log (run_id, n, body)
    SELECT run_id, 1, '[' || group_concat(json_array(path, node_id, seq, status, attempt, started_at, completed_at, duration_ms,
      ${wrapped('input_data')}, ${wrapped('output_data')}, ${wrapped('fired')}, ${wrapped('state')}, ${wrapped('error')}, ${wrapped('waiter')},
      execution_id, output_ref, json('[' || replace(rtrim(calls, char(10)), char(10), ',') || ']')), ',') || ']'
    FROM workflow_execution_steps GROUP BY run_id`,
  `INSERT INTO workflow_step_waits (run_id, path, due_at, wait_event)
    SELECT run_id, path, due_at, wait_event FROM workflow_execution_steps
    WHERE status = 'waiting' AND (due_at IS NOT NULL OR wait_event IS NOT NULL)`,
  `INSERT INTO workflow_step_blobs (run_id, hash) SELECT DISTINCT run_id, output_ref FROM workflow_execution_steps WHERE output_ref IS NOT NULL`,
  `DROP TABLE workflow_execution_steps`,
];

/**
 * The step log keyed by its rowid `n`, in the order entries were written, with an index on the run
 * (whose entries list a run's rows in rowid order, so a run's entries are read in order without a
 * sort). Schema 4 clustered the log on (run_id, n): one run's commit wrote the end of its run's
 * key range, but a group of 100 runs' commits wrote 100 leaves, one per run, about a WAL page per
 * commit. Now the group's entries share the last leaves of the table, and the index's small
 * entries share theirs (measured in docs/performance-notes.md, 2026-12-02). A new entry's rowid is
 * one more than the largest in the table, so a run's entries stay in the order they were written
 * (its earlier entries are in the table; SQLite picks another rowid only once 2^63 - 1 is taken).
 */
const SQLITE_STEP_LOG_IN_WRITE_ORDER: readonly string[] = [
  `CREATE TABLE workflow_step_log_13 (
    n INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES workflow_executions (id) ON DELETE CASCADE, body TEXT NOT NULL)`,
  `INSERT INTO workflow_step_log_13 (run_id, body) SELECT run_id, body FROM workflow_step_log ORDER BY run_id, n`,
  `DROP TABLE workflow_step_log`,
  `ALTER TABLE workflow_step_log_13 RENAME TO workflow_step_log`,
  `CREATE INDEX workflow_step_log_run ON workflow_step_log (run_id)`,
];

/** The `trellis_meta` table, created before anything else so the version can be read. */
export function metaTableStatement(dialect: SqlDialectName, prefix: string): string {
  const t = TYPES[dialect];
  return `CREATE TABLE IF NOT EXISTS ${prefix}trellis_meta (key ${t.text} PRIMARY KEY, value ${t.text} NOT NULL)`;
}

/**
 * The statements that bring a database at `current` up to {@link SCHEMA_VERSION}.
 * Throws `schema_version` when the database is newer than this code.
 * @param prefix Table name prefix, e.g. `"my_schema".` for Postgres, empty for SQLite.
 */
export function pendingMigrations(dialect: SqlDialectName, prefix: string, current: number): string[] {
  if (current > SCHEMA_VERSION) {
    throw new TrellisError(
      'schema_version',
      `Database schema version ${current} is newer than this version of Trellis supports (${SCHEMA_VERSION}); upgrade Trellis.`,
      { details: { databaseVersion: current, supportedVersion: SCHEMA_VERSION } },
    );
  }
  return MIGRATIONS.filter((m) => m.version > current).flatMap((m) => m.statements(TYPES[dialect], prefix));
}

/** Parses the stored `schema_version` value (absent means a fresh database). */
export function parseSchemaVersion(value: string | undefined): number {
  if (value === undefined) return 0;
  const version = Number(value);
  if (!Number.isInteger(version) || version < 0) throw new TrellisError('schema_version', `Unreadable schema version "${value}" in trellis_meta`);
  return version;
}
