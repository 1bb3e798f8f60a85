/**
 * Rotation against moto: a week of nightly images per lineage, baked through the
 * real handlers on a simulated clock, rotated by the real rotate function.
 */
import { describe, expect, it } from 'vitest';
import {
  CreateLaunchTemplateCommand,
  CreateSnapshotCommand,
  CopyImageCommand,
  EC2Client,
  CreateVolumeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  TerminateInstancesCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { pastNights } from '../harness/local-cloud.js';
import { tagRecord } from '../../shared/domain/tags.js';
import type { RotationReport } from '../../shared/use-cases/rotate-images.js';

const MANAGED_BY = 'ami-lifecycle-dev';
const GiB = 2 ** 30;
/** Every image has one snapshot, of its instance's 8 GiB root volume (the harness images the volumes, as EC2 does). */
const SNAPSHOT_BYTES = 8 * GiB;

// Orphans are swept at once here; the deployed default spares those younger than a day.
const cloud = cloudPerFile({ env: { ORPHAN_GRACE_HOURS: '0', DEFAULT_RETAIN: '7' } });

/** Bakes every night given and lets each image turn good. */
async function bakeNights(nights: Date[]): Promise<void> {
  for (const night of nights) await cloud.bakeCycle('nightly', night);
}

async function managedImages(): Promise<Image[]> {
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:managed-by', Values: [MANAGED_BY] }] }),
  );
  return Images.sort((a, b) => (a.CreationDate! < b.CreationDate! ? -1 : 1));
}

async function snapshotIds(): Promise<Set<string>> {
  const { Snapshots = [] } = await cloud.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
  return new Set(Snapshots.map((s) => s.SnapshotId!));
}

const snapshotsOf = (images: Image[]) => images.flatMap((i) => i.BlockDeviceMappings!.map((m) => m.Ebs!.SnapshotId!));
const slots = (images: Image[]) => images.map((i) => tagRecord(i.Tags)['ami-lifecycle:slot']);

