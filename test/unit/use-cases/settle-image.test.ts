import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ImageBaked, ImageBakeFailed } from '../../../shared/domain/events.js';
import { TAG } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { applySettlement, reconcilePending, settleImages } from '../../../shared/use-cases/settle-image.js';
import { markGood, NotMarkedBad, UnknownTarget } from '../../../shared/use-cases/operator-actions.js';
import type { SettleDeps } from '../../../shared/use-cases/ports.js';
import { instanceIdOf, settleEc2, STACK, world as worldOf, type World, type WorldOptions } from '../fakes.js';

/** A world of the settle slice only: the use case sees nothing else of EC2. */
const world = (options?: WorldOptions) => worldOf(settleEc2, options);

const SOURCE = instanceIdOf(7);

/** An image this stack made, in EC2 state `state`, with the status tag `status`. */
function managedImage(
  w: World,
  opts: {
    state?: string;
    status?: string;
    slot?: string;
    managedBy?: string;
    stateReason?: string;
    snapshots?: number;
    verify?: string;
    promote?: string;
    copyTo?: string;
  } = {},
) {
  const slot = opts.slot ?? '2026-11-26';
  const managedBy = opts.managedBy ?? STACK;
  const image = w.account.addImage({
    name: `${managedBy}/web/nightly/${slot}`,
    state: opts.state ?? 'pending',
    creationDate: '2026-11-26T01:00:10.000Z',
    tags: {
      [TAG.managedBy]: managedBy,
      [TAG.lineage]: 'web',
      [TAG.sourceInstance]: SOURCE,
      [TAG.schedule]: 'nightly',
      [TAG.slot]: slot,
      [TAG.status]: opts.status ?? 'pending',
      ...(opts.verify ? { [TAG.verify]: opts.verify } : {}),
      ...(opts.promote ? { [TAG.promote]: opts.promote } : {}),
      ...(opts.copyTo ? { [TAG.copyTo]: opts.copyTo } : {}),
    },
    snapshotIds: Array.from({ length: opts.snapshots ?? 2 }, (_, i) => `snap-${slot.replace(/\D/g, '')}${i}`),
    ...(opts.stateReason ? { stateReason: opts.stateReason } : {}),
  });
  return image;
}

/** One announced image, settled through the batch path: its settlement, or its error thrown. */
async function settleImage(imageId: string, deps: SettleDeps, hint?: { errorMessage?: string }) {
  const outcome = (await settleImages([{ imageId, ...hint }], deps)).get(imageId)!;
  if ('error' in outcome) throw outcome.error;
  return outcome.settlement;
}

const statusOf = (w: World, id: string) => w.account.images.get(id)?.tags[TAG.status] ?? w.account.snapshotTags.get(id)?.[TAG.status];

