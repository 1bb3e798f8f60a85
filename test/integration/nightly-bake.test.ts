/**
 * Nightly baking end to end against moto: scheduled run -> bus -> bake ->
 * images and snapshots tagged -> AMI state change -> good. The handlers are the
 * real ones, wired by the patterns in serverless.yml.
 */
import { describe, expect, it } from 'vitest';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { tagRecord } from '../../shared/domain/tags.js';

const NIGHT = new Date('2026-11-26T03:00:00Z');
const NEXT_NIGHT = new Date('2026-11-27T03:00:00Z');
const MANAGED_BY = 'ami-lifecycle-dev';

const cloud = cloudPerFile();

async function managedImages(): Promise<Image[]> {
  const { Images } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:managed-by', Values: [MANAGED_BY] }] }),
  );
  return Images ?? [];
}

async function snapshotsOf(image: Image) {
  const ids = (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));
  const { Snapshots } = await cloud.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: ids }));
  return Snapshots ?? [];
}

async function instanceTags(instanceId: string) {
  const { Reservations } = await cloud.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return tagRecord(Reservations?.[0]?.Instances?.[0]?.Tags);
}

function bakeRequest(instanceId: string, slot = '2026-11-26') {
  return {
    source: 'ami-lifecycle',
    detailType: 'BakeRequested',
    bus: cloud.wiring.eventBusName,
    detail: {
      managedBy: MANAGED_BY,
      instanceId,
      lineage: instanceId,
      assignLineage: true,
      schedule: 'nightly',
      slot,
      reboot: false,
      requestedAt: NIGHT.toISOString(),
    },
  };
}

