/**
 * Promotion against the harness: a good image goes into each kind of target its lineage names
 * (an SSM parameter of data type aws:ec2:image, a launch template's default version, an Auto
 * Scaling group's template and its instance refresh), exactly once under duplicate deliveries and
 * crashes, never over a newer image; rollback; and rotation keeping what targets received.
 */
import { describe, expect, it } from 'vitest';
import {
  CreateLaunchTemplateCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { GetParameterCommand, GetParameterHistoryCommand, SSMClient } from '@aws-sdk/client-ssm';
import {
  AutoScalingClient,
  CancelInstanceRefreshCommand,
  CreateAutoScalingGroupCommand,
  DescribeInstanceRefreshesCommand,
} from '@aws-sdk/client-auto-scaling';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { runCli } from '../harness/run-cli.js';
import { EXIT } from '../../cli/errors.js';
import { MOTO_BASE_AMI, pastNights } from '../harness/local-cloud.js';

const MANAGED_BY = 'ami-lifecycle-dev';
/** What the promote function's daily schedule hands it. */
const CATCH_UP = { 'detail-type': 'Promotion Catch-up', trigger: 'schedule' };
const PARAM = '/ami-lifecycle/web/golden';

const cloud = cloudPerFile({ env: { POWERTOOLS_LOG_LEVEL: 'SILENT' } });

const ssm = () =>
  new SSMClient({
    endpoint: cloud.moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });

async function parameter(name = PARAM): Promise<{ value?: string; version?: number; dataType?: string; history: string[] }> {
  const client = ssm();
  try {
    const { Parameter } = await client.send(new GetParameterCommand({ Name: name }));
    const { Parameters = [] } = await client.send(new GetParameterHistoryCommand({ Name: name }));
    return {
      value: Parameter?.Value,
      version: Parameter?.Version,
      dataType: Parameter?.DataType,
      history: Parameters.sort((a, b) => a.Version! - b.Version!).map((p) => p.Value!),
    };
  } catch (error) {
    if ((error as Error).name === 'ParameterNotFound') return { history: [] };
    throw error;
  } finally {
    client.destroy();
  }
}

/**
 * An image deregistered long ago: what an operator's template names before its first promotion
 * (moto's own base image is made when moto starts, newer than the nights the tests bake).
 */
const GONE = 'ami-0123456789abcdef0';

/** A launch template of the operator's, marked promotable unless told otherwise. */
async function template(name: string, promotable = true, imageId = GONE): Promise<string> {
  const { LaunchTemplate } = await cloud.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: name,
      LaunchTemplateData: { ImageId: imageId, InstanceType: 't3.micro' },
      TagSpecifications: promotable
        ? [{ ResourceType: 'launch-template', Tags: [{ Key: 'ami-lifecycle:promotable', Value: 'true' }] }]
        : undefined,
    }),
  );
  return LaunchTemplate!.LaunchTemplateId!;
}

async function templateState(name: string): Promise<{ defaultVersion: number; images: Array<string | undefined> }> {
  const { LaunchTemplates = [] } = await cloud.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [name] }));
  const { LaunchTemplateVersions = [] } = await cloud.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name }));
  return {
    defaultVersion: LaunchTemplates[0]!.DefaultVersionNumber!,
    images: LaunchTemplateVersions.sort((a, b) => a.VersionNumber! - b.VersionNumber!).map((v) => v.LaunchTemplateData?.ImageId),
  };
}

async function managedImages(): Promise<Image[]> {
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:managed-by', Values: [MANAGED_BY] }] }),
  );
  return Images.sort((a, b) => (a.CreationDate! < b.CreationDate! ? -1 : 1));
}

const promoted = () => cloud.published('ImagePromoted').map((e) => e.detail as { imageId: string; target: string; resumed: boolean });

