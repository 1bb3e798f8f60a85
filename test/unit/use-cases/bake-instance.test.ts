import { describe, expect, it } from 'vitest';
import { ImageBakeFailed, type BakeRequested } from '../../../shared/domain/events.js';
import { TAG } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/runtime/errors.js';
import { bakeInstance } from '../../../shared/use-cases/bake-instance.js';
import { instanceIdOf, STACK, throttled, world } from '../fakes.js';

const ID = instanceIdOf(1);
const NAME = `${STACK}/web/nightly/2026-11-26`;

const request = (overrides: Partial<BakeRequested> = {}): BakeRequested => ({
  managedBy: STACK,
  instanceId: ID,
  lineage: 'web',
  assignLineage: false,
  instanceName: 'web-1',
  schedule: 'nightly',
  slot: '2026-11-26',
  reboot: false,
  requestedAt: '2026-11-26T01:00:05.000Z',
  ...overrides,
});

describe('bakeInstance: a first bake', () => {
  it('creates the image with its name, NoReboot and tags on image and snapshots', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web', Name: 'web-1' }, 'running', 2);

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome).toEqual({ status: 'created', imageId: expect.stringMatching(/^ami-/), imageName: NAME });
    const image = w.ec2.images.get((outcome as { imageId: string }).imageId)!;
    expect(image).toMatchObject({ name: NAME, state: 'pending', sourceInstanceId: ID, noReboot: true });
    expect(image.tags).toEqual({
      [TAG.managedBy]: STACK,
      [TAG.lineage]: 'web',
      [TAG.sourceInstance]: ID,
      [TAG.schedule]: 'nightly',
      [TAG.slot]: '2026-11-26',
      [TAG.status]: 'pending',
      Name: 'web-1',
    });
    expect(image.snapshotIds).toHaveLength(2);
    for (const s of image.snapshotIds) expect(w.ec2.snapshotTags.get(s)).toEqual(image.tags);
    expect(w.bus.calls).toEqual([]);
  });

  it('asks for a reboot when the request says so (NoReboot false)', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });

    // Act
    await bakeInstance(request({ reboot: true }), w.deps);

    // Assess
    expect(w.ec2.createImageCalls.map((c) => c.noReboot)).toEqual([false]);
  });
});

describe('bakeInstance: idempotency', () => {
  it('makes one image from the same request delivered three times: created, already-baked, already-baked', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    const req = request();

    // Act
    const outcomes = [];
    for (let i = 0; i < 3; i++) outcomes.push(await bakeInstance(req, w.deps));

    // Assess
    expect(outcomes.map((o) => o.status)).toEqual(['created', 'already-baked', 'already-baked']);
    const imageId = (outcomes[0] as { imageId: string }).imageId;
    expect(outcomes).toEqual([
      { status: 'created', imageId, imageName: NAME },
      { status: 'already-baked', imageId, imageName: NAME, state: 'pending' },
      { status: 'already-baked', imageId, imageName: NAME, state: 'pending' },
    ]);
    expect(w.ec2.images.size).toBe(1);
    expect(w.ec2.createImageCalls).toHaveLength(3);
    expect(w.bus.calls).toEqual([]);
  });

  it('gives the same image to a retried request with a later requestedAt', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });

    // Act
    const first = await bakeInstance(request(), w.deps);
    const retry = await bakeInstance(request({ requestedAt: '2026-11-26T01:09:59.000Z', reboot: true }), w.deps);

    // Assess
    expect(retry).toMatchObject({ status: 'already-baked', imageId: (first as { imageId: string }).imageId });
    expect(w.ec2.images.size).toBe(1);
  });

  it('reports the current state of the image already baked for the slot', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    const first = (await bakeInstance(request(), w.deps)) as { imageId: string };
    w.ec2.setImageState(first.imageId, 'available');

    // Act
    const again = await bakeInstance(request(), w.deps);

    // Assess
    expect(again).toEqual({ status: 'already-baked', imageId: first.imageId, imageName: NAME, state: 'available' });
  });

  it('rethrows, retryable, when EC2 says the name is taken but the image is not visible yet', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    await bakeInstance(request(), w.deps);
    w.ec2.hideName(NAME);

    // Act
    const act = bakeInstance(request(), w.deps);

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'InvalidAMIName.Duplicate', retryable: true });
    expect(w.bus.calls).toEqual([]);
  });
});

