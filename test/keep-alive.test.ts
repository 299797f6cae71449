/**
 * The process stays up while the engine has work it promised (a run it drives, its background
 * loop), and exits once there is none: real processes, since what is tested is Node's own exit.
 */
import { describe, expect, it } from 'vitest';
import { spawnFixture } from './fixture-process.js';

function start(mode: string) {
  const child = spawnFixture('keep-alive-script', [mode]);
  let out = '';
  child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => out };
}

describe('the process and the engine', () => {
  it('a script awaiting a run that waits on a delay prints its result and exits 0, without close()', async () => {
    const { exited, output } = start('delay');
    expect(await exited).toBe(0);
    expect(output()).toContain('{"status":"completed","output":{"waited":true}}');
  });

  it('a worker that only runs the background loop with a schedule stays up and fires', async () => {
    const { child, exited, output } = start('schedule');
    const fired = new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (output().includes('"fired":"tick"')) {
          clearInterval(check);
          resolve();
        }
      }, 20);
      void exited.then(() => {
        clearInterval(check);
        resolve();
      });
    });
    await fired;
    const stillRunning = child.exitCode === null;
    child.kill('SIGKILL');
    await exited;
    expect(output()).toContain('"fired":"tick"');
    expect(stillRunning).toBe(true);
  });
});
