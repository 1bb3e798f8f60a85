/**
 * `npm start`: the whole lifecycle, locally and offline, against moto. Starts
 * moto on a free loopback port behind the test harness's fidelity proxy (or uses
 * the moto AWS_ENDPOINT_URL names), seeds a demo fleet, and drives the real
 * handlers through the wiring declared in serverless.yml for a few simulated
 * days: the schedules fire on a simulated clock, bakes are delivered, images turn
 * good, rotation deletes what the retention says, and one day a web server fails
 * and is relaunched from its last good image. The EC2 state-change events moto
 * does not emit are synthesised from the state changes it reports, and every one
 * of them must reach the function that should receive it through serverless.yml's
 * rules. Ends with the operator CLI's status table. Nothing here reaches AWS.
 *
 *   npm start -- --days 7 --fleet 5 --start 2026-11-01 --events-out events.jsonl --serve
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command, InvalidArgumentError } from 'commander';
import {
  CreateImageCommand,
  CreateLaunchTemplateCommand,
  CreateSecurityGroupCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  ModifyImageAttributeCommand,
  RunInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, ListEventBusesCommand } from '@aws-sdk/client-eventbridge';
import { createContext } from '../cli/context.js';
import { staleSummary, staleTable, statusTable } from '../cli/render/text.js';
import { readServerless, type ScheduleWiring } from '../cli/serverless-config.js';
import { TAG, tagRecord, type Tags } from '../shared/domain/tags.js';
import { Ec2Gateway } from '../shared/aws/ec2-gateway.js';
import { syncDrCapture } from '../shared/use-cases/dr-capture.js';
import { inspectFleet } from '../shared/use-cases/inspect-fleet.js';
import { adoptImages, adoptionPlan, findStaleImages } from '../shared/use-cases/stale-images.js';
import { relaunchInRegion } from '../shared/use-cases/relaunch-in-region.js';
import { rollbackLineage } from '../shared/use-cases/promotion-operator.js';
import type { Rejected } from '../shared/runtime/middleware.js';
import type { RecoveryOutcome, RecoveryReport } from '../shared/use-cases/recover-instance.js';
import type { RotationReport } from '../shared/use-cases/rotate-images.js';
import type { ScheduleRunReport } from '../shared/use-cases/run-schedule.js';
import { assertNoApiViolations } from '../test/harness/api-model/index.js';
import { cronFirings } from '../test/harness/cron.js';
import { LocalCloud, type Delivery } from '../test/harness/local-cloud.js';
import { totalsLine } from '../test/harness/iam/report.js';
import { isMotoMissing } from '../test/harness/moto.js';

export interface SandboxOptions {
  days: number;
  /** Web servers in the demo fleet (besides the db, the batch host, an untagged and a mis-tagged instance). */
  fleet: number;
  /** The first simulated day, YYYY-MM-DD. */
  start: string;
  /** Write every event the service published as JSON lines. */
  eventsOut?: string | undefined;
  /** An already running moto to use (AWS_ENDPOINT_URL) instead of starting one. */
  endpoint?: string | undefined;
}

export type Say = (line?: string) => void;

export interface DemoInstance {
  instanceId: string;
  name: string;
  tags: Record<string, string>;
}

export interface SandboxRun {
  cloud: LocalCloud;
  /** Where the CLI, the AWS CLI and the SDKs reach the emulator: moto behind the harness's fidelity proxy. */
  endpoint: string;
  fleet: DemoInstance[];
  /** Wiring problems and broken promises, already printed; empty when all went as it should. */
  problems: string[];
}

const STAGE = 'dev';
const DAY_MS = 86_400_000;
/** The functions whose schedules the sandbox fires (statusAlarms is off by default, and nothing raises alarms here). */
const SIMULATED_FUNCTIONS = ['schedule', 'rotate'];
/** The day a web server fails, at most; and when (UTC). */
const FAILURE_DAY = 3;
const FAILURE_TIME = '12:00';
/** When, on day 1, the operator looks at the legacy images and adopts the unused ones (UTC). */
const ADOPT_TIME = '10:00';
const WEB_TAGS = { [TAG.bake]: 'nightly', [TAG.recover]: 'on-failure', [TAG.retain]: '3' };
/**
 * web-1's newest good image goes where the rest of the fleet would launch from: an SSM parameter
 * and a launch template the operator marked promotable (docs/promotion.md). The template starts on
 * an image retired long ago.
 */
const PROMOTE_TARGETS = 'ssm:/ami-lifecycle/web/golden,lt:web-golden';
const RETIRED_IMAGE = 'ami-0123456789abcdef0';

/**
 * Issue 19: images from before the service, without its tags (Packer builds), 200 days older than the
 * first simulated day: two unused, one a stopped instance still uses, one shared with another account.
 * On day 1 the operator looks (`stale`) and adopts the unused ones (`adopt`); the next rotation deletes
 * the older of the two (retain 1), never the others.
 */
const LEGACY_AGE_DAYS = 200;
const OTHER_ACCOUNT = '111122223333';
const LEGACY_FILTER = 'packer-*';
const ADOPT_RETAIN = '1';

const AMI_STATE = 'EC2 AMI State Change';
const INSTANCE_STATE = 'EC2 Instance State-change Notification';

/**
 * Which function must receive each event the sandbox sends as AWS would, written
 * down from the product's contract (docs/tags.md), independently of serverless.yml,
 * whose rules are what is being checked. undefined: no function.
 */
function targetOf(detailType: string, state: string): string | undefined {
  if (detailType === AMI_STATE) return ['available', 'failed'].includes(state) ? 'imageState' : undefined;
  if (detailType === INSTANCE_STATE) return ['stopped', 'terminated'].includes(state) ? 'recover' : undefined;
  if (detailType === 'BakeRequested') return 'bake';
  return undefined;
}

