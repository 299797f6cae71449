/**
 * Deleting runs on SQLite (`deleteRun`, `purgeRuns`): a run goes with its child runs, however deep,
 * and with everything keyed to them. Their steps (the step log, waits, blob references) and inbox
 * events go by ON DELETE CASCADE; LLM records kept in `executions` and the blobs no run references
 * any more are deleted here. Runs inside the caller's `BEGIN IMMEDIATE` transaction; id lists are
 * bound as one JSON array (`json_each`), so a tree of any size is one parameter.
 */
import type Database from 'better-sqlite3';
import type { PurgeFilter } from '../storage.js';

const IDS = 'SELECT value FROM json_each(?)';

/** The prepared statements that delete run trees, made once per connection. */
export class SqliteRunDeletion {
  readonly #tree: Database.Statement<[string], { id: string }>;
  readonly #blobRefs: Database.Statement<[string], { hash: string }>;
  readonly #calls: Database.Statement<[string]>;
  readonly #runs: Database.Statement<[string]>;
  readonly #blobs: Database.Statement<[string]>;
  readonly #purgeable: Database.Statement<[number, string, number], { id: string }>;
  readonly #purgeableOf: Database.Statement<[number, string, string, number], { id: string }>;

  constructor(raw: Database.Database) {
    // Children are found through the partial index on parent_id (schema 7); UNION, not UNION ALL,
    // so a run listed twice is walked once.
    this.#tree = raw.prepare(
      `WITH RECURSIVE tree(id) AS (${IDS} UNION SELECT e.id FROM workflow_executions e JOIN tree t ON e.parent_id = t.id) SELECT id FROM tree`,
    );
    this.#blobRefs = raw.prepare(`SELECT DISTINCT hash FROM workflow_step_blobs WHERE run_id IN (${IDS})`);
    this.#calls = raw.prepare(`DELETE FROM executions WHERE workflow_execution_id IN (${IDS})`);
    this.#runs = raw.prepare(`DELETE FROM workflow_executions WHERE id IN (${IDS})`);
    this.#blobs = raw.prepare(`DELETE FROM blobs WHERE hash IN (${IDS}) AND NOT EXISTS (SELECT 1 FROM workflow_step_blobs r WHERE r.hash = blobs.hash)`);
    // Oldest ended first, through the partial index on (completed_at, id): named, since the planner
    // would take the status index and sort every ended run for each batch. A child of a run still
    // stored is left for its parent to take along.
    const purgeable = (byWorkflow: boolean): string =>
      `SELECT r.id FROM workflow_executions r INDEXED BY workflow_executions_finished WHERE r.completed_at < ? AND r.status IN (${IDS})${byWorkflow ? ' AND r.workflow_id = ?' : ''}
       AND (r.parent_id IS NULL OR NOT EXISTS (SELECT 1 FROM workflow_executions p WHERE p.id = r.parent_id))
       ORDER BY r.completed_at, r.id LIMIT ?`;
    this.#purgeable = raw.prepare(purgeable(false));
    this.#purgeableOf = raw.prepare(purgeable(true));
  }

  /** The runs `purgeRuns` picks, by id. */
  purgeable(filter: PurgeFilter): string[] {
    const statuses = JSON.stringify(filter.status);
    const rows =
      filter.workflow_id === undefined
        ? this.#purgeable.all(filter.completed_before, statuses, filter.limit)
        : this.#purgeableOf.all(filter.completed_before, statuses, filter.workflow_id, filter.limit);
    return rows.map((row) => row.id);
  }

  /** Deletes the runs `roots`, every run below them, and everything keyed to those runs. */
  deleteTrees(roots: readonly string[]): void {
    if (roots.length === 0) return;
    const ids = JSON.stringify(this.#tree.all(JSON.stringify(roots)).map((row) => row.id));
    // The blobs these runs reference, read before their references cascade away.
    const hashes = JSON.stringify(this.#blobRefs.all(ids).map((row) => row.hash));
    this.#calls.run(ids);
    this.#runs.run(ids);
    this.#blobs.run(hashes);
  }
}