describe('promotion of a good image', () => {
  it('writes an SSM parameter and a launch template version the night an image becomes good, and the next night again', {
    timeout: 120_000,
  }, async () => {
    // Prepare
    await template('web-lt');
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:promote': `ssm:${PARAM},lt:web-lt` });
    const [first, second] = pastNights(2);

    // Act
    await cloud.bakeCycle('nightly', first!);
    const [image1] = await managedImages();

    // Assess: the bake stamped the instance's promote tag on the image, and its ImageBaked reached promote
    expect(Object.fromEntries(image1!.Tags!.map((t) => [t.Key, t.Value]))['ami-lifecycle:promote']).toBe(`ssm:${PARAM},lt:web-lt`);
    expect(cloud.published('ImageBaked').map((e) => (e.detail as { promotes?: boolean }).promotes)).toEqual([true]);
    expect(await parameter()).toEqual({ value: image1!.ImageId, version: 1, dataType: 'aws:ec2:image', history: [image1!.ImageId] });
    expect(await templateState('web-lt')).toEqual({ defaultVersion: 2, images: [GONE, image1!.ImageId] });
    expect(
      promoted()
        .map((p) => p.target)
        .sort(),
    ).toEqual(['lt:web-lt', `ssm:${PARAM}`]);
    const tags = Object.fromEntries(image1!.Tags!.map((t) => [t.Key, t.Value]));
    expect(tags['ami-lifecycle:promoted']?.split(',').sort()).toEqual(['lt:web-lt', `ssm:${PARAM}`]);

    await cloud.bakeCycle('nightly', second!);
    const image2 = (await managedImages())[1]!;
    expect(await parameter()).toMatchObject({ value: image2.ImageId, version: 2, history: [image1!.ImageId, image2.ImageId] });
    expect(await templateState('web-lt')).toEqual({ defaultVersion: 3, images: [GONE, image1!.ImageId, image2.ImageId] });
  });
});

/** The ImageBaked event the bus delivered for the image, as EventBridge hands it to the promote function. */
function imageBaked(imageId: string): unknown {
  const record = cloud.published('ImageBaked').find((e) => (e.detail as { imageId: string }).imageId === imageId)!;
  return {
    version: '0',
    id: `event-${imageId}`,
    source: 'ami-lifecycle',
    account: '123456789012',
    time: record.time ?? new Date().toISOString(),
    region: 'us-east-1',
    resources: [],
    'detail-type': 'ImageBaked',
    detail: record.detail,
  };
}

/** One good image of an instance that names `promote`, the tag written after the bake (so nothing is promoted yet). */
async function bakedWithTargets(promote: string): Promise<{ instanceId: string; imageId: string }> {
  const [instanceId] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
  // Two nights ago: a test may bake last night's image after it.
  await cloud.bakeCycle('nightly', pastNights(2)[0]!);
  await cloud.ec2.send(new CreateTagsCommand({ Resources: [instanceId!], Tags: [{ Key: 'ami-lifecycle:promote', Value: promote }] }));
  const [image] = await managedImages();
  return { instanceId: instanceId!, imageId: image!.ImageId! };
}

/** What promotion changes: the parameter's history, the template's versions and default, the image's promoted tag. */
async function targetsState(imageId: string): Promise<unknown> {
  const { Images = [] } = await cloud.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  const tag = Images[0]?.Tags?.find((t) => t.Key === 'ami-lifecycle:promoted')?.Value;
  return { parameter: (await parameter()).history, template: await templateState('web-lt'), promoted: tag?.split(',').sort() };
}

/** The state with the image's id as `<image>`: worlds built again bake images of other ids. */
const labelled = async (imageId: string) => JSON.parse(JSON.stringify(await targetsState(imageId)).replaceAll(imageId, '<image>'));

