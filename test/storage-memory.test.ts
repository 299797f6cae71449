import * as vitest from 'vitest';
import { MemoryStorage } from '../src/index.js';
import { describeStorageConformance } from '../src/testing/index.js';

describeStorageConformance('MemoryStorage', async () => {
  const storage = new MemoryStorage();
  await storage.init();
  return storage;
}, { vitest });
