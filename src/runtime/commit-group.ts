/**
 * Cross-run group commit: the commits of different runs that are ready together share one
 * transaction ({@link Storage.commitMany}), instead of paying one durable commit (a WAL write; on
 * PostgreSQL a flush and its round trips) each. Groups form two ways, neither with a timer:
 *
 * - While a group is being written, every commit that becomes ready queues behind it, and they all
 *   go next (what gathers on PostgreSQL, where a transaction takes a while).
 * - Within one turn of the event loop, the first run to commit goes at once; when another run
 *   commits in the same turn, it and every later one wait for the end of the turn's I/O callbacks
 *   (`setImmediate`) and go together. Steps of different runs that finish on separate I/O
 *   callbacks (provider answers arriving) gather this way on SQLite too, whose transaction is over
 *   before the next callback runs.
 *
 * A lone run never waits: its commits are the only ones of their turn (its later commits in the
 * same turn too), so they go at once, alone, through {@link Storage.commit}, as without grouping.
 *
 * Each commit keeps its own fence and atomicity (the storage reports an outcome per commit), and
 * its caller learns its fate only once the whole group's transaction has landed, so nothing a
 * commit announces (events, the next steps) runs before it is durable.
 *
 * One group per storage object, shared by the engines of this process that use it.
 */
import type { CommitOutcome, StepCommit, Storage } from '../storage/storage.js';

interface Waiting {
  readonly commit: StepCommit;
  readonly resolve: (landed: boolean) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Groups in flight at once. One: a group is written while the next one gathers, which is what
 * makes groups form (with more lanes the second commit of a burst would go alone too). SQLite has
 * one writer anyway. On PostgreSQL, with 200 runs in flight, one lane measured 267-318 µs per step,
 * two 335-387, four about 309 with more CPU, and every commit on its own side by side on the pool
 * 925-1,544 (docs/performance-notes.md): a group's statements cost little more than one commit's.
 */
const LANES = 1;

export class CommitGroup {
  readonly #storage: Storage;
  #waiting: Waiting[] = [];
  #inFlight = 0;

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  /** The run that committed first in this turn of the event loop; `undefined` once the turn ended. */
  #turnRun: string | undefined;
  /** Another run committed in this turn too: the turn's commits go together at its end. */
  #turnShared = false;
  readonly #endTurn = (): void => {
    this.#turnRun = undefined;
    this.#turnShared = false;
    if (this.#waiting.length > 0 && this.#inFlight < LANES) this.#send();
  };

  /** Writes `commit`, with whatever else is ready by then; resolves as {@link Storage.commit} does. */
  commit(commit: StepCommit): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#waiting.push({ commit, resolve, reject });
      if (this.#turnRun === undefined) {
        this.#turnRun = commit.runId;
        setImmediate(this.#endTurn);
      } else if (commit.runId !== this.#turnRun) this.#turnShared = true;
      if (!this.#turnShared && this.#inFlight < LANES) this.#send();
    });
  }

  #send(): void {
    const group = this.#take();
    if (group.length === 0) return;
    this.#inFlight++;
    void this.#write(group).finally(() => {
      this.#inFlight--;
      if (this.#waiting.length > 0) this.#send();
    });
  }

  /**
   * The next group: everything waiting, except a second commit of a run already in it, which waits
   * for the next (a run's commits land one after another; its CommitBatch sends one at a time, but
   * two engines sharing the storage are not bound by that).
   */
  #take(): Waiting[] {
    const waiting = this.#waiting;
    const runs = new Set<string>();
    const group: Waiting[] = [];
    const later: Waiting[] = [];
    for (const entry of waiting) {
      if (runs.has(entry.commit.runId)) later.push(entry);
      else {
        runs.add(entry.commit.runId);
        group.push(entry);
      }
    }
    this.#waiting = later;
    return group;
  }

  async #write(group: readonly Waiting[]): Promise<void> {
    const storage = this.#storage;
    // Alone, or on a storage without groups: the commit as it always was.
    if (group.length === 1 || !storage.commitMany) {
      await Promise.all(group.map((entry) => storage.commit(entry.commit).then(entry.resolve, entry.reject)));
      return;
    }
    let outcomes: CommitOutcome[];
    try {
      outcomes = await storage.commitMany(group.map((entry) => entry.commit));
    } catch (error) {
      for (const entry of group) entry.reject(error);
      return;
    }
    group.forEach((entry, i) => {
      const outcome = outcomes[i];
      if (typeof outcome === 'boolean') entry.resolve(outcome);
      else entry.reject(outcome ?? new Error(`commitMany answered ${outcomes.length} outcomes for ${group.length} commits`));
    });
  }
}

const groups = new WeakMap<Storage, CommitGroup>();

/** Where a run's commits go: its storage's group, or the storage itself. */
export interface Committer {
  commit(commit: StepCommit): Promise<boolean>;
}

/**
 * The commit group of `storage` (made on first use); the storage itself when grouping saves it
 * nothing ({@link Storage.groupCommits} false: measured, the gathering cost W4 in the peer harness
 * about 10% on MemoryStorage, whose commits cost no I/O).
 */
export function commitGroupOf(storage: Storage): Committer {
  if (storage.groupCommits === false) return storage;
  let group = groups.get(storage);
  if (!group) groups.set(storage, (group = new CommitGroup(storage)));
  return group;
}
