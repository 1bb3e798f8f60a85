/**
 * Recovery end to end against moto: an opted-in instance is baked (which captures
 * its launch configuration), then fails; the state-change event reaches the recover
 * function through serverless.yml's rule, and a replacement runs from the newest
 * good image with the same attributes and the Elastic IP.
 */
import { describe, expect, it } from 'vitest';
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DeleteKeyPairCommand,
  DeleteSecurityGroupCommand,
  DescribeAddressesCommand,
  DescribeImagesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  type Image,
  type Instance,
} from '@aws-sdk/client-ec2';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { readFileSync } from 'node:fs';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';
import { tagRecord } from '../../shared/domain/tags.js';

const MANAGED_BY = 'ami-lifecycle-dev';
const NIGHT_1 = new Date('2026-11-24T03:00:00Z');
const NIGHT_2 = new Date('2026-11-25T03:00:00Z');
const NIGHT_3 = new Date('2026-11-26T03:00:00Z');
const USER_DATA = Buffer.from('#!/bin/sh\necho hello > /tmp/hello\n').toString('base64');

const cloud = cloudPerFile();

interface Arranged {
  instanceId: string;
  subnetId: string;
  groupId: string;
  profileArn: string;
  allocationId: string;
}

/** A production-like instance: its own subnet, security group, key pair, role, user data and Elastic IP. */
async function arrangeInstance(tags: Record<string, string>): Promise<Arranged> {
  const { Vpc } = await cloud.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const { Subnet } = await cloud.ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: '10.0.1.0/24' }));
  const { GroupId } = await cloud.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web', VpcId: Vpc!.VpcId! }));
  await cloud.ec2.send(new CreateKeyPairCommand({ KeyName: 'ops' }));
  const iam = new IAMClient({
    endpoint: cloud.moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  await iam.send(new CreateRoleCommand({ RoleName: 'web', AssumeRolePolicyDocument: '{}' }));
  const { InstanceProfile } = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'web' }));
  await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'web', RoleName: 'web' }));
  iam.destroy();
  const [instanceId] = await cloud.launch(1, tags, {
    InstanceType: 't3.small',
    SubnetId: Subnet!.SubnetId!,
    SecurityGroupIds: [GroupId!],
    KeyName: 'ops',
    IamInstanceProfile: { Arn: InstanceProfile!.Arn! },
    EbsOptimized: true,
    Monitoring: { Enabled: true },
    MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
    UserData: USER_DATA,
  });
  const { AllocationId } = await cloud.ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  await cloud.ec2.send(new AssociateAddressCommand({ AllocationId: AllocationId!, InstanceId: instanceId! }));
  return {
    instanceId: instanceId!,
    subnetId: Subnet!.SubnetId!,
    groupId: GroupId!,
    profileArn: InstanceProfile!.Arn!,
    allocationId: AllocationId!,
  };
}

const OPTED_IN = { Name: 'web-1', team: 'payments', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure' };

async function lineageImages(lineage: string): Promise<Image[]> {
  const { Images } = await cloud.ec2.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [
        { Name: 'tag:ami-lifecycle:managed-by', Values: [MANAGED_BY] },
        { Name: 'tag:ami-lifecycle:lineage', Values: [lineage] },
      ],
    }),
  );
  return (Images ?? []).sort((a, b) => (a.CreationDate! < b.CreationDate! ? 1 : -1));
}

async function describeInstance(instanceId: string): Promise<Instance> {
  const { Reservations } = await cloud.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return Reservations![0]!.Instances![0]!;
}

async function addressOf(allocationId: string) {
  const { Addresses } = await cloud.ec2.send(new DescribeAddressesCommand({ AllocationIds: [allocationId] }));
  return Addresses![0]!;
}

/**
 * The host fails and EC2 stops the instance; recovery runs; then EC2 announces every state
 * change since (the replacement's launch, or its end when the account refuses it) and recovery
 * runs on those too.
 */
async function failThenAnnounce(instanceId: string): Promise<void> {
  await cloud.failInstance(instanceId, 'stopped', 'Server.InternalError');
  await cloud.deliver();
  await cloud.announceInstanceStates();
  await cloud.deliver();
}

