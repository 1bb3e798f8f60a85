/**
 * The operator's view of the fleet: one row per lineage, from what rotation reads
 * and plans anyway (images, instances, the plan, snapshot sizes). Pure.
 */
import type { InstanceSummary } from './bake.js';
import { claimsCopyFrom, notCopiedHere, regionsOf } from './copy-rotation.js';
import { newestFirst, statusOf, type ImageView } from './image-status.js';
import { MAX_TAGS_PER_RESOURCE } from './launch.js';
import { capacityOwnerOf, recoverModeOf } from './recovery.js';
import type { RotationImage, RotationPlan } from './retention.js';
import type { Period } from './schedule.js';
import { parseInstancePolicy, TAG, type RecoverMode, type Tags } from './tags.js';

export interface LineageStatus {
  lineage: string;
  name: string | undefined;
  /** The lineage's current instance: live, not replaced, the most recently launched. */
  instance: { instanceId: string; state: string } | undefined;
  schedules: string[];
  recover: RecoverMode;
  /** Another service owns the current instance's capacity (an Auto Scaling group...): recover has no effect. */
  capacityOwner?: string | undefined;
  lastGood: { imageId: string; name: string; createdAt: Date; ageHours: number } | undefined;
  images: number;
  byStatus: Record<string, number>;
  snapshotBytes: number;
  /** What the next rotation would delete, with the reasons. */
  nextRotation: Array<{ imageId: string; name: string; reasons: string[] }>;
  /**
   * The schedules of the lineage's current instance without a good image within twice
   * their period (each is also one of the problems): the scheduled run's
   * LineagesWithoutGoodImage metric counts the lineages where its own schedule is one.
   */
  overdue: string[];
  /** Generations of replacements seen (relaunches still visible in EC2). */
  replacements: Array<{ instanceId: string; replaces: string; generation: number; launchTime: Date | undefined; state: string }>;
  problems: string[];
}

export interface FleetInput {
  now: Date;
  images: readonly RotationImage[];
  /** Instances that are not terminated. */
  instances: readonly InstanceSummary[];
  plan: RotationPlan;
  snapshotSizes: ReadonlyMap<string, number>;
  knownSchedules: readonly string[];
  /** The period of each schedule, as serverless.yml declares it. */
  schedulePeriods: Readonly<Record<string, Period>>;
}

const PERIOD_HOURS: Record<Period, number> = { hour: 1, day: 24, week: 24 * 7, month: 24 * 31 };
/** An image still pending after this long is stuck: CreateImage takes minutes, rarely more than a few hours. */
export const STUCK_PENDING_HOURS = 6;
/** A verification ends within verifyTimeoutMinutes (at most 12 h); an image verifying longer is waiting on the service. */
export const STUCK_VERIFYING_HOURS = 24;
const LIVE = new Set(['pending', 'running', 'stopping', 'stopped']);
const hoursBetween = (a: Date, b: Date) => (a.getTime() - b.getTime()) / 3_600_000;

/** The lineage an instance belongs to: its tag, or its own id for an opted-in instance not yet baked. */
function lineageOf(instance: InstanceSummary): string | undefined {
  return instance.tags[TAG.lineage] ?? (instance.tags[TAG.bake] !== undefined ? instance.instanceId : undefined);
}

export function summariseFleet(input: FleetInput): LineageStatus[] {
  const lineages = new Set<string>();
  const imagesOf = new Map<string, RotationImage[]>();
  const foreignOf = new Map<string, RotationImage[]>();
  for (const image of input.images) {
    if (!image.lineage) continue;
    // Not the stack's own (a person's copy with its tags): named among the problems, counted nowhere.
    if (image.foreign) {
      lineages.add(image.lineage);
      foreignOf.set(image.lineage, [...(foreignOf.get(image.lineage) ?? []), image]);
      continue;
    }
    lineages.add(image.lineage);
    imagesOf.set(image.lineage, [...(imagesOf.get(image.lineage) ?? []), image]);
  }
  const instancesOf = new Map<string, InstanceSummary[]>();
  for (const instance of input.instances) {
    const lineage = lineageOf(instance);
    if (!lineage) continue;
    lineages.add(lineage);
    instancesOf.set(lineage, [...(instancesOf.get(lineage) ?? []), instance]);
  }
  const deletions = new Map<string, LineageStatus['nextRotation']>();
  for (const d of input.plan.decisions) {
    if (d.action !== 'delete' || !d.lineage) continue;
    deletions.set(d.lineage, [...(deletions.get(d.lineage) ?? []), { imageId: d.imageId, name: d.name, reasons: d.reasons }]);
  }

  return [...lineages].sort().map((lineage) => {
    const row = summariseLineage(lineage, imagesOf.get(lineage) ?? [], instancesOf.get(lineage) ?? [], deletions.get(lineage) ?? [], input);
    for (const f of foreignOf.get(lineage) ?? []) {
      row.problems.push(
        `image ${f.imageId} carries this stack's tags but was not made by it (${f.foreign}): never rotated nor launched from`,
      );
    }
    return row;
  });
}