/**
 * The functions an ImageBaked must reach, from its source instance's tags (docs/tags.md): promote when
 * the instance names targets, copy when it names copy regions (issue 18: no other image reaches them).
 */
function imageBakedTargets(instanceTags: Tags | undefined): string[] {
  const named = (key: string) => (instanceTags?.[key] ?? '').trim() !== '';
  return [...(named(TAG.promote) ? ['promote'] : []), ...(named(TAG.copyTo) ? ['copy'] : [])];
}

/** The current tags of the instances `ids`, by id. */
async function instanceTagsOf(cloud: LocalCloud, ids: string[]): Promise<Map<string, Tags>> {
  if (ids.length === 0) return new Map();
  const { Reservations = [] } = await cloud.ec2.send(new DescribeInstancesCommand({ InstanceIds: [...new Set(ids)] }));
  return new Map(Reservations.flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId!, tagRecord(i.Tags)]));
}

/** One event sent, what it is about, and the function it must reach. */
export interface Sent {
  detailType: string;
  subject: string;
  target: string | undefined;
}

interface Sandbox {
  cloud: LocalCloud;
  say: Say;
  fleet: DemoInstance[];
  /** Demo names of instances the sandbox did not launch itself (replacements). */
  names: Map<string, string>;
  problems: string[];
  /** Where each stretch of published events begins, and the simulated time it happened at. */
  marks: Array<{ from: number; at: Date }>;
  /** Issue 19: the images from before the service (seedLegacy). */
  legacy: LegacyImage[];
}

interface Firing {
  at: Date;
  /** Wall-clock time in the schedule's time zone, HH:MM. */
  local: string;
  functionName: string;
  schedule: ScheduleWiring;
}

// ---- the run ------------------------------------------------------------------------------------

/** Runs the simulated days and prints the timeline and the status table. The caller stops `cloud`. */
export async function runSandbox(options: SandboxOptions, say: Say): Promise<SandboxRun> {
  if (options.endpoint) await assertEmptyEmulator(options.endpoint);
  const cloud = await LocalCloud.start({ stage: STAGE, ...(options.endpoint ? { endpoint: options.endpoint } : {}) });
  try {
    const sb: Sandbox = { cloud, say, fleet: [], names: new Map(), problems: [], marks: [], legacy: [] };
    introduce(sb, options);
    sb.fleet = await seedFleet(cloud, options.fleet);
    printFleet(sb);
    sb.legacy = await seedLegacy(sb, options.start);
    printLegacy(sb, sb.legacy);
    await announceInstances(sb);

    const failureDay = Math.min(FAILURE_DAY, options.days);
    for (let n = 1; n <= options.days; n++) {
      const day = addDays(options.start, n - 1);
      say();
      say(`== day ${n}  ${weekdayOf(day)} ${day}`);
      for (const firing of firingsOn(cloud, day)) {
        if (firing.functionName === 'rotate') await rotateFiring(sb, firing);
        else await bakeFiring(sb, firing);
        await announceInstances(sb);
      }
      if (n === 1) await staleAndAdopt(sb, new Date(`${day}T${ADOPT_TIME}:00Z`));
      if (n === failureDay) await failAndRecover(sb, new Date(`${day}T${FAILURE_TIME}:00Z`));
    }
    await rollBack(sb, new Date(`${addDays(options.start, options.days - 1)}T18:00:00Z`));
    await relaunchElsewhere(sb, new Date(`${addDays(options.start, options.days - 1)}T20:00:00Z`));

    await summarise(sb);
    // Every call was evaluated against its function's role: a refusal is a problem like any other.
    for (const d of cloud.denials()) sb.problems.push(`IAM refused ${d.function} ${d.call}: ${d.reason}`);
    if (options.eventsOut) writeEvents(sb, options.eventsOut);
    reportProblems(sb);
    return { cloud, endpoint: cloud.proxy.endpoint, fleet: sb.fleet, problems: sb.problems };
  } catch (error) {
    await cloud.stop();
    throw error;
  }
}

function introduce(sb: Sandbox, options: SandboxOptions): void {
  const { cloud, say } = sb;
  const last = addDays(options.start, options.days - 1);
  say(`ami-lifecycle sandbox: ${options.days} simulated day(s), ${options.start} to ${last}, stack ${cloud.wiring.environment.MANAGED_BY}`);
  say(
    `moto at ${cloud.moto.endpoint}${options.endpoint ? ' (yours, from AWS_ENDPOINT_URL)' : ''}, behind the harness proxy at ${cloud.proxy.endpoint}`,
  );
  say(`wiring from serverless.yml: ${cloud.wiring.functions.map((f) => f.name).join(', ')}; bus ${cloud.wiring.eventBusName}`);
  for (const fn of cloud.wiring.functions.filter((f) => SIMULATED_FUNCTIONS.includes(f.name))) {
    for (const s of fn.schedules) say(`  schedule ${s.name}: ${s.expression} ${s.timezone} -> ${fn.name} ${JSON.stringify(s.input)}`);
  }
  if (new Date(`${last}T23:59:59Z`).getTime() > Date.now()) {
    say('  note: the simulated days reach past today; rotation and status measure ages on the real clock');
  }
}

// ---- the demo fleet -----------------------------------------------------------------------------

