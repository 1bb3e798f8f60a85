/**
 * Types for the aws-sdk-client-mock-vitest matchers. The adapter tests register the
 * matchers themselves (expect.extend(allCustomMatcher)); this tells tsc they exist.
 */
import 'vitest';
import type { BaseMatcher } from 'aws-sdk-client-mock-vitest';

declare module 'vitest' {
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  interface Matchers<R, T> extends BaseMatcher<R, T> {}
}
