/**
 * Tests of the test harness itself: moto_server lifecycle and the fidelity
 * proxy that closes moto's gaps (snapshot TagSpecifications on CreateImage,
 * duplicate AMI names) and counts calls.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  CreateImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { startMoto, type MotoServer } from '../harness/moto.js';
import { startFidelityProxy, stripSnapshotTagSpecifications, type FidelityProxy } from '../harness/proxy.js';

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
    const { Snapshots = [] } = await ec2.send(
      new DescribeSnapshotsCommand({ SnapshotIds: snapshotIds as string[] }),
    );
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

    const error = await ec2
      .send(new CreateImageCommand({ InstanceId: instanceId, Name: name }))
      .then(() => undefined, (caught: unknown) => caught);
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
    await expect(
      ec2.send(new CreateImageCommand({ InstanceId: instanceId, Name: 'harness-counted-image' })),
    ).rejects.toMatchObject({ name: 'InvalidAMIName.Duplicate' });
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

    const untouched = new URLSearchParams([['Action', 'CreateImage'], ['Name', 'n']]);
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
      await expect(startMoto()).rejects.toThrow(
        "moto_server not found on PATH: install it with pip install 'moto[server]'",
      );
    } finally {
      process.env.PATH = path;
    }
  });
});
