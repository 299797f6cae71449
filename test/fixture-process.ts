/**
 * Child processes for the tests that need real ones (crashes, fencing, several processes on one
 * database): each runs a fixture from test/fixtures/, built once to JS by test/global-setup.ts, on
 * plain `node`, so a kill-and-restart costs a Node startup and nothing more.
 */
import { spawn, execFile, type ChildProcessByStdio } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Readable, Writable } from 'node:stream';

export const FIXTURES_SOURCE = fileURLToPath(new URL('./fixtures', import.meta.url));
export const FIXTURES_DIST = fileURLToPath(new URL('./.fixtures-dist', import.meta.url));

/** The built file of test/fixtures/<name>.ts. */
export function fixturePath(name: string): string {
  const path = `${FIXTURES_DIST}/${name}.mjs`;
  if (!existsSync(path)) throw new Error(`${path} is missing: fixtures are built by test/global-setup.ts, which vitest.config.ts runs before the suite`);
  return path;
}

/** Starts test/fixtures/<name>.ts with `args`, stdout and stderr piped; stdin piped when asked for, else ignored. */
export function spawnFixture(name: string, args: readonly string[]): ChildProcessByStdio<null, Readable, Readable>;
export function spawnFixture(name: string, args: readonly string[], options: { readonly stdin: 'pipe' }): ChildProcessByStdio<Writable, Readable, Readable>;
export function spawnFixture(name: string, args: readonly string[], options?: { readonly stdin: 'pipe' }): ChildProcessByStdio<Writable | null, Readable, Readable> {
  const argv = [fixturePath(name), ...args];
  return options ? spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'pipe'] }) : spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs test/fixtures/<name>.ts to its end; rejects when it exits non-zero. */
export async function runFixture(name: string, args: readonly string[]): Promise<{ readonly stdout: string; readonly stderr: string }> {
  return promisify(execFile)(process.execPath, [fixturePath(name), ...args]);
}
