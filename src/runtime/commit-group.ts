/**
 * Cross-run group commit: the commits of different runs that are ready while a group is being
 * written share the next transaction ({@link Storage.commitMany}), instead of paying one durable
 * commit (a WAL write, on PostgreSQL a flush and its round trips) each. A commit with nothing in
 * flight ahead of it is written at once: no timer waits to gather company, so a lone run commits
 * as soon as it did without grouping. Under load the groups form by themselves: while one
 * transaction is in flight, every run that becomes ready queues behind it, and they all go next.
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
 * one writer anyway; on PostgreSQL one lane measured faster than two or four with 200 runs in
 * flight (docs/performance-notes.md), since a group's statements cost little more than one commit's.
 */
const LANES = 1;

export class CommitGroup {
  readonly #storage: Storage;
  #waiting: Waiting[] = [];
  #inFlight = 0;

  constructor(storage: Storage) {
    this.#storage = storage;
  }

  /** Writes `commit`, with whatever else is ready by then; resolves as {@link Storage.commit} does. */
  commit(commit: StepCommit): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#waiting.push({ commit, resolve, reject });
      if (this.#inFlight < LANES) this.#send();
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

/** The commit group of `storage` (made on first use). */
export function commitGroupOf(storage: Storage): CommitGroup {
  let group = groups.get(storage);
  if (!group) groups.set(storage, (group = new CommitGroup(storage)));
  return group;
}
