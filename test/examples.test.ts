/** The examples a user copies from run as they say (offline, scripted models), in a process of their own. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { scratch } from './scratch.js';

const run = promisify(execFile);
const { dir } = scratch('examples');
const example = (name: string): string => fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
// The examples run in a scratch working directory (the quickstart writes ./trellis.sqlite there), so tsx is named by its path.
const TSX = new URL('../node_modules/tsx/dist/loader.mjs', import.meta.url).href;

describe('examples', () => {
  it('approval-inbox.ts: a run waits, the inbox shows what to review, "no" takes the reply branch', async () => {
    const { stdout } = await run(process.execPath, ['--import', TSX, example('approval-inbox.ts')], { cwd: dir });
    expect(stdout).toMatch(/: paused\n/);
    expect(stdout).toContain('inbox: escalate: Page on-call for a billing ticket?');
    expect(stdout).toContain('"category":"billing"');
    expect(stdout).toContain('answers: approve / reject');
    expect(stdout).toMatch(/: completed; reply: .*refund/);
  });

  it('quickstart.ts: both tickets complete on the embedded SQLite default, written in the working directory', async () => {
    const { DEMO_MODEL: _ignored, ...env } = process.env; // the offline model, whatever the shell says
    const { stdout } = await run(process.execPath, ['--import', TSX, example('quickstart.ts')], { cwd: dir, env });
    expect(stdout.match(/: completed in/g)).toHaveLength(2);
    expect(stdout).toContain('"route":"escalated"');
    expect(stdout).toContain('"route":"answered"');
    expect(existsSync(join(dir, 'trellis.sqlite'))).toBe(true);
  });
});
