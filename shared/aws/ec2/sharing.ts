/**
 * Sharing the stack's images: their launch permissions and their snapshots' createVolumePermission,
 * and taking public access off an image. Never the group all: images are never made public.
 */
import {
  DescribeImageAttributeCommand,
  DescribeSnapshotAttributeCommand,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
  type LaunchPermission,
} from '@aws-sdk/client-ec2';
import type { ImageView } from '../../domain/image-status.js';
import type { PermissionChange } from '../../domain/sharing.js';
import { SHARE_PATTERNS, TAG } from '../../domain/tags.js';
import { call } from '../errors.js';
import { IMAGE_NOT_FOUND, SNAPSHOT_NOT_FOUND, callOr, imagePages, type Ec2Context } from './common.js';

/**
 * "You can make up to 500 modifications to a snapshot in a single operation", and adding and
 * removing take separate calls ("You may add or remove specified Amazon Web Services account IDs
 * ... but you cannot do both in a single operation"; EC2 API reference, ModifySnapshotAttribute,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifySnapshotAttribute.html).
 */
export const SNAPSHOT_PERMISSIONS_PER_CALL = 500;

/** An entry of a launch permission list as the tag writes it: an account id, an organization or OU ARN, or `all`. */
function permissionEntry(p: LaunchPermission): string | undefined {
  return p.UserId ?? p.OrganizationArn ?? p.OrganizationalUnitArn ?? p.Group;
}

/** The launch permission of an entry; the group all is never one the sharing step sends. */
function launchPermissionOf(entry: string): LaunchPermission {
  if (entry === 'all') throw new Error('the group all is never given: images are never made public');
  if (SHARE_PATTERNS.account.test(entry)) return { UserId: entry };
  if (SHARE_PATTERNS.organization.test(entry)) return { OrganizationArn: entry };
  if (SHARE_PATTERNS.unit.test(entry)) return { OrganizationalUnitArn: entry };
  throw new Error(`not an account id, organization or OU ARN: ${entry}`);
}

export function listPublicImages(ec2: Ec2Context, managedBy: string): AsyncIterable<ImageView[]> {
  // "is-public - A Boolean that indicates whether the image is public" (API reference, DescribeImages).
  return imagePages(ec2, [
    { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
    { Name: 'is-public', Values: ['true'] },
  ]);
}

export async function readLaunchPermissions(ec2: Ec2Context, imageId: string): Promise<string[] | undefined> {
  const read = () => ec2.client.send(new DescribeImageAttributeCommand({ ImageId: imageId, Attribute: 'launchPermission' }));
  const out = await callOr('DescribeImageAttribute', read, IMAGE_NOT_FOUND, undefined);
  return out ? (out.LaunchPermissions ?? []).flatMap((p) => permissionEntry(p) ?? []) : undefined;
}

export async function changeLaunchPermissions(ec2: Ec2Context, imageId: string, change: PermissionChange): Promise<void> {
  // Removed first: between the two calls the image is shared more narrowly, never more widely.
  // At most 1,000 entities (the AMI sharing quota) a call, far below the 10,000 account ids one
  // request may name (API reference, LaunchPermission).
  for (const [key, entries] of [
    ['Remove', change.remove],
    ['Add', change.add],
  ] as const) {
    if (entries.length === 0) continue;
    const LaunchPermission = { [key]: entries.map(launchPermissionOf) };
    await call('ModifyImageAttribute', () => ec2.client.send(new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission })));
  }
}

export function revokePublicLaunch(ec2: Ec2Context, imageId: string): Promise<'revoked' | 'gone'> {
  const revoke = async () => {
    await ec2.client.send(new ModifyImageAttributeCommand({ ImageId: imageId, LaunchPermission: { Remove: [{ Group: 'all' }] } }));
    return 'revoked' as const;
  };
  return callOr('ModifyImageAttribute', revoke, IMAGE_NOT_FOUND, 'gone' as const);
}

export async function readSnapshotPermissions(ec2: Ec2Context, snapshotId: string): Promise<string[] | undefined> {
  const read = () => ec2.client.send(new DescribeSnapshotAttributeCommand({ SnapshotId: snapshotId, Attribute: 'createVolumePermission' }));
  const out = await callOr('DescribeSnapshotAttribute', read, SNAPSHOT_NOT_FOUND, undefined);
  return out ? (out.CreateVolumePermissions ?? []).flatMap((p) => p.UserId ?? p.Group ?? []) : undefined;
}

export async function changeSnapshotPermissions(ec2: Ec2Context, snapshotId: string, change: PermissionChange): Promise<void> {
  for (const [operation, entries] of [
    ['remove', change.remove],
    ['add', change.add],
  ] as const) {
    if (entries.some((e) => !SHARE_PATTERNS.account.test(e))) throw new Error('snapshots are shared with account ids only');
    for (let i = 0; i < entries.length; i += SNAPSHOT_PERMISSIONS_PER_CALL) {
      const UserIds = entries.slice(i, i + SNAPSHOT_PERMISSIONS_PER_CALL);
      await call('ModifySnapshotAttribute', () =>
        ec2.client.send(
          new ModifySnapshotAttributeCommand({
            SnapshotId: snapshotId,
            Attribute: 'createVolumePermission',
            OperationType: operation,
            UserIds,
          }),
        ),
      );
    }
  }
}
