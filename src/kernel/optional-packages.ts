/**
 * Packages only some users install (database drivers, provider SDKs, express): checked where a
 * feature is configured, so a missing one fails when the engine or provider is built with an
 * `npm i` command to run, not in the middle of a run.
 */
import { MissingPackageError } from './errors.js';

/**
 * True when this code runs from a bundle (esbuild, for one): bundlers give ES modules a `require`
 * and follow `require('name')` calls with literal names, Node's ES modules have none.
 * lazy-modules.ts requires by name then, so the bundler sees (and bundles) what it loads. A test
 * runner (vitest) gives ES modules a `require` too, but runs each from its own file, where a bundle
 * runs them from the bundle's.
 */
export const BUNDLED = typeof require === 'function' && !/\/kernel\/optional-packages\.[jt]s$/.test(import.meta.url);

/**
 * Throws {@link MissingPackageError} when `packageName` cannot be found from here (where Node
 * resolves Trellis's own imports of it). In a bundle the package may be inside the bundle with no
 * `node_modules` beside it, so the check is left to {@link missingPackageOr} on first use.
 */
export function assertInstalled(packageName: string, neededFor: string): void {
  if (BUNDLED) return;
  try {
    import.meta.resolve(packageName);
  } catch (error) {
    if (isNotFound(error, packageName)) throw new MissingPackageError(packageName, neededFor, { cause: error });
    // Anything else (a package without an `import` condition...) is for the real import to report.
  }
}

/**
 * What to throw when importing `packageName` failed: a {@link MissingPackageError} when the
 * package is not installed, else the error itself. Callers keep `import('name')` literal inside
 * their own `try`, which bundlers follow (and tolerate unresolved there).
 */
export function missingPackageOr(error: unknown, packageName: string, neededFor: string): unknown {
  return isNotFound(error, packageName) ? new MissingPackageError(packageName, neededFor, { cause: error }) : error;
}

function isNotFound(error: unknown, packageName: string): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && typeof message === 'string' && message.includes(`'${packageName}'`);
}