/**
 * Why a baked instance does not carry its lineage tag: the bake could not write it. Recovery
 * and rotation find its lineage from its images anyway; the operator should know.
 */
function lineageTagMissing(instance: InstanceSummary): string | undefined {
  if (instance.tags[TAG.lineage] !== undefined) return undefined;
  const counted = Object.keys(instance.tags).filter((k) => !k.startsWith('aws:')).length;
  const why =
    counted >= MAX_TAGS_PER_RESOURCE
      ? `it carries ${counted} tags, EC2's limit per resource`
      : "the bake could not write it (see the bake function's log)";
  return `lineage tag not on the instance: ${why}; recovery and rotation find its lineage from its images`;
}

/** A marker left on for longer than this is probably forgotten: recovery is off for the instance meanwhile. */
const MAINTENANCE_WARN_HOURS = 24;

/**
 * The maintenance marker, with how long it has been on: from `maintenance-since`, which the
 * operator may set with the marker and recovery writes the first time the marker holds a trigger.
 */
function maintenanceProblem(tags: Tags, now: Date): string | undefined {
  const value = tags[TAG.maintenance];
  if (value === undefined) return undefined;
  const stamp = tags[TAG.maintenanceSince];
  const since = stamp ? new Date(stamp) : undefined;
  const hours = since && Number.isFinite(since.getTime()) ? Math.max(0, (now.getTime() - since.getTime()) / 3_600_000) : undefined;
  const howLong =
    hours === undefined
      ? `since a time not recorded (${TAG.maintenanceSince})`
      : `for ${hours < 48 ? `${Math.floor(hours)} h` : `${Math.floor(hours / 24)} d`} (since ${since!.toISOString()})`;
  const warning = hours !== undefined && hours > MAINTENANCE_WARN_HOURS ? '; over a day: remove the marker if the work is done' : '';
  return `under maintenance (${value || 'no value'}) ${howLong}: recovery relaunches nothing until ${TAG.maintenance} is removed${warning}`;
}

