/**
 * `npm start` must keep working for a new user, and must show the truth: run the
 * sandbox for four simulated days in-process, then read moto, what it printed and
 * the events it wrote. Also `npm start` itself (exit codes) and the sandbox's own
 * wiring check (its clock: test/unit/harness/cron.test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DescribeImagesCommand, DescribeInstancesCommand, DescribeSnapshotsCommand, EC2Client, type Image } from '@aws-sdk/client-ec2';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';
import { DR_REGION, exitCode, routingProblems, runSandbox, type SandboxRun } from '../../scripts/sandbox.js';
import { tagRecord } from '../../shared/domain/tags.js';

const run = promisify(execFile);
const MANAGED_BY = 'ami-lifecycle-dev';
/** Fri 20 to Mon 23 November 2026: the weekly schedule fires on Sunday the 22nd, web-1 fails that day. */
const START = '2026-11-20';
const NIGHTS = ['2026-11-20', '2026-11-21', '2026-11-22', '2026-11-23'];

let sandbox: SandboxRun;
const printed: string[] = [];
const eventsFile = join(mkdtempSync(join(tmpdir(), 'sandbox-')), 'events.jsonl');

beforeAll(async () => {
  sandbox = await runSandbox({ days: 4, fleet: 3, start: START, eventsOut: eventsFile }, (line = '') => printed.push(line));
}, 90_000);
afterAll(async () => {
  await sandbox?.cloud.stop();
});

const idOf = (name: string) => sandbox.fleet.find((i) => i.name === name)!.instanceId;
const output = () => printed.join('\n');

async function managedImages(): Promise<Image[]> {
  const { Images = [] } = await sandbox.cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:managed-by', Values: [MANAGED_BY] }] }),
  );
  return Images;
}

/** Lineage -> its baked images' "schedule/slot", sorted (adopted images have no slot). */
async function slotsByLineage(): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const image of await managedImages()) {
    const t = tagRecord(image.Tags);
    if (t['ami-lifecycle:adopted'] !== undefined) continue;
    (out[t['ami-lifecycle:lineage']!] ??= []).push(`${t['ami-lifecycle:schedule']}/${t['ami-lifecycle:slot']}`);
  }
  for (const slots of Object.values(out)) slots.sort();
  return out;
}

