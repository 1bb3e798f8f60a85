import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ImagePublicAccessRevoked, PolicyInvalid } from '../../../shared/domain/events.js';
import { TAG } from '../../../shared/domain/tags.js';
import type { ShareEc2 } from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { shareImages } from '../../../shared/use-cases/share-images.js';
import { instanceIdOf, shareEc2, STACK, world, type FakeImage, type World } from '../fakes.js';

const NOW = new Date('2026-11-26T06:00:00.000Z');
const A = '111122223333';
const B = '444455556666';
const ORG = 'arn:aws:organizations::111122223333:organization/o-abcdefghij';
const OU = 'arn:aws:organizations::111122223333:ou/o-abcdefghij/ou-ab12-cdefgh12';
const WEB = instanceIdOf(1);

const shareWorld = (dryRun = false): World<ShareEc2> => world(shareEc2, { now: NOW, rotation: { dryRun } });

/** A good image of the lineage, as a bake of `source` leaves it, with `snapshots` snapshots. */
function good(w: World, n: number, opts: { lineage?: string; status?: string; source?: string; snapshots?: number } = {}): FakeImage {
  const source = opts.source ?? WEB;
  return w.account.addImage({
    name: `${STACK}/${opts.lineage ?? 'web'}/nightly/2026-11-2${n}`,
    snapshotIds: Array.from({ length: opts.snapshots ?? 1 }, (_, i) => `snap-${(n * 10 + i).toString(16).padStart(17, '0')}`),
    tags: {
      [TAG.managedBy]: STACK,
      [TAG.lineage]: opts.lineage ?? 'web',
      [TAG.status]: opts.status ?? 'good',
      [TAG.sourceInstance]: source,
    },
  });
}