function summariseLineage(
  lineage: string,
  images: RotationImage[],
  instances: InstanceSummary[],
  nextRotation: LineageStatus['nextRotation'],
  input: FleetInput,
): LineageStatus {
  const { now } = input;
  const sorted = [...images].sort(newestFirst);
  const current = instances
    .filter((i) => LIVE.has(i.state) && i.tags[TAG.replacedBy] === undefined)
    .sort((a, b) => (b.launchTime?.getTime() ?? 0) - (a.launchTime?.getTime() ?? 0))[0];
  const policy = current ? parseInstancePolicy(current.tags, input.knownSchedules) : undefined;
  const schedules = policy?.schedules.length
    ? policy.schedules
    : [...new Set(images.flatMap((i) => (i.schedule ? [i.schedule] : [])))].sort();
  const good = sorted.filter((i) => i.status === 'good' && i.state === 'available');
  const newestGood = good[0];
  const byStatus: Record<string, number> = {};
  for (const i of images) byStatus[i.status ?? 'untagged'] = (byStatus[i.status ?? 'untagged'] ?? 0) + 1;

  const problems: string[] = [];
  const overdue: string[] = [];
  // Adopted images (`ami-lifecycle adopt`) were never baked from an instance of this stack: none is missing.
  if (!current && !images.every((i) => i.adopted)) problems.push('instance gone: no live instance carries the lineage');
  for (const p of policy?.problems ?? []) problems.push(`invalid tag ${p.tag}=${p.value}: ${p.reason}`);
  const untagged = current && images.length > 0 ? lineageTagMissing(current) : undefined;
  if (untagged) problems.push(untagged);
  const owner = current ? capacityOwnerOf(current.tags) : undefined;
  const maintenance = current ? maintenanceProblem(current.tags, now) : undefined;
  if (maintenance) problems.push(maintenance);
  const without = current?.tags[TAG.launchedWithout];
  if (without) problems.push(`relaunched without its ${without}: deleted since the bake; give it back by hand if it is needed`);
  if (current) {
    for (const schedule of schedules) {
      const period = input.schedulePeriods[schedule];
      if (!period) continue;
      const limit = 2 * PERIOD_HOURS[period];
      const newest = good.find((i) => i.schedule === schedule);
      // An instance younger than the limit has not missed anything yet.
      if (!newest && current.launchTime && hoursBetween(now, current.launchTime) <= limit) continue;
      if (!newest || hoursBetween(now, newest.createdAt) > limit) {
        overdue.push(schedule);
        problems.push(
          `no good ${schedule} image within ${limit} h${newest ? ` (newest ${Math.round(hoursBetween(now, newest.createdAt))} h old)` : ''}`,
        );
      }
    }
  }
  const bad = images.filter((i) => i.status === 'bad');
  if (bad.length > 0) {
    problems.push(
      `${bad.length} image(s) marked bad by recovery: ${bad.map((i) => i.imageId).join(', ')} (ami-lifecycle mark-good <image> clears a wrong mark)`,
    );
  }
  const stuck = images.filter((i) => i.status === 'pending' && hoursBetween(now, i.createdAt) > STUCK_PENDING_HOURS);
  if (stuck.length > 0)
    problems.push(`${stuck.length} image(s) pending for more than ${STUCK_PENDING_HOURS} h: ${stuck.map((i) => i.imageId).join(', ')}`);
  const unverified = images.filter((i) => i.status === 'verifying' && hoursBetween(now, i.createdAt) > STUCK_VERIFYING_HOURS);
  if (unverified.length > 0) {
    problems.push(
      `${unverified.length} image(s) verifying for more than ${STUCK_VERIFYING_HOURS} h: ${unverified.map((i) => i.imageId).join(', ')} ` +
        "(are verifySubnetId and verifySecurityGroupId set? see the verify function's dead-letter queue and docs/verification.md)",
    );
  }

  return {
    lineage,
    name: current?.tags[TAG.name],
    instance: current ? { instanceId: current.instanceId, state: current.state } : undefined,
    schedules,
    recover: current ? recoverModeOf(current.tags).mode : 'off',
    ...(owner ? { capacityOwner: owner } : {}),
    lastGood: newestGood
      ? {
          imageId: newestGood.imageId,
          name: newestGood.name,
          createdAt: newestGood.createdAt,
          ageHours: Math.max(0, hoursBetween(now, newestGood.createdAt)),
        }
      : undefined,
    images: images.length,
    byStatus,
    snapshotBytes: images.flatMap((i) => i.snapshotIds).reduce((sum, id) => sum + (input.snapshotSizes.get(id) ?? 0), 0),
    nextRotation,
    overdue,
    replacements: instances
      .filter((i) => i.tags[TAG.replaces] !== undefined)
      .map((i) => ({
        instanceId: i.instanceId,
        replaces: i.tags[TAG.replaces]!,
        generation: Number.parseInt(i.tags[TAG.generation] ?? '1', 10) || 1,
        launchTime: i.launchTime,
        state: i.state,
      }))
      .sort((a, b) => a.generation - b.generation),
    problems,
  };
}

// ---- issue 17: the recovery points in a destination region (`status --region`) -----------------

/** One lineage's recovery point in a destination region: its newest good copy. */
export interface RecoveryPoint {
  lineage: string;
  /** The schedule of its newest good copy (else of its newest copy), whose period says when it is stale. */
  schedule: string | undefined;
  newestGood:
    | {
        imageId: string;
        name: string;
        sourceImageId: string | undefined;
        /** When the data was taken: the source image's creation while the home region lists it, else the copy's. */
        takenAt: Date;
        /** Which of the two takenAt is. */
        takenFrom: 'source' | 'copy';
        ageHours: number;
      }
    | undefined;
  /** Twice the schedule's period, in hours; undefined for a schedule the stage does not declare. */
  limitHours: number | undefined;
  /** ok: a good copy within the limit; stale: the newest good copy is older; none: no good copy at all. */
  state: 'ok' | 'stale' | 'none';
  /** The service's copies of the lineage in the region, by status. */
  byStatus: Record<string, number>;
  problems: string[];
}

