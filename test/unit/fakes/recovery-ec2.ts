/**
 * The in-memory recovery slice (recoverInstances, relaunchManually): RunInstances remembers its
 * client tokens as EC2 does (a repeated token answers the first launch, or a mismatch), and
 * every call is recorded in the account's recoveryCalls and can be refused (failRecoveryCall).
 */
import type { RelaunchSpec } from '../../../shared/domain/launch.js';
import { TAG } from '../../../shared/domain/tags.js';
import type { AddressView, RecoveryEc2 } from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { notFound, type FakeEc2Account } from './ec2-account.js';
import { ec2Tagging, elasticIpTagging, instanceLookup } from './ec2-shared.js';

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
    const { tags, userData, elasticIp: _ignored, ...launch } = spec.config;
    void _ignored;
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

  async instanceTypeArchitectures(instanceTypes: string[]) {
    a.recoveryCall('DescribeInstanceTypes');
    return Object.fromEntries(instanceTypes.flatMap((t) => (a.instanceTypes.has(t) ? [[t, [...a.instanceTypes.get(t)!]]] : [])));
  },

  async waitUntilRunning(instanceId: string) {
    a.recoveryCall('WaitUntilRunning');
    const state = a.instances.get(instanceId)?.state;
    if (state !== 'running') throw new AwsCallError('TimeoutError', 'DescribeInstances', `${instanceId} is ${state ?? 'unknown'}`, true);
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