async function seedFleet(cloud: LocalCloud, webServers: number): Promise<DemoInstance[]> {
  const fleet: DemoInstance[] = [];
  const add = async (name: string, tags: Record<string, string>) => {
    const [instanceId] = await cloud.launch(1, { Name: name, ...tags });
    fleet.push({ instanceId: instanceId!, name, tags });
    return instanceId!;
  };
  await cloud.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'web-golden',
      LaunchTemplateData: { ImageId: RETIRED_IMAGE, InstanceType: 't3.micro' },
      TagSpecifications: [{ ResourceType: 'launch-template', Tags: [{ Key: TAG.promotable, Value: 'true' }] }],
    }),
  );
  // web-1 is promoted; web-2 is copied to DR_REGION (issue 17: the copy function, on web-2's ImageBaked).
  const webTags = (i: number) =>
    i === 1 ? { ...WEB_TAGS, [TAG.promote]: PROMOTE_TARGETS } : i === 2 ? { ...WEB_TAGS, [TAG.copyTo]: DR_REGION } : WEB_TAGS;
  for (let i = 1; i <= webServers; i++) await add(`web-${i}`, webTags(i));
  await add('db', { [TAG.bake]: 'nightly,weekly', [TAG.reboot]: 'true' });
  const batch = await add('batch', { [TAG.bake]: 'nightly' });
  await cloud.ec2.send(new StopInstancesCommand({ InstanceIds: [batch] }));
  await add('scratch', {});
  await add('typo', { [TAG.bake]: 'nightly', [TAG.reboot]: 'yes please' });
  return fleet;
}

function printFleet(sb: Sandbox): void {
  sb.say();
  sb.say(`demo fleet: ${sb.fleet.length} instances`);
  for (const i of sb.fleet) {
    const tags = Object.entries(i.tags).map(([k, v]) => `${k.replace('ami-lifecycle:', '')}=${v}`);
    const note = i.name === 'batch' ? ' (stopped)' : '';
    sb.say(`  ${i.instanceId}  ${i.name.padEnd(8)} ${tags.join(' ') || '(no ami-lifecycle tags)'}${note}`);
  }
}

interface LegacyImage {
  imageId: string;
  name: string;
  note: string;
}

/**
 * The legacy images, made through the proxy (it records their creation on the simulated clock, as
 * EC2 would have), from the untagged scratch instance. What uses them is set up in moto directly:
 * the service's own calls are what the proxy counts.
 */
async function seedLegacy(sb: Sandbox, start: string): Promise<LegacyImage[]> {
  const { cloud } = sb;
  const scratch = sb.fleet.find((i) => i.name === 'scratch');
  if (!scratch) return [];
  const ec2 = new EC2Client({ endpoint: cloud.proxy.endpoint, region: 'us-east-1' });
  const made = Date.parse(`${start}T00:00:00Z`) - LEGACY_AGE_DAYS * DAY_MS;
  const make = async (name: string, daysLater: number, note: string): Promise<LegacyImage> => {
    cloud.setClock(new Date(made + daysLater * DAY_MS));
    const { ImageId } = await ec2.send(new CreateImageCommand({ InstanceId: scratch.instanceId, Name: name }));
    return { imageId: ImageId!, name, note };
  };
  try {
    const legacy = [
      await make('packer-web-1001', 0, 'unused'),
      await make('packer-web-1002', 1, 'unused'),
      await make('packer-web-1003', 0, 'used by legacy-app, stopped'),
      await make('packer-db-2001', 0, `shared with account ${OTHER_ACCOUNT}`),
    ];
    const { Instances = [] } = await cloud.ec2.send(
      new RunInstancesCommand({
        ImageId: legacy[2]!.imageId,
        InstanceType: 't3.micro',
        MinCount: 1,
        MaxCount: 1,
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'legacy-app' }] }],
      }),
    );
    const app = Instances[0]!.InstanceId!;
    sb.names.set(app, 'legacy-app');
    await cloud.ec2.send(new StopInstancesCommand({ InstanceIds: [app] }));
    await cloud.ec2.send(
      new ModifyImageAttributeCommand({ ImageId: legacy[3]!.imageId, LaunchPermission: { Add: [{ UserId: OTHER_ACCOUNT }] } }),
    );
    return legacy;
  } finally {
    cloud.setClock(undefined);
    ec2.destroy();
  }
}

function printLegacy(sb: Sandbox, legacy: LegacyImage[]): void {
  if (legacy.length === 0) return;
  sb.say(`legacy images: ${legacy.length}, made ${LEGACY_AGE_DAYS} days before day 1, without ami-lifecycle tags`);
  for (const l of legacy) sb.say(`  ${l.imageId}  ${l.name.padEnd(16)} ${l.note}`);
}

/** The demo name of an instance or lineage (a lineage is named after its first instance). */
function nameOf(sb: Sandbox, id: string): string {
  return sb.fleet.find((i) => i.instanceId === id)?.name ?? sb.names.get(id) ?? id;
}

// ---- the steps of a day -------------------------------------------------------------------------

