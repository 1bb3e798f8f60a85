/**
 * Shortens the waits of the AWS SDK's standard retry mode in this process (the handlers run in
 * the test's process), for a test whose faults are drawn by call count, not by time (faults.ts:
 * random faults are seeded per action and call): the same calls fail and are retried, as many
 * times, under the same retry quota (it counts retries, not time), in a fraction of the time.
 * Not for a test of EC2's token buckets (they refill with time) nor one that measures time.
 *
 * The SDK waits a random share of a base (throttling errors: a longer base) doubled per attempt,
 * at most 20 s ("Retry behavior", AWS SDKs and Tools Reference Guide, "How retries work",
 * https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html). The bases are the
 * static methods of @smithy/core's `Retry`, which the standard strategy reads when a client is
 * made (the base) and before each retry (the throttling base): call this before the handlers load.
 * Returns the function that puts them back. TEST-ONLY.
 */
import { Retry } from '@smithy/core/retry';

type Bases = { delay: () => number; throttlingDelay: () => number };

export function shortenSdkRetryWaits(factor: number): () => void {
  const retry = Retry as unknown as Bases;
  if (typeof retry.delay !== 'function' || typeof retry.throttlingDelay !== 'function')
    throw new Error('@smithy/core/retry no longer has Retry.delay and Retry.throttlingDelay: update test/harness/sdk-retry-waits.ts');
  const original: Bases = { delay: retry.delay, throttlingDelay: retry.throttlingDelay };
  const base = original.delay.call(Retry);
  const throttling = original.throttlingDelay.call(Retry);
  retry.delay = () => base * factor;
  retry.throttlingDelay = () => throttling * factor;
  return () => {
    retry.delay = original.delay;
    retry.throttlingDelay = original.throttlingDelay;
  };
}
