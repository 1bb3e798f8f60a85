/**
 * The operator CLI against moto, every command and its error paths. The CLI runs
 * in-process through `main(argv)` (stdout and stderr captured), pointed with
 * --endpoint at the fidelity proxy so that its calls are counted; a few cases run
 * the real bin (`node bin/ami-lifecycle.mjs`) as a child process, for the exit
 * codes an operator's shell sees and for the credential chain of a fresh process.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DescribeImagesCommand, DisableImageBlockPublicAccessCommand, type Image } from '@aws-sdk/client-ec2';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';
import { slotFor } from '../../shared/domain/schedule.js';
import { tagRecord } from '../../shared/domain/tags.js';
import type { LineageStatus } from '../../shared/domain/fleet-status.js';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { runCli, type CliRun } from '../harness/run-cli.js';
import { pastNights } from '../harness/local-cloud.js';

const MANAGED_BY = 'ami-lifecycle-dev';
const BAKE = 'ami-lifecycle:bake';
const NODE = join(PROJECT_ROOT, 'node_modules/.bin/node');
const BIN = join(PROJECT_ROOT, 'bin/ami-lifecycle.mjs');
/** Every action that changes something: a read-only command makes none of them. */
const MUTATING = [
  'CreateImage',
  'CreateTags',
  'DeleteTags',
  'DeregisterImage',
  'DeleteSnapshot',
  'EnableImageDeprecation',
  'RunInstances',
  'TerminateInstances',
  'AssociateAddress',
  'CreateLaunchTemplate',
  'CreateLaunchTemplateVersion',
  'PutEvents',
];