/** A bake schedule fires; its requests are delivered to bake; EC2 reports the images; imageState settles them. */
async function bakeFiring(sb: Sandbox, firing: Firing): Promise<void> {
  const { cloud, say } = sb;
  const name = String(firing.schedule.input.schedule);
  const from = mark(sb, firing.at);
  const report = (await cloud.fireSchedule(name, firing.at)) as ScheduleRunReport | Rejected;
  if (isRejected(report))
    return problem(sb, 'WIRING PROBLEM', `${firing.functionName} rejected the ${name} schedule's input: ${report.reason}`);
  const skipped = Object.entries(report.skipped)
    .filter(([, n]) => n > 0)
    .map(([why, n]) => `${n} ${why}`);
  say(
    `${firing.local}  ${name} fires: slot ${report.slot}, ${report.bakeRequested} bake request(s)${skipped.length ? `; skipped: ${skipped.join(', ')}` : ''}`,
  );
  for (const e of publishedSince(sb, from, 'PolicyInvalid')) {
    const problems = e.detail.problems as Array<{ tag: string; value: string; reason: string }>;
    say(
      `       PolicyInvalid ${nameOf(sb, String(e.detail.instanceId))}: ${problems.map((p) => `${p.tag}='${p.value}': ${p.reason}`).join('; ')}`,
    );
  }

  const requests = publishedSince(sb, from, 'BakeRequested');
  const bakes = await cloud.deliver();
  checkRouting(
    sb,
    requests.map((e) => ({ detailType: 'BakeRequested', subject: nameOf(sb, String(e.detail.instanceId)), target: 'bake' })),
    bakes,
  );
  say(`       bake: ${await describeBakes(sb, bakes, name, report.slot, from)}`);
  await settleImages(sb);
}

/** The slot's images (the bake's per-record outcome stays in the queue's answer, which says only what failed), and what failed. */
async function describeBakes(sb: Sandbox, bakes: Delivery[], schedule: string, slot: string, from: number): Promise<string> {
  if (!bakes.some((d) => d.function === 'bake')) return 'nothing to bake';
  const { Images = [] } = await sb.cloud.ec2.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [
        { Name: `tag:${TAG.schedule}`, Values: [schedule] },
        { Name: `tag:${TAG.slot}`, Values: [slot] },
      ],
    }),
  );
  const images = Images.map((i) => `${nameOf(sb, i.Name?.split('/')[1] ?? '')} ${i.ImageId}`.trim()).sort();
  const failed = publishedSince(sb, from, 'ImageBakeFailed').map(
    (e) => `${nameOf(sb, String(e.detail.instanceId))} failed ${String(e.detail.errorCode)}`,
  );
  const lost = bakes.filter((d) => d.function === 'bake' && d.error !== undefined).length;
  return [
    `${images.length} image(s): ${images.join(', ')}`,
    ...failed,
    ...(lost > 0 ? [`${lost} request(s) left for the dead-letter queue`] : []),
  ].join('; ');
}

/**
 * EC2 reports the images that finished (moto: at once); imageState marks them good or failed; the
 * ImageBaked of web-1's image reaches promote, which puts it into its targets, and web-2's the copy function.
 */
async function settleImages(sb: Sandbox): Promise<void> {
  const announced = await sb.cloud.announceImageStates();
  if (announced === 0) return;
  const before = { good: sb.cloud.published('ImageBaked').length, failed: sb.cloud.published('ImageBakeFailed').length };
  const from = sb.cloud.published().length;
  const deliveries = await sb.cloud.deliver();
  const baked = publishedSince(sb, from, 'ImageBaked');
  const sources = await instanceTagsOf(
    sb.cloud,
    baked.map((e) => String(e.detail.sourceInstanceId)),
  );
  checkRouting(
    sb,
    [
      ...Array.from({ length: announced }, () => ({ detailType: AMI_STATE, subject: 'image', target: targetOf(AMI_STATE, 'available') })),
      ...baked.flatMap((e) =>
        imageBakedTargets(sources.get(String(e.detail.sourceInstanceId))).map((target) => ({
          detailType: 'ImageBaked',
          subject: String(e.detail.imageId),
          target,
        })),
      ),
    ],
    deliveries,
  );
  // imageState answers a batch with its failures only: what it marked is what it published.
  const kinds = {
    good: sb.cloud.published('ImageBaked').length - before.good,
    failed: sb.cloud.published('ImageBakeFailed').length - before.failed,
    error: deliveries.filter((d) => d.function === 'imageState' && d.error !== undefined).length,
  };
  const marked = Object.entries(kinds)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => (kind === 'error' ? `${n} ${kind}` : `${n} marked ${kind}`));
  sb.say(`       ${AMI_STATE} x${announced} -> imageState: ${marked.join(', ') || 'nothing'}`);
  const promoted = publishedSince(sb, from, 'ImagePromoted');
  if (promoted.length > 0) {
    const where = promoted.map((e) => `${String(e.detail.target)} (version ${String(e.detail.version)})`);
    sb.say(`       ImageBaked x${baked.length} -> promote: ${String(promoted[0]!.detail.imageId)} into ${where.join(', ')}`);
  }
  for (const e of publishedSince(sb, from, 'PromotionFailed'))
    problem(sb, 'PROMOTION', `${String(e.detail.target)}: ${String(e.detail.message)}`);
}

/**
 * The operator finds tonight's image wanting and rolls web-1's targets back (`ami-lifecycle
 * rollback <lineage>`): each goes back to the image it held before, and the image left is marked bad.
 */
async function rollBack(sb: Sandbox, at: Date): Promise<void> {
  const web1 = sb.fleet.find((i) => i.name === 'web-1');
  if (!web1) return;
  mark(sb, at);
  const ctx = createContext({ stage: STAGE, endpoint: sb.cloud.proxy.endpoint, quiet: true });
  const lineage = web1.instanceId;
  const outcomes = await rollbackLineage(lineage, ctx.promotion());
  sb.say();
  sb.say(`${at.toISOString().slice(11, 16)}  npm run cli -- rollback ${lineage}  (web-1's targets back to the image they held before)`);
  for (const o of outcomes) {
    sb.say(
      `       ${o.target}: ${o.outcome}${o.to ? ` to ${o.to}` : ''}${o.previousImageId ? ` (was ${o.previousImageId}, now marked bad)` : ''}${o.version ? `, version ${o.version}` : ''}`,
    );
  }
}

// ---- disaster recovery (issue 17) ---------------------------------------------------------------