describe('nightly baking', () => {
  it('bakes tagged instances, tags images and snapshots from creation, and marks them good', async () => {
    // Prepare
    const [web1, web2] = await cloud.launch(2, { Name: 'web', 'ami-lifecycle:bake': 'nightly' });
    const [both] = await cloud.launch(1, { Name: 'db', 'ami-lifecycle:bake': 'nightly,weekly', 'ami-lifecycle:reboot': 'true' });
    const [weeklyOnly] = await cloud.launch(1, { 'ami-lifecycle:bake': 'weekly' });
    const [stopped] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    const [terminated] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    await cloud.launch(2, { Name: 'untagged' });
    await cloud.ec2.send(new StopInstancesCommand({ InstanceIds: [stopped!] }));
    await cloud.ec2.send(new TerminateInstancesCommand({ InstanceIds: [terminated!] }));

    // Act: the nightly schedule fires, its bake requests travel the bus to the bake function
    const report = (await cloud.fireSchedule('nightly', NIGHT)) as Record<string, unknown>;
    const bakes = await cloud.deliver();

    // Assess: the run
    expect(report).toMatchObject({ schedule: 'nightly', slot: '2026-11-26', instancesSeen: 5, bakeRequested: 4, publishFailed: 0 });
    expect(report.skipped).toEqual({ gone: 0, replaced: 0, 'not-on-schedule': 1, 'invalid-policy': 0 });
    expect(bakes.map((b) => b.function)).toEqual(['bake', 'bake', 'bake', 'bake']);
    // Each record taken at the first receive: nothing reported back to the queue
    expect(bakes.every((b) => b.attempts === 1 && b.error === undefined)).toBe(true);
    expect(bakes.map((b) => b.result)).toEqual(Array.from({ length: 4 }, () => ({ batchItemFailures: [] })));

    // Assess: one image per baked instance, named and tagged for rotation and recovery
    const images = await managedImages();
    const bySource = new Map(images.map((i) => [tagRecord(i.Tags)['ami-lifecycle:source-instance'], i]));
    expect([...bySource.keys()].sort()).toEqual([web1, web2, both, stopped].sort());
    expect(bySource.has(weeklyOnly) || bySource.has(terminated)).toBe(false);
    const webImage = bySource.get(web1)!;
    expect(webImage.Name).toBe(`${MANAGED_BY}/${web1}/nightly/2026-11-26`);
    const expectedTags = {
      'ami-lifecycle:managed-by': MANAGED_BY,
      'ami-lifecycle:lineage': web1,
      'ami-lifecycle:source-instance': web1,
      'ami-lifecycle:schedule': 'nightly',
      'ami-lifecycle:slot': '2026-11-26',
      'ami-lifecycle:status': 'pending',
      Name: 'web',
    };
    expect(tagRecord(webImage.Tags)).toEqual(expectedTags);
    const snapshots = await snapshotsOf(webImage);
    expect(snapshots.length).toBeGreaterThan(0);
    for (const s of snapshots) expect(tagRecord(s.Tags)).toEqual(expectedTags);
    // first bake gives the instance its lineage
    expect((await instanceTags(web1!))['ami-lifecycle:lineage']).toBe(web1);

    // Act: EC2 reports the images available
    expect(await cloud.announceImageStates()).toBe(4);
    const describesBefore = cloud.proxy.calls().DescribeImages ?? 0;
    const settled = await cloud.deliver();

    // Assess: one batch, read with one DescribeImages; good, on image and snapshots, and said on the bus.
    // No instance here names a promotion target or a copy region, so no ImageBaked reaches promote or the
    // copy queue (issue 18: their rules take only `promotes` and `copies`).
    expect(settled.map((d) => [d.function, d.attempts, d.error])).toEqual(Array.from({ length: 4 }, () => ['imageState', 1, undefined]));
    expect(settled.map((d) => d.result)).toEqual(Array.from({ length: 4 }, () => ({ batchItemFailures: [] })));
    expect((cloud.proxy.calls().DescribeImages ?? 0) - describesBefore).toBe(1);
    for (const image of await managedImages()) {
      expect(tagRecord(image.Tags)['ami-lifecycle:status']).toBe('good');
      for (const s of await snapshotsOf(image)) expect(tagRecord(s.Tags)['ami-lifecycle:status']).toBe('good');
    }
    const baked = cloud.published('ImageBaked');
    expect(baked.map((e) => e.detail.sourceInstanceId).sort()).toEqual([web1, web2, both, stopped].sort());
    expect(baked[0]!.detail).toMatchObject({ managedBy: MANAGED_BY, settledBy: 'event', schedule: 'nightly', slot: '2026-11-26' });
  });

  it('creates exactly one AMI when the same bake request is delivered three times', async () => {
    // Prepare
    const [instance] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    cloud.proxy.resetCalls();

    // Act
    for (let i = 0; i < 3; i++) await cloud.putEvent(bakeRequest(instance!));
    const deliveries = await cloud.deliver();

    // Assess: three records, each done at its first receive; one image
    expect(deliveries.map((d) => [d.function, d.attempts, d.result])).toEqual(
      Array.from({ length: 3 }, () => ['bake', 1, { batchItemFailures: [] }]),
    );
    expect(await managedImages()).toHaveLength(1);
    expect(cloud.proxy.calls().CreateImage).toBe(3);
  });

  it('yields one image per instance and slot however often the schedule fires for the same night', async () => {
    // Prepare
    await cloud.launch(3, { 'ami-lifecycle:bake': 'nightly' });

    // Act: Scheduler retries a firing with the same scheduled time; a late run on the same day lands in the same slot
    await cloud.fireSchedule('nightly', NIGHT);
    await cloud.fireSchedule('nightly', NIGHT);
    await cloud.fireSchedule('nightly', new Date('2026-11-26T18:00:00Z'));
    const deliveries = await cloud.deliver();

    // Assess
    expect(deliveries).toHaveLength(9);
    expect(deliveries.every((d) => d.attempts === 1 && d.error === undefined)).toBe(true);
    expect(await managedImages()).toHaveLength(3);
    expect(cloud.proxy.calls().CreateImage).toBe(9);

    // Act: the next night is a new slot
    await cloud.fireSchedule('nightly', NEXT_NIGHT);
    await cloud.deliver();

    // Assess
    const images = await managedImages();
    expect(images).toHaveLength(6);
    expect(new Set(images.map((i) => tagRecord(i.Tags)['ami-lifecycle:slot']))).toEqual(new Set(['2026-11-26', '2026-11-27']));
  });

  // 100 PutEvents of ten through moto's EventBridge routing: 15 s on an idle machine, near the default
  // 30 s once two files share the cores.
  it('fans out every one of 1,000 instances exactly once, reading them in pages', { timeout: 120_000 }, async () => {
    // Prepare: ten launches of 100 (ten reservations)
    const launched: string[] = [];
    for (let i = 0; i < 10; i++) launched.push(...(await cloud.launch(100, { 'ami-lifecycle:bake': 'nightly' })));
    await cloud.launch(5, { Name: 'not opted in' });
    cloud.proxy.resetCalls();

    // Act
    const report = (await cloud.fireSchedule('nightly', NIGHT)) as Record<string, unknown>;

    // Assess
    expect(report).toMatchObject({ instancesSeen: 1000, bakeRequested: 1000, publishFailed: 0 });
    const requested = cloud.published('BakeRequested').map((e) => e.detail.instanceId as string);
    expect(requested).toHaveLength(1000);
    expect(new Set(requested)).toEqual(new Set(launched));
    const calls = cloud.proxy.calls();
    expect(calls.PutEvents).toBe(100);
    expect(calls.DescribeInstances).toBeLessThanOrEqual(2);
    expect(calls.CreateImage ?? 0).toBe(0);
  });

  it('keeps going when one instance fails: bad tags and a vanished instance affect only themselves', async () => {
    // Prepare
    const good = await cloud.launch(2, { 'ami-lifecycle:bake': 'nightly' });
    const [badReboot] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:reboot': 'yes' });
    const [badRetain] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:retain': 'forever' });

    // Act: the run, plus a request for an instance that vanished after being listed
    const report = (await cloud.fireSchedule('nightly', NIGHT)) as Record<string, unknown>;
    await cloud.putEvent(bakeRequest('i-0000000000000dead'));
    const deliveries = await cloud.deliver();

    // Assess: the run skipped only the instance whose reboot tag cannot be read
    expect(report).toMatchObject({ bakeRequested: 3, policyInvalid: 2 });
    const invalid = cloud.published('PolicyInvalid');
    expect(invalid.map((e) => [e.detail.instanceId, e.detail.bakeSkipped]).sort()).toEqual(
      [
        [badReboot, true],
        [badRetain, false],
      ].sort(),
    );
    expect(invalid.find((e) => e.detail.instanceId === badReboot)!.detail.problems).toEqual([
      { tag: 'ami-lifecycle:reboot', value: 'yes', reason: "expected 'true' or 'false'" },
    ]);

    // Assess: the vanished instance failed alone, with a structured event, and was not retried
    expect(deliveries.every((d) => d.attempts === 1 && d.error === undefined)).toBe(true);
    const failed = cloud.published('ImageBakeFailed');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.detail).toMatchObject({
      phase: 'create',
      instanceId: 'i-0000000000000dead',
      errorCode: 'InvalidInstanceID.NotFound',
    });
    expect(failed[0]!.detail.message).toMatch(/no longer exists/);
    const sources = (await managedImages()).map((i) => tagRecord(i.Tags)['ami-lifecycle:source-instance']).sort();
    expect(sources).toEqual([...good, badRetain].sort());
  });

  it('continues an existing lineage instead of starting a new one', async () => {
    // Prepare: a replacement instance carries the lineage of the one it replaced
    const [replacement] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:lineage': 'i-0aaaabbbbccccdddd' });

    // Act
    await cloud.fireSchedule('nightly', NIGHT);
    await cloud.deliver();

    // Assess
    const [image] = await managedImages();
    expect(image!.Name).toBe(`${MANAGED_BY}/i-0aaaabbbbccccdddd/nightly/2026-11-26`);
    expect(tagRecord(image!.Tags)).toMatchObject({
      'ami-lifecycle:lineage': 'i-0aaaabbbbccccdddd',
      'ami-lifecycle:source-instance': replacement,
    });
    expect((await instanceTags(replacement!))['ami-lifecycle:lineage']).toBe('i-0aaaabbbbccccdddd');
  });

  it('settles images whose state-change event never came at the start of the next run', async () => {
    // Prepare: last night's bake; EC2's "available" event is lost
    await cloud.launch(2, { 'ami-lifecycle:bake': 'nightly' });
    await cloud.fireSchedule('nightly', NIGHT);
    await cloud.deliver();
    expect((await managedImages()).map((i) => tagRecord(i.Tags)['ami-lifecycle:status'])).toEqual(['pending', 'pending']);

    // Act
    const report = (await cloud.fireSchedule('nightly', NEXT_NIGHT)) as { reconcile: Record<string, number> };

    // Assess
    expect(report.reconcile).toEqual({ pendingSeen: 2, good: 2, failed: 0, stillBuilding: 0, errors: 0 });
    const baked = cloud.published('ImageBaked');
    expect(baked.map((e) => e.detail.settledBy)).toEqual(['reconcile', 'reconcile']);

    // Act: the lost events turn up late, twice
    await cloud.announceImageStates();
    await cloud.putEvent({
      source: 'aws.ec2',
      detailType: 'EC2 AMI State Change',
      detail: { ImageId: (await managedImages())[0]!.ImageId, State: 'available', ErrorMessage: '' },
    });
    const late = await cloud.deliver({ maxRounds: 1 });

    // Assess: nothing settles twice; every late record is done (none to receive again)
    const lateImageState = late.filter((d) => d.function === 'imageState');
    expect(lateImageState).toHaveLength(3);
    expect(lateImageState.every((d) => d.attempts === 1 && d.error === undefined)).toBe(true);
    expect(cloud.published('ImageBaked')).toHaveLength(2);
  });

  it('ignores state changes of images it does not manage, and a failed event cannot fail an available image', async () => {
    // Prepare: an image of this stack that EC2 reports available
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    await cloud.fireSchedule('nightly', NIGHT);
    await cloud.deliver();
    const [ours] = await managedImages();

    // Act: an unmanaged image, and a stale "failed" for ours
    await cloud.putEvent({
      source: 'aws.ec2',
      detailType: 'EC2 AMI State Change',
      detail: { ImageId: 'ami-760aaa0f', State: 'available' },
    });
    await cloud.putEvent({
      source: 'aws.ec2',
      detailType: 'EC2 AMI State Change',
      detail: { ImageId: ours!.ImageId, State: 'failed', ErrorMessage: 'stale' },
    });
    const deliveries = await cloud.deliver();

    // Assess: decided from the image as EC2 describes it now; both records done
    expect(deliveries.filter((d) => d.function === 'imageState').map((d) => [d.function, d.attempts, d.error])).toEqual([
      ['imageState', 1, undefined],
      ['imageState', 1, undefined],
    ]);
    expect(cloud.published('ImageBaked').map((e) => e.detail.imageId)).toEqual([ours!.ImageId]);
    expect(cloud.published('ImageBakeFailed')).toHaveLength(0);
    expect(tagRecord((await managedImages())[0]!.Tags)['ami-lifecycle:status']).toBe('good');
  });

  it('rejects an event it cannot use without throwing, so Lambda does not retry it', async () => {
    // Act
    const result = await cloud.invoke('bake', { source: 'ami-lifecycle', 'detail-type': 'BakeRequested', detail: { instanceId: 'x' } });
    const schedule = (await cloud.invoke('schedule', { schedule: 'nightly', period: 'fortnight' })) as { status: string };

    // Assess: the bake's record is deleted, not handed out again (no batch item failure)
    expect(result).toEqual({ batchItemFailures: [] });
    expect(schedule.status).toBe('rejected');
    expect(await managedImages()).toHaveLength(0);
  });
});
