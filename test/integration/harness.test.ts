/**
 * Tests of the test harness itself: moto_server lifecycle; the fidelity proxy
 * that closes moto's gaps (snapshot TagSpecifications on CreateImage, duplicate
 * AMI names, ClientToken, images pending for a while) and counts calls; its
 * faults (EC2 token buckets, random throttling, 500/503, cut connections,
 * latency, a crash of the caller), each counted; and LocalCloud's announcement
 * of images once built and its duplicated, shuffled delivery.
 */
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import {
  DescribeSnapshotAttributeCommand,
  ModifySnapshotAttributeCommand,
  DisableImageBlockPublicAccessCommand,
  EnableImageBlockPublicAccessCommand,
  GetImageBlockPublicAccessStateCommand,
  ModifyImageAttributeCommand,
  type ModifyImageAttributeCommandInput,
  AllocateAddressCommand,
  AssociateAddressCommand,
  CopyImageCommand,
  CreateImageCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DeleteLaunchTemplateVersionsCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  EC2Client,
  EnableImageDeprecationCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  AutoScalingClient,
  CancelInstanceRefreshCommand,
  CreateAutoScalingGroupCommand,
  DescribeInstanceRefreshesCommand,
  StartInstanceRefreshCommand,
} from '@aws-sdk/client-auto-scaling';
import { startMoto, type MotoServer } from '../harness/moto.js';
import { ec2Buckets, EC2_DOCUMENTED_BUCKETS, faultDraws, seededShuffle } from '../harness/faults.js';
import { LocalCloud } from '../harness/local-cloud.js';
import { startFidelityProxy, stripSnapshotTagSpecifications, type FidelityProxy } from '../harness/proxy/index.js';

/** An Amazon Linux AMI that moto ships in its default AMI list (moto/ec2/resources/amis.json). */
const MOTO_DEFAULT_AMI = 'ami-760aaa0f';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

let moto: MotoServer;
let proxy: FidelityProxy;
let ec2: EC2Client;

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFidelityProxy(moto.endpoint);
  ec2 = new EC2Client({ endpoint: proxy.endpoint, region: 'us-east-1', credentials });
}, 30_000);

afterAll(async () => {
  ec2?.destroy();
  await proxy?.stop();
  await moto?.stop();
}, 30_000);