describe('settling one announced image', () => {
  it('marks an available image of verify=boot verifying and asks for its verification; nothing good is said yet', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available', verify: 'boot' });

    // Act
    const settleOne = async () => (await settleImages([{ imageId: image.imageId }], w.deps)).get(image.imageId);
    const first = await settleOne();
    const again = await settleOne();

    // Assess
    expect(first).toEqual({ settlement: { kind: 'verifying' } });
    expect(again).toEqual({ settlement: { kind: 'unchanged', why: 'already-settled' } });
    expect(w.bus.ofType('ImageBaked')).toEqual([]);
    expect(w.bus.ofType('VerificationRequested')).toEqual([{ managedBy: STACK, imageId: image.imageId, lineage: 'web' }]);
    expect([image.imageId, ...image.snapshotIds].map((id) => statusOf(w, id))).toEqual(['verifying', 'verifying', 'verifying']);
  });

  it('publishes ImageBaked, then tags the image and its snapshots good', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available' });

    // Act
    const s = await settleImage(image.imageId, w.deps);

    // Assess
    expect(s).toEqual({ kind: 'good' });
    const baked = w.bus.ofType('ImageBaked');
    expect(baked).toHaveLength(1);
    expect(v.parse(ImageBaked, baked[0])).toEqual({
      managedBy: STACK,
      imageId: image.imageId,
      imageName: image.name,
      lineage: 'web',
      sourceInstanceId: SOURCE,
      schedule: 'nightly',
      slot: '2026-11-26',
      snapshotIds: image.snapshotIds,
      creationDate: '2026-11-26T01:00:10.000Z',
      settledBy: 'event',
      promotes: false,
      copies: false,
    });
    for (const id of [image.imageId, ...image.snapshotIds]) expect(statusOf(w, id)).toBe('good');
    expect(w.account.tagCalls).toEqual([{ resourceIds: [image.imageId, ...image.snapshotIds], tags: { [TAG.status]: 'good' } }]);
    expect(w.journal).toEqual(['publish ImageBaked', `tag ${[image.imageId, ...image.snapshotIds].join(',')} {"${TAG.status}":"good"}`]);
  });

  it("says whether an ImageBaked promotes and copies from the image's promote and copy-to tags (the promote rule and the copy queue take only those)", async () => {
    // Prepare
    const w = world();
    const both = managedImage(w, {
      state: 'available',
      slot: '2026-11-25',
      promote: 'ssm:/ami-lifecycle/web',
      copyTo: 'us-west-2,eu-west-1',
    });
    const blank = managedImage(w, { state: 'available', slot: '2026-11-26', promote: '  ', copyTo: ' ' });
    const neither = managedImage(w, { state: 'available', slot: '2026-11-27' });

    // Act
    await settleImages(
      [both, blank, neither].map((i) => ({ imageId: i.imageId })),
      w.deps,
    );

    // Assess
    const said = Object.fromEntries(
      w.bus
        .ofType('ImageBaked')
        .map((e) => v.parse(ImageBaked, e))
        .map((e) => [e.imageId, { promotes: e.promotes, copies: e.copies }]),
    );
    expect(said).toEqual({
      [both.imageId]: { promotes: true, copies: true },
      [blank.imageId]: { promotes: false, copies: false },
      [neither.imageId]: { promotes: false, copies: false },
    });
  });

  it('publishes ImageBakeFailed (phase build) and tags failed when the build failed', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'failed', stateReason: 'Client.InternalError: snapshot failed' });

    // Act
    const s = await settleImage(image.imageId, w.deps, { errorMessage: 'from the event' });

    // Assess
    expect(s).toEqual({ kind: 'failed', reason: 'Client.InternalError: snapshot failed' });
    expect(w.bus.ofType('ImageBakeFailed').map((d) => v.parse(ImageBakeFailed, d))).toEqual([
      {
        managedBy: STACK,
        phase: 'build',
        instanceId: SOURCE,
        lineage: 'web',
        schedule: 'nightly',
        slot: '2026-11-26',
        imageId: image.imageId,
        errorCode: 'Image.failed',
        message: 'Client.InternalError: snapshot failed',
      },
    ]);
    for (const id of [image.imageId, ...image.snapshotIds]) expect(statusOf(w, id)).toBe('failed');
  });

  it("uses the event's error message when EC2 gives no state reason", async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'error' });

    // Act
    const s = await settleImage(image.imageId, w.deps, { errorMessage: 'from the event' });

    // Assess
    expect(s).toEqual({ kind: 'failed', reason: 'from the event' });
    expect(w.bus.ofType('ImageBakeFailed')[0]).toMatchObject({ errorCode: 'Image.error', message: 'from the event' });
  });

  it.each(['good', 'failed', 'bad'])('publishes and tags nothing for an image already %s', async (status) => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available', status });

    // Act
    const s = await settleImage(image.imageId, w.deps);

    // Assess
    expect(s).toEqual({ kind: 'unchanged', why: 'already-settled' });
    expect(w.bus.calls).toEqual([]);
    expect(w.account.tagCalls).toEqual([]);
    expect(statusOf(w, image.imageId)).toBe(status);
  });

  it('publishes nothing for an image that does not exist or that another stack made', async () => {
    // Prepare
    const w = world();
    const foreign = managedImage(w, { state: 'available', managedBy: 'other-stack' });

    // Act
    const results = [await settleImage('ami-00000000000000bad', w.deps), await settleImage(foreign.imageId, w.deps)];

    // Assess
    expect(results).toEqual([
      { kind: 'unchanged', why: 'not-found' },
      { kind: 'unchanged', why: 'not-managed' },
    ]);
    expect(w.bus.calls).toEqual([]);
    expect(w.account.tagCalls).toEqual([]);
  });

  // Issue 21: a person's CopyImage with its tags carries this stack's managed-by and status.
  it("says once, when EC2 announces it, that a copy carrying the stack's tags is not its own, and changes nothing", async () => {
    // Prepare: the copy carries every tag, pending included; EC2 records no source instance for it
    const w = world();
    const copy = managedImage(w, { state: 'available', slot: '2026-11-20' });
    copy.sourceInstanceId = '';

    // Act: the AMI state change, then a scheduled reconcile
    const settled = await settleImage(copy.imageId, w.deps);
    const reconciled = await reconcilePending(w.deps);

    // Assess
    expect(settled).toEqual({ kind: 'not-ours', reason: expect.stringMatching(/^EC2 records no instance it was made from/) });
    expect(w.bus.ofType('ImageNotOwned')).toEqual([
      {
        managedBy: STACK,
        imageId: copy.imageId,
        imageName: copy.name,
        lineage: 'web',
        reason: settled.kind === 'not-ours' ? settled.reason : '',
      },
    ]);
    expect(reconciled).toMatchObject({ pendingSeen: 1, good: 0, failed: 0 });
    expect(w.account.tagCalls).toEqual([]);
    expect(copy.tags[TAG.status]).toBe('pending');
  });

  it('publishes nothing while the image is still building', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'pending' });

    // Act
    const s = await settleImage(image.imageId, w.deps);

    // Assess
    expect(s).toEqual({ kind: 'unchanged', why: 'still-building' });
    expect(w.bus.calls).toEqual([]);
    expect(statusOf(w, image.imageId)).toBe('pending');
  });

  it('throws and leaves the image pending when the event cannot be published', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available' });
    w.bus.failAll('ThrottlingException');

    // Act
    const act = settleImage(image.imageId, w.deps);

    // Assess
    await expect(act).rejects.toThrow(`could not publish ImageBaked for ${image.imageId}: ThrottlingException`);
    expect(w.account.tagCalls).toEqual([]);
    for (const id of [image.imageId, ...image.snapshotIds]) expect(statusOf(w, id)).toBe('pending');
  });

  it('settles on a later try once publishing works again (the event is published once)', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available' });
    w.bus.failAll();
    await settleImage(image.imageId, w.deps).catch(() => undefined);
    w.bus.heal();

    // Act
    const s = await settleImage(image.imageId, w.deps);
    const again = await settleImage(image.imageId, w.deps);

    // Assess
    expect(s).toEqual({ kind: 'good' });
    expect(again).toEqual({ kind: 'unchanged', why: 'already-settled' });
    expect(w.bus.ofType('ImageBaked')).toHaveLength(1);
  });
});