describe('rotation', () => {
  it('rotates a week of nightly images to the policy, and their snapshots go with them', async () => {
    // Prepare: one lineage keeps 3, another falls back to the default of 7
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:retain': '3' });
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    await bakeNights(pastNights(8));
    const before = await managedImages();
    expect(before).toHaveLength(16);
    const three = before.filter((i) => tagRecord(i.Tags)['ami-lifecycle:retain'] === '3');
    expect(three).toHaveLength(8);
    cloud.proxy.resetCalls();

    // Act
    const report = (await cloud.invoke('rotate', { trigger: 'schedule' })) as RotationReport;

    // Assess: the oldest 5 of the first lineage and the oldest 1 of the second are gone
    expect(report).toMatchObject({ dryRun: false, lineages: 2, imagesSeen: 16, failures: [] });
    expect(report.planned).toMatchObject({ keep: 10, delete: 6 });
    expect(report.done).toEqual({
      deleted: 6,
      deprecated: 0,
      snapshotsDeleted: 6,
      orphanSnapshotsDeleted: 0,
      bytesFreed: 6 * SNAPSHOT_BYTES,
    });
    const after = await managedImages();
    expect(after).toHaveLength(10);
    const keptThree = after.filter((i) => tagRecord(i.Tags)['ami-lifecycle:retain'] === '3');
    expect(slots(keptThree)).toEqual(slots(three).slice(-3));
    const deleted = before.filter((b) => !after.some((a) => a.ImageId === b.ImageId));
    const snaps = await snapshotIds();
    for (const id of snapshotsOf(deleted)) expect(snaps.has(id)).toBe(false);
    for (const id of snapshotsOf(after)) expect(snaps.has(id)).toBe(true);

    // Assess: the run said so on the bus, and paid one deregistration per deleted image
    const [event] = cloud.published('ImagesRotated');
    expect(event!.detail).toMatchObject({ managedBy: MANAGED_BY, done: { deleted: 6, bytesFreed: 6 * SNAPSHOT_BYTES } });
    expect((event!.detail.deletions as unknown[]).length).toBe(6);
    const calls = cloud.proxy.calls();
    expect(calls.DeregisterImage).toBe(6);
    // One paged read each for rotation; the sharing step after it (issue 16) reads the public
    // images, the images and the instances once more, and nothing per image (no share tag here).
    expect(calls.DescribeImages).toBe(1 + 2);
    expect(calls.DescribeInstances).toBe(1 + 1);
    expect(calls.DescribeImageAttribute).toBeUndefined();
  });

  it('keeps an image a launch template still points at, whatever the policy says', async () => {
    // Prepare
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:retain': '2' });
    await bakeNights(pastNights(4));
    const [oldest] = await managedImages();
    await cloud.ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'asg-web',
        LaunchTemplateData: { ImageId: oldest!.ImageId, InstanceType: 't3.micro' },
      }),
    );

    // Act
    const report = (await cloud.invoke('rotate', {})) as RotationReport;

    // Assess
    expect(report.done.deleted).toBe(1);
    const after = await managedImages();
    expect(after.map((i) => i.ImageId)).toContain(oldest!.ImageId);
    expect(after).toHaveLength(3);
  });

  it('sweeps a managed snapshot whose image is gone, and leaves other snapshots alone', async () => {
    // Prepare: a crash between deregistering and deleting left a managed snapshot behind
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    await bakeNights(pastNights(1));
    const { VolumeId } = await cloud.ec2.send(new CreateVolumeCommand({ AvailabilityZone: 'us-east-1a', Size: 8 }));
    const orphan = await cloud.ec2.send(
      new CreateSnapshotCommand({
        VolumeId,
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'ami-lifecycle:managed-by', Value: MANAGED_BY }] }],
      }),
    );
    const foreign = await cloud.ec2.send(new CreateSnapshotCommand({ VolumeId }));
    const images = await managedImages();

    // Act
    const report = (await cloud.invoke('rotate', {})) as RotationReport;

    // Assess
    expect(report.done).toMatchObject({ deleted: 0, orphanSnapshotsDeleted: 1, bytesFreed: 8 * GiB });
    const snaps = await snapshotIds();
    expect(snaps.has(orphan.SnapshotId!)).toBe(false);
    expect(snaps.has(foreign.SnapshotId!)).toBe(true);
    for (const id of snapshotsOf(images)) expect(snaps.has(id)).toBe(true);
  });

  it('changes nothing in a dry run, and reports the plan', async () => {
    // Prepare
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:retain': '2' });
    await bakeNights(pastNights(5));
    const before = await managedImages();
    const snapsBefore = await snapshotIds();
    cloud.proxy.resetCalls();

    // Act
    const report = (await cloud.invoke('rotate', { dryRun: true })) as RotationReport;

    // Assess
    expect(report).toMatchObject({ dryRun: true, planned: { delete: 3, bytesToFree: 3 * SNAPSHOT_BYTES } });
    expect(report.done).toEqual({ deleted: 0, deprecated: 0, snapshotsDeleted: 0, orphanSnapshotsDeleted: 0, bytesFreed: 0 });
    expect((await managedImages()).map((i) => i.ImageId)).toEqual(before.map((i) => i.ImageId));
    expect(await snapshotIds()).toEqual(snapsBefore);
    const calls = cloud.proxy.calls();
    for (const mutating of ['DeregisterImage', 'DeleteSnapshot', 'EnableImageDeprecation', 'CreateTags'])
      expect(calls[mutating]).toBeUndefined();
    expect(cloud.published('ImagesRotated')[0]!.detail).toMatchObject({ dryRun: true, planned: { delete: 3 } });
  });

  it('keeps the last known policy of a lineage whose instance is gone, and never its newest good image', async () => {
    // Prepare: a lineage kept 2 while its instance lived (the default would keep 7)
    const [gone] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:retain': '2' });
    await bakeNights(pastNights(4));
    await cloud.ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone!] }));

    // Act: twice, as a daily schedule would
    const first = (await cloud.invoke('rotate', {})) as RotationReport;
    const second = (await cloud.invoke('rotate', {})) as RotationReport;

    // Assess
    expect(first.done.deleted).toBe(2);
    expect(second.done.deleted).toBe(0);
    const after = await managedImages();
    expect(slots(after)).toEqual(slots(after).sort());
    expect(after).toHaveLength(2);
    expect(after.every((i) => tagRecord(i.Tags)['ami-lifecycle:status'] === 'good')).toBe(true);
  });

  // Issue 21, part 1: the failed image carried the vanished lineage's last known policy and was
  // kept for it, with its snapshot, on every run.
  it('deletes a failed image of a vanished lineage once its grace has passed, and keeps the lineage on its policy', async () => {
    // Prepare: retain=2; three good nights, then a fourth whose image fails; then the instance goes
    const [gone] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:retain': '2' });
    const nights = pastNights(8).slice(0, 4); // 8 to 5 days ago: past the 3-day grace
    await bakeNights(nights.slice(0, 3));
    await cloud.fireSchedule('nightly', nights[3]!);
    await cloud.deliver();
    const built = (await managedImages()).filter((i) => tagRecord(i.Tags)['ami-lifecycle:source-instance'] === gone);
    const failed = built.find((i) => tagRecord(i.Tags)['ami-lifecycle:status'] === 'pending')!;
    cloud.proxy.failImageBuild(failed.ImageId!, { code: 'Client.InternalError', message: 'the image could not be built' });
    await cloud.announceImageStates();
    await cloud.deliver();
    cloud.setClock(undefined);
    expect(cloud.published('ImageBakeFailed').map((e) => e.detail.imageId)).toContain(failed.ImageId);
    await cloud.ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone!] }));
    const ofLineage = async () => (await managedImages()).filter((i) => tagRecord(i.Tags)['ami-lifecycle:lineage'] === gone);
    const before = await ofLineage();
    expect(before.map((i) => tagRecord(i.Tags)['ami-lifecycle:status'])).toEqual(['good', 'good', 'good', 'failed']);

    // Act: twice, as the daily schedule would
    const first = (await cloud.invoke('rotate', {})) as RotationReport;
    const second = (await cloud.invoke('rotate', {})) as RotationReport;

    // Assess: the failed image and its snapshot are gone, and the oldest good image; the two
    // newest good images stay, under retain=2, run after run
    const after = await ofLineage();
    expect(after.map((i) => i.ImageId)).toEqual([before[1]!.ImageId, before[2]!.ImageId]);
    const snaps = await snapshotIds();
    for (const id of snapshotsOf([failed, before[0]!])) expect(snaps.has(id)).toBe(false);
    expect(first.done.deleted).toBe(2);
    const rotated = cloud.published('ImagesRotated')[0]!.detail as { deletions: Array<{ imageId: string }> };
    expect(rotated.deletions.map((d) => d.imageId).sort()).toEqual([before[0]!.ImageId, failed.ImageId].sort());
    expect(second.done.deleted).toBe(0);
    expect(second.failures).toEqual([]);
  });

  // Issue 21, part 4: rotation deregistered a person's copy as if the stack had baked it.
  it("never rotates a person's copy of a managed image that carries its tags, and says so once", async () => {
    // Prepare: retain=1; after night 1, a person copies its image, tags and all, to keep a release
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:retain': '1' });
    const nights = pastNights(3);
    await bakeNights(nights.slice(0, 1));
    const [night1] = await managedImages();
    // The person's call goes through the harness, as to AWS (moto alone would copy no tags).
    const person = new EC2Client({
      endpoint: cloud.proxy.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
    });
    const { ImageId: copyId } = await person.send(
      new CopyImageCommand({ SourceImageId: night1!.ImageId!, SourceRegion: 'us-east-1', Name: 'release-1.4', CopyImageTags: true }),
    );
    person.destroy();
    await bakeNights(nights.slice(1));
    const copy = (await managedImages()).find((i) => i.ImageId === copyId)!;
    expect(tagRecord(copy.Tags)).toMatchObject({ 'ami-lifecycle:managed-by': MANAGED_BY, 'ami-lifecycle:status': 'good' });

    // Act: two rotations
    const first = (await cloud.invoke('rotate', {})) as RotationReport;
    const second = (await cloud.invoke('rotate', {})) as RotationReport;

    // Assess: the stack's own images rotate to 1; the copy stays, with its snapshot; it was reported once
    const left = await managedImages();
    expect(left.map((i) => i.ImageId).sort()).toEqual([copyId, await newestBaked(left)].sort());
    expect(first.done.deleted).toBe(2);
    expect(second.done.deleted).toBe(0);
    expect(first.failures).toEqual([]);
    const snaps = await snapshotIds();
    for (const id of snapshotsOf([copy])) expect(snaps.has(id)).toBe(true);
    const reported = cloud.published('ImageNotOwned');
    expect(reported.map((e) => (e.detail as { imageId: string }).imageId)).toEqual([copyId]);
  });
});

/** The newest image the stack baked among these (a copy carries no CreateImage record of its own). */
async function newestBaked(images: Image[]): Promise<string> {
  const baked = images.filter((i) => i.SourceInstanceId);
  return baked.sort((a, b) => (a.CreationDate! < b.CreationDate! ? 1 : -1))[0]!.ImageId!;
}