async function runInstance(): Promise<string> {
  const { Instances = [] } = await ec2.send(
    new RunInstancesCommand({ ImageId: MOTO_DEFAULT_AMI, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  const instanceId = Instances[0]?.InstanceId;
  expect(instanceId).toMatch(/^i-/);
  return instanceId as string;
}

async function imagesNamed(name: string) {
  const { Images = [] } = await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
  return Images.filter((image) => image.Name === name);
}

function tagMap(tags: Tag[] | undefined): Record<string, string | undefined> {
  return Object.fromEntries((tags ?? []).map((tag) => [tag.Key, tag.Value]));
}

describe('fidelity proxy in front of moto', { timeout: 20_000 }, () => {
  it('CreateImage snapshots each attached volume at its device, but those mapped NoDevice, like AWS', async () => {
    // An instance with a root and two data volumes; the root of a default launch sits at RootDeviceName
    const { Instances = [] } = await ec2.send(
      new RunInstancesCommand({
        ImageId: MOTO_DEFAULT_AMI,
        MinCount: 1,
        MaxCount: 1,
        InstanceType: 't3.micro',
        BlockDeviceMappings: [
          { DeviceName: '/dev/xvda', Ebs: { VolumeSize: 8 } },
          { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 20 } },
          { DeviceName: '/dev/sdg', Ebs: { VolumeSize: 30 } },
        ],
      }),
    );
    const instanceId = Instances[0]!.InstanceId!;
    const plain = await runInstance();
    const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [plain] }));
    const described = Reservations[0]!.Instances![0]!;
    expect(described.BlockDeviceMappings?.map((m) => m.DeviceName)).toEqual([described.RootDeviceName]);

    const { ImageId } = await ec2.send(
      new CreateImageCommand({
        InstanceId: instanceId,
        Name: 'harness-no-device',
        BlockDeviceMappings: [{ DeviceName: '/dev/sdg', NoDevice: '' }],
      }),
    );
    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }));
    const mappings = Images[0]!.BlockDeviceMappings ?? [];
    expect(Images[0]!.RootDeviceName).toBe('/dev/xvda');
    expect(mappings.map((m) => [m.DeviceName, m.Ebs?.VolumeSize])).toEqual([
      ['/dev/xvda', 8],
      ['/dev/sdf', 20],
    ]);
    const { Snapshots = [] } = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: mappings.map((m) => m.Ebs!.SnapshotId!) }));
    expect(Snapshots.map((x) => x.VolumeSize).sort()).toEqual([20, 8]);

    // DescribeVolumes honours the filters the scheduled run sends (tag-key, attachment.status, attachment.instance-id)
    const sdf = (
      await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))
    ).Reservations![0]!.Instances![0]!.BlockDeviceMappings!.find((m) => m.DeviceName === '/dev/sdf')!.Ebs!.VolumeId!;
    await ec2.send(new CreateTagsCommand({ Resources: [sdf], Tags: [{ Key: 'ami-lifecycle:exclude', Value: 'true' }] }));
    const filtered = async (more: { Name: string; Values: string[] }[]) =>
      (
        await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag-key', Values: ['ami-lifecycle:exclude'] }, ...more] }))
      ).Volumes?.map((v) => v.VolumeId);
    expect(await filtered([{ Name: 'attachment.status', Values: ['attached'] }])).toEqual([sdf]);
    expect(await filtered([{ Name: 'attachment.status', Values: ['detaching'] }])).toEqual([]);
    expect(await filtered([{ Name: 'attachment.instance-id', Values: [instanceId] }])).toEqual([sdf]);
    expect(await filtered([{ Name: 'attachment.instance-id', Values: [plain] }])).toEqual([]);
  });

  it('CreateImage with image and snapshot TagSpecifications tags both, like AWS', async () => {
    const instanceId = await runInstance();

    const { ImageId, $metadata } = await ec2.send(
      new CreateImageCommand({
        InstanceId: instanceId,
        Name: 'harness-tagged-image',
        // snapshot first, so the proxy must renumber the remaining image spec to .1
        TagSpecifications: [
          {
            ResourceType: 'snapshot',
            Tags: [
              { Key: 'ami-lifecycle:source-instance', Value: instanceId },
              { Key: 'kind', Value: 'snapshot-tag' },
            ],
          },
          {
            ResourceType: 'image',
            Tags: [
              { Key: 'ami-lifecycle:managed', Value: 'true' },
              { Key: 'kind', Value: 'image-tag' },
            ],
          },
        ],
      }),
    );
    expect($metadata.httpStatusCode).toBe(200);
    expect(ImageId).toMatch(/^ami-/);

    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId as string] }));
    expect(Images).toHaveLength(1);
    const image = Images[0];
    expect(tagMap(image?.Tags)).toEqual({ 'ami-lifecycle:managed': 'true', kind: 'image-tag' });

    const snapshotIds = (image?.BlockDeviceMappings ?? []).map((mapping) => mapping.Ebs?.SnapshotId);
    expect(snapshotIds.length).toBeGreaterThan(0);
    const { Snapshots = [] } = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds as string[] }));
    expect(Snapshots).toHaveLength(snapshotIds.length);
    for (const snapshot of Snapshots) {
      expect(tagMap(snapshot.Tags)).toEqual({ 'ami-lifecycle:source-instance': instanceId, kind: 'snapshot-tag' });
    }
  });

  it('rejects a second CreateImage with the same Name as InvalidAMIName.Duplicate', async () => {
    const instanceId = await runInstance();
    const name = 'harness-duplicate-name';
    const first = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: name }));
    expect(first.ImageId).toMatch(/^ami-/);

    const error = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: name })).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: 'InvalidAMIName.Duplicate',
      message: `AMI name ${name} is already in use by AMI ${first.ImageId}`,
      $metadata: { httpStatusCode: 400 },
    });

    const named = await imagesNamed(name);
    expect(named.map((image) => image.ImageId)).toEqual([first.ImageId]);
  });

  it('lets exactly one of two concurrent CreateImage calls with the same Name through', async () => {
    const instanceId = await runInstance();
    const name = 'harness-concurrent-name';
    const results = await Promise.allSettled([
      ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: name })),
      ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: name })),
    ]);

    const fulfilled = results.filter((result) => result.status === 'fulfilled');
    const rejected = results.filter((result) => result.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toMatchObject({ name: 'InvalidAMIName.Duplicate' });
    expect(await imagesNamed(name)).toHaveLength(1);
  });

  it('counts calls by action, but not the proxy’s own calls nor /moto-api', async () => {
    proxy.resetCalls();
    expect(proxy.calls()).toEqual({});

    const instanceId = await runInstance();
    await ec2.send(
      new CreateImageCommand({
        InstanceId: instanceId,
        Name: 'harness-counted-image',
        TagSpecifications: [{ ResourceType: 'snapshot', Tags: [{ Key: 'k', Value: 'v' }] }],
      }),
    );
    await expect(ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'harness-counted-image' }))).rejects.toMatchObject({
      name: 'InvalidAMIName.Duplicate',
    });
    await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));

    const events = new EventBridgeClient({ endpoint: proxy.endpoint, region: 'us-east-1', credentials });
    try {
      const { FailedEntryCount } = await events.send(
        new PutEventsCommand({
          Entries: [{ Source: 'harness.test', DetailType: 'probe', Detail: '{}', EventBusName: 'default' }],
        }),
      );
      expect(FailedEntryCount).toBe(0);
    } finally {
      events.destroy();
    }

    const dashboard = await fetch(`${proxy.endpoint}/moto-api/`);
    await dashboard.arrayBuffer();
    expect(dashboard.status).toBe(200);

    // The proxy's internal DescribeImages/CreateTags go straight to moto: not counted.
    expect(proxy.calls()).toEqual({ RunInstances: 1, CreateImage: 2, DescribeImages: 1, PutEvents: 1 });
  });

  it('answers a repeated RunInstances ClientToken with the first launch, like AWS', async () => {
    // Prepare
    const launch = (token: string, InstanceType: 't3.micro' | 't3.small' = 't3.micro') =>
      ec2.send(new RunInstancesCommand({ ImageId: MOTO_DEFAULT_AMI, MinCount: 1, MaxCount: 1, InstanceType, ClientToken: token }));

    // Act
    const first = await launch('replace-web-i-1');
    const again = await launch('replace-web-i-1');
    const other = await launch('replace-web-i-2');
    const mismatch = launch('replace-web-i-1', 't3.small');

    // Assess
    expect(again.Instances![0]!.InstanceId).toBe(first.Instances![0]!.InstanceId);
    expect(other.Instances![0]!.InstanceId).not.toBe(first.Instances![0]!.InstanceId);
    await expect(mismatch).rejects.toMatchObject({ name: 'IdempotentParameterMismatch' });
    const { Reservations = [] } = await ec2.send(
      new DescribeInstancesCommand({ InstanceIds: [first.Instances![0]!.InstanceId!, other.Instances![0]!.InstanceId!] }),
    );
    expect(Reservations.flatMap((r) => r.Instances ?? [])).toHaveLength(2);
  });

  it('runs one instance refresh per group at a time, as Auto Scaling does (moto has none)', async () => {
    // Prepare
    const asg = new AutoScalingClient({ endpoint: proxy.endpoint, region: 'us-east-1', credentials });
    await ec2.send(
      new CreateLaunchTemplateCommand({ LaunchTemplateName: 'refresh-lt', LaunchTemplateData: { ImageId: MOTO_DEFAULT_AMI } }),
    );
    await asg.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: 'refresh-asg',
        LaunchTemplate: { LaunchTemplateName: 'refresh-lt', Version: '$Default' },
        MinSize: 0,
        MaxSize: 1,
        AvailabilityZones: ['us-east-1a'],
      }),
    );
    const start = () =>
      asg.send(
        new StartInstanceRefreshCommand({
          AutoScalingGroupName: 'refresh-asg',
          Preferences: { MinHealthyPercentage: 50, SkipMatching: true, CheckpointPercentages: [50, 100] },
        }),
      );

    // Act
    const { InstanceRefreshId } = await start();
    const second = start();
    const unknown = asg.send(new StartInstanceRefreshCommand({ AutoScalingGroupName: 'no-such-asg' }));

    // Assess
    await expect(second).rejects.toMatchObject({ name: 'InstanceRefreshInProgressFault' });
    await expect(unknown).rejects.toMatchObject({ name: 'ValidationError' });
    const { InstanceRefreshes = [] } = await asg.send(new DescribeInstanceRefreshesCommand({ AutoScalingGroupName: 'refresh-asg' }));
    expect(InstanceRefreshes).toMatchObject([
      {
        InstanceRefreshId,
        Status: 'InProgress',
        Preferences: { MinHealthyPercentage: 50, SkipMatching: true, CheckpointPercentages: [50, 100] },
      },
    ]);
    await asg.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: 'refresh-asg' }));
    await expect(asg.send(new CancelInstanceRefreshCommand({ AutoScalingGroupName: 'refresh-asg' }))).rejects.toMatchObject({
      name: 'ActiveInstanceRefreshNotFoundFault',
    });
    expect((await start()).InstanceRefreshId).not.toBe(InstanceRefreshId);
    asg.destroy();
  });

  it('deprecates an image as AWS does: the time rounded to the minute, never in the past nor past ten years', async () => {
    // Prepare
    const instanceId = await runInstance();
    const { ImageId } = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'harness-deprecated-image' }));
    const inMinutes = (m: number, extraSeconds = 0) => new Date(Date.now() + m * 60_000 + extraSeconds * 1000);
    const refusal = (at: Date, imageId = ImageId!) =>
      ec2.send(new EnableImageDeprecationCommand({ ImageId: imageId, DeprecateAt: at })).then(
        () => 'accepted',
        (e: { name: string }) => e.name,
      );

    // Act / Assess: a minute ago, and ten years and a day on, are refused; so is an unknown image
    expect(await refusal(inMinutes(-1))).toBe('InvalidParameterValue');
    expect(await refusal(inMinutes((10 * 365.25 + 1) * 24 * 60))).toBe('InvalidParameterValue');
    expect(await refusal(inMinutes(5), 'ami-0000000000000000f')).toBe('InvalidAMIID.NotFound');
    // Ten years less a day is within the limit; then five minutes on with 20 s, reported rounded
    expect(await refusal(inMinutes((10 * 365.25 - 1) * 24 * 60))).toBe('accepted');
    const at = inMinutes(5, 20);
    expect(await refusal(at)).toBe('accepted');
    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }));
    expect(Images[0]?.DeprecationTime).toBe(new Date(Math.round(at.getTime() / 60_000) * 60_000).toISOString());
  });

  it('refuses to make an image public while block public access for AMIs is on, like AWS; sharing and removing go on', async () => {
    // Prepare: a new account's default is on
    const instanceId = await runInstance();
    const { ImageId } = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'harness-public-image' }));
    const make = (LaunchPermission: ModifyImageAttributeCommandInput['LaunchPermission']) =>
      ec2.send(new ModifyImageAttributeCommand({ ImageId: ImageId!, LaunchPermission })).then(
        () => 'accepted',
        (e: { name: string }) => e.name,
      );
    const publicOnes = async () => {
      const { Images = [] } = await ec2.send(
        new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'is-public', Values: ['true'] }] }),
      );
      return Images.map((i) => i.ImageId);
    };
    expect((await ec2.send(new GetImageBlockPublicAccessStateCommand({}))).ImageBlockPublicAccessState).toBe('block-new-sharing');

    // Act / Assess: public refused, an account and an organization shared, then public once it is off
    expect(await make({ Add: [{ Group: 'all' }] })).toBe('OperationNotPermitted');
    expect(
      await make({
        Add: [{ UserId: '111122223333' }, { OrganizationArn: 'arn:aws:organizations::111122223333:organization/o-abcdefghij' }],
      }),
    ).toBe('accepted');
    expect(await publicOnes()).toEqual([]);
    await ec2.send(new DisableImageBlockPublicAccessCommand({}));
    expect(await make({ Add: [{ Group: 'all' }] })).toBe('accepted');
    expect(await publicOnes()).toEqual([ImageId]);
    // Turned on again: what is public stays public, and its public permission can still be removed.
    await ec2.send(new EnableImageBlockPublicAccessCommand({ ImageBlockPublicAccessState: 'block-new-sharing' }));
    expect(await publicOnes()).toEqual([ImageId]);
    expect(await make({ Remove: [{ Group: 'all' }] })).toBe('accepted');
    expect(await publicOnes()).toEqual([]);
  });

  it("shares a snapshot by ModifySnapshotAttribute's CreateVolumePermission structure, as by OperationType, like AWS", async () => {
    // Prepare
    const instanceId = await runInstance();
    const { ImageId } = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'harness-shared-snapshot' }));
    const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }));
    const SnapshotId = Images[0]!.BlockDeviceMappings![0]!.Ebs!.SnapshotId!;
    const accounts = async () => {
      const out = await ec2.send(new DescribeSnapshotAttributeCommand({ SnapshotId, Attribute: 'createVolumePermission' }));
      return (out.CreateVolumePermissions ?? []).map((p) => p.UserId).sort();
    };

    // Act / Assess: added by the structure, by OperationType, then removed by the structure
    await ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId, CreateVolumePermission: { Add: [{ UserId: '111122223333' }] } }));
    await ec2.send(
      new ModifySnapshotAttributeCommand({
        SnapshotId,
        Attribute: 'createVolumePermission',
        OperationType: 'add',
        UserIds: ['444455556666'],
      }),
    );
    expect(await accounts()).toEqual(['111122223333', '444455556666']);
    await ec2.send(new ModifySnapshotAttributeCommand({ SnapshotId, CreateVolumePermission: { Remove: [{ UserId: '111122223333' }] } }));
    expect(await accounts()).toEqual(['444455556666']);
  });

  it('strips snapshot TagSpecifications and renumbers the rest contiguously from 1', () => {
    const form = new URLSearchParams([
      ['Action', 'CreateImage'],
      ['TagSpecification.1.ResourceType', 'image'],
      ['TagSpecification.1.Tag.1.Key', 'a'],
      ['TagSpecification.1.Tag.1.Value', '1'],
      ['TagSpecification.2.ResourceType', 'snapshot'],
      ['TagSpecification.2.Tag.1.Key', 'b'],
      ['TagSpecification.2.Tag.1.Value', '2'],
      ['TagSpecification.2.Tag.2.Key', 'c'],
      ['TagSpecification.2.Tag.2.Value', ''],
      ['TagSpecification.3.ResourceType', 'volume'],
      ['TagSpecification.3.Tag.1.Key', 'd'],
      ['TagSpecification.3.Tag.1.Value', '4'],
      ['Name', 'n'],
    ]);
    const { form: rewritten, snapshotTags } = stripSnapshotTagSpecifications(form);
    expect(snapshotTags).toEqual([
      { Key: 'b', Value: '2' },
      { Key: 'c', Value: '' },
    ]);
    expect([...rewritten]).toEqual([
      ['Action', 'CreateImage'],
      ['Name', 'n'],
      ['TagSpecification.1.ResourceType', 'image'],
      ['TagSpecification.1.Tag.1.Key', 'a'],
      ['TagSpecification.1.Tag.1.Value', '1'],
      ['TagSpecification.2.ResourceType', 'volume'],
      ['TagSpecification.2.Tag.1.Key', 'd'],
      ['TagSpecification.2.Tag.1.Value', '4'],
    ]);

    const untouched = new URLSearchParams([
      ['Action', 'CreateImage'],
      ['Name', 'n'],
    ]);
    expect(stripSnapshotTagSpecifications(untouched).form).toBe(untouched);
  });
});

