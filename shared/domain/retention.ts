/**
 * The retention planner: which managed images to keep, delete or deprecate, and
 * why. Pure. The safety rules live here, each applied after the policy so that
 * no policy can override them:
 *
 *   1. the newest `good` image of a lineage is never deleted;
 *   2. an image without this stack's managed-by tag is never touched;
 *   3. an image in use (instance, launch template, DescribeImageReferences) is never deleted, and
 *      once the reference check has run, an image it did not clear is never deleted either (a
 *      check that could not look is no answer: nothing is deleted blind);
 *   4. `pending` images are never deleted; `failed`/`bad` ones only after a grace period;
 *   5. a lineage whose instance is gone keeps its images under its last known policy.
 */
import { append } from './collections.js';
import { FAILED_STATES, newestFirst } from './image-status.js';
import { slotFor } from './schedule.js';
import { RetentionSpec, RETENTION_TIERS, type ImageStatus, type Retention, type RetentionTier } from './tags.js';

export interface RotationImage {
  imageId: string;
  name: string;
  /** managed-by tag; images of other stacks or of nobody are never touched. */
  managedBy: string | undefined;
  lineage: string | undefined;
  schedule: string | undefined;
  status: ImageStatus | undefined;
  /** EC2 image state. */
  state: string;
  createdAt: Date;
  /** The retain tag stamped on the image at bake: the lineage's policy at the time. */
  retainTag: string | undefined;
  snapshotIds: string[];
  deprecated: boolean;
}

export type PolicySource = 'instance' | 'last-known' | 'default';

export interface RotationInput {
  managedBy: string;
  now: Date;
  /** Time zone of the tier periods (day, week, ...): the schedules' own. */
  timeZone: string;
  images: RotationImage[];
  /** Valid retain policies read from the lineages' live instances. */
  instancePolicies: ReadonlyMap<string, Retention>;
  defaultRetention: Retention;
  /** Image id -> what uses it ("instance i-...", "launch template lt-... version 3"). */
  inUse: ReadonlyMap<string, readonly string[]>;
  failedGraceDays: number;
  /** Kept images older than this are deprecated; undefined turns deprecation off. */
  deprecateAfterDays?: number | undefined;
  /**
   * What the reference check (DescribeImageReferences) made of the images: undefined while it
   * has not run (the plan that names its candidates); given, only an image it cleared may be
   * deleted (rule 3).
   */
  referenceCheck?: ReferenceCheck | undefined;
}

/** Why the reference check could not clear an image: the error of the call that would have. */
export interface UnverifiedReason {
  errorCode: string;
  message: string;
}

export interface ReferenceCheck {
  /** Images the check looked at in every resource type and found referenced by nothing. */
  cleared: ReadonlySet<string>;
  /** Images it could not look at, and why. */
  unverified: ReadonlyMap<string, UnverifiedReason>;
}

/**
 * The candidates a reference check's answer clears: those it answered for and found
 * referenced by nothing. An image it has no answer for is cleared only if the check said so
 * by not listing it, never because its call failed.
 */
export function clearedBy(
  candidates: readonly string[],
  answer: { references: ReadonlyMap<string, unknown>; unverified: ReadonlyMap<string, unknown> },
): Set<string> {
  return new Set(candidates.filter((id) => !answer.references.has(id) && !answer.unverified.has(id)));
}

export interface ImageDecision {
  imageId: string;
  name: string;
  lineage: string | undefined;
  schedule: string | undefined;
  action: 'keep' | 'delete';
  /** Why, most decisive first. */
  reasons: string[];
  deprecate: boolean;
  snapshotIds: string[];
  /** Set on an image kept only because the reference check could not clear it. */
  unverified?: UnverifiedReason;
}

export interface LineagePolicy {
  lineage: string;
  source: PolicySource;
  retention: Retention;
}

export interface RotationPlan {
  decisions: ImageDecision[];
  lineages: LineagePolicy[];
}

const DAY = 86_400_000;

export function describeRetention(r: Retention): string {
  switch (r.kind) {
    case 'count':
      return `keep ${r.count}`;
    case 'age':
      return `keep ${r.days}d`;
    case 'tiers':
      return RETENTION_TIERS.filter((t) => r.tiers[t] !== undefined)
        .map((t) => `${t}=${r.tiers[t]}`)
        .join(',');
  }
}

