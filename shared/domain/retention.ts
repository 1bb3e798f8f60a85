/**
 * The retention planner: which managed images to keep, delete or deprecate, and
 * why. Pure. The safety rules live here, each applied after the policy so that
 * no policy can override them:
 *
 *   1. the newest `good` image of a lineage is never deleted;
 *   2. an image without this stack's managed-by tag is never touched, nor one that carries it but
 *      that EC2 does not record as made by the stack (a person's copy with its tags);
 *   3. an image in use (instance, launch template, DescribeImageReferences) is never deleted, and
 *      once the reference check has run, an image it did not clear is never deleted either (a
 *      check that could not look is no answer: nothing is deleted blind);
 *   4. `pending` images are never deleted; `failed`/`bad` ones only after a grace period;
 *   5. a lineage whose instance is gone keeps its images under its last known policy: the one
 *      stamped on its newest good image that carries one, which is kept for it; a failed or bad
 *      image never carries it, so none is pinned past its grace;
 *   6. per lineage and promotion target, the newest image promoted to it and the
 *      `promoteRollbackDepth` before it (its rollback points) are kept (promotion.ts, promotionKeeps).
 */
import { append } from './collections.js';
import { FAILED_STATES, newestFirst } from './image-status.js';
import { promotionKeeps } from './promotion.js';
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
  /** Why an image with this stack's tags is not the stack's own (image-status.ts, notMadeHere). */
  foreign?: string | undefined;
  /** The targets it was promoted to (its `promoted` tag). */
  promotedTo?: readonly string[] | undefined;
  /** Adopted by `ami-lifecycle adopt` (its adoption record): a lineage of adopted images has no instance by design. */
  adopted?: boolean | undefined;
}

/**
 * Where a lineage's policy comes from. For a destination region's copies (copy-rotation.ts):
 * `copy-retain`, the copies' own tag, or `source`, the policy the home rotation reads for the lineage.
 */
export type PolicySource = 'instance' | 'last-known' | 'default' | 'copy-retain' | 'source';

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
  /** Images kept per promotion target before the one promoted last (rule 6); absent: 1. */
  promoteRollbackDepth?: number | undefined;
  /**
   * Policies the caller has decided, which come before the instance's and the last known ones: a
   * destination region's copies (copy-rotation.ts, copyPolicies). A lineage given here is never stamped.
   */
  lineagePolicies?: ReadonlyMap<string, LineagePolicy> | undefined;
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

/**
 * The last known policy of a lineage whose instance is gone, written onto its newest good
 * image: the image it was read from is not good (a failed or bad bake stamped with the newest
 * policy) and so cannot hold it past its grace.
 */
export interface PolicyStamp {
  imageId: string;
  lineage: string;
  /** The retain tag's value, as the instance had it. */
  retain: string;
  /** The image the policy is read from until the stamp is written. */
  readFrom: string;
}

export interface RotationPlan {
  decisions: ImageDecision[];
  lineages: LineagePolicy[];
  /** Policies to stamp on the lineages' newest good images before anything is deleted. */
  stamps: PolicyStamp[];
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
  return keptByPolicy([...images].sort(newestFirst), retention, now, timeZone);
}

/** `newest 3 of 7`, made once per position and count: a large plan repeats them for every lineage. */
const newestTexts = new Map<number, string[]>();
function newestText(i: number, count: number): string {
  let texts = newestTexts.get(count);
  if (!texts) {
    texts = [];
    newestTexts.set(count, texts);
  }
  let text = texts[i];
  if (text === undefined) {
    text = `newest ${i + 1} of ${count}`;
    texts[i] = text;
  }
  return text;
}