describe('startMoto', { timeout: 20_000 }, () => {
  it('reset() empties all emulated state', async () => {
    const seeded = await runInstance();
    await ec2.send(new CreateImageCommand({ InstanceId: seeded, Name: 'harness-before-reset' }));
    const before = await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect(before.Images?.length ?? 0).toBeGreaterThan(0);
    const instancesBefore = await ec2.send(new DescribeInstancesCommand({}));
    expect(instancesBefore.Reservations?.length ?? 0).toBeGreaterThan(0);

    await moto.reset();

    const after = await ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect(after.Images ?? []).toEqual([]);
    const instancesAfter = await ec2.send(new DescribeInstancesCommand({}));
    expect(instancesAfter.Reservations ?? []).toEqual([]);
    // A name freed by reset can be used again.
    const instanceId = await runInstance();
    const again = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'harness-before-reset' }));
    expect(again.ImageId).toMatch(/^ami-/);
  });

  it('starts on a free port and stop() ends the process', async () => {
    const other = await startMoto();
    expect(other.port).not.toBe(moto.port);
    const answer = await fetch(`${other.endpoint}/`);
    await answer.arrayBuffer();
    expect(answer.status).toBe(200);

    await other.stop();
    await expect(fetch(`${other.endpoint}/`)).rejects.toThrow();
  }, 30_000);

  it('names the fix when moto_server is not on PATH', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(startMoto()).rejects.toThrow("moto_server not found on PATH: install it with pip install 'moto[server]'");
    } finally {
      process.env.PATH = path;
    }
  });
});

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

