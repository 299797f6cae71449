/** An approved over-budget call stays approved: the step's attempt runs waived, also when re-run after a crash. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, ScriptedProvider, SqliteStorage, type ProviderRequest } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { edge, node, until } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-waiver-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `first` uses 95 of the run's 100 tokens; `second` then needs about 10 more, so it waits for an approval. */
const overBudget = {
  name: 'waiver',
  definition: {
    nodes: [node('start', 'start'), node('first', 'prompt_execution', { provider_model: 'mock:m', template: 'Hello' }), node('second', 'prompt_execution', { provider_model: 'mock:m', template: 'x'.repeat(40) }), node('end', 'end')],
    edges: [edge('start', 'first'), edge('first', 'second'), edge('second', 'end')],
    settings: { budget: { max_tokens: 100, on_exceed: 'pause' as const } },
  },
};
const used = ScriptedProvider.respond({ text: 'ok', usage: { input_tokens: 60, output_tokens: 35 } });

describe('budget waiver', () => {
  it('an approved over-budget step re-run by a fresh engine after a crash is still waived', async () => {
    const path = join(dir, 'crash.sqlite');
    const clock = new FakeClock();
    // A answers `first`, then never answers the approved `second`: it dies with that call in flight.
    const mockA = new ScriptedProvider((request: ProviderRequest) => (request.prompt === 'Hello' ? used : new Promise(() => undefined)));
    const a = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: mockA }, clock, leaseMs: 1000, instanceId: 'A' });
    const mockB = new ScriptedProvider(() => used);
    const later = new FakeClock(clock.now());
    const b = new Engine({ storage: new SqliteStorage({ path }), providers: { mock: mockB }, clock: later, leaseMs: 1000, instanceId: 'B' });

    const id = await a.start(overBudget, {});
    await until(async () => (await a.get(id))?.status === 'paused');
    await a.approve(id, 'second');
    await until(() => mockA.calls.length === 2);

    await later.advance(2000);
    expect(await b.recover()).toEqual([id]);
    // Not waived, the re-run would wait for an approval again (the run `paused`) instead of completing.
    await until(async () => ['completed', 'paused', 'failed'].includes((await b.get(id))?.status ?? ''));
    expect((await b.get(id))?.status).toBe('completed');
    expect(mockB.calls.map((c) => c.prompt)).toEqual(['x'.repeat(40)]);
  });
});