/** The region the sandbox relaunches in, as if the stack's own were down. */
export const DR_REGION = 'eu-west-1';

/**
 * The home region goes down: web-2 is relaunched in DR_REGION from a copy of its newest good image
 * there, with its DR capture mapped onto a subnet and group of that region, home's EC2 unreachable.
 * Run twice: the second run answers the same instance.
 */
async function relaunchElsewhere(sb: Sandbox, at: Date): Promise<void> {
  const { cloud, say } = sb;
  const web2 = sb.fleet.find((i) => i.name === 'web-2');
  if (!web2) return;
  mark(sb, at);
  const ctx = createContext({ stage: STAGE, endpoint: cloud.proxy.endpoint, quiet: true });
  const dr = ctx.dr();
  const lineage = web2.instanceId;
  // The copy function made web-2's copies in DR_REGION night after night (ImageBaked): the newest good one is the recovery point.
  const there = new EC2Client({ endpoint: cloud.proxy.endpoint, region: DR_REGION });
  const { Images = [] } = await there.send(
    new DescribeImagesCommand({
      Owners: ['self'],
      Filters: [
        { Name: `tag:${TAG.lineage}`, Values: [lineage] },
        { Name: `tag:${TAG.status}`, Values: ['good'] },
      ],
    }),
  );
  there.destroy();
  const copy = Images.sort((a, b) => ((a.CreationDate ?? '') < (b.CreationDate ?? '') ? 1 : -1))[0];
  if (!copy?.ImageId) {
    problem(sb, 'PROBLEM', `web-2 has no good copy in ${DR_REGION}: the copy function made none`);
    return;
  }
  say();
  say(`${at.toISOString().slice(11, 16)}  disaster recovery: ${dr.homeRegion} is down; web-2 is relaunched in ${DR_REGION}`);
  say(`       its newest good copy there: ${copy.ImageId} (of ${copy.SourceImageId ?? '?'}, made by the copy function)`);
  const captured = await syncDrCapture(dr, lineage, DR_REGION);
  say(`       DR capture: ${captured.status} in ${DR_REGION} (the captured configuration, without home's subnet, groups and key)`);

  const regional = new EC2Client({ endpoint: cloud.moto.endpoint, region: DR_REGION });
  const { Vpc } = await regional.send(new CreateVpcCommand({ CidrBlock: '10.8.0.0/16' }));
  const { Subnet } = await regional.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: '10.8.1.0/24' }));
  const { GroupId } = await regional.send(new CreateSecurityGroupCommand({ GroupName: 'web-dr', Description: 'dr', VpcId: Vpc!.VpcId! }));
  regional.destroy();
  // Home's EC2 answers nothing: the relaunch reads only the region it launches in.
  const deps = {
    ...dr,
    drRegions: { [DR_REGION]: { subnetId: Subnet!.SubnetId!, securityGroupIds: [GroupId!] } },
    ec2: new Ec2Gateway(new EC2Client({ endpoint: 'http://127.0.0.1:9', region: dr.homeRegion, maxAttempts: 1 })),
  };
  say(`       npm run cli -- relaunch ${lineage} --region ${DR_REGION}  (drRegions maps ${Subnet!.SubnetId}, ${GroupId})`);
  const launches = cloud.proxy.calls().RunInstances ?? 0;
  const first = await relaunchInRegion(deps, lineage, DR_REGION);
  if (first.action !== 'relaunched') {
    problem(sb, 'PROBLEM', `web-2 not relaunched in ${DR_REGION}: ${'reason' in first ? first.reason : first.action}`);
    return;
  }
  sb.names.set(first.instanceId!, `web-2 in ${DR_REGION}`);
  say(`         relaunched as ${first.instanceId} from ${first.imageId}; could not follow:`);
  for (const line of first.notFollowed) say(`           - ${line}`);
  const again = await relaunchInRegion(deps, lineage, DR_REGION);
  const launched = (cloud.proxy.calls().RunInstances ?? 0) - launches;
  const same = again.action === 'relaunched' && again.instanceId === first.instanceId;
  say(
    `       the same command again: ${same ? `the same instance ${first.instanceId}` : 'ANOTHER INSTANCE'}; RunInstances calls in all: ${launched}`,
  );
  if (!same || launched !== 1) problem(sb, 'PROBLEM', `the DR relaunch of web-2 launched ${launched} instance(s), not 1`);
}

/**
 * Issue 19: the operator looks at every image the account owns (`stale`), then adopts the unused
 * legacy ones (`adopt`), through the CLI's own use cases and context. Nothing is deleted here: the
 * next rotation handles the adopted lineage with its retention.
 */
async function staleAndAdopt(sb: Sandbox, at: Date): Promise<void> {
  const { cloud, say } = sb;
  mark(sb, at);
  const ctx = createContext({ stage: STAGE, endpoint: cloud.proxy.endpoint, quiet: true });
  const filters = { olderThanDays: 90, name: LEGACY_FILTER, tags: {}, includeShared: false };
  const run = await findStaleImages({ filters, pricePerGbMonth: Number(ctx.wiring.params.snapshotPricePerGbMonth ?? 0.05) }, ctx.stale());
  const shown = run.report.entries.filter((e) => e.matches);
  say();
  say(`${at.toISOString().slice(11, 16)}  npm run cli -- stale --name '${LEGACY_FILTER}'  (the operator looks before anything is adopted)`);
  for (const line of staleTable(shown).split('\n')) say(`       ${line}`);
  say(`       ${staleSummary(run.report.entries.length, shown.length, run.report)}`);
  const steps = adoptionPlan(run, { retain: ADOPT_RETAIN }, ctx.deps);
  const result = await adoptImages(steps, false, ctx.stale());
  say(`       npm run cli -- adopt --name '${LEGACY_FILTER}' --retain ${ADOPT_RETAIN} --yes`);
  const lineages = [...new Set(steps.map((s) => s.lineage))].join(', ');
  say(
    `         adopted ${result.adopted.length} image(s) into ${lineages || 'none'}: ${result.adopted.join(', ') || 'none'}; nothing deleted, the next rotation handles them`,
  );
  for (const f of result.failures) problem(sb, 'PROBLEM', `adopt ${f.imageId}: ${f.errorCode}: ${f.message}`);
  // Exactly the unused legacy images: never one in use, nor one shared with another account.
  const unused = sb.legacy.filter((l) => l.note === 'unused').map((l) => l.imageId);
  if ([...result.adopted].sort().join() !== [...unused].sort().join()) {
    problem(sb, 'PROBLEM', `adopt took ${result.adopted.join(', ') || 'nothing'}, not the unused ${unused.join(', ')}`);
  }
}

