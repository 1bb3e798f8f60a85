/**
 * AMI state changes read in batches: EventBridge puts each `EC2 AMI State Change` in the
 * image-state queue, and the imageState function gets what waits there as one batch (LocalCloud
 * hands over a queue's waiting records in batches of the mapping's batch size). One DescribeImages
 * reads every image of a batch; a record that cannot be read or settled fails alone and is
 * received again; a lost or duplicated event still converges through the reconcile.
 */
import { describe, expect, it } from 'vitest';
import { DescribeImagesCommand, type Image } from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { tagRecord } from '../../shared/domain/tags.js';

const NIGHT = new Date('2026-11-26T03:00:00Z');
const NEXT_NIGHT = new Date('2026-11-27T03:00:00Z');
const MANAGED_BY = 'ami-lifecycle-dev';
const AMI_STATE = 'EC2 AMI State Change';

const cloud = cloudPerFile();

async function managedImages(): Promise<Image[]> {
  const { Images } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:managed-by', Values: [MANAGED_BY] }] }),
  );
  return Images ?? [];
}

const statuses = async () => (await managedImages()).map((i) => tagRecord(i.Tags)['ami-lifecycle:status']);

/** The service's DescribeImages calls made by `act`. */
async function describesDuring(act: () => Promise<unknown>): Promise<number> {
  const before = cloud.proxy.calls().DescribeImages ?? 0;
  await act();
  return (cloud.proxy.calls().DescribeImages ?? 0) - before;
}

/** A night's bake of `n` instances, its images built and not yet announced. */
async function bakeNight(n: number): Promise<void> {
  await cloud.launch(n, { 'ami-lifecycle:bake': 'nightly' });
  await cloud.fireSchedule('nightly', NIGHT);
  await cloud.deliver();
}

/** An AMI state change as EC2 sends it, for an image that may or may not exist. */
const amiEvent = (imageId: string, state = 'available') => ({
  version: '0',
  id: `e-${imageId}`,
  'detail-type': AMI_STATE,
  source: 'aws.ec2',
  account: '123456789012',
  time: '2026-11-26T03:10:00Z',
  region: 'us-east-1',
  resources: [`arn:aws:ec2:us-east-1::image/${imageId}`],
  detail: { RequestId: 'r', ImageId: imageId, State: state, ErrorMessage: '' },
});

