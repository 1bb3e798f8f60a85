/**
 * The in-memory recovery slice (recoverInstances, relaunchManually): RunInstances remembers its
 * client tokens as EC2 does (a repeated token answers the first launch, or a mismatch), and
 * every call is recorded in the account's recoveryCalls and can be refused (failRecoveryCall).
 */
import type { RelaunchSpec } from '../../../shared/domain/launch.js';
import { TAG } from '../../../shared/domain/tags.js';
import type { AddressView, RecoveryEc2 } from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { notFound, type FakeEc2Account, type FakeInstance } from './ec2-account.js';
import { ec2Tagging, elasticIpTagging, instanceLookup } from './ec2-shared.js';

/** An instance's zone: its own, else its subnet's, else us-east-1a. */
const zoneOf = (a: FakeEc2Account, i: FakeInstance): string => i.zone ?? a.subnets.get(i.launch?.subnetId ?? '') ?? 'us-east-1a';

export const recoveryEc2 = (a: FakeEc2Account): RecoveryEc2 => ({
  ...ec2Tagging(a),
  ...elasticIpTagging(a),
  ...instanceLookup(a),

  async listLineageInstances(lineage: string) {
    a.recoveryCall('ListLineageInstances');
    return [...a.instances.values()].filter((i) => i.tags[TAG.lineage] === lineage).map((i) => a.instanceView(i));
  },

  async listLineageImages(managedBy: string, lineage: string) {
    a.recoveryCall('ListLineageImages');
    return [...a.images.values()]
      .filter((i) => i.tags[TAG.managedBy] === managedBy && i.tags[TAG.lineage] === lineage)
      .map((i) => a.view(i));
  },

  async findLineageOf(managedBy: string, instanceId: string) {
    a.recoveryCall('FindLineageOf');
    return [...a.images.values()].find((i) => i.tags[TAG.managedBy] === managedBy && i.tags[TAG.sourceInstance] === instanceId)?.tags[
      TAG.lineage
    ];
  },

  async readLaunchConfig(name: string) {
    a.recoveryCall('ReadLaunchConfig');
    const versions = a.savedLaunchConfigs.get(name);
    return versions?.length ? structuredClone(versions[versions.length - 1]!.config) : undefined;
  },

  async findLineageAddresses(lineage: string): Promise<AddressView[]> {
    a.recoveryCall('FindLineageAddresses');
    return [...a.addresses.values()]
      .filter((x) => x.tags[TAG.lineage] === lineage)
      .map((x) => ({ allocationId: x.allocationId, publicIp: x.publicIp, ...(x.instanceId ? { instanceId: x.instanceId } : {}) }));
  },

  /** RunInstances as EC2 does it: a repeated client token answers the first launch, or a mismatch; then capacity (noCapacity). */
  async runInstance(spec: RelaunchSpec) {
    a.runCalls.push(structuredClone(spec));
    a.recoveryCall('RunInstances');
    if (a.runFailure) throw a.runFailure;
    const params = JSON.stringify({ ...spec, clientToken: undefined });
    const earlier = a.launchesByToken.get(spec.clientToken);
    if (earlier) {
      if (earlier.params !== params) {
        throw new AwsCallError(
          'IdempotentParameterMismatch',
          'RunInstances',
          `token ${spec.clientToken} used with other parameters`,
          false,
          400,
        );
      }
      return earlier.instanceId;
    }
    const { subnetId = 'default', instanceType } = spec.config;
    const shortage = [`${subnetId}|${instanceType}`, `*|${instanceType}`, `${subnetId}|*`].map((k) => a.noCapacity.get(k)).find(Boolean);
    if (shortage === 'Unsupported') {
      const message = `Your requested instance type (${instanceType}) is not supported in your requested Availability Zone (${subnetId})`;
      throw new AwsCallError('Unsupported', 'RunInstances', message, false, 400);
    }
    if (shortage)
      throw new AwsCallError(shortage, 'RunInstances', `We currently do not have sufficient ${instanceType} capacity`, true, 500);
    const instanceId = a.newId('i');
    // RunInstances cannot turn the source/destination check off: the instance starts with it on.
    const { tags, userData, elasticIp: _ignored, sourceDestCheck: _notAtLaunch, ...launch } = spec.config;
    void _ignored;
    void _notAtLaunch;
    void tags;
    a.instances.set(instanceId, {
      instanceId,
      state: 'running',
      tags: { ...spec.tags },
      volumes: 1,
      imageId: spec.imageId,
      launchTime: a.clock(),
      launch,
      userData,
    });
    a.launchesByToken.set(spec.clientToken, { params, instanceId });
    return instanceId;
  },

  async disableSourceDestCheck(instanceId: string) {
    a.recoveryCall('ModifyInstanceAttribute');
    const instance = a.instances.get(instanceId);
    if (!instance?.launch) throw notFound(instanceId, 'ModifyInstanceAttribute');
    instance.launch.sourceDestCheck = false;
  },

  async findFollowingVolumes(instanceIds: string[]) {
    a.recoveryCall('FindFollowingVolumes');
    return [...a.dataVolumes.values()]
      .filter((v) => v.tags[TAG.exclude] === 'follow')
      .filter((v) => (v.attachment && instanceIds.includes(v.attachment.instanceId)) || v.tags[TAG.follows] !== undefined)
      .map((v) => {
        // A detach in progress is over by the next look.
        if (v.attachment?.state === 'detaching') {
          v.attachment = undefined;
          v.state = 'available';
        }
        return structuredClone({
          volumeId: v.volumeId,
          availabilityZone: v.zone,
          state: v.state,
          attachment: v.attachment,
          tags: v.tags,
        });
      });
  },

  async subnetZones(subnetIds: string[]) {
    a.recoveryCall('DescribeSubnets');
    return Object.fromEntries(subnetIds.flatMap((s) => (a.subnets.has(s) ? [[s, a.subnets.get(s)!]] : [])));
  },

  async placementOf(instanceId: string) {
    a.recoveryCall('PlacementOf');
    const i = a.instances.get(instanceId);
    if (!i) return undefined;
    return { availabilityZone: zoneOf(a, i), devices: deviceNamesOf(i) };
  },

  async detachVolume(volumeId: string, instanceId: string) {
    a.recoveryCall('DetachVolume');
    const v = a.dataVolumes.get(volumeId);
    if (!v) throw new AwsCallError('InvalidVolume.NotFound', 'DetachVolume', volumeId, false, 400);
    if (v.attachment?.instanceId !== instanceId) {
      throw new AwsCallError('IncorrectState', 'DetachVolume', `${volumeId} is not attached to ${instanceId}`, false, 400);
    }
    if (a.instances.get(instanceId)?.state === 'running') {
      throw new AwsCallError(
        'FakeRefusal',
        'DetachVolume',
        'the fake never detaches from a running instance: recovery must not ask',
        false,
      );
    }
    if (a.slowDetach) v.attachment.state = 'detaching';
    else {
      v.attachment = undefined;
      v.state = 'available';
    }
  },

  async waitUntilDetached(volumeId: string, instanceId: string) {
    a.recoveryCall('WaitUntilDetached');
    const v = a.dataVolumes.get(volumeId);
    if (v?.attachment?.instanceId === instanceId && v.attachment.state === 'detaching') {
      v.attachment = undefined;
      v.state = 'available';
    }
    if (v?.attachment?.instanceId === instanceId)
      throw new AwsCallError('TimeoutError', 'DescribeVolumes', `${volumeId} is on ${instanceId}`, true);
  },

  async attachVolume(volumeId: string, instanceId: string, device: string) {
    a.recoveryCall('AttachVolume');
    const v = a.dataVolumes.get(volumeId);
    const i = a.instances.get(instanceId);
    if (!v) throw new AwsCallError('InvalidVolume.NotFound', 'AttachVolume', volumeId, false, 400);
    if (!i) throw notFound(instanceId, 'AttachVolume');
    if (v.state !== 'available') throw new AwsCallError('VolumeInUse', 'AttachVolume', `${volumeId} is ${v.state}`, false, 400);
    if (v.zone !== zoneOf(a, i))
      throw new AwsCallError('InvalidVolume.ZoneMismatch', 'AttachVolume', `${volumeId} is in ${v.zone}`, false, 400);
    const taken = [...a.dataVolumes.values()].some((o) => o.attachment?.instanceId === instanceId && o.attachment.device === device);
    if (taken || deviceNamesOf(i).includes(device)) {
      throw new AwsCallError('InvalidParameterValue', 'AttachVolume', `Attachment point ${device} is already in use`, false, 400);
    }
    v.attachment = { instanceId, device, state: 'attached' };
    v.state = 'in-use';
    v.attaches += 1;
  },

  async instanceTypeArchitectures(instanceTypes: string[]) {
    a.recoveryCall('DescribeInstanceTypes');
    return Object.fromEntries(instanceTypes.flatMap((t) => (a.instanceTypes.has(t) ? [[t, [...a.instanceTypes.get(t)!]]] : [])));
  },

  async waitUntilRunning(instanceId: string) {
    a.recoveryCall('WaitUntilRunning');
    const state = a.instances.get(instanceId)?.state;
    if (state !== 'running') throw new AwsCallError('TimeoutError', 'DescribeInstances', `${instanceId} is ${state ?? 'unknown'}`, true);
  },

  /** StopInstances: stopped at once, or `stopping` while the account's slowStop is set (stuckStopping: for good). */
  async stopInstance(instanceId: string) {
    a.recoveryCall('StopInstances');
    const instance = a.instances.get(instanceId);
    if (!instance || instance.state === 'terminated') return 'gone';
    if (instance.state === 'running' || instance.state === 'stopping') instance.state = a.slowStop ? 'stopping' : 'stopped';
    return 'stopping';
  },

  async waitUntilStopped(instanceId: string) {
    a.recoveryCall('WaitUntilStopped');
    const instance = a.instances.get(instanceId);
    if (instance?.state === 'stopping' && !a.stuckStopping) instance.state = 'stopped';
    if (instance?.state !== 'stopped')
      throw new AwsCallError('TimeoutError', 'DescribeInstances', `${instanceId} is ${instance?.state ?? 'unknown'}`, true);
  },

  async associateAddress(allocationId: string, instanceId: string) {
    a.recoveryCall('AssociateAddress');
    const address = a.addresses.get(allocationId);
    if (!address) throw new AwsCallError('InvalidAllocationID.NotFound', 'AssociateAddress', allocationId, false, 400);
    if (!a.instances.has(instanceId)) throw notFound(instanceId, 'AssociateAddress');
    address.instanceId = instanceId;
  },

  async terminateInstance(instanceId: string) {
    a.recoveryCall('TerminateInstances');
    const instance = a.instances.get(instanceId);
    if (!instance) return 'gone';
    instance.state = 'terminated';
    return 'terminated';
  },

  async describeStatusChecks(instanceId: string) {
    a.recoveryCall('DescribeInstanceStatus');
    const instance = a.instances.get(instanceId);
    if (!instance || instance.state !== 'running') return undefined;
    return instance.statusChecks ?? { system: 'ok', instance: 'ok' };
  },

  async rebootInstance(instanceId: string) {
    a.recoveryCall('RebootInstances');
    const instance = a.instances.get(instanceId);
    if (instance) instance.reboots = (instance.reboots ?? 0) + 1;
  },
});

/** The devices an instance's block device mappings use: those a test named, else the root alone. */
function deviceNamesOf(i: FakeInstance): string[] {
  return i.devices?.map((d) => d.deviceName) ?? ['/dev/xvda'];
}