describe('the newer-image rule and the targets an operator allows', () => {
  it('leaves a template holding a newer image alone, and promotes the other targets', { timeout: 60_000 }, async () => {
    // Prepare: the template holds moto's base image, made when moto started: newer than last night's bake
    await template('web-lt', true, MOTO_BASE_AMI);
    const { imageId } = await bakedWithTargets(`lt:web-lt,ssm:${PARAM}`);

    // Act
    await cloud.invoke('promote', imageBaked(imageId));

    // Assess
    expect(await templateState('web-lt')).toEqual({ defaultVersion: 1, images: [MOTO_BASE_AMI] });
    expect((await parameter()).value).toBe(imageId);
    expect(promoted().map((p) => p.target)).toEqual([`ssm:${PARAM}`]);
  });

  it('refuses a template not marked promotable and a parameter outside the prefix, each for itself', { timeout: 60_000 }, async () => {
    // Prepare
    await template('web-lt', false);
    const { imageId, instanceId } = await bakedWithTargets(`lt:web-lt,ssm:/elsewhere/web,ssm:${PARAM}`);

    // Act
    await cloud.invoke('promote', imageBaked(imageId));

    // Assess
    expect(await templateState('web-lt')).toEqual({ defaultVersion: 1, images: [GONE] });
    expect((await parameter()).value).toBe(imageId);
    expect(cloud.published('PromotionFailed').map((e) => e.detail)).toEqual([
      expect.objectContaining({ imageId, target: 'lt:web-lt', errorCode: 'NotPromotable' }),
    ]);
    expect(cloud.published('PolicyInvalid').map((e) => e.detail)).toEqual([
      expect.objectContaining({
        instanceId,
        bakeSkipped: false,
        problems: [expect.objectContaining({ tag: 'ami-lifecycle:promote', value: 'ssm:/elsewhere/web' })],
      }),
    ]);
  });

  it('IAM refuses what the role must not do: a template not marked promotable, a parameter outside the prefix', {
    timeout: 60_000,
  }, async () => {
    // Prepare
    const id = await template('other-lt', false);
    const { imageId } = await bakedWithTargets(`ssm:${PARAM}`);
    const { productionDeps } = await import('../../shared/runtime/deps.js');
    const { promoteEc2 } = await import('../../shared/aws/ec2/gateways.js');
    const { SsmGateway } = await import('../../shared/aws/ssm-gateway.js');
    const { ssmClient } = await import('../../shared/aws/clients.js');
    cloud.expectDenials(2);

    // Act: the calls the use case never makes, made as the promote function
    const ec2 = productionDeps(promoteEc2).ec2;
    const version = cloud.asFunction('promote', () => ec2.createImageVersion(id, 1, imageId, 'token-1', 'by hand'));
    await expect(version).rejects.toMatchObject({ code: 'UnauthorizedOperation' });
    const put = cloud.asFunction('promote', () => new SsmGateway(ssmClient()).putImageParameter('/elsewhere/web', imageId, 'by hand'));

    // Assess
    await expect(put).rejects.toMatchObject({ code: 'AccessDeniedException' });
  });

  it('promotes nothing for an image that is not good (marked bad), whatever the event says', { timeout: 60_000 }, async () => {
    // Prepare
    await template('web-lt');
    const { imageId } = await bakedWithTargets(`lt:web-lt,ssm:${PARAM}`);
    await cloud.ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: [{ Key: 'ami-lifecycle:status', Value: 'bad' }] }));

    // Act
    await cloud.invoke('promote', imageBaked(imageId));

    // Assess
    expect(await targetsState(imageId)).toEqual({ parameter: [], template: { defaultVersion: 1, images: [GONE] }, promoted: undefined });
    expect(promoted()).toEqual([]);
  });
});

