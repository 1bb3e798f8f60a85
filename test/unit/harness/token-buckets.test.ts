/**
 * The harness's EC2 token buckets as the bench reads them: each action on its own documented
 * bucket (scope 'action'), the tokens each bucket has given, and the least time those calls need.
 */
import { describe, expect, it } from 'vitest';
import { bucketBound, Ec2Throttle, EC2_DOCUMENTED_BUCKETS, FaultLog, type BucketState } from '../../harness/faults.js';
import type { ProxiedRequest, ProxiedResponse } from '../../harness/proxy/chain.js';

const ok: ProxiedResponse = { status: 200, headers: {}, body: Buffer.from('') };

function ec2Call(action: string, params: Record<string, string> = {}): ProxiedRequest {
  const form = new URLSearchParams({ Action: action, Version: '2016-11-15', ...params });
  return { method: 'POST', url: '/', headers: {}, body: Buffer.from(form.toString()), action, form };
}

const state = (key: string, capacity: number, refillPerSecond: number, tokens: number, taken: number): BucketState => ({
  key,
  capacity,
  refillPerSecond,
  tokens,
  taken,
});

describe('EC2 token buckets, per action', () => {
  it('gives the documented buckets of the actions a night calls', () => {
    expect(EC2_DOCUMENTED_BUCKETS).toMatchObject({
      copyImage: { capacity: 100, refillPerSecond: 1 },
      modifyLaunchTemplate: { capacity: 100, refillPerSecond: 5 },
      modifySnapshotAttribute: { capacity: 100, refillPerSecond: 5 },
    });
  });

  it('counts the tokens each action takes from its own bucket, refusals taking none', async () => {
    // Prepare: CreateImage on the mutating size, CreateTags on its own, reads on the non-mutating size
    const throttle = new Ec2Throttle(
      {
        buckets: {
          mutating: { capacity: 2, refillPerSecond: 0 },
          createTags: { capacity: 3, refillPerSecond: 0 },
          nonMutating: { capacity: 5, refillPerSecond: 0 },
        },
        scope: 'action',
      },
      new FaultLog(),
    );
    const send = (request: ProxiedRequest) => throttle.interceptor(request, async () => ok, undefined as never);

    // Act
    const statuses: number[] = [];
    for (const action of ['CreateImage', 'CreateImage', 'CreateImage', 'CreateLaunchTemplate', 'CreateTags']) {
      statuses.push((await send(ec2Call(action))).status);
    }
    await send(ec2Call('DescribeImages', { 'ImageId.1': 'ami-1' }));

    // Assess: CreateLaunchTemplate has a mutating bucket of its own, apart from CreateImage's
    expect(statuses).toEqual([200, 200, 503, 200, 200]);
    expect(throttle.buckets().map((b) => [b.key, b.taken, b.tokens])).toEqual([
      ['mutating:CreateImage', 2, 0],
      ['mutating:CreateLaunchTemplate', 1, 1],
      ['createTags:CreateTags', 1, 2],
      ['nonMutating:DescribeImages', 1, 4],
    ]);
  });
});

describe('bucketBound', () => {
  it('is the largest over the buckets of the tokens taken beyond those held at the start, over the refill', () => {
    // Prepare: CreateImage took 60 from a full bucket of 50 (5/s): 2 s; CreateTags took 130 holding 100 (10/s): 3 s
    const before = [state('mutating:CreateImage', 50, 5, 50, 0), state('createTags:CreateTags', 100, 10, 100, 20)];
    const after = [state('mutating:CreateImage', 50, 5, 0, 60), state('createTags:CreateTags', 100, 10, 0, 150)];

    // Act / Assess
    expect(bucketBound(before, after)).toEqual({ seconds: 3, bucket: 'createTags:CreateTags' });
  });

  it('counts a bucket not live at the start as full, and one that held more than was taken as no wait', () => {
    // Prepare
    const after = [state('nonMutating:DescribeImages', 100, 20, 40, 60), state('mutating:CreateImage', 50, 5, 0, 55)];

    // Act / Assess: DescribeImages took 60 of 100; CreateImage 55 of a full 50: 1 s
    expect(bucketBound([], after)).toEqual({ seconds: 1, bucket: 'mutating:CreateImage' });
    expect(bucketBound([], [after[0]!])).toEqual({ seconds: 0, bucket: 'nonMutating:DescribeImages' });
    expect(bucketBound([], [])).toEqual({ seconds: 0 });
  });

  it('counts a bucket that held fewer tokens at the start (drained by the phase before) for the wait it costs', () => {
    // Prepare: CreateTags held 5 of 100 when the phase began, took 25 more at 10/s: 2 s
    const before = [state('createTags:CreateTags', 100, 10, 5, 300)];
    const after = [state('createTags:CreateTags', 100, 10, 0, 325)];

    // Act / Assess
    expect(bucketBound(before, after)).toEqual({ seconds: 2, bucket: 'createTags:CreateTags' });
  });
});