const web = (w: World, tags: Record<string, string>) =>
  w.account.addInstance(WEB, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web', ...tags });
const run = (w: World<ShareEc2>, dryRun?: boolean) => shareImages({ dryRun }, w.deps);
const modifying = (w: World) => w.account.calls.filter((c) => c.action.startsWith('Modify') || c.action === 'DescribeImageAttribute');

describe('shareImages: a lineage shared', () => {
  it('gives its good images the launch permissions the tag names, records the digest, and reports it', async () => {
    // Prepare
    const w = shareWorld();
    web(w, { [TAG.share]: `${A},${ORG},${OU}` });
    const [one, two] = [good(w, 1), good(w, 2)];

    // Act
    const report = await run(w);

    // Assess
    for (const image of [one!, two!]) {
      expect(image.launchPermissions?.sort()).toEqual([A, ORG, OU].sort());
      expect(image.tags[TAG.shared]).toMatch(/^[0-9a-f]{16}$/);
      // Snapshots were never shared and none are asked for: not even read.
      expect(w.account.snapshotPermissions.get(image.snapshotIds[0]!)).toBeUndefined();
    }
    expect(w.account.callCount('DescribeSnapshotAttribute')).toBe(0);
    expect(report).toMatchObject({ planned: 2, shared: 2, unchanged: 0, failures: [] });
    expect(w.metrics.total('ImagesShared')).toBe(2);
  });

  it('makes no call per image on the next run: the digest says it is done', async () => {
    const w = shareWorld();
    web(w, { [TAG.share]: A });
    good(w, 1);
    await run(w);
    w.account.calls.length = 0;

    const report = await run(w);

    expect(report).toMatchObject({ planned: 0, shared: 0, unchanged: 1 });
    expect(w.account.calls.map((c) => c.action).sort()).toEqual(['DescribeImages', 'DescribeImages', 'DescribeInstances']);
  });

  it('removes a name taken off the tag, and only that one', async () => {
    const w = shareWorld();
    const instance = web(w, { [TAG.share]: `${A},${B}` });
    const image = good(w, 1);
    await run(w);
    instance.tags[TAG.share] = B;

    await run(w);

    expect(image.launchPermissions).toEqual([B]);
  });

  it('shares the snapshots with the accounts only (no organization, no OU), and takes them back when share-snapshots goes', async () => {
    const w = shareWorld();
    const instance = web(w, { [TAG.share]: `${A},${ORG}`, [TAG.shareSnapshots]: 'true' });
    const image = good(w, 1, { snapshots: 2 });

    await run(w);
    expect(image.snapshotIds.map((s) => w.account.snapshotPermissions.get(s))).toEqual([[A], [A]]);

    delete instance.tags[TAG.shareSnapshots];
    await run(w);
    expect(image.snapshotIds.map((s) => w.account.snapshotPermissions.get(s))).toEqual([[], []]);
    expect(image.launchPermissions?.sort()).toEqual([A, ORG].sort());
  });

  it('removes everything it shared when the tag goes', async () => {
    const w = shareWorld();
    const instance = web(w, { [TAG.share]: A });
    const image = good(w, 1);
    await run(w);
    delete instance.tags[TAG.share];

    await run(w);

    expect(image.launchPermissions).toEqual([]);
  });

  it('keeps what images carry when the lineage has no live instance', async () => {
    const w = shareWorld();
    const instance = web(w, { [TAG.share]: A });
    const image = good(w, 1);
    await run(w);
    instance.state = 'terminated';

    const report = await run(w);

    expect(image.launchPermissions).toEqual([A]);
    expect(report.kept).toEqual([{ lineage: 'web', reason: 'no live instance of the lineage' }]);
  });

  it('leaves pending, failed and bad images, and images the stack did not make, as they are', async () => {
    const w = shareWorld();
    web(w, { [TAG.share]: A });
    const images = [good(w, 1, { status: 'pending' }), good(w, 2, { status: 'bad' }), good(w, 3, { source: instanceIdOf(9) })];
    images[2]!.sourceInstanceId = 'i-0ffffffffffffffff';

    const report = await run(w);

    expect(report.planned).toBe(0);
    for (const image of images) expect(image.launchPermissions).toBeUndefined();
  });

  it('in a dry run plans and changes nothing', async () => {
    const w = shareWorld(true);
    web(w, { [TAG.share]: A });
    const image = good(w, 1);

    const report = await run(w);

    expect(report).toMatchObject({ dryRun: true, planned: 1, shared: 0 });
    expect(image.launchPermissions).toBeUndefined();
    expect(modifying(w)).toEqual([]);
  });
});

describe('shareImages: refusals and failures', () => {
  it('refuses all with PolicyInvalid and changes nothing of the lineage', async () => {
    const w = shareWorld();
    const instance = web(w, { [TAG.share]: A });
    const image = good(w, 1);
    await run(w);
    const digest = image.tags[TAG.shared];
    instance.tags[TAG.share] = `${B},all`;
    w.account.calls.length = 0;

    const report = await run(w);

    expect(image.launchPermissions).toEqual([A]);
    expect(image.tags[TAG.shared]).toBe(digest);
    expect(modifying(w)).toEqual([]);
    expect(report.policyInvalid).toBe(1);
    const [event] = w.bus.ofType('PolicyInvalid');
    expect(v.parse(PolicyInvalid, event)).toMatchObject({
      instanceId: WEB,
      schedule: 'rotate',
      slot: '2026-11-26',
      bakeSkipped: false,
      problems: [{ tag: TAG.share, value: `${B},all` }],
    });
  });

  it('one image refused does not stop the others, and is done on the next run', async () => {
    const w = shareWorld();
    web(w, { [TAG.share]: A });
    const [one, two] = [good(w, 1), good(w, 2)];
    w.account.shareFailures.set(
      `ModifyImageAttribute ${one!.imageId}`,
      new AwsCallError(
        'InvalidParameter',
        'ModifyImageAttribute',
        'Snapshots encrypted with the AWS managed key cannot be shared',
        false,
        400,
      ),
    );

    const first = await run(w);
    expect(first.failures).toMatchObject([{ resourceId: one!.imageId, action: 'ModifyImageAttribute', errorCode: 'InvalidParameter' }]);
    expect(two!.launchPermissions).toEqual([A]);
    expect(one!.tags[TAG.shared]).toBeUndefined();
    expect(w.metrics.total('SharingFailures')).toBe(1);

    w.account.shareFailures.clear();
    const second = await run(w);
    expect(second).toMatchObject({ shared: 1, failures: [] });
    expect(one!.launchPermissions).toEqual([A]);
  });
});

describe('shareImages: the public sweep', () => {
  it('removes the public permission of a managed image made public by anyone, keeps its shares, and says so', async () => {
    const w = shareWorld();
    web(w, { [TAG.share]: A });
    const image = good(w, 1);
    await run(w);
    image.launchPermissions = [...(image.launchPermissions ?? []), 'all'];

    const report = await run(w);

    expect(image.launchPermissions).toEqual([A]);
    expect(report.public).toEqual({ found: 1, revoked: [image.imageId], notOurs: [] });
    const [event] = w.bus.ofType('ImagePublicAccessRevoked');
    expect(v.parse(ImagePublicAccessRevoked, event)).toEqual({
      managedBy: STACK,
      imageId: image.imageId,
      imageName: image.name,
      lineage: 'web',
      revokedAt: NOW.toISOString(),
    });
    expect(w.metrics.total('PublicImagesRevoked')).toBe(1);
  });

  it('revokes public access on images of any status, with or without a sharing tag', async () => {
    const w = shareWorld();
    const image = good(w, 1, { status: 'failed' });
    image.launchPermissions = ['all'];

    await run(w);

    expect(image.launchPermissions).toEqual([]);
  });

  it('reports, and never touches, a public image with the stack tags that the stack did not make', async () => {
    const w = shareWorld();
    const copy = good(w, 1);
    copy.sourceInstanceId = '';
    copy.launchPermissions = ['all'];

    const report = await run(w);

    expect(copy.launchPermissions).toEqual(['all']);
    expect(report.public).toEqual({ found: 1, revoked: [], notOurs: [copy.imageId] });
    expect(w.bus.ofType('ImagePublicAccessRevoked')).toEqual([]);
  });

  it('in a dry run finds the public image and leaves it', async () => {
    const w = shareWorld(true);
    const image = good(w, 1);
    image.launchPermissions = ['all'];

    const report = await run(w);

    expect(image.launchPermissions).toEqual(['all']);
    expect(report.public).toEqual({ found: 1, revoked: [], notOurs: [] });
  });

  it('a duplicate run changes nothing and says nothing new', async () => {
    const w = shareWorld();
    web(w, { [TAG.share]: A });
    const image = good(w, 1);
    image.launchPermissions = ['all'];
    await run(w);
    const published = w.bus.published.length;
    w.account.calls.length = 0;

    await run(w);

    expect(modifying(w)).toEqual([]);
    expect(w.bus.published.length).toBe(published);
  });
});