/** Rotation runs with its schedule's input from serverless.yml, and deletes what the retention says. */
async function rotateFiring(sb: Sandbox, firing: Firing): Promise<void> {
  const { cloud, say } = sb;
  cloud.setClock(firing.at);
  const from = mark(sb, firing.at);
  const report = (await cloud.invoke(firing.functionName, firing.schedule.input)) as RotationReport | Rejected;
  if (isRejected(report)) return problem(sb, 'WIRING PROBLEM', `${firing.functionName} rejected its schedule's input: ${report.reason}`);
  const [rotated] = publishedSince(sb, from, 'ImagesRotated');
  say(
    `${firing.local}  rotate (${JSON.stringify(firing.schedule.input)}): ${report.imagesSeen} image(s) in ${report.lineages} lineage(s), ` +
      `${report.done.deleted} deleted with ${report.done.snapshotsDeleted} snapshot(s)${report.failures.length ? `, ${report.failures.length} failure(s)` : ''}`,
  );
  const deletions = (rotated?.detail.deletions ?? []) as Array<{ imageId: string; name: string; lineage: string; reason: string }>;
  for (const d of deletions)
    say(
      `       deleted ${nameOf(sb, d.lineage)} ${d.name.includes('/') ? d.name.split('/').slice(2).join('/') : d.name} ${d.imageId}: ${d.reason}`,
    );
}

/** A web server fails; recovery relaunches it; the same notification again changes nothing. */
async function failAndRecover(sb: Sandbox, at: Date): Promise<void> {
  const { cloud, say } = sb;
  const victim = sb.fleet.find((i) => i.name.startsWith('web-'))!;
  cloud.setClock(at);
  mark(sb, at);
  say(`${FAILURE_TIME}  ${victim.name} (${victim.instanceId}) fails: EC2 terminates it (Server.InternalError)`);
  await cloud.breakInstance(victim.instanceId, 'terminated', 'Server.InternalError');
  await announceInstances(sb);
  for (const id of await replacementsOf(cloud, victim.instanceId)) sb.names.set(id, `${victim.name}'s replacement`);
  await announceInstances(sb); // the replacement's launch
  const launches = cloud.proxy.calls().RunInstances ?? 0;

  say('       AWS delivers at least once: the same notification again');
  await cloud.announceInstanceState(victim.instanceId, 'terminated');
  const again = await cloud.deliver();
  checkRouting(
    sb,
    [{ detailType: INSTANCE_STATE, subject: `${victim.name} terminated`, target: targetOf(INSTANCE_STATE, 'terminated') }],
    again,
  );
  for (const line of describeRecoveries(sb, again)) say(`         ${line}`);

  const replacements = await replacementsOf(cloud, victim.instanceId);
  const relaunched = cloud.published('InstanceRelaunched').filter((e) => e.detail.failedInstanceId === victim.instanceId);
  const named = new Set(relaunched.map((e) => String(e.detail.newInstanceId)));
  const moreLaunches = (cloud.proxy.calls().RunInstances ?? 0) - launches;
  say(
    `       ${replacements.length === 1 && moreLaunches === 0 ? 'nothing changed' : 'CHANGED'}: ${replacements.length} replacement(s) of ${victim.name} (${replacements.join(', ') || 'none'}), RunInstances calls for the duplicate: ${moreLaunches}`,
  );
  say(
    `       InstanceRelaunched x${relaunched.length} for ${victim.name}, all naming ${[...named].join(', ')}; ${relaunched.filter((e) => e.detail.resumed === true).length} marked resumed (consumers dedupe on failedInstanceId)`,
  );
  if (replacements.length !== 1 || named.size !== 1)
    problem(sb, 'PROBLEM', `${victim.name} has ${replacements.length} replacement(s), not 1`);
}

/**
 * Announces every instance state change moto reports since the last look, delivers,
 * and checks that stopped and terminated reached recover and nothing else reached anything.
 */
async function announceInstances(sb: Sandbox): Promise<void> {
  const changes = await sb.cloud.announceInstanceStates();
  if (changes.length === 0) return;
  const deliveries = await sb.cloud.deliver();
  const sent = changes.map((c) => ({
    detailType: INSTANCE_STATE,
    subject: `${nameOf(sb, c.instanceId)} ${c.state}`,
    target: targetOf(INSTANCE_STATE, c.state),
  }));
  checkRouting(sb, sent, deliveries);
  const unrouted = sent.filter((s) => s.target === undefined).map((s) => s.subject);
  const routed = sent.filter((s) => s.target !== undefined).map((s) => s.subject);
  const recoveries = describeRecoveries(sb, deliveries);
  sb.say(`       ${INSTANCE_STATE} x${changes.length}: ${[...routed, ...unrouted].join(', ')}`);
  if (unrouted.length > 0) sb.say(`         ${unrouted.length} reach no function, as they should`);
  for (const line of recoveries) sb.say(`         ${line}`);
}