/** A client that does not retry: every injected fault reaches the test. */
function bareEc2(): EC2Client {
  return new EC2Client({ endpoint: proxy.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
}

/** What a call came to: 'ok', or its error name and HTTP status. */
async function outcome(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return 'ok';
  } catch (error) {
    const e = error as { name?: string; code?: string; $metadata?: { httpStatusCode?: number } };
    return `${e.name}${e.$metadata?.httpStatusCode ? ` ${e.$metadata.httpStatusCode}` : ''}`;
  }
}

const tagCall = (client: EC2Client, resource: string, DryRun?: boolean) =>
  client.send(new CreateTagsCommand({ Resources: [resource], Tags: [{ Key: 'k', Value: 'v' }], ...(DryRun ? { DryRun } : {}) }));

describe('fault injection by the proxy', { timeout: 20_000 }, () => {
  let bare: EC2Client;
  let instanceId: string;
  beforeAll(async () => {
    bare = bareEc2();
    instanceId = await runInstance();
  });
  afterAll(() => bare.destroy());
  afterEach(() => {
    proxy.setThrottle(undefined);
    proxy.setFaults(undefined);
    proxy.disarmCrash();
    proxy.setImagePending(undefined);
    proxy.resetCalls();
  });

  it('sizes the EC2 buckets as AWS documents them, scaled by one factor', () => {
    expect(EC2_DOCUMENTED_BUCKETS).toMatchObject({
      nonMutating: { capacity: 100, refillPerSecond: 20 },
      unfilteredNonMutating: { capacity: 50, refillPerSecond: 10 },
      mutating: { capacity: 50, refillPerSecond: 5 },
      runInstances: { capacity: 5, refillPerSecond: 2 },
      createTags: { capacity: 100, refillPerSecond: 10 },
      deregisterImage: { capacity: 100, refillPerSecond: 5 },
      deleteSnapshot: { capacity: 100, refillPerSecond: 5 },
      runInstancesResource: { capacity: 1000, refillPerSecond: 2 },
    });
    const tenth = ec2Buckets(0.1);
    expect(tenth.mutating).toEqual({ capacity: 5, refillPerSecond: 0.5 });
    expect(tenth.runInstances).toEqual({ capacity: 1, refillPerSecond: 0.2 }); // never below one token
    expect(ec2Buckets()).toEqual(EC2_DOCUMENTED_BUCKETS);
  });

  it('throttles each category on its own bucket with 503 RequestLimitExceeded, and a dry run takes no token', async () => {
    // Prepare: CreateTags has a bucket of its own; CreateImage falls in the mutating one; reads are not throttled
    const empty = { refillPerSecond: 0 };
    proxy.setThrottle({ buckets: { createTags: { capacity: 2, ...empty }, mutating: { capacity: 1, ...empty } } });
    proxy.resetCalls();

    // Act
    const dryRun = await outcome(tagCall(bare, instanceId, true));
    const tags = [
      await outcome(tagCall(bare, instanceId)),
      await outcome(tagCall(bare, instanceId)),
      await outcome(tagCall(bare, instanceId)),
    ];
    const images = [
      await outcome(bare.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'bucket-1' }))),
      await outcome(bare.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'bucket-2' }))),
    ];
    const reads = await Promise.all(Array.from({ length: 5 }, () => outcome(bare.send(new DescribeImagesCommand({ Owners: ['self'] })))));

    // Assess
    expect(dryRun).toBe('DryRunOperation 412');
    expect(tags).toEqual(['ok', 'ok', 'RequestLimitExceeded 503']);
    expect(images).toEqual(['ok', 'RequestLimitExceeded 503']);
    expect(reads.every((r) => r === 'ok')).toBe(true);
    expect(proxy.throttleCounts()).toEqual({ admitted: { CreateTags: 2, CreateImage: 1 }, throttled: { CreateTags: 1, CreateImage: 1 } });
    expect(proxy.faultCounts()).toEqual({ throttled: { CreateTags: 1, CreateImage: 1 } });
    expect((await imagesNamed('bucket-2')).length).toBe(0); // a refused call never reaches moto
  });

  it('falls back from an uncategorized action to its general category, and keeps unfiltered reads on the smaller bucket', async () => {
    // Prepare
    proxy.setThrottle({
      buckets: { mutating: { capacity: 1, refillPerSecond: 0 }, unfilteredNonMutating: { capacity: 1, refillPerSecond: 0 } },
    });

    // Act
    const tags = [await outcome(tagCall(bare, instanceId)), await outcome(tagCall(bare, instanceId))];
    const unfiltered = [
      await outcome(bare.send(new DescribeInstancesCommand({}))),
      await outcome(bare.send(new DescribeInstancesCommand({}))),
    ];
    const filtered = await outcome(
      bare.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['running'] }] })),
    );
    const paged = await outcome(bare.send(new DescribeInstancesCommand({ MaxResults: 5 })));

    // Assess: with no createTags bucket, CreateTags takes the mutating one; no nonMutating bucket: filtered and paged reads pass
    expect(tags).toEqual(['ok', 'RequestLimitExceeded 503']);
    expect(unfiltered).toEqual(['ok', 'RequestLimitExceeded 503']);
    expect([filtered, paged]).toEqual(['ok', 'ok']);
  });

  it('charges RunInstances one resource token per instance, and refills buckets over time', async () => {
    // Prepare
    proxy.setThrottle({
      buckets: { runInstancesResource: { capacity: 3, refillPerSecond: 0 }, createTags: { capacity: 1, refillPerSecond: 20 } },
    });
    const run = (n: number) =>
      outcome(bare.send(new RunInstancesCommand({ ImageId: MOTO_DEFAULT_AMI, MinCount: n, MaxCount: n, InstanceType: 't3.micro' })));

    // Act
    const launches = [await run(2), await run(2), await run(1)];
    const first = await outcome(tagCall(bare, instanceId));
    const atOnce = await outcome(tagCall(bare, instanceId));
    await new Promise((resolve) => setTimeout(resolve, 120)); // 20 tokens a second: two by now
    const later = await outcome(tagCall(bare, instanceId));

    // Assess
    expect(launches).toEqual(['ok', 'RequestLimitExceeded 503', 'ok']);
    expect([first, atOnce, later]).toEqual(['ok', 'RequestLimitExceeded 503', 'ok']);
  });

  it('gives each action its own bucket of its category size with scope "action", as AWS applies them', async () => {
    // Prepare
    proxy.setThrottle({ scope: 'action', buckets: { mutating: { capacity: 1, refillPerSecond: 0 } } });

    // Act
    const tags = [await outcome(tagCall(bare, instanceId)), await outcome(tagCall(bare, instanceId))];
    const image = await outcome(bare.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'per-action-bucket' })));

    // Assess
    expect(tags).toEqual(['ok', 'RequestLimitExceeded 503']);
    expect(image).toBe('ok');
  });

  it('throttles a seeded fraction of calls at random, the same calls again for the same seed', async () => {
    // Act: two rounds of 60 reads with seed 7, one with seed 8
    const round = async (seed: number) => {
      proxy.setFaults({ seed, throttleRate: 0.2 });
      const outcomes: string[] = [];
      for (let i = 0; i < 60; i++) outcomes.push(await outcome(bare.send(new DescribeImagesCommand({ Owners: ['self'] }))));
      return outcomes;
    };
    proxy.resetCalls();
    const first = await round(7);
    const counted = proxy.faultCounts();
    const again = await round(7);
    const other = await round(8);

    // Assess
    const throttled = first.filter((o) => o === 'RequestLimitExceeded 503').length;
    expect(first.filter((o) => o !== 'ok' && o !== 'RequestLimitExceeded 503')).toEqual([]);
    expect(throttled).toBeGreaterThan(3);
    expect(throttled).toBeLessThan(25);
    expect(counted).toEqual({ 'random-throttle': { DescribeImages: throttled } });
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
  });

  it('answers a fraction with 500 InternalError or 503 Unavailable, only for the services and actions chosen', async () => {
    // Prepare
    const events = new EventBridgeClient({ endpoint: proxy.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
    const put = () =>
      outcome(events.send(new PutEventsCommand({ Entries: [{ Source: 'harness.test', DetailType: 'probe', Detail: '{}' }] })));
    proxy.setFaults({ seed: 3, serverErrorRate: 1, actions: ['CreateTags'] });
    proxy.resetCalls();

    try {
      // Act
      const tags: string[] = [];
      for (let i = 0; i < 20; i++) tags.push(await outcome(tagCall(bare, instanceId)));
      const read = await outcome(bare.send(new DescribeImagesCommand({ Owners: ['self'] })));
      const unaffected = await put(); // EventBridge is not among the default services
      proxy.setFaults({ seed: 3, throttleRate: 1, services: ['events'] });
      const throttledPut = await put();
      const ec2Read = await outcome(bare.send(new DescribeImagesCommand({ Owners: ['self'] })));

      // Assess
      expect(new Set(tags)).toEqual(new Set(['InternalError 500', 'Unavailable 503']));
      expect([read, unaffected, ec2Read]).toEqual(['ok', 'ok', 'ok']);
      expect(throttledPut).toBe('ThrottlingException 400');
      const counts = proxy.faultCounts();
      expect((counts['internal-error']?.CreateTags ?? 0) + (counts.unavailable?.CreateTags ?? 0)).toBe(20);
      expect(counts['internal-error']?.CreateTags).toBe(tags.filter((t) => t === 'InternalError 500').length);
      expect(counts['random-throttle']).toEqual({ PutEvents: 1 });
    } finally {
      events.destroy();
    }
  });

  it('adds latency, fixed or drawn from a range', async () => {
    // Prepare
    proxy.setFaults({ latencyMs: [150, 250] });
    proxy.resetCalls();

    // Act
    const started = performance.now();
    await bare.send(new DescribeImagesCommand({ Owners: ['self'] }));
    const elapsed = performance.now() - started;

    // Assess
    expect(elapsed).toBeGreaterThanOrEqual(150);
    expect(proxy.faultCounts()).toEqual({ delayed: { DescribeImages: 1 } });
  });

  it('cuts connections without an answer, before moto sees the call or after it did the work', async () => {
    // Act: cut before: nothing created; the SDK (standard retries) meets the cut on every attempt
    proxy.setFaults({ cutRate: 1, cut: 'before', actions: ['CreateImage'] });
    const before = await outcome(bare.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'cut-before' })));
    const createdBefore = await imagesNamed('cut-before');

    // Act: cut after: moto made the image; a retry with the same name meets it
    proxy.setFaults({ cutRate: 1, cut: 'after', actions: ['CreateImage'] });
    const after = await outcome(bare.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'cut-after' })));
    const createdAfter = await imagesNamed('cut-after');
    proxy.setFaults(undefined);
    const retry = await outcome(bare.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'cut-after' })));

    // Assess
    expect(before).not.toBe('ok');
    expect(before).toMatch(/ECONNRESET|socket hang up|TimeoutError|Error/);
    expect(createdBefore).toHaveLength(0);
    expect(after).not.toBe('ok');
    expect(createdAfter).toHaveLength(1);
    expect(retry).toBe('InvalidAMIName.Duplicate 400');
    expect(proxy.faultCounts()).toEqual({ 'cut-before': { CreateImage: 1 }, 'cut-after': { CreateImage: 1 } });
  });

  it('answers a CreateLaunchTemplate retried after a lost answer with the first result, by the ClientToken the SDK sends', async () => {
    // Prepare: the service's SDK retries; a seed whose first CreateLaunchTemplate is cut after moto made
    // the template, and whose second (the SDK's retry) is not
    const retrying = new EC2Client({ endpoint: proxy.endpoint, region: 'us-east-1', credentials });
    let seed = 1;
    while (!(faultDraws(seed, 'CreateLaunchTemplate', 1)() < 0.5 && faultDraws(seed, 'CreateLaunchTemplate', 2)() >= 0.5)) seed++;
    proxy.setFaults({ seed, cutRate: 0.5, cut: 'after', actions: ['CreateLaunchTemplate'] });

    // Act
    const created = await retrying.send(
      new CreateLaunchTemplateCommand({ LaunchTemplateName: 'lost-answer', LaunchTemplateData: { InstanceType: 't3.micro' } }),
    );

    try {
      // Assess: one template, one version, the retry told so without AlreadyExists
      expect(created.LaunchTemplate?.LaunchTemplateName).toBe('lost-answer');
      const { LaunchTemplateVersions = [] } = await ec2.send(
        new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: 'lost-answer' }),
      );
      expect(LaunchTemplateVersions.map((v) => v.VersionNumber)).toEqual([1]);
      expect(proxy.calls().CreateLaunchTemplate).toBe(2);
      expect(proxy.faultCounts()).toEqual({ 'cut-after': { CreateLaunchTemplate: 1 } });
    } finally {
      retrying.destroy();
    }
  });

  it('crashes the caller after its k-th call: later calls of any service fail at once and are not retried', async () => {
    // Prepare: the SDK's own retries are on, as in the service
    const retrying = new EC2Client({ endpoint: proxy.endpoint, region: 'us-east-1', credentials });
    const events = new EventBridgeClient({ endpoint: proxy.endpoint, region: 'us-east-1', credentials });
    proxy.crashAfter({ after: 2 });
    proxy.resetCalls();

    try {
      // Act
      const first = await outcome(tagCall(retrying, instanceId));
      const second = await outcome(retrying.send(new DescribeImagesCommand({ Owners: ['self'] })));
      const third = await retrying.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'after-crash' })).catch((e: unknown) => e);
      const put = await outcome(
        events.send(new PutEventsCommand({ Entries: [{ Source: 'harness.test', DetailType: 'probe', Detail: '{}' }] })),
      );
      const state = proxy.crashState();
      proxy.disarmCrash();
      const afterDisarm = await outcome(tagCall(retrying, instanceId));

      // Assess
      expect([first, second]).toEqual(['ok', 'ok']);
      expect(third).toMatchObject({ name: 'HarnessProcessCrashed', $metadata: { httpStatusCode: 400, attempts: 1 } });
      expect(put).toBe('HarnessProcessCrashed 400');
      expect(state).toEqual({ armed: true, counted: 2, crashed: true, refused: 2 });
      expect(afterDisarm).toBe('ok');
      expect(proxy.faultCounts()).toEqual({ crashed: { CreateImage: 1, PutEvents: 1 } });
      expect(proxy.calls()).toEqual({ CreateTags: 2, DescribeImages: 1, CreateImage: 1, PutEvents: 1 });
      expect(await imagesNamed('after-crash')).toHaveLength(0);
    } finally {
      retrying.destroy();
      events.destroy();
    }
  });

  it('loses the answer of the k-th call when asked: its work is done, the caller never learns it', async () => {
    // Prepare: only mutating EC2 calls count
    proxy.crashAfter({ after: 1, counting: 'mutating', answerLost: true });
    proxy.resetCalls();

    // Act
    const read = await outcome(bare.send(new DescribeImagesCommand({ Owners: ['self'] })));
    const create = await outcome(bare.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'answer-lost' })));
    const next = await outcome(bare.send(new DescribeImagesCommand({ Owners: ['self'] })));
    proxy.disarmCrash();

    // Assess
    expect(read).toBe('ok');
    expect([create, next]).toEqual(['HarnessProcessCrashed 400', 'HarnessProcessCrashed 400']);
    expect(await imagesNamed('answer-lost')).toHaveLength(1);
    expect(proxy.faultCounts()).toEqual({ 'answer-lost': { CreateImage: 1 }, crashed: { DescribeImages: 1 } });
  });

  it('copies an image as AWS does (issue 17): tags on creation, the source it records, one copy per client token and region, pending until built', async () => {
    // Prepare
    proxy.setImagePending({ forMs: 60_000, clock: 'manual' });
    const dr = new EC2Client({ endpoint: proxy.endpoint, region: 'eu-west-1', credentials, maxAttempts: 1 });
    const west = new EC2Client({ endpoint: proxy.endpoint, region: 'us-west-2', credentials, maxAttempts: 1 });
    const copy = (client: EC2Client, more: Record<string, unknown> = {}) =>
      client.send(
        new CopyImageCommand({
          SourceImageId: MOTO_DEFAULT_AMI,
          SourceRegion: 'us-east-1',
          Name: 'dr-copy',
          ClientToken: 'ami-lifecycle-copy-1',
          TagSpecifications: [
            { ResourceType: 'image', Tags: [{ Key: 'k', Value: 'image' }] },
            { ResourceType: 'snapshot', Tags: [{ Key: 'k', Value: 'snapshot' }] },
          ],
          ...more,
        }),
      );
    const pending = async (client: EC2Client) =>
      (await client.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'state', Values: ['pending'] }] }))).Images ?? [];

    try {
      // Act
      const first = await copy(dr, { Encrypted: true, KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k' });
      const again = await copy(dr, { Encrypted: true, KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k' });
      const otherRegion = await copy(west);
      const mismatch = copy(dr, { Name: 'another-name' });
      const unencrypted = copy(dr, { ClientToken: 'x', KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k' });

      // Assess: one copy per token and region; the other region's is its own
      expect(again.ImageId).toBe(first.ImageId);
      expect(otherRegion.ImageId).not.toBe(first.ImageId);
      await expect(mismatch).rejects.toMatchObject({ name: 'IdempotentParameterMismatch' });
      await expect(unencrypted).rejects.toMatchObject({ name: 'InvalidParameterCombination' });
      // Pending (and found by the state filter) until built, with the source EC2 records and its tags; encrypted with the key
      const [image] = await pending(dr);
      expect(image).toMatchObject({
        ImageId: first.ImageId,
        State: 'pending',
        SourceImageId: MOTO_DEFAULT_AMI,
        SourceImageRegion: 'us-east-1',
      });
      expect(tagMap(image!.Tags)).toEqual({ k: 'image' });
      expect(image!.BlockDeviceMappings![0]!.Ebs).toMatchObject({ Encrypted: true, KmsKeyId: 'arn:aws:kms:eu-west-1:123456789012:key/k' });
      const { Snapshots = [] } = await dr.send(
        new DescribeSnapshotsCommand({ SnapshotIds: [image!.BlockDeviceMappings![0]!.Ebs!.SnapshotId!] }),
      );
      expect(tagMap(Snapshots[0]!.Tags)).toMatchObject({ k: 'snapshot' });
      expect(proxy.copiesInFlight('eu-west-1')).toBe(1);
      proxy.advanceImageClock(60_000);
      expect(await pending(dr)).toEqual([]);
      expect(proxy.copiesInFlight('eu-west-1')).toBe(0);
    } finally {
      proxy.setImagePending(undefined);
      dr.destroy();
      west.destroy();
    }
  });

  it('reports new images pending until their build time has passed on the manual clock', async () => {
    // Prepare
    proxy.setImagePending({ forMs: 60_000, clock: 'manual' });
    const { ImageId } = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'slow-build' }));
    const state = async () => (await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }))).Images![0]!.State;
    const listed = async () => (await imagesNamed('slow-build'))[0]!.State;

    // Act / Assess
    expect([await state(), await listed(), proxy.isImagePending(ImageId!)]).toEqual(['pending', 'pending', true]);
    proxy.advanceImageClock(59_999);
    expect(await state()).toBe('pending');
    proxy.advanceImageClock(1);
    expect([await state(), await listed(), proxy.isImagePending(ImageId!)]).toEqual(['available', 'available', false]);
  });

  it('keeps AMI names in an index: a name freed through the proxy or behind its back can be used again', async () => {
    // Prepare
    const { ImageId: first } = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'indexed-name' }));
    const { ImageId: second } = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'indexed-behind' }));
    const direct = new EC2Client({ endpoint: moto.endpoint, region: 'us-east-1', credentials });

    try {
      // Act
      await ec2.send(new DeregisterImageCommand({ ImageId: first! }));
      const reused = await outcome(ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'indexed-name' })));
      await direct.send(new DeregisterImageCommand({ ImageId: second! })); // the proxy does not see this
      const reusedBehind = await outcome(ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'indexed-behind' })));
      const duplicate = await outcome(ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'indexed-behind' })));

      // Assess
      expect([reused, reusedBehind, duplicate]).toEqual(['ok', 'ok', 'InvalidAMIName.Duplicate 400']);
    } finally {
      direct.destroy();
    }
  });

  it('deletes an image\u2019s snapshots with it when DeregisterImage asks to, like AWS', async () => {
    // Prepare
    const { ImageId: kept } = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'keeps-snapshots' }));
    const { ImageId: gone } = await ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'takes-snapshots' }));
    const snapshotsOf = async (imageId: string) =>
      (await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }))).Images![0]!.BlockDeviceMappings!.map((m) => m.Ebs!.SnapshotId!);
    const [keptSnapshots, goneSnapshots] = [await snapshotsOf(kept!), await snapshotsOf(gone!)];
    const existing = async (ids: string[]) => {
      const { Snapshots = [] } = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
      return Snapshots.filter((snapshot) => ids.includes(snapshot.SnapshotId!)).length;
    };

    // Act
    await ec2.send(new DeregisterImageCommand({ ImageId: kept! }));
    await ec2.send(new DeregisterImageCommand({ ImageId: gone!, DeleteAssociatedSnapshots: true }));

    // Assess
    expect(await existing(keptSnapshots)).toBe(keptSnapshots.length);
    expect(await existing(goneSnapshots)).toBe(0);
  });

  it('deletes launch template versions, which moto lacks: numbers are never reused, the default stays', async () => {
    // Prepare: versions 1 (default), 2 and 3
    const LaunchTemplateName = 'bounded-history';
    await ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName, LaunchTemplateData: { InstanceType: 't3.micro' } }));
    for (const InstanceType of ['t3.small', 't3.medium'] as const) {
      await ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateName, LaunchTemplateData: { InstanceType } }));
    }
    const versions = async () =>
      (await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName }))).LaunchTemplateVersions!.map(
        (v) => v.VersionNumber,
      );
    const latest = async () =>
      (await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName, Versions: ['$Latest'] }))).LaunchTemplateVersions![0]!
        .VersionNumber;

    // Act
    const first = await ec2.send(new DeleteLaunchTemplateVersionsCommand({ LaunchTemplateName, Versions: ['2', '1', '7'] }));
    const afterFirst = [await versions(), await latest()];
    await ec2.send(new DeleteLaunchTemplateVersionsCommand({ LaunchTemplateName, Versions: ['3'] }));
    const afterSecond = [await versions(), await latest()];
    const { LaunchTemplateVersion } = await ec2.send(
      new CreateLaunchTemplateVersionCommand({ LaunchTemplateName, LaunchTemplateData: { InstanceType: 't3.large' } }),
    );
    const gone = await outcome(ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName, Versions: ['2'] })));

    // Assess
    expect(first.SuccessfullyDeletedLaunchTemplateVersions?.map((v) => v.VersionNumber)).toEqual([2]);
    expect(first.UnsuccessfullyDeletedLaunchTemplateVersions?.map((v) => v.VersionNumber)).toEqual([1, 7]);
    expect(afterFirst).toEqual([[1, 3], 3]);
    expect(afterSecond).toEqual([[1], 1]);
    expect(LaunchTemplateVersion?.VersionNumber).toBe(4);
    expect(await versions()).toEqual([1, 4]);
    expect(gone).toBe('InvalidLaunchTemplateId.VersionNotFound 400');
  });

  it('says "amazon" owns an address EC2 assigned at launch, and the account one it allocated, like AWS', async () => {
    // Prepare
    const assigned = await runInstance();
    const allocated = await runInstance();
    const { AllocationId } = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    await ec2.send(new AssociateAddressCommand({ AllocationId: AllocationId!, InstanceId: allocated }));
    const ownerOf = async (id: string) =>
      (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!.NetworkInterfaces![0]!
        .Association?.IpOwnerId;

    // Act / Assess
    expect(await ownerOf(assigned)).toBe('amazon');
    expect(await ownerOf(allocated)).toBe('123456789012');
  });

  it('keeps an Elastic IP associated through a stop, and releases only the address EC2 assigned, like AWS', async () => {
    // Prepare
    const assigned = await runInstance();
    const allocated = await runInstance();
    const { AllocationId, PublicIp } = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
    await ec2.send(new AssociateAddressCommand({ AllocationId: AllocationId!, InstanceId: allocated }));
    const associationOf = async (id: string) =>
      (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!.NetworkInterfaces![0]!
        .Association;

    // Act
    await ec2.send(new StopInstancesCommand({ InstanceIds: [assigned, allocated] }));

    // Assess
    expect((await associationOf(assigned))?.PublicIp).toBeUndefined();
    expect(await associationOf(allocated)).toMatchObject({ PublicIp, IpOwnerId: '123456789012' });
  });

  it('shuffles with a seed: the same order for the same seed, every item kept', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    expect(seededShuffle(items, 5)).toEqual(seededShuffle(items, 5));
    expect(seededShuffle(items, 5)).not.toEqual(items);
    expect([...seededShuffle(items, 5)].sort((a, b) => a - b)).toEqual(items);
  });
});

