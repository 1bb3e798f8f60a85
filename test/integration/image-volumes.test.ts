/**
 * What goes into an image (issue 14), end to end against moto: volumes tagged
 * `ami-lifecycle:exclude` are left out (CreateImage BlockDeviceMappings NoDevice), `volumes=root`
 * images the root volume only, the image records what it lacks, and the instance tags `copyTags`
 * names go onto the image and its snapshots. The harness snapshots every attached volume but the
 * omitted ones, as AWS does (python/sitecustomize.py).
 */
import { describe, expect, it } from 'vitest';
import {
  AttachVolumeCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { TAG, tagRecord } from '../../shared/domain/tags.js';

const NIGHT = new Date('2026-11-26T03:00:00Z');
const MANAGED_BY = 'ami-lifecycle-dev';

// The stage copies CostCenter; an instance may say otherwise with its own copy-tags.
const cloud = cloudPerFile({ params: { copyTags: 'CostCenter' } });

/** An opted-in instance with a root volume and two data volumes (/dev/sdf, /dev/sdg). */
async function threeVolumes(tags: Record<string, string>): Promise<{ instanceId: string; volumes: Record<string, string> }> {
  const [instanceId] = await cloud.launch(
    1,
    { [TAG.bake]: 'nightly', ...tags },
    {
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } },
        { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 20 } },
      ],
    },
  );
  const { Reservations } = await cloud.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId!] }));
  const zone = Reservations![0]!.Instances![0]!.Placement!.AvailabilityZone!;
  const extra = await cloud.ec2.send(new CreateVolumeCommand({ AvailabilityZone: zone, Size: 30 }));
  await cloud.ec2.send(new AttachVolumeCommand({ VolumeId: extra.VolumeId!, InstanceId: instanceId!, Device: '/dev/sdg' }));
  const described = await cloud.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId!] }));
  const volumes = Object.fromEntries(
    (described.Reservations![0]!.Instances![0]!.BlockDeviceMappings ?? []).map((m) => [m.DeviceName!, m.Ebs!.VolumeId!]),
  );
  return { instanceId: instanceId!, volumes };
}

async function tagVolume(volumeId: string, value: string): Promise<void> {
  await cloud.ec2.send(new CreateTagsCommand({ Resources: [volumeId], Tags: [{ Key: TAG.exclude, Value: value }] }));
}

async function imageOf(instanceId: string): Promise<Image> {
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [
        { Name: `tag:${TAG.managedBy}`, Values: [MANAGED_BY] },
        { Name: `tag:${TAG.sourceInstance}`, Values: [instanceId] },
      ],
    }),
  );
  expect(Images).toHaveLength(1);
  return Images[0]!;
}

async function snapshotsOf(image: Image) {
  const ids = (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));
  if (ids.length === 0) return [];
  const { Snapshots = [] } = await cloud.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: ids }));
  return Snapshots;
}

const devicesOf = (image: Image) =>
  (image.BlockDeviceMappings ?? [])
    .filter((m) => m.Ebs?.SnapshotId)
    .map((m) => m.DeviceName)
    .sort();

