/**
 * Reading instances: the opted-in ones by tag, every live one, one by id, a lineage's; what a
 * capture reads besides their description (user data, protections, credits, a spot request);
 * their placement, status checks, and the subnets and types a replacement may use.
 */
import {
  DescribeInstanceAttributeCommand,
  DescribeInstanceCreditSpecificationsCommand,
  DescribeInstanceStatusCommand,
  DescribeInstanceTypesCommand,
  DescribeInstancesCommand,
  DescribeSpotInstanceRequestsCommand,
  DescribeSubnetsCommand,
} from '@aws-sdk/client-ec2';
import type { InstanceSummary } from '../../domain/bake.js';
import type { CaptureTimeSettings, LaunchConfig } from '../../domain/launch.js';
import type { StatusChecks } from '../../domain/recovery-deferral.js';
import type { ReplacementPlacement } from '../../domain/volume-moves.js';
import { TAG } from '../../domain/tags.js';
import { spotOptionsOf, toInstanceSummary } from '../ec2-mappers.js';
import { call } from '../errors.js';
import { INSTANCE_NOT_FOUND, LIVE_STATES, callOr, collect, instancePages, type Ec2Context } from './common.js';

const SPOT_REQUEST_NOT_FOUND = new Set(['InvalidSpotInstanceRequestID.NotFound']);
/**
 * Burstable performance instances (T2, T3, T3a, T4g) have a credit option; others have none
 * ("Key concepts and definitions for burstable performance instances",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/burstable-performance-instances.html).
 */
const isBurstable = (instanceType: string): boolean => /^t\d+[a-z]*\./.test(instanceType);

export function listBakeCandidates(ec2: Ec2Context): AsyncIterable<InstanceSummary[]> {
  return instancePages(ec2, [
    { Name: 'tag-key', Values: [TAG.bake] },
    { Name: 'instance-state-name', Values: LIVE_STATES },
  ]);
}

export function listRecoverCandidates(ec2: Ec2Context): AsyncIterable<InstanceSummary[]> {
  return instancePages(ec2, [
    { Name: 'tag-key', Values: [TAG.recover] },
    { Name: 'instance-state-name', Values: LIVE_STATES },
  ]);
}

export function listPromoteCandidates(ec2: Ec2Context): AsyncIterable<InstanceSummary[]> {
  return instancePages(ec2, [
    { Name: 'tag-key', Values: [TAG.promote] },
    { Name: 'instance-state-name', Values: LIVE_STATES },
  ]);
}

export function listInstances(ec2: Ec2Context): AsyncIterable<InstanceSummary[]> {
  // Stopped and stopping instances still need their image to start again.
  return instancePages(ec2, [{ Name: 'instance-state-name', Values: [...LIVE_STATES, 'shutting-down'] }]);
}

export function listListedInstances(ec2: Ec2Context): AsyncIterable<InstanceSummary[]> {
  // No state filter: stopped instances need their image to start, and a terminated one is still
  // listed for a while ("Terminated instances remain visible for approximately one hour"; user guide,
  // "Terminate Amazon EC2 instances", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/terminating-instances.html).
  return instancePages(ec2, []);
}

export async function describeInstance(ec2: Ec2Context, instanceId: string): Promise<InstanceSummary | undefined> {
  const describe = () => ec2.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const out = await callOr('DescribeInstances', describe, INSTANCE_NOT_FOUND, undefined);
  const instance = out?.Reservations?.[0]?.Instances?.[0];
  return instance ? toInstanceSummary(instance) : undefined;
}

export async function listLineageInstances(ec2: Ec2Context, lineage: string): Promise<InstanceSummary[]> {
  // Every state: terminated replacements (shown for about an hour) count towards the relaunch limit.
  return collect(instancePages(ec2, [{ Name: `tag:${TAG.lineage}`, Values: [lineage] }]));
}

export async function readUserData(ec2: Ec2Context, instanceId: string): Promise<string | undefined> {
  const out = await call('DescribeInstanceAttribute', () =>
    ec2.client.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute: 'userData' })),
  );
  return out.UserData?.Value || undefined;
}

/**
 * One DescribeInstanceAttribute per attribute (it takes one at a time), a credit read for a
 * burstable type, a spot request read for a spot instance: all side by side, and only at capture.
 */
