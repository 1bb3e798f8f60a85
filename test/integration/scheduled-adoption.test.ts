/**
 * Scheduled adoption (issue 19): with the stage's adoptFilters set, the daily rotation run adopts the
 * unused legacy images that match, under its own role (IAM evaluated on every call: no denial), after
 * rotating; their first rotation is the next day's, which deletes only what their retention allows.
 * An image in use and one that does not match stay untouched; a dry run adopts nothing.
 */
import { describe, expect, it } from 'vitest';
import { CreateImageCommand, DescribeImagesCommand, EC2Client, RunInstancesCommand, StopInstancesCommand } from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { tagRecord } from '../../shared/domain/tags.js';

const MANAGED_BY = 'ami-lifecycle-dev';
const DAY = 86_400_000;
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

const cloud = cloudPerFile({
  params: {
    adoptFilters: JSON.stringify([
      { name: 'packer-web-*', retain: '1' },
      { name: 'packer-*', olderThan: 'a while' },
    ]),
  },
  env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
});

const tagsOf = async (imageId: string): Promise<Record<string, string> | undefined> => {
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'image-id', Values: [imageId] }] }),
  );
  return Images[0] ? tagRecord(Images[0].Tags) : undefined;
};

interface Adopted {
  dryRun: boolean;
  count: number;
  lineages: Array<{ lineage: string; imageIds: string[] }>;
  invalidFilters: Array<{ filter: number; problems: string[] }>;
}

describe('scheduled adoption (adoptFilters)', () => {
  it('adopts the matching unused images after rotating; the next rotations delete only what retention allows', {
    timeout: 90_000,
  }, async () => {
    // Prepare: legacy images made 200 days ago, through the proxy, without the stack's tags
    const ec2 = new EC2Client({ endpoint: cloud.proxy.endpoint, region: 'us-east-1', credentials });
    const [builder] = await cloud.launch(1, { Name: 'packer-builder' });
    const old = Date.now() - 200 * DAY;
    const make = async (name: string, at: number) => {
      cloud.setClock(new Date(at));
      return (await ec2.send(new CreateImageCommand({ InstanceId: builder!, Name: name }))).ImageId!;
    };
    const older = await make('packer-web-1001', old);
    const newer = await make('packer-web-1002', old + DAY);
    const inUse = await make('packer-web-1003', old);
    const other = await make('hand-made-web', old);
    cloud.setClock(undefined);
    const { Instances = [] } = await ec2.send(
      new RunInstancesCommand({ ImageId: inUse, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
    );
    await ec2.send(new StopInstancesCommand({ InstanceIds: [Instances[0]!.InstanceId!] }));

    // Act 1: the stage's rotation run, as a dry run
    await cloud.invoke('rotate', { trigger: 'manual', dryRun: true });

    // Assess: nothing tagged; the event says what would be, and names the bad entry
    for (const id of [older, newer, inUse, other]) expect(await tagsOf(id)).toEqual({});
    const dry = cloud.published('ImagesAdopted').at(-1)!.detail as unknown as Adopted;
    expect(dry).toMatchObject({ dryRun: true, count: 2, lineages: [{ lineage: 'adopted/packer-web', imageIds: [older, newer] }] });
    expect(dry.invalidFilters).toEqual([{ filter: 1, problems: [expect.stringMatching(/^olderThan: 'a while' is not an age/)] }]);

    // Act 2: the scheduled run
    await cloud.invoke('rotate', { trigger: 'schedule' });

    // Assess: the two unused packer-web images adopted with their snapshots, nothing deleted yet
    for (const id of [older, newer]) {
      expect(await tagsOf(id)).toMatchObject({
        'ami-lifecycle:managed-by': MANAGED_BY,
        'ami-lifecycle:lineage': 'adopted/packer-web',
        'ami-lifecycle:retain': '1',
        'ami-lifecycle:status': 'good',
        'ami-lifecycle:adopted': expect.stringMatching(new RegExp(`^${id}@`)),
      });
    }
    expect(await tagsOf(inUse)).toEqual({});
    expect(await tagsOf(other)).toEqual({});
    expect(cloud.published('ImagesAdopted').at(-1)!.detail).toMatchObject({ dryRun: false, count: 2 });
    expect(cloud.published('ImagesRotated').at(-1)!.detail).toMatchObject({ deletions: [] });

    // Act 3: the next day's run
    const adoptedEvents = cloud.published('ImagesAdopted').length;
    await cloud.invoke('rotate', { trigger: 'schedule' });

    // Assess: retain 1 keeps the newer; the older goes with its snapshot; nothing new adopted
    expect(await tagsOf(older)).toBeUndefined();
    expect(await tagsOf(newer)).toMatchObject({ 'ami-lifecycle:lineage': 'adopted/packer-web' });
    expect(await tagsOf(inUse)).toEqual({});
    expect(await tagsOf(other)).toEqual({});
    const rotated = cloud.published('ImagesRotated').at(-1)!.detail as { deletions: Array<{ imageId: string }> };
    expect(rotated.deletions.map((d) => d.imageId)).toEqual([older]);
    // Only the bad entry is said again (it is still bad): no image adopted twice.
    const again = cloud.published('ImagesAdopted').slice(adoptedEvents);
    expect(again.map((e) => e.detail.count)).toEqual([0]);

    // Act 4, Assess: a third run deletes nothing more, and the role was never refused
    await cloud.invoke('rotate', { trigger: 'schedule' });
    expect(await tagsOf(newer)).toBeDefined();
    expect(cloud.denials()).toEqual([]);
  });
});
