/**
 * Issue 17, part B: the daily rotation also rotates the service's copies in a destination region,
 * and `status --region` shows each lineage's recovery point there. Two regions of one moto (moto
 * keeps a backend per region): the home region us-east-1, where the rotate function runs, and
 * eu-west-1, reached with an EC2 client for that region. The copies are made as part A's copy
 * reconcile makes them: CopyImage called in the destination through the harness, with the contract's
 * tags at creation; the source images as the bake leaves them (tags at CreateImage).
 */
import {
  CopyImageCommand,
  CreateImageCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  EC2Client,
  RunInstancesCommand,
  type Tag,
} from '@aws-sdk/client-ec2';
import { afterAll, describe, expect, it } from 'vitest';
import type { RecoveryPoint } from '../../shared/domain/fleet-status.js';
import type { RotationReport } from '../../shared/use-cases/rotate-images.js';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { runCli } from '../harness/run-cli.js';

const MANAGED_BY = 'ami-lifecycle-dev';
const HOME = 'us-east-1';
const DR = 'eu-west-1';
const DAY = 86_400_000;

const cloud = cloudPerFile();
const clients: EC2Client[] = [];
afterAll(() => {
  for (const c of clients) c.destroy();
});

/** A client through the harness (counted, checked against AWS's model), acting as a person, not as a function. */
function through(region: string): EC2Client {
  const client = new EC2Client({ endpoint: cloud.proxy.endpoint, region, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  clients.push(client);
  return client;
}

const tagList = (tags: Record<string, string>): Tag[] => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

/** 03:00 UTC `daysAgo` days before today. */
function night(daysAgo: number): Date {
  const d = new Date();
  d.setUTCHours(3, 0, 0, 0);
  return new Date(d.getTime() - daysAgo * DAY);
}

interface Source {
  imageId: string;
  tags: Record<string, string>;
}

/** A good image of the lineage as the bake leaves it, made `daysAgo` nights ago, with its copy-to (and copy-retain) tags. */
async function bake(home: EC2Client, instanceId: string, lineage: string, daysAgo: number, extra: Record<string, string>): Promise<Source> {
  const at = night(daysAgo);
  cloud.setClock(at);
  const slot = at.toISOString().slice(0, 10);
  const tags = {
    'ami-lifecycle:managed-by': MANAGED_BY,
    'ami-lifecycle:lineage': lineage,
    'ami-lifecycle:schedule': 'nightly',
    'ami-lifecycle:slot': slot,
    'ami-lifecycle:status': 'good',
    'ami-lifecycle:source-instance': instanceId,
    ...extra,
  };
  const { ImageId } = await home.send(
    new CreateImageCommand({
      InstanceId: instanceId,
      Name: `${MANAGED_BY}/${lineage}/nightly/${slot}`,
      NoReboot: true,
      TagSpecifications: [
        { ResourceType: 'image', Tags: tagList(tags) },
        { ResourceType: 'snapshot', Tags: tagList(tags) },
      ],
    }),
  );
  return { imageId: ImageId!, tags };
}

/** The service's copy of a source image in the destination, an hour after its bake, as the contract tags it; good. */
async function copy(dr: EC2Client, source: Source, daysAgo: number, status = 'good'): Promise<string> {
  cloud.setClock(new Date(night(daysAgo).getTime() + 3_600_000));
  const { 'ami-lifecycle:status': _status, ...userTags } = source.tags;
  const tags = tagList({
    ...userTags,
    'ami-lifecycle:status': status,
    'ami-lifecycle:source-image': source.imageId,
    'ami-lifecycle:source-region': HOME,
  });
  const { ImageId } = await dr.send(
    new CopyImageCommand({
      SourceImageId: source.imageId,
      SourceRegion: HOME,
      Name: `${MANAGED_BY}/${source.tags['ami-lifecycle:lineage']}/nightly/${source.tags['ami-lifecycle:slot']}`,
      TagSpecifications: [
        { ResourceType: 'image', Tags: tags },
        { ResourceType: 'snapshot', Tags: tags },
      ],
    }),
  );
  return ImageId!;
}

async function imagesIn(client: EC2Client): Promise<Map<string, string[]>> {
  const { Images = [] } = await client.send(new DescribeImagesCommand({ Owners: ['self'] }));
  return new Map(
    Images.map((i) => [i.ImageId!, (i.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []))]),
  );
}

async function snapshotsIn(client: EC2Client): Promise<Set<string>> {
  const { Snapshots = [] } = await client.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
  return new Set(Snapshots.map((s) => s.SnapshotId!));
}

/**
 * The web lineage: five nightly images at home (kept there: the default retain is 7), each copied
 * to eu-west-1 with copy-retain=2. In eu-west-1, the oldest but one copy runs an instance, the next
 * is named by version 2 of a launch template (neither its default nor its latest), and a person
 * copied the newest but one, tags and all, to keep a release.
 */
async function arrange() {
  const home = through(HOME);
  const dr = through(DR);
  const [web] = await cloud.launch(1, { Name: 'web', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:lineage': 'web' });
  const sources: Source[] = [];
  const copies: string[] = [];
  for (const daysAgo of [4, 3, 2, 1, 0]) {
    const source = await bake(home, web!, 'web', daysAgo, { 'ami-lifecycle:copy-to': DR, 'ami-lifecycle:copy-retain': '2' });
    sources.push(source);
    copies.push(await copy(dr, source, daysAgo));
  }
  const [c0, c1, c2, c3, c4] = copies as [string, string, string, string, string];
  await dr.send(new RunInstancesCommand({ ImageId: c1, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1 }));
  const { LaunchTemplate } = await dr.send(
    new CreateLaunchTemplateCommand({ LaunchTemplateName: 'dr-web', LaunchTemplateData: { ImageId: c4, InstanceType: 't3.micro' } }),
  );
  const lt = LaunchTemplate!.LaunchTemplateId!;
  await dr.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: lt, LaunchTemplateData: { ImageId: c2 } }));
  await dr.send(new CreateLaunchTemplateVersionCommand({ LaunchTemplateId: lt, LaunchTemplateData: { ImageId: c4 } }));
  // A person's copy of the newest but one, made (by the clock) as old as the oldest: were it the
  // service's, copy-retain=2 would delete it.
  cloud.setClock(night(4));
  const { ImageId: person } = await dr.send(
    new CopyImageCommand({ SourceImageId: c3, SourceRegion: DR, Name: 'release-1.4', CopyImageTags: true }),
  );
  cloud.setClock(undefined);
  return { home, dr, sources, c0, c1, c2, c3, c4, person: person! };
}

