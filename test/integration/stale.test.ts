/**
 * Stale images (issue 19) against moto behind the harness: an account with the stack's own images
 * and a person's image carrying its tag, and legacy images, some unused, others used by a stopped
 * instance, a terminated instance EC2 still lists, a launch template version that is neither default
 * nor latest, a launch configuration and its group, a plain-text SSM parameter, another account.
 * `stale` lists exactly the right candidates and reasons, `adopt` tags exactly those, and the next
 * rotation (the rotate function, under its own role) deletes only what the retention allows.
 */
import { describe, expect, it } from 'vitest';
import {
  CreateImageCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  DescribeImageAttributeCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  ModifyImageAttributeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { AutoScalingClient, CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand } from '@aws-sdk/client-auto-scaling';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { MOTO_BASE_AMI, pastNights } from '../harness/local-cloud.js';
import { runCli } from '../harness/run-cli.js';
import { tagRecord } from '../../shared/domain/tags.js';

const MANAGED_BY = 'ami-lifecycle-dev';
const OTHER_ACCOUNT = '111122223333';
const DAY = 86_400_000;
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

const cloud = cloudPerFile({ env: { DEFAULT_RETAIN: '7', POWERTOOLS_LOG_LEVEL: 'SILENT' } });
const cli = (...args: string[]) => runCli(['--endpoint', cloud.proxy.endpoint, '--quiet', ...args]);

/** Clients through the proxy (an operator's calls: the API model checks them, moto's gaps are closed). */
const clients = () => {
  const config = { endpoint: cloud.proxy.endpoint, region: 'us-east-1', credentials };
  return { ec2: new EC2Client(config), asg: new AutoScalingClient(config), ssm: new SSMClient(config) };
};

async function image(imageId: string): Promise<Image | undefined> {
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'image-id', Values: [imageId] }] }),
  );
  return Images[0];
}

interface Legacy {
  unused: string[];
  stopped: string;
  terminated: string;
  template: string;
  configuration: string;
  parameter: string;
  shared: string;
  recent: string;
  handMade: string;
  personsWithOurTag: string;
}

/** The legacy images, made through the proxy 200 days ago (10 days ago for `recent`), and what uses them. */
async function legacyAccount(): Promise<Legacy> {
  const { ec2, asg, ssm } = clients();
  const [builder] = await cloud.launch(1, { Name: 'packer-builder' });
  const old = new Date(Date.now() - 200 * DAY);
  const make = async (name: string, at: Date, tags?: Record<string, string>) => {
    cloud.setClock(at);
    const { ImageId } = await ec2.send(
      new CreateImageCommand({
        InstanceId: builder!,
        Name: name,
        ...(tags
          ? { TagSpecifications: [{ ResourceType: 'image', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }] }
          : {}),
      }),
    );
    return ImageId!;
  };
  const unused = [await make('packer-web-1001', old), await make('packer-web-1002', new Date(old.getTime() + DAY))];
  const stopped = await make('packer-web-1003', old);
  const terminated = await make('packer-api-2001', old);
  const template = await make('packer-api-2002', old);
  const configuration = await make('packer-api-2003', old);
  const parameter = await make('packer-db-3001', old);
  const shared = await make('packer-db-3002', old);
  const recent = await make('packer-new-4001', new Date(Date.now() - 10 * DAY));
  const handMade = await make('hand-made', old);
  const personsWithOurTag = await make('packer-ours-5001', old, { 'ami-lifecycle:managed-by': MANAGED_BY, 'ami-lifecycle:status': 'good' });

  // Launched 150 days ago (reported as LastLaunchedTime, 24 h later), then stopped; another terminated.
  cloud.setClock(new Date(old.getTime() + 50 * DAY));
  const run = async (imageId: string) =>
    (await ec2.send(new RunInstancesCommand({ ImageId: imageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }))).Instances![0]!
      .InstanceId!;
  await ec2.send(new StopInstancesCommand({ InstanceIds: [await run(stopped)] }));
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [await run(terminated)] }));
  cloud.setClock(undefined);

  // A template whose version 2 (of 4) names the image: neither its default (1) nor its latest (4).
  const lt = await ec2.send(
    new CreateLaunchTemplateCommand({ LaunchTemplateName: 'legacy-api', LaunchTemplateData: { ImageId: MOTO_BASE_AMI } }),
  );
  const id = lt.LaunchTemplate!.LaunchTemplateId!;
  for (const imageId of [template, MOTO_BASE_AMI, MOTO_BASE_AMI]) {
    await ec2.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: id, LaunchTemplateData: { ImageId: imageId } }));
  }
  await asg.send(
    new CreateLaunchConfigurationCommand({ LaunchConfigurationName: 'legacy-lc', ImageId: configuration, InstanceType: 't3.micro' }),
  );
  await asg.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: 'legacy-group',
      LaunchConfigurationName: 'legacy-lc',
      MinSize: 0,
      MaxSize: 0,
      AvailabilityZones: ['us-east-1a'],
    }),
  );
  // Plain text, not aws:ec2:image: DescribeImageReferences would not see it; stale reads it itself.
  await ssm.send(new PutParameterCommand({ Name: '/legacy/db-ami', Type: 'String', Value: parameter }));
  await ec2.send(new ModifyImageAttributeCommand({ ImageId: shared, LaunchPermission: { Add: [{ UserId: OTHER_ACCOUNT }] } }));
  return { unused, stopped, terminated, template, configuration, parameter, shared, recent, handMade, personsWithOurTag };
}

