import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';
import { LongestFirst } from './test/harness/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration files each start their own moto_server. One file keeps about one core busy (the
    // worker and its moto take turns), so a worker per core: vitest's default for a run is one fewer
    // than the cores, which on a two-core machine ran every file one after another.
    maxWorkers: Math.max(2, availableParallelism()),
    // The longest files first (test/durations.json), so that the workers end together.
    sequence: { sequencer: LongestFirst },
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Every request through the fidelity proxy is checked against AWS's API model, and every call a
    // function makes is evaluated against its role (test/harness/iam; the roles packaged once per
    // run): a test fails on a violation or a denial it did not declare, and the run prints the
    // counts at the end.
    setupFiles: ['test/harness/vitest-setup.ts', 'test/harness/iam/setup.ts'],
    globalSetup: ['test/harness/vitest-global-setup.ts', 'test/harness/iam/global-setup.ts'],
    env: {
      // Tests never reach AWS: dummy credentials, and clients point at moto per test file.
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
    },
  },
});
