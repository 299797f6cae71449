/**
 * The group commit's step upsert: every step row of a group in one statement with one parameter,
 * the rows as a JSON array that `json_to_recordset` turns back into rows on the server.
 *
 * Why not a multi-row `VALUES` list: with 200 runs in flight a group upserts about 200 rows of 20
 * columns, 4,000 bind parameters. Building that statement through the query builder, encoding
 * each parameter on the wire, and having the server parse and plan a new 4,000-parameter
 * statement for every group cost more than writing the rows (W5 on PostgreSQL: the builder alone
 * was 12% of the process's time). Here the statement text never changes, and the rows travel as
 * one string assembled from cells that are already JSON text.
 *
 * The cells are those of {@link encodeStep}: JSON columns hold escaped JSON text (odd-text.ts),
 * which goes into the array as it is; text columns are JSON strings; numbers are numbers.
 */
import { sql, type Transaction } from 'kysely';
import { APPEND_CALLS_SQL, COLUMNS, STEP_CALLS_COLUMN, STEP_ROW_COLUMNS } from '../sql/sql-codec.js';
import type { Cell, SqlRow, TrellisDatabase } from '../sql/sql-schema.js';

/** Rows per statement: bounds the size of one JSON document (a row is a few hundred bytes to a few kB). */
const ROWS_PER_STATEMENT = 2_000;

type Kind = 'text' | 'num' | 'json';

const KINDS: readonly (readonly [string, Kind])[] = STEP_ROW_COLUMNS.map((name) => {
  const kind = COLUMNS.steps.find((c) => c.name === name)?.kind ?? (name === 'due_at' ? 'num' : 'text');
  return [name, kind === 'json' ? 'json' : kind === 'num' ? 'num' : 'text'];
});

const SQL_TYPES: Record<Kind, string> = { text: 'text', num: 'double precision', json: 'jsonb' };

/** The statement, per schema prefix (the text is the same for every group). */
function statementText(prefix: string): { readonly head: string; readonly tail: string } {
  const names = STEP_ROW_COLUMNS.map((c) => `"${c}"`).join(', ');
  const record = KINDS.map(([name, kind]) => `"${name}" ${SQL_TYPES[kind]}`).join(', ');
  const updates = STEP_ROW_COLUMNS.filter((c) => c !== 'run_id' && c !== 'path')
    .map((c) => `"${c}" = ${c === STEP_CALLS_COLUMN ? APPEND_CALLS_SQL : `excluded."${c}"`}`)
    .join(', ');
  return {
    head: `INSERT INTO ${prefix}workflow_execution_steps AS workflow_execution_steps (${names}) SELECT ${names} FROM json_to_recordset(CAST(`,
    tail: ` AS json)) AS v(${record}) ON CONFLICT (run_id, path) DO UPDATE SET ${updates}`,
  };
}

/** One cell as JSON. */
function cellJson(kind: Kind, cell: Cell | undefined): string {
  if (cell === null || cell === undefined) return 'null';
  if (kind === 'json') return cell as string;
  if (kind === 'num') return typeof cell === 'number' && Number.isFinite(cell) ? String(cell) : 'null';
  return JSON.stringify(cell);
}

/** `rows` as the JSON array `json_to_recordset` reads. */
export function stepRowsJson(rows: readonly SqlRow[]): string {
  let out = '[';
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    out += r === 0 ? '{' : ',{';
    for (let c = 0; c < KINDS.length; c++) {
      const [name, kind] = KINDS[c]!;
      out += `${c === 0 ? '' : ','}"${name}":${cellJson(kind, row[name])}`;
    }
    out += '}';
  }
  return `${out}]`;
}

const statements = new Map<string, ReturnType<typeof statementText>>();

/** Upserts `rows` (encoded step rows, one per run and path) in `trx`, in one statement per {@link ROWS_PER_STATEMENT}. */
export async function upsertStepRows(trx: Transaction<TrellisDatabase>, prefix: string, rows: readonly SqlRow[]): Promise<void> {
  let text = statements.get(prefix);
  if (!text) statements.set(prefix, (text = statementText(prefix)));
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
    const json = stepRowsJson(rows.slice(i, i + ROWS_PER_STATEMENT));
    await sql`${sql.raw(text.head)}${json}${sql.raw(text.tail)}`.execute(trx);
  }
}
