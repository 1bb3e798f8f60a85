/**
 * A data volume tagged ami-lifecycle:exclude=follow, end to end: the host fails and EC2 stops the
 * instance; recovery launches the replacement in the volume's zone and moves the volume to it at
 * the same device, once, under the recover role's own IAM policy.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AttachVolumeCommand,
  CreateSubnetCommand,
  CreateVolumeCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
} from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { tagRecord } from '../../shared/domain/tags.js';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';

const NIGHT_1 = new Date('2026-11-24T03:00:00Z');
const cloud = cloudPerFile();

async function volume(volumeId: string) {
  const { Volumes } = await cloud.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  return Volumes![0]!;
}

async function stateOf(instanceId: string) {
  const { Reservations } = await cloud.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return Reservations![0]!.Instances![0]!.State!.Name;
}

/** An AWS Health retirement notice for the instance, which still runs. */
async function retirementNotice(instanceId: string) {
  const health = JSON.parse(readFileSync(`${PROJECT_ROOT}/events/health-instance-retirement.json`, 'utf8'));
  health.detail.affectedEntities = [{ entityValue: `arn:aws:ec2:us-east-1:123456789012:instance/${instanceId}` }];
  await cloud.putEvent({ source: health.source, detailType: health['detail-type'], detail: health.detail });
}

/**
 * Subnets in us-east-1a (two) and us-east-1b; the instance in the first, baked, then given a data
 * volume at /dev/sdf (after the bake: the image does not hold it).
 */
async function arrange(tags: (s: { a: string; a2: string; b: string }) => Record<string, string> = () => ({}), follow = 'follow') {
  const { Vpc } = await cloud.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const subnet = async (cidr: string, zone: string) =>
    (await cloud.ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: cidr, AvailabilityZone: zone }))).Subnet!.SubnetId!;
  const s = {
    a: await subnet('10.0.1.0/24', 'us-east-1a'),
    a2: await subnet('10.0.2.0/24', 'us-east-1a'),
    b: await subnet('10.0.3.0/24', 'us-east-1b'),
  };
  const [instanceId] = await cloud.launch(
    1,
    { Name: 'db-1', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure', ...tags(s) },
    { InstanceType: 't3.small', SubnetId: s.a },
  );
  await cloud.bakeCycle('nightly', NIGHT_1);
  const { VolumeId } = await cloud.ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: 'us-east-1a',
      Size: 10,
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'ami-lifecycle:exclude', Value: follow }] }],
    }),
  );
  await cloud.ec2.send(new AttachVolumeCommand({ VolumeId: VolumeId!, InstanceId: instanceId!, Device: '/dev/sdf' }));
  return { instanceId: instanceId!, volumeId: VolumeId!, subnets: s };
}

