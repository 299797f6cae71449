import { MemoryStorage } from '../src/storage/memory-storage.js';
import { storageConformance } from './storage-conformance.js';

storageConformance('MemoryStorage', async () => {
  const storage = new MemoryStorage();
  await storage.init();
  return storage;
});
