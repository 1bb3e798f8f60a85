/**
 * A replacement that is the same machine (issue 14): an instance launched with a representative
 * set of settings that live on the instance and not in its image (a NAT's source/destination
 * check off, termination and stop protection, shutdown behaviour, CPU options and credits, a
 * partition placement group, metadata options in full, a secondary interface and a secondary
 * private IP, spot with its options) is baked, which captures them; it fails, and its replacement
 * has each. A second bake of the unchanged instance reads nothing more.
 */
import { describe, expect, it } from 'vitest';
import {
  CreateLaunchTemplateVersionCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstanceCreditSpecificationsCommand,
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  ModifyInstanceAttributeCommand,
  type Instance,
} from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';

const NIGHT_1 = new Date('2026-11-24T03:00:00Z');
const NIGHT_2 = new Date('2026-11-25T03:00:00Z');
const OPTED_IN = { Name: 'nat-1', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure' };

const cloud = cloudPerFile();

interface Arranged {
  instanceId: string;
  outside: string;
  inside: string;
  natGroup: string;
  insideGroup: string;
}

/** A NAT instance in two subnets, protected, pinned to a partition, spot. */
async function arrangeNat(): Promise<Arranged> {
  const { Vpc } = await cloud.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const VpcId = Vpc!.VpcId!;
  const subnet = async (CidrBlock: string) => (await cloud.ec2.send(new CreateSubnetCommand({ VpcId, CidrBlock }))).Subnet!.SubnetId!;
  const group = async (GroupName: string) =>
    (await cloud.ec2.send(new CreateSecurityGroupCommand({ GroupName, Description: GroupName, VpcId }))).GroupId!;
  const a: Omit<Arranged, 'instanceId'> = {
    outside: await subnet('10.0.1.0/24'),
    inside: await subnet('10.0.2.0/24'),
    natGroup: await group('nat'),
    insideGroup: await group('inside'),
  };
  const [instanceId] = await cloud.launch(1, OPTED_IN, {
    InstanceType: 't3.small',
    NetworkInterfaces: [
      { DeviceIndex: 0, SubnetId: a.outside, Groups: [a.natGroup], SecondaryPrivateIpAddressCount: 1 },
      { DeviceIndex: 1, SubnetId: a.inside, Groups: [a.insideGroup] },
    ],
    Placement: { GroupName: 'nat-pg', PartitionNumber: 2 },
    DisableApiTermination: true,
    DisableApiStop: true,
    InstanceInitiatedShutdownBehavior: 'terminate',
    CpuOptions: { CoreCount: 1, ThreadsPerCore: 1 },
    // T3 launches unlimited by default: standard is the operator's choice, to be kept.
    CreditSpecification: { CpuCredits: 'standard' },
    MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 3, HttpProtocolIpv6: 'enabled', InstanceMetadataTags: 'enabled' },
    InstanceMarketOptions: {
      MarketType: 'spot',
      SpotOptions: { MaxPrice: '0.05', SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
    },
  });
  // A NAT: EC2 checks source and destination unless told not to, which no launch can say.
  await cloud.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId!, SourceDestCheck: { Value: false } }));
  return { instanceId: instanceId!, ...a };
}

async function describe1(instanceId: string): Promise<Instance> {
  const { Reservations } = await cloud.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return Reservations![0]!.Instances![0]!;
}

async function replacementOf(failedId: string): Promise<Instance> {
  const all = await cloud.replacementsOf(failedId);
  expect(all).toHaveLength(1);
  return all[0]!;
}

async function attribute(InstanceId: string, Attribute: 'disableApiTermination' | 'disableApiStop' | 'instanceInitiatedShutdownBehavior') {
  return cloud.ec2.send(new DescribeInstanceAttributeCommand({ InstanceId, Attribute }));
}

/** The failure: a spot interruption ends it, whatever its API protection says (protection stops only API calls). */
async function interrupt(instanceId: string): Promise<void> {
  await cloud.ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: instanceId, DisableApiTermination: { Value: false } }));
  await cloud.failInstance(instanceId, 'terminated', 'Server.SpotInstanceTermination');
  await cloud.deliver();
}

