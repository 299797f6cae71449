/**
 * Many rows as one parameter: the group commit's multi-row statements (postgres-group-commit.ts)
 * send their rows as a JSON array that `json_to_recordset` turns back into rows on the server.
 *
 * Why not multi-row `VALUES` lists: with 200 runs in flight a group upserts about 200 step rows of
 * 20 columns, 4,000 bind parameters. Building that statement through the query builder, encoding
 * each parameter on the wire, and having the server parse and plan a new 4,000-parameter statement
 * for every group cost more than writing the rows (W5 on PostgreSQL: the builder alone was 12% of
 * the process's time). Here the statement text never changes, and the rows travel as one string
 * assembled from cells that are already JSON text.
 *
 * The cells are those of sql-codec.ts: JSON columns hold escaped JSON text (odd-text.ts), which
 * goes into the array as it is; text columns become JSON strings; numbers stay numbers.
 */
import { sql, type RawBuilder, type Transaction } from 'kysely';
import type { Cell, SqlRow, TrellisDatabase } from '../sql/sql-schema.js';

/** How a column travels: a JSON string, a JSON number, or JSON (a jsonb column). */
export type JsonRowKind = 'text' | 'num' | 'json';

/** The columns of one kind of row, with what {@link rowsJson} and {@link recordset} need precomputed. */
export interface JsonRowShape {
  readonly names: readonly string[];
  readonly kinds: readonly JsonRowKind[];
  /** `"name":` for each column, with the separating comma from the second on. */
  readonly keys: readonly string[];
  /** The quoted column list, for INSERT and SELECT. */
  readonly columnList: string;
  /** `AS v("name" type, ...)`: the record `json_to_recordset` returns. */
  readonly record: string;
}

const SQL_TYPES: Record<JsonRowKind, string> = { text: 'text', num: 'double precision', json: 'jsonb' };

/** The shape of rows with `columns` (name and kind, in the order cells are read). */
export function jsonRowShape(columns: readonly (readonly [name: string, kind: JsonRowKind])[]): JsonRowShape {
  return {
    names: columns.map(([name]) => name),
    kinds: columns.map(([, kind]) => kind),
    keys: columns.map(([name], i) => `${i === 0 ? '' : ','}"${name}":`),
    columnList: columns.map(([name]) => `"${name}"`).join(', '),
    record: `AS v(${columns.map(([name, kind]) => `"${name}" ${SQL_TYPES[kind]}`).join(', ')})`,
  };
}

function cellJson(kind: JsonRowKind, cell: Cell | undefined): string {
  if (cell === null || cell === undefined) return 'null';
  if (kind === 'json') return cell as string;
  if (kind === 'num') return typeof cell === 'number' && Number.isFinite(cell) ? String(cell) : 'null';
  return JSON.stringify(cell);
}

/**
 * `rows` as the JSON array `json_to_recordset` reads. Each row is concatenated into a string of its
 * own (measured: half the time of collecting parts and joining them once).
 */
export function rowsJson(shape: JsonRowShape, rows: readonly SqlRow[]): string {
  const { names, kinds, keys } = shape;
  let out = '[';
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    let json = r === 0 ? '{' : ',{';
    for (let c = 0; c < names.length; c++) json += keys[c]! + cellJson(kinds[c]!, row[names[c]!]);
    out += `${json}}`;
  }
  return `${out}]`;
}

/** `FROM json_to_recordset(<rows>) AS v(...)`: the rows as a table, for INSERT ... SELECT and UPDATE ... FROM. */
export function recordset(shape: JsonRowShape, rows: readonly SqlRow[]): RawBuilder<unknown> {
  return sql`json_to_recordset(CAST(${rowsJson(shape, rows)} AS json)) ${sql.raw(shape.record)}`;
}

/** Rows per statement: bounds the size of one JSON document (a row is a few hundred bytes to a few kB). */
export const ROWS_PER_STATEMENT = 2_000;

/** Runs `statement` for `rows` in slices of {@link ROWS_PER_STATEMENT}, collecting what each returns. */
export async function inSlices<R>(trx: Transaction<TrellisDatabase>, rows: readonly SqlRow[], statement: (slice: readonly SqlRow[]) => RawBuilder<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) out.push(...(await statement(rows.slice(i, i + ROWS_PER_STATEMENT)).execute(trx)).rows);
  return out;
}
