/**
 * Verifying images (issue 15): a test instance boots from each image of a lineage with
 * verify=boot; the image is good once both status checks passed (and the SSM command, when one is
 * configured), failed otherwise; the test instance is terminated either way. Each invocation
 * reads the image and its test instance as they are now, takes one step (domain/verification.ts),
 * and hands itself back at the next due time (a one-time schedule): nothing waits in a loop.
 *
 * Crash-safe between any two calls: the launch is idempotent by its client token; the verdict is
 * published before the status tag is written (a crash in between publishes again; consumers
 * deduplicate on imageId) and the test instance is terminated after it (a crash in between
 * leaves an instance of a settled image, which the next look or the sweep terminates).
 */
import { outgoing } from '../domain/event-requests.js';
import type { OutgoingEvent } from '../domain/events.js';
import { isManagedBy, statusOf, type ImageView } from '../domain/image-status.js';
import { launchTemplateName } from '../domain/launch.js';
import type { StatusChecks } from '../domain/recovery-deferral.js';
import { TAG } from '../domain/tags.js';
import { truncate } from '../domain/text.js';
import {
  decideVerification,
  imagesToStart,
  instanceSeconds,
  LIVE_TEST_STATES,
  lastLines,
  POLL_MINUTES,
  testInstanceTags,
  verifyClientToken,
  verifyScheduleName,
  type FailedCheck,
  type TestInstance,
  type VerificationStep,
} from '../domain/verification.js';
import { AwsCallError } from './errors.js';
import type { VerifyDeps } from './ports.js';
import { publishOrThrow } from './publish.js';
import { imageBaked } from './settle-image.js';

/** What a one-time schedule hands back to the verify function at its due time. */
export interface VerificationCheck {
  'detail-type': 'Verification Check';
  imageId: string;
  /** Filled in by Scheduler (<aws.scheduler.scheduled-time>): the look happens no earlier. */
  scheduledTime: string;
}

export interface VerifyOutcome {
  imageId: string;
  step: VerificationStep['kind'] | 'waiting-for-a-slot';
  testInstanceId?: string | undefined;
  reason?: string | undefined;
}

/** EC2 tag values are at most 256 characters ("Tag restrictions", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html). */
const MAX_TAG_VALUE = 256;

/** The later of the clock and the time a schedule was due: a look fired at its due time is never before it. */
function nowFor(deps: VerifyDeps, at?: Date): Date {
  const now = deps.now();
  return at && at.getTime() > now.getTime() ? at : now;
}

/** The test instance a verification reads: the live one, else the newest (a launch that raced made at most one per token). */
function testInstanceOf(instances: readonly TestInstance[]): TestInstance | undefined {
  const byNewest = [...instances].sort((a, b) => b.launchTime.getTime() - a.launchTime.getTime());
  return byNewest.find((i) => LIVE_TEST_STATES.has(i.state)) ?? byNewest[0];
}

/** One look at one image: read, decide, act. Starts waiting images when it ends a verification. */
export async function verifyImage(imageId: string, deps: VerifyDeps, at?: Date): Promise<VerifyOutcome> {
  const outcome = await advance(imageId, deps, nowFor(deps, at));
  if (outcome.step === 'pass' || outcome.step === 'fail' || outcome.step === 'clean-up' || outcome.step === 'launch') {
    // A slot may have freed (or this image may not be the oldest waiting): start what waits, oldest first.
    await startWaiting(deps, nowFor(deps, at));
  }
  return outcome;
}

