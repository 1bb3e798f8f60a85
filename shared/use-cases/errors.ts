/**
 * The errors of the use cases and their ports. A port (a gateway in shared/aws, a fake in
 * the tests) reports a refused AWS call as an AwsCallError, whose `retryable` verdict the use
 * cases act on: a transient error goes back to Lambda for a retry, a permanent one is
 * reported for its item and the others go on.
 */

export class AwsCallError extends Error {
  override readonly name = 'AwsCallError';
  constructor(
    /** The AWS error code, e.g. InvalidInstanceID.NotFound, or the SDK's error name. */
    readonly code: string,
    /** The API action, e.g. CreateImage. */
    readonly action: string,
    message: string,
    /** True for throttling, server errors and network faults that outlasted the SDK's retries. */
    readonly retryable: boolean,
    readonly httpStatus?: number,
    options?: { cause?: unknown },
  ) {
    super(`${action}: ${code}: ${message}`, options);
  }
}

/** Some bake requests of a scheduled run could not be published: the run must be retried. */
export class FanOutIncomplete extends Error {
  override readonly name = 'FanOutIncomplete';
  constructor(readonly failed: number) {
    super(`${failed} bake request(s) could not be published; the run fails so that its retry publishes them`);
  }
}