describe('applySettlement', () => {
  it('settles the image view it is given, recording who settled it', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available' });
    const view = (await w.deps.ec2.describeImages([image.imageId])).get(image.imageId);

    // Act
    const s = await applySettlement(view, w.deps, 'reconcile');

    // Assess
    expect(s).toEqual({ kind: 'good' });
    expect(w.bus.ofType('ImageBaked')[0]).toMatchObject({ imageId: image.imageId, settledBy: 'reconcile' });
  });

  it('leaves out creationDate when EC2 did not give one', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available' });
    const view = { ...(await w.deps.ec2.describeImages([image.imageId])).get(image.imageId)!, creationDate: undefined };

    // Act
    await applySettlement(view, w.deps, 'event');

    // Assess
    expect(w.bus.ofType('ImageBaked')[0]).not.toHaveProperty('creationDate');
  });
});

describe('reconcilePending', () => {
  it('settles a mix of pending images across pages, and leaves what is not pending or not ours', async () => {
    // Prepare
    const w = world({ pageSize: 2 });
    const ok1 = managedImage(w, { state: 'available', slot: '2026-11-21' });
    const ok2 = managedImage(w, { state: 'available', slot: '2026-11-22' });
    const broken = managedImage(w, { state: 'failed', slot: '2026-11-23', stateReason: 'boom' });
    const building = managedImage(w, { state: 'pending', slot: '2026-11-24' });
    const good = managedImage(w, { state: 'available', status: 'good', slot: '2026-11-20' });
    const foreign = managedImage(w, { state: 'available', managedBy: 'other-stack', slot: '2026-11-25' });

    // Act
    const report = await reconcilePending(w.deps);

    // Assess
    expect(report).toEqual({ pendingSeen: 4, good: 2, failed: 1, stillBuilding: 1, errors: 0 });
    expect(statusOf(w, ok1.imageId)).toBe('good');
    expect(statusOf(w, ok2.imageId)).toBe('good');
    expect(statusOf(w, broken.imageId)).toBe('failed');
    expect(statusOf(w, building.imageId)).toBe('pending');
    expect(statusOf(w, good.imageId)).toBe('good');
    expect(statusOf(w, foreign.imageId)).toBe('pending');
    expect(w.bus.ofType('ImageBaked').map((d) => [d.imageId, d.settledBy])).toEqual([
      [ok1.imageId, 'reconcile'],
      [ok2.imageId, 'reconcile'],
    ]);
    expect(w.bus.ofType('ImageBakeFailed').map((d) => [d.imageId, d.message])).toEqual([[broken.imageId, 'boom']]);
  });

  it('counts an image whose tagging throws as an error and settles the others', async () => {
    // Prepare
    const w = world();
    const ok1 = managedImage(w, { state: 'available', slot: '2026-11-21' });
    const stuck = managedImage(w, { state: 'available', slot: '2026-11-22' });
    const ok2 = managedImage(w, { state: 'failed', slot: '2026-11-23' });
    w.account.failTagging(stuck.imageId, new AwsCallError('RequestLimitExceeded', 'CreateTags', 'slow down', true, 503));

    // Act
    const report = await reconcilePending(w.deps);

    // Assess
    expect(report).toEqual({ pendingSeen: 3, good: 1, failed: 1, stillBuilding: 0, errors: 1 });
    expect(statusOf(w, ok1.imageId)).toBe('good');
    expect(statusOf(w, ok2.imageId)).toBe('failed');
    expect(statusOf(w, stuck.imageId)).toBe('pending');
    expect(w.log.at('error').map((r) => r.message)).toEqual(['could not settle image']);
    expect(w.log.at('error')[0]!.extra[0]).toMatchObject({ imageId: stuck.imageId });
  });

  it('counts an image whose event cannot be published as an error, and leaves it pending for the next pass', async () => {
    // Prepare
    const w = world();
    const a = managedImage(w, { state: 'available', slot: '2026-11-21' });
    const b = managedImage(w, { state: 'available', slot: '2026-11-22' });
    w.bus.failWhen((e) => (e.detail as { imageId?: string }).imageId === a.imageId);

    // Act
    const first = await reconcilePending(w.deps);
    w.bus.heal();
    const second = await reconcilePending(w.deps);

    // Assess
    expect(first).toEqual({ pendingSeen: 2, good: 1, failed: 0, stillBuilding: 0, errors: 1 });
    expect(second).toEqual({ pendingSeen: 1, good: 1, failed: 0, stillBuilding: 0, errors: 0 });
    expect(statusOf(w, a.imageId)).toBe('good');
    expect(statusOf(w, b.imageId)).toBe('good');
    expect(w.bus.ofType('ImageBaked').map((d) => d.imageId)).toEqual([b.imageId, a.imageId]);
  });

  it('reports nothing to do when no image is pending', async () => {
    // Prepare
    const w = world();

    // Act
    const report = await reconcilePending(w.deps);

    // Assess
    expect(report).toEqual({ pendingSeen: 0, good: 0, failed: 0, stillBuilding: 0, errors: 0 });
    expect(w.bus.calls).toEqual([]);
  });

  it('lets a listing failure through to its caller', async () => {
    // Prepare
    const w = world();
    w.account.failListPendingImages(new AwsCallError('RequestLimitExceeded', 'DescribeImages', 'slow down', true));

    // Act
    const act = reconcilePending(w.deps);

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'RequestLimitExceeded' });
  });
});

