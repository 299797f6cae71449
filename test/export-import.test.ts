import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, PostgresStorage, ScriptedProvider, SqliteStorage, type Storage } from '../src/index.js';
import { FakeClock } from '../src/testing/index.js';
import { readJsonSections } from '../src/kernel/json-sections.js';
import { edge, node } from './helpers.js';
import { scratch } from './scratch.js';

const { dir, schema, pgUrl } = scratch('export');
const engines: Engine[] = [];
afterAll(async () => {
  for (const engine of engines) await engine.close();
});

function engineOn(storage: Storage, clock = new FakeClock(1_700_000_000_000)): Engine {
  const mock = new ScriptedProvider((request) => (request.prompt.startsWith('Fail') ? ScriptedProvider.fail('bad_request', 'refused') : `echo ${request.prompt}`));
  const engine = new Engine({ storage, providers: { mock }, clock });
  engines.push(engine);
  return engine;
}

/** start → ask (a model call) → end; version 2 asks twice. */
function triage(version: 1 | 2) {
  const ask = (id: string) => node(id, 'prompt_execution', { provider_model: 'mock:m', template: `{{input.text}} (${id})` });
  const nodes = version === 1 ? [node('start', 'start'), ask('ask'), node('end', 'end', { output: { reply: 'ask.text' } })] : [node('start', 'start'), ask('ask'), ask('again'), node('end', 'end', { output: { reply: 'again.text' } })];
  const edges = version === 1 ? [edge('start', 'ask'), edge('ask', 'end')] : [edge('start', 'ask'), edge('ask', 'again'), edge('again', 'end')];
  return { id: 'triage', name: 'Triage', definition: { nodes, edges, variables: [{ name: 'text', type: 'string' as const, required: true }] } };
}

/** Workflows with several versions, a deleted one, prompts with versions, and ended runs with steps and calls. */
async function fill(engine: Engine): Promise<string[]> {
  await engine.workflows.create(triage(1));
  const ids = [await engine.startStored('triage', { text: 'Hello' })];
  await engine.workflows.update('triage', triage(2));
  ids.push(await engine.startStored('triage', { text: 'Héllo ✓ 🚀 "quoted"\nline two' }));
  ids.push(await engine.startStored('triage', { text: 'Fail please' }));
  await engine.workflows.create({ ...triage(1), id: 'gone', name: 'Gone' });
  ids.push(await engine.startStored('gone', { text: 'kept after delete' }));
  for (const id of ids) await engine.wait(id);
  await engine.workflows.delete('gone');
  await engine.prompts.save({ id: 'greet', template: 'Hi {{name}}' });
  await engine.prompts.save({ id: 'greet', template: 'Hello {{name}}', system: 'Be brief' });
  await engine.prompts.save({ id: 'bye', template: 'Bye {{name}}', provider_model: 'mock:m' });
  return ids;
}

/** What an engine shows of its store: compared between the source and the target of an import. */
async function view(engine: Engine, runIds: readonly string[]) {
  const workflows = await engine.workflows.list();
  return {
    workflows,
    versions: await Promise.all(['triage', 'gone'].map((id) => engine.workflows.versions(id))),
    pinned: await engine.workflows.get('gone', 1).then((w) => w?.definition.name),
    prompts: await engine.prompts.list(),
    promptVersions: await Promise.all([1, 2].map((v) => engine.prompts.get('greet', v))),
    runs: await engine.list(),
    executions: await Promise.all(runIds.map((id) => engine.get(id))),
    calls: await Promise.all(runIds.map((id) => engine.calls.list({ workflow_execution_id: id }))),
  };
}

async function text(chunks: AsyncIterable<string>): Promise<string> {
  let all = '';
  for await (const chunk of chunks) all += chunk;
  return all;
}