describe('volume selection', () => {
  it('leaves a volume tagged exclude=true out of the image, records it, and reads the tags in one DescribeVolumes a run', async () => {
    // Prepare: three volumes, /dev/sdg excluded; a second instance with nothing excluded
    const { instanceId, volumes } = await threeVolumes({});
    await tagVolume(volumes['/dev/sdg']!, 'true');
    const [plain] = await cloud.launch(1, { [TAG.bake]: 'nightly' });

    // Act
    await cloud.bakeCycle('nightly', NIGHT);

    // Assess: two snapshots (root and /dev/sdf), the excluded tag; the other instance imaged whole
    const image = await imageOf(instanceId);
    expect(devicesOf(image)).toEqual(['/dev/sdf', '/dev/xvda']);
    expect(await snapshotsOf(image)).toHaveLength(2);
    expect(tagRecord(image.Tags)[TAG.excluded]).toBe('/dev/sdg');
    const whole = await imageOf(plain!);
    expect(devicesOf(whole)).toEqual(['/dev/xvda']);
    expect(tagRecord(whole.Tags)[TAG.excluded]).toBeUndefined();
    expect(cloud.proxy.calls().DescribeVolumes).toBe(1);
  });

  it('leaves out a volume tagged exclude=follow too', async () => {
    // Prepare
    const { instanceId, volumes } = await threeVolumes({});
    await tagVolume(volumes['/dev/sdf']!, 'follow');

    // Act
    await cloud.bakeCycle('nightly', NIGHT);

    // Assess
    const image = await imageOf(instanceId);
    expect(devicesOf(image)).toEqual(['/dev/sdg', '/dev/xvda']);
    expect(tagRecord(image.Tags)[TAG.excluded]).toBe('/dev/sdf');
  });

  it('images the root volume only with volumes=root', async () => {
    // Prepare
    const { instanceId } = await threeVolumes({ [TAG.volumes]: 'root' });

    // Act
    await cloud.bakeCycle('nightly', NIGHT);

    // Assess: one snapshot, of the root device
    const image = await imageOf(instanceId);
    expect(devicesOf(image)).toEqual(['/dev/xvda']);
    expect(await snapshotsOf(image)).toHaveLength(1);
    expect(tagRecord(image.Tags)[TAG.excluded]).toBe('/dev/sdf,/dev/sdg');
  });

  it('images a root volume tagged exclude all the same, and reports it for that instance only', async () => {
    // Prepare: the root volume tagged; a bad volumes value on another instance
    const { instanceId, volumes } = await threeVolumes({});
    await tagVolume(volumes['/dev/xvda']!, 'true');
    const [other] = await cloud.launch(1, { [TAG.bake]: 'nightly', [TAG.volumes]: 'data' });
    const [fine] = await cloud.launch(1, { [TAG.bake]: 'nightly' });

    // Act
    await cloud.bakeCycle('nightly', NIGHT);

    // Assess: every instance baked whole; one PolicyInvalid each for the two, none for the third
    expect(devicesOf(await imageOf(instanceId))).toEqual(['/dev/sdf', '/dev/sdg', '/dev/xvda']);
    expect(devicesOf(await imageOf(other!))).toEqual(['/dev/xvda']);
    await imageOf(fine!);
    const invalid = cloud
      .published('PolicyInvalid')
      .map((e) => e.detail as { instanceId: string; bakeSkipped: boolean; problems: { tag: string }[] });
    expect(invalid.map((d) => d.instanceId).sort()).toEqual([instanceId, other!].sort());
    expect(invalid.every((d) => !d.bakeSkipped)).toBe(true);
    expect(invalid.find((d) => d.instanceId === instanceId)!.problems.map((p) => p.tag)).toEqual([TAG.exclude]);
    expect(invalid.find((d) => d.instanceId === other)!.problems.map((p) => p.tag)).toEqual([TAG.volumes]);
  });
});

describe('tag copying', () => {
  it("copies the stage's copyTags keys onto the image and its snapshots, after the service's own", async () => {
    // Prepare
    const { instanceId } = await threeVolumes({ CostCenter: 'cc-42', Team: 'web', Name: 'web-1' });

    // Act
    await cloud.bakeCycle('nightly', NIGHT);

    // Assess
    const image = await imageOf(instanceId);
    const tags = tagRecord(image.Tags);
    expect(tags.CostCenter).toBe('cc-42');
    expect(tags.Team).toBeUndefined();
    expect(tags[TAG.managedBy]).toBe(MANAGED_BY);
    const snapshots = await snapshotsOf(image);
    expect(snapshots).toHaveLength(3);
    for (const s of snapshots) expect(tagRecord(s.Tags)).toMatchObject({ CostCenter: 'cc-42', [TAG.managedBy]: MANAGED_BY });
  });

  it("takes the instance's copy-tags over the stage's: '*' copies all but the service's own, 'none' nothing", async () => {
    // Prepare
    const [all] = await cloud.launch(1, { [TAG.bake]: 'nightly', [TAG.copyTags]: '*', CostCenter: 'cc-1', Team: 'web' });
    const [none] = await cloud.launch(1, { [TAG.bake]: 'nightly', [TAG.copyTags]: 'none', CostCenter: 'cc-2' });
    const [bad] = await cloud.launch(1, { [TAG.bake]: 'nightly', [TAG.copyTags]: 'aws:cloudformation:stack-id', CostCenter: 'cc-3' });

    // Act
    await cloud.bakeCycle('nightly', NIGHT);

    // Assess
    const allTags = tagRecord((await imageOf(all!)).Tags);
    expect(allTags).toMatchObject({ CostCenter: 'cc-1', Team: 'web' });
    expect(allTags[TAG.copyTags]).toBeUndefined();
    expect(allTags[TAG.bake]).toBeUndefined();
    expect(tagRecord((await imageOf(none!)).Tags).CostCenter).toBeUndefined();
    // An unreadable copy-tags is reported, and the stage's keys are copied
    expect(tagRecord((await imageOf(bad!)).Tags).CostCenter).toBe('cc-3');
    const invalid = cloud.published('PolicyInvalid').map((e) => e.detail as { instanceId: string; problems: { tag: string }[] });
    expect(invalid).toEqual([expect.objectContaining({ instanceId: bad, problems: [expect.objectContaining({ tag: TAG.copyTags })] })]);
  });
});
