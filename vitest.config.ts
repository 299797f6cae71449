import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Postgres-backed suites share one database; files create their own schemas, so parallel files are safe.
    pool: 'forks',
  },
});