async function advance(imageId: string, deps: VerifyDeps, now: Date, known?: { image: ImageView | undefined }): Promise<VerifyOutcome> {
  const image = known ? known.image : (await deps.ec2.describeImages([imageId])).get(imageId);
  const ours = image && isManagedBy(image.tags, deps.managedBy) ? image : undefined;
  const instance = testInstanceOf(await deps.ec2.listTestInstances(deps.managedBy, imageId));
  const checks = instance?.state === 'running' ? await deps.ec2.describeStatusChecks(instance.instanceId) : undefined;
  const command =
    deps.verify.command && deps.commands && instance && checks?.system === 'ok' && checks.instance === 'ok'
      ? await deps.commands.findCommand(instance.instanceId, deps.verify.command.document)
      : undefined;
  const step = decideVerification({
    imageStatus: ours ? statusOf(ours) : undefined,
    instance,
    checks,
    command,
    settings: deps.verify,
    now,
  });
  const context = { imageId, testInstanceId: instance?.instanceId, step: step.kind };
  switch (step.kind) {
    case 'launch':
      // Started by startWaiting, in creation order and within the limit.
      return { imageId, step: 'launch' };
    case 'wait':
      await deps.rechecks.scheduleOnce(verifyScheduleName(deps.managedBy, imageId), step.until, checkInput(imageId));
      deps.log.info('verification waits', { ...context, until: step.until.toISOString(), why: step.why });
      return { imageId, step: 'wait', testInstanceId: instance?.instanceId, reason: step.why };
    case 'send-command': {
      const { document, parameters } = deps.verify.command!;
      if (!deps.commands) throw new Error('a verification command is configured, but this caller cannot send it');
      const commandId = await deps.commands.sendCommand(instance!.instanceId, document, parameters, `ami-lifecycle verifies ${imageId}`);
      const until = new Date(Math.min(now.getTime() + POLL_MINUTES * 60_000, deadline(instance!, deps).getTime()));
      await deps.rechecks.scheduleOnce(verifyScheduleName(deps.managedBy, imageId), until, checkInput(imageId));
      deps.log.info('verification command sent', { ...context, commandId, document });
      return { imageId, step: 'send-command', testInstanceId: instance!.instanceId };
    }
    case 'pass':
      await pass(ours!, instance!, step.checks, command?.status, deps, now);
      return { imageId, step: 'pass', testInstanceId: instance!.instanceId };
    case 'fail':
      await fail(ours!, instance, step.check, step.reason, deps, now);
      return { imageId, step: 'fail', testInstanceId: instance?.instanceId, reason: step.reason };
    case 'clean-up':
      await deps.ec2.terminateInstance(instance!.instanceId);
      deps.log.info('test instance of a settled image terminated', { ...context, imageStatus: ours ? statusOf(ours) : 'gone' });
      return { imageId, step: 'clean-up', testInstanceId: instance!.instanceId };
    case 'nothing':
      return { imageId, step: 'nothing', reason: step.why };
  }
}

const deadline = (instance: TestInstance, deps: VerifyDeps) =>
  new Date(instance.launchTime.getTime() + deps.verify.timeoutMinutes * 60_000);

function checkInput(imageId: string): VerificationCheck {
  return { 'detail-type': 'Verification Check', imageId, scheduledTime: '<aws.scheduler.scheduled-time>' };
}

async function pass(
  image: ImageView,
  instance: TestInstance,
  checks: StatusChecks,
  command: string | undefined,
  deps: VerifyDeps,
  now: Date,
): Promise<void> {
  const t = image.tags;
  const seconds = instanceSeconds(instance, now);
  const events: OutgoingEvent[] = [
    outgoing('ImageVerified', {
      managedBy: deps.managedBy,
      imageId: image.imageId,
      lineage: t[TAG.lineage] ?? '',
      testInstanceId: instance.instanceId,
      ...(instance.instanceType ? { instanceType: instance.instanceType } : {}),
      checks: { system: checks.system, instance: checks.instance, ...(command ? { command } : {}) },
      instanceSeconds: seconds,
    }),
    imageBaked(image, deps.managedBy, 'verification'),
  ];
  for (const event of events) await publishOrThrow(deps.events, event, image.imageId);
  await deps.ec2.tagResources([image.imageId, ...image.snapshotIds], { [TAG.status]: 'good' });
  deps.metrics.count('ImagesVerified');
  deps.metrics.count('ImagesGood');
  await deps.ec2.terminateInstance(instance.instanceId);
  deps.log.info('image verified: good', { imageId: image.imageId, testInstanceId: instance.instanceId, instanceSeconds: seconds });
}