/** applyRetention of images already sorted newest first. */
function keptByPolicy(sorted: readonly RotationImage[], retention: Retention, now: Date, timeZone: string): Map<string, string[]> {
  const kept = new Map<string, string[]>();
  const keep = (id: string, why: string) => append(kept, id, why);
  switch (retention.kind) {
    case 'count':
      for (let i = 0; i < Math.min(retention.count, sorted.length); i++) keep(sorted[i]!.imageId, newestText(i, retention.count));
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

/** The newest policy stamped on one of the lineage's images (at bake, or by rotation), and that image. */
function lastKnown(sorted: readonly RotationImage[]): { retention: Retention; raw: string; image: RotationImage } | undefined {
  for (const img of sorted) {
    if (img.retainTag === undefined) continue;
    const parsed = RetentionSpec.safeParse(img.retainTag);
    if (parsed.success) return { retention: parsed.data, raw: img.retainTag, image: img };
  }
  return undefined;
}

/**
 * Lineage's policy: its instance's tag, else its last known one, else the default. A last known
 * policy is held by a good image, which is kept for it (the carrier): the image it is read from
 * when that one is good, else the newest good image, which is stamped with it when it does not
 * carry it yet. A failed or bad image never holds it, and is deleted once its grace has passed
 * like any other (issue 21: a lineage whose instance vanished after a failed bake pinned the
 * failed image and its snapshots forever); the stamp is written before any deletion, and a
 * deletion of the image it is read from waits for it (rotate-images). With no good image there
 * is nothing to retain, and nothing is carried.
 */
function resolvePolicy(
  lineage: string,
  sorted: readonly RotationImage[],
  input: RotationInput,
): { policy: LineagePolicy; carrier?: string; stamps?: PolicyStamp[] } {
  const given = input.lineagePolicies?.get(lineage);
  if (given) return { policy: given };
  const live = input.instancePolicies.get(lineage);
  if (live) return { policy: { lineage, source: 'instance', retention: live } };
  const known = lastKnown(sorted);
  if (!known) return { policy: { lineage, source: 'default', retention: input.defaultRetention } };
  const policy: LineagePolicy = { lineage, source: 'last-known', retention: known.retention };
  const newestGood = sorted.findIndex((i) => kindOf(i) === 'good');
  if (newestGood < 0) return { policy };
  const carrier = sorted[newestGood]!;
  if (kindOf(known.image) === 'good') return { policy, carrier: known.image.imageId };
  // The newest good image, and every image between it and the one the policy is read from whose
  // valid stamp differs (a pending image, a failed one in use): once the policy's own image is
  // gone, the newest valid stamp left must still be this policy.
  const stamps = sorted
    .slice(0, newestGood + 1)
    .filter((i) => i.retainTag !== known.raw && (i === carrier || RetentionSpec.safeParse(i.retainTag).success))
    .map((i) => ({ imageId: i.imageId, lineage, retain: known.raw, readFrom: known.image.imageId }));
  return { policy, carrier: carrier.imageId, ...(stamps.length > 0 ? { stamps } : {}) };
}

/** Lineage's policy: its instance's tag, else its last known one, else the default. */
export function policyFor(lineage: string, images: RotationImage[], input: RotationInput): LineagePolicy {
  return resolvePolicy(lineage, [...images].sort(newestFirst), input).policy;
}

function kindOf(img: RotationImage): 'pending' | 'good' | 'failed' | 'unknown' {
  // A verifying image is not good yet: kept, as a pending one, and never the lineage's last good image.
  if (img.status === 'pending' || img.status === 'verifying' || img.state === 'pending' || img.state === 'transient') return 'pending';
  if (img.status === 'failed' || img.status === 'bad' || FAILED_STATES.has(img.state)) return 'failed';
  if (img.status === 'good' && img.state === 'available') return 'good';
  return 'unknown';
}

export function planRotation(input: RotationInput): RotationPlan {
  const decisions: ImageDecision[] = [];
  const lineages: LineagePolicy[] = [];
  const stamps: PolicyStamp[] = [];
  const decide = (img: RotationImage, action: 'keep' | 'delete', reasons: string[], deprecate = false, unverified?: UnverifiedReason) => {
    const decision: ImageDecision = {
      imageId: img.imageId,
      name: img.name,
      lineage: img.lineage,
      schedule: img.schedule,
      action,
      reasons,
      deprecate,
      snapshotIds: img.snapshotIds,
    };
    if (unverified) decision.unverified = unverified;
    decisions.push(decision);
  };
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

  const reasonTexts: ReasonTexts = new Map();
  const byLineage = new Map<string, RotationImage[]>();
  for (const img of input.images) {
    // Rule 2: not ours, not touched. An image of ours without a lineage cannot be placed in a series.
    if (img.managedBy !== input.managedBy) {
      decide(img, 'keep', ['not managed by this stack']);
      continue;
    }
    // Rule 2, by provenance: this stack's tags on an image it did not make (a person's copy).
    if (img.foreign) {
      decide(img, 'keep', [`carries this stack's tags but was not made by it: ${img.foreign}`]);
      continue;
    }
    if (!img.lineage) {
      decide(img, 'keep', ['no lineage tag: not part of any series']);
      continue;
    }
    append(byLineage, img.lineage, img);
  }

  // Each lineage's images are sorted once, newest first, and every step below reads them in that order.
  for (const [lineage, sorted] of [...byLineage].sort(([a], [b]) => (a < b ? -1 : 1))) {
    sorted.sort(newestFirst);
    // Rule 5: a lineage without a live instance keeps its last known policy.
    const { policy, carrier, stamps: lineageStamps = [] } = resolvePolicy(lineage, sorted, input);
    lineages.push(policy);
    stamps.push(...lineageStamps);
    const stamp = lineageStamps.find((s) => s.imageId === carrier);
    const good = sorted.filter((i) => kindOf(i) === 'good');
    // Rule 6: what the lineage's promotion targets received last, and their rollback points.
    // (Most lineages promote nothing: no list is built for them.)
    const promoted = sorted.some((i) => i.promotedTo?.length)
      ? promotionKeeps(
          sorted.map((i) => ({ imageId: i.imageId, createdAt: i.createdAt, lineage, promotedTo: i.promotedTo ?? [] })),
          input.promoteRollbackDepth ?? 1,
        )
      : NOTHING_PROMOTED;
    const newestGood = good[0]?.imageId;

    // Per schedule: a lineage on one schedule (most) is one group.
    const schedule = good[0]?.schedule;
    const groups = good.every((i) => i.schedule === schedule) ? [good] : groupBySchedule(good);
    const kept = new Map<string, string[]>();
    for (const group of groups) {
      for (const [id, why] of keptByPolicy(group, policy.retention, input.now, input.timeZone)) kept.set(id, why);
    }

    const because = reasonsFor(policy, reasonTexts);
    for (const img of sorted) {
      const reasons: string[] = [];
      const uses = input.inUse.get(img.imageId);
      // Rule 3 and rule 1, whatever the policy says.
      if (uses && uses.length > 0) reasons.push(`in use by ${uses.join(', ')}`);
      reasons.push(...(promoted.get(img.imageId) ?? []));
      if (img.imageId === newestGood) reasons.push('newest good image of the lineage');
      // Rule 5 over time: deleting the good image the last known policy is read from (the newest
      // good one lacking a stamp, an older one carrying it) would hand the lineage to an older
      // policy, or the default, on the next run.
      if (img.imageId === carrier) {
        reasons.push(
          stamp
            ? `to carry the lineage's last known retain policy (${stamp.retain}, from ${stamp.readFrom})`
            : "carries the lineage's last known retain policy",
        );
      }

      const kind = kindOf(img);
      if (kind === 'pending') {
        decide(img, 'keep', [
          img.status === 'verifying' ? 'verifying: not good until a test instance booted from it' : 'pending: still being built',
          ...reasons,
        ]); // rule 4
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
      if (byPolicy) for (const w of byPolicy) reasons.push(keptBy(because, w));
      if (reasons.length === 0) {
        deleteIfCleared(img, [because.notKept]);
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
  return { decisions, lineages, stamps };
}

function groupBySchedule(images: readonly RotationImage[]): RotationImage[][] {
  const bySchedule = new Map<string, RotationImage[]>();
  for (const img of images) append(bySchedule, img.schedule ?? '', img);
  return [...bySchedule.values()];
}

/**
 * The reasons a policy gives, made once per policy text in a plan: a million images on a
 * handful of policies share a handful of texts rather than a string each.
 */
interface PolicyTexts {
  text: string;
  notKept: string;
  keptBy: Map<string, string>;
}
type ReasonTexts = Map<string, PolicyTexts>;

function reasonsFor(policy: LineagePolicy, texts: ReasonTexts): PolicyTexts {
  const text = `${describeRetention(policy.retention)} (${policy.source} policy)`;
  let found = texts.get(text);
  if (!found) {
    found = { text, notKept: `not kept by ${text}`, keptBy: new Map() };
    texts.set(text, found);
  }
  return found;
}

function keptBy(texts: PolicyTexts, why: string): string {
  let reason = texts.keptBy.get(why);
  if (reason === undefined) {
    reason = `${why}: ${texts.text}`;
    texts.keptBy.set(why, reason);
  }
  return reason;
}

const NOTHING_PROMOTED: ReadonlyMap<string, string[]> = new Map();

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
