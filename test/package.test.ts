/**
 * The built package, as this repo resolves it by name (`@trellis-ai/trellis` points at dist/ through
 * `exports`): every entry point imports, the package.json entry points exist, CommonJS can
 * `require()` it, and importing it loads neither the optional packages (provider SDKs, drivers,
 * express) nor the dependencies loaded on first use (src/kernel/lazy-modules.ts).
 *
 * dist/ is built only when a source file is newer than it, so a warm run takes seconds. Installing
 * the packed tarball into fresh projects (bundlers, pnpm, Express 4 and 5, strict type checks) is
 * .ci/consumers, which CI runs after the suite.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const node = (args: string[]): string => execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
const PKG = '@trellis-ai/trellis';

/** The newest modification time under `dir`, in ms. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

beforeAll(() => {
  const built = join(root, 'dist/index.js');
  const inputs = [newest(join(root, 'src')), ...['tsconfig.build.json', 'scripts/build.mjs'].map((file) => statSync(join(root, file)).mtimeMs)];
  const stale = !existsSync(built) || Math.max(...inputs) > statSync(built).mtimeMs;
  if (stale) execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'ignore' });
}, 600_000);

describe('built package', () => {
  it('has every file package.json points at: exports, types, typesVersions for node10', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      name: string;
      main: string;
      types: string;
      sideEffects: boolean;
      exports: Record<string, string | { types: string; default: string }>;
      typesVersions: Record<string, Record<string, string[]>>;
    };
    expect(pkg.name).toBe(PKG);
    expect(pkg.sideEffects).toBe(false);
    const files = [pkg.main, pkg.types];
    for (const target of Object.values(pkg.exports)) files.push(...(typeof target === 'string' ? [target] : [target.types, target.default]));
    for (const paths of Object.values(pkg.typesVersions['*'] ?? {})) files.push(...paths);
    for (const file of files) expect(existsSync(join(root, file)), file).toBe(true);
    // Every subpath export has a typesVersions entry, so node10 resolution finds its types.
    const subpaths = Object.keys(pkg.exports).filter((key) => key !== '.' && key !== './package.json').map((key) => key.slice(2));
    expect(Object.keys(pkg.typesVersions['*'] ?? {}).sort()).toEqual(subpaths.sort());
  });

  it('keeps the literal require() calls and `typeof require` for app bundlers to follow (scripts/build.mjs)', () => {
    const code = readdirSync(join(root, 'dist'), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.js'))
      .map((file) => readFileSync(join(root, 'dist', file), 'utf8'))
      .join('\n');
    for (const name of ON_FIRST_USE) expect(code).toContain(`require("${name}")`);
    expect(code).toContain('typeof require === "function"');
    expect(code).not.toMatch(/typeof __require|__require\(["']/);
  });

  it('imports every entry point as an ES module and through require()', () => {
    const esm = node([
      '--input-type=module',
      '-e',
      `const m = await import('${PKG}'); const x = await import('${PKG}/express'); const t = await import('${PKG}/testing'); console.log([typeof m.Engine, typeof m.workflow, typeof x.createRouter, typeof t.FakeClock].join())`,
    ]);
    expect(esm.trim()).toBe('function,function,function,function');
    // ESM only: CommonJS gets the same build through require(esm) (Node ^20.19 || >=22.12).
    const cjs = node(['-e', `const m = require('${PKG}'); const t = require('${PKG}/testing'); console.log([typeof m.Engine, typeof m.MissingPackageError, typeof t.ScriptedProvider].join())`]);
    expect(cjs.trim()).toBe('function,function,function');
  });

  it('runs a workflow when required from CommonJS', () => {
    const out = node([
      '-e',
      `const t = require('${PKG}'); new t.Engine({ storage: new t.MemoryStorage() }).run(t.workflow('x').transform('a', { v: '1 + 1' }).end({ v: 'a.v' }), {}).then((r) => console.log(JSON.stringify(r.output_data)))`,
    ]);
    expect(JSON.parse(out)).toEqual({ v: 2 });
  });

  it('loads no optional package and none of the first-use dependencies on import', () => {
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
    const builtins = 'process.moduleLoadList.filter((m) => /^NativeModule (net|dns)/.test(m))';
    const onImport = node(['--input-type=module', '-e', `await import('${PKG}'); console.log(JSON.stringify(${builtins}))`]);
    expect(JSON.parse(onImport)).toEqual([]);
    // A webhook to a loopback address: refused by the host check, which is what loads them.
    const onUse = node(['--input-type=module', '-e', `const t = await import('${PKG}'); await new t.Engine({ storage: new t.MemoryStorage() }).run(t.workflow('w').webhook('h', { url: 'http://127.0.0.1:9/' }), {}).catch(() => {}); console.log(JSON.stringify(${builtins}))`]);
    expect(JSON.parse(onUse)).toEqual(expect.arrayContaining(['NativeModule net']));
  });

  it('loads zod on first use as the very copy `import "zod"` gives, and composes with CommonJS zod too', () => {
    const esm = node([
      '--input-type=module',
      '-e',
      `const { z } = await import('zod'); const t = await import('${PKG}'); t.validateWorkflow({}); const s = z.object({ wf: t.WorkflowSchema }); console.log([t.WorkflowSchema.constructor === z.ZodObject, t.WorkflowSchema instanceof z.ZodType, s.safeParse({ wf: t.workflow('w').build() }).success, s.safeParse({ wf: {} }).success].join())`,
    ]);
    expect(esm.trim()).toBe('true,true,true,false');
    // require('zod') is zod's CommonJS build, a second copy: zod 4 recognises the other copy's schemas.
    const cjs = node(['-e', `const t = require('${PKG}'); const { z } = require('zod'); const s = z.object({ wf: t.WorkflowSchema }); console.log([t.WorkflowSchema instanceof z.ZodType, s.safeParse({ wf: t.workflow('w').build() }).success, s.safeParse({ wf: {} }).success].join())`]);
    expect(cjs.trim()).toBe('true,true,false');
  });
});

/** Never loaded by importing the main entry: optional integrations, loaded by the code that needs them. */
const NOT_ON_IMPORT = ['openai', '@anthropic-ai', 'ollama', 'pg', 'kysely', 'better-sqlite3', 'express'];
/** Loaded on first use, not on import: the costliest dependencies to load (src/kernel/lazy-modules.ts). */
const ON_FIRST_USE = ['zod', '@marcbachmann/cel-js', 'croner', 'p-queue', 're2js', 'ipaddr.js'];

/** Prints, as JSON, every URL resolved and every file required while the package is imported. */
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
await import('${PKG}');
port1.postMessage('flush');
await flushed;
port1.close();
console.log(JSON.stringify([...urls, ...Object.keys(createRequire(import.meta.url).cache)]));
`;
