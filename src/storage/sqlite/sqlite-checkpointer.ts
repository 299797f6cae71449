/**
 * WAL checkpoints off the event loop. SQLite copies the WAL back into the database file
 * (a checkpoint) when a commit finds the WAL over `wal_autocheckpoint` pages, inside that commit:
 * with `synchronous=NORMAL` it syncs the WAL and then the database file, and the whole process
 * waits. In W5 (200 runs in flight) that was more than half of the time spent in COMMIT, and single
 * commits of 20-40 ms during which no run of the process moved (docs/performance-notes.md,
 * 2026-12-02).
 *
 * Here a worker thread with a connection of its own runs passive checkpoints, asked for every
 * {@link WRITES_PER_CHECKPOINT} write transactions, one at a time; the driver's connection keeps
 * an automatic checkpoint at a higher mark as a backstop, should the worker fall behind or fail.
 * A checkpoint only copies pages that are already durable in the WAL, so where it runs changes no
 * guarantee. The worker starts on the first request (most storages in tests never get there) and
 * is left out where it cannot work: an in-memory database, or a bundle in which better-sqlite3
 * cannot be resolved by name (then checkpoints stay where SQLite puts them).
 */
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import type Database from 'better-sqlite3';

/** Write transactions between two checkpoint requests: W5 writes a few hundred pages in that many. */
const WRITES_PER_CHECKPOINT = 64;
/** SQLite's default mark for the automatic checkpoint, in WAL pages. */
const DEFAULT_AUTOCHECKPOINT = 1000;
/** The automatic checkpoint while the worker runs: only if it falls this far behind. */
const BACKSTOP_AUTOCHECKPOINT = 4000;

/** The worker, as CommonJS source: it opens the file, checkpoints when asked, and closes when told. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path, { fileMustExist: true });
parentPort.on('message', (message) => {
  if (message === 'close') {
    db.close();
    parentPort.postMessage('closed');
    parentPort.close();
    return;
  }
  try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {}
  parentPort.postMessage('done');
});
`;

/** Where better-sqlite3 is, for the worker to load the same package; undefined in a bundle that hid it. */
function betterSqliteModule(): string | undefined {
  try {
    return createRequire(import.meta.url).resolve('better-sqlite3');
  } catch {
    return undefined;
  }
}

export class WalCheckpointer {
  readonly #raw: Database.Database;
  readonly #path: string | undefined;
  #worker: Worker | undefined;
  /** The worker failed or was closed: no more requests, SQLite checkpoints as by default. */
  #off = false;
  #writes = 0;
  #asked = false;
  #closed: Promise<void> | undefined;

  /** `path`: the database file as the driver opened it (`:memory:` and empty paths get no worker). */
  constructor(raw: Database.Database, path: string) {
    this.#raw = raw;
    this.#path = path === ':memory:' || path === '' || path.startsWith('file:') ? undefined : resolve(path);
  }

  /** Called after each write transaction of the driver's connection. */
  afterWrite(): void {
    if (this.#off || this.#path === undefined || ++this.#writes < WRITES_PER_CHECKPOINT || this.#asked) return;
    this.#writes = 0;
    const worker = this.#worker ?? this.#start(this.#path);
    if (!worker) return;
    this.#asked = true;
    worker.postMessage('checkpoint');
  }

  #start(path: string): Worker | undefined {
    const module = betterSqliteModule();
    if (module === undefined) {
      this.#off = true;
      return undefined;
    }
    let worker: Worker;
    try {
      worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, path } });
    } catch {
      // A runtime without worker threads: the commit that asked must not fail for it.
      this.#off = true;
      return undefined;
    }
    // A checkpointer never keeps the process alive.
    worker.unref();
    worker.on('message', (message) => {
      if (message === 'done') this.#asked = false;
    });
    worker.on('error', () => this.#stop());
    worker.on('exit', () => this.#stop());
    this.#raw.pragma(`wal_autocheckpoint = ${BACKSTOP_AUTOCHECKPOINT}`);
    this.#worker = worker;
    return worker;
  }

  /** Back to SQLite's own checkpoints (the worker failed or exited). */
  #stop(): void {
    this.#off = true;
    this.#worker = undefined;
    if (this.#raw.open) this.#raw.pragma(`wal_autocheckpoint = ${DEFAULT_AUTOCHECKPOINT}`);
  }

  /**
   * Closes the worker's connection before the driver closes its own, so that the driver's is the
   * last one and checkpoints and removes the WAL as SQLite does without a worker.
   */
  close(): Promise<void> {
    this.#closed ??= new Promise<void>((done) => {
      const worker = this.#worker;
      this.#off = true;
      if (!worker) return done();
      worker.once('exit', () => done());
      worker.on('message', (message) => {
        if (message === 'closed') void worker.terminate();
      });
      worker.postMessage('close');
    });
    return this.#closed;
  }
}
