import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { ImageBakeFailed, type BakeRequested } from '../../../shared/domain/events.js';
import { launchTemplateName, type LaunchConfig } from '../../../shared/domain/launch.js';
import { TAG } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { bakeInstance } from '../../../shared/use-cases/bake-instance.js';
import { bakeEc2, instanceIdOf, STACK, throttled, world as worldOf, type WorldOptions } from '../fakes.js';

/** A world of the bake slice only: the use case sees nothing else of EC2. */
const world = (options?: WorldOptions) => worldOf(bakeEc2, options);

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
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web', Name: 'web-1' }, 'running', 2);

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome).toEqual({ status: 'created', imageId: expect.stringMatching(/^ami-/), imageName: NAME });
    const image = w.account.images.get((outcome as { imageId: string }).imageId)!;
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
    for (const s of image.snapshotIds) expect(w.account.snapshotTags.get(s)).toEqual(image.tags);
    expect(w.bus.calls).toEqual([]);
  });

  it('asks for a reboot when the request says so (NoReboot false)', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });

    // Act
    await bakeInstance(request({ reboot: true }), w.deps);

    // Assess
    expect(w.account.createImageCalls.map((c) => c.noReboot)).toEqual([false]);
  });
});

describe('bakeInstance: idempotency', () => {
  it('makes one image from the same request delivered three times: created, already-baked, already-baked', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
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
    expect(w.account.images.size).toBe(1);
    expect(w.account.createImageCalls).toHaveLength(3);
    expect(w.bus.calls).toEqual([]);
  });

  it('gives the same image to a retried request with a later requestedAt', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });

    // Act
    const first = await bakeInstance(request(), w.deps);
    const retry = await bakeInstance(request({ requestedAt: '2026-11-26T01:09:59.000Z', reboot: true }), w.deps);

    // Assess
    expect(retry).toMatchObject({ status: 'already-baked', imageId: (first as { imageId: string }).imageId });
    expect(w.account.images.size).toBe(1);
  });

  it('reports the current state of the image already baked for the slot', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    const first = (await bakeInstance(request(), w.deps)) as { imageId: string };
    w.account.setImageState(first.imageId, 'available');

    // Act
    const again = await bakeInstance(request(), w.deps);

    // Assess
    expect(again).toEqual({ status: 'already-baked', imageId: first.imageId, imageName: NAME, state: 'available' });
  });

  it('rethrows, retryable, when EC2 says the name is taken but the image is not visible yet', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    await bakeInstance(request(), w.deps);
    w.account.hideName(NAME);

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
    expect(v.parse(ImageBakeFailed, failures[0])).toEqual({
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
    expect(w.account.images.size).toBe(0);
    expect(w.log.at('error')).toHaveLength(1);
  });

  it('still bakes when the lineage tag is refused (UnauthorizedOperation), and warns', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly' });
    w.account.failTagging(ID, new AwsCallError('UnauthorizedOperation', 'CreateTags', 'not authorized', false, 403));

    // Act
    const outcome = await bakeInstance(request({ assignLineage: true, lineage: ID }), w.deps);

    // Assess
    expect(outcome.status).toBe('created');
    const [image] = [...w.account.images.values()];
    expect(image!.tags[TAG.lineage]).toBe(ID);
    expect(w.account.instances.get(ID)!.tags[TAG.lineage]).toBeUndefined();
    expect(w.log.at('warn').map((r) => r.message)).toEqual(['could not tag the instance with its lineage; baking anyway']);
    expect(w.bus.published).toHaveLength(0);
  });

  it('rethrows a retryable error (throttling) and publishes nothing, so Lambda retries', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    const error = throttled();
    w.account.failCreateImage(ID, error);

    // Act
    const act = bakeInstance(request(), w.deps);

    // Assess
    await expect(act).rejects.toBe(error);
    expect(w.bus.calls).toEqual([]);
    expect(w.account.images.size).toBe(0);
  });

  it('rethrows an error that is not an AwsCallError and publishes nothing', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    w.deps.ec2.createImage = async () => {
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
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    const squatter = w.account.addImage({ name: NAME, tags: { [TAG.managedBy]: 'someone-else' } });

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'NameTakenByUnmanagedImage' });
    expect((outcome as { message: string }).message).toContain(squatter.imageId);
    expect(w.bus.ofType('ImageBakeFailed')).toEqual([expect.objectContaining({ phase: 'create', errorCode: 'NameTakenByUnmanagedImage' })]);
    expect(w.account.images.size).toBe(1);
    expect(w.account.images.get(squatter.imageId)!.tags).toEqual({ [TAG.managedBy]: 'someone-else' });
  });

  it('explains an instance that cannot be imaged in its state', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' }, 'shutting-down');

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'IncorrectInstanceState' });
    expect((outcome as { message: string }).message).toMatch(/^the instance is in a state that cannot be imaged: /);
  });

  it('falls back to a generic explanation for an unlisted error code', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    w.account.failCreateImage(ID, new AwsCallError('InvalidParameterValue', 'CreateImage', 'bad value', false, 400));

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome).toEqual({
      status: 'failed',
      errorCode: 'InvalidParameterValue',
      message: 'CreateImage was refused: CreateImage: InvalidParameterValue: bad value',
    });
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
    w.account.addInstance(ID, { [TAG.bake]: 'nightly' });

    // Act
    await bakeInstance(request({ lineage: ID, assignLineage: true }), w.deps);

    // Assess
    expect(w.account.instances.get(ID)!.tags[TAG.lineage]).toBe(ID);
    expect(w.account.tagCalls).toEqual([{ resourceIds: [ID], tags: { [TAG.lineage]: ID } }]);
    expect(w.journal.slice(0, 2)).toEqual([
      `tag ${ID} ${JSON.stringify({ [TAG.lineage]: ID })}`,
      `createImage ${STACK}/${ID}/nightly/2026-11-26`,
    ]);
  });

  it('leaves the instance tags alone when assignLineage is false', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });

    // Act
    await bakeInstance(request({ assignLineage: false }), w.deps);

    // Assess
    expect(w.account.tagCalls).toEqual([]);
    expect(w.account.instances.get(ID)!.tags).toEqual({ [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
  });
});