describe('copy rotation in a destination region', () => {
  it('deletes only what copy-retain lets go, keeps copies in use there and a person’s copy, and a dry run deletes nothing', async () => {
    // Prepare
    const { home, dr, c0, c1, c2, c3, c4, person } = await arrange();
    const before = await imagesIn(dr);
    expect([...before.keys()].sort()).toEqual([c0, c1, c2, c3, c4, person].sort());
    const homeBefore = await imagesIn(home);

    // Act: a dry run, then the daily run
    const dry = (await cloud.invoke('rotate', { dryRun: true })) as RotationReport;
    const afterDry = await imagesIn(dr);
    const report = (await cloud.invoke('rotate', {})) as RotationReport;

    // Assess: the dry run planned the one deletion and made none
    expect([...afterDry.keys()].sort()).toEqual([...before.keys()].sort());
    expect(dry.copies?.map((r) => [r.region, r.planned.delete, r.done.deleted])).toEqual([[DR, 1, 0]]);

    // the real run deleted the oldest copy and its snapshot, nothing else, in either region
    const after = await imagesIn(dr);
    expect([...after.keys()].sort()).toEqual([c1, c2, c3, c4, person].sort());
    const snapshots = await snapshotsIn(dr);
    for (const id of before.get(c0)!) expect(snapshots.has(id)).toBe(false);
    for (const id of before.get(c1)!) expect(snapshots.has(id)).toBe(true);
    expect([...(await imagesIn(home)).keys()].sort()).toEqual([...homeBefore.keys()].sort());

    // reported: one event per region, the copies' with the region, what they kept and why
    expect(report.region).toBe(HOME);
    const [drReport] = report.copies!;
    expect(drReport).toMatchObject({
      region: DR,
      sourceRegion: HOME,
      lineages: 1,
      planned: { delete: 1 },
      done: { deleted: 1, snapshotsDeleted: 1 },
      failures: [],
      notOurs: [person],
      // DescribeImageReferences answered in eu-west-1: it alone sees the template's version 2
      referencesChecked: true,
    });
    const events = cloud
      .published('ImagesRotated')
      .map((e) => e.detail as { region?: string; dryRun: boolean; deletions: Array<{ imageId: string }> });
    expect(events.map((e) => [e.region, e.dryRun])).toEqual([
      [HOME, true],
      [DR, true],
      [HOME, false],
      [DR, false],
    ]);
    expect(events[3]!.deletions.map((d) => d.imageId)).toEqual([c0]);

    // a second run finds nothing more to do
    const again = (await cloud.invoke('rotate', {})) as RotationReport;
    expect(again.copies?.[0]).toMatchObject({ region: DR, planned: { delete: 0 }, done: { deleted: 0 }, failures: [] });
  });

  it('status --region shows each recovery point, the stale ones and the lineage with no copy', async () => {
    // Prepare: web as above (newest good copy made tonight); db copied three nights ago and not
    // since (nightly: stale after 48 h); api names eu-west-1 in copy-to but has no copy there
    const { home, dr, c4, sources } = await arrange();
    const [db, api] = await cloud.launch(2, { 'ami-lifecycle:bake': 'nightly' });
    const dbSource = await bake(home, db!, 'db', 3, { 'ami-lifecycle:copy-to': DR });
    const dbCopy = await copy(dr, dbSource, 3);
    await bake(home, api!, 'api', 0, { 'ami-lifecycle:copy-to': DR });
    cloud.setClock(undefined);
    cloud.proxy.resetCalls();

    // Act
    const asJson = await runCli(['--endpoint', cloud.proxy.endpoint, '--quiet', 'status', '--region', DR, '--json']);
    const asText = await runCli(['--endpoint', cloud.proxy.endpoint, '--quiet', 'status', '--region', DR]);

    // Assess
    expect(asJson.code).toBe(0);
    const view = JSON.parse(asJson.stdout) as { region: string; homeRegion: string; lineages: RecoveryPoint[] };
    expect(view).toMatchObject({ region: DR, homeRegion: HOME });
    const byLineage = new Map(view.lineages.map((l) => [l.lineage, l]));
    expect([...byLineage.keys()]).toEqual(['api', 'db', 'web']);
    expect(byLineage.get('web')).toMatchObject({
      state: 'ok',
      schedule: 'nightly',
      limitHours: 48,
      newestGood: { imageId: c4, sourceImageId: sources[4]!.imageId, takenFrom: 'source' },
    });
    expect(byLineage.get('web')!.problems).toEqual([expect.stringContaining('not made by it')]);
    expect(byLineage.get('db')).toMatchObject({ state: 'stale', newestGood: { imageId: dbCopy } });
    expect(byLineage.get('db')!.newestGood!.ageHours).toBeGreaterThan(48);
    expect(byLineage.get('api')).toMatchObject({ state: 'none' });
    expect(byLineage.get('api')!.newestGood).toBeUndefined();
    expect(byLineage.get('api')!.problems[0]).toContain('no good copy in eu-west-1');
    expect(asText.code).toBe(0);
    expect(asText.stdout).toContain(`recovery points in ${DR} (copies from ${HOME})`);
    expect(asText.stdout).toMatch(/db\s+nightly\s+ami-\S+\s+ami-\S+\s+\d+ d.*stale/);
    // a read: nothing changed anywhere
    expect(Object.keys(cloud.proxy.calls()).filter((a) => !/^Describe/.test(a))).toEqual([]);
    // the home region, or no region, is a usage error; a global --region before the command still names the home region
    const homeAsDr = await runCli(['--endpoint', cloud.proxy.endpoint, '--quiet', 'status', '--region', HOME]);
    expect([homeAsDr.code, homeAsDr.stderr]).toEqual([2, expect.stringContaining('is the home region')]);
    expect((await runCli(['--endpoint', cloud.proxy.endpoint, '--quiet', 'status', '--region', 'Europe'])).code).toBe(2);
    const both = await runCli(['--endpoint', cloud.proxy.endpoint, '--region', HOME, '--quiet', 'status', '--region', DR, '--json']);
    expect(JSON.parse(both.stdout)).toMatchObject({ region: DR, homeRegion: HOME });
  });
});
