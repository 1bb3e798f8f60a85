/**
 * Promotion: a good image of a lineage goes into the targets its instances name in
 * `ami-lifecycle:promote` (SSM parameters, launch templates, Auto Scaling groups), and an
 * operator's rollback takes a target back to the image it held before.
 *
 * Exactly once per image and target, under duplicate deliveries and crashes: every target is read
 * before it is changed, and one that holds the image already gets nothing new (no second parameter
 * version, no second template version); a template version is created with a ClientToken made
 * from the template, its source version and the image, so a retry after a lost answer gets the
 * first version back. What was done is recorded last, on the image (`ami-lifecycle:promoted`):
 * a delivery that finds the target holding the image but the image not recording the target
 * finishes the promotion (the event, the instance refresh) and records it; one that finds both
 * does nothing. The image's status is read from EC2 each time: only a `good` image of this stack
 * is promoted, never one the event alone calls good.
 */
import { createHash } from 'node:crypto';
import { outgoing } from '../domain/event-requests.js';
import type { OutgoingEvent } from '../domain/events.js';
import { isManagedBy, newestFirst, notMadeHere, statusOf, type ImageView } from '../domain/image-status.js';
import {
  decidePromotion,
  parsePromoteTag,
  promotedTargets,
  withPromotedTarget,
  type Candidate,
  type HeldImage,
  type PromotionDecision,
  type PromotionTarget,
  type TargetProblem,
} from '../domain/promotion.js';
import { TAG } from '../domain/tags.js';
import type { LaunchTemplateView } from './ec2-ports.js';
import { AwsCallError } from './errors.js';
import type { PromoteDeps } from './ports.js';
import { publishOrThrow } from './publish.js';

export type PromoteTrigger = 'event' | 'reconcile' | 'manual';

export interface TargetOutcome {
  target: string;
  outcome: 'promoted' | 'resumed' | 'already-holds' | 'holds-newer' | 'rolled-back' | 'nothing-to-roll-back-to' | 'failed';
  version?: number | undefined;
  previousImageId?: string | undefined;
  /** The error code of a failure, or the image a newer-holding target keeps. */
  detail?: string | undefined;
  /** For asg: the refresh started, or why none was. */
  refresh?: string | undefined;
  /** For a rollback: the image the target went back to. */
  to?: string | undefined;
}

export interface PromotionReport {
  imageId: string;
  lineage?: string | undefined;
  /** Why nothing was promoted at all (the image is not a good one of this stack, no target). */
  skipped?: string | undefined;
  targets: TargetOutcome[];
  problems: TargetProblem[];
}

/** The refusal of one target, reported for it alone (PromotionFailed). */
export class TargetRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** An event named the image good, and EC2 does not say so yet: the status tag is still to come. */
export class NotSettledYet extends Error {
  override readonly name = 'NotSettledYet';
  constructor(
    readonly imageId: string,
    readonly status: string,
  ) {
    super(`${imageId} is ${status}, not good yet: its ImageBaked came before its status tag; tried again`);
  }
}

/** This stack's image, made by it, whose status is still pending or verifying: the one a settle is about to tag. */
function unsettled(image: ImageView, managedBy: string): boolean {
  const status = statusOf(image);
  return (status === 'pending' || status === 'verifying') && isManagedBy(image.tags, managedBy) && notMadeHere(image) === undefined;
}

const LIVE = (state: string) => state !== 'terminated' && state !== 'shutting-down';

/** The targets the lineage's live instances name, each once, and the problems of the ones that cannot be read, by instance. */
export async function lineageTargets(
  lineage: string,
  deps: PromoteDeps,
): Promise<{ targets: PromotionTarget[]; problems: Array<{ instanceId: string; problems: TargetProblem[] }> }> {
  const targets = new Map<string, PromotionTarget>();
  const problems: Array<{ instanceId: string; problems: TargetProblem[] }> = [];
  for (const instance of await deps.ec2.listLineageInstances(lineage)) {
    const raw = instance.tags[TAG.promote];
    if (raw === undefined || !LIVE(instance.state)) continue;
    const tag = parsePromoteTag(raw, deps.promotion.parameterPrefix);
    for (const t of tag.targets) targets.set(t.key, t);
    if (tag.problems.length > 0) problems.push({ instanceId: instance.instanceId, problems: tag.problems });
  }
  return { targets: [...targets.values()], problems };
}

