/** A fresh storage of each kind in one test file's scratch space, for tests that run on all three. */
import { join } from 'node:path';
import { MemoryStorage, PostgresStorage, SqliteStorage, type Storage } from '../src/index.js';
import type { scratch } from './scratch.js';

export interface ScratchStorages {
  /** `[name, make]` per kind, for `describe.each`: each call makes a new, empty database. */
  readonly kinds: readonly [string, () => Storage][];
  /** Another connection to the database `storage` uses, as a second process would open it (memory has none). */
  sameDatabase(storage: Storage): Storage;
}

export function scratchStorages(area: ReturnType<typeof scratch>): ScratchStorages {
  let made = 0;
  const places = new WeakMap<Storage, number>();
  const sqlite = (n: number) => new SqliteStorage({ path: join(area.dir, `db-${n}.sqlite`) });
  const postgres = (n: number) => new PostgresStorage({ connectionString: area.pgUrl, schema: `${area.schema}_${n}` });
  const fresh = (open: (n: number) => Storage) => (): Storage => {
    const storage = open(++made);
    places.set(storage, made);
    return storage;
  };
  return {
    kinds: [
      ['memory', () => new MemoryStorage()],
      ['SQLite', fresh(sqlite)],
      ['PostgreSQL', fresh(postgres)],
    ],
    sameDatabase(storage) {
      const n = places.get(storage);
      if (n === undefined) throw new Error('sameDatabase: not a storage made by these scratch storages (memory storage has no other connection)');
      return storage instanceof SqliteStorage ? sqlite(n) : postgres(n);
    },
  };
}
