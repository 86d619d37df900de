import { defineConfig } from 'vitest/config';

// Two projects: `unit` is pure and fast; `integration` starts real MariaDB servers.
// Integration files run one at a time: the machine has two cores, and several MariaDB-heavy
// files at once turn into timeouts rather than signal.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/sim/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
    ],
  },
});
