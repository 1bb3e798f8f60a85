/**
 * Capacity fallbacks end to end: the captured zone has no room for the instance type (the
 * harness refuses RunInstances there as EC2 does, moto always has room), and recovery launches
 * the replacement in the lineage's other subnet, or as its fallback type, exactly once, under
 * the recover role's own IAM policy.
 */
import { describe, expect, it } from 'vitest';
import { CreateSubnetCommand, CreateVpcCommand, type _InstanceType } from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { tagRecord } from '../../shared/domain/tags.js';

const NIGHT_1 = new Date('2026-11-24T03:00:00Z');
const cloud = cloudPerFile();

/**
 * Where EC2 refused a launch for capacity, in order. Each place once: the EC2 client does not
 * retry InsufficientInstanceCapacity (HTTP 500) itself, recovery goes on to the next fallback.
 */
const refusedAt = () => cloud.proxy.capacityRefusals();

/** A VPC with a subnet in each of three zones; the instance runs in the first. */
async function arrange(tags: (subnets: string[]) => Record<string, string>, instanceType: _InstanceType = 't3.small') {
  const { Vpc } = await cloud.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const subnets: string[] = [];
  for (const [i, zone] of ['us-east-1a', 'us-east-1b', 'us-east-1c'].entries()) {
    const { Subnet } = await cloud.ec2.send(
      new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: `10.0.${i + 1}.0/24`, AvailabilityZone: zone }),
    );
    subnets.push(Subnet!.SubnetId!);
  }
  const [instanceId] = await cloud.launch(
    1,
    { Name: 'web-1', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure', ...tags(subnets) },
    { InstanceType: instanceType, SubnetId: subnets[0]! },
  );
  await cloud.bakeCycle('nightly', NIGHT_1);
  return { instanceId: instanceId!, subnets };
}

describe('recovery: capacity fallbacks', () => {
  it('launches in the next subnet of ami-lifecycle:subnets when the captured zone has no capacity, and says where it tried', async () => {
    // Prepare
    const a = await arrange((s) => ({ 'ami-lifecycle:subnets': `${s[1]},${s[2]}` }));
    cloud.proxy.setNoCapacity([{ subnetId: a.subnets[0]!, instanceType: 't3.small' }]);

    // Act
    await cloud.failInstance(a.instanceId, 'terminated');
    await cloud.deliver();

    // Assess
    const replacements = await cloud.replacementsOf(a.instanceId);
    expect(replacements).toHaveLength(1);
    expect(replacements[0]).toMatchObject({ SubnetId: a.subnets[1], InstanceType: 't3.small' });
    expect(refusedAt()).toEqual([`${a.subnets[0]}|t3.small`]);
    expect(cloud.published('InstanceRelaunched').map((e) => e.detail)).toEqual([
      expect.objectContaining({
        newInstanceId: replacements[0]!.InstanceId,
        launchAttempts: [`t3.small in ${a.subnets[0]}: InsufficientInstanceCapacity`, `t3.small in ${a.subnets[1]}: launched`],
      }),
    ]);
  });

  it('launches as a fallback type of the same architecture when no subnet has the captured type, never as one of another', async () => {
    // Prepare: no t3.small anywhere; m6g.large is arm64 (refused as a tag problem); m5.large is not offered in the first zone
    const a = await arrange((s) => ({ 'ami-lifecycle:subnets': s[1]!, 'ami-lifecycle:fallback-types': 'm6g.large,m5.large' }));
    cloud.proxy.setNoCapacity([{ instanceType: 't3.small' }, { subnetId: a.subnets[0]!, instanceType: 'm5.large', code: 'Unsupported' }]);

    // Act
    await cloud.failInstance(a.instanceId, 'terminated');
    await cloud.deliver();

    // Assess
    const replacements = await cloud.replacementsOf(a.instanceId);
    expect(replacements).toHaveLength(1);
    expect(replacements[0]).toMatchObject({ SubnetId: a.subnets[1], InstanceType: 'm5.large' });
    expect(refusedAt()).toEqual([`${a.subnets[0]}|t3.small`, `${a.subnets[1]}|t3.small`, `${a.subnets[0]}|m5.large`]);
    const [relaunched] = cloud.published('InstanceRelaunched').map((e) => e.detail);
    expect(relaunched).toMatchObject({
      launchAttempts: expect.arrayContaining([
        expect.stringMatching(/^m6g\.large in .*: not tried \(m6g\.large runs arm64, t3\.small runs x86_64/),
      ]),
    });
  });

  it('ends in RecoveryFailed naming every attempt when no fallback has room, launching nothing', async () => {
    // Prepare
    const a = await arrange((s) => ({ 'ami-lifecycle:subnets': s[1]! }));
    cloud.proxy.setNoCapacity([{ instanceType: 't3.small' }]);

    // Act
    await cloud.failInstance(a.instanceId, 'terminated');
    await cloud.deliver();

    // Assess
    expect(await cloud.replacementsOf(a.instanceId)).toEqual([]);
    const [failed] = cloud.published('RecoveryFailed').map((e) => e.detail);
    expect(failed).toMatchObject({ instanceId: a.instanceId, errorCode: 'InsufficientInstanceCapacity' });
    expect(failed!.message).toContain(`t3.small in ${a.subnets[0]}: InsufficientInstanceCapacity`);
    expect(failed!.message).toContain(`t3.small in ${a.subnets[1]}: InsufficientInstanceCapacity`);
  });

  it('launches one replacement when the event comes three times, in any order, the first zone refusing each time', async () => {
    // Prepare
    const a = await arrange((s) => ({ 'ami-lifecycle:subnets': `${s[1]},${s[2]}` }));
    cloud.proxy.setNoCapacity([{ subnetId: a.subnets[0]!, instanceType: 't3.small' }]);

    // Act
    await cloud.failInstance(a.instanceId, 'terminated');
    await cloud.deliver({ copies: 3, shuffleSeed: 14 });

    // Assess
    const replacements = await cloud.replacementsOf(a.instanceId);
    expect(replacements).toHaveLength(1);
    expect(replacements[0]!.SubnetId).toBe(a.subnets[1]);
    expect(tagRecord(replacements[0]!.Tags)['ami-lifecycle:replaces']).toBe(a.instanceId);
    const relaunched = cloud.published('InstanceRelaunched').map((e) => e.detail);
    expect(relaunched.length).toBeGreaterThanOrEqual(1);
    for (const e of relaunched) expect(e).toMatchObject({ newInstanceId: replacements[0]!.InstanceId });
  });
});
