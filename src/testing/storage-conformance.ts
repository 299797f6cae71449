/**
 * The Storage contract as a test suite, run against every implementation (memory, SQLite,
 * PostgreSQL) and offered to users so that their own `Storage` can be checked the same way.
 * Records must round-trip exactly (`toStrictEqual`): numbers stay numbers, JSON `null` stays `null`,
 * absent optional fields stay absent.
 */
import type { Storage } from '../storage/storage.js';
import type { ConformanceSection, ConformanceTestApi } from './conformance-section.js';
import { auditConformance } from './conformance-audit.js';
import { callsConformance } from './conformance-calls.js';
import { catalogConformance } from './conformance-catalog.js';
import { deletionConformance } from './conformance-deletion.js';
import { observabilityConformance } from './conformance-observability.js';
import { eventsConformance } from './conformance-events.js';
import { groupCommitConformance } from './conformance-group-commit.js';
import { fleetLimitsConformance } from './conformance-fleet-limits.js';
import { recoveryConformance } from './conformance-recovery.js';
import { runsConformance } from './conformance-runs.js';
import { scansConformance } from './conformance-scans.js';
import { stepsConformance } from './conformance-steps.js';
import { textConformance } from './conformance-text.js';

/** Options of {@link describeStorageConformance}. */
export interface StorageConformanceOptions {
  /** vitest's functions (`import * as vitest from 'vitest'`): the suite does not import a test runner itself. */
  readonly vitest: ConformanceTestApi;
  /** Runs once after the whole suite, e.g. to drop a test database. */
  readonly cleanup?: () => Promise<void>;
}

/**
 * Defines the Storage conformance suite for one implementation. `makeStorage` must
 * return a fresh, empty, initialised storage: it is called before each test, and the storage it
 * returns is closed after it.
 *
 * @example
 * ```ts
 * import * as vitest from 'vitest';
 * import { describeStorageConformance } from '@trellis-ai/trellis/testing';
 * import { MyStorage } from '../src/my-storage.js';
 *
 * describeStorageConformance('MyStorage', async () => {
 *   const storage = new MyStorage({ url: process.env.TEST_DB_URL });
 *   await storage.init();
 *   await storage.truncateAll();
 *   return storage;
 * }, { vitest });
 * ```
 */
export function describeStorageConformance(name: string, makeStorage: () => Promise<Storage>, options: StorageConformanceOptions): void {
  const { vitest, cleanup } = options;
  vitest.describe(`Storage conformance: ${name}`, () => {
    let storage: Storage;
    vitest.beforeEach(async () => {
      storage = await makeStorage();
    });
    vitest.afterEach(async () => {
      await storage.close();
    });
    if (cleanup) vitest.afterAll(cleanup);

    const section: ConformanceSection = { vitest, test: (title, body) => vitest.it(title, () => body(storage)) };
    runsConformance(section);
    stepsConformance(section);
    groupCommitConformance(section);
    recoveryConformance(section);
    auditConformance(section);
    catalogConformance(section);
    callsConformance(section);
    textConformance(section);
    eventsConformance(section);
    deletionConformance(section);
    scansConformance(section);
    observabilityConformance(section);
    fleetLimitsConformance(section);
  });
}
