/**
 * AWS SDK clients, created once per container. Region, credentials and endpoint
 * come from the SDK's standard chain (AWS_REGION, AWS_ENDPOINT_URL, ...), never
 * from code.
 *
 * Retries: standard mode (exponential backoff with jitter, a retry-token bucket
 * per client). EC2 gets more attempts because its throttling (RequestLimitExceeded)
 * is account-wide and shared with other tools; waiting it out inside one
 * invocation is cheaper than failing and having Lambda re-run the whole handler.
 * Timeouts bound how long a dead connection can hold an invocation: every call
 * here is small, so a request that has not answered in 10 s is retried.
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';

const requestHandler = { connectionTimeout: 3_000, requestTimeout: 10_000 };

/** EC2 in the stack's region, or in `region` (a copy region of issue 17: no stack there, reached from home). */
export function ec2Client(region?: string): EC2Client {
  return withCapacityNotRetried(new EC2Client({ ...(region ? { region } : {}), retryMode: 'standard', maxAttempts: 6, requestHandler }));
}

/** The client, its retry strategy wrapped in capacityNotRetried. */
export function withCapacityNotRetried(client: EC2Client): EC2Client {
  const standard = client.config.retryStrategy;
  client.config.retryStrategy = async () => capacityNotRetried(await standard());
  return client;
}

type RetryStrategy = Awaited<ReturnType<EC2Client['config']['retryStrategy']>>;

/**
 * EC2 answers InsufficientInstanceCapacity as a server error (HTTP 500: "Error codes for the
 * Amazon EC2 API", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html),
 * which the standard mode retries with backoff, five times here: seconds lost before recovery
 * can try its next subnet or type (launchAttempts), where another zone may have room now.
 * Everything else is retried as before.
 */
export function capacityNotRetried(strategy: RetryStrategy): RetryStrategy {
  if (!('refreshRetryTokenForRetry' in strategy)) return strategy;
  return {
    ...('mode' in strategy ? { mode: strategy.mode } : {}),
    acquireInitialRetryToken: (scope) => strategy.acquireInitialRetryToken(scope),
    refreshRetryTokenForRetry: (token, info) => {
      const name = (info.error as { name?: string } | undefined)?.name;
      if (name === 'InsufficientInstanceCapacity') return Promise.reject(info.error);
      return strategy.refreshRetryTokenForRetry(token, info);
    },
    recordSuccess: (token) => strategy.recordSuccess(token),
  } as RetryStrategy;
}

export function eventBridgeClient(): EventBridgeClient {
  return new EventBridgeClient({ retryMode: 'standard', maxAttempts: 4, requestHandler });
}

export function cloudWatchClient(): CloudWatchClient {
  return new CloudWatchClient({ retryMode: 'standard', maxAttempts: 4, requestHandler });
}

export function schedulerClient(): SchedulerClient {
  return new SchedulerClient({ retryMode: 'standard', maxAttempts: 4, requestHandler });
}

export function ssmClient(): SSMClient {
  return new SSMClient({ retryMode: 'standard', maxAttempts: 4, requestHandler });
}

export function autoScalingClient(region?: string): AutoScalingClient {
  return new AutoScalingClient({ ...(region ? { region } : {}), retryMode: 'standard', maxAttempts: 4, requestHandler });
}
