/**
 * The in-memory sharing slice (shareImages): launch permissions on the images and
 * createVolumePermission on the snapshots of the account, each call counted and refused where a
 * test planted a failure (`shareFailures`, keyed `<action> <id>`). A vanished image or snapshot
 * reads as undefined and a revoke of one as 'gone', as the gateway maps EC2's NotFound codes.
 */
import { TAG } from '../../../shared/domain/tags.js';
import type { ShareEc2 } from '../../../shared/use-cases/ec2-ports.js';
import type { FakeEc2Account, RotationAction } from './ec2-account.js';
import { ec2Tagging, managedImageListing } from './ec2-shared.js';

export const shareEc2 = (a: FakeEc2Account): ShareEc2 => {
  const count = (action: RotationAction, id: string) => {
    a.calls.push({ action, ids: [id] });
    a.note(`${action} ${id}`);
    const failure = a.shareFailures.get(`${action} ${id}`);
    if (failure) throw failure;
  };
  return {
    ...managedImageListing(a),
    ...ec2Tagging(a),

    listInstances() {
      return a.countedPages('DescribeInstances', () =>
        [...a.instances.values()].filter((i) => i.state !== 'terminated').map((i) => a.instanceView(i)),
      );
    },

    listPublicImages(managedBy: string) {
      return a.countedPages('DescribeImages', () =>
        [...a.images.values()]
          .filter((i) => i.tags[TAG.managedBy] === managedBy && (i.launchPermissions ?? []).includes('all'))
          .map((i) => a.view(i)),
      );
    },

    async readLaunchPermissions(imageId: string) {
      count('DescribeImageAttribute', imageId);
      const image = a.images.get(imageId);
      return image ? [...(image.launchPermissions ?? [])] : undefined;
    },

    async changeLaunchPermissions(imageId: string, change) {
      for (const [op, entries] of [
        ['remove', change.remove],
        ['add', change.add],
      ] as const) {
        if (entries.length === 0) continue;
        if (entries.includes('all')) throw new Error('fake: the sharing step sent the group all');
        count('ModifyImageAttribute', imageId);
        const image = a.mustImage(imageId);
        const now = new Set(image.launchPermissions ?? []);
        for (const e of entries) {
          if (op === 'add') now.add(e);
          else now.delete(e);
        }
        image.launchPermissions = [...now];
      }
    },

    async revokePublicLaunch(imageId: string) {
      count('ModifyImageAttribute', imageId);
      const image = a.images.get(imageId);
      if (!image) return 'gone';
      image.launchPermissions = (image.launchPermissions ?? []).filter((e) => e !== 'all');
      return 'revoked';
    },

    async readSnapshotPermissions(snapshotId: string) {
      count('DescribeSnapshotAttribute', snapshotId);
      if (!a.snapshotTags.has(snapshotId)) return undefined;
      return [...(a.snapshotPermissions.get(snapshotId) ?? [])];
    },

    async changeSnapshotPermissions(snapshotId: string, change) {
      for (const [op, entries] of [
        ['remove', change.remove],
        ['add', change.add],
      ] as const) {
        if (entries.length === 0) continue;
        if (entries.some((e) => !/^\d{12}$/.test(e))) throw new Error('fake: a snapshot is shared with account ids only');
        count('ModifySnapshotAttribute', snapshotId);
        const now = new Set(a.snapshotPermissions.get(snapshotId) ?? []);
        for (const e of entries) {
          if (op === 'add') now.add(e);
          else now.delete(e);
        }
        a.snapshotPermissions.set(snapshotId, [...now]);
      }
    },
  };
};
