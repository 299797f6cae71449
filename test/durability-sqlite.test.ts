import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { SqliteStorage } from '../src/index.js';
import { crashAndRecover } from './crash-recovery.js';

const dir = mkdtempSync(join(tmpdir(), 'trellis-crash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('durability on SQLite', () => {
  it('survives 10 SIGKILLs of a 20-step run without redoing committed steps', async () => {
    const path = join(dir, 'crash.sqlite');
    const storage = new SqliteStorage({ path });
    await storage.init();
    try {
      await crashAndRecover({ kind: 'sqlite', where: path, log: join(dir, 'calls.log'), kills: 10, storage });
    } finally {
      await storage.close();
    }
  }, 300_000);
});
