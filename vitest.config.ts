import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // IAM on every call (test/harness/iam): the roles packaged once per run, a denial no test
    // planted fails the test, and the run's totals printed at the end.
    globalSetup: ['test/harness/iam/global-setup.ts'],
    setupFiles: ['test/harness/iam/setup.ts'],
    // Integration files each start their own moto_server; two cores run two at a time.
    testTimeout: 30_000,
    hookTimeout: 60_000,
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