// ---------------------------------------------------------------------------
// LocalCloud: image builds, state-change events, scrambled delivery
// ---------------------------------------------------------------------------

describe('LocalCloud with faults', { timeout: 30_000 }, () => {
  let cloud: LocalCloud;
  beforeAll(async () => {
    cloud = await LocalCloud.start({ imagePending: { forMs: 300_000, clock: 'manual' } });
  }, 60_000);
  afterAll(async () => cloud?.stop(), 30_000);

  it('announces an image once, when it has finished building, and the settle then marks it good', async () => {
    // Prepare: a bake, the image still building
    await cloud.reset();
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    await cloud.fireSchedule('nightly', new Date('2026-11-26T03:00:00Z'));
    await cloud.deliver();

    // Act / Assess: nothing to announce while it builds
    expect(await cloud.announceImageStates()).toBe(0);
    await cloud.finishImageBuilds();
    expect(await cloud.announceImageStates()).toBe(1);
    expect(await cloud.announceImageStates()).toBe(0);
    const settled = await cloud.deliver();

    // Assess
    // imageState settles it; its ImageBaked reaches neither promote nor the copy queue: the instance names
    // no promotion target and no copy-to (issue 18: their rules take only `promotes` and `copies`).
    expect(settled.map((d) => [d.function, d.result])).toEqual([['imageState', { batchItemFailures: [] }]]);
    expect(cloud.published('ImageBaked')).toHaveLength(1);
  });

  it('delivers each event the chosen number of times in a seeded order, across functions', async () => {
    // Prepare: three bake requests and an unrelated AMI event waiting
    await cloud.reset();
    const ids = await cloud.launch(3, { 'ami-lifecycle:bake': 'nightly' });
    await cloud.fireSchedule('nightly', new Date('2026-11-26T03:00:00Z'));
    await cloud.putEvent({
      source: 'aws.ec2',
      detailType: 'EC2 AMI State Change',
      detail: { ImageId: 'ami-760aaa0f', State: 'available' },
    });

    // Act
    const deliveries = await cloud.deliver({ copies: 3, shuffleSeed: 11 });

    // Assess: 12 deliveries, bake and image-state interleaved, one image per instance
    expect(deliveries).toHaveLength(12);
    const functions = deliveries.map((d) => d.function);
    expect(functions.filter((f) => f === 'bake')).toHaveLength(9);
    expect(functions.filter((f) => f === 'imageState')).toHaveLength(3);
    expect(functions.slice(0, 9)).not.toEqual(Array(9).fill('bake'));
    expect(deliveries.filter((d) => d.function === 'bake').every((d) => d.attempts === 1 && d.error === undefined)).toBe(true);
    const { Images = [] } = await cloud.ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    expect(Images.map((i) => i.SourceInstanceId).sort()).toEqual([...ids].sort());
  });

  it('fires a schedule again, as Scheduler retries, when its invocation fails', async () => {
    // Prepare: the first invocation crashes at its first call
    await cloud.reset();
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    cloud.proxy.crashAfter({ after: 0 });
    let fired = 0;
    const original = cloud.invoke.bind(cloud);
    cloud.invoke = async (name, event) => {
      if (++fired === 2) cloud.proxy.disarmCrash();
      return original(name, event);
    };

    try {
      // Act
      const report = (await cloud.fireSchedule('nightly', new Date('2026-11-26T03:00:00Z'), { attempts: 3 })) as { bakeRequested: number };

      // Assess
      expect(fired).toBe(2);
      expect(report.bakeRequested).toBe(1);
    } finally {
      cloud.invoke = original;
    }
  });
});
