/**
 * The embedded default: a SQLite file in WAL mode (kysely over better-sqlite3), safe to share
 * between processes on one machine. The driver loads on `init()`.
 */
import { TrellisError } from '../../kernel/errors.js';
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
  constructor(options: SqliteStorageOptions | string) {
    const resolved = typeof options === 'string' ? { path: options } : options;
    if (typeof resolved.path !== 'string' || resolved.path === '') {
      throw new TrellisError('invalid_options', `SqliteStorage path must be a file path or ':memory:', received ${JSON.stringify(resolved.path)}`);
    }
    resolveLargeOutputBytes(resolved.largeOutputBytes);
    super(async () => new (await import('./sqlite-driver.js')).SqliteDriver(resolved));
  }
}