describe('exactly once per image and target', () => {
  it('three copies of the event, one after the other, add one parameter version and one template version', {
    timeout: 60_000,
  }, async () => {
    // Prepare
    await template('web-lt');
    const { imageId } = await bakedWithTargets(`lt:web-lt,ssm:${PARAM}`);
    const event = imageBaked(imageId);

    // Act
    for (const _ of [1, 2, 3]) await cloud.invoke('promote', event);

    // Assess
    expect(await targetsState(imageId)).toEqual({
      parameter: [imageId],
      template: { defaultVersion: 2, images: [GONE, imageId] },
      promoted: ['lt:web-lt', `ssm:${PARAM}`],
    });
    expect(promoted()).toHaveLength(2);
  });

  it('three copies at the same instant add one template version (ClientToken); the parameter may repeat the image (a known limit)', {
    timeout: 60_000,
  }, async () => {
    // Prepare
    await template('web-lt');
    const { imageId } = await bakedWithTargets(`lt:web-lt,ssm:${PARAM}`);
    const event = imageBaked(imageId);

    // Act
    await Promise.all([1, 2, 3].map(() => cloud.invoke('promote', event)));

    // Assess: PutParameter has no compare-and-set, so copies that each read the old value before
    // any wrote may each write (docs/promotion.md, "Known limits"): only ever this image, which
    // rollback skips past. The template gets one version whatever the interleaving.
    expect(await templateState('web-lt')).toEqual({ defaultVersion: 2, images: [GONE, imageId] });
    const { history } = await parameter();
    expect(history.length).toBeGreaterThanOrEqual(1);
    expect(history.length).toBeLessThanOrEqual(3);
    expect(new Set(history)).toEqual(new Set([imageId]));
  });

  it('a lost event, or an instance tagged after its bake, is caught up by the daily run, which then changes nothing', {
    timeout: 60_000,
  }, async () => {
    // Prepare: the image was baked before its instance named targets, so its ImageBaked said it does not
    // promote, and the promote function's rule let it pass (issue 18)
    await template('web-lt');
    const { imageId } = await bakedWithTargets(`lt:web-lt,ssm:${PARAM}`);
    expect(cloud.published('ImageBaked').map((e) => (e.detail as { promotes?: boolean }).promotes)).toEqual([false]);
    expect(await targetsState(imageId)).toEqual({ parameter: [], template: { defaultVersion: 1, images: [GONE] }, promoted: undefined });

    // Act
    await cloud.invoke('promote', CATCH_UP);
    const first = await targetsState(imageId);
    await cloud.invoke('promote', CATCH_UP);

    // Assess
    expect(first).toEqual({
      parameter: [imageId],
      template: { defaultVersion: 2, images: [GONE, imageId] },
      promoted: ['lt:web-lt', `ssm:${PARAM}`],
    });
    expect(await targetsState(imageId)).toEqual(first);
    expect(
      promoted()
        .map((p) => p.target)
        .sort(),
    ).toEqual(['lt:web-lt', `ssm:${PARAM}`]);
  });

  it('a crash after any call, then the retry, leaves the targets as one clean run does', { timeout: 600_000 }, async () => {
    // Prepare: a clean run, its calls counted
    await template('web-lt');
    let { imageId } = await bakedWithTargets(`lt:web-lt,ssm:${PARAM}`);
    const first = imageBaked(imageId);
    cloud.proxy.resetCalls();
    await cloud.invoke('promote', first);
    const calls = Object.values(cloud.proxy.calls()).reduce((a, b) => a + b, 0);
    const clean = await labelled(imageId);
    expect(calls).toBeGreaterThan(8);

    for (let k = 1; k <= calls; k++) {
      for (const answerLost of [false, true]) {
        await cloud.reset();
        await template('web-lt');
        ({ imageId } = await bakedWithTargets(`lt:web-lt,ssm:${PARAM}`));
        const event = imageBaked(imageId);

        // Act: the process dies after call k; Lambda's retry runs the same event again
        cloud.proxy.crashAfter({ after: k, answerLost });
        await cloud.invoke('promote', event).catch(() => undefined);
        cloud.proxy.disarmCrash();
        await cloud.invoke('promote', event);

        // Assess
        expect({ k, answerLost, state: await labelled(imageId) }).toEqual({ k, answerLost, state: clean });
      }
    }
  });
});

const autoscaling = () =>
  new AutoScalingClient({
    endpoint: cloud.moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });

/** An Auto Scaling group of the operator's on the template, marked promotable unless told otherwise. */
async function group(name: string, more: { promotable?: boolean; version?: string; mixed?: boolean } = {}): Promise<void> {
  const client = autoscaling();
  const launch = { LaunchTemplateName: 'web-lt', Version: more.version ?? '$Default' };
  await client.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      ...(more.mixed
        ? { MixedInstancesPolicy: { LaunchTemplate: { LaunchTemplateSpecification: launch, Overrides: [{ InstanceType: 't3.small' }] } } }
        : { LaunchTemplate: launch }),
      MinSize: 0,
      MaxSize: 2,
      DesiredCapacity: 0,
      AvailabilityZones: ['us-east-1a'],
      Tags: more.promotable === false ? [] : [{ Key: 'ami-lifecycle:promotable', Value: 'true', PropagateAtLaunch: false }],
    }),
  );
  client.destroy();
}

