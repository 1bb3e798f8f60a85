/**
 * The in-memory rotation slice must answer the rotation calls the way Ec2Gateway does against
 * EC2, or the use-case tests prove nothing: these pin the behaviours they rely on.
 */
import { describe, expect, it } from 'vitest';
import { TAG } from '../../shared/domain/tags.js';
import { AwsCallError } from '../../shared/use-cases/errors.js';
import { DEFAULT_SNAPSHOT_BYTES, FakeEc2Account, ROTATION_DEFAULTS, rotationEc2, STACK, throttled, world } from './fakes.js';

const NOW = new Date('2026-11-26T06:00:00.000Z');
/** An account and the rotation slice over it, in one object: arranged and asked alike. */
const fake = (pageSize?: number) => {
  const account = new FakeEc2Account({ clock: () => NOW, ...(pageSize ? { pageSize } : {}) });
  return Object.assign(account, rotationEc2(account));
};
const managed = { [TAG.managedBy]: STACK, [TAG.lineage]: 'web', [TAG.status]: 'good' };

async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[][]> {
  const out: T[][] = [];
  for await (const page of pages) out.push(page);
  return out;
}

describe('rotationEc2 listings', () => {
  it('pages the images of one stack only, one call per page', async () => {
    // Prepare
    const ec2 = fake(2);
    for (let i = 0; i < 5; i++) ec2.addImage({ name: `n${i}`, tags: managed });
    ec2.addImage({ name: 'theirs', tags: { [TAG.managedBy]: 'other' } });

    // Act
    const pages = await collect(ec2.listManagedImages(STACK));

    // Assess
    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(ec2.callCount('DescribeImages')).toBe(3);
  });

  it('answers one empty page, in one call, when nothing matches (as a paginator does)', async () => {
    // Prepare
    const ec2 = fake();

    // Act
    const pages = await collect(ec2.listManagedSnapshots(STACK));

    // Assess
    expect(pages).toEqual([[]]);
    expect(ec2.callCount('DescribeSnapshots')).toBe(1);
  });

  it('lists managed snapshots with their size (8 GiB unless set) and start time', async () => {
    // Prepare
    const ec2 = fake();
    const image = ec2.addImage({ name: 'n', tags: managed, creationDate: '2026-11-20T03:00:00.000Z' });
    const orphan = ec2.addSnapshot({ tags: { [TAG.managedBy]: STACK }, sizeBytes: 123, startTime: '2026-11-01T00:00:00Z' });
    ec2.addSnapshot({ tags: { [TAG.managedBy]: 'other' } });

    // Act
    const [page] = await collect(ec2.listManagedSnapshots(STACK));

    // Assess
    expect(page).toEqual([
      {
        snapshotId: image.snapshotIds[0],
        sizeBytes: DEFAULT_SNAPSHOT_BYTES,
        startTime: new Date('2026-11-20T03:00:00.000Z'),
        tags: managed,
      },
      { snapshotId: orphan, sizeBytes: 123, startTime: new Date('2026-11-01T00:00:00Z'), tags: { [TAG.managedBy]: STACK } },
    ]);
  });

  it('lists every instance but terminated ones, with its image', async () => {
    // Prepare
    const ec2 = fake();
    ec2.addInstance('i-1', {}, 'running', 1, 'ami-1');
    ec2.addInstance('i-2', {}, 'stopped', 1, 'ami-2');
    ec2.addInstance('i-3', {}, 'terminated', 1, 'ami-3');
    ec2.addInstance('i-4', {}, 'shutting-down');

    // Act
    const [page] = await collect(ec2.listInstances());

    // Assess
    expect(page).toEqual([
      { instanceId: 'i-1', state: 'running', tags: {}, imageId: 'ami-1' },
      { instanceId: 'i-2', state: 'stopped', tags: {}, imageId: 'ami-2' },
      { instanceId: 'i-4', state: 'shutting-down', tags: {} },
    ]);
  });

  it('reports the default and the latest version of each launch template, once when they are the same, skipping versions without an image', async () => {
    // Prepare
    const ec2 = fake();
    ec2.addLaunchTemplate('lt-1', [
      { version: 1, imageId: 'ami-1', isDefault: true },
      { version: 2, imageId: 'ami-2', isDefault: false },
      { version: 3, imageId: 'ami-3', isDefault: false },
    ]);
    ec2.addLaunchTemplate('lt-2', [{ version: 4, imageId: 'ami-4', isDefault: true }]);
    ec2.addLaunchTemplate('lt-3', [{ version: 1, imageId: undefined, isDefault: true }]);

    // Act
    const [page] = await collect(ec2.listLaunchTemplateImages());

    // Assess
    expect(page).toEqual([
      { launchTemplateId: 'lt-1', version: 1, isDefault: true, imageId: 'ami-1' },
      { launchTemplateId: 'lt-1', version: 3, isDefault: false, imageId: 'ami-3' },
      { launchTemplateId: 'lt-2', version: 4, isDefault: true, imageId: 'ami-4' },
    ]);
  });

  it('fails a listing on demand', async () => {
    // Prepare
    const ec2 = fake();
    ec2.failListing('DescribeInstances', throttled('DescribeInstances'));

    // Act
    const act = collect(ec2.listInstances());

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'RequestLimitExceeded' });
  });
});

