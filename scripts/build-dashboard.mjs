/**
 * Builds the web dashboard (dashboard/, React + React Flow) with Vite into dist/dashboard/, which
 * src/express/dashboard.ts serves. Used by scripts/build.mjs and, when the sources are newer than
 * the build, by test/global-setup.ts. Run alone: `node scripts/build-dashboard.mjs`.
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const DASHBOARD_SOURCE = join(root, 'dashboard');
export const DASHBOARD_DIST = join(root, 'dist', 'dashboard');

/**
 * Builds the dashboard; resolves when dist/dashboard/ is written. It is built beside and then
 * renamed into place, so a server reading the old build (a test running while another runs
 * `npm run build`) never finds the folder half written.
 */
export async function buildDashboard() {
  const { build } = await import('vite');
  const next = `${DASHBOARD_DIST}.next`;
  await build({ configFile: join(DASHBOARD_SOURCE, 'vite.config.ts'), logLevel: 'warn', build: { outDir: next, emptyOutDir: true } });
  rmSync(DASHBOARD_DIST, { recursive: true, force: true });
  renameSync(next, DASHBOARD_DIST);
}

function newest(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

/** Whether dist/dashboard/ is missing or older than a source of it (the dashboard's files or the lockfile). */
export function dashboardIsStale() {
  const built = join(DASHBOARD_DIST, 'index.html');
  if (!existsSync(built)) return true;
  return Math.max(newest(DASHBOARD_SOURCE), statSync(join(root, 'package-lock.json')).mtimeMs) > statSync(built).mtimeMs;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildDashboard();
