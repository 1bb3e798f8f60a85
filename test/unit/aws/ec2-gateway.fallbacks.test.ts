import { beforeEach, describe, expect, it } from 'vitest';
import {
  AttachVolumeCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { TAG } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { awsError, ec2Mock, gateway } from './support.js';

beforeEach(() => ec2Mock.reset());

describe('Ec2Gateway: capacity fallbacks and following volumes (issue 14)', () => {
  it('reads architectures with a filter, so that an unknown type is absent rather than an error of the call', async () => {
    // Prepare
    ec2Mock.on(DescribeInstanceTypesCommand).resolves({
      InstanceTypes: [
        { InstanceType: 't3.small', ProcessorInfo: { SupportedArchitectures: ['x86_64'] } },
        { InstanceType: 'm6g.large', ProcessorInfo: { SupportedArchitectures: ['arm64'] } },
      ],
    });

    // Act
    const out = await gateway().instanceTypeArchitectures(['t3.small', 'm6g.large', 'x9.huge']);

    // Assess
    expect(out).toEqual({ 't3.small': ['x86_64'], 'm6g.large': ['arm64'] });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstanceTypesCommand, {
      Filters: [{ Name: 'instance-type', Values: ['t3.small', 'm6g.large', 'x9.huge'] }],
    });
  });

  it('maps a capacity refusal of RunInstances to its code, for the next fallback', async () => {
    // Prepare
    ec2Mock.on(RunInstancesCommand).rejects(awsError('InsufficientInstanceCapacity', 500, 'server'));

    // Act / Assess
    const spec = {
      imageId: 'ami-1',
      clientToken: 't',
      tags: {},
      droppedTags: [],
      config: { instanceType: 't3.small', securityGroupIds: [], ebsOptimized: false, monitoring: false, tags: {} },
    };
    await expect(gateway().runInstance(spec)).rejects.toMatchObject({ code: 'InsufficientInstanceCapacity', action: 'RunInstances' });
  });

  it('finds following volumes attached to the instances, and those tagged on their way, once each', async () => {
    // Prepare
    const attached = {
      VolumeId: 'vol-1',
      AvailabilityZone: 'us-east-1a',
      State: 'in-use' as const,
      Attachments: [{ InstanceId: 'i-1', Device: '/dev/sdf', State: 'attached' as const }],
      Tags: [{ Key: TAG.exclude, Value: 'follow' }],
    };
    const moving = {
      VolumeId: 'vol-2',
      AvailabilityZone: 'us-east-1a',
      State: 'available' as const,
      Tags: [{ Key: TAG.follows, Value: 'i-2 /dev/sdg' }],
    };
    ec2Mock
      .on(DescribeVolumesCommand, {
        Filters: [
          { Name: `tag:${TAG.exclude}`, Values: ['follow'] },
          { Name: 'attachment.instance-id', Values: ['i-1', 'i-2'] },
        ],
      })
      .resolves({ Volumes: [attached] })
      .on(DescribeVolumesCommand, {
        Filters: [
          { Name: `tag:${TAG.exclude}`, Values: ['follow'] },
          { Name: 'tag-key', Values: [TAG.follows] },
        ],
      })
      .resolves({ Volumes: [moving, attached] });

    // Act
    const out = await gateway().findFollowingVolumes(['i-1', 'i-2']);

    // Assess
    expect(out).toEqual([
      {
        volumeId: 'vol-1',
        availabilityZone: 'us-east-1a',
        state: 'in-use',
        attachment: { instanceId: 'i-1', device: '/dev/sdf', state: 'attached' },
        tags: { [TAG.exclude]: 'follow' },
      },
      {
        volumeId: 'vol-2',
        availabilityZone: 'us-east-1a',
        state: 'available',
        attachment: undefined,
        tags: { [TAG.follows]: 'i-2 /dev/sdg' },
      },
    ]);
  });

  it('reads subnet zones with a filter, and none for no subnet', async () => {
    // Prepare
    ec2Mock.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-b', AvailabilityZone: 'us-east-1b' }] });

    // Act / Assess
    expect(await gateway().subnetZones([])).toEqual({});
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeSubnetsCommand);
    expect(await gateway().subnetZones(['subnet-b', 'subnet-gone'])).toEqual({ 'subnet-b': 'us-east-1b' });
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeSubnetsCommand, {
      Filters: [{ Name: 'subnet-id', Values: ['subnet-b', 'subnet-gone'] }],
    });
  });

  it("reads the replacement's zone and the devices its image maps", async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-2',
              Placement: { AvailabilityZone: 'us-east-1a' },
              BlockDeviceMappings: [{ DeviceName: '/dev/xvda' }, { DeviceName: '/dev/sdb' }],
            },
          ],
        },
      ],
    });

    // Act / Assess
    expect(await gateway().placementOf('i-2')).toEqual({ availabilityZone: 'us-east-1a', devices: ['/dev/xvda', '/dev/sdb'] });
  });

  it('detaches without Force and attaches at the device it is given', async () => {
    // Prepare
    ec2Mock.on(DetachVolumeCommand).resolves({}).on(AttachVolumeCommand).resolves({});

    // Act
    await gateway().detachVolume('vol-1', 'i-1');
    await gateway().attachVolume('vol-1', 'i-2', '/dev/sdf');

    // Assess
    expect(ec2Mock.commandCalls(DetachVolumeCommand)[0]!.args[0].input).toEqual({ VolumeId: 'vol-1', InstanceId: 'i-1' });
    expect(ec2Mock).toHaveReceivedCommandWith(AttachVolumeCommand, { VolumeId: 'vol-1', InstanceId: 'i-2', Device: '/dev/sdf' });
  });

  it('waits until the volume is off the failed instance: detached, or attached to another by a duplicate delivery', async () => {
    // Prepare: still detaching at the first look, on the replacement at the second
    ec2Mock
      .on(DescribeVolumesCommand)
      .resolvesOnce({ Volumes: [{ VolumeId: 'vol-1', Attachments: [{ InstanceId: 'i-1', State: 'detaching' }] }] })
      .resolvesOnce({ Volumes: [{ VolumeId: 'vol-1', Attachments: [{ InstanceId: 'i-2', State: 'attached' }] }] });

    // Act
    await gateway().waitUntilDetached('vol-1', 'i-1', 30);

    // Assess
    expect(ec2Mock.commandCalls(DescribeVolumesCommand)).toHaveLength(2);
  });

  it('gives up, retryable, when the volume stays on the instance past the wait', async () => {
    // Prepare
    ec2Mock
      .on(DescribeVolumesCommand)
      .resolves({ Volumes: [{ VolumeId: 'vol-1', Attachments: [{ InstanceId: 'i-1', State: 'busy' as never }] }] });

    // Act / Assess
    await expect(gateway().waitUntilDetached('vol-1', 'i-1', 0)).rejects.toEqual(expect.any(AwsCallError));
    await expect(gateway().waitUntilDetached('vol-1', 'i-1', 0)).rejects.toMatchObject({ retryable: true });
  });
});
