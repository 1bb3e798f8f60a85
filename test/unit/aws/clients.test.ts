import { describe, expect, it } from 'vitest';
import { capacityNotRetried, ec2Client } from '../../../shared/aws/clients.js';

type Strategy = Parameters<typeof capacityNotRetried>[0];

/** A retry strategy that records what it was asked and always allows one more try. */
function recording(): { strategy: Strategy; refreshed: string[] } {
  const refreshed: string[] = [];
  const token = { getRetryCount: () => 0, getRetryDelay: () => 0 };
  const strategy = {
    mode: 'standard',
    acquireInitialRetryToken: async () => token,
    refreshRetryTokenForRetry: async (_t: unknown, info: { error?: { name?: string } }) => {
      refreshed.push(info.error?.name ?? '');
      return token;
    },
    recordSuccess: () => undefined,
  } as unknown as Strategy;
  return { strategy, refreshed };
}

const info = (name: string) => ({ errorType: 'TRANSIENT', error: Object.assign(new Error(name), { name }) }) as never;

describe('capacityNotRetried', () => {
  it('refuses to retry InsufficientInstanceCapacity, so that recovery tries its next fallback at once', async () => {
    // Prepare
    const { strategy, refreshed } = recording();
    const wrapped = capacityNotRetried(strategy) as unknown as { refreshRetryTokenForRetry(t: unknown, i: unknown): Promise<unknown> };

    // Act / Assess
    await expect(wrapped.refreshRetryTokenForRetry({}, info('InsufficientInstanceCapacity'))).rejects.toMatchObject({
      name: 'InsufficientInstanceCapacity',
    });
    expect(refreshed).toEqual([]);
  });

  it('leaves every other error to the standard strategy', async () => {
    // Prepare
    const { strategy, refreshed } = recording();
    const wrapped = capacityNotRetried(strategy) as unknown as { refreshRetryTokenForRetry(t: unknown, i: unknown): Promise<unknown> };

    // Act
    await wrapped.refreshRetryTokenForRetry({}, info('RequestLimitExceeded'));
    await wrapped.refreshRetryTokenForRetry({}, info('InternalError'));

    // Assess
    expect(refreshed).toEqual(['RequestLimitExceeded', 'InternalError']);
  });

  it('is what the EC2 client retries with: six attempts in standard mode otherwise', async () => {
    // Act
    const client = ec2Client();
    const strategy = (await client.config.retryStrategy()) as unknown as {
      mode?: string;
      acquireInitialRetryToken(scope: string): Promise<unknown>;
      refreshRetryTokenForRetry(t: unknown, i: unknown): Promise<{ getRetryCount(): number }>;
    };
    const token = await strategy.acquireInitialRetryToken('ec2');
    client.destroy();

    // Assess
    expect(strategy.mode).toBe('standard');
    expect(await client.config.maxAttempts()).toBe(6);
    await expect(strategy.refreshRetryTokenForRetry(token, info('InsufficientInstanceCapacity'))).rejects.toBeDefined();
    expect((await strategy.refreshRetryTokenForRetry(token, info('InternalError'))).getRetryCount()).toBe(1);
  });
});
