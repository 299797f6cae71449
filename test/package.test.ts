/**
 * The built package, as a user installs it: every entry point imports in ESM and CJS, the main
 * entry runs a workflow, and importing it loads neither the provider SDKs, pg, kysely, express, nor
 * the dependencies loaded on first use (zod, cel-js, croner, p-queue: src/kernel/lazy-modules.ts).
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
    for (const name of [...NOT_ON_IMPORT, ...ON_FIRST_USE]) {
      expect(modules.filter((m) => m.includes(`/node_modules/${name}/`))).toEqual([]);
    }
  });

  it('loads none of them on import in ESM either (resolve hook and require cache)', () => {
    // A resolve hook sees every static import; the require cache, anything loaded on first use
    // (lazy-modules.ts requires it) by mistake while the module loads.
    const loaded = node(['--input-type=module', '-e', ESM_LOADED_MODULES]);
    const modules = JSON.parse(loaded) as string[];
    expect(modules.some((m) => m.endsWith('/dist/index.js'))).toBe(true);
    for (const name of [...NOT_ON_IMPORT, ...ON_FIRST_USE]) {
      expect(modules.filter((m) => m.includes(`/node_modules/${name}/`))).toEqual([]);
    }
  });

  it('loads node:net and node:dns only when a webhook host is checked', () => {
    const builtins = "process.moduleLoadList.filter((m) => /^NativeModule (net|dns)/.test(m))";
    const onImport = node(['--input-type=module', '-e', `await import('trellis'); console.log(JSON.stringify(${builtins}))`]);
    expect(JSON.parse(onImport)).toEqual([]);
    // A webhook to a loopback address: refused by the host check, which is what loads them.
    const onUse = node(['--input-type=module', '-e', `const t = await import('trellis'); await new t.Engine({ storage: new t.MemoryStorage() }).run(t.workflow('w').webhook('h', { url: 'http://127.0.0.1:9/' }), {}).catch(() => {}); console.log(JSON.stringify(${builtins}))`]);
    expect(JSON.parse(onUse)).toEqual(expect.arrayContaining(['NativeModule net']));
  });

  it('loads zod on first use as the very copy `import "zod"` gives (ESM) and `require("zod")` gives (CJS)', () => {
    const esm = node([
      '--input-type=module',
      '-e',
      "const { z } = await import('zod'); const t = await import('trellis'); t.validateWorkflow({}); const s = z.object({ wf: t.WorkflowSchema }); console.log([t.WorkflowSchema.constructor === z.ZodObject, t.WorkflowSchema instanceof z.ZodType, s.safeParse({ wf: t.workflow('w').build() }).success, s.safeParse({ wf: {} }).success].join())",
    ]);
    expect(esm.trim()).toBe('true,true,true,false');
    const cjs = node(['-e', "const t = require('trellis'); t.validateWorkflow({}); console.log(t.WorkflowSchema.constructor === require('zod').z.ZodObject)"]);
    expect(cjs.trim()).toBe('true');
  });
});

/** Never loaded by importing the main entry: optional integrations, loaded by the code that needs them. */
const NOT_ON_IMPORT = ['openai', '@anthropic-ai', 'ollama', 'pg', 'kysely', 'better-sqlite3', 'express'];
/** Loaded on first use, not on import: the costliest dependencies to load (src/kernel/lazy-modules.ts). */
const ON_FIRST_USE = ['zod', '@marcbachmann/cel-js', 'croner', 'p-queue'];

/** Prints, as JSON, every URL resolved and every file required while `trellis` is imported. */
const ESM_LOADED_MODULES = `
import { createRequire, register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const hooks = \`let port;
export function initialize(data) { port = data.port; port.on('message', () => port.postMessage(null)); }
export async function resolve(specifier, context, next) { const r = await next(specifier, context); port.postMessage(r.url); return r; }\`;
register('data:text/javascript,' + encodeURIComponent(hooks), { data: { port: port2 }, transferList: [port2] });
const urls = [];
const flushed = new Promise((done) => port1.on('message', (url) => (url === null ? done() : urls.push(url))));
await import('trellis');
port1.postMessage('flush');
await flushed;
port1.close();
console.log(JSON.stringify([...urls, ...Object.keys(createRequire(import.meta.url).cache)]));
`;
