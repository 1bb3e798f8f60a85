/** Elastic IPs: the lineage's tag on them, finding them by it, and moving one to a replacement. */
import { AssociateAddressCommand, DescribeAddressesCommand } from '@aws-sdk/client-ec2';
import { TAG, type Tags } from '../../domain/tags.js';
import type { AddressView } from '../../use-cases/ec2-ports.js';
import { toAddressViews } from '../ec2-mappers.js';
import { call } from '../errors.js';
import { callOr, type Ec2Context } from './common.js';
import { tagResources } from './tags.js';

export async function tagElasticIp(ec2: Ec2Context, publicIp: string, tags: Tags): Promise<string | undefined> {
  const out = await callOr(
    'DescribeAddresses',
    () => ec2.client.send(new DescribeAddressesCommand({ PublicIps: [publicIp] })),
    new Set(['InvalidAddress.NotFound']),
    undefined,
  );
  const allocationId = out?.Addresses?.[0]?.AllocationId;
  if (allocationId) await tagResources(ec2, [allocationId], tags);
  return allocationId;
}

export async function findLineageAddresses(ec2: Ec2Context, lineage: string): Promise<AddressView[]> {
  const out = await call('DescribeAddresses', () =>
    ec2.client.send(new DescribeAddressesCommand({ Filters: [{ Name: `tag:${TAG.lineage}`, Values: [lineage] }] })),
  );
  return (out.Addresses ?? []).flatMap(toAddressViews);
}

export async function associateAddress(ec2: Ec2Context, allocationId: string, instanceId: string): Promise<void> {
  await call('AssociateAddress', () =>
    ec2.client.send(new AssociateAddressCommand({ AllocationId: allocationId, InstanceId: instanceId, AllowReassociation: true })),
  );
}
