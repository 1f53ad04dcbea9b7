import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import LongestFirst from './test/sequencer.js';

export default defineConfig({
  test: {
    // One test file per core: the tests start real servers and tools, which need the CPU too.
    maxWorkers: availableParallelism(),
    // Longest files first, from the checked-in test/durations.json (test/sequencer.ts).
    sequence: { sequencer: LongestFirst },
    projects: [
      {
        test: {
          name: 'unit',
          // Fails the run when a test leaves temp folders, networks or bridges behind.
          globalSetup: ['test/leftovers.ts', 'test/tool-cache.ts', 'test/script-bundle.ts'],
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**'],
          // How long a test or hook may take before it counts as hung, not a claim about speed:
          // the tests wait on conditions, and a busy box (two CPU hogs and other suites beside
          // this one) runs them several times slower than a quiet one (docs/performance.md).
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
