/**
 * PostgreSQL storage (kysely over pg) for several engine processes sharing work. The driver
 * (and `pg`) loads on `init()`.
 */
import type pg from 'pg';
import { TrellisError } from '../../kernel/errors.js';
import { assertInstalled, missingPackageOr } from '../../kernel/optional-packages.js';
import { LazyStorage } from '../lazy-storage.js';
import { resolveConnectionRetryMs, type PostgresStorageOptions } from './postgres-options.js';
import { resolveLargeOutputBytes } from '../sql/sql-options.js';


/**
 * {@link Storage} in PostgreSQL. Claims are single conditional `UPDATE … RETURNING` statements
 * and commits lock the run row, so several engines can share one database.
 *
 * @example
 * const storage = new PostgresStorage({ connectionString: process.env.DATABASE_URL, schema: 'trellis' });
 */
export class PostgresStorage extends LazyStorage {
  /** @throws MissingPackageError when the `pg` package is not installed. */
  constructor(options: PostgresStorageOptions) {
    assertInstalled('pg', 'PostgresStorage');
    if (options.pool === undefined && (typeof options.connectionString !== 'string' || options.connectionString === '')) {
      throw new TrellisError('invalid_options', 'PostgresStorage needs either connectionString (a postgres:// URL) or pool (a pg.Pool), received neither');
    }
    if (options.schema !== undefined && (typeof options.schema !== 'string' || options.schema === '')) {
      throw new TrellisError('invalid_options', `PostgresStorage schema must be a non-empty string, received ${JSON.stringify(options.schema)}`);
    }
    resolveLargeOutputBytes(options.largeOutputBytes);
    resolveConnectionRetryMs(options.connectionRetryMs);
    super(async () => new (await import('./postgres-driver.js')).PostgresDriver(options, await importPg()));
  }
}

/** pg by its literal name, which bundlers follow (and leave unresolved, inside this `try`, when it is not installed). */
async function importPg(): Promise<typeof pg> {
  try {
    return (await import('pg')).default;
  } catch (error) {
    throw missingPackageOr(error, 'pg', 'PostgresStorage');
  }
}
