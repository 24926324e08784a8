import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // End-to-end files each start their own bastion on port 0; two at a time fits a 2-core machine.
    maxWorkers: 2,
  },
});
