/**
 * What each part of the storage conformance suite receives. The suite never imports vitest: the
 * caller passes it in, so `trellis/testing` loads no test runner unless the suite is used.
 */
import type { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Storage } from '../storage/storage.js';

/** The vitest functions the suite uses: pass `import * as vitest from 'vitest'`. */
export interface ConformanceTestApi {
  readonly describe: typeof describe;
  readonly it: typeof it;
  readonly expect: typeof expect;
  readonly beforeEach: typeof beforeEach;
  readonly afterEach: typeof afterEach;
  readonly afterAll: typeof afterAll;
}

/** One part of the suite: vitest, and `test`, which runs its body on the fresh storage of that test. */
export interface ConformanceSection {
  readonly vitest: ConformanceTestApi;
  readonly test: (title: string, body: (storage: Storage) => Promise<void>) => void;
}