async function fail(
  image: ImageView,
  instance: TestInstance | undefined,
  check: FailedCheck,
  reason: string,
  deps: VerifyDeps,
  now: Date,
): Promise<void> {
  const output = instance ? await deps.ec2.consoleOutput(instance.instanceId) : undefined;
  const console = output ? lastLines(output) : '';
  const seconds = instanceSeconds(instance, now);
  await publishOrThrow(
    deps.events,
    outgoing('ImageVerificationFailed', {
      managedBy: deps.managedBy,
      imageId: image.imageId,
      lineage: image.tags[TAG.lineage] ?? '',
      ...(instance ? { testInstanceId: instance.instanceId } : {}),
      check,
      reason,
      instanceSeconds: seconds,
      ...(console ? { consoleOutput: console } : {}),
    }),
    image.imageId,
  );
  // Status and reason in one CreateTags: never one without the other.
  await deps.ec2.tagResources([image.imageId, ...image.snapshotIds], {
    [TAG.status]: 'failed',
    [TAG.failure]: truncate(`${check}: ${reason}`, MAX_TAG_VALUE),
  });
  deps.metrics.count('ImageVerificationsFailed');
  deps.metrics.count('ImagesFailed');
  if (instance && LIVE_TEST_STATES.has(instance.state)) await deps.ec2.terminateInstance(instance.instanceId);
  deps.log.warn('image failed its verification', { imageId: image.imageId, testInstanceId: instance?.instanceId, check, reason });
}

/** The launch of one waiting image's test instance, then its first look. */
async function launch(image: ImageView, deps: VerifyDeps, now: Date): Promise<VerifyOutcome> {
  const lineage = image.tags[TAG.lineage];
  const captured = lineage ? await deps.ec2.readLaunchConfig(launchTemplateName(deps.managedBy, lineage)) : undefined;
  const instanceType = deps.verify.instanceType ?? captured?.instanceType;
  if (!instanceType) {
    const reason = `no instance type: the lineage ${lineage ?? '(none)'} has no captured launch configuration; set verifyInstanceType`;
    await fail(image, undefined, 'launch', reason, deps, now);
    return { imageId: image.imageId, step: 'fail', reason };
  }
  let testInstanceId: string;
  try {
    testInstanceId = await deps.ec2.runTestInstance({
      imageId: image.imageId,
      instanceType,
      subnetId: deps.verify.subnetId,
      securityGroupId: deps.verify.securityGroupId,
      clientToken: verifyClientToken(image.imageId),
      tags: testInstanceTags(deps.managedBy, image.imageId, lineage),
      ...(deps.verify.instanceProfile && captured?.iamInstanceProfileArn ? { iamInstanceProfileArn: captured.iamInstanceProfileArn } : {}),
      devices: image.ebsDevices ?? [],
    });
  } catch (error) {
    // Throttling and 5xx go back to Lambda, whose retry is safe (the client token).
    if (!(error instanceof AwsCallError) || error.retryable) throw error;
    // Not proven bad, but not proven good either: no image is good that did not boot (docs/verification.md).
    const reason = `refused: ${error.message}`;
    await fail(image, undefined, 'launch', reason, deps, now);
    return { imageId: image.imageId, step: 'fail', reason };
  }
  const until = new Date(now.getTime() + POLL_MINUTES * 60_000);
  await deps.rechecks.scheduleOnce(verifyScheduleName(deps.managedBy, image.imageId), until, checkInput(image.imageId));
  deps.log.info('test instance launched', { imageId: image.imageId, testInstanceId, instanceType, firstLook: until.toISOString() });
  return { imageId: image.imageId, step: 'launch', testInstanceId };
}

/** The stack's images still verifying, read whole (a few: at most a night's worth). */
async function verifyingImages(deps: VerifyDeps): Promise<ImageView[]> {
  const images: ImageView[] = [];
  for await (const page of deps.ec2.listImagesByStatus(deps.managedBy, 'verifying')) images.push(...page);
  return images;
}

