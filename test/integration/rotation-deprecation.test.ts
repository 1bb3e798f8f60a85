/** Deprecation of retained images that left the recent window (DEPRECATE_AFTER_DAYS), against moto. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { LocalCloud } from '../harness/local-cloud.js';
import type { RotationReport } from '../../shared/use-cases/rotate-images.js';

let cloud: LocalCloud;

beforeAll(async () => {
  cloud = await LocalCloud.start({ env: { DEPRECATE_AFTER_DAYS: '2', DEFAULT_RETAIN: '7' } });
});
afterAll(async () => {
  await cloud?.stop();
});

describe('rotation with deprecation', () => {
  it('deprecates kept images older than the window once, and deletes none of them', async () => {
    // Prepare: five daily images, 4.5 to 0.5 days old (half days keep clear of the window's edge)
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    const now = Date.now();
    for (let n = 4; n >= 0; n--) await cloud.bakeCycle('nightly', new Date(now - n * 86_400_000 - 43_200_000));

    // Act
    const first = (await cloud.invoke('rotate', {})) as RotationReport;
    const second = (await cloud.invoke('rotate', {})) as RotationReport;

    // Assess: the three images older than two days (4.5, 3.5, 2.5) are deprecated, the first time only
    expect(first.done).toMatchObject({ deleted: 0, deprecated: 3 });
    expect(second.done).toMatchObject({ deleted: 0, deprecated: 0 });
    expect(cloud.proxy.calls().EnableImageDeprecation).toBe(3);
    // Read as the service does, through the proxy that stands in for EC2's deprecation.
    const ec2 = new EC2Client({ endpoint: cloud.proxy.endpoint, region: 'us-east-1' });
    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    ec2.destroy();
    expect(Images).toHaveLength(5);
    expect(Images.filter((i) => i.DeprecationTime !== undefined)).toHaveLength(3);
  });
});
