/**
 * Relaunch in another region (issue 17, part C), against two regions of one moto (moto keeps a
 * backend per region): a bake captures the lineage's configuration at home, a copy lands in R with
 * the contract's tags (made here with the harness's CopyImage: part A's copy step is not on this
 * branch), syncDrCapture copies the capture into R, and `relaunch <lineage> --region R` launches
 * one instance there with the mapped subnet, groups, profile and key, however often it runs, even
 * with home's EC2 and bus unreachable. A copy without provenance is never launched from.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  AllocateAddressCommand,
  AssociateAddressCommand,
  CopyImageCommand,
  CreateImageCommand,
  CreateKeyPairCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeLaunchTemplatesCommand,
  EC2Client,
  RunInstancesCommand,
  type Instance,
  type Tag,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { Ec2Gateway } from '../../shared/aws/ec2-gateway.js';
import { EventBusPublisher } from '../../shared/aws/event-bus.js';
import { TAG } from '../../shared/domain/tags.js';
import { syncDrCapture, type DrCaptureDeps } from '../../shared/use-cases/dr-capture.js';
import { relaunchInRegion, type DrRelaunchDeps } from '../../shared/use-cases/relaunch-in-region.js';
import type { Log } from '../../shared/use-cases/ports.js';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { MOTO_BASE_AMI } from '../harness/local-cloud.js';
import { runCli } from '../harness/run-cli.js';

const HOME = 'us-east-1';
const R = 'eu-west-1';
/** A second DR region, where no DR capture is ever written: the relaunch maps the home capture. */
const R2 = 'eu-central-1';
const NIGHT = new Date('2026-11-24T03:00:00Z');
const USER_DATA = Buffer.from('#!/bin/sh\necho web\n').toString('base64');
const DEAD = 'http://127.0.0.1:9';

const cloud = cloudPerFile({ reset: false });
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const quiet: Log = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

/** A client for a region, through the proxy (so that the harness's gaps apply), or straight to moto. */
const ec2 = (region: string, via: 'proxy' | 'moto' = 'proxy') =>
  new EC2Client({ endpoint: via === 'proxy' ? cloud.proxy.endpoint : cloud.moto.endpoint, region, credentials });

interface Mapped {
  subnetId: string;
  groupId: string;
}

let managedBy: string;
let lineage: string;
let homeImageId: string;
let homeProfileArn: string;
let copyId: string;
let fakeId: string;
let inR: Mapped;
let inR2: Mapped;

/** A VPC, a subnet and a security group in the region: what drRegions maps to. */
async function network(region: string): Promise<Mapped> {
  const client = ec2(region, 'moto');
  const { Vpc } = await client.send(new CreateVpcCommand({ CidrBlock: '10.9.0.0/16' }));
  const { Subnet } = await client.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: '10.9.1.0/24' }));
  const { GroupId } = await client.send(new CreateSecurityGroupCommand({ GroupName: 'web-dr', Description: 'dr', VpcId: Vpc!.VpcId! }));
  return { subnetId: Subnet!.SubnetId!, groupId: GroupId! };
}

/** The copy part A's step makes: CopyImage in R with the source's tags (status pending) and provenance, then good. */
async function copyInto(region: string): Promise<string> {
  const { Images } = await cloud.ec2.send(new DescribeImagesCommand({ ImageIds: [homeImageId] }));
  const own = (Images?.[0]?.Tags ?? []).filter((t) => !t.Key!.startsWith('aws:') && t.Key !== TAG.status);
  const Tags: Tag[] = [
    ...own,
    { Key: TAG.status, Value: 'pending' },
    { Key: TAG.sourceImage, Value: homeImageId },
    { Key: TAG.sourceRegion, Value: HOME },
  ];
  const client = ec2(region);
  const { ImageId } = await client.send(
    new CopyImageCommand({
      SourceImageId: homeImageId,
      SourceRegion: HOME,
      Name: `${Images![0]!.Name}-dr`,
      TagSpecifications: [
        { ResourceType: 'image', Tags },
        { ResourceType: 'snapshot', Tags },
      ],
    }),
  );
  await client.send(new CreateTagsCommand({ Resources: [ImageId!], Tags: [{ Key: TAG.status, Value: 'good' }] }));
  return ImageId!;
}