/** Why an image may not be promoted, or undefined when it may: a `good`, available image of this stack, made by it. */
export function notPromotable(image: ImageView | undefined, managedBy: string): string | undefined {
  if (!image) return 'EC2 does not know the image';
  if (!isManagedBy(image.tags, managedBy)) return 'not an image of this stack';
  const foreign = notMadeHere(image);
  if (foreign) return `carries this stack's tags but was not made by it: ${foreign}`;
  if (!image.tags[TAG.lineage]) return 'no lineage tag';
  const status = statusOf(image);
  if (status !== 'good') return `its status is ${status ?? 'none'}, not good`;
  if (image.state !== 'available') return `its state is ${image.state}, not available`;
  return undefined;
}

const candidateOf = (image: ImageView): Candidate => ({ imageId: image.imageId, createdAt: new Date(image.creationDate ?? 0) });

/** What a target holds, with the creation date EC2 knows for it. */
async function heldImage(imageId: string | undefined, deps: PromoteDeps): Promise<HeldImage | undefined> {
  if (!imageId) return undefined;
  const view = await deps.ec2.describeImage(imageId);
  return view?.creationDate ? { imageId, createdAt: new Date(view.creationDate) } : { imageId };
}

/** The token of the one template version that puts this image on this template from this source version. */
export function versionToken(launchTemplateId: string, sourceVersion: number, imageId: string): string {
  return createHash('sha256').update(`${launchTemplateId}\u0000${sourceVersion}\u0000${imageId}`).digest('hex').slice(0, 64);
}

interface Change {
  decision: PromotionDecision;
  /** The target now holds the image because this delivery changed it. */
  changed: boolean;
  version?: number | undefined;
  previous?: string | undefined;
}

async function promoteParameter(name: string, image: ImageView, deps: PromoteDeps): Promise<Change> {
  const current = await deps.parameters.getParameter(name);
  // "You can't change a parameter to or from" aws:ec2:image (Parameter data types in Parameter
  // Store: https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-data-types.html).
  if (current && current.dataType !== 'aws:ec2:image') {
    throw new TargetRefused(
      'DataTypeMismatch',
      `the parameter's data type is ${current.dataType}; promotion writes aws:ec2:image parameters only`,
    );
  }
  const decision = decidePromotion(candidateOf(image), await heldImage(current?.value, deps));
  if (decision.action !== 'promote') return { decision, changed: false, version: current?.version };
  const lineage = image.tags[TAG.lineage] ?? '';
  const version = await deps.parameters.putImageParameter(name, image.imageId, `${deps.managedBy}: newest good image of ${lineage}`);
  return { decision, changed: true, version, previous: current?.value };
}

/** The image of one version of the template (undefined when the version names none or is gone). */
export async function versionImage(t: LaunchTemplateView, version: number, deps: PromoteDeps): Promise<string | undefined> {
  return (await deps.ec2.launchTemplateVersions(t.launchTemplateId, version, version))[0]?.imageId;
}

async function promoteTemplate(t: LaunchTemplateView, image: ImageView, deps: PromoteDeps): Promise<Change> {
  const held = await versionImage(t, t.defaultVersion, deps);
  const decision = decidePromotion(candidateOf(image), await heldImage(held, deps));
  if (decision.action !== 'promote') return { decision, changed: false, version: t.defaultVersion };
  // A delivery that created the version and stopped before making it the default left it newest:
  // make that one the default rather than add another. Otherwise the token answers a retry after
  // a lost answer with the first version.
  let version: number;
  if (t.latestVersion > t.defaultVersion && (await versionImage(t, t.latestVersion, deps)) === image.imageId) {
    version = t.latestVersion;
  } else {
    const description = `${deps.managedBy}: ${image.imageId} (${image.tags[TAG.lineage] ?? ''}) from version ${t.defaultVersion}`;
    version = await deps.ec2.createImageVersion(
      t.launchTemplateId,
      t.defaultVersion,
      image.imageId,
      versionToken(t.launchTemplateId, t.defaultVersion, image.imageId),
      description,
    );
  }
  await deps.ec2.setDefaultVersion(t.launchTemplateId, version);
  return { decision, changed: true, version, previous: held };
}