async function refreshes(name: string) {
  const client = autoscaling();
  const { InstanceRefreshes = [] } = await client.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: name }));
  client.destroy();
  return InstanceRefreshes;
}

describe('an Auto Scaling group', () => {
  it("promotes the group's launch template and starts one instance refresh with the stage's preferences", { timeout: 60_000 }, async () => {
    // Prepare
    await template('web-lt');
    await group('web-asg');
    const { imageId } = await bakedWithTargets('asg:web-asg');

    // Act: the event, a duplicate, and the daily catch-up
    await cloud.invoke('promote', imageBaked(imageId));
    await cloud.invoke('promote', imageBaked(imageId));
    await cloud.invoke('promote', CATCH_UP);

    // Assess
    expect(await templateState('web-lt')).toEqual({ defaultVersion: 2, images: [GONE, imageId] });
    const started = await refreshes('web-asg');
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ Status: 'InProgress', Preferences: { MinHealthyPercentage: 90, SkipMatching: true } });
    expect(cloud.published('InstanceRefreshStarted').map((e) => e.detail)).toEqual([
      expect.objectContaining({ imageId, autoScalingGroupName: 'web-asg', instanceRefreshId: started[0]!.InstanceRefreshId }),
    ]);
    expect(promoted()).toEqual([expect.objectContaining({ imageId, target: 'asg:web-asg', resumed: false })]);
  });

  it('reports a refresh already in progress once, and does not retry it', { timeout: 60_000 }, async () => {
    // Prepare: a refresh of the operator's runs; last night's image is promoted, then tonight's
    await template('web-lt');
    await group('web-asg');
    const { imageId } = await bakedWithTargets('asg:web-asg');
    await cloud.invoke('promote', imageBaked(imageId));
    const [first] = await refreshes('web-asg');

    // Act: the promotion of a second image, with the first refresh still running
    const image2 = await (async () => {
      await cloud.bakeCycle('nightly', pastNights(1)[0]!);
      return (await managedImages())[1]!.ImageId!;
    })();

    // Assess
    expect(await templateState('web-lt')).toEqual({ defaultVersion: 3, images: [GONE, imageId, image2] });
    expect((await refreshes('web-asg')).map((r) => r.InstanceRefreshId)).toEqual([first!.InstanceRefreshId]);
    expect(promoted().map((p) => p.imageId)).toEqual([imageId, image2]);
    const client = autoscaling();
    await client.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: 'web-asg' }));
    client.destroy();
  });

  it('refuses a group with a mixed instances policy, one pinned to a version, and one not marked promotable', {
    timeout: 60_000,
  }, async () => {
    // Prepare
    await template('web-lt');
    await group('mixed', { mixed: true });
    await group('pinned', { version: '1' });
    await group('closed', { promotable: false });
    const { imageId } = await bakedWithTargets('asg:mixed,asg:pinned,asg:closed');

    // Act
    await cloud.invoke('promote', imageBaked(imageId));

    // Assess
    expect(await templateState('web-lt')).toEqual({ defaultVersion: 1, images: [GONE] });
    expect(
      cloud
        .published('PromotionFailed')
        .map((e) => [(e.detail as { target: string }).target, (e.detail as { errorCode: string }).errorCode]),
    ).toEqual([
      ['asg:mixed', 'MixedInstancesPolicy'],
      ['asg:pinned', 'FixedLaunchTemplateVersion'],
      ['asg:closed', 'NotPromotable'],
    ]);
  });
});

const cli = (...args: string[]) => runCli(['--endpoint', cloud.proxy.endpoint, ...args]);