describe('recovery', () => {
  it('relaunches a terminated instance from the newest good image, with its attributes, user data, tags and Elastic IP', async () => {
    // Prepare: two nights of images, the configuration captured at the first bake
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    await cloud.bakeCycle('nightly', NIGHT_2);
    const [newest, older] = await lineageImages(a.instanceId);
    expect(older).toBeDefined();

    // Act: AWS loses the instance
    await cloud.failInstance(a.instanceId, 'terminated', 'Server.InternalError');
    await cloud.deliver();

    // Assess: one running replacement, equivalent to the failed instance
    const [replacement, ...more] = await cloud.replacementsOf(a.instanceId);
    expect(more).toEqual([]);
    expect(replacement!.State?.Name).toBe('running');
    expect(replacement!.ImageId).toBe(newest!.ImageId);
    expect(replacement!.InstanceType).toBe('t3.small');
    expect(replacement!.SubnetId).toBe(a.subnetId);
    expect(replacement!.SecurityGroups?.map((g) => g.GroupId)).toEqual([a.groupId]);
    expect(replacement!.KeyName).toBe('ops');
    expect(replacement!.IamInstanceProfile?.Arn).toBe(a.profileArn);
    expect(replacement!.EbsOptimized).toBe(true);
    expect(replacement!.Monitoring?.State).toBe('enabled');
    expect(replacement!.MetadataOptions).toMatchObject({ HttpTokens: 'required', HttpPutResponseHopLimit: 2 });
    const { UserData } = await cloud.ec2.send(
      new DescribeInstanceAttributeCommand({ InstanceId: replacement!.InstanceId!, Attribute: 'userData' }),
    );
    expect(UserData?.Value).toBe(USER_DATA);
    expect(tagRecord(replacement!.Tags)).toEqual({
      ...OPTED_IN,
      'ami-lifecycle:lineage': a.instanceId,
      'ami-lifecycle:replaces': a.instanceId,
      'ami-lifecycle:generation': '1',
    });
    expect((await addressOf(a.allocationId)).InstanceId).toBe(replacement!.InstanceId);

    const [relaunched] = cloud.published('InstanceRelaunched');
    expect(relaunched?.detail).toMatchObject({
      managedBy: MANAGED_BY,
      lineage: a.instanceId,
      failedInstanceId: a.instanceId,
      newInstanceId: replacement!.InstanceId,
      imageId: newest!.ImageId,
      trigger: 'state',
      generation: 1,
      elasticIp: { allocationId: a.allocationId },
      failedInstance: 'gone',
      resumed: false,
    });
    expect(relaunched?.detail.secondsToLaunch).toBeGreaterThanOrEqual(0);
  });

  it('relaunches an instance at the 50-tag limit: the service tags first, the operator tags that do not fit named', async () => {
    // Prepare: 48 operator tags and the two opt-in tags, 50 in all: no room for the lineage tag
    const operator = Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`cost-${String(i).padStart(2, '0')}`, `v${i}`]));
    const a = await arrangeInstance({ ...operator, 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure' });
    await cloud.bakeCycle('nightly', NIGHT_1);
    const [image] = await lineageImages(a.instanceId);
    expect(image).toBeDefined();

    // Act
    await cloud.failInstance(a.instanceId, 'stopped', 'Server.InternalError');
    await cloud.deliver();

    // Assess: one replacement, at the limit, that carries what recovery and rotation need
    const [replacement, ...more] = await cloud.replacementsOf(a.instanceId);
    expect(more).toEqual([]);
    const tags = tagRecord(replacement!.Tags);
    expect(Object.keys(tags)).toHaveLength(50);
    expect(tags).toMatchObject({
      'ami-lifecycle:lineage': a.instanceId,
      'ami-lifecycle:replaces': a.instanceId,
      'ami-lifecycle:generation': '1',
      'ami-lifecycle:bake': 'nightly',
      'ami-lifecycle:recover': 'on-failure',
    });
    const [relaunched] = cloud.published('InstanceRelaunched');
    expect(relaunched?.detail.droppedTags).toEqual(['cost-45', 'cost-46', 'cost-47']);
  });

  // Issue 21, part 2: the same instance under `always`, terminated: it never carried its lineage
  // tag nor its capture digest, and recovery must still find both from what the bake left.
  it('relaunches a terminated instance at the 50-tag limit under always: lineage from its images, configuration from its template', async () => {
    // Prepare
    const operator = Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`cost-${String(i).padStart(2, '0')}`, `v${i}`]));
    const a = await arrangeInstance({ ...operator, 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'always' });
    await cloud.bakeCycle('nightly', NIGHT_1);
    const [image, ...others] = await lineageImages(a.instanceId);
    expect(others).toEqual([]);
    const described = await cloud.ec2.send(new DescribeInstancesCommand({ InstanceIds: [a.instanceId] }));
    const own = tagRecord(described.Reservations![0]!.Instances![0]!.Tags);
    expect(own).not.toHaveProperty('ami-lifecycle:lineage');
    expect(own).not.toHaveProperty('ami-lifecycle:captured');

    // Act
    await cloud.failInstance(a.instanceId, 'terminated', 'Client.UserInitiatedShutdown');
    await cloud.deliver();

    // Assess: one replacement, from that image, with the captured type and the service's tags first
    const [replacement, ...more] = await cloud.replacementsOf(a.instanceId);
    expect(more).toEqual([]);
    expect(replacement!.ImageId).toBe(image!.ImageId);
    expect(replacement!.InstanceType).toBe('t3.small');
    const tags = tagRecord(replacement!.Tags);
    expect(Object.keys(tags)).toHaveLength(50);
    expect(tags).toMatchObject({ 'ami-lifecycle:lineage': a.instanceId, 'ami-lifecycle:replaces': a.instanceId });
    expect(cloud.published('RecoverySkipped')).toEqual([]);
    expect(cloud.published('InstanceRelaunched')[0]?.detail.droppedTags).toEqual(['cost-45', 'cost-46', 'cost-47']);
  });

  // Issue 21, part 3: references captured at bake can be deleted before the failure.
  it('relaunches without a key pair deleted since the bake, and names it', async () => {
    // Prepare: the key is rotated away after the bake
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    await cloud.ec2.send(new DeleteKeyPairCommand({ KeyName: 'ops' }));

    // Act
    await cloud.failInstance(a.instanceId, 'terminated', 'Server.InternalError');
    await cloud.deliver();

    // Assess: one replacement, with everything else captured, and no key
    const [replacement, ...more] = await cloud.replacementsOf(a.instanceId);
    expect(more).toEqual([]);
    expect(replacement!.KeyName).toBeUndefined();
    expect(replacement!.SecurityGroups!.map((g) => g.GroupId)).toEqual([a.groupId]);
    expect(replacement!.IamInstanceProfile?.Arn).toBe(a.profileArn);
    expect(tagRecord(replacement!.Tags)['ami-lifecycle:launched-without']).toBe('key pair ops');
    expect(cloud.published('InstanceRelaunched')[0]?.detail).toMatchObject({ launchedWithout: ['key pair ops'] });
    expect(cloud.published('RecoveryFailed')).toEqual([]);
  });

  it('fails, naming it, when a captured security group was deleted: never a launch into a wider one', async () => {
    // Prepare: the instance fails, then its security group is deleted
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    await cloud.failInstance(a.instanceId, 'terminated', 'Server.InternalError');
    await cloud.ec2.send(new DeleteSecurityGroupCommand({ GroupId: a.groupId }));

    // Act
    await cloud.deliver();

    // Assess: nothing launched; RecoveryFailed names the group
    expect(await cloud.replacementsOf(a.instanceId)).toEqual([]);
    const [failed, ...others] = cloud.published('RecoveryFailed');
    expect(others).toEqual([]);
    expect(failed!.detail).toMatchObject({ instanceId: a.instanceId, action: 'RunInstances', errorCode: 'InvalidGroup.NotFound' });
    expect(failed!.detail.message).toContain(`the captured security group ${a.groupId} no longer exists`);
  });

  it('moves an Elastic IP associated after the last bake, which no lineage tag names yet', async () => {
    // Prepare: baked with no Elastic IP; then the operator gives the instance one
    const [instanceId] = await cloud.launch(1, OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    const { AllocationId } = await cloud.ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    await cloud.ec2.send(new AssociateAddressCommand({ AllocationId: AllocationId!, InstanceId: instanceId! }));

    // Act
    await cloud.failInstance(instanceId!, 'stopped', 'Server.InternalError');
    await cloud.deliver();

    // Assess: the address follows the replacement, and now names the lineage
    const [replacement] = await cloud.replacementsOf(instanceId!);
    const address = await addressOf(AllocationId!);
    expect(address.InstanceId).toBe(replacement!.InstanceId);
    expect(tagRecord(address.Tags)).toMatchObject({ 'ami-lifecycle:lineage': instanceId });
    expect(cloud.published('InstanceRelaunched')[0]?.detail).toMatchObject({ elasticIp: { allocationId: AllocationId } });
  });

  it('launches one replacement when the same event arrives three times', async () => {
    // Prepare
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    await cloud.failInstance(a.instanceId, 'terminated');
    await cloud.announceInstanceState(a.instanceId, 'terminated');
    await cloud.announceInstanceState(a.instanceId, 'terminated');

    // Act: all three delivered side by side, then once more later
    await cloud.deliver();
    await cloud.announceInstanceState(a.instanceId, 'terminated');
    await cloud.deliver();

    // Assess
    const replacements = await cloud.replacementsOf(a.instanceId);
    expect(replacements).toHaveLength(1);
    const ids = new Set(cloud.published('InstanceRelaunched').map((e) => e.detail.newInstanceId));
    expect(ids).toEqual(new Set([replacements[0]!.InstanceId]));
    expect(cloud.proxy.calls().RunInstances).toBeLessThanOrEqual(3);
  });

  it('moves the Elastic IP from a stopped instance, tags it replaced-by, and keeps it unless configured', async () => {
    // Prepare
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);

    // Act: the host fails and EC2 stops the instance
    await cloud.failInstance(a.instanceId, 'stopped', 'Server.ScheduledStop');
    await cloud.deliver();

    // Assess
    const [replacement] = await cloud.replacementsOf(a.instanceId);
    const failed = await describeInstance(a.instanceId);
    expect(failed.State?.Name).toBe('stopped');
    expect(tagRecord(failed.Tags)['ami-lifecycle:replaced-by']).toBe(replacement!.InstanceId);
    expect((await addressOf(a.allocationId)).InstanceId).toBe(replacement!.InstanceId);
    expect(cloud.published('InstanceRelaunched')[0]?.detail.failedInstance).toBe('kept');
  });

  it('respects a stop by a person under on-failure, and reports it', async () => {
    // Prepare
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);

    // Act
    await cloud.failInstance(a.instanceId, 'stopped', 'Client.UserInitiatedShutdown');
    await cloud.deliver();

    // Assess
    expect(await cloud.replacementsOf(a.instanceId)).toEqual([]);
    expect(cloud.published('RecoverySkipped').map((e) => e.detail)).toEqual([
      expect.objectContaining({
        instanceId: a.instanceId,
        lineage: a.instanceId,
        trigger: 'state',
        reason: expect.stringContaining('Client.UserInitiatedShutdown'),
      }),
    ]);
  });

  it('never relaunches from an image marked bad: the previous good one is used', async () => {
    // Prepare
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    await cloud.bakeCycle('nightly', NIGHT_2);
    const [newest, older] = await lineageImages(a.instanceId);
    await cloud.ec2.send(new CreateTagsCommand({ Resources: [newest!.ImageId!], Tags: [{ Key: 'ami-lifecycle:status', Value: 'bad' }] }));

    // Act
    await cloud.failInstance(a.instanceId, 'terminated');
    await cloud.deliver();

    // Assess
    const [replacement] = await cloud.replacementsOf(a.instanceId);
    expect(replacement!.ImageId).toBe(older!.ImageId);
  });

  it('blames the image of a replacement that dies at once, and relaunches from the one before', async () => {
    // Prepare: a first recovery from the newest image
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    await cloud.bakeCycle('nightly', NIGHT_2);
    const [newest, older] = await lineageImages(a.instanceId);
    await cloud.failInstance(a.instanceId, 'terminated');
    await cloud.deliver();
    const [first] = await cloud.replacementsOf(a.instanceId);
    expect(first!.ImageId).toBe(newest!.ImageId);

    // Act: the replacement shuts itself down at boot, within the grace period (an image fault)
    await cloud.failInstance(first!.InstanceId!, 'terminated', 'Client.InstanceInitiatedShutdown');
    await cloud.deliver();

    // Assess
    const [second] = await cloud.replacementsOf(first!.InstanceId!);
    expect(second!.ImageId).toBe(older!.ImageId);
    expect(tagRecord(second!.Tags)['ami-lifecycle:generation']).toBe('2');
    const [blamed] = await lineageImages(a.instanceId);
    expect(tagRecord(blamed!.Tags)['ami-lifecycle:status']).toBe('bad');
    expect(cloud.published('InstanceRelaunched').at(-1)?.detail).toMatchObject({ markedBad: newest!.ImageId, imageId: older!.ImageId });
    expect((await addressOf(a.allocationId)).InstanceId).toBe(second!.InstanceId);
  });

  it('ends in RecoveryFailed when the account refuses the replacement at launch (a KMS key): no image blamed, no older one tried', async () => {
    // Prepare: two good images; every launch from now on ends at once, as with a KMS key EC2 may not use
    const [instanceId] = await cloud.launch(1, OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    await cloud.bakeCycle('nightly', NIGHT_2);
    cloud.proxy.setLaunchFailure('Client.InternalError');

    // Act: the instance fails; its replacement ends at once; EC2 announces both
    await failThenAnnounce(instanceId!);

    // Assess: one replacement, no second one, every image still good, and the cause named
    const [replacement, ...more] = await cloud.replacementsOf(instanceId!);
    expect(more).toEqual([]);
    expect(await cloud.replacementsOf(replacement!.InstanceId!)).toEqual([]);
    const images = await lineageImages(instanceId!);
    expect(images.map((i) => tagRecord(i.Tags)['ami-lifecycle:status'])).toEqual(['good', 'good']);
    expect(cloud.published('RecoveryFailed').map((e) => e.detail)).toEqual([
      expect.objectContaining({
        instanceId: replacement!.InstanceId,
        errorCode: 'Client.InternalError',
        message: expect.stringMatching(/KMS key/),
      }),
    ]);
  });

  it('ends in RecoveryFailed naming the KMS key EC2 may not use for the recover role: no other image is tried', async () => {
    // Prepare: the root volume under a customer-managed key this stage does not name (params.kmsKeyArns)
    const key = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    const [instanceId] = await cloud.launch(1, OPTED_IN, {
      BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 8, Encrypted: true, KmsKeyId: key } }],
    });
    await cloud.bakeCycle('nightly', NIGHT_1);
    await cloud.bakeCycle('nightly', NIGHT_2);
    cloud.expectDenials(1); // EC2 refuses the key to the recover role at the one launch

    // Act: the host fails; the replacement ends at once; EC2 announces both
    await failThenAnnounce(instanceId!);

    // Assess: one replacement, ended; every image still good; the cause and the fix named
    const [replacement, ...more] = await cloud.replacementsOf(instanceId!);
    expect(more).toEqual([]);
    expect(replacement!.State?.Name).toBe('terminated');
    expect(await cloud.replacementsOf(replacement!.InstanceId!)).toEqual([]);
    expect((await lineageImages(instanceId!)).map((i) => tagRecord(i.Tags)['ami-lifecycle:status'])).toEqual(['good', 'good']);
    expect(cloud.denials()).toEqual([
      expect.objectContaining({ function: 'ami-lifecycle-dev-recover', resource: key, call: 'RunInstances' }),
    ]);
    expect(cloud.published('RecoveryFailed').map((e) => e.detail)).toEqual([
      expect.objectContaining({
        instanceId: replacement!.InstanceId,
        errorCode: 'Client.InternalError',
        message: expect.stringMatching(/kmsKeyArns/),
      }),
    ]);
  });

  it('skips, with the reason, a lineage that has no good image', async () => {
    // Prepare: baked, but the image never turned good
    const a = await arrangeInstance(OPTED_IN);
    await cloud.fireSchedule('nightly', NIGHT_1);
    await cloud.deliver();

    // Act
    await cloud.failInstance(a.instanceId, 'terminated');
    await cloud.deliver();

    // Assess
    expect(await cloud.replacementsOf(a.instanceId)).toEqual([]);
    expect(cloud.published('RecoverySkipped')[0]?.detail).toMatchObject({ reason: 'the lineage has no good image' });
  });

  it('bakes the replacement into the same lineage, and its images join the series', async () => {
    // Prepare
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    await cloud.failInstance(a.instanceId, 'terminated');
    await cloud.deliver();
    const [replacement] = await cloud.replacementsOf(a.instanceId);

    // Act
    await cloud.bakeCycle('nightly', NIGHT_3);

    // Assess
    const [latest, first] = await lineageImages(a.instanceId);
    expect(first).toBeDefined();
    expect(latest!.Name).toBe(`${MANAGED_BY}/${a.instanceId}/nightly/2026-11-26`);
    expect(tagRecord(latest!.Tags)).toMatchObject({
      'ami-lifecycle:lineage': a.instanceId,
      'ami-lifecycle:source-instance': replacement!.InstanceId,
      'ami-lifecycle:status': 'good',
    });
  });

  it('relaunches on a status-check alarm; the old instance, still running, stops baking into the lineage', async () => {
    // Prepare
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    const alarm = JSON.parse(readFileSync(`${PROJECT_ROOT}/events/alarm-status-check-failed.json`, 'utf8'));
    alarm.detail.configuration.metrics[0].metricStat.metric.dimensions.InstanceId = a.instanceId;

    // Act
    await cloud.putEvent({ source: alarm.source, detailType: alarm['detail-type'], detail: alarm.detail });
    await cloud.deliver();
    await cloud.bakeCycle('nightly', NIGHT_2);

    // Assess
    const [replacement] = await cloud.replacementsOf(a.instanceId);
    expect(cloud.published('InstanceRelaunched')[0]?.detail).toMatchObject({ trigger: 'alarm', newInstanceId: replacement!.InstanceId });
    const old = await describeInstance(a.instanceId);
    expect(old.State?.Name).toBe('running');
    expect(tagRecord(old.Tags)['ami-lifecycle:replaced-by']).toBe(replacement!.InstanceId);
    const night2 = (await lineageImages(a.instanceId)).filter((i) => i.Name?.endsWith('2026-11-25'));
    expect(night2.map((i) => tagRecord(i.Tags)['ami-lifecycle:source-instance'])).toEqual([replacement!.InstanceId]);
  });

  it('relaunches on an AWS Health retirement notice naming the instance by ARN', async () => {
    // Prepare
    const a = await arrangeInstance(OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);
    const health = JSON.parse(readFileSync(`${PROJECT_ROOT}/events/health-instance-retirement.json`, 'utf8'));
    health.detail.affectedEntities = [{ entityValue: `arn:aws:ec2:us-east-1:123456789012:instance/${a.instanceId}` }];

    // Act
    await cloud.putEvent({ source: health.source, detailType: health['detail-type'], detail: health.detail });
    await cloud.deliver();

    // Assess
    expect(await cloud.replacementsOf(a.instanceId)).toHaveLength(1);
    expect(cloud.published('InstanceRelaunched')[0]?.detail).toMatchObject({ trigger: 'health' });
  });

  it('ignores a failure of an instance that is not opted in, publishing nothing', async () => {
    // Prepare
    const a = await arrangeInstance({ Name: 'plain', 'ami-lifecycle:bake': 'nightly' });
    await cloud.bakeCycle('nightly', NIGHT_1);
    const before = cloud.published().length;

    // Act
    await cloud.failInstance(a.instanceId, 'terminated');
    const deliveries = await cloud.deliver();

    // Assess
    expect(deliveries.map((d) => d.result)).toEqual([{ outcomes: [expect.objectContaining({ action: 'ignored' })] }]);
    expect(cloud.published().length).toBe(before);
    expect(await cloud.replacementsOf(a.instanceId)).toEqual([]);
  });
});
