/**
 * {@link Storage.commitMany} for a storage that cannot share a transaction between commits: each
 * commit on its own, in order, its failure its own outcome.
 */
import type { CommitOutcome, StepCommit, Storage } from './storage.js';

export async function commitEach(storage: Pick<Storage, 'commit'>, commits: readonly StepCommit[]): Promise<CommitOutcome[]> {
  const outcomes: CommitOutcome[] = [];
  for (const commit of commits) {
    try {
      outcomes.push(await storage.commit(commit));
    } catch (error) {
      outcomes.push(error instanceof Error ? error : new Error(String(error)));
    }
  }
  return outcomes;
}
