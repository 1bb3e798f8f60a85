/**
 * The in-memory fleet view (planRotationRun, inspectFleet) and rotation (rotateImages) slices.
 * Snapshots carry tags, size and start time; launch templates report their default and latest
 * versions; the image-references table is asked 10 ids a call, as DescribeImageReferences takes
 * them, and a refused call leaves its ids unverified, as the gateway does. deregisterImage
 * behaves like DeregisterImage with DeleteAssociatedSnapshots (a snapshot another image still
 * uses stays), deleteSnapshot refuses a snapshot a registered image uses (InvalidSnapshot.InUse),
 * and enableImageDeprecation refuses a time in the past and rounds to the minute, as EC2 does.
 */
import type { UnverifiedReason } from '../../../shared/domain/retention.js';
import { TAG } from '../../../shared/domain/tags.js';
import type { FleetViewEc2, RotationEc2, SnapshotView } from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import type { FakeEc2Account, FakeLaunchTemplateVersion } from './ec2-account.js';
import { ec2Tagging, managedImageListing } from './ec2-shared.js';

export const fleetViewEc2 = (a: FakeEc2Account): FleetViewEc2 => ({
  ...managedImageListing(a),

  listManagedSnapshots(managedBy: string) {
    return a.countedPages('DescribeSnapshots', () =>
      [...a.snapshotTags].flatMap(([snapshotId, tags]): SnapshotView[] => {
        if (tags[TAG.managedBy] !== managedBy) return [];
        const meta = a.mustSnapshot(snapshotId);
        return [{ snapshotId, sizeBytes: meta.sizeBytes, startTime: new Date(meta.startTime), tags: { ...tags } }];
      }),
    );
  },

  listInstances() {
    return a.countedPages('DescribeInstances', () =>
      [...a.instances.values()].filter((i) => i.state !== 'terminated').map((i) => a.instanceView(i)),
    );
  },

  listLaunchTemplateImages() {
    return a.countedPages('DescribeLaunchTemplateVersions', () =>
      [...a.launchTemplates].flatMap(([launchTemplateId, versions]) => {
        // $Latest and $Default: one entry when they are the same version.
        const latest = versions.reduce<FakeLaunchTemplateVersion | undefined>((x, v) => (!x || v.version > x.version ? v : x), undefined);
        const chosen = versions.filter((v) => v.isDefault || v === latest).sort((x, y) => x.version - y.version);
        return chosen.flatMap((v) =>
          v.imageId ? [{ launchTemplateId, version: v.version, isDefault: v.isDefault, imageId: v.imageId }] : [],
        );
      }),
    );
  },

  async findImageReferences(imageIds: string[]) {
    a.note(`findImageReferences ${imageIds.join(',')}`);
    const references = new Map<string, string[]>();
    const unverified = new Map<string, UnverifiedReason>();
    // The gateway asks 10 ids a call; a refused call answers for none of its ids.
    for (let i = 0; i < imageIds.length; i += 10) {
      const slice = imageIds.slice(i, i + 10);
      a.calls.push({ action: 'DescribeImageReferences', ids: slice });
      const failure = a.imageReferencesOffered
        ? (a.referencesFailure ?? a.referencesCallFailures.get(a.callCount('DescribeImageReferences')))
        : new AwsCallError(
            'InvalidAction',
            'DescribeImageReferences',
            'The action DescribeImageReferences is not valid for this web service.',
            false,
            400,
          );
      for (const id of slice) {
        if (failure) {
          unverified.set(id, { errorCode: failure.code, message: failure.message });
          continue;
        }
        const refs = a.imageReferences.get(id);
        if (refs && refs.length > 0) references.set(id, [...refs]);
      }
    }
    return { references, unverified };
  },
});

export const rotationEc2 = (a: FakeEc2Account): RotationEc2 => ({
  ...fleetViewEc2(a),
  ...ec2Tagging(a),

  async deregisterImage(imageId: string) {
    a.calls.push({ action: 'DeregisterImage', ids: [imageId] });
    a.note(`deregister ${imageId}`);
    const failure = a.deregisterFailures.get(imageId);
    if (failure) throw failure;
    const image = a.images.get(imageId);
    if (!image) return 'gone';
    a.images.delete(imageId);
    const keep = a.keepSnapshotsOnDeregister;
    if (keep === true || (keep !== false && keep.has(imageId))) return 'deregistered';
    // DeleteAssociatedSnapshots: a snapshot another image still uses is not deleted.
    const stillUsed = new Set([...a.images.values()].flatMap((i) => i.snapshotIds));
    for (const s of image.snapshotIds) {
      if (stillUsed.has(s)) continue;
      a.snapshotTags.delete(s);
      a.snapshotMeta.delete(s);
    }
    return 'deregistered';
  },

  async deleteSnapshot(snapshotId: string) {
    a.calls.push({ action: 'DeleteSnapshot', ids: [snapshotId] });
    a.note(`deleteSnapshot ${snapshotId}`);
    const failure = a.deleteSnapshotFailures.get(snapshotId);
    if (failure) throw failure;
    if (!a.snapshotTags.has(snapshotId)) return 'gone';
    const user = [...a.images.values()].find((i) => i.snapshotIds.includes(snapshotId));
    if (user) {
      throw new AwsCallError(
        'InvalidSnapshot.InUse',
        'DeleteSnapshot',
        `The snapshot ${snapshotId} is currently in use by ${user.imageId}`,
        false,
        400,
      );
    }
    a.snapshotTags.delete(snapshotId);
    a.snapshotMeta.delete(snapshotId);
    return 'deleted';
  },

  async enableImageDeprecation(imageId: string, at: Date) {
    a.calls.push({ action: 'EnableImageDeprecation', ids: [imageId] });
    a.note(`deprecate ${imageId} ${at.toISOString()}`);
    const failure = a.deprecationFailures.get(imageId);
    if (failure) throw failure;
    const image = a.images.get(imageId);
    if (!image)
      throw new AwsCallError('InvalidAMIID.NotFound', 'EnableImageDeprecation', `The image id '[${imageId}]' does not exist`, false, 400);
    // EC2: "You can't specify a date in the past"; seconds are rounded to the nearest minute.
    if (at.getTime() < a.clock().getTime()) {
      throw new AwsCallError(
        'InvalidParameterValue',
        'EnableImageDeprecation',
        `The deprecation time ${at.toISOString()} is in the past`,
        false,
        400,
      );
    }
    image.deprecationTime = new Date(Math.round(at.getTime() / 60_000) * 60_000).toISOString();
  },
});
