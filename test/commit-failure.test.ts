/**
 * A commit that fails (a full disk, a lost connection past its retries) drops the run from this
 * process without losing it: its lease is given up at once so any engine's recovery takes it on,
 * and a caller waiting for it sees its real end, not the storage error.
 */
import { describe, expect, it } from 'vitest';
import { MemoryStorage, workflow, type StepCommit } from '../src/index.js';
import { makeEngine } from './helpers.js';

/** Memory storage whose commit of a completed `two` fails once. */
class FailingOnce extends MemoryStorage {
  failed = false;

  override async commit(commit: StepCommit): Promise<boolean> {
    if (!this.failed && commit.steps.some((s) => s.node_id === 'two' && s.status === 'completed')) {
      this.failed = true;
      throw new Error('disk full');
    }
    return super.commit(commit);
  }
}

describe('a commit that fails', () => {
  it('gives up the lease, so recovery takes the run on, and wait() follows it to its end', async () => {
    const storage = new FailingOnce();
    const { engine, mock } = makeEngine((r) => `done ${r.prompt}`, { storage });
    const wf = workflow('three')
      .prompt('one', { model: 'mock:m', template: 'one' })
      .prompt('two', { model: 'mock:m', template: 'two' })
      .prompt('three', { model: 'mock:m', template: 'three' })
      .end({ last: 'three.text' });
    const id = await engine.start(wf, {});
    const waited = engine.wait(id);
    await expect.poll(() => storage.failed).toBe(true);
    // Dropped here: no owner, so it is an orphan to every engine at once, not after the lease.
    await expect.poll(async () => (await storage.getRun(id))?.owner).toBeUndefined();
    expect((await storage.getRun(id))?.status).toBe('running');
    expect(await engine.recover()).toEqual([id]);
    const run = await waited;
    expect(run.status).toBe('completed');
    expect(run.output_data).toEqual({ last: 'done three' });
    // `two` ran again (its completion never landed); `one` did not.
    expect(mock.calls.map((c) => c.prompt)).toEqual(['one', 'two', 'two', 'three']);
    await engine.close();
  });
});
