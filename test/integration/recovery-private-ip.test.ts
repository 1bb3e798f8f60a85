/**
 * recoveryKeepPrivateIp (issue 14): a replacement asks for the failed instance's primary private
 * IP when the stage allows it and the failed instance no longer holds it; while the failed
 * instance exists (stopped), the address is its own and the replacement gets another.
 */
import { describe, expect, it } from 'vitest';
import { CreateSubnetCommand, CreateVpcCommand, type Instance } from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';

const NIGHT_1 = new Date('2026-11-24T03:00:00Z');
const OPTED_IN = { Name: 'db-1', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure' };
const ADDRESS = '10.0.1.50';

const cloud = cloudPerFile({ params: { recoveryKeepPrivateIp: 'true' } });

async function arrange(): Promise<string> {
  const { Vpc } = await cloud.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const { Subnet } = await cloud.ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: '10.0.1.0/24' }));
  const [instanceId] = await cloud.launch(1, OPTED_IN, { SubnetId: Subnet!.SubnetId!, PrivateIpAddress: ADDRESS });
  await cloud.bakeCycle('nightly', NIGHT_1);
  return instanceId!;
}

async function replacementOf(failedId: string): Promise<Instance> {
  const all = await cloud.replacementsOf(failedId);
  expect(all).toHaveLength(1);
  return all[0]!;
}

describe('recoveryKeepPrivateIp', () => {
  it('relaunches a terminated instance with its private IP', async () => {
    // Prepare
    const failed = await arrange();

    // Act
    await cloud.failInstance(failed, 'terminated', 'Server.InternalError');
    await cloud.deliver();

    // Assess
    expect((await replacementOf(failed)).PrivateIpAddress).toBe(ADDRESS);
  });

  it('never asks for the address while the failed instance still holds it (stopped)', async () => {
    // Prepare
    const failed = await arrange();

    // Act
    await cloud.failInstance(failed, 'stopped', 'Server.InternalError');
    await cloud.deliver();

    // Assess
    const replacement = await replacementOf(failed);
    expect(replacement.State?.Name).toBe('running');
    expect(replacement.PrivateIpAddress).not.toBe(ADDRESS);
  });
});