const TIER_PERIOD: Record<RetentionTier, (d: Date, tz: string) => string> = {
  hourly: (d, tz) => slotFor(d, 'hour', tz),
  daily: (d, tz) => slotFor(d, 'day', tz),
  weekly: (d, tz) => slotFor(d, 'week', tz),
  monthly: (d, tz) => slotFor(d, 'month', tz),
  yearly: (d, tz) => slotFor(d, 'month', tz).slice(0, 4),
};

/**
 * The images a policy keeps among `good` images of one schedule, newest first,
 * with the reason each is kept. Tiers follow restic's `forget --keep-*`: for each
 * tier, walking from the newest image, the newest image of each of the last N
 * periods that have one is kept; an image may be kept by several tiers.
 */
export function applyRetention(images: RotationImage[], retention: Retention, now: Date, timeZone: string): Map<string, string[]> {
  const sorted = [...images].sort(newestFirst);
  const kept = new Map<string, string[]>();
  const keep = (id: string, why: string) => append(kept, id, why);
  switch (retention.kind) {
    case 'count':
      for (const [i, img] of sorted.slice(0, retention.count).entries()) keep(img.imageId, `newest ${i + 1} of ${retention.count}`);
      break;
    case 'age': {
      const cutoff = now.getTime() - retention.days * DAY;
      for (const img of sorted) if (img.createdAt.getTime() >= cutoff) keep(img.imageId, `younger than ${retention.days}d`);
      break;
    }
    case 'tiers':
      for (const tier of RETENTION_TIERS) {
        const n = retention.tiers[tier] ?? 0;
        let last: string | undefined;
        let count = 0;
        for (const img of sorted) {
          if (count >= n) break;
          const period = TIER_PERIOD[tier](img.createdAt, timeZone);
          if (period === last) continue;
          last = period;
          count++;
          keep(img.imageId, `${tier} ${period}`);
        }
      }
      break;
  }
  return kept;
}

/** The newest policy stamped on one of the images at bake, and the image it is read from. */
function lastKnown(images: RotationImage[]): { retention: Retention; imageId: string } | undefined {
  for (const img of [...images].sort(newestFirst)) {
    if (img.retainTag === undefined) continue;
    const parsed = RetentionSpec.safeParse(img.retainTag);
    if (parsed.success) return { retention: parsed.data, imageId: img.imageId };
  }
  return undefined;
}

/**
 * Lineage's policy, and the image it is read from when it is the last known one:
 * its instance's tag, else its last known one, else the default.
 */
function resolvePolicy(lineage: string, images: RotationImage[], input: RotationInput): { policy: LineagePolicy; carrier?: string } {
  const live = input.instancePolicies.get(lineage);
  if (live) return { policy: { lineage, source: 'instance', retention: live } };
  const known = lastKnown(images);
  if (known) return { policy: { lineage, source: 'last-known', retention: known.retention }, carrier: known.imageId };
  return { policy: { lineage, source: 'default', retention: input.defaultRetention } };
}

/** Lineage's policy: its instance's tag, else its last known one, else the default. */
export function policyFor(lineage: string, images: RotationImage[], input: RotationInput): LineagePolicy {
  return resolvePolicy(lineage, images, input).policy;
}

function kindOf(img: RotationImage): 'pending' | 'good' | 'failed' | 'unknown' {
  if (img.status === 'pending' || img.state === 'pending' || img.state === 'transient') return 'pending';
  if (img.status === 'failed' || img.status === 'bad' || FAILED_STATES.has(img.state)) return 'failed';
  if (img.status === 'good' && img.state === 'available') return 'good';
  return 'unknown';
}