const cloud = cloudPerFile();
const scratch = mkdtempSync(join(tmpdir(), 'cli-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** The CLI against the proxy in front of moto (every call it makes is counted). */
const cli = (...args: string[]) => runCli(['--endpoint', cloud.proxy.endpoint, ...args]);

const run = promisify(execFile);

/** Runs the real bin as a child process with exactly `env`; never rejects on a non-zero exit. */
async function bin(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  try {
    const { stdout, stderr } = await run(NODE, [BIN, ...args], { cwd: PROJECT_ROOT, env, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** A child's environment with nothing of this process's AWS settings (the harness sets AWS_ENDPOINT_URL, for one). */
function childEnv(aws: Record<string, string>): NodeJS.ProcessEnv {
  const empty = join(scratch, 'empty');
  writeFileSync(empty, '');
  return {
    PATH: process.env.PATH,
    HOME: scratch,
    AWS_CONFIG_FILE: empty,
    AWS_SHARED_CREDENTIALS_FILE: empty,
    AWS_EC2_METADATA_DISABLED: 'true',
    ...aws,
  };
}

/** The mutating calls the proxy counted since the last resetCalls(). */
function mutatingCalls(): Record<string, number> {
  return Object.fromEntries(Object.entries(cloud.proxy.calls()).filter(([action]) => MUTATING.includes(action)));
}

/** Since the last resetCalls(), the CLI read through the proxy and made only reads. */
function expectReadOnly(): void {
  const actions = Object.keys(cloud.proxy.calls());
  expect(actions).toContain('DescribeImages');
  expect(actions.filter((a) => !/^(Describe|Get|List)/.test(a))).toEqual([]);
  expect(mutatingCalls()).toEqual({});
}

async function bakeNights(nights: Date[]): Promise<void> {
  for (const night of nights) await cloud.bakeCycle('nightly', night);
}

async function managedImages(lineage?: string): Promise<Image[]> {
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [
        { Name: 'tag:ami-lifecycle:managed-by', Values: [MANAGED_BY] },
        ...(lineage ? [{ Name: 'tag:ami-lifecycle:lineage', Values: [lineage] }] : []),
      ],
    }),
  );
  return Images.sort((a, b) => (a.CreationDate! < b.CreationDate! ? 1 : -1));
}

const todaysSlot = () => slotFor(new Date(), 'day', 'UTC');
const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('status', () => {
  /** web-1 (recover on-failure), web-2 (reboot=maybe: never baked), web-3 (baked twice, then terminated). */
  async function arrangeFleet() {
    const [web1] = await cloud.launch(1, { Name: 'web-1', [BAKE]: 'nightly', 'ami-lifecycle:recover': 'on-failure' });
    const [web2] = await cloud.launch(1, { Name: 'web-2', [BAKE]: 'nightly', 'ami-lifecycle:reboot': 'maybe' });
    const [web3] = await cloud.launch(1, { Name: 'web-3', [BAKE]: 'nightly' });
    await bakeNights(pastNights(2));
    await cloud.failInstance(web3!, 'terminated');
    await cloud.deliver();
    return { web1: web1!, web2: web2!, web3: web3! };
  }

  it('shows one row per lineage, the gone instance and the invalid tag as problems, and changes nothing', async () => {
    // Prepare
    const { web1, web2, web3 } = await arrangeFleet();
    cloud.proxy.resetCalls();

    // Act
    const result = await cli('status');

    // Assess: header, rule and one row per lineage; problems named per lineage
    expect(result.code).toBe(0);
    const [table, rest] = result.stdout.split('\nproblems:\n');
    const [problems, publicAccess] = rest!.split('\nAMI block public access: ');
    expect(publicAccess).toBe('on in us-east-1: no image can be made public\n');
    const rows = lines(table!).slice(2);
    expect(rows).toHaveLength(3);
    const rowOf = (id: string) => rows.find((r) => r.startsWith(id))!;
    expect(rowOf(web1)).toMatch(
      new RegExp(`^${web1}\\s+web-1\\s+${web1}\\s+running\\s+nightly\\s+on-failure\\s+\\d+ h\\s+2\\s+16\\.0 GiB\\s+-\\s+-$`),
    );
    expect(rowOf(web2)).toMatch(new RegExp(`^${web2}\\s+web-2\\s+${web2}\\s+running\\s+nightly\\s+off\\s+none\\s+0\\s+0 B\\s+-\\s+1$`));
    expect(rowOf(web3)).toMatch(new RegExp(`^${web3}\\s+\\(gone\\)\\s+nightly\\s+off\\s+\\d+ h\\s+2\\s+16\\.0 GiB\\s+-\\s+1$`));
    expect(lines(problems!).sort()).toEqual(
      [
        `  ${web2}: invalid tag ami-lifecycle:reboot=maybe: expected 'true' or 'false'`,
        `  ${web3}: instance gone: no live instance carries the lineage`,
      ].sort(),
    );
    expect(result.stderr).toContain(`reading images, instances, launch templates and snapshots of ${MANAGED_BY} in us-east-1`);
    // read-only: it read through the proxy, and wrote nothing
    expectReadOnly();
  });

  it('--json prints the lineages with their fields, and only JSON on stdout', async () => {
    // Prepare
    const { web1, web2, web3 } = await arrangeFleet();
    const nights = pastNights(2);
    cloud.proxy.resetCalls();

    // Act
    const result = await cli('--quiet', 'status', '--json');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const view = JSON.parse(result.stdout) as { managedBy: string; generatedAt: string; lineages: LineageStatus[] };
    expect(view.managedBy).toBe(MANAGED_BY);
    expect(Math.abs(Date.parse(view.generatedAt) - Date.now())).toBeLessThan(60_000);
    expect(view.lineages.map((l) => l.lineage)).toEqual([web1, web2, web3].sort());
    const byLineage = Object.fromEntries(view.lineages.map((l) => [l.lineage, l]));
    expect(byLineage[web1]).toMatchObject({
      name: 'web-1',
      instance: { instanceId: web1, state: 'running' },
      schedules: ['nightly'],
      recover: 'on-failure',
      lastGood: { name: `${MANAGED_BY}/${web1}/nightly/${slotFor(nights[1]!, 'day', 'UTC')}`, createdAt: nights[1]!.toISOString() },
      images: 2,
      byStatus: { good: 2 },
      snapshotBytes: 2 * 8 * 2 ** 30,
      nextRotation: [],
      problems: [],
    });
    expect(byLineage[web2]).toMatchObject({
      instance: { instanceId: web2 },
      images: 0,
      problems: [expect.stringContaining('ami-lifecycle:reboot=maybe')],
    });
    expect(byLineage[web2]!.lastGood).toBeUndefined();
    expect(byLineage[web3]).toMatchObject({
      images: 2,
      byStatus: { good: 2 },
      problems: ['instance gone: no live instance carries the lineage'],
    });
    expect(byLineage[web3]!.instance).toBeUndefined();
    expectReadOnly();
  });

  it('says when the account lets images be made public, and how to turn the block on (issue 16)', async () => {
    // Prepare: a person turned block public access for AMIs off
    await cloud.ec2.send(new DisableImageBlockPublicAccessCommand({}));

    // Act
    const text = await cli('status');
    const json = await cli('--quiet', 'status', '--json');

    // Assess
    expect(lines(text.stdout).slice(-2)).toEqual([
      'AMI block public access: unblocked in us-east-1: anyone with ec2:ModifyImageAttribute can make an image (and its data) public',
      '  turn it on: aws ec2 enable-image-block-public-access --image-block-public-access-state block-new-sharing --region us-east-1 ' +
        '(or the EC2 console: Dashboard > Account attributes > Data protection and security > Block public access for AMIs > Manage; it takes up to 10 minutes)',
    ]);
    expect(JSON.parse(json.stdout).imageBlockPublicAccess).toMatchObject({ region: 'us-east-1', state: 'unblocked', blocked: false });
  });

  it('says so for an account with nothing of this stack', async () => {
    // Act
    const result = await cli('status');

    // Assess
    expect(result.code).toBe(0);
    expect(lines(result.stdout)).toEqual([
      'no lineages: no instance is opted in and no image of this stack exists',
      'AMI block public access: on in us-east-1: no image can be made public',
    ]);
  });
});

describe('plan', () => {
  it('shows DELETE with reasons for the images beyond the retain tag, as text and as --json, and changes nothing', async () => {
    // Prepare: three nights of one lineage that keeps one image
    const [instanceId] = await cloud.launch(1, { [BAKE]: 'nightly', 'ami-lifecycle:retain': '1' });
    await bakeNights(pastNights(3));
    const [newest, ...older] = await managedImages(instanceId);
    expect(older).toHaveLength(2);
    cloud.proxy.resetCalls();

    // Act
    const text = await cli('plan');
    const asJson = await cli('plan', '--json');

    // Assess: the text, image by image
    expect(text.code).toBe(0);
    const out = text.stdout;
    expect(out).toMatch(new RegExp(`^${instanceId}  \\(instance policy\\)$`, 'm'));
    expect(out).toContain(`  keep    ${newest!.ImageId}  ${newest!.Name}\n            newest good image of the lineage\n`);
    for (const image of older) {
      expect(out).toContain(`  DELETE  ${image.ImageId}  ${image.Name}\n            not kept by keep 1 (instance policy)\n`);
    }
    expect(out.match(/DELETE/g)).toHaveLength(2);
    expect(out).toContain('1 kept, 2 to delete (16.0 GiB of snapshots), 0 orphaned snapshot(s) to sweep');

    // Assess: the decisions as JSON
    expect(asJson.code).toBe(0);
    const plan = JSON.parse(asJson.stdout) as {
      managedBy: string;
      decisions: Array<{ imageId: string; action: string; lineage?: string; reasons: string[]; snapshotIds: string[] }>;
      orphanSnapshots: unknown[];
    };
    expect(plan.managedBy).toBe(MANAGED_BY);
    expect(plan.orphanSnapshots).toEqual([]);
    const decided = Object.fromEntries(plan.decisions.map((d) => [d.imageId, d]));
    expect(Object.keys(decided).sort()).toEqual([newest!, ...older].map((i) => i.ImageId!).sort());
    expect(decided[newest!.ImageId!]).toMatchObject({ action: 'keep', lineage: instanceId });
    for (const image of older) {
      expect(decided[image.ImageId!]).toMatchObject({
        action: 'delete',
        lineage: instanceId,
        snapshotIds: [expect.stringMatching(/^snap-/)],
      });
      expect(decided[image.ImageId!]!.reasons).toEqual(['not kept by keep 1 (instance policy)']);
    }

    // Assess: nothing was deleted
    expectReadOnly();
    expect(await managedImages(instanceId)).toHaveLength(3);
  });

  it('has nothing to plan in an empty account', async () => {
    // Act
    const text = await cli('plan');
    const asJson = await cli('plan', '--json');

    // Assess
    expect(text.code).toBe(0);
    expect(text.stdout.trim()).toBe('nothing to plan: this stack has no images');
    expect(asJson.code).toBe(0);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ lineages: [], decisions: [], orphanSnapshots: [] });
  });
});

describe('bake', () => {
  it('bakes an instance into the current nightly slot, and a second bake answers already-baked', async () => {
    // Prepare
    const [instanceId] = await cloud.launch(1, { Name: 'api-1', [BAKE]: 'nightly' });
    const name = `${MANAGED_BY}/${instanceId}/nightly/${todaysSlot()}`;
    cloud.proxy.resetCalls();

    // Act
    const first = await cli('bake', instanceId!);
    const createdAfterFirst = cloud.proxy.calls().CreateImage;
    const second = await cli('bake', instanceId!, '--json');

    // Assess: one image, under the scheduled path's name
    expect(first.code).toBe(0);
    expect(createdAfterFirst).toBe(1);
    const images = await managedImages(instanceId);
    expect(images.map((i) => i.Name)).toEqual([name]);
    const imageId = images[0]!.ImageId!;
    expect(lines(first.stdout)[2]).toMatch(new RegExp(`^${instanceId}\\s+created\\s+${imageId} ${name}$`));
    expect(tagRecord(images[0]!.Tags)).toMatchObject({
      'ami-lifecycle:lineage': instanceId,
      'ami-lifecycle:schedule': 'nightly',
      'ami-lifecycle:slot': todaysSlot(),
      'ami-lifecycle:status': 'pending',
    });
    // the second bake finds it (EC2 refuses the same name a second time)
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual([
      expect.objectContaining({
        instanceId,
        schedule: 'nightly',
        slot: todaysSlot(),
        outcome: expect.objectContaining({ status: 'already-baked', imageId, imageName: name }),
      }),
    ]);
    expect(await managedImages(instanceId)).toHaveLength(1);
  });

  it('bakes for the schedule --schedule names, into its own slot', async () => {
    // Prepare
    const [instanceId] = await cloud.launch(1, { [BAKE]: 'nightly,weekly' });
    const week = slotFor(new Date(), 'week', 'UTC');

    // Act
    const result = await cli('bake', instanceId!, '--schedule', 'weekly', '--json');

    // Assess
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([expect.objectContaining({ instanceId, schedule: 'weekly', slot: week })]);
    expect((await managedImages(instanceId)).map((i) => i.Name)).toEqual([`${MANAGED_BY}/${instanceId}/weekly/${week}`]);
  });

  it('bakes every opted-in instance with --all, and leaves the others alone', async () => {
    // Prepare
    const opted = await cloud.launch(2, { [BAKE]: 'nightly' });
    const [other] = await cloud.launch(1, { Name: 'not-opted-in' });

    // Act
    const result = await cli('bake', '--all', '--json');

    // Assess
    expect(result.code).toBe(0);
    const results = JSON.parse(result.stdout) as Array<{ instanceId: string; outcome?: { status: string } }>;
    expect(results.map((r) => r.instanceId).sort()).toEqual([...opted].sort());
    expect(results.every((r) => r.outcome?.status === 'created')).toBe(true);
    const images = await managedImages();
    expect(images.map((i) => i.Name).sort()).toEqual(opted.map((id) => `${MANAGED_BY}/${id}/nightly/${todaysSlot()}`).sort());
    expect(images.some((i) => tagRecord(i.Tags)['ami-lifecycle:lineage'] === other)).toBe(false);
  });

  it('skips an instance without the bake tag', async () => {
    // Prepare
    const [instanceId] = await cloud.launch(1, { Name: 'plain' });
    cloud.proxy.resetCalls();

    // Act
    const result = await cli('bake', instanceId!);

    // Assess: the row says why, exit 1 (not baked); no image was asked for
    expect(result.code).toBe(1);
    expect(lines(result.stdout)[2]).toMatch(new RegExp(`^${instanceId}\\s+skipped\\s+not opted in: no ami-lifecycle:bake tag$`));
    expect(cloud.proxy.calls().CreateImage).toBeUndefined();
    expect(await managedImages()).toEqual([]);
  });

  it('answers exit 5 for an unknown instance id', async () => {
    // Act
    const result = await cli('bake', 'i-0123456789abcdef0');

    // Assess
    expect(result.code).toBe(5);
    expect(lines(result.stdout)[2]).toMatch(/^i-0123456789abcdef0\s+not-found\s+no such instance$/);
    expect(mutatingCalls()).toEqual({});
  });

  it('refuses neither ids nor --all as usage (exit 2)', async () => {
    // Act
    const result = await cli('bake');

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('error: give instance ids or --all (not both)');
    expect(cloud.proxy.calls()).toEqual({});
  });

  it('refuses ids together with --all as usage (exit 2)', async () => {
    // Prepare
    const [instanceId] = await cloud.launch(1, { [BAKE]: 'nightly' });

    // Act
    const result = await cli('bake', instanceId!, '--all');

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('error: give instance ids or --all (not both)');
    expect(result.stdout).toBe('');
    expect(cloud.proxy.calls()).toEqual({});
    expect(await managedImages()).toEqual([]);
  });
});

describe('relaunch', () => {
  it('relaunches an instance from the newest good image exactly once; a repeat resumes', async () => {
    // Prepare: two good nights; recover is off, which a manual relaunch overrides
    const [instanceId] = await cloud.launch(1, { Name: 'db-1', [BAKE]: 'nightly' });
    await bakeNights(pastNights(2));
    const [newest] = await managedImages(instanceId);
    cloud.proxy.resetCalls();

    // Act
    const first = await cli('relaunch', instanceId!);
    const again = await cli('relaunch', instanceId!);

    // Assess: one replacement, from the newest image, carrying the lineage
    const replacements = await cloud.replacementsOf(instanceId!);
    expect(replacements).toHaveLength(1);
    const replacement = replacements[0]!;
    expect(replacement.ImageId).toBe(newest!.ImageId);
    expect(tagRecord(replacement.Tags)).toMatchObject({
      Name: 'db-1',
      'ami-lifecycle:lineage': instanceId,
      'ami-lifecycle:replaces': instanceId,
    });
    expect(first.code).toBe(0);
    expect(first.stdout.trim()).toBe(`relaunched ${instanceId} as ${replacement.InstanceId} from ${newest!.ImageId}`);
    // the repeat finds the replacement rather than launching another
    expect(again.code).toBe(0);
    expect(again.stdout.trim()).toBe(
      `relaunched ${instanceId} as ${replacement.InstanceId} from ${newest!.ImageId} (launched earlier; finished now)`,
    );
    expect(cloud.proxy.calls().RunInstances).toBe(1);
    expect(cloud.published('InstanceRelaunched').map((e) => e.detail)).toEqual([
      expect.objectContaining({ failedInstanceId: instanceId, newInstanceId: replacement.InstanceId, trigger: 'manual', resumed: false }),
      expect.objectContaining({ failedInstanceId: instanceId, newInstanceId: replacement.InstanceId, trigger: 'manual', resumed: true }),
    ]);
  });

  it('never blames an image for a manual relaunch: relaunching a lineage twice within the grace period marks nothing bad', async () => {
    // Prepare: two good nights of lineage web
    await cloud.launch(1, { [BAKE]: 'nightly', 'ami-lifecycle:lineage': 'web' });
    await bakeNights(pastNights(2));
    const [newest] = await managedImages('web');

    // Act: the second relaunch targets the lineage's current instance, the replacement just launched
    const first = await cli('relaunch', 'web');
    const second = await cli('relaunch', 'web');

    // Assess: both from the newest image, which stays good
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(cloud.published('InstanceRelaunched').map((e) => [e.detail.imageId, e.detail.markedBad])).toEqual([
      [newest!.ImageId, undefined],
      [newest!.ImageId, undefined],
    ]);
    expect((await managedImages('web')).map((i) => tagRecord(i.Tags)['ami-lifecycle:status'])).toEqual(['good', 'good']);
  });

  it('relaunches a lineage by name: its newest instance, here one that was terminated', async () => {
    // Prepare: lineage 'web' baked once, then its instance is terminated (recover off: nothing relaunched it)
    const [instanceId] = await cloud.launch(1, { [BAKE]: 'nightly', 'ami-lifecycle:lineage': 'web' });
    await bakeNights(pastNights(1));
    const [image] = await managedImages('web');
    await cloud.failInstance(instanceId!, 'terminated');
    await cloud.deliver();
    expect(await cloud.replacementsOf(instanceId!)).toEqual([]);
    cloud.proxy.resetCalls();

    // Act
    const result = await cli('relaunch', 'web', '--json');

    // Assess
    expect(result.code).toBe(0);
    const [replacement, ...more] = await cloud.replacementsOf(instanceId!);
    expect(more).toEqual([]);
    expect(replacement!.ImageId).toBe(image!.ImageId);
    expect(tagRecord(replacement!.Tags)['ami-lifecycle:lineage']).toBe('web');
    expect(JSON.parse(result.stdout)).toMatchObject({
      instanceId,
      action: 'relaunched',
      replacementId: replacement!.InstanceId,
      imageId: image!.ImageId,
      resumed: false,
    });
    expect(cloud.proxy.calls().RunInstances).toBe(1);
  });

  it('--dry-run publishes RelaunchPlanned and launches nothing', async () => {
    // Prepare
    const [instanceId] = await cloud.launch(1, { [BAKE]: 'nightly' });
    await bakeNights(pastNights(1));
    const [image] = await managedImages(instanceId);
    cloud.proxy.resetCalls();

    // Act
    const result = await cli('relaunch', instanceId!, '--dry-run');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(`would relaunch ${instanceId} from ${image!.ImageId} (dry run: nothing launched)`);
    expect(cloud.proxy.calls().RunInstances).toBeUndefined();
    expect(await cloud.replacementsOf(instanceId!)).toEqual([]);
    expect(cloud.published('RelaunchPlanned').map((e) => e.detail)).toEqual([
      expect.objectContaining({ failedInstanceId: instanceId, imageId: image!.ImageId, trigger: 'manual' }),
    ]);
  });

  it('answers exit 5 for an unknown lineage or instance', async () => {
    // Act
    const lineage = await cli('relaunch', 'no-such-lineage');
    const instance = await cli('relaunch', 'i-0123456789abcdef0');

    // Assess
    expect(lineage.code).toBe(5);
    expect(lineage.stderr).toContain('error: no-such-lineage: no instance or image of this stack carries this lineage');
    expect(instance.code).toBe(5);
    expect(instance.stderr).toContain('error: i-0123456789abcdef0: no such instance');
    expect(lineage.stdout + instance.stdout).toBe('');
    expect(mutatingCalls()).toEqual({});
  });

  it('fails (exit 1) with the reason for a lineage with no good image yet', async () => {
    // Prepare: baked by hand just now, so its only image is still pending
    const [instanceId] = await cloud.launch(1, { [BAKE]: 'nightly', 'ami-lifecycle:lineage': 'fresh' });
    expect((await cli('bake', instanceId!)).code).toBe(0);
    cloud.proxy.resetCalls();

    // Act
    const result = await cli('relaunch', 'fresh');

    // Assess
    expect(result.code).toBe(1);
    expect(result.stdout.trim()).toBe('not relaunched (skipped): the lineage has no good image');
    expect(cloud.proxy.calls().RunInstances).toBeUndefined();
    expect(cloud.published('RecoverySkipped').map((e) => e.detail)).toEqual([
      expect.objectContaining({ instanceId, lineage: 'fresh', trigger: 'manual', reason: 'the lineage has no good image' }),
    ]);
  });
});

describe('report', () => {
  it('writes one timeline per lineage, with and without an events file, and changes nothing', async () => {
    // Prepare: two lineages with two nights each, and the events the service published meanwhile
    const ids = await cloud.launch(2, { [BAKE]: 'nightly' });
    await bakeNights(pastNights(2));
    const published = cloud.published();
    expect(published.length).toBeGreaterThan(0);
    const eventsFile = join(scratch, 'events.jsonl');
    writeFileSync(eventsFile, `${published.map((e) => JSON.stringify(e)).join('\n')}\n`);
    const plainFile = join(scratch, 'plain.html');
    const historyFile = join(scratch, 'history.html');
    cloud.proxy.resetCalls();

    // Act
    const plain = await cli('report', '--html', plainFile);
    const withHistory = await cli('report', '--html', historyFile, '--events', eventsFile);

    // Assess: a page per run, a timeline section per lineage
    expect(plain.code).toBe(0);
    expect(plain.stdout.trim()).toBe(`wrote ${plainFile}: 2 lineage(s)`);
    const page = readFileSync(plainFile, 'utf8');
    expect(page).toMatch(/^<!doctype html>/i);
    expect(page.match(/<section class="timeline[" ]/g)).toHaveLength(2);
    expect([...page.matchAll(/data-lineage="([^"]+)"/g)].map((m) => m[1]).sort()).toEqual([...ids].sort());
    expect(page).toContain('No event history given');

    expect(withHistory.code).toBe(0);
    const history = readFileSync(historyFile, 'utf8');
    expect(history.match(/<section class="timeline[" ]/g)).toHaveLength(2);
    expect(history).toContain(`History: ${published.length} event(s) read`);
    expectReadOnly();
  });

  it('requires --html (usage, exit 2)', async () => {
    // Act
    const result = await cli('report');

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/required option '--html <file>' not specified/);
  });
});

