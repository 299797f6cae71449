/**
 * Text every storage keeps: the escaping of NUL and lone surrogates (odd-text.ts), and runs whose
 * input and model answer hold them, end to end on memory, SQLite and PostgreSQL. Before the
 * escaping, PostgreSQL refused the commit ("unsupported Unicode escape sequence") and the step was
 * called again until the run failed.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Engine, MemoryStorage, PostgresStorage, ScriptedProvider, SqliteStorage, workflow, type Storage } from '../src/index.js';
import { escapeJsonText, escapeText, parseEscapedJson, unescapeText } from '../src/storage/odd-text.js';
import { scratch } from './scratch.js';

const ODD = ['\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\ud800\udfffy', '\udfff\ud800', '\ud83d\ude80', '\\u0000', '\\\u0000', '\ufdd0', '\ufdd0d800', '\u0001\u2028\uffff'];

describe('escaping odd text', () => {
  it('round-trips every odd string, and leaves plain text (emoji included) untouched', () => {
    for (const text of [...ODD, ODD.join('')]) expect(unescapeText(escapeText(text))).toBe(text);
    for (const plain of ['', 'hello', 'héllo ✓ \ud83d\ude80', '\\u0000 typed as text']) expect(escapeText(plain)).toBe(plain);
    expect(escapeText('a\u0000\ud800\ufdd0')).toBe('a\ufdd00000\ufdd0d800\ufdd0fdd0');
    expect(escapeText('x\ud800y')).not.toMatch(/[\u0000\ud800-\udfff]/);
  });

  it('escapes JSON text into JSON with no \\u0000 or surrogate escape, and parses it back', () => {
    const value = { text: ODD.join('|'), list: ODD, [`k\u0000${ODD[2]!}`]: ODD[9] };
    const json = JSON.stringify(value);
    const escaped = escapeJsonText(json);
    expect(escaped).not.toMatch(/(^|[^\\])(\\\\)*\\u(0000|d[89a-f])/);
    expect(JSON.parse(escaped)).toBeTypeOf('object'); // still JSON
    expect(parseEscapedJson(escaped)).toStrictEqual(value);
    const plain = JSON.stringify({ a: 'hello \\u0000 as typed', b: 'héllo \ud83d\ude80', c: '\u0001' });
    expect(escapeJsonText(plain)).toBe(plain);
    expect(parseEscapedJson(plain)).toStrictEqual(JSON.parse(plain));
  });
});

// A real server is required: the PostgreSQL case fails, rather than skips, when it is down.
const { pgUrl: URL, schema, dir } = scratch('odd');

const memory = new MemoryStorage();
/** Each factory gives a storage over the same data (memory: the same instance). */
const STORAGES: readonly (readonly [string, () => Storage])[] = [
  ['memory', () => memory],
  ['SQLite', () => new SqliteStorage({ path: join(dir, 'odd.db') })],
  ['PostgreSQL', () => new PostgresStorage({ connectionString: URL, schema })],
];

describe.each(STORAGES)('a run with odd text on %s', (_name, makeStorage) => {
  it('completes with one provider call, and reads back exactly from a fresh engine', async () => {
    const input = { text: `in ${ODD.join('|')}` };
    const answer = `out ${ODD.join('|')}`;
    const provider = new ScriptedProvider(() => answer);
    const storage = makeStorage();
    const engine = new Engine({ storage, providers: { mock: provider } });
    const wf = workflow('odd').prompt('ask', { model: 'mock:m', template: 'Echo {{input.text}}' }).end({ said: 'ask.text', heard: 'input.text' });
    let id: string;
    try {
      const run = await engine.run(wf, input);
      expect(run.status).toBe('completed');
      expect(run.output_data).toStrictEqual({ said: answer, heard: input.text });
      expect(provider.calls).toHaveLength(1);
      id = run.id;
    } finally {
      await engine.close();
    }
    const again = new Engine({ storage: makeStorage(), providers: { mock: provider } });
    try {
      const stored = (await again.get(id))!;
      expect(stored.input_data).toStrictEqual(input);
      expect(stored.output_data).toStrictEqual({ said: answer, heard: input.text });
      expect(stored.execution_trace.find((s) => s.node_id === 'ask')?.output_data).toMatchObject({ text: answer });
      const calls = await again.calls.list({ workflow_execution_id: id });
      expect(calls).toHaveLength(1);
      expect(calls[0]!.response).toMatchObject({ text: answer });
      expect(JSON.stringify(calls[0]!.request)).toContain(JSON.stringify(input.text).slice(1, -1));
      expect(provider.calls).toHaveLength(1);
    } finally {
      await again.close();
    }
  });
});