function describeRecoveries(sb: Sandbox, deliveries: Delivery[]): string[] {
  return deliveries
    .filter((d) => d.function === 'recover')
    .flatMap((d) => (d.result as RecoveryReport | undefined)?.outcomes ?? [])
    .map((o) => `recover: ${describeRecovery(sb, o)}`);
}

function describeRecovery(sb: Sandbox, o: RecoveryOutcome): string {
  const who = nameOf(sb, o.instanceId);
  if (o.action === 'relaunched') {
    return `${who} relaunched: ${o.instanceId} -> ${o.replacementId} from ${o.imageId}${o.resumed ? ' (found launched already; finished)' : ''}`;
  }
  return `${who} ${o.action}: ${o.reason}`;
}

async function replacementsOf(cloud: LocalCloud, failedId: string): Promise<string[]> {
  const { Reservations = [] } = await cloud.ec2.send(
    new DescribeInstancesCommand({ Filters: [{ Name: `tag:${TAG.replaces}`, Values: [failedId] }] }),
  );
  return Reservations.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId!);
}

// ---- wiring checks ------------------------------------------------------------------------------

/** Records and prints the wiring problems of what was sent and what it reached. */
function checkRouting(sb: Sandbox, sent: Sent[], deliveries: Delivery[]): void {
  for (const detail of routingProblems(sent, deliveries)) problem(sb, 'WIRING PROBLEM', detail);
}

/**
 * Every event sent must reach exactly the function it is meant for, once, and be
 * accepted there; one that reaches no function (or the wrong one) is a wiring
 * problem: it would not work in AWS either. Only the detail types sent are judged.
 */
export function routingProblems(sent: Sent[], deliveries: Delivery[]): string[] {
  const problems: string[] = [];
  for (const detailType of new Set(sent.map((s) => s.detailType))) {
    const ofType = sent.filter((s) => s.detailType === detailType);
    const reached = deliveries.filter((d) => d.detailType === detailType);
    for (const target of new Set(ofType.flatMap((s) => (s.target ? [s.target] : [])))) {
      const expected = ofType.filter((s) => s.target === target);
      const got = reached.filter((d) => d.function === target);
      if (got.length < expected.length) {
        const subjects = [...new Set(expected.map((s) => s.subject))].join(', ');
        problems.push(
          `${detailType} (${expected.length - got.length} of ${expected.length}: ${subjects}) reached no function; serverless.yml must route it to ${target}`,
        );
      }
      if (got.length > expected.length) problems.push(`${detailType} reached ${target} ${got.length} times for ${expected.length} sent`);
      for (const d of got.filter((x) => !accepted(x)))
        problems.push(`${detailType} reached ${target}, which could not use it: ${d.error ?? (d.result as { reason?: string }).reason}`);
    }
    for (const d of reached.filter((x) => !ofType.some((s) => s.target === x.function))) {
      problems.push(`${detailType} reached ${d.function}, which must not receive it`);
    }
  }
  return problems;
}

const isRejected = (result: unknown): result is Rejected => (result as { status?: unknown } | undefined)?.status === 'rejected';
const accepted = (d: Delivery) => !d.error && !isRejected(d.result);

function problem(sb: Sandbox, kind: string, detail: string): void {
  const line = `${kind}: ${detail}`;
  sb.problems.push(line);
  sb.say(`!!!!!! ${line}`);
}

function reportProblems(sb: Sandbox): void {
  sb.say();
  if (sb.problems.length === 0) {
    sb.say('every event sent as AWS would reached the function serverless.yml routes it to, and only that one');
    return;
  }
  sb.say(`!!!!!! ${sb.problems.length} problem(s): the sandbox exits 1`);
  for (const p of sb.problems) sb.say(`!!!!!!   ${p}`);
}

// ---- the end ------------------------------------------------------------------------------------

async function summarise(sb: Sandbox): Promise<void> {
  const { cloud, say } = sb;
  say();
  say(`events published: ${JSON.stringify(countBy(cloud.published().map((e) => e['detail-type'])))}`);
  say(`AWS calls made by the service: ${JSON.stringify(cloud.proxy.calls())}`);
  if (cloud.iam) say(totalsLine(cloud.iam.counts()));
  say();
  say(`== npm run cli -- --endpoint ${cloud.proxy.endpoint} status`);
  const ctx = createContext({ stage: STAGE, endpoint: cloud.proxy.endpoint, quiet: true });
  const view = await inspectFleet(ctx.deps, ctx.schedulePeriods);
  say(statusTable(view.lineages));
  say();
  // Every call above went through the proxy, checked against AWS's API model: a refused one is a problem.
  try {
    assertNoApiViolations(cloud.proxy, say);
  } catch (error) {
    sb.problems.push((error as Error).message);
  }
}

/** The service's events as EventBridge delivers them, stamped with the simulated time they were published at. */
function writeEvents(sb: Sandbox, file: string): void {
  const events = sb.cloud.published().map((e, index) => {
    const m = [...sb.marks].reverse().find((x) => x.from <= index) ?? { from: index, at: new Date() };
    const time = new Date(m.at.getTime() + (index - m.from) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': e['detail-type'],
      source: e.source,
      account: '123456789012',
      time,
      region: 'us-east-1',
      resources: [],
      detail: e.detail,
    };
  });
  writeFileSync(file, events.map((e) => JSON.stringify(e)).join('\n') + (events.length ? '\n' : ''));
  sb.say(`wrote ${events.length} event(s) to ${file}`);
}