export async function promotableTemplate(ref: string, deps: PromoteDeps, via?: string): Promise<LaunchTemplateView> {
  const t = await deps.ec2.describeLaunchTemplate(ref);
  if (!t) throw new TargetRefused('NotFound', `no launch template ${ref}${via ? ` (${via})` : ''}`);
  if (t.tags[TAG.promotable] !== 'true') {
    throw new TargetRefused('NotPromotable', `launch template ${ref}${via ? ` (${via})` : ''} is not tagged ${TAG.promotable}=true`);
  }
  return t;
}

/** The launch template of a group, when the group can be promoted through it. */
export async function groupTemplate(name: string, deps: PromoteDeps): Promise<LaunchTemplateView> {
  const group = await deps.groups.describeGroup(name);
  if (!group) throw new TargetRefused('NotFound', `no Auto Scaling group ${name}`);
  if (group.tags[TAG.promotable] !== 'true') throw new TargetRefused('NotPromotable', `group ${name} is not tagged ${TAG.promotable}=true`);
  if (group.mixedInstances) {
    throw new TargetRefused(
      'MixedInstancesPolicy',
      `group ${name} has a mixed instances policy: promote its launch template with lt: instead`,
    );
  }
  if (!group.launchTemplate) {
    throw new TargetRefused('LaunchConfiguration', `group ${name} launches from a launch configuration, not a launch template`);
  }
  const { id, name: ltName, version } = group.launchTemplate;
  // A group pinned to a version number would not launch from the new default.
  if (version !== '$Default' && version !== '$Latest') {
    throw new TargetRefused(
      'FixedLaunchTemplateVersion',
      `group ${name} launches from version ${version} of its template, not $Default or $Latest`,
    );
  }
  return promotableTemplate(id ?? ltName ?? '', deps, `of group ${name}`);
}

async function changeTarget(target: PromotionTarget, image: ImageView, deps: PromoteDeps): Promise<Change> {
  switch (target.kind) {
    case 'ssm':
      return promoteParameter(target.name, image, deps);
    case 'lt':
      return promoteTemplate(await promotableTemplate(target.ref, deps), image, deps);
    case 'asg':
      return promoteTemplate(await groupTemplate(target.name, deps), image, deps);
  }
}

/** Starts the group's instance refresh and says so: its id, or why none started. */
export async function refreshGroup(name: string, image: ImageView, deps: PromoteDeps): Promise<string> {
  const prefs = deps.promotion.refresh;
  const answer = await deps.groups.startInstanceRefresh(name, prefs);
  if ('inProgress' in answer) {
    deps.log.warn('an instance refresh is already running: the group is not refreshed again', { group: name, imageId: image.imageId });
    return `not started: a refresh is already in progress (${answer.inProgress})`;
  }
  await publishOrThrow(
    deps.events,
    outgoing('InstanceRefreshStarted', {
      managedBy: deps.managedBy,
      imageId: image.imageId,
      lineage: image.tags[TAG.lineage] ?? '',
      autoScalingGroupName: name,
      instanceRefreshId: answer.refreshId,
      minHealthyPercentage: prefs.minHealthyPercentage,
      skipMatching: prefs.skipMatching,
      checkpointPercentages: prefs.checkpointPercentages,
    }),
    name,
  );
  return answer.refreshId;
}

function failed(
  target: string,
  image: { imageId?: string; lineage: string },
  code: string,
  message: string,
  deps: PromoteDeps,
): OutgoingEvent {
  return outgoing('PromotionFailed', {
    managedBy: deps.managedBy,
    ...(image.imageId ? { imageId: image.imageId } : {}),
    lineage: image.lineage,
    target,
    errorCode: code,
    message: message.slice(0, 1000),
  });
}

/**
 * Runs `act` for each target; a refused target is reported (PromotionFailed) and the others go
 * on. A transient error is thrown once every target has had its turn, so the delivery is retried
 * (a retry changes nothing that is done).
 */