/** An image in the region with every tag of a good copy, but made by CreateImage: EC2 records no source image. */
async function fakeCopyIn(region: string): Promise<string> {
  const client = ec2(region, 'moto');
  const { Instances } = await client.send(
    new RunInstancesCommand({ ImageId: MOTO_BASE_AMI, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }),
  );
  const { ImageId } = await client.send(new CreateImageCommand({ InstanceId: Instances![0]!.InstanceId!, Name: `look-alike-${region}` }));
  await client.send(
    new CreateTagsCommand({
      Resources: [ImageId!],
      Tags: [
        { Key: TAG.managedBy, Value: managedBy },
        { Key: TAG.lineage, Value: lineage },
        { Key: TAG.status, Value: 'good' },
        { Key: TAG.sourceImage, Value: homeImageId },
        { Key: TAG.sourceRegion, Value: HOME },
      ],
    }),
  );
  return ImageId!;
}

const captureDeps = (): DrCaptureDeps => ({
  managedBy,
  homeRegion: HOME,
  ec2: new Ec2Gateway(ec2(HOME)),
  ec2In: (region) => new Ec2Gateway(ec2(region)),
  log: quiet,
});

/** What the CLI wires, with home's EC2 and bus where the test says (a dead endpoint: home is down). */
const relaunchDeps = (home: 'up' | 'down', drRegions: DrRelaunchDeps['drRegions']): DrRelaunchDeps => ({
  managedBy,
  homeRegion: HOME,
  drRegions,
  ec2: new Ec2Gateway(new EC2Client({ endpoint: home === 'up' ? cloud.proxy.endpoint : DEAD, region: HOME, credentials, maxAttempts: 1 })),
  ec2In: (region) => new Ec2Gateway(ec2(region)),
  events:
    home === 'up'
      ? new EventBusPublisher(
          new EventBridgeClient({ endpoint: cloud.proxy.endpoint, region: HOME, credentials }),
          cloud.wiring.eventBusName,
        )
      : new EventBusPublisher(
          new EventBridgeClient({ endpoint: DEAD, region: HOME, credentials, maxAttempts: 1 }),
          cloud.wiring.eventBusName,
        ),
  log: quiet,
  now: () => new Date(),
});

const map = (): DrRelaunchDeps['drRegions'] => ({
  [R]: { subnetId: inR.subnetId, securityGroupIds: [inR.groupId], instanceProfile: 'web-dr', keyName: 'ops-eu' },
});