describe('settling: metrics', () => {
  it.each([
    ['available', 'ImagesGood'],
    ['failed', 'ImagesFailed'],
  ] as const)('counts an image that became %s as %s', async (state, metric) => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state, stateReason: state === 'failed' ? 'boom' : undefined });

    // Act
    await settleImage(image.imageId, w.deps);

    // Assess
    expect(w.metrics.records).toEqual([{ name: metric, unit: 'Count', value: 1 }]);
  });

  it('counts an image once when its AMI event comes three times and the reconcile pass sees it too', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available' });

    // Act
    for (let i = 0; i < 3; i++) await settleImage(image.imageId, w.deps);
    await reconcilePending(w.deps);

    // Assess
    expect(w.metrics.totals()).toEqual({ ImagesGood: 1 });
  });

  it('counts nothing for an image still building, gone, or of another stack', async () => {
    // Prepare
    const w = world();
    const building = managedImage(w, { state: 'pending', slot: '2026-11-24' });
    const foreign = managedImage(w, { state: 'available', managedBy: 'other-stack', slot: '2026-11-25' });

    // Act
    await settleImage(building.imageId, w.deps);
    await settleImage(foreign.imageId, w.deps);
    await settleImage('ami-0000000000000dead', w.deps);

    // Assess
    expect(w.metrics.records).toEqual([]);
  });

  it('counts an image only once its status tag is written: a settle that fails before is counted by the one that succeeds', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available' });
    w.account.failTagging(image.imageId, new AwsCallError('RequestLimitExceeded', 'CreateTags', 'slow down', true, 503));

    // Act
    await expect(settleImage(image.imageId, w.deps)).rejects.toMatchObject({ code: 'RequestLimitExceeded' });
    const countedBeforeRetry = w.metrics.totals();
    w.account.failTagging(image.imageId, undefined);
    const report = await reconcilePending(w.deps);

    // Assess
    expect(countedBeforeRetry).toEqual({});
    expect(report).toMatchObject({ good: 1 });
    expect(w.metrics.totals()).toEqual({ ImagesGood: 1 });
  });

  it('counts what the reconcile pass settles, image by image', async () => {
    // Prepare
    const w = world({ pageSize: 2 });
    managedImage(w, { state: 'available', slot: '2026-11-21' });
    managedImage(w, { state: 'available', slot: '2026-11-22' });
    managedImage(w, { state: 'failed', slot: '2026-11-23', stateReason: 'boom' });
    managedImage(w, { state: 'pending', slot: '2026-11-24' });

    // Act
    await reconcilePending(w.deps);

    // Assess
    expect(w.metrics.totals()).toEqual({ ImagesGood: 2, ImagesFailed: 1 });
  });
});