interface StaleJson {
  candidates: number;
  bytesToFree: number;
  monthlySaving: number;
  pricePerGbMonth: number;
  calls: { describeImageReferences: number; describeImageAttribute: number };
  entries: Array<{
    imageId: string;
    candidate: boolean;
    ownership: string;
    lastLaunchedTime?: string;
    uses: Array<{ kind: string; resource: string }>;
    notCandidate: string[];
  }>;
}

describe('stale and adopt', () => {
  it('lists exactly the unused legacy images, adopts exactly those, and rotation deletes only what their retention allows', {
    timeout: 120_000,
  }, async () => {
    // Prepare: the stack's own lineage (3 nights, retain 1), its oldest image named by a launch configuration
    await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:retain': '1' });
    for (const night of pastNights(3)) await cloud.bakeCycle('nightly', night);
    const { Images: managed = [] } = await cloud.ec2.send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:source-instance', Values: ['*'] }] }),
    );
    const baked = managed.sort((a, b) => (a.CreationDate! < b.CreationDate! ? -1 : 1)).map((i) => i.ImageId!);
    expect(baked).toHaveLength(3);
    const { asg } = clients();
    await asg.send(
      new CreateLaunchConfigurationCommand({ LaunchConfigurationName: 'baked-lc', ImageId: baked[0], InstanceType: 't3.micro' }),
    );
    const legacy = await legacyAccount();

    // Act 1: stale, the packer images
    const seen = await cli('stale', '--name', 'packer-*', '--json');
    expect(seen.code, seen.stderr).toBe(0);
    const report = JSON.parse(seen.stdout) as StaleJson;
    const entry = (id: string) => report.entries.find((e) => e.imageId === id)!;
    const kinds = (id: string) => entry(id).uses.map((u) => `${u.kind} ${u.resource}`);

    // Assess: exactly the unused ones; every reason of the others
    expect(
      report.entries
        .filter((e) => e.candidate)
        .map((e) => e.imageId)
        .sort(),
    ).toEqual([...legacy.unused].sort());
    expect(report.entries.map((e) => e.imageId)).not.toContain(legacy.handMade); // the name filter
    expect(entry(legacy.stopped).uses.map((u) => u.kind)).toEqual(['instance']);
    expect(entry(legacy.stopped).notCandidate.join()).toContain('(stopped)');
    // Launched 150 days ago: LastLaunchedTime as EC2 reports it (the harness closes moto's gap).
    expect(Date.now() - new Date(entry(legacy.stopped).lastLaunchedTime!).getTime()).toBeCloseTo(150 * DAY, -6);
    expect(entry(legacy.terminated).notCandidate.join()).toContain('(terminated)');
    expect(kinds(legacy.template)).toEqual([expect.stringMatching(/^launch-template lt-/)]);
    expect(kinds(legacy.configuration).sort()).toEqual(['auto-scaling-group legacy-group', 'launch-configuration legacy-lc']);
    expect(kinds(legacy.parameter)).toEqual(['ssm-parameter legacy/db-ami']);
    expect(kinds(legacy.shared)).toEqual([`shared ${OTHER_ACCOUNT}`]);
    expect(report.entries.map((e) => e.imageId)).not.toContain(legacy.recent); // 10 days old, not 90
    expect(entry(legacy.personsWithOurTag).ownership).toBe('this-stack');
    expect(entry(legacy.unused[0]!).lastLaunchedTime).toBeUndefined();
    // Launch permissions are read per would-be candidate only: the 2 unused and the shared one.
    expect(report.calls.describeImageAttribute).toBe(3);
    expect(report.bytesToFree).toBeGreaterThan(0);
    expect(report.pricePerGbMonth).toBe(0.05);

    // Act 2: an operator who takes shared images too
    const withShared = JSON.parse((await cli('stale', '--name', 'packer-*', '--include-shared', '--json')).stdout) as StaleJson;
    expect(
      withShared.entries
        .filter((e) => e.candidate)
        .map((e) => e.imageId)
        .sort(),
    ).toEqual([...legacy.unused, legacy.shared].sort());

    // The text report ends with the summary: the candidates and what deleting them would save.
    const text = await cli('stale', '--name', 'packer-*', '--price', '0.1');
    expect(text.stdout).toMatch(
      /\d+ image\(s\) owned, 9 shown, 2 candidate\(s\): deleting them would free .* about \$[\d.]+ a month at \$0\.1 per GB-month/,
    );

    // Act 3: adopt (a dry run first tags nothing; without --yes and no terminal to ask on, nothing either)
    const dry = await cli('adopt', '--name', 'packer-*', '--retain', '1', '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect((await image(legacy.unused[0]!))!.Tags ?? []).toEqual([]);
    const unasked = await cli('adopt', '--name', 'packer-*');
    expect(unasked.code).toBe(2);
    expect(unasked.stderr).toContain('give --yes');
    expect((await image(legacy.unused[0]!))!.Tags ?? []).toEqual([]);
    const adopted = await cli('adopt', '--name', 'packer-*', '--retain', '1', '--yes', '--json');
    expect(adopted.code, adopted.stderr).toBe(0);
    expect((JSON.parse(adopted.stdout) as { adopted: string[] }).adopted.sort()).toEqual([...legacy.unused].sort());
    for (const id of legacy.unused) {
      const tags = tagRecord((await image(id))!.Tags);
      expect(tags).toMatchObject({
        'ami-lifecycle:managed-by': MANAGED_BY,
        'ami-lifecycle:lineage': 'adopted/packer-web',
        'ami-lifecycle:retain': '1',
        'ami-lifecycle:status': 'good',
      });
      expect(tags['ami-lifecycle:adopted']).toMatch(new RegExp(`^${id}@`));
      const snapshotId = (await image(id))!.BlockDeviceMappings!.find((m) => m.Ebs)!.Ebs!.SnapshotId!;
      const { Snapshots = [] } = await cloud.ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshotId] }));
      expect(tagRecord(Snapshots[0]!.Tags)['ami-lifecycle:managed-by']).toBe(MANAGED_BY);
    }
    for (const id of [
      legacy.stopped,
      legacy.terminated,
      legacy.template,
      legacy.configuration,
      legacy.parameter,
      legacy.shared,
      legacy.recent,
    ]) {
      expect(tagRecord((await image(id))!.Tags)['ami-lifecycle:managed-by']).toBeUndefined();
    }
    // A second adoption finds nothing new: adopted images are the stack's now.
    const again = JSON.parse((await cli('adopt', '--name', 'packer-*', '--yes', '--json')).stdout) as { steps: unknown[] };
    expect(again.steps).toEqual([]);

    // status shows the adopted lineage, with no missing instance to complain of.
    const status = JSON.parse((await cli('status', '--json')).stdout) as {
      lineages: Array<{ lineage: string; images: number; problems: string[] }>;
    };
    expect(status.lineages.find((l) => l.lineage === 'adopted/packer-web')).toMatchObject({ images: 2, problems: [] });

    // Act 4: the next rotation, as the rotate function
    await cloud.invoke('rotate', { trigger: 'schedule' });

    // Assess: retain 1 keeps the newest adopted image and deletes the other with its snapshot; the
    // stack's lineage keeps its newest and the one the launch configuration names; nothing else goes.
    const gone = async (id: string) => (await image(id)) === undefined;
    expect(await gone(legacy.unused[0]!)).toBe(true);
    expect(await gone(legacy.unused[1]!)).toBe(false);
    expect(await gone(baked[0]!)).toBe(false);
    expect(await gone(baked[1]!)).toBe(true);
    expect(await gone(baked[2]!)).toBe(false);
    for (const id of [legacy.stopped, legacy.terminated, legacy.template, legacy.configuration, legacy.parameter, legacy.shared]) {
      expect(await gone(id)).toBe(false);
    }
    expect(await gone(legacy.recent)).toBe(false);
    expect(await gone(legacy.handMade)).toBe(false);
    expect(await gone(legacy.personsWithOurTag)).toBe(false);
    const rotated = cloud.published('ImagesRotated').at(-1)!.detail as { deletions: Array<{ imageId: string }> };
    expect(rotated.deletions.map((d) => d.imageId).sort()).toEqual([legacy.unused[0]!, baked[1]!].sort());
  });

  it('reports LastLaunchedTime 24 hours after a launch, in DescribeImages and DescribeImageAttribute, as EC2 does', async () => {
    // Prepare
    const { ec2 } = clients();
    const [builder] = await cloud.launch(1, {});
    const { ImageId } = await ec2.send(new CreateImageCommand({ InstanceId: builder!, Name: 'launched' }));
    const launchedAt = new Date('2026-06-01T12:00:00.000Z');
    cloud.setClock(launchedAt);
    await ec2.send(new RunInstancesCommand({ ImageId, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }));
    const lastLaunched = async () => (await ec2.send(new DescribeImagesCommand({ ImageIds: [ImageId!] }))).Images![0]!.LastLaunchedTime;
    const attribute = async () =>
      (await ec2.send(new DescribeImageAttributeCommand({ ImageId: ImageId!, Attribute: 'lastLaunchedTime' }))).LastLaunchedTime?.Value;

    // Act, Assess: not within 24 hours; then the launch's time
    cloud.setClock(new Date(launchedAt.getTime() + 23 * 3_600_000));
    expect(await lastLaunched()).toBeUndefined();
    expect(await attribute()).toBeUndefined();
    cloud.setClock(new Date(launchedAt.getTime() + 24 * 3_600_000));
    expect(await lastLaunched()).toBe(launchedAt.toISOString());
    expect(await attribute()).toBe(launchedAt.toISOString());
  });
});
