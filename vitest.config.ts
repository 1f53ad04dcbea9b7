import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          // Fails the run when a test leaves temp folders, networks or bridges behind.
          globalSetup: ['test/leftovers.ts', 'test/tool-cache.ts'],
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
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
