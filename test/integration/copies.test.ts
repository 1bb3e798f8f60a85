/**
 * Disaster-recovery copies (issue 17, part A) against two regions of one moto: the home region
 * (us-east-1, the stack's) and eu-west-1, where there is no stack. The real handlers: a nightly
 * bake makes good images, ImageBaked reaches the copy function through its FIFO queue, the copy
 * reconcile starts the copies in eu-west-1 and, on a later pass (the 15-minute sweep), marks them
 * good or failed. Copies stay pending for a minute on the harness's manual image clock.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CopyImageCommand,
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  type Image,
} from '@aws-sdk/client-ec2';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';
import { TAG, tagRecord } from '../../shared/domain/tags.js';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { MOTO_BASE_AMI } from '../harness/local-cloud.js';
import { CONCURRENT_COPIES_PER_REGION } from '../harness/moto-gaps/image-copies.js';

const HOME = 'us-east-1';
const DR = 'eu-west-1';
const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const BOUND = 3;
const BUILD_MS = 60_000;
const NIGHT = new Date('2026-11-26T03:00:00Z');

const cloud = cloudPerFile({
  imagePending: { forMs: BUILD_MS, clock: 'manual' },
  params: { copyMaxConcurrent: String(BOUND), drRegions: JSON.stringify({ [DR]: { kmsKeyId: KEY } }) },
  env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
});

const SWEEP = JSON.parse(readFileSync(`${PROJECT_ROOT}/events/copy-sweep.json`, 'utf8')) as Record<string, unknown>;
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
/** EC2 in the DR region, straight to moto (uncounted), and through the proxy as an administrator (a person's calls). */
const drMoto = () => new EC2Client({ endpoint: cloud.moto.endpoint, region: DR, credentials });
const drProxied = () => new EC2Client({ endpoint: cloud.proxy.endpoint, region: DR, credentials, maxAttempts: 1 });

/** Opted-in instances, one lineage each, copied to the DR region, baked once. */
async function bakedLineages(n: number, at = NIGHT): Promise<string[]> {
  const ids = await cloud.launch(n, { 'ami-lifecycle:bake': 'nightly', [TAG.copyTo]: DR });
  await cloud.bakeCycle('nightly', at);
  return ids;
}

/** One sweep of the copy reconcile, as its rule would put it in the queue. */
async function sweep(): Promise<void> {
  const { result } = await cloud.invokeBatch('copy', [{ ...SWEEP, id: `sweep-${Math.random()}` }]);
  expect(result).toEqual({ batchItemFailures: [] });
}

async function copiesInDr(): Promise<Image[]> {
  const { Images = [] } = await drMoto().send(new DescribeImagesCommand({ Owners: ['self'] }));
  return Images.filter((i) => tagRecord(i.Tags)[TAG.sourceImage] !== undefined);
}

const status = (i: Image) => tagRecord(i.Tags)[TAG.status];

async function homeImages(): Promise<Image[]> {
  const { Images = [] } = await cloud.ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
  return Images;
}

