/**
 * PostgreSQL storage (kysely over pg) for several engine processes sharing work. The driver
 * (and `pg`) loads on `init()`.
 */
import type { Pool } from 'pg';
import { TrellisError } from '../../kernel/errors.js';
import { LazyStorage } from '../lazy-storage.js';
import { resolveLargeOutputBytes } from '../sql/sql-options.js';

/** Options of {@link PostgresStorage}. Give `connectionString` or `pool`. */
export interface PostgresStorageOptions {
  /** Connection URL; the storage then creates its own pool and ends it in `close()`. */
  readonly connectionString?: string;
  /** A pool you own; `close()` leaves it open. */
  readonly pool?: Pool;
  /**
   * Schema holding the tables (created by `init()` when missing).
   * @default 'public'
   */
  readonly schema?: string;
  /**
   * Step outputs whose JSON is larger than this many bytes are stored once in `blobs` (by sha256).
   * @default 262144
   */
  readonly largeOutputBytes?: number;
}

/**
 * {@link Storage} in PostgreSQL. Claims are single conditional `UPDATE … RETURNING` statements
 * and commits lock the run row, so several engines can share one database.
 *
 * @example
 * const storage = new PostgresStorage({ connectionString: process.env.DATABASE_URL, schema: 'trellis' });
 */
export class PostgresStorage extends LazyStorage {
  constructor(options: PostgresStorageOptions) {
    if (options.pool === undefined && (typeof options.connectionString !== 'string' || options.connectionString === '')) {
      throw new TrellisError('invalid_options', 'PostgresStorage needs either connectionString (a postgres:// URL) or pool (a pg.Pool), received neither');
    }
    if (options.schema !== undefined && (typeof options.schema !== 'string' || options.schema === '')) {
      throw new TrellisError('invalid_options', `PostgresStorage schema must be a non-empty string, received ${JSON.stringify(options.schema)}`);
    }
    resolveLargeOutputBytes(options.largeOutputBytes);
    super(async () => new (await import('./postgres-driver.js')).PostgresDriver(options));
  }
}
