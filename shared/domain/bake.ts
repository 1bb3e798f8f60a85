/**
 * Baking decisions: which listed instance gets a bake request on a scheduled run,
 * and what CreateImage call a bake request turns into. Pure.
 */
import { imageDescription, imageName } from './naming.js';
import { truncate } from './text.js';
import {
  EXCLUDE_VALUES,
  notCopyable,
  parseInstancePolicy,
  TAG,
  type CopyTags,
  type TagProblem,
  type Tags,
  type VerifyMode,
  type VolumeMode,
} from './tags.js';
import { outgoing } from './event-requests.js';
import type { BakeRequested, OutgoingEvent } from './events.js';
import { carriedTags, configDigest, MAX_TAGS_PER_RESOURCE, type LaunchConfig } from './launch.js';

export interface InstanceSummary {
  instanceId: string;
  state: string;
  tags: Tags;
  /** The image the instance was launched from. */
  imageId?: string | undefined;
  launchTime?: Date | undefined;
  /** EC2's StateReason code, e.g. Server.InternalError or Client.UserInitiatedShutdown. */
  stateReasonCode?: string | undefined;
  /** What a replacement would need, as the listing shows it (tags raw: the domain picks what is carried). */
  launch?: LaunchConfig | undefined;
  /** The device of the root volume (DescribeInstances' RootDeviceName). */
  rootDeviceName?: string | undefined;
  /** The EBS volumes attached, by device (DescribeInstances' BlockDeviceMappings). */
  volumes?: ReadonlyArray<{ deviceName: string; volumeId: string }> | undefined;
}

export interface RunContext {
  managedBy: string;
  schedule: string;
  slot: string;
  knownSchedules: readonly string[];
  now: Date;
  /** The stage's copyTags, for an instance without its own `copy-tags` (default: none). */
  copyTags?: CopyTags | undefined;
  /** The stage's verifyDefault, for an instance without its own `verify` (default: off). */
  verifyDefault?: VerifyMode | undefined;
  /**
   * The `exclude` tag of every attached volume that has one, by volume id (one DescribeVolumes a
   * run). Absent: nothing is known to be excluded, and every volume goes in.
   */
  volumeExcludes?: ReadonlyMap<string, string> | undefined;
  /** The stage's copyTo, for an instance without its own `copy-to` (default: none). */
  copyTo?: readonly string[] | undefined;
  /** The stack's own region: never a copy's destination. */
  homeRegion?: string | undefined;
}

export type SkipReason = 'gone' | 'replaced' | 'not-on-schedule' | 'invalid-policy';

export interface BakeDecision {
  request?: BakeRequested;
  skip?: SkipReason;
  /** PolicyInvalid event to publish alongside, when the tags have problems this run should report. */
  policyInvalid?: OutgoingEvent;
}

/** Instances in these states cannot be imaged and will not come back. */
const GONE = new Set(['shutting-down', 'terminated']);

export function decideBake(instance: InstanceSummary, run: RunContext): BakeDecision {
  if (GONE.has(instance.state)) return { skip: 'gone' };
  // A replaced instance kept around (stopped, or still running after a failed status check)
  // must not bake into the lineage its replacement now carries on.
  if (instance.tags[TAG.replacedBy] !== undefined) return { skip: 'replaced' };
  const policy = parseInstancePolicy(instance.tags, run.knownSchedules);
  const onSchedule = policy.schedules.includes(run.schedule);
  const decision: BakeDecision = {};
  const volumes = devicesLeftOut(instance, policy.volumes, run.volumeExcludes);
  // Volume tags never stop a bake: a volume whose tag cannot be read goes into the image.
  policy.problems.push(...volumes.problems);
  const copyTo = copyRegions(policy.copyTo, instance.tags[TAG.copyTo], run);
  policy.problems.push(...copyTo.problems);

  // Report problems in the runs that concern the instance: every run when we cannot tell
  // which schedules it wants, otherwise the runs of its own schedules.
  if (policy.problems.length > 0 && (!policy.bakeable || policy.schedules.length === 0 || onSchedule)) {
    decision.policyInvalid = outgoing('PolicyInvalid', {
      managedBy: run.managedBy,
      instanceId: instance.instanceId,
      schedule: run.schedule,
      slot: run.slot,
      problems: policy.problems,
      bakeSkipped: !policy.bakeable || !onSchedule,
    });
  }
  if (!policy.bakeable) return { ...decision, skip: 'invalid-policy' };
  if (!onSchedule) return { ...decision, skip: 'not-on-schedule' };

  const name = instance.tags[TAG.name];
  decision.request = {
    managedBy: run.managedBy,
    instanceId: instance.instanceId,
    lineage: policy.lineage ?? instance.instanceId,
    assignLineage: policy.lineage === undefined,
    ...(name ? { instanceName: truncate(name, 256) } : {}),
    schedule: run.schedule,
    slot: run.slot,
    reboot: policy.reboot,
    ...(policy.retain ? { retain: instance.tags[TAG.retain]!.trim() } : {}),
    requestedAt: run.now.toISOString(),
  };
  const capture = captureOf(instance, decision.request.lineage);
  if (capture) decision.request.capture = capture;
  if (volumes.devices.length > 0) decision.request.excludeDevices = volumes.devices;
  const copied = copiedTags(instance.tags, policy.copyTags ?? run.copyTags ?? { kind: 'none' });
  if (Object.keys(copied).length > 0) decision.request.copyTags = copied;
  if ((policy.verify ?? run.verifyDefault ?? 'off') === 'boot') decision.request.verify = 'boot';
  if (copyTo.regions.length > 0) decision.request.copyTo = copyTo.regions;
  if (policy.copyRetain) decision.request.copyRetain = policy.copyRetain;
  // Read by the promote function from the lineage's instances, as ever; on the image it routes ImageBaked there.
  const promote = instance.tags[TAG.promote]?.trim();
  if (promote) decision.request.promote = promote;
  return decision;
}