export function planRotation(input: RotationInput): RotationPlan {
  const decisions: ImageDecision[] = [];
  const lineages: LineagePolicy[] = [];
  const decide = (img: RotationImage, action: 'keep' | 'delete', reasons: string[], deprecate = false, unverified?: UnverifiedReason) =>
    decisions.push({
      imageId: img.imageId,
      name: img.name,
      lineage: img.lineage,
      schedule: img.schedule,
      action,
      reasons,
      deprecate,
      snapshotIds: img.snapshotIds,
      ...(unverified ? { unverified } : {}),
    });
  // Rule 3, last word on every deletion: once the check has run, only what it cleared goes.
  const check = input.referenceCheck;
  const deleteIfCleared = (img: RotationImage, reasons: string[]) => {
    if (!check || check.cleared.has(img.imageId)) {
      decide(img, 'delete', reasons);
      return;
    }
    const why = check.unverified.get(img.imageId) ?? { errorCode: 'NotChecked', message: 'the reference check was not asked about it' };
    decide(
      img,
      'keep',
      [`not cleared by the reference check (${why.errorCode}: ${why.message}); would be: ${reasons.join('; ')}`],
      false,
      why,
    );
  };

  const byLineage = new Map<string, RotationImage[]>();
  for (const img of input.images) {
    // Rule 2: not ours, not touched. An image of ours without a lineage cannot be placed in a series.
    if (img.managedBy !== input.managedBy) {
      decide(img, 'keep', ['not managed by this stack']);
      continue;
    }
    if (!img.lineage) {
      decide(img, 'keep', ['no lineage tag: not part of any series']);
      continue;
    }
    append(byLineage, img.lineage, img);
  }

  for (const [lineage, images] of [...byLineage].sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Rule 5: a lineage without a live instance keeps its last known policy.
    const { policy, carrier } = resolvePolicy(lineage, images, input);
    lineages.push(policy);
    const good = images.filter((i) => kindOf(i) === 'good').sort(newestFirst);
    const newestGood = good[0]?.imageId;

    const kept = new Map<string, string[]>();
    const bySchedule = new Map<string, RotationImage[]>();
    for (const img of good) append(bySchedule, img.schedule ?? '', img);
    for (const group of bySchedule.values()) {
      for (const [id, why] of applyRetention(group, policy.retention, input.now, input.timeZone)) kept.set(id, why);
    }

    const policyText = `${describeRetention(policy.retention)} (${policy.source} policy)`;
    for (const img of [...images].sort(newestFirst)) {
      const reasons: string[] = [];
      const uses = input.inUse.get(img.imageId);
      // Rule 3 and rule 1, whatever the policy says.
      if (uses && uses.length > 0) reasons.push(`in use by ${uses.join(', ')}`);
      if (img.imageId === newestGood) reasons.push('newest good image of the lineage');
      // Rule 5 over time: deleting the image the last known policy is read from (a failed bake
      // stamped with a newer policy) would hand the lineage to an older policy on the next run.
      if (img.imageId === carrier) reasons.push("carries the lineage's last known retain policy");

      const kind = kindOf(img);
      if (kind === 'pending') {
        decide(img, 'keep', ['pending: still being built', ...reasons]); // rule 4
        continue;
      }
      if (kind === 'unknown') {
        decide(img, 'keep', [`status '${img.status ?? 'none'}' in state ${img.state}: left alone`, ...reasons]);
        continue;
      }
      if (kind === 'failed') {
        const ageDays = (input.now.getTime() - img.createdAt.getTime()) / DAY;
        if (reasons.length > 0) decide(img, 'keep', reasons);
        else if (ageDays >= input.failedGraceDays)
          deleteIfCleared(img, [`${img.status ?? img.state} for more than ${input.failedGraceDays}d`]);
        else decide(img, 'keep', [`${img.status ?? img.state}, within the ${input.failedGraceDays}d grace period`]);
        continue;
      }
      const byPolicy = kept.get(img.imageId);
      if (byPolicy) reasons.push(...byPolicy.map((w) => `${w}: ${policyText}`));
      if (reasons.length === 0) {
        deleteIfCleared(img, [`not kept by ${policyText}`]);
        continue;
      }
      const deprecate =
        input.deprecateAfterDays !== undefined &&
        !img.deprecated &&
        img.imageId !== newestGood &&
        input.now.getTime() - img.createdAt.getTime() > input.deprecateAfterDays * DAY;
      decide(img, 'keep', reasons, deprecate);
    }
  }
  return { decisions, lineages };
}

export interface SnapshotInfo {
  snapshotId: string;
  managedBy: string | undefined;
  startTime: Date;
}

/**
 * Managed snapshots that no existing image uses: left behind by a crash between
 * deregistering an image and deleting its snapshots. Young ones are spared, so a
 * snapshot of an image still being created is never taken for an orphan.
 */
export function planSnapshotSweep(
  snapshots: SnapshotInfo[],
  snapshotsOfExistingImages: ReadonlySet<string>,
  input: { managedBy: string; now: Date; graceHours: number },
): string[] {
  const cutoff = input.now.getTime() - input.graceHours * 3_600_000;
  return snapshots
    .filter((s) => s.managedBy === input.managedBy && !snapshotsOfExistingImages.has(s.snapshotId) && s.startTime.getTime() < cutoff)
    .map((s) => s.snapshotId);
}
