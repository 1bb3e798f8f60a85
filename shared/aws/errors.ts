/** Translating AWS SDK errors into AwsCallError, with a retryable verdict. */
import { AwsCallError } from '../use-cases/errors.js';

/** Codes AWS uses for throttling and transient server-side trouble. */
const TRANSIENT_CODES = new Set([
  'RequestLimitExceeded',
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'EC2ThrottledException',
  'SlowDown',
  'PriorRequestNotComplete',
  'InternalError',
  'InternalFailure',
  'InternalException',
  'ServiceUnavailable',
  'Unavailable',
  'RequestTimeout',
  'RequestTimeoutException',
]);

/** Errors raised below the SDK, when no response came back at all. */
const NETWORK_CODES = new Set(['TimeoutError', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND']);

/** True for an AWS error code that a later attempt may not meet (throttling, server trouble). */
export function isTransientCode(code: string): boolean {
  return TRANSIENT_CODES.has(code);
}

interface SdkLikeError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/**
 * The SDK has already retried transient errors by the time one reaches us; a
 * retryable verdict means "retrying the whole operation later may succeed" and
 * is left to Lambda's or the scheduler's own retries.
 */
export function toAwsCallError(action: string, error: unknown): AwsCallError {
  if (error instanceof AwsCallError) return error;
  const e = (error ?? {}) as SdkLikeError;
  const status = e.$metadata?.httpStatusCode;
  const code = e.name && e.name !== 'Error' ? e.name : (e.code ?? 'UnknownError');
  const retryable =
    TRANSIENT_CODES.has(code) ||
    NETWORK_CODES.has(code) ||
    (e.code !== undefined && NETWORK_CODES.has(e.code)) ||
    e.$fault === 'server' ||
    (status !== undefined && status >= 500);
  return new AwsCallError(code, action, e.message ?? String(error), retryable, status, { cause: error });
}

/** Runs one AWS call and translates its error. */
export async function call<T>(action: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toAwsCallError(action, error);
  }
}

/** Drains a paginator a page at a time, translating its errors. */
export async function* pages<P, T>(action: string, paginator: AsyncIterable<P>, map: (page: P) => T[]): AsyncIterable<T[]> {
  const iterator = paginator[Symbol.asyncIterator]();
  while (true) {
    const next = await call(action, () => iterator.next());
    if (next.done) return;
    yield map(next.value);
  }
}