/**
 * The regions an instance's images are copied to: its own `copy-to`, else the stage's copyTo,
 * never the home region (a copy there is no disaster recovery: a PolicyInvalid problem, the other
 * regions kept).
 */
export function copyRegions(
  own: readonly string[] | undefined,
  raw: string | undefined,
  run: Pick<RunContext, 'copyTo' | 'homeRegion'>,
): { regions: string[]; problems: TagProblem[] } {
  const wanted = own ?? run.copyTo ?? [];
  if (run.homeRegion === undefined || !wanted.includes(run.homeRegion)) return { regions: [...wanted], problems: [] };
  const from = own !== undefined ? 'the instance' : "the stage's copyTo";
  return {
    regions: wanted.filter((r) => r !== run.homeRegion),
    problems: [
      {
        tag: TAG.copyTo,
        value: raw ?? wanted.join(','),
        reason: `${run.homeRegion} is the stack's own region (named by ${from}): a copy there is no disaster recovery; the other regions are kept`,
      },
    ],
  };
}

const stripDev = (device: string) => device.replace(/^\/dev\//, '');
/** EC2 names a root device `/dev/xvda` in one place and `xvda` in another: compare without the prefix. */
const sameDevice = (a: string, b: string) => stripDev(a) === stripDev(b);

/**
 * The devices to leave out of an instance's image: those whose volume carries `exclude=true` or
 * `follow`, or, with volumes=root, every device but the root one. The root device is never left
 * out (an image without it would not boot): a root volume tagged exclude is a problem, and goes in.
 */
export function devicesLeftOut(
  instance: Pick<InstanceSummary, 'instanceId' | 'rootDeviceName' | 'volumes'>,
  mode: VolumeMode,
  volumeExcludes: ReadonlyMap<string, string> | undefined,
): { devices: string[]; problems: TagProblem[] } {
  const devices: string[] = [];
  const problems: TagProblem[] = [];
  const root = instance.rootDeviceName;
  for (const { deviceName, volumeId } of instance.volumes ?? []) {
    const isRoot = root !== undefined && sameDevice(deviceName, root);
    const raw = volumeExcludes?.get(volumeId);
    const value = raw?.trim().toLowerCase();
    const where = `volume ${volumeId} at ${deviceName}`;
    if (raw !== undefined && !(EXCLUDE_VALUES as readonly string[]).includes(value!)) {
      problems.push({
        tag: TAG.exclude,
        value: raw,
        reason: `${where}: expected one of ${EXCLUDE_VALUES.join(', ')}; it goes into the image`,
      });
      if (mode === 'root' && !isRoot) devices.push(deviceName);
      continue;
    }
    const excluded = value === 'true' || value === 'follow';
    if (isRoot) {
      if (excluded) problems.push({ tag: TAG.exclude, value: raw!, reason: `${where} is the root volume: it always goes into the image` });
      continue;
    }
    if (excluded || mode === 'root') devices.push(deviceName);
  }
  return { devices: devices.sort(), problems };
}

/** The instance's tags the copy spec names, never `aws:` nor the service's own. */
export function copiedTags(tags: Tags, spec: CopyTags): Record<string, string> {
  if (spec.kind === 'none') return {};
  const keys = spec.kind === 'all' ? Object.keys(tags) : spec.keys.filter((k) => Object.hasOwn(tags, k));
  return Object.fromEntries(keys.filter((k) => !notCopyable(k)).map((k) => [k, tags[k]!]));
}

/**
 * The image's tags: the service's own, all of them, then the copied ones in key order, up to
 * EC2's 50 a resource (MAX_TAGS_PER_RESOURCE, launch.ts cites it). Not withinTagLimit: `Name` is
 * the service's here, and must not lose its place to a copied key that sorts before it. A copied
 * key the service sets itself keeps the service's value.
 */
export function withCopiedTags(own: Tags, copied: Tags): { tags: Tags; dropped: string[] } {
  const tags: Record<string, string> = { ...own };
  const dropped: string[] = [];
  for (const key of Object.keys(copied).sort()) {
    if (Object.hasOwn(tags, key)) continue;
    if (Object.keys(tags).length < MAX_TAGS_PER_RESOURCE) tags[key] = copied[key]!;
    else dropped.push(key);
  }
  return { tags, dropped };
}

/**
 * The launch configuration a bake should capture for recovery, or undefined when the
 * one captured last (its digest is on the instance) is still current. The digest is
 * taken after the lineage tag the bake gives the instance, so that tagging does not
 * look like a change on the next run.
 */
export function captureOf(instance: InstanceSummary, lineage: string): { digest: string; config: LaunchConfig } | undefined {
  if (!instance.launch) return undefined;
  const config: LaunchConfig = { ...instance.launch, tags: carriedTags({ ...instance.launch.tags, [TAG.lineage]: lineage }) };
  const digest = configDigest(config, instance.launchTime);
  return digest === instance.tags[TAG.captured] ? undefined : { digest, config };
}

export interface ImageSpec {
  instanceId: string;
  name: string;
  description: string;
  noReboot: boolean;
  /** Tags for the image and for each of its snapshots, applied at creation. */
  tags: Tags;
  /** Devices left out of the image (CreateImage BlockDeviceMappings with NoDevice). */
  noDevices: string[];
}

export interface BakePlan {
  /** Tags to put on the instance before imaging (its lineage, on its first bake). */
  instanceTags?: Tags;
  image: ImageSpec;
  /** Copied tag keys left off the image to stay within EC2's 50 tags per resource. */
  droppedTags: string[];
}

/**
 * EC2 takes tag values of at most 256 characters ("Tag restrictions",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html). Past it the excluded
 * tag keeps the devices that fit and ends in `,...`: the image itself still lists every device
 * it left out (its BlockDeviceMappings), which is what recovery can read.
 */
export const MAX_TAG_VALUE = 256;

export function excludedTagValue(devices: readonly string[]): string {
  const all = devices.join(',');
  if (all.length <= MAX_TAG_VALUE) return all;
  let value = '';
  for (const d of devices) {
    const next = value ? `${value},${d}` : d;
    if (next.length + ',...'.length > MAX_TAG_VALUE) break;
    value = next;
  }
  return `${value},...`;
}

export function planBake(request: BakeRequested): BakePlan {
  const key = {
    managedBy: request.managedBy,
    lineage: request.lineage,
    schedule: request.schedule,
    slot: request.slot,
  };
  const tags: Record<string, string> = {
    [TAG.managedBy]: request.managedBy,
    [TAG.lineage]: request.lineage,
    [TAG.sourceInstance]: request.instanceId,
    [TAG.schedule]: request.schedule,
    [TAG.slot]: request.slot,
    [TAG.status]: 'pending',
  };
  if (request.instanceName) tags[TAG.name] = request.instanceName;
  if (request.retain) tags[TAG.retain] = request.retain;
  // The image says its bake rebooted the instance: recovery waits that reboot out (recovery-deferral.ts).
  if (request.reboot) tags[TAG.reboot] = 'true';
  // The image says it must boot before it is good: settle reads it (image-status.ts), whatever the instance says by then.
  if (request.verify === 'boot') tags[TAG.verify] = 'boot';
  // Where its copies go, and how long they are kept (issue 17): the copy function reads the image, not the instance.
  if (request.copyTo && request.copyTo.length > 0) tags[TAG.copyTo] = request.copyTo.join(',');
  if (request.copyRetain) tags[TAG.copyRetain] = request.copyRetain;
  // Its ImageBaked says `promotes`, and only such an event reaches the promote function (issue 18).
  if (request.promote) tags[TAG.promote] = request.promote;
  const noDevices = [...new Set(request.excludeDevices ?? [])];
  // What was left out, so that recovery knows the image lacks it.
  if (noDevices.length > 0) tags[TAG.excluded] = excludedTagValue(noDevices);
  const limited = withCopiedTags(tags, request.copyTags ?? {});
  return {
    droppedTags: limited.dropped,
    ...(request.assignLineage ? { instanceTags: { [TAG.lineage]: request.lineage } } : {}),
    image: {
      instanceId: request.instanceId,
      name: imageName(key),
      description: imageDescription({ ...key, instanceId: request.instanceId, instanceName: request.instanceName }),
      // CreateImage's NoReboot is the inverse of the reboot tag: by default the instance keeps running.
      noReboot: !request.reboot,
      tags: limited.tags,
      noDevices,
    },
  };
}
