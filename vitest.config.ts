import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // One test file per core: the tests start real servers and tools, which need the CPU too.
    maxWorkers: availableParallelism(),
    projects: [
      {
        test: {
          name: 'unit',
          // Fails the run when a test leaves temp folders, networks or bridges behind.
          globalSetup: ['test/leftovers.ts', 'test/tool-cache.ts'],
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          // Budgets for a test and a hook to finish before they count as hung, not claims about
          // speed: the tests wait on conditions, and a busy box (two CPU hogs beside the suite)
          // runs them 5-8 times slower than a quiet one (docs/e2e.md).
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
      {
        test: {
          name: 'e2e',
          globalSetup: ['test/leftovers.ts', 'test/tool-cache.ts'],
          include: ['test/e2e/**/*.test.ts'],
          // One stack at a time: the machine has two cores.
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 1_200_000,
        },
      },
    ],
  },
});