describe('rotationEc2 findImageReferences', () => {
  it('answers the references of the images asked about, in one call per 10', async () => {
    // Prepare
    const ec2 = fake();
    ec2.addImageReference('ami-1', 'ec2:Instance arn:i');
    ec2.addImageReference('ami-2', 'ssm:Parameter arn:p');
    const ids = ['ami-1', ...Array.from({ length: 15 }, (_, i) => `ami-x${i}`)];

    // Act
    const check = await ec2.findImageReferences(ids);

    // Assess
    expect(check).toEqual({ references: new Map([['ami-1', ['ec2:Instance arn:i']]]), unverified: new Map() });
    expect(ec2.calls.filter((c) => c.action === 'DescribeImageReferences').map((c) => c.ids.length)).toEqual([10, 6]);
  });

  it('answers every id unverified where the call is not offered, or refused', async () => {
    // Prepare
    const notOffered = fake();
    notOffered.imageReferencesOffered = false;
    const refused = fake();
    refused.failImageReferencesCall(2, new AwsCallError('UnauthorizedOperation', 'DescribeImageReferences', 'no', false, 403));
    const ids = Array.from({ length: 12 }, (_, i) => `ami-${i}`);

    // Act
    const a = await notOffered.findImageReferences(['ami-1']);
    const b = await refused.findImageReferences(ids);

    // Assess
    expect(a.unverified.get('ami-1')).toMatchObject({ errorCode: 'InvalidAction' });
    expect([...b.unverified.keys()]).toEqual(ids.slice(10));
    expect(b.unverified.get('ami-10')).toMatchObject({ errorCode: 'UnauthorizedOperation' });
  });
});

