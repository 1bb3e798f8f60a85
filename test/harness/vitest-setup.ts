/**
 * vitest setupFiles: after every test (and after each file's last hook), every fidelity proxy
 * alive in the worker holds the requests it refused against what the test declared with
 * `proxy.expectApiViolations(...)` / `cloud.expectApiViolations(...)` (nothing, unless
 * declared). A request the test did not expect to violate AWS's API model fails the test.
 * Unit tests start no proxy: nothing to check.
 * TEST-ONLY.
 */
import { afterAll, afterEach } from 'vitest';
import { settleApiModelExpectations } from './api-model/index.js';

function settle(): void {
  const problems = settleApiModelExpectations();
  if (problems.length > 0) throw new Error(problems.join('\n'));
}

afterEach(settle);
afterAll(settle);