export async function readCaptureSettings(ec2: Ec2Context, instanceId: string, config: LaunchConfig): Promise<CaptureTimeSettings> {
  const attribute = (Attribute: 'disableApiTermination' | 'disableApiStop' | 'instanceInitiatedShutdownBehavior') =>
    call('DescribeInstanceAttribute', () => ec2.client.send(new DescribeInstanceAttributeCommand({ InstanceId: instanceId, Attribute })));
  const [termination, stop, shutdown, credits, spot] = await Promise.all([
    attribute('disableApiTermination'),
    attribute('disableApiStop'),
    attribute('instanceInitiatedShutdownBehavior'),
    isBurstable(config.instanceType)
      ? call('DescribeInstanceCreditSpecifications', () =>
          ec2.client.send(new DescribeInstanceCreditSpecificationsCommand({ InstanceIds: [instanceId] })),
        )
      : undefined,
    config.spot?.requestId
      ? callOr(
          'DescribeSpotInstanceRequests',
          () => ec2.client.send(new DescribeSpotInstanceRequestsCommand({ SpotInstanceRequestIds: [config.spot?.requestId ?? ''] })),
          SPOT_REQUEST_NOT_FOUND,
          undefined,
        )
      : undefined,
  ]);
  const cpuCredits = credits?.InstanceCreditSpecifications?.find((c) => c.InstanceId === instanceId)?.CpuCredits;
  return {
    ...(termination.DisableApiTermination?.Value !== undefined ? { disableApiTermination: termination.DisableApiTermination.Value } : {}),
    ...(stop.DisableApiStop?.Value !== undefined ? { disableApiStop: stop.DisableApiStop.Value } : {}),
    ...(shutdown.InstanceInitiatedShutdownBehavior?.Value ? { shutdownBehavior: shutdown.InstanceInitiatedShutdownBehavior.Value } : {}),
    ...(cpuCredits ? { cpuCredits } : {}),
    // A spot instance whose request is gone (EC2 forgets closed requests) still relaunches as spot, with EC2's defaults.
    ...(config.spot ? { spot: spotOptionsOf(spot?.SpotInstanceRequests?.[0]) } : {}),
  };
}

export async function placementOf(ec2: Ec2Context, instanceId: string): Promise<ReplacementPlacement | undefined> {
  const describe = () => ec2.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = (await callOr('DescribeInstances', describe, INSTANCE_NOT_FOUND, undefined))?.Reservations?.[0]?.Instances?.[0];
  if (!instance?.Placement?.AvailabilityZone) return undefined;
  return {
    availabilityZone: instance.Placement.AvailabilityZone,
    devices: (instance.BlockDeviceMappings ?? []).flatMap((m) => (m.DeviceName ? [m.DeviceName] : [])),
  };
}

export async function subnetZones(ec2: Ec2Context, subnetIds: string[]): Promise<Record<string, string>> {
  if (subnetIds.length === 0) return {};
  // A filter, not SubnetIds: a subnet that no longer exists is left out, not an error of the whole call.
  const out = await call('DescribeSubnets', () =>
    ec2.client.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'subnet-id', Values: subnetIds }] })),
  );
  return Object.fromEntries(
    (out.Subnets ?? []).flatMap((s) => (s.SubnetId && s.AvailabilityZone ? [[s.SubnetId, s.AvailabilityZone]] : [])),
  );
}

export async function instanceTypeArchitectures(ec2: Ec2Context, instanceTypes: string[]): Promise<Record<string, string[]>> {
  // A filter rather than InstanceTypes: a type EC2 does not know is left out of the answer, not an error of the whole call.
  // ProcessorInfo.SupportedArchitectures: EC2 API reference, ProcessorInfo
  // (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ProcessorInfo.html).
  const out = await call('DescribeInstanceTypes', () =>
    ec2.client.send(new DescribeInstanceTypesCommand({ Filters: [{ Name: 'instance-type', Values: instanceTypes }] })),
  );
  return Object.fromEntries(
    (out.InstanceTypes ?? []).flatMap((t) => (t.InstanceType ? [[t.InstanceType, t.ProcessorInfo?.SupportedArchitectures ?? []]] : [])),
  );
}

export async function describeStatusChecks(ec2: Ec2Context, instanceId: string): Promise<StatusChecks | undefined> {
  // Without IncludeAllInstances EC2 answers for running instances only: a stopped one has no checks to fail.
  const read = async () => {
    const out = await ec2.client.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId] }));
    const status = out.InstanceStatuses?.find((s) => s.InstanceId === instanceId);
    return status
      ? { system: status.SystemStatus?.Status ?? 'not-applicable', instance: status.InstanceStatus?.Status ?? 'not-applicable' }
      : undefined;
  };
  return callOr('DescribeInstanceStatus', read, INSTANCE_NOT_FOUND, undefined);
}