describe('npm start (the sandbox), four simulated days', () => {
  it('ends with a clean run: exit code 0, no wiring problem', () => {
    expect(sandbox.problems).toEqual([]);
    expect(exitCode(sandbox)).toBe(0);
    expect(output()).not.toMatch(/WIRING PROBLEM|PROBLEM/);
    expect(output()).toMatch(/every event sent as AWS would reached the function serverless.yml routes it to/);
  });

  it('leaves exactly the images the retain policies say, every one good, with no orphaned snapshot', async () => {
    const nightly = (days: string[]) => days.map((d) => `nightly/${d}`);
    // Web servers keep 3 (their tag); the db and the batch host fall back to the default 7. web-1's
    // images are promoted into a launch template (issue 16): its last 10 versions hold them, and
    // DescribeImageReferences reports them in use, so rotation keeps all four.
    expect(await slotsByLineage()).toEqual({
      [idOf('web-1')]: nightly(NIGHTS),
      [idOf('web-2')]: nightly(NIGHTS.slice(1)),
      [idOf('web-3')]: nightly(NIGHTS.slice(1)),
      [idOf('db')]: [...nightly(NIGHTS), 'weekly/2026-W47'],
      [idOf('batch')]: nightly(NIGHTS),
    });
    const images = await managedImages();
    // Good, but the one the operator rolled web-1's targets back from: marked bad.
    const bad = images
      .filter((i) => tagRecord(i.Tags)['ami-lifecycle:status'] === 'bad')
      .map((i) => tagRecord(i.Tags)['ami-lifecycle:slot']);
    expect(bad).toEqual([NIGHTS[3]]);
    expect(images.map((i) => tagRecord(i.Tags)['ami-lifecycle:status']).filter((s) => s !== 'good' && s !== 'bad')).toEqual([]);
    const names = images.map((i) => i.Name);
    expect(new Set(names).size).toBe(names.length);

    const { Snapshots = [] } = await sandbox.cloud.ec2.send(
      new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:managed-by', Values: [MANAGED_BY] }] }),
    );
    const ofImages = images.flatMap((i) => (i.BlockDeviceMappings ?? []).map((m) => m.Ebs!.SnapshotId!));
    expect(Snapshots.map((s) => s.SnapshotId).sort()).toEqual(ofImages.sort());
  });

  it('relaunched the failed web server exactly once, from its last good image, despite the duplicate event', async () => {
    const failed = idOf('web-1');
    const { Reservations = [] } = await sandbox.cloud.ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag-key', Values: ['ami-lifecycle:replaces'] }] }),
    );
    const replacements = Reservations.flatMap((r) => r.Instances ?? []);
    expect(replacements).toHaveLength(1);
    const [replacement] = replacements;
    const tags = tagRecord(replacement!.Tags);
    expect(tags).toMatchObject({ 'ami-lifecycle:replaces': failed, 'ami-lifecycle:lineage': failed, Name: 'web-1' });
    expect(replacement!.State?.Name).toBe('running');
    const sunday = (await managedImages()).find((i) => i.Name === `${MANAGED_BY}/${failed}/nightly/2026-11-22`);
    expect(replacement!.ImageId).toBe(sunday!.ImageId);

    // The duplicate finds the replacement and publishes again, marked resumed: one relaunch (the DR relaunch aside).
    const relaunched = sandbox.cloud.published('InstanceRelaunched').filter((e) => e.detail.region === undefined);
    expect(relaunched.filter((e) => e.detail.resumed === false)).toHaveLength(1);
    expect(new Set(relaunched.map((e) => `${e.detail.failedInstanceId} -> ${e.detail.newInstanceId}`))).toEqual(
      new Set([`${failed} -> ${replacement!.InstanceId}`]),
    );
    // One by recovery, one by the DR relaunch in another region (see below).
    expect(sandbox.cloud.proxy.calls().RunInstances).toBe(2);
    expect(output()).toContain(`recover: web-1 relaunched: ${failed} -> ${replacement!.InstanceId} from ${sunday!.ImageId}`);
    expect(output()).toMatch(/nothing changed: 1 replacement\(s\) of web-1/);
  });

  it('prints the timeline: the schedules of each day, bakes, settling, rotation deletions and the state changes', () => {
    const text = output();
    for (const [n, day] of NIGHTS.entries()) expect(text).toMatch(new RegExp(`== day ${n + 1} {2}\\w{3} ${day}`));
    expect(text).toMatch(/03:00 {2}nightly fires: slot 2026-11-20, 5 bake request\(s\); skipped: 1 invalid-policy/);
    expect(text).toMatch(/04:00 {2}weekly fires: slot 2026-W47, 1 bake request\(s\)/);
    expect(text.match(/weekly fires/g)).toHaveLength(1);
    expect(text).toMatch(/PolicyInvalid typo: ami-lifecycle:reboot='yes please'/);
    expect(text).toMatch(/EC2 AMI State Change x5 -> imageState: 5 marked good/);
    expect(text).toMatch(/EC2 Instance State-change Notification x1: web-1 terminated/);
    expect(text).toMatch(/recover: batch ignored/);
    for (const web of ['web-2', 'web-3'])
      expect(text).toMatch(new RegExp(`deleted ${web} nightly/2026-11-20 ami-[0-9a-f]+: not kept by keep 3`));
    // Issue 19: the adopted legacy lineage (retain 1) loses its older image on day 2's rotation.
    expect(text).toMatch(/deleted adopted\/packer-web packer-web-1001 ami-[0-9a-f]+: not kept by keep 1/);
    expect(text.match(/^ {7}deleted /gm)).toHaveLength(3);
    // Promotion (issue 16): each night web-1's image goes into its parameter and template; a rollback at the end.
    expect(
      text.match(
        /ImageBaked x\d+ -> promote: ami-[0-9a-f]+ into ssm:\/ami-lifecycle\/web\/golden \(version \d\), lt:web-golden \(version \d\)/g,
      ),
    ).toHaveLength(4);
    expect(text).toMatch(/npm run cli -- rollback i-[0-9a-f]+ {2}\(web-1's targets back to the image they held before\)/);
    expect(text).toMatch(/ssm:\/ami-lifecycle\/web\/golden: rolled-back to ami-[0-9a-f]+ \(was ami-[0-9a-f]+, now marked bad\), version 5/);
    expect(text).toMatch(/lt:web-golden: rolled-back to ami-[0-9a-f]+ \(was ami-[0-9a-f]+, now marked bad\), version 4/);
  });

  it('shows legacy images, a stale report and an adoption of exactly the unused ones; rotation then keeps the newest', async () => {
    const text = output();
    expect(text).toMatch(/legacy images: 4, made 200 days before day 1, without ami-lifecycle tags/);
    expect(text).toMatch(/10:00 {2}npm run cli -- stale --name 'packer-\*'/);
    // The report: each legacy image with why it is (not) a candidate, then the summary line.
    expect(text).toMatch(/packer-web-1001 +\d+ d +never +1 \(8\.0 GiB\) +yes/);
    expect(text).toMatch(/packer-web-1003 .* no +in use: instance i-[0-9a-f]+ \(stopped\)/);
    expect(text).toMatch(/packer-db-2001 .* no +in use: shared with 111122223333 \(it may be in use there\)/);
    expect(text).toMatch(/4 shown, 2 candidate\(s\): deleting them would free 16\.0 GiB of snapshots/);
    expect(text).toMatch(/npm run cli -- adopt --name 'packer-\*' --retain 1 --yes\n +adopted 2 image\(s\) into adopted\/packer-web: /);

    // What is left: the newer adopted image, the stack's now; the one in use and the shared one untouched.
    const { Images = [] } = await sandbox.cloud.ec2.send(
      new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: ['packer-*'] }] }),
    );
    const byName = Object.fromEntries(Images.map((i) => [i.Name!, tagRecord(i.Tags)]));
    expect(Object.keys(byName).sort()).toEqual(['packer-db-2001', 'packer-web-1002', 'packer-web-1003']);
    expect(byName['packer-web-1002']).toMatchObject({
      'ami-lifecycle:managed-by': MANAGED_BY,
      'ami-lifecycle:lineage': 'adopted/packer-web',
      'ami-lifecycle:retain': '1',
      'ami-lifecycle:status': 'good',
    });
    expect(byName['packer-web-1003']).toEqual({});
    expect(byName['packer-db-2001']).toEqual({});
  });

  it('shows a DR relaunch in a second region: one instance from the copy there, with home down, however often it runs', async () => {
    const web2 = idOf('web-2');
    const regional = new EC2Client({ endpoint: sandbox.cloud.moto.endpoint, region: DR_REGION });
    const { Reservations = [] } = await regional.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'tag:ami-lifecycle:lineage', Values: [web2] }] }),
    );
    const { Images = [] } = await regional.send(new DescribeImagesCommand({ Owners: ['self'] }));
    regional.destroy();
    const instances = Reservations.flatMap((r) => r.Instances ?? []);
    expect(instances).toHaveLength(1);
    const copy = Images.find((i) => i.ImageId === instances[0]!.ImageId)!;
    expect(tagRecord(copy.Tags)).toMatchObject({ 'ami-lifecycle:lineage': web2, 'ami-lifecycle:source-region': 'us-east-1' });
    expect(tagRecord(instances[0]!.Tags)).toMatchObject({ Name: 'web-2', 'ami-lifecycle:dr-relaunch-of': copy.ImageId });
    const dr = sandbox.cloud.published('InstanceRelaunched').filter((e) => e.detail.region === DR_REGION);
    expect(dr.map((e) => [e.detail.newInstanceId, e.detail.resumed])).toEqual([
      [instances[0]!.InstanceId, false],
      [instances[0]!.InstanceId, true],
    ]);
    const text = output();
    expect(text).toMatch(/20:00 {2}disaster recovery: us-east-1 is down; web-2 is relaunched in eu-west-1/);
    // The copy function wrote the DR capture when the copy turned good: the relaunch finds it current.
    expect(text).toMatch(/its newest good copy there: ami-\w+ \(of ami-\w+, made by the copy function\)/);
    expect(text).toMatch(/DR capture: unchanged in eu-west-1/);
    expect(text).toContain(`relaunched as ${instances[0]!.InstanceId} from ${copy.ImageId}; could not follow:`);
    expect(text).toContain(`the same command again: the same instance ${instances[0]!.InstanceId}; RunInstances calls in all: 1`);
  });

  it('ends with the CLI status table, one row per lineage', () => {
    const lines = output().split('\n');
    const at = lines.findIndex((l) => l.startsWith('== npm run cli -- --endpoint'));
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toMatch(/^lineage +name +instance +state/);
    const all = lines.slice(at + 3, lines.indexOf('', at));
    // The adopted legacy lineage (issue 19): its one image kept, no instance of its own.
    expect(all.filter((r) => r.startsWith('adopted/')).map((r) => r.split(/ {2,}/).slice(0, 2))).toEqual([
      ['adopted/packer-web', '(gone)'],
    ]);
    const rows = all.filter((r) => !r.startsWith('adopted/'));
    // web-1..3, db, batch and the mis-tagged one (a lineage without images); not the untagged one.
    expect(rows.map((r) => r.split(/ +/)[1]).sort()).toEqual(['batch', 'db', 'typo', 'web-1', 'web-2', 'web-3']);
    // lineage, name, instance, state, schedules, recover, last good, images, snapshots, next rotation, problems
    const web1 = rows.find((r) => r.startsWith(idOf('web-1')))!.split(/ {2,}/);
    const replacement = sandbox.cloud.published('InstanceRelaunched')[0]!.detail.newInstanceId;
    expect([web1[1], web1[2], web1[3], web1[4], web1[5], web1[7], web1[8], web1[9]]).toEqual([
      'web-1',
      replacement,
      'running',
      'nightly',
      'on-failure',
      '4',
      '32.0 GiB',
      '-',
    ]);
  });

  it('wrote every event the service published, as JSON lines on the simulated clock', () => {
    const events = readFileSync(eventsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { 'detail-type': string; time: string; detail: Record<string, unknown> });
    expect(events).toHaveLength(sandbox.cloud.published().length);
    const count = (type: string) => events.filter((e) => e['detail-type'] === type).length;
    // 4 nights x (3 web + db + batch) + the db's weekly image
    expect(count('BakeRequested')).toBe(21);
    expect(count('ImageBaked')).toBe(21);
    // each night's rotation: the home region's, and web-2's copies in eu-west-1
    expect(count('ImagesRotated')).toBe(8);
    // web-2's four nightly images are copied to eu-west-1; a copy is settled good by the next night's
    // pass, so the fourth is still pending when the run ends
    expect(count('ImageCopied')).toBe(3);
    // web-1's relaunch and its duplicate; web-2's DR relaunch, run twice
    expect(count('InstanceRelaunched')).toBe(4);
    // 4 nights x 2 targets of web-1, and the rollback of both
    expect(count('ImagePromoted')).toBe(10);
    expect(events[0]!.time).toBe('2026-11-20T03:00:00Z');
    const relaunch = events.find((e) => e['detail-type'] === 'InstanceRelaunched')!;
    expect(relaunch.time.slice(0, 13)).toBe('2026-11-22T12');
    expect(events.map((e) => e.time)).toEqual(events.map((e) => e.time).sort());
  });
});

