/**
 * Wake-ups across a fleet on PostgreSQL: `NOTIFY` on a channel named after the schema tells every
 * engine listening that a run has work ready, and one dedicated connection per storage `LISTEN`s.
 * That connection is not the pool's: a listening session must stay open, and a pooled client would
 * be handed to queries. When it breaks (a server restart, a killed backend) it is opened again with
 * backoff; announcements sent meanwhile are lost, which costs a poll interval, never the work.
 */
import type pg from 'pg';
import { isConnectionError } from './postgres-connection.js';

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 5_000;

/** The channel of a schema: one name per schema, so fleets on separate schemas do not wake each other. */
export function workChannel(schema: string): string {
  // A channel is an identifier: at most 63 bytes. Long schema names keep a hash suffix to stay distinct.
  const name = `trellis_work:${schema}`;
  if (Buffer.byteLength(name) <= 63) return name;
  let hash = 0;
  for (const char of name) hash = (Math.imul(hash, 31) + char.charCodeAt(0)) | 0;
  return `trellis_work:${schema.slice(0, 30)}:${(hash >>> 0).toString(36)}`;
}

/** Listens on one channel through a dedicated connection shared by every watcher of the storage. */
export class WorkListener {
  readonly #config: pg.ClientConfig;
  readonly #channel: string;
  readonly #listeners = new Set<(runId: string) => void>();
  #client: pg.Client | undefined;
  #connecting: Promise<void> | undefined;
  #retryMs = FIRST_RETRY_MS;
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  readonly #driver: typeof pg;

  /** `driver` is the `pg` module, as `PostgresStorage` imported it. */
  constructor(driver: typeof pg, config: pg.ClientConfig, channel: string) {
    this.#driver = driver;
    this.#config = config;
    this.#channel = channel;
  }

  /**
   * Adds a watcher; resolves once the connection listens (or has failed once and retries in the
   * background: the watcher still gets what arrives after it reconnects). The returned function removes it.
   */
  async watch(listener: (runId: string) => void): Promise<() => Promise<void>> {
    const subscription = (runId: string): void => listener(runId);
    this.#listeners.add(subscription);
    await (this.#connecting ??= this.#connect());
    return async () => {
      this.#listeners.delete(subscription);
      if (this.#listeners.size === 0) await this.#disconnect();
    };
  }

  /** The storage closes: the connection ends and is not opened again. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#disconnect();
  }

  /** Nobody listens any more (a watch may open it again). */
  async #disconnect(): Promise<void> {
    this.#connecting = undefined;
    clearTimeout(this.#retryTimer);
    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  get #wanted(): boolean {
    return !this.#closed && this.#listeners.size > 0;
  }

  async #connect(): Promise<void> {
    if (!this.#wanted) return;
    const client = new this.#driver.Client(this.#config);
    // An unheard `error` event ends the process; a lost connection is handled by `end` below.
    client.on('error', () => undefined);
    client.on('notification', (message) => {
      if (message.channel !== this.#channel || message.payload === undefined) return;
      for (const listener of this.#listeners) listener(message.payload);
    });
    client.on('end', () => {
      if (this.#client !== client) return;
      this.#client = undefined;
      this.#retry();
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.#channel.replaceAll('"', '""')}"`);
      if (!this.#wanted) {
        await client.end().catch(() => undefined);
        return;
      }
      this.#client = client;
      this.#retryMs = FIRST_RETRY_MS;
    } catch (error) {
      await client.end().catch(() => undefined);
      // A refused login or a bad config will not heal by itself, but polling still does the work:
      // keep trying, slowly, rather than failing the engine.
      if (!isConnectionError(error)) this.#retryMs = MAX_RETRY_MS;
      this.#retry();
    }
  }

  #retry(): void {
    if (!this.#wanted) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(MAX_RETRY_MS, this.#retryMs * 2);
    this.#retryTimer = setTimeout(() => void this.#connect(), delay);
    // Reconnecting must not hold the process open on its own.
    this.#retryTimer.unref();
  }
}