describe('a replacement that is the same machine', () => {
  it('captures at the bake what lives on the instance, and relaunches the failed instance with each setting', async () => {
    // Prepare
    const a = await arrangeNat();
    await cloud.bakeCycle('nightly', NIGHT_1);

    // Act
    await interrupt(a.instanceId);

    // Assess: the replacement, setting by setting
    const r = await replacementOf(a.instanceId);
    const id = r.InstanceId!;
    expect(r.State?.Name).toBe('running');
    expect(r.InstanceType).toBe('t3.small');
    expect(r.SourceDestCheck).toBe(false);
    expect((await attribute(id, 'disableApiTermination')).DisableApiTermination?.Value).toBe(true);
    expect((await attribute(id, 'disableApiStop')).DisableApiStop?.Value).toBe(true);
    expect((await attribute(id, 'instanceInitiatedShutdownBehavior')).InstanceInitiatedShutdownBehavior?.Value).toBe('terminate');
    expect(r.CpuOptions).toMatchObject({ CoreCount: 1, ThreadsPerCore: 1 });
    const { InstanceCreditSpecifications } = await cloud.ec2.send(new DescribeInstanceCreditSpecificationsCommand({ InstanceIds: [id] }));
    expect(InstanceCreditSpecifications?.[0]?.CpuCredits).toBe('standard');
    expect(r.Placement).toMatchObject({ GroupName: 'nat-pg', PartitionNumber: 2 });
    expect(r.MetadataOptions).toMatchObject({
      HttpTokens: 'required',
      HttpPutResponseHopLimit: 3,
      HttpProtocolIpv6: 'enabled',
      InstanceMetadataTags: 'enabled',
    });
    const nics = [...(r.NetworkInterfaces ?? [])].sort((x, y) => x.Attachment!.DeviceIndex! - y.Attachment!.DeviceIndex!);
    expect(nics.map((n) => [n.Attachment?.DeviceIndex, n.SubnetId, n.Groups?.map((g) => g.GroupId)])).toEqual([
      [0, a.outside, [a.natGroup]],
      [1, a.inside, [a.insideGroup]],
    ]);
    expect(nics[0]!.PrivateIpAddresses).toHaveLength(2);
    expect(nics[1]!.PrivateIpAddresses).toHaveLength(1);
    expect(r.InstanceLifecycle).toBe('spot');
    const { SpotInstanceRequests } = await cloud.ec2.send(
      new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [r.SpotInstanceRequestId!] }),
    );
    expect(SpotInstanceRequests?.[0]).toMatchObject({ SpotPrice: '0.050000', Type: 'one-time', InstanceInterruptionBehavior: 'terminate' });

    // The private IP is not asked for (recoveryKeepPrivateIp is off): EC2 picks one in the subnet.
    expect(cloud.published('InstanceRelaunched')[0]?.detail).toMatchObject({ failedInstanceId: a.instanceId, newInstanceId: id });
    expect((await describe1(a.instanceId)).State?.Name).toBe('terminated');
  });

  it('reads nothing more at the next bake of an unchanged instance: the capture-time reads happen only when the digest changed', async () => {
    // Prepare
    await arrangeNat();
    await cloud.bakeCycle('nightly', NIGHT_1);
    const first = cloud.proxy.calls();
    expect(first.DescribeInstanceAttribute).toBe(4);
    expect(first.DescribeInstanceCreditSpecifications).toBe(1);
    expect(first.DescribeSpotInstanceRequests).toBe(1);

    // Act
    await cloud.bakeCycle('nightly', NIGHT_2);

    // Assess
    const second = cloud.proxy.calls();
    for (const action of ['DescribeInstanceAttribute', 'DescribeInstanceCreditSpecifications', 'DescribeSpotInstanceRequests']) {
      expect(second[action], action).toBe(first[action]);
    }
    expect(second.CreateLaunchTemplateVersion ?? 0).toBe(first.CreateLaunchTemplateVersion ?? 0);
  });

  it('relaunches from a template an earlier version captured (without the new settings) as it did then', async () => {
    // Prepare: the capture, then a newer version in the shape earlier versions wrote
    const a = await arrangeNat();
    await cloud.bakeCycle('nightly', NIGHT_1);
    const templateName = `ami-lifecycle-dev-${a.instanceId}`;
    await cloud.ec2.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateName: templateName,
        VersionDescription: 'captured by an earlier version',
        LaunchTemplateData: {
          InstanceType: 't3.micro',
          EbsOptimized: false,
          Monitoring: { Enabled: false },
          NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: a.inside, Groups: [a.insideGroup] }],
          TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(OPTED_IN).map(([Key, Value]) => ({ Key, Value })) }],
        },
      }),
    );
    const before = cloud.proxy.calls();

    // Act
    await interrupt(a.instanceId);

    // Assess: what that template says, and nothing it does not
    const r = await replacementOf(a.instanceId);
    expect(r.InstanceType).toBe('t3.micro');
    expect(r.SubnetId).toBe(a.inside);
    expect(r.SecurityGroups?.map((g) => g.GroupId)).toEqual([a.insideGroup]);
    expect(r.NetworkInterfaces).toHaveLength(1);
    expect(r.InstanceLifecycle).toBeUndefined();
    expect(r.SourceDestCheck).toBe(true);
    expect((await attribute(r.InstanceId!, 'disableApiTermination')).DisableApiTermination?.Value).toBe(false);
    expect(cloud.proxy.calls().ModifyInstanceAttribute ?? 0).toBe(before.ModifyInstanceAttribute ?? 0);
  });
});