describe('bakeInstance: capturing the launch configuration', () => {
  const DIGEST = '0123456789abcdef';
  const TEMPLATE = launchTemplateName(STACK, 'web');
  const USER_DATA = Buffer.from('#!/bin/sh\necho hello\n').toString('base64');
  const EIP = { allocationId: 'eipalloc-0web', publicIp: '203.0.113.10' };
  const config: LaunchConfig = {
    instanceType: 't3.small',
    subnetId: 'subnet-0aaaaaaaaaaaaaaaa',
    securityGroupIds: ['sg-0bbbbbbbbbbbbbbbb'],
    keyName: 'ops',
    iamInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/web',
    ebsOptimized: true,
    monitoring: false,
    metadataOptions: { httpTokens: 'required' },
    elasticIp: EIP.publicIp,
    tags: { Name: 'web-1', [TAG.bake]: 'nightly', [TAG.lineage]: 'web', [TAG.recover]: 'on-failure' },
  };
  const capturing = (overrides: Partial<BakeRequested> = {}) => request({ capture: { digest: DIGEST, config }, ...overrides });

  /** The instance with its user data and its Elastic IP. */
  function arranged() {
    const w = world();
    const instance = w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web', [TAG.recover]: 'on-failure' });
    instance.userData = USER_DATA;
    const address = w.account.addAddress({ ...EIP, instanceId: ID });
    return { w, instance, address };
  }

  it('saves the configuration with the user data as a version of the lineage template, tagged managed-by and lineage', async () => {
    // Prepare
    const { w } = arranged();

    // Act
    const outcome = await bakeInstance(capturing(), w.deps);

    // Assess
    expect(outcome).toEqual({ status: 'created', imageId: expect.stringMatching(/^ami-/), imageName: NAME, launchTemplateVersion: 1 });
    expect(w.account.savedLaunchConfigs.get(TEMPLATE)).toEqual([
      {
        config: { ...config, userData: USER_DATA },
        tags: { [TAG.managedBy]: STACK, [TAG.lineage]: 'web' },
        description: 'captured at 2026-11-26T01:00:05.000Z',
        // The instance with the digest: another instance of the lineage may share the digest.
        revision: `from ${ID}, digest ${DIGEST}`,
      },
    ]);
    expect([...w.account.savedLaunchConfigs.keys()]).toEqual([TEMPLATE]);
    expect(w.bus.calls).toEqual([]);
  });

  it('tags the Elastic IP with the lineage and, last, the instance with the digest', async () => {
    // Prepare
    const { w, instance, address } = arranged();

    // Act
    await bakeInstance(capturing(), w.deps);

    // Assess
    expect(address.tags).toEqual({ [TAG.lineage]: 'web' });
    expect(address.instanceId).toBe(ID);
    expect(instance.tags[TAG.captured]).toBe(DIGEST);
    // The image first; the digest only once everything is saved, so a crash before it is captured again.
    expect(w.journal).toEqual([
      `createImage ${NAME}`,
      'ReadUserData',
      'ReadCaptureSettings',
      'SaveLaunchConfig',
      'TagElasticIp',
      `tag ${ID} ${JSON.stringify({ [TAG.captured]: DIGEST })}`,
    ]);
  });

  it('saves a configuration without Elastic IP or user data, and tags no address', async () => {
    // Prepare
    const { w, instance, address } = arranged();
    delete instance.userData;
    const { elasticIp: _none, ...withoutIp } = config;
    void _none;

    // Act
    const outcome = await bakeInstance(request({ capture: { digest: DIGEST, config: withoutIp } }), w.deps);

    // Assess
    expect(outcome).toMatchObject({ status: 'created', launchTemplateVersion: 1 });
    expect(w.account.savedLaunchConfigs.get(TEMPLATE)![0]!.config).toEqual({ ...withoutIp, userData: undefined });
    expect(w.account.recoveryCalls).toEqual(['ReadUserData', 'ReadCaptureSettings', 'SaveLaunchConfig']);
    expect(address.tags).toEqual({});
    expect(instance.tags[TAG.captured]).toBe(DIGEST);
  });

  it('makes no capture call when the request has no capture', async () => {
    // Prepare
    const { w, instance } = arranged();

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome).toEqual({ status: 'created', imageId: expect.stringMatching(/^ami-/), imageName: NAME });
    expect(w.account.recoveryCalls).toEqual([]);
    expect(w.account.savedLaunchConfigs.size).toBe(0);
    expect(instance.tags[TAG.captured]).toBeUndefined();
  });

  it('a duplicate on the already-baked path answers the version saved already and adds none', async () => {
    // Prepare: the slot was baked (and captured) by an earlier delivery
    const { w, instance } = arranged();
    const first = (await bakeInstance(capturing(), w.deps)) as { imageId: string };

    // Act
    const again = await bakeInstance(capturing(), w.deps);

    // Assess
    expect(again).toEqual({ status: 'already-baked', imageId: first.imageId, imageName: NAME, state: 'pending', launchTemplateVersion: 1 });
    expect(w.account.images.size).toBe(1);
    expect(w.account.savedLaunchConfigs.get(TEMPLATE)).toHaveLength(1);
    expect(instance.tags[TAG.captured]).toBe(DIGEST);
  });

  it('finishes on a retry a capture that a transient error interrupted after the image was made', async () => {
    // Prepare
    const { w, instance } = arranged();
    const error = throttled('CreateLaunchTemplateVersion');
    w.account.failRecoveryCall('SaveLaunchConfig', error);

    // Act
    const act = bakeInstance(capturing(), w.deps);

    // Assess
    await expect(act).rejects.toBe(error);
    expect(w.account.images.size).toBe(1);
    expect(w.account.savedLaunchConfigs.size).toBe(0);
    expect(instance.tags[TAG.captured]).toBeUndefined();
    expect(w.bus.calls).toEqual([]);

    // Act: Lambda retries
    w.account.failRecoveryCall('SaveLaunchConfig', undefined);
    const retry = await bakeInstance(capturing(), w.deps);

    // Assess
    expect(retry).toMatchObject({ status: 'already-baked', launchTemplateVersion: 1 });
    expect(w.account.images.size).toBe(1);
    expect(instance.tags[TAG.captured]).toBe(DIGEST);
  });

  it.each([
    ['SaveLaunchConfig', 'CreateLaunchTemplateVersion', 'UnauthorizedOperation'],
    ['ReadUserData', 'DescribeInstanceAttribute', 'UnauthorizedOperation'],
    ['TagElasticIp', 'CreateTags', 'UnauthorizedOperation'],
  ])('reports a permanent refusal of %s as captureFailed, keeps the image and leaves the digest off', async (call, action, code) => {
    // Prepare
    const { w, instance } = arranged();
    w.account.failRecoveryCall(call, new AwsCallError(code, action, 'not authorized', false, 403));

    // Act
    const outcome = await bakeInstance(capturing(), w.deps);

    // Assess
    expect(outcome).toEqual({
      status: 'created',
      imageId: expect.stringMatching(/^ami-/),
      imageName: NAME,
      captureFailed: `${action}: ${code}`,
    });
    expect(w.account.images.size).toBe(1);
    expect(instance.tags[TAG.captured]).toBeUndefined();
    expect(w.log.at('warn').map((r) => r.message)).toEqual(['could not capture the launch configuration; the next bake tries again']);
    expect(w.log.at('error')).toEqual([]);
    expect(w.bus.calls).toEqual([]);
  });

  // Issue 21: an instance at EC2's 50-tag limit refuses the digest tag; its configuration is
  // captured all the same (in the launch template), and the next run adds no version.
  it('keeps the capture when the instance refuses the digest tag (TagLimitExceeded), and adds no version the next time', async () => {
    // Prepare
    const { w, instance } = arranged();
    w.account.failTagging(ID, new AwsCallError('TagLimitExceeded', 'CreateTags', "'i-...' would have more than 50 tags", false, 400));

    // Act: the night's bake, then the request again (the next run asks again: no digest on the instance)
    const outcome = await bakeInstance(capturing(), w.deps);
    const again = await bakeInstance(capturing(), w.deps);

    // Assess
    expect(outcome).toMatchObject({ status: 'created', launchTemplateVersion: 1, digestNotKept: 'TagLimitExceeded' });
    expect(outcome).not.toHaveProperty('captureFailed');
    expect(again).toMatchObject({ status: 'already-baked', launchTemplateVersion: 1, digestNotKept: 'TagLimitExceeded' });
    expect(w.account.savedLaunchConfigs.size).toBe(1);
    expect(instance.tags[TAG.captured]).toBeUndefined();
    expect(w.log.at('warn').map((r) => r.message)).toContain(
      'launch configuration captured, but its digest could not be kept on the instance; the next run captures again',
    );
  });

  it('does not try to capture when CreateImage is refused for good', async () => {
    // Prepare
    const { w, instance } = arranged();
    w.account.failCreateImage(ID, new AwsCallError('UnauthorizedOperation', 'CreateImage', 'not authorized', false, 403));

    // Act
    const outcome = await bakeInstance(capturing(), w.deps);

    // Assess
    expect(outcome).toMatchObject({ status: 'failed', errorCode: 'UnauthorizedOperation' });
    expect(outcome).not.toHaveProperty('captureFailed');
    expect(w.account.recoveryCalls).toEqual([]);
    expect(w.account.savedLaunchConfigs.size).toBe(0);
    expect(instance.tags[TAG.captured]).toBeUndefined();
    expect(w.bus.ofType('ImageBakeFailed')).toHaveLength(1);
  });
});

