import { beforeEach, describe, expect, it } from 'vitest';
import {
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeSnapshotAttributeCommand,
  ModifyImageAttributeCommand,
  ModifySnapshotAttributeCommand,
} from '@aws-sdk/client-ec2';
import { SNAPSHOT_PERMISSIONS_PER_CALL } from '../../../shared/aws/ec2-gateway.js';
import { TAG } from '../../../shared/domain/tags.js';
import { awsError, collect, ec2Mock, gateway } from './support.js';

const A = '111122223333';
const ORG = 'arn:aws:organizations::111122223333:organization/o-abcdefghij';
const OU = 'arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh12';
const account = (n: number) => String(100000000000 + n);

beforeEach(() => {
  ec2Mock.reset();
});

describe('Ec2Gateway sharing', () => {
  it('lists the stack images that are public with the is-public filter', async () => {
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-01', Name: 'x', State: 'available', Public: true }] });

    const pages = await collect(gateway().listPublicImages('stack'));

    expect(pages.flat().map((i) => i.imageId)).toEqual(['ami-01']);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImagesCommand, {
      Owners: ['self'],
      Filters: [
        { Name: `tag:${TAG.managedBy}`, Values: ['stack'] },
        { Name: 'is-public', Values: ['true'] },
      ],
    });
  });

  it('reads launch permissions of every kind, the group all as all, and a vanished image as undefined', async () => {
    ec2Mock
      .on(DescribeImageAttributeCommand, { ImageId: 'ami-01' })
      .resolves({ LaunchPermissions: [{ UserId: A }, { OrganizationArn: ORG }, { OrganizationalUnitArn: OU }, { Group: 'all' }] })
      .on(DescribeImageAttributeCommand, { ImageId: 'ami-02' })
      .rejects(awsError('InvalidAMIID.NotFound'));

    expect(await gateway().readLaunchPermissions('ami-01')).toEqual([A, ORG, OU, 'all']);
    expect(await gateway().readLaunchPermissions('ami-02')).toBeUndefined();
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImageAttributeCommand, { ImageId: 'ami-01', Attribute: 'launchPermission' });
  });

  it('removes, then adds, each entry in the shape its kind takes, in two calls', async () => {
    ec2Mock.on(ModifyImageAttributeCommand).resolves({});

    await gateway().changeLaunchPermissions('ami-01', { add: [A, ORG], remove: [OU] });

    const calls = ec2Mock.commandCalls(ModifyImageAttributeCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      { ImageId: 'ami-01', LaunchPermission: { Remove: [{ OrganizationalUnitArn: OU }] } },
      { ImageId: 'ami-01', LaunchPermission: { Add: [{ UserId: A }, { OrganizationArn: ORG }] } },
    ]);
  });

  it('never sends the group all, whatever it is given', async () => {
    ec2Mock.on(ModifyImageAttributeCommand).resolves({});

    await expect(gateway().changeLaunchPermissions('ami-01', { add: ['all'], remove: [] })).rejects.toThrow(/never made public/);
    expect(ec2Mock.commandCalls(ModifyImageAttributeCommand)).toHaveLength(0);
  });

  it('revokes public access with Remove Group=all, and answers gone for a vanished image', async () => {
    ec2Mock
      .on(ModifyImageAttributeCommand, { ImageId: 'ami-01' })
      .resolves({})
      .on(ModifyImageAttributeCommand, { ImageId: 'ami-02' })
      .rejects(awsError('InvalidAMIID.Unavailable'));

    expect(await gateway().revokePublicLaunch('ami-01')).toBe('revoked');
    expect(await gateway().revokePublicLaunch('ami-02')).toBe('gone');
    expect(ec2Mock).toHaveReceivedCommandWith(ModifyImageAttributeCommand, {
      ImageId: 'ami-01',
      LaunchPermission: { Remove: [{ Group: 'all' }] },
    });
  });

  it('reads a snapshot createVolumePermission, and a vanished snapshot as undefined', async () => {
    ec2Mock
      .on(DescribeSnapshotAttributeCommand, { SnapshotId: 'snap-01' })
      .resolves({ CreateVolumePermissions: [{ UserId: A }, { Group: 'all' }] })
      .on(DescribeSnapshotAttributeCommand, { SnapshotId: 'snap-02' })
      .rejects(awsError('InvalidSnapshot.NotFound'));

    expect(await gateway().readSnapshotPermissions('snap-01')).toEqual([A, 'all']);
    expect(await gateway().readSnapshotPermissions('snap-02')).toBeUndefined();
  });

  it(`changes a snapshot in calls of at most ${SNAPSHOT_PERMISSIONS_PER_CALL} accounts, removing and adding apart`, async () => {
    ec2Mock.on(ModifySnapshotAttributeCommand).resolves({});
    const atLimit = Array.from({ length: SNAPSHOT_PERMISSIONS_PER_CALL }, (_, i) => account(i));
    const pastLimit = Array.from({ length: SNAPSHOT_PERMISSIONS_PER_CALL + 1 }, (_, i) => account(1000 + i));

    await gateway().changeSnapshotPermissions('snap-01', { add: pastLimit, remove: atLimit });

    const calls = ec2Mock.commandCalls(ModifySnapshotAttributeCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => [c.OperationType, c.UserIds?.length])).toEqual([
      ['remove', 500],
      ['add', 500],
      ['add', 1],
    ]);
    expect(calls.every((c) => c.Attribute === 'createVolumePermission' && c.SnapshotId === 'snap-01')).toBe(true);
  });

  it('never shares a snapshot with an organization, an OU or all', async () => {
    ec2Mock.on(ModifySnapshotAttributeCommand).resolves({});

    for (const entry of [ORG, OU, 'all']) {
      await expect(gateway().changeSnapshotPermissions('snap-01', { add: [entry], remove: [] })).rejects.toThrow(/account ids only/);
    }
    expect(ec2Mock.commandCalls(ModifySnapshotAttributeCommand)).toHaveLength(0);
  });
});