// Issue 22, part 2: an operator clears a wrong bad mark.
describe('markGood', () => {
  it('turns a bad image and its snapshots good, publishes ImageMarkedGood and logs it', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available', status: 'bad' });
    for (const s of image.snapshotIds) w.account.snapshotTags.set(s, { [TAG.status]: 'bad' });

    // Act
    const marked = await markGood(image.imageId, w.deps);

    // Assess
    expect(marked).toEqual({ imageId: image.imageId, lineage: 'web' });
    expect(statusOf(w, image.imageId)).toBe('good');
    for (const s of image.snapshotIds) expect(statusOf(w, s)).toBe('good');
    expect(w.bus.ofType('ImageMarkedGood')).toEqual([{ managedBy: STACK, imageId: image.imageId, lineage: 'web', previousStatus: 'bad' }]);
    expect(w.log.records.map((r) => r.message)).toContain('image marked good by an operator');
  });

  it("refuses an image that is not marked bad, or not this stack's, and changes nothing", async () => {
    // Prepare
    const w = world();
    const good = managedImage(w, { state: 'available', status: 'good', slot: '2026-11-25' });
    const theirs = managedImage(w, { state: 'available', status: 'bad', managedBy: 'other-stack', slot: '2026-11-24' });

    // Act + Assess
    await expect(markGood(good.imageId, w.deps)).rejects.toBeInstanceOf(NotMarkedBad);
    await expect(markGood(theirs.imageId, w.deps)).rejects.toBeInstanceOf(UnknownTarget);
    await expect(markGood('ami-00000000000000bad', w.deps)).rejects.toBeInstanceOf(UnknownTarget);
    expect(w.account.tagCalls).toEqual([]);
    expect(w.bus.calls).toEqual([]);
  });
});

