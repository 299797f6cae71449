/**
 * Vitest global setup: builds every child-process fixture (test/fixtures/*.ts) once per `vitest run`
 * into test/.fixtures-dist/<name>.mjs, so tests that kill and restart processes spawn plain `node` on
 * built JS. A TypeScript loader per process (tsx) cost a second or more of startup per kill on a busy
 * machine, which is what made the crash tests time out. Packages stay external (resolved from the
 * repository's node_modules, as the package's users resolve them); the library source is bundled in.
 */
import { readdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';
import { FIXTURES_DIST, FIXTURES_SOURCE } from './fixture-process.js';
import { buildDashboard, dashboardIsStale } from '../scripts/build-dashboard.mjs';

export default async function buildFixtures(): Promise<void> {
  // The dashboard's browser tests (test/dashboard*.browser.test.ts) serve the built page; about a
  // second of Vite when dashboard/ changed since the last build, nothing otherwise.
  if (dashboardIsStale()) await buildDashboard();
  const entryPoints = readdirSync(FIXTURES_SOURCE)
    .filter((file) => file.endsWith('.ts'))
    .map((file) => `${FIXTURES_SOURCE}/${file}`);
  rmSync(FIXTURES_DIST, { recursive: true, force: true });
  await build({
    entryPoints,
    outdir: FIXTURES_DIST,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'warning',
    // A real `require` for the bundle: src/kernel/lazy-modules.ts requires its lazy packages by name
    // when bundled, and esbuild's ES module output has none of its own for external packages.
    banner: { js: "import { createRequire as createRequireForBundle } from 'node:module'; const require = createRequireForBundle(import.meta.url);" },
  });
}