describe('bakeInstance: refusals', () => {
  it.each([
    ['with a lineage to assign (CreateTags fails first)', true],
    ['with a lineage already set (CreateImage fails)', false],
  ])('reports a vanished instance %s as failed with one ImageBakeFailed, without throwing', async (_label, assignLineage) => {
    // Prepare
    const w = world();
    const req = request({ assignLineage, lineage: assignLineage ? ID : 'web' });

    // Act
    const outcome = await bakeInstance(req, w.deps);

    // Assess
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'InvalidInstanceID.NotFound' });
    expect((outcome as { message: string }).message).toMatch(/^the instance no longer exists: /);
    const failures = w.bus.ofType('ImageBakeFailed');
    expect(failures).toHaveLength(1);
    expect(ImageBakeFailed.parse(failures[0])).toEqual({
      managedBy: STACK,
      phase: 'create',
      instanceId: ID,
      lineage: req.lineage,
      schedule: 'nightly',
      slot: '2026-11-26',
      errorCode: 'InvalidInstanceID.NotFound',
      message: (outcome as { message: string }).message,
    });
    expect(w.bus.published).toHaveLength(1);
    expect(w.ec2.images.size).toBe(0);
    expect(w.log.at('error')).toHaveLength(1);
  });

  it('still bakes when the lineage tag is refused (UnauthorizedOperation), and warns', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly' });
    w.ec2.failTagging(ID, new AwsCallError('UnauthorizedOperation', 'CreateTags', 'not authorized', false, 403));

    // Act
    const outcome = await bakeInstance(request({ assignLineage: true, lineage: ID }), w.deps);

    // Assess
    expect(outcome.status).toBe('created');
    const [image] = [...w.ec2.images.values()];
    expect(image!.tags[TAG.lineage]).toBe(ID);
    expect(w.ec2.instances.get(ID)!.tags[TAG.lineage]).toBeUndefined();
    expect(w.log.at('warn').map((r) => r.message)).toEqual(['could not tag the instance with its lineage; baking anyway']);
    expect(w.bus.published).toHaveLength(0);
  });

  it('rethrows a retryable error (throttling) and publishes nothing, so Lambda retries', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    const error = throttled();
    w.ec2.failCreateImage(ID, error);

    // Act
    const act = bakeInstance(request(), w.deps);

    // Assess
    await expect(act).rejects.toBe(error);
    expect(w.bus.calls).toEqual([]);
    expect(w.ec2.images.size).toBe(0);
  });

  it('rethrows an error that is not an AwsCallError and publishes nothing', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    w.ec2.createImage = async () => {
      throw new TypeError('bug');
    };

    // Act
    const act = bakeInstance(request(), w.deps);

    // Assess
    await expect(act).rejects.toThrow(TypeError);
    expect(w.bus.calls).toEqual([]);
  });

  it('fails, without throwing, when the name is taken by an image this stack does not manage', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    const squatter = w.ec2.addImage({ name: NAME, tags: { [TAG.managedBy]: 'someone-else' } });

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'NameTakenByUnmanagedImage' });
    expect((outcome as { message: string }).message).toContain(squatter.imageId);
    expect(w.bus.ofType('ImageBakeFailed')).toEqual([expect.objectContaining({ phase: 'create', errorCode: 'NameTakenByUnmanagedImage' })]);
    expect(w.ec2.images.size).toBe(1);
    expect(w.ec2.images.get(squatter.imageId)!.tags).toEqual({ [TAG.managedBy]: 'someone-else' });
  });

  it('explains an instance that cannot be imaged in its state', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' }, 'shutting-down');

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'IncorrectInstanceState' });
    expect((outcome as { message: string }).message).toMatch(/^the instance is in a state that cannot be imaged: /);
  });

  it('falls back to a generic explanation for an unlisted error code', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    w.ec2.failCreateImage(ID, new AwsCallError('InvalidParameterValue', 'CreateImage', 'bad value', false, 400));

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome).toEqual({ status: 'failed', errorCode: 'InvalidParameterValue', message: 'CreateImage was refused: CreateImage: InvalidParameterValue: bad value' });
  });

  it('throws when the ImageBakeFailed event cannot be published, so the failure is not lost', async () => {
    // Prepare
    const w = world();
    w.bus.failAll('ThrottlingException');

    // Act
    const act = bakeInstance(request(), w.deps);

    // Assess
    await expect(act).rejects.toThrow(/could not publish ImageBakeFailed: ThrottlingException/);
    expect(w.bus.calls).toHaveLength(1);
    expect(w.bus.published).toEqual([]);
  });
});

describe('bakeInstance: lineage', () => {
  it('tags the instance with its lineage before imaging when assignLineage is true', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly' });

    // Act
    await bakeInstance(request({ lineage: ID, assignLineage: true }), w.deps);

    // Assess
    expect(w.ec2.instances.get(ID)!.tags[TAG.lineage]).toBe(ID);
    expect(w.ec2.tagCalls).toEqual([{ resourceIds: [ID], tags: { [TAG.lineage]: ID } }]);
    expect(w.journal.slice(0, 2)).toEqual([`tag ${ID} ${JSON.stringify({ [TAG.lineage]: ID })}`, `createImage ${STACK}/${ID}/nightly/2026-11-26`]);
  });

  it('leaves the instance tags alone when assignLineage is false', async () => {
    // Prepare
    const w = world();
    w.ec2.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });

    // Act
    await bakeInstance(request({ assignLineage: false }), w.deps);

    // Assess
    expect(w.ec2.tagCalls).toEqual([]);
    expect(w.ec2.instances.get(ID)!.tags).toEqual({ [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
  });
});