describe('errors and help', () => {
  it('names the endpoint that does not answer (exit 4)', async () => {
    // Act
    const result = await runCli(['--endpoint', 'http://127.0.0.1:1', 'status']);

    // Assess
    expect(result.code).toBe(4);
    expect(result.stderr).toMatch(/^error: http:\/\/127\.0\.0\.1:1 did not answer \(ECONNREFUSED\)/m);
    expect(result.stdout).toBe('');
  });

  it('answers exit 2 for an unknown command, an unknown option, a missing argument', async () => {
    // Act
    const command = await cli('frobnicate');
    const option = await cli('status', '--frobnicate');
    const argument = await cli('relaunch');

    // Assess
    expect(command.code).toBe(2);
    expect(command.stderr).toContain("unknown command 'frobnicate'");
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("unknown option '--frobnicate'");
    expect(argument.code).toBe(2);
    expect(argument.stderr).toContain("missing required argument 'target'");
    expect(cloud.proxy.calls()).toEqual({});
  });

  it('--help lists the commands and the exit codes (exit 0)', async () => {
    // Act
    const result = await cli('--help');

    // Assess
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: ami-lifecycle');
    for (const command of ['status', 'plan', 'bake', 'relaunch', 'report', 'doctor'])
      expect(result.stdout).toMatch(new RegExp(`^  ${command}\\b`, 'm'));
    expect(result.stdout).toContain('Exit codes: 0 done');
  });
});

