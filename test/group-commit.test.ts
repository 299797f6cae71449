/**
 * Cross-run group commit (src/runtime/commit-group.ts) through the engine, on memory, SQLite and
 * PostgreSQL: many runs in flight share transactions, every step is committed exactly once, a
 * lone run commits at once and alone, and one run's refused fence inside a group costs the other
 * runs nothing.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, type PostgresStorage, workflow, type Provider, type StepCommit, type Storage, type WorkflowBuilder, type WorkflowExecution } from '../src/index.js';
import { makeCall, makeRun, makeStep } from '../src/testing/storage-fixtures.js';
import { scratch } from './scratch.js';
import { scratchStorages } from './scratch-storages.js';
import { until } from './helpers.js';

const area = scratch('group');
const { kinds } = scratchStorages(area);

/** A chain of `n` prompts, each using the previous answer. */
function chain(n: number): WorkflowBuilder<object> {
  let wf: WorkflowBuilder<object> = workflow('group-chain').prompt('s1', { model: 'p:m', template: 'a' });
  for (let i = 2; i <= n; i++) wf = wf.prompt(`s${i}`, { model: 'p:m', template: `{{s${i - 1}.text}}b` });
  return wf.end({ last: `s${n}.text` });
}

/** Starts `count` runs of `chain(steps)` at once and waits until every one has completed. */
async function runChains(engine: Engine, count: number, steps: number): Promise<WorkflowExecution[]> {
  const ids = await Promise.all(Array.from({ length: count }, () => engine.start(chain(steps), {})));
  const runs = await Promise.all(ids.map((id) => engine.wait(id)));
  expect(runs.map((r) => r.status)).toEqual(ids.map(() => 'completed'));
  return runs;
}

/** Answers on the next macrotask: the steps of runs in flight settle together, as under load. */
const nextTick: Provider = {
  name: 'p',
  complete: async (request) => {
    await new Promise((resolve) => setImmediate(resolve));
    return { text: `${request.prompt.slice(-8)}+`, usage: { input_tokens: 1, output_tokens: 1 } };
  },
};

/** Every commit the engine sends, as groups (a commit alone is a group of one). */
function recordCommits(storage: Storage): StepCommit[][] {
  const groups: StepCommit[][] = [];
  const commit = storage.commit.bind(storage);
  const commitMany = storage.commitMany?.bind(storage);
  // A storage's commitMany may call its own commit (memory always, PostgreSQL for a commit that
  // goes alone): counted once, as the group. Two groups may be in flight at once, so what runs
  // inside one is told apart by its async context, not by a counter.
  const insideGroup = new AsyncLocalStorage<true>();
  storage.commit = (c) => {
    if (insideGroup.getStore() === undefined) groups.push([c]);
    return commit(c);
  };
  if (commitMany) {
    storage.commitMany = (commits) => {
      groups.push([...commits]);
      return insideGroup.run(true, () => commitMany(commits));
    };
  }
  return groups;
}

/**
 * MemoryStorage does not group (its commits cost no I/O: `groupCommits` false); the grouping is
 * exercised on it through a subclass that asks for it, over its reference `commitMany`.
 */
class GroupingMemoryStorage extends MemoryStorage {
  override readonly groupCommits = true;
}
const grouping = kinds.map(([name, make]): [string, () => Storage] => (name === 'memory' ? [name, () => new GroupingMemoryStorage()] : [name, make]));

