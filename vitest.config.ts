import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: database-backed suites would fight over them if all ran at once.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