async function lineageInstances(region: string): Promise<Instance[]> {
  const { Reservations } = await ec2(region, 'moto').send(
    new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG.lineage}`, Values: [lineage] }] }),
  );
  return (Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

beforeAll(async () => {
  managedBy = cloud.wiring.environment.MANAGED_BY!;
  // Home: a production-like instance (subnet, group, key pair, profile, user data, Elastic IP), baked once.
  const { Vpc } = await cloud.ec2.send(new CreateVpcCommand({ CidrBlock: '10.0.0.0/16' }));
  const { Subnet } = await cloud.ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: '10.0.1.0/24' }));
  const { GroupId } = await cloud.ec2.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web', VpcId: Vpc!.VpcId! }));
  await cloud.ec2.send(new CreateKeyPairCommand({ KeyName: 'ops' }));
  await ec2(R, 'moto').send(new CreateKeyPairCommand({ KeyName: 'ops-eu' }));
  const iam = new IAMClient({ endpoint: cloud.moto.endpoint, region: HOME, credentials });
  await iam.send(new CreateRoleCommand({ RoleName: 'web', AssumeRolePolicyDocument: '{}' }));
  for (const name of ['web', 'web-dr']) {
    const { InstanceProfile } = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
    await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: 'web' }));
    if (name === 'web') homeProfileArn = InstanceProfile!.Arn!;
  }
  iam.destroy();
  const [instanceId] = await cloud.launch(
    1,
    { Name: 'web-1', team: 'payments', [TAG.bake]: 'nightly' },
    {
      InstanceType: 't3.small',
      SubnetId: Subnet!.SubnetId!,
      SecurityGroupIds: [GroupId!],
      KeyName: 'ops',
      IamInstanceProfile: { Arn: homeProfileArn },
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
      UserData: USER_DATA,
    },
  );
  const { AllocationId } = await cloud.ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  await cloud.ec2.send(new AssociateAddressCommand({ AllocationId: AllocationId!, InstanceId: instanceId! }));
  await cloud.bakeCycle('nightly', NIGHT);
  const { Images } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: `tag:${TAG.managedBy}`, Values: [managedBy] }] }),
  );
  homeImageId = Images![0]!.ImageId!;
  lineage = Images![0]!.Tags!.find((t) => t.Key === TAG.lineage)!.Value!;
  [inR, inR2] = [await network(R), await network(R2)];
  copyId = await copyInto(R);
  // Made after the copy, so newer: picked first if provenance were not checked.
  fakeId = await fakeCopyIn(R);
}, 60_000);

describe('the DR capture', () => {
  it('copies the home capture into R without what is bound to home, once per digest', async () => {
    const first = await syncDrCapture(captureDeps(), lineage, R);
    expect(first).toMatchObject({ status: 'created', version: 1 });
    const client = ec2(R, 'moto');
    const name = `${managedBy}-${lineage}`;
    const { LaunchTemplateVersions } = await client.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: ['$Latest'] }),
    );
    const data = LaunchTemplateVersions![0]!.LaunchTemplateData!;
    expect(data).toMatchObject({
      InstanceType: 't3.small',
      IamInstanceProfile: { Arn: homeProfileArn },
      MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2 },
      UserData: USER_DATA,
    });
    expect(data.KeyName).toBeUndefined();
    expect(data.ImageId).toBeUndefined();
    expect(data.Placement?.GroupName).toBeUndefined();
    expect((data.NetworkInterfaces ?? []).flatMap((n) => [n.SubnetId, ...(n.Groups ?? []), n.PrivateIpAddress]).filter(Boolean)).toEqual(
      [],
    );
    const { LaunchTemplates } = await client.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [name] }));
    const tags = Object.fromEntries((LaunchTemplates![0]!.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({
      [TAG.managedBy]: managedBy,
      [TAG.lineage]: lineage,
      [TAG.sourceRegion]: HOME,
      [TAG.captureDigest]: first.status === 'created' ? first.digest : '',
    });
    expect(tags[TAG.leftBehind]).toMatch(/^eip=\S+ ip=\S+ key=ops subnet=subnet-\S+ groups=sg-\S+$/);

    // Again: one read in each region, no version.
    cloud.proxy.resetCalls();
    expect(await syncDrCapture(captureDeps(), lineage, R)).toMatchObject({ status: 'unchanged' });
    expect(cloud.proxy.calls()).toEqual({ DescribeLaunchTemplateVersions: 1, DescribeLaunchTemplates: 1 });
  });
});

describe('relaunch <lineage> --region R', () => {
  it('launches nothing without a subnet for R, saying how to give one', async () => {
    const outcome = await relaunchInRegion(relaunchDeps('up', {}), lineage, R);
    expect(outcome).toMatchObject({ action: 'refused', code: 'NoSubnet' });
    expect(await lineageInstances(R)).toEqual([]);
  });

  it('plans a dry run, publishing RelaunchPlanned with the region, and launches nothing', async () => {
    const outcome = await relaunchInRegion(relaunchDeps('up', map()), lineage, R, { dryRun: true });
    expect(outcome).toMatchObject({ action: 'planned', imageId: copyId, capture: 'dr' });
    expect(await lineageInstances(R)).toEqual([]);
    const planned = cloud.published('RelaunchPlanned').at(-1)!.detail as Record<string, unknown>;
    expect(planned).toMatchObject({ lineage, imageId: copyId, region: R, launch: { subnetId: inR.subnetId, keyName: 'ops-eu' } });
  });

  it('launches from the DR capture and the newest good copy with provenance, with home’s EC2 and bus down', async () => {
    const outcome = await relaunchInRegion(relaunchDeps('down', map()), lineage, R);
    if (outcome.action !== 'relaunched') throw new Error(JSON.stringify(outcome));
    expect(outcome).toMatchObject({ imageId: copyId, sourceImageId: homeImageId, capture: 'dr', resumed: false });
    expect(outcome.notOurs).toEqual([{ imageId: fakeId, reason: expect.stringMatching(/EC2 records no source image for it/) }]);
    // Said plainly: the Elastic IP, the bake's volumes, the private IP; the key pair was mapped.
    expect(outcome.notFollowed.join('\n')).toMatch(/the Elastic IP \S+: an Elastic IP cannot leave us-east-1/);
    expect(outcome.notFollowed.join('\n')).not.toMatch(/key pair/);
    // The event could not reach home's bus: a warning, not a failure.
    expect(outcome.warnings).toEqual([expect.stringMatching(/^InstanceRelaunched not published to the home bus/)]);

    const [launched, ...more] = await lineageInstances(R);
    expect(more).toEqual([]);
    expect(launched).toMatchObject({
      InstanceId: outcome.instanceId,
      ImageId: copyId,
      InstanceType: 't3.small',
      SubnetId: inR.subnetId,
      KeyName: 'ops-eu',
      IamInstanceProfile: { Arn: expect.stringMatching(/instance-profile\/web-dr$/) },
      SecurityGroups: [expect.objectContaining({ GroupId: inR.groupId })],
    });
    const tags = Object.fromEntries((launched!.Tags ?? []).map((t) => [t.Key, t.Value]));
    expect(tags).toMatchObject({ Name: 'web-1', team: 'payments', [TAG.lineage]: lineage, [TAG.drRelaunchOf]: copyId });
  });

  it('is exactly once: three more runs (one through the CLI) answer the same instance', async () => {
    const first = (await lineageInstances(R))[0]!.InstanceId;
    for (let run = 0; run < 2; run++) {
      expect(await relaunchInRegion(relaunchDeps('up', map()), lineage, R)).toMatchObject({
        action: 'relaunched',
        instanceId: first,
        resumed: true,
      });
    }
    const cli = await runCli([
      '--endpoint',
      cloud.proxy.endpoint,
      'relaunch',
      lineage,
      '--region',
      R,
      '--subnet',
      inR.subnetId,
      '--security-groups',
      inR.groupId,
    ]);
    expect(cli.stderr).not.toMatch(/error/);
    expect(cli.stdout).toContain(`relaunched ${lineage} in ${R} as ${first} from the copy ${copyId} (launched earlier: the same instance)`);
    expect(cli.code).toBe(0);
    expect((await lineageInstances(R)).map((i) => i.InstanceId)).toEqual([first]);
    const relaunched = cloud.published('InstanceRelaunched').map((e) => e.detail as Record<string, unknown>);
    expect(relaunched.length).toBeGreaterThanOrEqual(3);
    expect(relaunched.every((d) => d.region === R && d.newInstanceId === first)).toBe(true);
  });

  it('never launches from a copy without provenance, and maps the home capture where R has no DR capture', async () => {
    const fake = await fakeCopyIn(R2);
    const args = [
      '--endpoint',
      cloud.proxy.endpoint,
      'relaunch',
      lineage,
      '--region',
      R2,
      '--subnet',
      inR2.subnetId,
      '--security-groups',
      inR2.groupId,
    ];
    const none = await runCli(args);
    expect(none.stdout).toContain(`not relaunched (NoGoodCopy): ${lineage} has no good copy of ${managedBy} in ${R2}`);
    expect(none.code).toBe(5);
    expect(await lineageInstances(R2)).toEqual([]);

    const copy = await copyInto(R2);
    const json = await runCli([...args, '--json']);
    expect(json.code).toBe(0);
    const outcome = JSON.parse(json.stdout);
    expect(outcome).toMatchObject({ action: 'relaunched', imageId: copy, capture: 'home', notOurs: [{ imageId: fake }] });
    // The map names no key pair for R2: the home key stays behind, and says so.
    expect(outcome.notFollowed.join('\n')).toMatch(/the key pair ops: key pairs are regional and drRegions\["eu-central-1"\] names none/);
    const [launched] = await lineageInstances(R2);
    expect(launched).toMatchObject({ ImageId: copy, SubnetId: inR2.subnetId, IamInstanceProfile: { Arn: homeProfileArn } });
    expect(launched!.KeyName).toBeUndefined();
  });
});