describe('export and import', () => {
  it('round-trips SQLite → PostgreSQL → SQLite: workflows (every version), prompts, runs with steps and calls', async () => {
    const sqlite = engineOn(new SqliteStorage({ path: join(dir, 'source.sqlite') }));
    const runIds = await fill(sqlite);
    const before = await view(sqlite, runIds);
    expect(before.runs.map((r) => r.status).sort()).toEqual(['completed', 'completed', 'completed', 'failed']);
    expect(before.calls.flat().length).toBeGreaterThanOrEqual(5);

    const document = await text(sqlite.exportData({ runs: true }));
    expect(JSON.parse(document)).toMatchObject({ format: 'trellis-export', version: 1, workflows: expect.any(Array), prompts: expect.any(Array), runs: expect.any(Array) });

    // Streamed in pieces of odd sizes, as bytes: the importer reads it a line at a time.
    const postgres = engineOn(new PostgresStorage({ connectionString: pgUrl, schema }));
    const bytes = Buffer.from(document);
    const pieces = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, i * 7 + 7));
    expect(await postgres.importFrom(pieces)).toEqual({ workflows: { imported: 3, skipped: 0 }, prompts: { imported: 3, skipped: 0 }, runs: { imported: 4, skipped: 0 } });
    expect(await view(postgres, runIds)).toStrictEqual(before);

    // Back again, through a file.
    const file = join(dir, 'from-postgres.json');
    await postgres.exportTo(createWriteStream(file), { runs: true });
    const back = engineOn(new SqliteStorage({ path: join(dir, 'target.sqlite') }));
    expect(await back.importFrom(createReadStream(file))).toEqual({ workflows: { imported: 3, skipped: 0 }, prompts: { imported: 3, skipped: 0 }, runs: { imported: 4, skipped: 0 } });
    expect(await view(back, runIds)).toStrictEqual(before);
    // The same document both ways, member order aside (PostgreSQL's jsonb reorders keys).
    expect(without(JSON.parse(readFileSync(file, 'utf8')))).toEqual(without(JSON.parse(document)));

    // Importing again changes nothing.
    expect(await postgres.importFrom(document)).toEqual({ workflows: { imported: 0, skipped: 3 }, prompts: { imported: 0, skipped: 3 }, runs: { imported: 0, skipped: 4 } });
    expect(await view(postgres, runIds)).toStrictEqual(before);
  });

  it('an imported engine runs the imported workflows and continues their version numbers', async () => {
    const source = engineOn(new MemoryStorage());
    await fill(source);
    const target = engineOn(new MemoryStorage());
    await target.importFrom(source.exportData());
    expect(await target.list()).toEqual([]); // runs are exported only when asked
    const run = await target.wait(await target.startStored('triage', { text: 'again' }));
    expect(run).toMatchObject({ status: 'completed', workflow_version: 2, output_data: { reply: 'echo again (again)' } });
    expect((await target.workflows.update('triage', triage(1))).version).toBe(3);
  });

  it('throws conflict on a record held with other content, or skips it when asked', async () => {
    const source = engineOn(new MemoryStorage());
    await source.prompts.save({ id: 'greet', template: 'Hi {{name}}' });
    await source.prompts.save({ id: 'other', template: 'Other' });
    const target = engineOn(new MemoryStorage());
    await target.prompts.save({ id: 'greet', template: 'Something else' });
    const document = await text(source.exportData());
    await expect(target.importFrom(document)).rejects.toMatchObject({ code: 'conflict', details: { section: 'prompts', id: 'greet', version: 1 } });
    expect(await target.importFrom(document, { onConflict: 'skip' })).toEqual({ workflows: { imported: 0, skipped: 0 }, prompts: { imported: 1, skipped: 1 }, runs: { imported: 0, skipped: 0 } });
    expect((await target.prompts.get('greet'))?.template).toBe('Something else');
  });

  it('completes a run an earlier import left without its steps', async () => {
    const source = engineOn(new MemoryStorage());
    const [id] = await fill(source);
    const storage = new MemoryStorage();
    const target = engineOn(storage);
    await storage.createRun((await source.list()).find((r) => r.id === id)!);
    const result = await target.importFrom(source.exportData({ runs: true }));
    expect(result.runs).toEqual({ imported: 4, skipped: 0 });
    expect(await target.get(id!)).toStrictEqual(await source.get(id!));
  });

  it('refuses what is not an export, a newer format, and a document cut short', async () => {
    const engine = engineOn(new MemoryStorage());
    await expect(engine.importFrom('{"format":"other","version":1}')).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('Not a Trellis export') });
    await expect(engine.importFrom('{"format":"trellis-export","version":2}')).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('version 2') });
    await expect(engine.importFrom('not json')).rejects.toMatchObject({ code: 'invalid_input' });
    const source = engineOn(new MemoryStorage());
    await source.prompts.save({ id: 'a', template: 'A' });
    await source.prompts.save({ id: 'b', template: 'B' });
    const document = await text(source.exportData());
    await expect(engine.importFrom(document.slice(0, document.lastIndexOf('\n', document.length - 3)))).rejects.toMatchObject({ code: 'invalid_input', message: expect.stringContaining('cut short') });
    // A pretty-printed document is read too (whole).
    expect(await engineOn(new MemoryStorage()).importFrom(JSON.stringify(JSON.parse(document), null, 2))).toMatchObject({ prompts: { imported: 2, skipped: 0 } });
  });

  it('lays the document out a record per line', async () => {
    const engine = engineOn(new MemoryStorage());
    await engine.prompts.save({ id: 'a', template: 'line one\nline two' });
    const document = await text(engine.exportData({ runs: true }));
    expect(document.split('\n')).toEqual([
      '{"format":"trellis-export","version":1,"exported_at":1700000000000,',
      '"workflows":[',
      '],',
      '"prompts":[',
      expect.stringMatching(/^\{"id":"a","version":1,.*"template":"line one\\nline two"/),
      '],',
      '"runs":[',
      ']}',
      '',
    ]);
    const entries = [];
    for await (const entry of readJsonSections(document)) entries.push(entry.kind === 'item' ? entry.section : 'header');
    expect(entries).toEqual(['header', 'prompts']);
  });
});

function without(document: { exported_at?: number }): unknown {
  const { exported_at: _, ...rest } = document;
  return rest;
}