export async function eachTarget<T extends { key: string }>(
  targets: readonly T[],
  about: { imageId?: string; lineage: string },
  deps: PromoteDeps,
  act: (target: T) => Promise<TargetOutcome>,
): Promise<TargetOutcome[]> {
  const outcomes: TargetOutcome[] = [];
  let retry: unknown;
  for (const target of targets) {
    try {
      outcomes.push(await act(target));
    } catch (error) {
      const refused = error instanceof TargetRefused || (error instanceof AwsCallError && !error.retryable);
      if (!refused) {
        deps.log.error('could not promote a target; the delivery will be retried', { target: target.key, error: String(error) });
        retry ??= error;
        continue;
      }
      const code = (error as TargetRefused | AwsCallError).code;
      const message = error instanceof AwsCallError ? error.message : (error as Error).message;
      await publishOrThrow(deps.events, failed(target.key, about, code, message, deps), target.key);
      deps.log.warn('promotion target refused', { target: target.key, errorCode: code, message });
      outcomes.push({ target: target.key, outcome: 'failed', detail: code });
    }
  }
  if (retry) throw retry;
  return outcomes;
}

/** Publishes PolicyInvalid for the instances whose promote tag names a target that cannot be read. */
async function reportProblems(image: ImageView, problems: Array<{ instanceId: string; problems: TargetProblem[] }>, deps: PromoteDeps) {
  for (const p of problems) {
    const event = outgoing('PolicyInvalid', {
      managedBy: deps.managedBy,
      instanceId: p.instanceId,
      schedule: image.tags[TAG.schedule] ?? '',
      slot: image.tags[TAG.slot] ?? '',
      problems: p.problems.map((x) => ({ tag: TAG.promote, value: x.target, reason: x.reason })),
      bakeSkipped: false,
    });
    await publishOrThrow(deps.events, event, p.instanceId);
  }
}

/**
 * Promotes one image into every target of its lineage (or only those named in `only`). Nothing
 * happens for an image that is not a good one of this stack.
 */