describe('rotationEc2 deletions', () => {
  it('deregisters with DeleteAssociatedSnapshots: the snapshots go, except one another image still uses', async () => {
    // Prepare
    const ec2 = fake();
    const a = ec2.addImage({ name: 'a', tags: managed, snapshotIds: ['snap-a', 'snap-shared'] });
    const b = ec2.addImage({ name: 'b', tags: managed, snapshotIds: ['snap-shared'] });

    // Act
    const result = await ec2.deregisterImage(a.imageId);

    // Assess
    expect(result).toBe('deregistered');
    expect(ec2.images.has(a.imageId)).toBe(false);
    expect(ec2.snapshotTags.has('snap-a')).toBe(false);
    expect(ec2.snapshotTags.has('snap-shared')).toBe(true);
    expect(ec2.images.has(b.imageId)).toBe(true);
  });

  it("leaves the snapshots behind when told to, and answers 'gone' for an image that is not there", async () => {
    // Prepare
    const ec2 = fake();
    const a = ec2.addImage({ name: 'a', tags: managed });
    ec2.keepSnapshotsOnDeregister = true;

    // Act
    const first = await ec2.deregisterImage(a.imageId);
    const again = await ec2.deregisterImage(a.imageId);

    // Assess
    expect([first, again]).toEqual(['deregistered', 'gone']);
    expect(ec2.snapshotTags.has(a.snapshotIds[0]!)).toBe(true);
    expect(ec2.callIds('DeregisterImage')).toEqual([a.imageId, a.imageId]);
  });

  it("refuses to delete a snapshot a registered image uses (InvalidSnapshot.InUse), and answers 'gone' for a missing one", async () => {
    // Prepare
    const ec2 = fake();
    const a = ec2.addImage({ name: 'a', tags: managed });
    const orphan = ec2.addSnapshot({ tags: managed });

    // Act
    const inUse = await ec2.deleteSnapshot(a.snapshotIds[0]!).catch((e: unknown) => e);
    const deleted = await ec2.deleteSnapshot(orphan);
    const gone = await ec2.deleteSnapshot(orphan);

    // Assess
    expect(inUse).toBeInstanceOf(AwsCallError);
    expect(inUse).toMatchObject({ code: 'InvalidSnapshot.InUse', action: 'DeleteSnapshot' });
    expect([deleted, gone]).toEqual(['deleted', 'gone']);
  });

  it('fails a chosen deregistration, snapshot deletion or deprecation until healed', async () => {
    // Prepare
    const ec2 = fake();
    const a = ec2.addImage({ name: 'a', tags: managed });
    ec2.failDeregister(a.imageId, throttled('DeregisterImage'));
    ec2.failDeprecation(a.imageId, throttled('EnableImageDeprecation'));

    // Act
    const refused = await Promise.allSettled([ec2.deregisterImage(a.imageId), ec2.enableImageDeprecation(a.imageId, NOW)]);
    ec2.heal();
    const healed = await ec2.deregisterImage(a.imageId);

    // Assess
    expect(refused.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(healed).toBe('deregistered');
  });
});

describe('rotationEc2 enableImageDeprecation', () => {
  it('records the time, rounded to the minute as EC2 does', async () => {
    // Prepare
    const ec2 = fake();
    const a = ec2.addImage({ name: 'a', tags: managed });

    // Act
    await ec2.enableImageDeprecation(a.imageId, new Date('2026-11-26T06:10:40.000Z'));
    const pages = await collect(ec2.listManagedImages(STACK));

    // Assess
    expect(a.deprecationTime).toBe('2026-11-26T06:11:00.000Z');
    expect(pages[0]![0]!.deprecationTime).toBe('2026-11-26T06:11:00.000Z');
  });

  it('refuses a time in the past and an unknown image', async () => {
    // Prepare
    const ec2 = fake();
    const a = ec2.addImage({ name: 'a', tags: managed });

    // Act
    const past = await ec2.enableImageDeprecation(a.imageId, new Date(NOW.getTime() - 60_000)).catch((e: unknown) => e);
    const unknown = await ec2.enableImageDeprecation('ami-nope', NOW).catch((e: unknown) => e);

    // Assess
    expect(past).toMatchObject({ code: 'InvalidParameterValue' });
    expect(unknown).toMatchObject({ code: 'InvalidAMIID.NotFound' });
  });
});

describe('world', () => {
  it('gives the rotation settings their defaults, and takes overrides', () => {
    // Act
    const plain = world(rotationEc2);
    const dry = world(rotationEc2, { rotation: { dryRun: true, failedGraceDays: 0 } });

    // Assess
    expect(plain.deps.rotation).toEqual({
      defaultRetention: { kind: 'count', count: 7 },
      failedGraceDays: 2,
      deprecateAfterDays: undefined,
      dryRun: false,
      timeZone: 'UTC',
      orphanGraceHours: 24,
    });
    expect(dry.deps.rotation).toEqual({ ...ROTATION_DEFAULTS, dryRun: true, failedGraceDays: 0 });
  });
});