describe('recovery: a data volume that follows', () => {
  it('moves from the stopped failed instance to the replacement at the same device, and InstanceRelaunched says so', async () => {
    // Prepare
    const a = await arrange();

    // Act: the host fails, EC2 stops the instance
    await cloud.failInstance(a.instanceId, 'stopped', 'Server.InternalError');
    await cloud.deliver();

    // Assess
    const [replacement, ...more] = await cloud.replacementsOf(a.instanceId);
    expect(more).toEqual([]);
    const v = await volume(a.volumeId);
    expect(v.Attachments).toEqual([expect.objectContaining({ InstanceId: replacement!.InstanceId, Device: '/dev/sdf' })]);
    expect(tagRecord(v.Tags)['ami-lifecycle:follows']).toBe(`${replacement!.InstanceId} /dev/sdf`);
    expect(cloud.published('InstanceRelaunched').map((e) => e.detail)).toEqual([
      expect.objectContaining({ newInstanceId: replacement!.InstanceId, volumes: [{ volumeId: a.volumeId, device: '/dev/sdf' }] }),
    ]);
  });

  it('stays put when tagged exclude=true: only follow moves', async () => {
    // Prepare
    const a = await arrange(undefined, 'true');

    // Act
    await cloud.failInstance(a.instanceId, 'stopped', 'Server.InternalError');
    await cloud.deliver();

    // Assess
    expect(await cloud.replacementsOf(a.instanceId)).toHaveLength(1);
    expect((await volume(a.volumeId)).Attachments).toEqual([expect.objectContaining({ InstanceId: a.instanceId, Device: '/dev/sdf' })]);
  });

  it('pins the zone: with no capacity in its subnet, the replacement goes to the other subnet of the zone, never to another zone', async () => {
    // Prepare: subnets b (another zone) then a2 (the volume's zone) as fallbacks; a has no room
    const a = await arrange((s) => ({ 'ami-lifecycle:subnets': `${s.b},${s.a2}` }));
    cloud.proxy.setNoCapacity([{ subnetId: a.subnets.a }]);

    // Act
    await cloud.failInstance(a.instanceId, 'stopped', 'Server.InternalError');
    await cloud.deliver();

    // Assess
    expect(cloud.proxy.capacityRefusals()).toEqual([`${a.subnets.a}|t3.small`]);
    const [replacement] = await cloud.replacementsOf(a.instanceId);
    expect(replacement!.SubnetId).toBe(a.subnets.a2);
    expect((await volume(a.volumeId)).Attachments).toEqual([
      expect.objectContaining({ InstanceId: replacement!.InstanceId, Device: '/dev/sdf' }),
    ]);
  });

  it('says so and leaves the volume attached when no subnet of its zone has room', async () => {
    // Prepare
    const a = await arrange((s) => ({ 'ami-lifecycle:subnets': s.b }));
    cloud.proxy.setNoCapacity([{ subnetId: a.subnets.a }]);

    // Act
    await cloud.failInstance(a.instanceId, 'stopped', 'Server.InternalError');
    await cloud.deliver();

    // Assess
    expect(await cloud.replacementsOf(a.instanceId)).toEqual([]);
    expect((await volume(a.volumeId)).Attachments).toEqual([expect.objectContaining({ InstanceId: a.instanceId, Device: '/dev/sdf' })]);
    const [failed] = cloud.published('RecoveryFailed').map((e) => e.detail);
    expect(failed!.message).toContain(`following volume ${a.volumeId} pins us-east-1a`);
  });

  it('is attached once, to the one replacement, when the event comes three times in any order', async () => {
    // Prepare
    const a = await arrange();

    // Act
    await cloud.failInstance(a.instanceId, 'stopped', 'Server.InternalError');
    cloud.proxy.resetCalls();
    await cloud.deliver({ copies: 3, shuffleSeed: 14 });

    // Assess
    const replacements = await cloud.replacementsOf(a.instanceId);
    expect(replacements).toHaveLength(1);
    expect((await volume(a.volumeId)).Attachments).toEqual([
      expect.objectContaining({ InstanceId: replacements[0]!.InstanceId, Device: '/dev/sdf', State: 'attached' }),
    ]);
    // Every copy reports the volume on the replacement; none says it stayed; nothing failed. (A copy that
    // raced another may have been refused its own AttachVolume, VolumeInUse, as AWS answers: see moto-gaps.)
    const relaunched = cloud.published('InstanceRelaunched').map((e) => e.detail);
    expect(relaunched.length).toBeGreaterThanOrEqual(1);
    for (const e of relaunched) {
      expect(e).toMatchObject({ newInstanceId: replacements[0]!.InstanceId, volumes: [{ volumeId: a.volumeId, device: '/dev/sdf' }] });
      expect(e).not.toHaveProperty('volumesLeft');
    }
    expect(cloud.published('RecoveryFailed')).toEqual([]);
  });

  it('stops a failed instance that still runs (a retirement notice), then moves the volume to the replacement', async () => {
    // Prepare
    const a = await arrange();

    // Act
    await retirementNotice(a.instanceId);
    await cloud.deliver();

    // Assess: one replacement holds the volume; the failed instance is stopped and kept
    const [replacement, ...more] = await cloud.replacementsOf(a.instanceId);
    expect(more).toEqual([]);
    expect((await volume(a.volumeId)).Attachments).toEqual([
      expect.objectContaining({ InstanceId: replacement!.InstanceId, Device: '/dev/sdf', State: 'attached' }),
    ]);
    expect(await stateOf(a.instanceId)).toBe('stopped');
    expect(cloud.published('InstanceRelaunched').map((e) => e.detail)).toEqual([
      expect.objectContaining({ trigger: 'health', failedInstance: 'kept', volumes: [{ volumeId: a.volumeId, device: '/dev/sdf' }] }),
    ]);
    // Its stopped state change comes back to recovery: nothing more happens.
    await cloud.announceInstanceStates();
    await cloud.deliver();
    expect(await cloud.replacementsOf(a.instanceId)).toHaveLength(1);
    expect((await volume(a.volumeId)).Attachments).toEqual([expect.objectContaining({ InstanceId: replacement!.InstanceId })]);
  });

  it('stops it once and attaches the volume once when the notice comes three times in any order', async () => {
    // Prepare
    const a = await arrange();

    // Act
    await retirementNotice(a.instanceId);
    cloud.proxy.resetCalls();
    await cloud.deliver({ copies: 3, shuffleSeed: 22 });

    // Assess
    const replacements = await cloud.replacementsOf(a.instanceId);
    expect(replacements).toHaveLength(1);
    expect((await volume(a.volumeId)).Attachments).toEqual([
      expect.objectContaining({ InstanceId: replacements[0]!.InstanceId, Device: '/dev/sdf', State: 'attached' }),
    ]);
    expect(await stateOf(a.instanceId)).toBe('stopped');
    expect(cloud.published('RecoveryFailed')).toEqual([]);
  });
});