describe('npm start, as a command', () => {
  const tsx = ['--import', 'tsx', 'scripts/sandbox.ts'];
  // The run above pointed AWS_ENDPOINT_URL at its own proxy: a child must start its own moto.
  const { AWS_ENDPOINT_URL: _ours, ...env } = process.env;

  it('exits 0 after a short run', async () => {
    const { stdout } = await run(process.execPath, [...tsx, '--days', '1', '--fleet', '1'], { cwd: PROJECT_ROOT, env, timeout: 60_000 });
    expect(stdout).toMatch(/== day 1 /);
    expect(stdout).toMatch(/^lineage +name/m);
    expect(stdout).toMatch(/^done in [\d.]+ s$/m);
  }, 60_000);

  it('says how to install moto when it is missing, and exits 1 without a stack trace', async () => {
    const failure = await run(process.execPath, [...tsx, '--days', '1'], {
      cwd: PROJECT_ROOT,
      env: { HOME: process.env.HOME, PATH: dirname(process.execPath), POWERTOOLS_LOG_LEVEL: 'SILENT' },
      timeout: 30_000,
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain("pip install 'moto[server]'");
    expect(failure?.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('the sandbox wiring check', () => {
  const terminated = { detailType: 'EC2 Instance State-change Notification', subject: 'web-1 terminated', target: 'recover' };
  const running = { detailType: 'EC2 Instance State-change Notification', subject: 'web-1 running', target: undefined };
  const delivered = (fn: string, result: unknown = { outcomes: [] }) => ({
    function: fn,
    detailType: terminated.detailType,
    attempts: 1,
    result,
  });

  it('passes an event that reached its function, and one meant for none that reached none', () => {
    expect(routingProblems([terminated, running], [delivered('recover')])).toEqual([]);
  });

  it('names an event that reached no function, one that reached the wrong one, and one its function rejected', () => {
    expect(routingProblems([terminated], [])).toEqual([
      'EC2 Instance State-change Notification (1 of 1: web-1 terminated) reached no function; serverless.yml must route it to recover',
    ]);
    expect(routingProblems([running], [delivered('recover')])).toEqual([
      'EC2 Instance State-change Notification reached recover, which must not receive it',
    ]);
    expect(routingProblems([terminated], [delivered('recover', { status: 'rejected', reason: 'detail.state: invalid' })])).toEqual([
      'EC2 Instance State-change Notification reached recover, which could not use it: detail.state: invalid',
    ]);
  });
});