describe.each(grouping)('group commit on %s', (_name, make) => {
  it('50 runs in flight on one engine all complete, sharing transactions, each step committed exactly once', async () => {
    const storage = make();
    await storage.init();
    const groups = recordCommits(storage);
    const engine = new Engine({ storage, providers: { p: nextTick } });
    try {
      const runs = await runChains(engine, 50, 6);
      expect(runs.every((r) => JSON.stringify(r.output_data) === JSON.stringify(runs[0]!.output_data))).toBe(true);
      // Grouped: commits of different runs shared a transaction.
      expect(Math.max(...groups.map((g) => g.length))).toBeGreaterThan(1);
      // Exactly once: each step's completed row was sent in one commit, and each commit in one group.
      const completed = new Map<string, number>();
      for (const commit of groups.flat()) {
        for (const step of commit.steps) if (step.status === 'completed') completed.set(`${commit.runId} ${step.path}`, (completed.get(`${commit.runId} ${step.path}`) ?? 0) + 1);
      }
      expect([...completed.values()].every((n) => n === 1)).toBe(true);
      let stored = 0;
      for (const { id } of runs) {
        const steps = await storage.getSteps(id);
        expect(steps.every((s) => s.status === 'completed')).toBe(true);
        expect(steps.filter((s) => /^s\d$/.test(s.path)).map((s) => s.path)).toEqual(['s1', 's2', 's3', 's4', 's5', 's6']);
        for (const step of steps) expect(completed.get(`${id} ${step.path}`)).toBe(1);
        stored += steps.length;
      }
      expect(completed.size).toBe(stored);
    } finally {
      await engine.close();
      await storage.close();
    }
  }, 60_000);

  it('a lone run commits each time at once, on its own (no group waits to form)', async () => {
    const storage = make();
    await storage.init();
    const groups = recordCommits(storage);
    const engine = new Engine({ storage, providers: { p: nextTick } });
    try {
      const run = await engine.run(chain(4), {});
      expect(run.status).toBe('completed');
      expect(groups.length).toBeGreaterThan(1);
      expect(groups.every((g) => g.length === 1)).toBe(true);
    } finally {
      await engine.close();
      await storage.close();
    }
  }, 60_000);

  it("a run whose fence fails inside a group is abandoned alone: the runs it shared the transaction with go on", async () => {
    const storage = make();
    await storage.init();
    const groups = recordCommits(storage);
    // Commits the storage has not answered yet.
    let inFlight = 0;
    for (const method of ['commit', 'commitMany'] as const) {
      const original = storage[method]?.bind(storage) as ((arg: never) => Promise<unknown>) | undefined;
      if (!original) continue;
      (storage as unknown as Record<string, unknown>)[method] = async (arg: never) => {
        inFlight++;
        try {
          return await original(arg);
        } finally {
          inFlight--;
        }
      };
    }
    let open: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let waiting = 0;
    // Every call waits at the gate: opened, all the runs' steps settle in the same tick.
    const gated: Provider = {
      name: 'p',
      complete: async (request) => {
        waiting++;
        await gate;
        return { text: `${request.prompt.slice(-8)}+`, usage: { input_tokens: 1, output_tokens: 1 } };
      },
    };
    const lost: { executionId: string; code: string }[] = [];
    const quiet = (): void => undefined;
    const warn = (fields: Readonly<Record<string, unknown>>): void => void lost.push({ executionId: String(fields.executionId), code: String((fields.err as { code?: unknown } | undefined)?.code) });
    const engine = new Engine({ storage, providers: { p: gated }, instanceId: 'me', logger: { error: quiet, info: quiet, debug: quiet, warn } });
    try {
      const ids = await Promise.all(Array.from({ length: 5 }, () => engine.start(chain(3), {})));
      await until(() => waiting === 5);
      // Every run's `running` row landed: nothing of theirs is in flight when the gate opens (a
      // commit still landing would hold the run's next one back, to go later, alone).
      await until(async () => inFlight === 0 && (await Promise.all(ids.map((id) => storage.getStep(id, 's1')))).every((step) => step?.status === 'running'));
      await new Promise((resolve) => setImmediate(resolve)); // and their outcomes reached the runs
      // Another process took the first run over (its owner changed under this engine).
      // Not the first run: the first to commit in a turn goes alone, the others together.
      const stolen = ids[2]!;
      const others = ids.filter((id) => id !== stolen);
      expect(await storage.updateRun(stolen, { owner: 'thief' })).toBeDefined();
      const before = await storage.getSteps(stolen);
      open();
      // This engine gives the run up (it goes on wherever its new owner drives it).
      await until(() => lost.length > 0);
      expect(lost).toEqual([{ executionId: stolen, code: 'conflict' }]);
      const finished = await Promise.all(others.map((id) => engine.wait(id)));
      expect(finished.map((r) => r.status)).toEqual(others.map(() => 'completed'));
      // The refused commit shared its transaction with others that landed.
      expect(groups.some((g) => g.length > 1 && g.some((c) => c.runId === stolen && c.steps.some((s) => s.status === 'completed')))).toBe(true);
      expect(await storage.getSteps(stolen)).toEqual(before);
      expect((await storage.getRun(stolen))?.owner).toBe('thief');
    } finally {
      open();
      await engine.close();
      await storage.close();
    }
  }, 60_000);
});

describe('PostgreSQL group commit when the server refuses a statement', () => {
  it('writes the group one commit at a time: the refused commit fails alone, the others land', async () => {
    const storage = kinds.find(([name]) => name === 'PostgreSQL')![1]() as PostgresStorage;
    await storage.init();
    try {
      for (const id of ['p1', 'p2', 'p3']) await storage.createRun(makeRun(id, { status: 'running', owner: 'me' }));
      const outcomes = await storage.commitMany([
        { runId: 'p1', steps: [makeStep('p1', 'a', 1)], calls: [makeCall('k1', { workflow_execution_id: 'p1', workflow_node_id: 'a' })], expect: { owner: 'me' } },
        // A step row naming a run that does not exist: its foreign key aborts the group's multi-row insert.
        { runId: 'p2', steps: [makeStep('ghost', 'a', 1)], expect: { owner: 'me' } },
        { runId: 'p3', steps: [makeStep('p3', 'a', 1)], run: { status: 'completed' }, expect: { owner: 'me' } },
      ]);
      expect(outcomes[0]).toBe(true);
      expect(outcomes[1]).not.toBe(true);
      expect(outcomes[2]).toBe(true);
      expect((await storage.getSteps('p1')).map((s) => s.path)).toEqual(['a']);
      expect(await storage.getCall('k1')).toBeDefined();
      expect(await storage.getSteps('ghost')).toEqual([]);
      expect(await storage.getRun('p3')).toMatchObject({ status: 'completed', revision: 1 });
    } finally {
      await storage.close();
    }
  });
});

describe('MemoryStorage (groupCommits false)', () => {
  it('takes every commit at once, one by one: nothing waits for a group to form', async () => {
    const storage = new MemoryStorage();
    const groups = recordCommits(storage);
    const engine = new Engine({ storage, providers: { p: nextTick } });
    try {
      await runChains(engine, 10, 3);
      expect(groups.length).toBeGreaterThan(10);
      expect(groups.every((g) => g.length === 1)).toBe(true);
    } finally {
      await engine.close();
    }
  });
});

describe('commit group on a storage without commitMany', () => {
  it('commits one by one through commit', async () => {
    const memory = new MemoryStorage();
    // A storage written before group commit: the same object, without the optional method.
    const storage = new Proxy(memory, { get: (target, key) => (key === 'commitMany' ? undefined : (Reflect.get(target, key) as unknown as { bind?: unknown }) && typeof Reflect.get(target, key) === 'function' ? (Reflect.get(target, key) as (...a: unknown[]) => unknown).bind(target) : Reflect.get(target, key)) });
    const engine = new Engine({ storage, providers: { p: nextTick } });
    try {
      await runChains(engine, 10, 3);
    } finally {
      await engine.close();
    }
  });
});
