/**
 * The embedded default: a SQLite file in WAL mode (kysely over better-sqlite3), safe to share
 * between processes on one machine. The driver loads on `init()`.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { TrellisError } from '../../kernel/errors.js';
import { assertInstalled, missingPackageOr } from '../../kernel/optional-packages.js';
import { LazyStorage } from '../lazy-storage.js';
import type { SqliteStorageOptions } from './sqlite-options.js';
import { resolveLargeOutputBytes } from '../sql/sql-options.js';


/**
 * {@link Storage} in a SQLite file: WAL, `synchronous=NORMAL`, a busy timeout, and `BEGIN IMMEDIATE`
 * write transactions, so two processes on one file never see `SQLITE_BUSY`.
 *
 * @example
 * const engine = new Engine({ storage: new SqliteStorage({ path: './trellis.db' }) });
 */
export class SqliteStorage extends LazyStorage {
  /** @throws MissingPackageError when the `better-sqlite3` package is not installed. */
  constructor(options: SqliteStorageOptions | string) {
    assertInstalled('better-sqlite3', 'SqliteStorage');
    const resolved = typeof options === 'string' ? { path: options } : options;
    if (typeof resolved.path !== 'string' || resolved.path === '') {
      throw new TrellisError('invalid_options', `SqliteStorage path must be a file path or ':memory:', received ${JSON.stringify(resolved.path)}`);
    }
    resolveLargeOutputBytes(resolved.largeOutputBytes);
    super(async () => new (await import('./sqlite-driver.js')).SqliteDriver(resolved, await importBetterSqlite()));
  }
}

/** better-sqlite3 by its literal name, which bundlers follow (and leave unresolved, inside this `try`, when it is not installed). */
async function importBetterSqlite(): Promise<typeof BetterSqlite3> {
  try {
    return (await import('better-sqlite3')).default;
  } catch (error) {
    throw missingPackageOr(error, 'better-sqlite3', 'SqliteStorage');
  }
}