describe('copies to a disaster-recovery region', () => {
  it('copies a good image with its tags, encrypted with the region key, pending until EC2 finishes, then good and said', async () => {
    // Prepare / Act: the bake, whose ImageBaked starts the copy
    await bakedLineages(1);
    const [source] = await homeImages();
    const [copy] = await copiesInDr();

    // Assess: one copy, its tags set at creation, pending
    expect(tagRecord(source!.Tags)[TAG.copyTo]).toBe(DR);
    expect(copy).toBeDefined();
    const tags = tagRecord(copy!.Tags);
    expect(tags).toMatchObject({
      [TAG.managedBy]: tagRecord(source!.Tags)[TAG.managedBy],
      [TAG.lineage]: tagRecord(source!.Tags)[TAG.lineage],
      [TAG.schedule]: 'nightly',
      [TAG.sourceImage]: source!.ImageId,
      [TAG.sourceRegion]: HOME,
      [TAG.status]: 'pending',
    });
    expect(cloud.proxy.isImagePending(copy!.ImageId!)).toBe(true);
    // Encrypted with the region's key (drRegions), as DLM's cross-region copy rules do.
    expect(cloud.proxy.copies()).toEqual([
      { imageId: copy!.ImageId, region: DR, sourceImageId: source!.ImageId, sourceRegion: HOME, encrypted: true, kmsKeyId: KEY },
    ]);
    // The snapshots carry the tags too (TagSpecifications, snapshot).
    const snapshotIds = (copy!.BlockDeviceMappings ?? []).map((m) => m.Ebs!.SnapshotId!);
    const { Snapshots = [] } = await drMoto().send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds }));
    expect(Snapshots.map((s) => tagRecord(s.Tags)[TAG.sourceImage])).toEqual(snapshotIds.map(() => source!.ImageId));
    // A sweep while it is still pending changes nothing and starts nothing more.
    await sweep();
    expect((await copiesInDr()).map(status)).toEqual(['pending']);
    expect(cloud.published('ImageCopied')).toEqual([]);

    // Act: EC2 finishes it; the next sweep
    cloud.proxy.advanceImageClock(BUILD_MS);
    await sweep();

    // Assess
    expect((await copiesInDr()).map(status)).toEqual(['good']);
    expect(cloud.published('ImageCopied').map((e) => e.detail)).toEqual([
      expect.objectContaining({ sourceImageId: source!.ImageId, sourceRegion: HOME, region: DR, imageId: copy!.ImageId }),
    ]);
  });

  it('marks a failed copy failed, says so, and copies the lineage again only from its next good image', async () => {
    // Prepare
    await bakedLineages(1);
    const [copy] = await copiesInDr();
    cloud.proxy.failImageBuild(copy!.ImageId!, { code: 'Client.InternalError', message: 'snapshot copy failed' });

    // Act
    await sweep();
    await sweep();

    // Assess: failed, said once, nothing copied again from the same source
    expect((await copiesInDr()).map(status)).toEqual(['failed']);
    expect(cloud.published('ImageCopyFailed').map((e) => e.detail)).toEqual([
      expect.objectContaining({
        imageId: copy!.ImageId,
        region: DR,
        errorCode: 'CopyFailed',
        message: expect.stringContaining('snapshot copy failed'),
      }),
    ]);

    // Act: the next night's good image
    await cloud.bakeCycle('nightly', new Date(NIGHT.getTime() + 86_400_000));

    // Assess: its copy is started
    expect((await copiesInDr()).map(status).sort()).toEqual(['failed', 'pending']);
  });

  it(`starts at most ${BOUND} copies at once (in flight counted in the region), oldest first, under throttling; the rest queue and none is lost`, async () => {
    // Prepare: four lineages baked one after another (their images' times in that order), one past the bound
    const at = (k: number) => new Date(NIGHT.getTime() + k * 60_000);
    const ids = await cloud.launch(4, { 'ami-lifecycle:bake': 'nightly', [TAG.copyTo]: DR });
    for (const [k, id] of ids.entries()) await cloud.invoke('bake', bakeRequest(id, at(k)));
    cloud.setClock(undefined);
    cloud.proxy.advanceImageClock(BUILD_MS);
    await cloud.announceImageStates();
    cloud.proxy.setFaults({ throttleRate: 0.15, seed: 17 });

    // Act: every event delivered three times (the AMI state changes, then each ImageBaked), then a sweep
    await cloud.deliver({ copies: 3, shuffleSeed: 5 });
    const sources = (await homeImages()).sort((a, b) => a.CreationDate!.localeCompare(b.CreationDate!));
    const afterFirst = await copiesInDr();
    const inFlightAfterFirst = cloud.proxy.copiesInFlight(DR);
    await sweep();

    // Assess: the bound held, the oldest three were started, the newest waits
    expect(sources.map(status)).toEqual(['good', 'good', 'good', 'good']);
    expect(afterFirst).toHaveLength(BOUND);
    expect(inFlightAfterFirst).toBe(BOUND);
    const started = new Set(afterFirst.map((c) => tagRecord(c.Tags)[TAG.sourceImage]));
    expect(started).toEqual(new Set(sources.slice(0, BOUND).map((s) => s.ImageId)));
    expect(await copiesInDr()).toHaveLength(BOUND);
    expect(cloud.proxy.faultCounts()['random-throttle']).toBeDefined();

    // Act: the three finish; the next sweep settles them and starts the fourth
    cloud.proxy.advanceImageClock(BUILD_MS);
    await sweep();
    await sweep();

    // Assess: four copies, one per source, never two of one source
    const copies = await copiesInDr();
    expect(copies.map((c) => tagRecord(c.Tags)[TAG.sourceImage]).sort()).toEqual(sources.map((s) => s.ImageId).sort());
    expect(copies.map(status).sort()).toEqual(['good', 'good', 'good', 'pending']);
    expect(cloud.proxy.copiesInFlight(DR)).toBe(1);
  });

  it('never exceeds the region limit: copies others have in flight count, and the copy past the limit is refused by EC2', async () => {
    // Prepare: two images built; meanwhile a person's copies fill the region up to one short of AWS's
    // limit (not the service's: no tags); then the images are announced and settled good
    await cloud.launch(2, { 'ami-lifecycle:bake': 'nightly', [TAG.copyTo]: DR });
    await cloud.fireSchedule('nightly', NIGHT);
    await cloud.deliver();
    await cloud.finishImageBuilds();
    const person = drProxied();
    const names = Array.from({ length: CONCURRENT_COPIES_PER_REGION - 1 }, (_, i) => `person-${i}`);
    for (let i = 0; i < names.length; i += 30) {
      await Promise.all(
        names.slice(i, i + 30).map((Name) => person.send(new CopyImageCommand({ SourceImageId: MOTO_BASE_AMI, SourceRegion: HOME, Name }))),
      );
    }
    await cloud.announceImageStates();
    await cloud.deliver();
    expect((await homeImages()).map(status)).toEqual(['good', 'good']);

    // Assess: the service started none (its bound counts the region's copies in flight)
    expect(await copiesInDr()).toHaveLength(0);
    expect(cloud.proxy.copiesInFlight(DR)).toBe(CONCURRENT_COPIES_PER_REGION - 1);

    // Act: at the limit, then one past it
    await person.send(new CopyImageCommand({ SourceImageId: MOTO_BASE_AMI, SourceRegion: HOME, Name: 'person-at-limit' }));
    const past = person.send(new CopyImageCommand({ SourceImageId: MOTO_BASE_AMI, SourceRegion: HOME, Name: 'person-past-limit' }));

    // Assess
    await expect(past).rejects.toMatchObject({ name: 'ResourceLimitExceeded' });
    expect(cloud.proxy.copiesInFlight(DR)).toBe(CONCURRENT_COPIES_PER_REGION);

    // Act: they finish; a sweep starts the service's two
    cloud.proxy.advanceImageClock(BUILD_MS);
    await sweep();

    // Assess
    expect((await copiesInDr()).map(status)).toEqual(['pending', 'pending']);
  });
});