/**
 * Starts the images that wait (verifying, no test instance yet), oldest first, as many as
 * verifyMaxConcurrent leaves room for. Counted by tag: the live test instances of the stack.
 */
export async function startWaiting(deps: VerifyDeps, now: Date): Promise<VerifyOutcome[]> {
  const [images, instances] = await Promise.all([verifyingImages(deps), deps.ec2.listTestInstances(deps.managedBy)]);
  const live = instances.filter((i) => LIVE_TEST_STATES.has(i.state));
  const tested = new Set(instances.flatMap((i) => (i.imageId ? [i.imageId] : [])));
  const waiting = images
    .filter((i) => !tested.has(i.imageId))
    .map((i) => ({ imageId: i.imageId, createdAt: new Date(i.creationDate ?? 0) }));
  const start = imagesToStart(waiting, live.length, deps.verify.maxConcurrent);
  if (waiting.length > start.length) {
    deps.log.info('verifications wait for a slot', {
      waiting: waiting.length - start.length,
      live: live.length,
      max: deps.verify.maxConcurrent,
    });
  }
  const outcomes: VerifyOutcome[] = [];
  for (const imageId of start) outcomes.push(await launch(images.find((i) => i.imageId === imageId)!, deps, now));
  return outcomes;
}

/** How long past its timeout a test instance is left to its own schedule before the sweep ends it regardless. */
export const SWEEP_MARGIN_MINUTES = 10;

export interface SweepReport {
  verifying: number;
  looked: number;
  orphansTerminated: number;
  started: number;
  errors: number;
}

/**
 * The sweep, on a schedule of its own: what a lost schedule, a lost event or a crash left. Looks
 * at every verifying image that has a test instance (a verdict past its timeout is given here if
 * its schedule was lost), terminates every live test instance whose image is no longer verifying,
 * then starts what waits. One image's error does not stop the others.
 */
export async function sweepVerifications(deps: VerifyDeps, at?: Date): Promise<SweepReport> {
  const now = nowFor(deps, at);
  const report: SweepReport = { verifying: 0, looked: 0, orphansTerminated: 0, started: 0, errors: 0 };
  const [images, instances] = await Promise.all([verifyingImages(deps), deps.ec2.listTestInstances(deps.managedBy)]);
  report.verifying = images.length;
  const verifying = new Map(images.map((i) => [i.imageId, i]));
  const tested = new Set(instances.flatMap((i) => (i.imageId ? [i.imageId] : [])));
  const advanced = new Set<string>();
  for (const image of images.filter((i) => tested.has(i.imageId))) {
    try {
      report.looked++;
      await advance(image.imageId, deps, now, { image });
      advanced.add(image.imageId);
    } catch (error) {
      report.errors++;
      deps.log.error('could not advance a verification', { imageId: image.imageId, error: String(error) });
    }
  }
  // Whatever else went wrong, no test instance outlives its timeout by more than the margin.
  const overdue = (i: TestInstance) =>
    now.getTime() - i.launchTime.getTime() > (deps.verify.timeoutMinutes + SWEEP_MARGIN_MINUTES) * 60_000;
  for (const orphan of instances.filter(
    (i) => LIVE_TEST_STATES.has(i.state) && (!verifying.has(i.imageId ?? '') || (overdue(i) && !advanced.has(i.imageId ?? ''))),
  )) {
    try {
      await deps.ec2.terminateInstance(orphan.instanceId);
      report.orphansTerminated++;
      deps.log.warn('test instance of no verifying image terminated', { testInstanceId: orphan.instanceId, imageId: orphan.imageId });
    } catch (error) {
      report.errors++;
      deps.log.error('could not terminate a test instance', { testInstanceId: orphan.instanceId, error: String(error) });
    }
  }
  report.started = (await startWaiting(deps, now)).filter((o) => o.step === 'launch').length;
  return report;
}
