/**
 * Living with a PostgreSQL server that restarts, fails over or kills a backend. pg reports a lost
 * connection as an `error` event on the client (and on the pool, for an idle client); an event
 * nobody listens to ends the process, so every client the storage uses gets a listener. The
 * operation that was using the connection fails with an error {@link isConnectionError} knows,
 * and {@link Reconnector} runs it again on a fresh connection, with backoff, for a bounded time.
 */
import type { Pool, PoolClient } from 'pg';
import { sql, type Kysely, type PostgresPool, type PostgresPoolClient } from 'kysely';
import { TrellisError } from '../../kernel/errors.js';
import type { TrellisDatabase } from '../sql/sql-schema.js';

/** SQLSTATEs of a server that is going away or not accepting connections yet. */
const SERVER_GOING_CODES = new Set(['57P01', '57P02', '57P03']);
/** Class 08, but said of a statement, not of the connection. */
const PROTOCOL_VIOLATION = '08P01';
/** Socket errors of a connection that broke or cannot be opened. */
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH']);
/** pg's own messages for a connection that ended under a query, or a client left unusable by it. */
const LOST_MESSAGES = ['Connection terminated unexpectedly', 'Connection terminated', 'Client has encountered a connection error and is not queryable'];

/**
 * Whether `error` means the connection was lost or could not be made (so the operation may be run
 * again on another one), rather than that the statement failed: admin/crash shutdown and "cannot
 * connect now" (57P01-57P03), class 08 (connection exception) but 08P01, socket errors, and pg's "Connection
 * terminated". Looks at the error itself (and the members of an AggregateError, which Node gives
 * when every address of a host refused), never at a wrapped cause: a storage error that wraps a lost
 * connection on purpose (an outcome that cannot be known) must not be retried.
 */
export function isConnectionError(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  if (error instanceof AggregateError) return error.errors.length > 0 && error.errors.every(isConnectionError);
  const code = (error as { code?: unknown }).code;
  // 08P01 (protocol violation) is class 08 but a refused statement (too many bind parameters, say)
  // on a connection that still works: running it again would fail the same way for the whole window.
  if (code === PROTOCOL_VIOLATION) return false;
  if (typeof code === 'string' && (SERVER_GOING_CODES.has(code) || SOCKET_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' && LOST_MESSAGES.includes(message);
}

/** Attached to every client and to the pool: the failed operation reports the error; the event must only not go unheard. */
function ignoreLostConnection(): void {}

/**
 * The pool as Kysely sees it, with an `error` listener on every client: pg leaves a checked-out
 * client without one (the pool's own listener is removed while a client is in use), so a backend
 * killed during a transaction would otherwise end the process. The listener goes on in the pool's
 * `connect` event, synchronously: a backend killed just as it came up sends its error in the same
 * socket read as its "ready", before any code awaiting `pool.connect()` runs. Clients a host's pool
 * made before (not seen by `connect`) get it when first handed out. A pool the storage created also
 * gets a pool-level listener (for idle clients); a host's pool is the host's to watch.
 */
export function watchedPool(pool: Pool, owned: boolean): PostgresPool {
  const watched = new WeakSet<PoolClient>();
  const watch = (client: PoolClient): void => {
    if (watched.has(client)) return;
    watched.add(client);
    client.on('error', ignoreLostConnection);
  };
  if (owned) pool.on('error', ignoreLostConnection);
  pool.on('connect', watch);
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      watch(client);
      return client as unknown as PostgresPoolClient;
    },
    end: () => pool.end(),
  };
}

/** First wait before retrying an operation whose connection was lost, doubled each time up to {@link MAX_DELAY_MS}. */
const FIRST_DELAY_MS = 25;
const MAX_DELAY_MS = 1000;

/**
 * Runs operations again when their connection is lost, for up to `windowMs` in all (a server
 * restart takes a second or two; a failover longer). Waits use the real clock: they are about a
 * real server coming back, not about workflow time. `close()` ends every wait at once, so a storage
 * being closed does not retry against a pool that is gone.
 */
export class Reconnector {
  readonly #windowMs: number;
  readonly #closed = new AbortController();

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /**
   * Calls `fn` until it succeeds, fails for another reason than a lost connection, or the window
   * has passed. `fn` learns whether this is a retry: an operation whose first try may have landed
   * before the connection broke uses that to avoid applying itself twice.
   */
  async run<T>(fn: (retry: boolean) => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#windowMs;
    let delay = FIRST_DELAY_MS;
    for (let retry = false; ; retry = true) {
      try {
        return await fn(retry);
      } catch (error) {
        if (!isConnectionError(error) || this.#closed.signal.aborted || Date.now() + delay > deadline) throw error;
        await this.wait(delay);
        if (this.#closed.signal.aborted) throw error;
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      }
    }
  }

  /** Sleeps `ms`, or less when the storage closes. */
  wait(ms: number): Promise<void> {
    const signal = this.#closed.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** How long a caller may keep polling, in all. */
  get windowMs(): number {
    return this.#windowMs;
  }

  close(): void {
    this.#closed.abort();
  }
}

/**
 * Whether transaction `txid` committed, asked on a fresh connection after the one running its
 * COMMIT broke (polled while the server still runs it: a backend may outlive its client's socket).
 * Throws a non-retryable `storage` error when the server cannot say: retrying then could apply the
 * transaction twice.
 */
export async function transactionCommitted(db: Kysely<TrellisDatabase>, txid: string, reconnect: Reconnector, lost: unknown): Promise<boolean> {
  const deadline = Date.now() + reconnect.windowMs;
  for (;;) {
    const status = await reconnect.run(async () => {
      const result = await sql<{ status: string | null }>`SELECT txid_status(${txid}::bigint) AS status`.execute(db);
      return result.rows[0]?.status ?? null;
    });
    if (status === 'committed') return true;
    if (status === 'aborted') return false;
    if (status === null || Date.now() > deadline) {
      const message = `Storage commit outcome unknown: the connection was lost during COMMIT and transaction ${txid} is ${status ?? 'unknown'} to the server`;
      throw new TrellisError('storage', message, { cause: lost, retryable: false });
    }
    await reconnect.wait(50);
  }
}

/** Read with the first row a transaction locks: the id under which the server will know whether it committed. */
export const TXID = sql<string>`txid_current()::text`.as('trellis_txid');

/** What a transaction learned before its first write: the id the server knows it by. */
export interface TxState {
  txid: string | undefined;
}
