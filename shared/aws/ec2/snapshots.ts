/** The snapshots of the stack and of the account, and deleting one. */
import { DeleteSnapshotCommand, paginateDescribeSnapshots } from '@aws-sdk/client-ec2';
import { TAG } from '../../domain/tags.js';
import type { SnapshotView } from '../../use-cases/ec2-ports.js';
import { toSnapshotView } from '../ec2-mappers.js';
import { pages } from '../errors.js';
import { SNAPSHOT_NOT_FOUND, callOr, type Ec2Context } from './common.js';

export function listManagedSnapshots(ec2: Ec2Context, managedBy: string): AsyncIterable<SnapshotView[]> {
  return pages(
    'DescribeSnapshots',
    paginateDescribeSnapshots(
      { client: ec2.client, pageSize: ec2.pageSize },
      { OwnerIds: ['self'], Filters: [{ Name: `tag:${TAG.managedBy}`, Values: [managedBy] }] },
    ),
    (page) => (page.Snapshots ?? []).map(toSnapshotView),
  );
}

export function listOwnedSnapshots(ec2: Ec2Context): AsyncIterable<SnapshotView[]> {
  return pages(
    'DescribeSnapshots',
    paginateDescribeSnapshots({ client: ec2.client, pageSize: ec2.pageSize }, { OwnerIds: ['self'] }),
    (page) => (page.Snapshots ?? []).map(toSnapshotView),
  );
}

export function deleteSnapshot(ec2: Ec2Context, snapshotId: string): Promise<'deleted' | 'gone'> {
  const remove = async () => {
    await ec2.client.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
    return 'deleted' as const;
  };
  return callOr('DeleteSnapshot', remove, SNAPSHOT_NOT_FOUND, 'gone' as const);
}