describe('the bin, as a child process', () => {
  it('runs status --json end to end (exit 0)', async () => {
    // Prepare
    const [instanceId] = await cloud.launch(1, { [BAKE]: 'nightly' });
    await bakeNights(pastNights(1));
    cloud.proxy.resetCalls();

    // Act
    const result = await bin(
      ['--endpoint', cloud.proxy.endpoint, 'status', '--json'],
      childEnv({ AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', AWS_REGION: 'us-east-1' }),
    );

    // Assess
    expect(result.code, result.stderr).toBe(0);
    const view = JSON.parse(result.stdout) as { lineages: LineageStatus[] };
    expect(view.lineages).toEqual([expect.objectContaining({ lineage: instanceId, images: 1, problems: [] })]);
    expectReadOnly();
  });

  it('answers exit 3 without credentials, before touching the endpoint', async () => {
    // Prepare: no keys, no profile, empty config files, no instance metadata
    cloud.proxy.resetCalls();

    // Act
    const result = await bin(['--region', 'eu-west-1', '--endpoint', cloud.proxy.endpoint, 'status'], childEnv({}));

    // Assess
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^error: no usable AWS credentials \(CredentialsProviderError\)/m);
    expect(result.stdout).toBe('');
    expect(cloud.proxy.calls()).toEqual({});
  });

  it('answers exit 2 for an unknown command', async () => {
    // Act
    const result = await bin(['frobnicate'], childEnv({ AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x', AWS_REGION: 'us-east-1' }));

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("unknown command 'frobnicate'");
  });
});
