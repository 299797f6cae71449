/**
 * Builds dist/: ES modules bundled by esbuild (one file per entry point plus shared chunks, which
 * Node loads three times faster than the ~200 files tsc would emit), and declarations by tsc
 * (tsconfig.build.json), one .d.ts per source file. Dependencies and peers stay imports.
 *
 * esbuild turns a free `require` in an ES module into its `__require` shim, which throws in Node.
 * src/kernel/lazy-modules.ts and optional-packages.ts use `require('name')` and `typeof require`
 * on purpose, for the bundler of an app that bundles Trellis to see (see optional-packages.ts):
 * they are put back as written here, and test/package.test.ts checks that they were.
 *
 * The web dashboard is built last, by Vite, into dist/dashboard/ (scripts/build-dashboard.mjs).
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { buildDashboard } from './build-dashboard.mjs';

// Everything but the dashboard, which buildDashboard replaces in one rename at the end.
for (const entry of (existsSync('dist') ? readdirSync('dist', { withFileTypes: true }) : []).filter((e) => e.name !== 'dashboard')) rmSync(`dist/${entry.name}`, { recursive: true, force: true });
const result = await build({
  entryPoints: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts', 'express/index': 'src/express/index.ts' },
  outdir: 'dist',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',
  sourcemap: true,
  chunkNames: 'chunks/[name]-[hash]',
  metafile: true,
  logLevel: 'warning',
});
for (const file of Object.keys(result.metafile.outputs).filter((name) => name.endsWith('.js'))) {
  const code = readFileSync(file, 'utf8');
  const restored = code.replaceAll('typeof __require', 'typeof require').replace(/(?<![\w$])__require\((?=["'])/g, 'require(');
  if (restored !== code) writeFileSync(file, restored);
}
execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
await buildDashboard();
