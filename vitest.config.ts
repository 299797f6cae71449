import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // examples/ holds a test of its own (how to test a pipeline): it runs with the suite so it keeps working.
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    // Builds the child-process fixtures to JS once, so crash and multi-process tests spawn plain node.
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Postgres-backed suites share one database; files create their own schemas, so parallel files are safe.
    pool: 'forks',
  },
});