export interface RegionInput {
  now: Date;
  region: string;
  homeRegion: string;
  /** The stack's images in the destination region (copies or not). */
  regionImages: readonly ImageView[];
  /** The stack's images in the home region: their copy-to tags say which lineages should have a copy here. */
  homeImages: readonly ImageView[];
  schedulePeriods: Readonly<Record<string, Period>>;
}

/**
 * Each lineage's recovery point in a region: the lineages with a copy there, and those whose
 * newest good home image names the region in its copy-to tag. A copy counts only if EC2 records it
 * as copied from the image its tags name (copy-rotation.ts, notCopiedHere); others are problems.
 */
export function summariseRegion(input: RegionInput): RecoveryPoint[] {
  const { now } = input;
  const sourceTimes = new Map(input.homeImages.map((i) => [i.imageId, i.creationDate]));
  const copiesOf = new Map<string, ImageView[]>();
  const notOurs = new Map<string, string[]>();
  for (const image of input.regionImages) {
    const lineage = image.tags[TAG.lineage];
    if (!lineage || !claimsCopyFrom(image, input.homeRegion)) continue;
    const why = notCopiedHere(image);
    if (why) notOurs.set(lineage, [...(notOurs.get(lineage) ?? []), `${image.imageId} (${why})`]);
    else copiesOf.set(lineage, [...(copiesOf.get(lineage) ?? []), image]);
  }
  // Lineages that should have a copy here: their newest good home image names the region.
  const expected = new Set<string>();
  const newestHome = new Map<string, ImageView>();
  for (const image of input.homeImages) {
    const lineage = image.tags[TAG.lineage];
    if (!lineage || statusOf(image) !== 'good' || image.state !== 'available') continue;
    const known = newestHome.get(lineage);
    if (!known || timeOf(image) > timeOf(known)) newestHome.set(lineage, image);
  }
  for (const [lineage, image] of newestHome) if (regionsOf(image.tags[TAG.copyTo]).includes(input.region)) expected.add(lineage);

  const lineages = [...new Set([...copiesOf.keys(), ...notOurs.keys(), ...expected])].sort();
  return lineages.map((lineage): RecoveryPoint => {
    const copies = [...(copiesOf.get(lineage) ?? [])].sort((a, b) => timeOf(b) - timeOf(a) || (a.imageId < b.imageId ? -1 : 1));
    const byStatus: Record<string, number> = {};
    for (const c of copies) byStatus[statusOf(c) ?? 'untagged'] = (byStatus[statusOf(c) ?? 'untagged'] ?? 0) + 1;
    const good = copies.find((c) => statusOf(c) === 'good' && c.state === 'available');
    const schedule = (good ?? copies[0])?.tags[TAG.schedule] ?? newestHome.get(lineage)?.tags[TAG.schedule];
    const period = schedule ? input.schedulePeriods[schedule] : undefined;
    const limitHours = period ? 2 * PERIOD_HOURS[period] : undefined;
    const problems: string[] = [];
    let newestGood: RecoveryPoint['newestGood'];
    let state: RecoveryPoint['state'] = 'none';
    if (good) {
      const sourceImageId = good.tags[TAG.sourceImage];
      const sourceTime = sourceImageId ? sourceTimes.get(sourceImageId) : undefined;
      const takenAt = new Date(sourceTime ?? good.creationDate ?? 0);
      const ageHours = Math.max(0, hoursBetween(now, takenAt));
      newestGood = { imageId: good.imageId, name: good.name, sourceImageId, takenAt, takenFrom: sourceTime ? 'source' : 'copy', ageHours };
      state = limitHours !== undefined && ageHours > limitHours ? 'stale' : 'ok';
      if (state === 'stale') {
        problems.push(`newest good copy ${Math.round(ageHours)} h old: older than twice the ${schedule} period (${limitHours} h)`);
      }
    } else {
      problems.push(
        expected.has(lineage)
          ? `no good copy in ${input.region}, though its newest good image names it in ${TAG.copyTo}`
          : `no good copy in ${input.region}`,
      );
    }
    if (schedule && !period) problems.push(`schedule ${schedule} is not one the stage declares: staleness unknown`);
    for (const n of notOurs.get(lineage) ?? []) problems.push(`copy ${n} carries this stack's tags but was not made by it: never rotated`);
    return { lineage, schedule, newestGood, limitHours, state, byStatus, problems };
  });
}

const timeOf = (image: ImageView) => new Date(image.creationDate ?? 0).getTime();