describe('AMI state changes read in batches', () => {
  it('settles a night of 12 images with one DescribeImages', async () => {
    // Prepare
    await bakeNight(12);
    expect(await cloud.announceImageStates()).toBe(12);

    // Act
    let deliveries: Awaited<ReturnType<typeof cloud.deliver>> = [];
    const tagsBefore = cloud.proxy.calls().CreateTags ?? 0;
    const describes = await describesDuring(async () => {
      deliveries = await cloud.deliver();
    });

    // Assess: one batch, every record done at the first receive
    const settled = deliveries.filter((d) => d.function === 'imageState');
    expect(describes).toBe(1);
    // The twelve good images and their snapshots tagged with one CreateTags (EC2's tightest bucket of a night).
    expect((cloud.proxy.calls().CreateTags ?? 0) - tagsBefore).toBe(1);
    expect(settled).toHaveLength(12);
    expect(settled.every((d) => d.attempts === 1 && d.error === undefined)).toBe(true);
    expect(await statuses()).toEqual(Array(12).fill('good'));
    expect(cloud.published('ImageBaked')).toHaveLength(12);
  });

  it('hands a backlog over in batches of the mapping size (100): 101 events, two batches, two DescribeImages', async () => {
    // Prepare: 101 announcements of images EC2 does not know (gone, or never ours)
    const ids = Array.from({ length: 101 }, (_, i) => `ami-${(0xa000 + i).toString(16).padStart(8, '0')}`);
    for (const id of ids) await cloud.putEvent({ source: 'aws.ec2', detailType: AMI_STATE, detail: amiEvent(id).detail });
    expect(cloud.wiring.functions.find((f) => f.name === 'imageState')?.queue?.batchSize).toBe(100);

    // Act
    let deliveries: Awaited<ReturnType<typeof cloud.deliver>> = [];
    const describes = await describesDuring(async () => {
      deliveries = await cloud.deliver();
    });

    // Assess: nothing to settle, nothing failed
    expect(describes).toBe(2);
    expect(deliveries).toHaveLength(101);
    expect(deliveries.every((d) => d.attempts === 1 && d.error === undefined)).toBe(true);
    expect(cloud.published()).toEqual([]);
  });

  it('settles an image whose event came three times once, in one batch', async () => {
    // Prepare
    await bakeNight(2);
    await cloud.announceImageStates();

    // Act: every event delivered three times, shuffled
    let deliveries: Awaited<ReturnType<typeof cloud.deliver>> = [];
    const describes = await describesDuring(async () => {
      deliveries = await cloud.deliver({ copies: 3, shuffleSeed: 5 });
    });

    // Assess
    expect(describes).toBe(1);
    expect(deliveries.filter((d) => d.function === 'imageState')).toHaveLength(6);
    expect(deliveries.every((d) => d.error === undefined)).toBe(true);
    expect(cloud.published('ImageBaked')).toHaveLength(2);
    expect(await statuses()).toEqual(['good', 'good']);
  });

  it('converges when an event is lost: the next run settles the image, and the event turning up late changes nothing', async () => {
    // Prepare: two images built; one announcement is lost on the way
    await bakeNight(2);
    await cloud.announceImageStates();
    const [lost, kept] = await cloud.drain();
    expect([lost?.functionName, kept?.functionName]).toEqual(['imageState', 'imageState']);
    await cloud.invokeBatch('imageState', [kept!.event]);
    expect((await statuses()).sort()).toEqual(['good', 'pending']);

    // Act: the next night's run reconciles what is still pending
    const report = (await cloud.fireSchedule('nightly', NEXT_NIGHT)) as { reconcile: Record<string, number> };

    // Assess
    expect(report.reconcile).toMatchObject({ pendingSeen: 1, good: 1, errors: 0 });
    expect(await statuses()).toEqual(['good', 'good']);
    expect(
      cloud
        .published('ImageBaked')
        .map((e) => e.detail.settledBy)
        .sort(),
    ).toEqual(['event', 'reconcile']);

    // Act: the lost event turns up after all, with a copy of the other
    const { result } = await cloud.invokeBatch('imageState', [lost!.event, kept!.event]);

    // Assess: done, and said once
    expect(result).toEqual({ batchItemFailures: [] });
    expect(cloud.published('ImageBaked')).toHaveLength(2);
  });

  it('fails a record it cannot read alone: the others of the batch settle, it is received until the queue dead-letters it', async () => {
    // Prepare: an image built and announced, and an AMI event whose ImageId is no image id
    await bakeNight(1);
    await cloud.announceImageStates();
    await cloud.putEvent({ source: 'aws.ec2', detailType: AMI_STATE, detail: { ImageId: 'not-an-image', State: 'available' } });

    // Act (only imageState's deliveries are read)
    const deliveries = (await cloud.deliver()).filter((d) => d.function === 'imageState');

    // Assess
    const bad = deliveries.filter((d) => d.error !== undefined);
    expect(bad).toHaveLength(1);
    expect(bad[0]).toMatchObject({ function: 'imageState', attempts: 3, error: 'Error: the record was reported in batchItemFailures' });
    expect(deliveries.filter((d) => d.error === undefined)).toEqual([expect.objectContaining({ attempts: 1 })]);
    expect(await statuses()).toEqual(['good']);
  });

  it('fails every record of a batch when DescribeImages fails, and settles them when they are received again', async () => {
    // Prepare: two images announced; EC2 answers every DescribeImages with a server error for now
    await bakeNight(2);
    await cloud.announceImageStates();
    const events = (await cloud.drain()).map((d) => d.event);
    cloud.proxy.setFaults({ serverErrorRate: 1, actions: ['DescribeImages'], seed: 1 });

    // Act
    const failed = await cloud.invokeBatch('imageState', events);

    // Assess: both handed out again, nothing settled
    expect(failed.result).toEqual({ batchItemFailures: failed.messageIds.map((itemIdentifier) => ({ itemIdentifier })) });
    expect(await statuses()).toEqual(['pending', 'pending']);
    expect(cloud.published('ImageBaked')).toEqual([]);

    // Act: the queue hands them out again, EC2 answering
    cloud.proxy.setFaults(undefined);
    const retried = await cloud.invokeBatch('imageState', events);

    // Assess
    expect(retried.result).toEqual({ batchItemFailures: [] });
    expect(await statuses()).toEqual(['good', 'good']);
  });
});