describe('bakeInstance: metrics', () => {
  it('counts one ImagesBaked when CreateImage makes the image, and nothing else', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });

    // Act
    await bakeInstance(request(), w.deps);

    // Assess
    expect(w.metrics.records).toEqual([{ name: 'ImagesBaked', unit: 'Count', value: 1 }]);
  });

  it('counts one ImagesBaked for the same request delivered three times: the duplicates are already baked', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });

    // Act
    for (let i = 0; i < 3; i++) await bakeInstance(request(), w.deps);

    // Assess
    expect(w.metrics.totals()).toEqual({ ImagesBaked: 1 });
  });

  it('counts no ImagesBaked for a retry that finds the image an earlier delivery made', async () => {
    // Prepare: the slot was baked earlier, by this stack
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    w.account.addImage({
      name: NAME,
      tags: { [TAG.managedBy]: STACK, [TAG.lineage]: 'web', [TAG.sourceInstance]: ID, [TAG.status]: 'good' },
    });

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome.status).toBe('already-baked');
    expect(w.metrics.records).toEqual([]);
  });

  it.each([
    [
      'the instance is gone',
      (w: ReturnType<typeof world>) =>
        w.account.failCreateImage(ID, new AwsCallError('InvalidInstanceID.NotFound', 'CreateImage', 'gone', false, 400)),
    ],
    [
      'the name is taken by an image this stack does not manage',
      (w: ReturnType<typeof world>) => void w.account.addImage({ name: NAME, tags: { owner: 'someone' } }),
    ],
  ])('counts one ImageBakesFailed, and no ImagesBaked, when %s', async (_label, arrangeFailure) => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    arrangeFailure(w);

    // Act
    const outcome = await bakeInstance(request(), w.deps);

    // Assess
    expect(outcome.status).toBe('failed');
    expect(w.metrics.records).toEqual([{ name: 'ImageBakesFailed', unit: 'Count', value: 1 }]);
  });

  it('counts the failed bake once, on the retry that publishes ImageBakeFailed, not on the run that could not', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' }, 'shutting-down');
    w.bus.failAll('ThrottlingException');

    // Act
    await expect(bakeInstance(request(), w.deps)).rejects.toThrow(/could not publish ImageBakeFailed/);
    const countedBeforeRetry = w.metrics.totals();
    w.bus.heal();
    await bakeInstance(request(), w.deps);

    // Assess
    expect(countedBeforeRetry).toEqual({});
    expect(w.metrics.totals()).toEqual({ ImageBakesFailed: 1 });
  });

  it('counts nothing for transient trouble, which goes back to Lambda for a retry', async () => {
    // Prepare
    const w = world();
    w.account.addInstance(ID, { [TAG.bake]: 'nightly', [TAG.lineage]: 'web' });
    w.account.failCreateImage(ID, throttled());

    // Act
    const act = bakeInstance(request(), w.deps);

    // Assess
    await expect(act).rejects.toMatchObject({ retryable: true });
    expect(w.metrics.records).toEqual([]);
  });
});