describe('settleImages: a batch of announced images', () => {
  it('reads every image of the batch with one describe, and settles each as alone', async () => {
    // Prepare
    const w = world();
    const good = [1, 2, 3].map((d) => managedImage(w, { state: 'available', slot: `2026-11-2${d}` }));
    const failed = managedImage(w, { state: 'failed', slot: '2026-11-24' });

    // Act
    const outcomes = await settleImages(
      [...good, failed].map((i) => ({ imageId: i.imageId, ...(i === failed ? { errorMessage: 'disk gone' } : {}) })),
      w.deps,
    );

    // Assess
    expect(w.account.describeImageCalls).toEqual([[...good, failed].map((i) => i.imageId)]);
    expect([...outcomes.values()]).toEqual([
      { settlement: { kind: 'good' } },
      { settlement: { kind: 'good' } },
      { settlement: { kind: 'good' } },
      { settlement: { kind: 'failed', reason: 'disk gone' } },
    ]);
    expect(w.bus.ofType('ImageBaked').map((e) => e.imageId)).toEqual(good.map((i) => i.imageId));
    expect(w.bus.ofType('ImageBakeFailed').map((e) => e.imageId)).toEqual([failed.imageId]);
    for (const i of good) for (const id of [i.imageId, ...i.snapshotIds]) expect(statusOf(w, id)).toBe('good');
    for (const id of [failed.imageId, ...failed.snapshotIds]) expect(statusOf(w, id)).toBe('failed');
  });

  it('settles an image named twice in the batch once, keeping the reason EC2 gave', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'failed' });

    // Act
    const outcomes = await settleImages(
      [{ imageId: image.imageId }, { imageId: image.imageId, errorMessage: 'from the second event' }, { imageId: image.imageId }],
      w.deps,
    );

    // Assess
    expect(w.account.describeImageCalls).toEqual([[image.imageId]]);
    expect([...outcomes]).toEqual([[image.imageId, { settlement: { kind: 'failed', reason: 'from the second event' } }]]);
    expect(w.bus.ofType('ImageBakeFailed')).toHaveLength(1);
    expect(w.account.tagCalls).toHaveLength(1);
    expect(w.metrics.totals()).toEqual({ ImagesFailed: 1 });
  });

  it('leaves an image EC2 does not describe as it is, and settles the others', async () => {
    // Prepare
    const w = world();
    const image = managedImage(w, { state: 'available' });

    // Act
    const outcomes = await settleImages([{ imageId: 'ami-0000000000000dead' }, { imageId: image.imageId }], w.deps);

    // Assess
    expect(outcomes.get('ami-0000000000000dead')).toEqual({ settlement: { kind: 'unchanged', why: 'not-found' } });
    expect(outcomes.get(image.imageId)).toEqual({ settlement: { kind: 'good' } });
    expect(w.bus.ofType('ImageBaked').map((e) => e.imageId)).toEqual([image.imageId]);
  });

  it('writes the status of a batch with one CreateTags per outcome, each image with its snapshots', async () => {
    // Prepare
    const w = world();
    const good = [1, 2, 3].map((d) => managedImage(w, { state: 'available', slot: `2026-11-2${d}` }));
    const failed = [4, 5].map((d) => managedImage(w, { state: 'failed', slot: `2026-11-2${d}` }));

    // Act
    const outcomes = await settleImages(
      [good[0]!, failed[0]!, good[1]!, failed[1]!, good[2]!].map((i) => ({ imageId: i.imageId })),
      w.deps,
    );

    // Assess: two CreateTags for five images, the events published first
    const ids = (images: typeof good) => images.flatMap((i) => [i.imageId, ...i.snapshotIds]);
    expect(w.account.tagCalls).toEqual([
      { resourceIds: ids(good), tags: { [TAG.status]: 'good' } },
      { resourceIds: ids(failed), tags: { [TAG.status]: 'failed' } },
    ]);
    expect(w.journal.slice(0, 5).every((line) => line.startsWith('publish '))).toBe(true);
    expect([...outcomes.values()].map((o) => ('settlement' in o ? o.settlement.kind : 'error'))).toEqual([
      'good',
      'failed',
      'good',
      'failed',
      'good',
    ]);
    expect(w.metrics.totals()).toEqual({ ImagesGood: 3, ImagesFailed: 2 });
  });

  it('keeps a CreateTags within the 1,000 ids EC2 takes, never splitting an image from its snapshots', async () => {
    // Prepare: three images of 399 snapshots each, 400 ids an image
    const w = world();
    const images = [1, 2, 3].map((d) => managedImage(w, { state: 'available', slot: `2026-11-2${d}`, snapshots: 399 }));

    // Act
    await settleImages(
      images.map((i) => ({ imageId: i.imageId })),
      w.deps,
    );

    // Assess
    expect(w.account.tagCalls.map((c) => c.resourceIds.length)).toEqual([800, 400]);
    expect(w.account.tagCalls[1]!.resourceIds[0]).toBe(images[2]!.imageId);
    for (const i of images) expect(statusOf(w, i.imageId)).toBe('good');
  });

  it.each([
    ['1,000 ids in one CreateTags', [499, 499], [1000]],
    ['1,001 ids in two', [499, 500], [500, 501]],
  ])('tags two images of %s (EC2 takes up to 1,000)', async (_label, snapshots, calls) => {
    // Prepare: two images, each with 1 + its snapshots ids
    const w = world();
    const images = snapshots.map((n, d) => managedImage(w, { state: 'available', slot: `2026-11-2${d}`, snapshots: n }));

    // Act
    await settleImages(
      images.map((i) => ({ imageId: i.imageId })),
      w.deps,
    );

    // Assess
    expect(w.account.tagCalls.map((c) => c.resourceIds.length)).toEqual(calls);
    for (const i of images) expect(statusOf(w, i.imageId)).toBe('good');
  });

  it('gives every image of the CreateTags its error when EC2 throttles it, to be received again', async () => {
    // Prepare
    const w = world();
    const [a, b] = [1, 2].map((d) => managedImage(w, { state: 'available', slot: `2026-11-2${d}` }));
    const slow = new AwsCallError('RequestLimitExceeded', 'CreateTags', 'slow down', true, 503);
    w.account.failTagging(b!.imageId, slow);

    // Act
    const outcomes = await settleImages(
      [a!, b!].map((i) => ({ imageId: i.imageId })),
      w.deps,
    );

    // Assess: one call tried, not one per image on a throttled bucket
    expect([...outcomes.values()]).toEqual([{ error: slow }, { error: slow }]);
    expect(statusOf(w, a!.imageId)).toBe('pending');
    expect(w.metrics.totals()).toEqual({});
  });

  it('gives an image whose settle fails its own error: the others of the batch settle', async () => {
    // Prepare: EC2 refuses the batch's CreateTags for one image it no longer knows
    const w = world();
    const [a, b, c] = [1, 2, 3].map((d) => managedImage(w, { state: 'available', slot: `2026-11-2${d}` }));
    w.account.failTagging(b!.imageId, new AwsCallError('InvalidAMIID.NotFound', 'CreateTags', 'gone', false, 400));

    // Act
    const outcomes = await settleImages(
      [a!, b!, c!].map((i) => ({ imageId: i.imageId })),
      w.deps,
    );

    // Assess
    expect(outcomes.get(a!.imageId)).toEqual({ settlement: { kind: 'good' } });
    expect(outcomes.get(b!.imageId)).toEqual({ error: expect.objectContaining({ code: 'InvalidAMIID.NotFound' }) });
    expect(outcomes.get(c!.imageId)).toEqual({ settlement: { kind: 'good' } });
    expect(statusOf(w, b!.imageId)).toBe('pending');
    expect(w.log.at('error').map((r) => r.extra[0])).toEqual([expect.objectContaining({ imageId: b!.imageId })]);
  });

  it('gives every image the describe error when the describe fails, settling none: all are retried', async () => {
    // Prepare
    const w = world();
    const images = [1, 2].map((d) => managedImage(w, { state: 'available', slot: `2026-11-2${d}` }));
    const refusal = new AwsCallError('RequestLimitExceeded', 'DescribeImages', 'slow down', true, 503);
    w.account.failDescribeImages(refusal);

    // Act
    const outcomes = await settleImages(
      images.map((i) => ({ imageId: i.imageId })),
      w.deps,
    );

    // Assess
    expect([...outcomes.values()]).toEqual([{ error: refusal }, { error: refusal }]);
    expect(w.bus.published).toEqual([]);
    expect(w.account.tagCalls).toEqual([]);

    // Act: the retry, once EC2 answers again
    w.account.failDescribeImages(undefined);
    const retried = await settleImages(
      images.map((i) => ({ imageId: i.imageId })),
      w.deps,
    );

    // Assess
    expect([...retried.values()]).toEqual([{ settlement: { kind: 'good' } }, { settlement: { kind: 'good' } }]);
  });
});
