/**
 * The built package, as a user installs it: every entry point imports in ESM and CJS, the main
 * entry runs a workflow, and importing it loads neither the provider SDKs, pg, kysely nor express.
 */
import { execFileSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const node = (args: string[]): string => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' });

beforeAll(() => {
  execFileSync('npx', ['tsup', '--silent'], { cwd: root, stdio: 'ignore' });
}, 180_000);

describe('built package', () => {
  it('imports every entry point in ESM and CJS', () => {
    const esm = node([
      '--input-type=module',
      '-e',
      "const m = await import('trellis'); const x = await import('trellis/express'); const t = await import('trellis/testing'); console.log([typeof m.Engine, typeof m.workflow, typeof x.createRouter, typeof t.FakeClock].join())",
    ]);
    expect(esm.trim()).toBe('function,function,function,function');
    const cjs = node(['-e', "const m = require('trellis'); const x = require('trellis/express'); const t = require('trellis/testing'); console.log([typeof m.Engine, typeof m.workflow, typeof x.createRouter, typeof t.ScriptedProvider].join())"]);
    expect(cjs.trim()).toBe('function,function,function,function');
  });

  it('runs a workflow from the CJS build', () => {
    const out = node([
      '-e',
      "const t = require('trellis'); new t.Engine({ storage: new t.MemoryStorage() }).run(t.workflow('x').transform('a', { v: '1 + 1' }).end({ v: 'a.v' }), {}).then((r) => console.log(JSON.stringify(r.output_data)))",
    ]);
    expect(JSON.parse(out)).toEqual({ v: 2 });
  });

  it('loads no provider SDK, database driver or express on import (CJS module cache)', () => {
    const loaded = node(['-e', "require('trellis'); console.log(JSON.stringify(Object.keys(require.cache)))"]);
    const modules = JSON.parse(loaded) as string[];
    expect(modules.some((m) => m.includes('/dist/index.cjs'))).toBe(true);
    expect(modules.some((m) => m.includes('node_modules/zod/'))).toBe(true);
    for (const name of ['openai', '@anthropic-ai', 'ollama', 'pg', 'kysely', 'better-sqlite3', 'express']) {
      expect(modules.filter((m) => m.includes(`/node_modules/${name}/`))).toEqual([]);
    }
  });
});
