import type { Pool } from 'pg';

/** Options of `PostgresStorage`. Give `connectionString` or `pool`. */
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
