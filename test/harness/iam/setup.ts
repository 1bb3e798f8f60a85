/**
 * Vitest setup file: after each test, a denial the test did not plant fails it. A test
 * that plants one says so first with `cloud.expectDenials(n)`.
 */
import { afterEach } from 'vitest';
import { checkDenials } from './report.js';

afterEach(() => {
  const problems = checkDenials();
  if (problems.length > 0) throw new Error(problems.join('\n'));
});
