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

/** A fixture that says `ready` once it has work under way, and may be killed at any moment after. */
export interface KillableChild {
  /** Resolves when the child printed `ready` (or exited). */
  readonly ready: Promise<void>;
  /** What it printed on stdout, once it exited 0 (rejects on another exit code). */
  readonly done: Promise<string>;
  /** What it printed on stdout so far. */
  output(): string;
  /** What it printed on stderr so far. */
  errors(): string;
  /** SIGKILL, resolved once it is gone. */
  kill(): Promise<void>;
}

/** Starts test/fixtures/<name>.ts as a {@link KillableChild} (the crash tests' children). */
export function startKillable(name: string, args: readonly string[]): KillableChild {
  const child = spawnFixture(name, args);
  let out = '';
  let err = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (out.includes('ready')) onReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const done = exited.then((code) => {
    onReady();
    if (code !== 0 && code !== null) throw new Error(`${name} exited ${code}: ${err}`);
    return out;
  });
  return {
    ready,
    done,
    output: () => out,
    errors: () => err,
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A fixture process whose output is collected as it comes (the fleet tests' workers). */
export interface WatchedChild {
  /** What it printed on stdout / stderr so far. */
  readonly out: string;
  readonly err: string;
  readonly exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts test/fixtures/<name>.ts with `args` as a {@link WatchedChild}. */
export function watchFixture(name: string, args: readonly string[]): WatchedChild {
  const child = spawnFixture(name, args);
  let out = '';
  let err = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    exited,
    kill: (signal) => void child.kill(signal),
  };
}