describe('a crash after any call of the copy reconcile, then the passes that follow', () => {
  /** A good image of a lineage that names the DR region, made straight in moto (as a bake leaves it). */
  async function goodSource(lineage: string): Promise<string> {
    const [instanceId] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    const Tags = Object.entries({
      [TAG.managedBy]: cloud.wiring.environment.MANAGED_BY!,
      [TAG.lineage]: lineage,
      [TAG.sourceInstance]: instanceId!,
      [TAG.schedule]: 'nightly',
      [TAG.slot]: '2026-11-26',
      [TAG.status]: 'good',
      [TAG.copyTo]: DR,
    }).map(([Key, Value]) => ({ Key, Value }));
    const { ImageId } = await cloud.ec2.send(
      new CreateImageCommand({
        InstanceId: instanceId,
        Name: `${lineage}-2026-11-26`,
        TagSpecifications: [{ ResourceType: 'image', Tags }],
      }),
    );
    return ImageId!;
  }

  /** The pass that starts the copy, EC2 finishing it, and the pass that settles it: what a crash may cut anywhere. */
  async function passes(): Promise<void> {
    for (const step of [sweep, async () => cloud.proxy.advanceImageClock(BUILD_MS), sweep]) await step().catch(() => undefined);
  }

  /** What the account shows of the source's copies and what was said of them. */
  async function outcome(source: string): Promise<string> {
    const copies = (await copiesInDr()).filter((c) => tagRecord(c.Tags)[TAG.sourceImage] === source);
    const ids = new Set(copies.map((c) => c.ImageId));
    return JSON.stringify({
      copies: copies.map((c) => ({ status: status(c), region: tagRecord(c.Tags)[TAG.sourceRegion] })),
      said: [
        ...new Set(
          cloud.published('ImageCopied').flatMap((e) => (e.detail.sourceImageId === source ? [ids.has(String(e.detail.imageId))] : [])),
        ),
      ],
      failed: cloud.published('ImageCopyFailed').filter((e) => e.detail.sourceImageId === source).length,
    });
  }

  it('converges to the clean run for every k, answer received or lost: one copy, good, said', { timeout: 60_000 }, async () => {
    // Prepare: the clean run and its calls
    const clean = await goodSource('clean');
    cloud.proxy.resetCalls();
    await passes();
    const calls = Object.values(cloud.proxy.calls()).reduce((a, b) => a + b, 0);
    const expected = await outcome(clean);
    expect(JSON.parse(expected)).toEqual({ copies: [{ status: 'good', region: HOME }], said: [true], failed: 0 });
    expect(calls).toBeGreaterThan(5);

    // Act / Assess: a crash after every call, both ways (each run its own lineage, in the same account);
    // then what follows: the batch handed out again, the sweeps
    const problems: string[] = [];
    for (let k = 1; k <= calls; k++) {
      for (const answerLost of [false, true]) {
        const how = `crash after call ${k}/${calls}${answerLost ? ' (answer lost)' : ''}`;
        const source = await goodSource(`web-${k}-${answerLost}`);
        cloud.proxy.crashAfter({ after: k, answerLost });
        await passes();
        if (!cloud.proxy.crashState().crashed) problems.push(`${how}: the passes made fewer calls`);
        cloud.proxy.disarmCrash();
        await passes();
        const got = await outcome(source);
        if (got !== expected) problems.push(`${how}: ${got}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

/** A bake request for one instance at a time (its image's CreationDate on the harness clock). */
function bakeRequest(instanceId: string, at: Date): Record<string, unknown> {
  cloud.setClock(at);
  return {
    version: '0',
    id: `bake-${instanceId}`,
    source: 'ami-lifecycle',
    account: '123456789012',
    time: at.toISOString(),
    region: HOME,
    resources: [],
    'detail-type': 'BakeRequested',
    detail: {
      managedBy: cloud.wiring.environment.MANAGED_BY,
      instanceId,
      lineage: instanceId,
      assignLineage: true,
      schedule: 'nightly',
      slot: '2026-11-26',
      reboot: false,
      requestedAt: at.toISOString(),
      copyTo: [DR],
    },
  };
}