/** Keeps moto and the proxy up until Ctrl-C, and says how to look around. */
export async function serve(run: SandboxRun, say: Say): Promise<void> {
  const url = run.endpoint;
  say();
  say(`== serving: the emulator stays up at ${url} until Ctrl-C`);
  say('   export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1');
  say(`   npm run cli -- --endpoint ${url} status`);
  say(`   npm run cli -- --endpoint ${url} plan`);
  say(`   npm run cli -- --endpoint ${url} report --html report.html`);
  say(`   aws --endpoint-url ${url} ec2 describe-images --owners self`);
  await new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  say('stopping');
}

// ---- a moto given by AWS_ENDPOINT_URL must start empty ------------------------------------------

async function assertEmptyEmulator(endpoint: string): Promise<void> {
  const config = { endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const ec2 = new EC2Client(config);
  const events = new EventBridgeClient(config);
  try {
    const bus = readServerless({ stage: STAGE }).eventBusName;
    const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({}));
    const live = Reservations.flatMap((r) => r.Instances ?? []).filter((i) => i.State?.Name !== 'terminated');
    const { EventBuses = [] } = await events.send(new ListEventBusesCommand({ NamePrefix: bus }));
    if (live.length > 0 || EventBuses.some((b) => b.Name === bus)) {
      throw new Error(
        `the emulator at ${endpoint} is not empty (${live.length} instance(s)${EventBuses.length ? `, bus ${bus}` : ''}); ` +
          `the sandbox seeds its own fleet: reset it (curl -X POST ${new URL(endpoint).origin}/moto-api/reset) or unset AWS_ENDPOINT_URL`,
      );
    }
  } finally {
    ec2.destroy();
    events.destroy();
  }
}

// ---- the simulated clock: when serverless.yml's schedules fire (test/harness/cron.ts) -----------

/** Every firing on one calendar day of the schedules the sandbox simulates, in time order. */
function firingsOn(cloud: LocalCloud, day: string): Firing[] {
  return cloud.wiring.functions
    .filter((fn) => SIMULATED_FUNCTIONS.includes(fn.name))
    .flatMap((fn) =>
      fn.schedules.flatMap((schedule) =>
        cronFirings(schedule.expression, schedule.timezone, day).map((f) => ({ ...f, functionName: fn.name, schedule })),
      ),
    )
    .sort((a, b) => a.at.getTime() - b.at.getTime());
}

// ---- small helpers ------------------------------------------------------------------------------

function mark(sb: Sandbox, at: Date): number {
  const from = sb.cloud.published().length;
  sb.marks.push({ from, at });
  return from;
}

function publishedSince(sb: Sandbox, from: number, detailType: string) {
  return sb.cloud
    .published()
    .slice(from)
    .filter((e) => e['detail-type'] === detailType);
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of values) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

const addDays = (day: string, n: number) => new Date(Date.parse(`${day}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
const weekdayOf = (day: string) => new Date(`${day}T00:00:00Z`).toLocaleDateString('en-US', { weekday: 'short', timeZone: 'UTC' });

// ---- command line -------------------------------------------------------------------------------

const whole = (max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`a whole number from 1 to ${max}`);
  return n;
};

const isoDay = (value: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || addDays(value, 0) !== value) throw new InvalidArgumentError('a date, YYYY-MM-DD');
  return value;
};

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): SandboxOptions & { serve: boolean } {
  const program = new Command('sandbox')
    .description('Run the whole ami-lifecycle locally against moto for a few simulated days, and print what it does')
    .option('--days <n>', 'simulated days to run', whole(60), 5)
    .option(
      '--fleet <n>',
      'web servers in the demo fleet (besides a db, a stopped batch host, an untagged and a mis-tagged instance)',
      whole(50),
      3,
    )
    .option('--start <date>', 'the first simulated day, YYYY-MM-DD (default: so that the last one is yesterday)', isoDay)
    .option('--events-out <file>', 'write every event the service published as JSON lines (for ami-lifecycle report --events)')
    .option('--serve', 'keep moto and the proxy running afterwards, to look around with the CLI, until Ctrl-C')
    .addHelpText('after', '\nWith AWS_ENDPOINT_URL set, uses the (empty) moto_server there instead of starting one.')
    .parse(argv);
  const o = program.opts<{ days: number; fleet: number; start?: string; eventsOut?: string; serve?: boolean }>();
  const today = new Date().toISOString().slice(0, 10);
  return {
    days: o.days,
    fleet: o.fleet,
    start: o.start ?? addDays(today, -o.days),
    eventsOut: o.eventsOut,
    endpoint: env.AWS_ENDPOINT_URL || undefined,
    serve: o.serve ?? false,
  };
}

/** 0, or 1 when a wiring problem or a broken promise was seen. */
export const exitCode = (run: SandboxRun) => (run.problems.length > 0 ? 1 : 0);

async function main(): Promise<number> {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const started = Date.now();
  const options = parseOptions(process.argv);
  const say: Say = (line = '') => process.stdout.write(`${line}\n`);
  let run: SandboxRun;
  try {
    run = await runSandbox(options, say);
  } catch (error) {
    if (isMotoMissing(error)) {
      process.stderr.write(
        "moto_server is not installed: the sandbox runs the service against it. Install it with:\n  pip install 'moto[server]'\n",
      );
    } else {
      process.stderr.write(`sandbox failed: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    return 1;
  }
  say(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  try {
    if (options.serve) await serve(run, say);
  } finally {
    await run.cloud.stop();
  }
  return exitCode(run);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`sandbox failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
