/**
 * The in-memory bake slice (bakeInstance): CreateImage refuses a second image of the same name
 * with InvalidAMIName.Duplicate, and createImage turns that refusal into `{ created: false,
 * existing }` exactly as Ec2Gateway.createImage does (or a retryable error when the image is
 * not visible yet); the capture saves launch template versions idempotently per revision.
 */
import type { ImageSpec } from '../../../shared/domain/bake.js';
import type { StoredLaunchConfig } from '../../../shared/domain/launch.js';
import type { Tags } from '../../../shared/domain/tags.js';
import type { BakeEc2, CreatedImage, OnDemandBakeEc2 } from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { notFound, type FakeEc2Account } from './ec2-account.js';
import { bakeCandidateListing, ec2Tagging, elasticIpTagging, excludeTagListing, instanceLookup } from './ec2-shared.js';

/** EC2's own CreateImage: refuses a duplicate name, an unknown instance, an instance going away. */
function ec2CreateImage(a: FakeEc2Account, spec: ImageSpec): string {
  a.createImageCalls.push(spec);
  a.note(`createImage ${spec.name}`);
  const failure = a.createFailures.get(spec.instanceId);
  if (failure) throw failure;
  const instance = a.instances.get(spec.instanceId);
  if (!instance || instance.state === 'terminated') throw notFound(spec.instanceId);
  if (instance.state === 'shutting-down') {
    throw new AwsCallError(
      'IncorrectInstanceState',
      'CreateImage',
      `The instance '${spec.instanceId}' is not in a state from which it can be imaged`,
      false,
      400,
    );
  }
  if (a.imageByName(spec.name)) {
    throw new AwsCallError('InvalidAMIName.Duplicate', 'CreateImage', `AMI name ${spec.name} is already in use by AMI`, false, 400);
  }
  const imageId = a.newId('ami');
  // EC2 snapshots every attached EBS volume but the devices mapped NoDevice.
  const imaged = instance.devices ? instance.devices.filter((d) => !spec.noDevices.includes(d.deviceName)).length : instance.volumes;
  const snapshotIds = Array.from({ length: imaged }, () => a.newId('snap'));
  a.images.set(imageId, {
    imageId,
    name: spec.name,
    description: spec.description,
    state: 'pending',
    creationDate: a.clock().toISOString(),
    sourceInstanceId: spec.instanceId,
    noReboot: spec.noReboot,
    tags: { ...spec.tags },
    snapshotIds,
  });
  for (const s of snapshotIds) a.putSnapshot(s, spec.tags, a.clock().toISOString());
  return imageId;
}

export const bakeEc2 = (a: FakeEc2Account): BakeEc2 => ({
  ...ec2Tagging(a),
  ...elasticIpTagging(a),

  async createImage(spec: ImageSpec): Promise<CreatedImage> {
    try {
      const imageId = ec2CreateImage(a, spec);
      return { imageId, created: true };
    } catch (error) {
      // The same handling as Ec2Gateway.createImage.
      if (!(error instanceof AwsCallError) || error.code !== 'InvalidAMIName.Duplicate') throw error;
      const existing = a.invisibleNames.has(spec.name) ? undefined : a.imageByName(spec.name);
      if (!existing) {
        throw new AwsCallError(error.code, 'CreateImage', `${error.message}; that image is not visible yet`, true, error.httpStatus, {
          cause: error,
        });
      }
      return { imageId: existing.imageId, created: false, existing: a.view(existing) };
    }
  },

  async readUserData(instanceId: string) {
    a.recoveryCall('ReadUserData');
    const instance = a.instances.get(instanceId);
    if (!instance) throw notFound(instanceId, 'DescribeInstanceAttribute');
    return instance.userData;
  },

  async readCaptureSettings(instanceId: string) {
    a.recoveryCall('ReadCaptureSettings');
    const instance = a.instances.get(instanceId);
    if (!instance) throw notFound(instanceId, 'DescribeInstanceAttribute');
    return structuredClone(instance.captureSettings ?? {});
  },

  async saveLaunchConfig(name: string, config: StoredLaunchConfig, tags: Tags, description: string, revision: string) {
    a.recoveryCall('SaveLaunchConfig');
    const versions = a.savedLaunchConfigs.get(name) ?? [];
    if (versions.at(-1)?.revision === revision) return versions.length;
    // A new template takes the tags; a new version leaves the template's tags as they are.
    versions.push({ config: structuredClone(config), tags: versions[0]?.tags ?? { ...tags }, description, revision });
    a.savedLaunchConfigs.set(name, versions);
    return versions.length;
  },
});

/** An operator's bake (bakeOnDemand): a bake, of named instances or of every opted-in one. */
export const onDemandBakeEc2 = (a: FakeEc2Account): OnDemandBakeEc2 => ({
  ...bakeEc2(a),
  ...bakeCandidateListing(a),
  ...instanceLookup(a),
  ...excludeTagListing(a),
});
