import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // examples/ holds a test of its own (how to test a pipeline): it runs with the suite so it keeps working.
    include: ['test/**/*.test.ts', 'examples/**/*.test.ts'],
    // Builds the child-process fixtures to JS once, so crash and multi-process tests spawn plain node.
    globalSetup: ['test/global-setup.ts'],
    // Tests assert behaviour, never speed; these bounds only stop a hung test. They are generous because
    // on a shared 2-core machine under load a test that takes 2 s when quiet can take 20 s.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Forks, not threads: tests spawn and kill processes and load better-sqlite3, which is simplest per process.
    // Postgres-backed suites share one database; files create their own schemas, so parallel files are safe.
    // maxWorkers is vitest's default (cores - 1, so 1 on a 2-core machine): on this machine under load,
    // 2 workers ran a 10-file subset in 312-382 s against 114 s for 1 (see docs/testing-the-suite.md).
    pool: 'forks',
  },
});