/** Three nights of one lineage promoted into the parameter and the template; its images, oldest first. */
async function threeNightsPromoted(): Promise<{ lineage: string; images: string[] }> {
  await template('web-lt');
  const [instanceId] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:promote': `ssm:${PARAM},lt:web-lt` });
  for (const night of pastNights(3)) await cloud.bakeCycle('nightly', night);
  return { lineage: instanceId!, images: (await managedImages()).map((i) => i.ImageId!) };
}

describe('rollback, status and promote from the CLI', () => {
  it('rollback takes each target back to the image it held before and marks the image it left bad', { timeout: 120_000 }, async () => {
    // Prepare
    const { lineage, images } = await threeNightsPromoted();
    const [, second, third] = images;

    // Act
    const result = await cli('rollback', lineage);

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('rolled-back');
    expect(await parameter()).toMatchObject({ value: second, history: [images[0], second, third, second] });
    expect(await templateState('web-lt')).toEqual({ defaultVersion: 3, images: [GONE, images[0], second, third] });
    const { Images = [] } = await cloud.ec2.send(new DescribeImagesCommand({ ImageIds: [third!] }));
    expect(Images[0]!.Tags!.find((t) => t.Key === 'ami-lifecycle:status')?.Value).toBe('bad');
    expect(
      cloud
        .published('ImagePromoted')
        .filter((e) => (e.detail as { action: string }).action === 'rollback')
        .map((e) => e.detail),
    ).toEqual([
      expect.objectContaining({ imageId: second, previousImageId: third, target: `ssm:${PARAM}`, trigger: 'manual' }),
      expect.objectContaining({ imageId: second, previousImageId: third, target: 'lt:web-lt', trigger: 'manual' }),
    ]);

    // The daily catch-up does not undo it: the image left is bad, the newest good one is held.
    await cloud.invoke('promote', CATCH_UP);
    expect((await parameter()).value).toBe(second);
    expect((await templateState('web-lt')).defaultVersion).toBe(3);

    // Status shows what each target holds.
    const status = await cli('--quiet', 'status', '--json');
    const holdings = (JSON.parse(status.stdout) as { promotions: Array<{ target: string; imageId: string }> }).promotions;
    expect(holdings.map((h) => [h.target, h.imageId]).sort()).toEqual([
      ['lt:web-lt', second],
      [`ssm:${PARAM}`, second],
    ]);
  });

  it('promote --target puts a chosen good image into one target only', { timeout: 120_000 }, async () => {
    // Prepare: the parameter taken back by hand to the first image
    const { lineage, images } = await threeNightsPromoted();
    await cli('rollback', lineage, '--target', `ssm:${PARAM}`);
    await cli('mark-good', images[2]!);

    // Act
    const result = await cli('promote', lineage, '--target', `ssm:${PARAM}`);

    // Assess
    expect(result.code).toBe(0);
    expect((await parameter()).value).toBe(images[2]);
    expect((await templateState('web-lt')).defaultVersion).toBe(4);
    expect((await cli('promote', 'no-such-lineage')).code).toBe(EXIT.unknown);
    const other = await cli('promote', 'another-lineage', '--image', images[2]!);
    expect(other).toMatchObject({ code: EXIT.usage, stderr: expect.stringContaining(`is of the lineage ${lineage}, not another-lineage`) });
  });
});

describe('rotation keeps what promotion needs', () => {
  it('keeps the image a target holds and the one before it, deletes older ones', { timeout: 120_000 }, async () => {
    // Prepare: retain 1; four nights promoted into a parameter only (no launch template holding anything)
    const [instanceId] = await cloud.launch(1, {
      'ami-lifecycle:bake': 'nightly',
      'ami-lifecycle:retain': '1',
      'ami-lifecycle:promote': `ssm:${PARAM}`,
    });
    for (const night of pastNights(4)) await cloud.bakeCycle('nightly', night);
    const images = (await managedImages()).map((i) => i.ImageId!);
    expect(instanceId).toBeDefined();

    // Act
    await cloud.invoke('rotate', { trigger: 'schedule' });

    // Assess: the newest (held) and its rollback point stay; the two older ones go
    expect((await managedImages()).map((i) => i.ImageId!)).toEqual(images.slice(2));
  });
});