export async function promoteImage(
  imageId: string,
  deps: PromoteDeps,
  trigger: PromoteTrigger,
  only?: readonly string[],
  lineageHint?: string,
): Promise<PromotionReport> {
  // Most lineages name no target: the event's lineage, when it gives one, lets one DescribeInstances
  // say so without reading the image. It only ever saves work: a lineage that names targets has its
  // image read and checked below, and a wrong hint promotes nothing (the daily catch-up reads EC2 alone).
  let hinted: Awaited<ReturnType<typeof lineageTargets>> | undefined;
  if (lineageHint !== undefined) {
    hinted = await lineageTargets(lineageHint, deps);
    if (hinted.targets.length === 0 && hinted.problems.length === 0) {
      deps.log.debug('no promotion target for the lineage', { imageId, lineage: lineageHint, trigger });
      return { imageId, lineage: lineageHint, skipped: 'the lineage names no promotion target', targets: [], problems: [] };
    }
  }
  const image = await deps.ec2.describeImage(imageId);
  const why = notPromotable(image, deps.managedBy);
  if (why && image && trigger === 'event' && unsettled(image, deps.managedBy)) {
    // The settle and the verification publish ImageBaked before they tag the image good (a crash in
    // between says it again): on AWS the event can arrive first. Thrown, so that Lambda's retry
    // reads the image again a minute later; skipped, it would wait for the daily catch-up.
    throw new NotSettledYet(imageId, statusOf(image) ?? 'none');
  }
  if (why || !image) {
    deps.log.info('image not promoted', { imageId, reason: why, trigger });
    return { imageId, skipped: why, targets: [], problems: [] };
  }
  const lineage = image.tags[TAG.lineage]!;
  if (lineageHint !== undefined && lineageHint !== lineage) {
    deps.log.warn('the event names another lineage than the image: not promoted', { imageId, lineage, hint: lineageHint });
    return { imageId, lineage, skipped: `the event names the lineage ${lineageHint}, the image ${lineage}`, targets: [], problems: [] };
  }
  // The hint named this lineage (checked above): its targets are already read.
  const found = hinted ?? (await lineageTargets(lineage, deps));
  await reportProblems(image, found.problems, deps);
  const targets = only ? found.targets.filter((t) => only.includes(t.key)) : found.targets;
  const problems = found.problems.flatMap((p) => p.problems);
  if (targets.length === 0) {
    deps.log.info('no promotion target for the lineage', { imageId, lineage, trigger });
    return { imageId, lineage, skipped: 'the lineage names no promotion target', targets: [], problems };
  }
  // The promoted tag as this delivery reads it, then as it writes it (targets one after the other).
  let promotedTag = image.tags[TAG.promoted];
  const outcomes = await eachTarget(targets, { imageId, lineage }, deps, async (target) => {
    const change = await changeTarget(target, image, deps);
    if (change.decision.action === 'holds-newer') {
      deps.log.info('target holds a newer image: left alone', { target: target.key, imageId, held: change.decision.held });
      return { target: target.key, outcome: 'holds-newer', detail: change.decision.held };
    }
    const recorded = promotedTargets(promotedTag).includes(target.key);
    if (!change.changed && recorded) return { target: target.key, outcome: 'already-holds', version: change.version };
    // Changed now, or changed by a delivery that stopped before it recorded it: finish and record.
    const refresh = target.kind === 'asg' ? await refreshGroup(target.name, image, deps) : undefined;
    const event = outgoing('ImagePromoted', {
      managedBy: deps.managedBy,
      imageId,
      lineage,
      target: target.key,
      ...(change.previous ? { previousImageId: change.previous } : {}),
      ...(change.version ? { version: change.version } : {}),
      action: 'promote',
      trigger,
      resumed: !change.changed,
    });
    await publishOrThrow(deps.events, event, `${imageId} ${target.key}`);
    const next = withPromotedTarget(promotedTag, target.key);
    if (next === undefined) {
      deps.log.warn('the promoted tag is full (256 characters): the target is not recorded on the image', { imageId, target: target.key });
    } else if (next !== promotedTag) {
      await deps.ec2.tagResources([imageId], { [TAG.promoted]: next });
      promotedTag = next;
    }
    deps.log.info('image promoted', { imageId, target: target.key, version: change.version, trigger, resumed: !change.changed });
    return {
      target: target.key,
      outcome: change.changed ? 'promoted' : 'resumed',
      version: change.version,
      previousImageId: change.previous,
      ...(refresh ? { refresh } : {}),
    };
  });
  return { imageId, lineage, targets: outcomes, problems };
}

/** The newest good image of the lineage this stack may promote, if any. */
export async function newestPromotable(lineage: string, deps: PromoteDeps): Promise<ImageView | undefined> {
  const images = (await deps.ec2.listLineageImages(deps.managedBy, lineage)).filter((i) => notPromotable(i, deps.managedBy) === undefined);
  return images.map((i) => ({ i, createdAt: new Date(i.creationDate ?? 0), imageId: i.imageId })).sort(newestFirst)[0]?.i;
}

export interface ReconcileReport {
  lineages: number;
  promoted: number;
  failed: number;
}

/**
 * The scheduled catch-up: every lineage whose instances name targets gets its newest good image
 * promoted, so an event lost on the way (EventBridge delivers at least once, and an AMI state
 * change is best effort) still promotes. A lineage's error does not stop the others.
 */
export async function reconcilePromotions(deps: PromoteDeps): Promise<ReconcileReport> {
  const lineages = new Set<string>();
  for await (const page of deps.ec2.listPromoteCandidates()) {
    for (const instance of page) {
      const lineage = instance.tags[TAG.lineage];
      if (lineage) lineages.add(lineage);
    }
  }
  const report: ReconcileReport = { lineages: lineages.size, promoted: 0, failed: 0 };
  for (const lineage of [...lineages].sort()) {
    try {
      const newest = await newestPromotable(lineage, deps);
      if (!newest) continue;
      const result = await promoteImage(newest.imageId, deps, 'reconcile');
      report.promoted += result.targets.filter((t) => t.outcome === 'promoted' || t.outcome === 'resumed').length;
      report.failed += result.targets.filter((t) => t.outcome === 'failed').length;
    } catch (error) {
      report.failed++;
      deps.log.error('could not reconcile the promotions of a lineage', { lineage, error: String(error) });
    }
  }
  deps.log.info('promotions reconciled', { ...report });
  return report;
}
