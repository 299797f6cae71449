import { TrellisError } from '../../kernel/errors.js';

/**
 * The part of a `pg.Pool` the storage uses, typed here so that Trellis's types need no `@types/pg`:
 * pass your `new pg.Pool(...)`.
 */
export interface PostgresPoolLike {
  connect(): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'connect', listener: (client: never) => void): unknown;
}

/** Options of `PostgresStorage`. Give `connectionString` or `pool`. */
export interface PostgresStorageOptions {
  /** Connection URL; the storage then creates its own pool and ends it in `close()`. */
  readonly connectionString?: string;
  /** A `pg.Pool` you own; `close()` leaves it open. */
  readonly pool?: PostgresPoolLike;
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
  /**
   * How long, in all, an operation whose connection was lost (server restart, failover, a killed
   * backend) is tried again on a fresh connection before it fails with `storage`. A commit that
   * landed before its connection broke is not applied twice (see docs/storage-internals.md).
   * `0` turns retrying off.
   * @default 30000
   */
  readonly connectionRetryMs?: number;
}

/** How long an operation whose connection was lost is retried, by default: a restart takes seconds, a failover tens. */
export const DEFAULT_CONNECTION_RETRY_MS = 30_000;

/** `connectionRetryMs`, checked and defaulted; throws `invalid_options` naming what it received. */
export function resolveConnectionRetryMs(value: number | undefined): number {
  if (value === undefined) return DEFAULT_CONNECTION_RETRY_MS;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TrellisError('invalid_options', `PostgresStorage connectionRetryMs must be a finite number >= 0, received ${JSON.stringify(value)}`);
  }
  return value;
}
