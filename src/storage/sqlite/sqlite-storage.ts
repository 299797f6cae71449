/**
 * The embedded default: a SQLite file in WAL mode (kysely over better-sqlite3), safe to share
 * between processes on one machine. The driver loads on `init()`.
 */
import { TrellisError } from '../../kernel/errors.js';
import { LazyStorage } from '../lazy-storage.js';
import { resolveLargeOutputBytes } from '../sql/sql-options.js';

/** Options of {@link SqliteStorage}. */
export interface SqliteStorageOptions {
  /** Database file path, or `':memory:'` for a private in-memory database. */
  readonly path: string;
  /**
   * Step outputs whose JSON is larger than this many bytes are stored once in `blobs` (by sha256).
   * @default 262144
   */
  readonly largeOutputBytes?: number;
}

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
