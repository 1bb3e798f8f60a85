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
import * as v from 'valibot';
import { append } from './collections.js';
import { FAILED_STATES, newestFirst } from './image-status.js';
import { promotionKeeps } from './promotion.js';
import { isoWeek, localTime, slotOf, type LocalParts } from './schedule.js';
import { RetentionSpec, RETENTION_TIERS, type ImageStatus, type Retention } from './tags.js';

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

/** An image's kind for rotation, as a small number: one byte a place in a lineage's scratch list. */
const PENDING = 0;
const GOOD = 1;
const FAILED = 2;
const UNKNOWN = 3;

function kindOf(img: RotationImage): number {
  // A verifying image is not good yet: kept, as a pending one, and never the lineage's last good image.
  if (img.status === 'pending' || img.status === 'verifying' || img.state === 'pending' || img.state === 'transient') return PENDING;
  if (img.status === 'failed' || img.status === 'bad' || FAILED_STATES.has(img.state)) return FAILED;
  if (img.status === 'good' && img.state === 'available') return GOOD;
  return UNKNOWN;
}

/** A tier's period of a local time, as a number (or, for a year outside 1000-9999, its slot text): compared, never printed. */
type PeriodKey = number | string;

/**
 * The local times of one group's images, each read once however many tiers walk it (a tier
 * policy walks most images three times or more), with the period texts of the images kept.
 */
class LocalTimes {
  private gen = 0;
  private seen = new Uint32Array(0);
  private parts: LocalParts[] = [];
  /** Per tier: period key -> `daily 2026-11-25`, made once per plan. */
  private readonly whys = RETENTION_TIERS.map(() => new Map<PeriodKey, string>());
  /** Day key -> ISO week key. */
  private readonly weeks = new Map<number, number>();

  constructor(private readonly timeZone: string) {}

  /** A new group of `size` images: what was read for the last one is forgotten. */
  reset(size: number): void {
    if (size > this.seen.length) this.seen = new Uint32Array(Math.max(size, 2 * this.seen.length));
    this.gen++;
  }

  private at(k: number, instant: Date): LocalParts {
    if (this.seen[k] !== this.gen) {
      this.parts[k] = localTime(instant, this.timeZone);
      this.seen[k] = this.gen;
    }
    return this.parts[k]!;
  }

  /** The tier's period of the group's `k`th image: equal keys, equal slots (slotOf). */
  key(tier: number, k: number, instant: Date): PeriodKey {
    const p = this.at(k, instant);
    switch (RETENTION_TIERS[tier]) {
      case 'hourly':
        return ((p.year * 13 + p.month) * 32 + p.day) * 24 + p.hour;
      case 'daily':
        return (p.year * 13 + p.month) * 32 + p.day;
      case 'weekly': {
        // Many images share a day: its ISO week is worked out once.
        const day = (p.year * 13 + p.month) * 32 + p.day;
        let week = this.weeks.get(day);
        if (week === undefined) {
          const w = isoWeek(p.year, p.month, p.day);
          week = w.year * 54 + w.week;
          this.weeks.set(day, week);
        }
        return week;
      }
      case 'monthly':
        return p.year * 13 + p.month;
      default:
        return p.year >= 1000 && p.year <= 9999 ? p.year : this.period(tier, p);
    }
  }

  /** `daily 2026-11-25`: the tier and its period, the reason the tier keeps the group's `k`th image. */
  why(tier: number, k: number, instant: Date, key: PeriodKey): string {
    const known = this.whys[tier]!;
    let why = known.get(key);
    if (why === undefined) {
      why = `${RETENTION_TIERS[tier]} ${this.period(tier, this.at(k, instant))}`;
      known.set(key, why);
    }
    return why;
  }

  private period(tier: number, p: LocalParts): string {
    switch (RETENTION_TIERS[tier]) {
      case 'hourly':
        return slotOf(p, 'hour');
      case 'daily':
        return slotOf(p, 'day');
      case 'weekly':
        return slotOf(p, 'week');
      case 'monthly':
        return slotOf(p, 'month');
      default:
        return slotOf(p, 'month').slice(0, 4);
    }
  }
}

/**
 * The images a policy keeps among `good` images of one schedule, newest first,
 * with the reason each is kept. Tiers follow restic's `forget --keep-*`: for each
 * tier, walking from the newest image, the newest image of each of the last N
 * periods that have one is kept; an image may be kept by several tiers.
 */
export function applyRetention(images: RotationImage[], retention: Retention, now: Date, timeZone: string): Map<string, string[]> {
  const sorted = [...images].sort(newestFirst);
  const kept = new Map<string, string[]>();
  const at = sorted.map((_, k) => k);
  keepByPolicy(sorted, at, at.length, retention, now.getTime(), new LocalTimes(timeZone), (k, why) =>
    append(kept, sorted[k]!.imageId, why),
  );
  return kept;
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

/**
 * What a policy keeps of one schedule's good images: `at[0..n)` are their places in `sorted`
 * (newest first), and `keep(place, why)` is called for each image kept, tier by tier.
 */
function keepByPolicy(
  sorted: readonly RotationImage[],
  at: ArrayLike<number>,
  n: number,
  retention: Retention,
  nowMs: number,
  local: LocalTimes,
  keep: (place: number, why: string) => void,
): void {
  switch (retention.kind) {
    case 'count':
      for (let i = 0; i < Math.min(retention.count, n); i++) keep(at[i]!, newestText(i, retention.count));
      break;
    case 'age': {
      const cutoff = nowMs - retention.days * DAY;
      const why = `younger than ${retention.days}d`;
      for (let i = 0; i < n; i++) if (sorted[at[i]!]!.createdAt.getTime() >= cutoff) keep(at[i]!, why);
      break;
    }
    case 'tiers':
      local.reset(n);
      for (let t = 0; t < RETENTION_TIERS.length; t++) {
        const most = retention.tiers[RETENTION_TIERS[t]!] ?? 0;
        let last: PeriodKey | undefined;
        let count = 0;
        for (let i = 0; i < n && count < most; i++) {
          const instant = sorted[at[i]!]!.createdAt;
          const key = local.key(t, i, instant);
          if (key === last) continue;
          last = key;
          count++;
          keep(at[i]!, local.why(t, i, instant, key));
        }
      }
      break;
  }
}

/** Retain tags read once per plan: a million images repeat a handful of tags. null: unreadable. */
type TagReadings = Map<string, Retention | null>;

function readTag(tag: string | undefined, readings: TagReadings): Retention | undefined {
  if (tag === undefined) return undefined;
  let read = readings.get(tag);
  if (read === undefined) {
    const parsed = v.safeParse(RetentionSpec, tag);
    read = parsed.success ? parsed.output : null;
    readings.set(tag, read);
  }
  return read ?? undefined;
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
 *
 * `sorted` is newest first, `kinds` its images' kinds (kindOf) place by place.
 */
function resolvePolicy(
  lineage: string,
  sorted: readonly RotationImage[],
  kinds: ArrayLike<number>,
  input: RotationInput,
  readings: TagReadings,
): { policy: LineagePolicy; carrier?: string; stamps?: PolicyStamp[] } {
  const given = input.lineagePolicies?.get(lineage);
  if (given) return { policy: given };
  const live = input.instancePolicies.get(lineage);
  if (live) return { policy: { lineage, source: 'instance', retention: live } };
  // The newest policy stamped on one of the lineage's images (at bake, or by rotation).
  let from = -1;
  let known: Retention | undefined;
  for (let i = 0; i < sorted.length && !known; i++) {
    known = readTag(sorted[i]!.retainTag, readings);
    from = i;
  }
  if (!known) return { policy: { lineage, source: 'default', retention: input.defaultRetention } };
  const policy: LineagePolicy = { lineage, source: 'last-known', retention: known };
  let newestGood = 0;
  while (newestGood < sorted.length && kinds[newestGood] !== GOOD) newestGood++;
  if (newestGood === sorted.length) return { policy };
  const carrier = sorted[newestGood]!;
  const image = sorted[from]!;
  if (kinds[from] === GOOD) return { policy, carrier: image.imageId };
  // The newest good image, and every image between it and the one the policy is read from whose
  // valid stamp differs (a pending image, a failed one in use): once the policy's own image is
  // gone, the newest valid stamp left must still be this policy.
  const raw = image.retainTag!;
  const stamps: PolicyStamp[] = [];
  for (let i = 0; i <= newestGood; i++) {
    const img = sorted[i]!;
    if (img.retainTag !== raw && (img === carrier || readTag(img.retainTag, readings)))
      stamps.push({ imageId: img.imageId, lineage, retain: raw, readFrom: image.imageId });
  }
  return { policy, carrier: carrier.imageId, ...(stamps.length > 0 ? { stamps } : {}) };
}

/** Lineage's policy: its instance's tag, else its last known one, else the default. */
export function policyFor(lineage: string, images: RotationImage[], input: RotationInput): LineagePolicy {
  const sorted = [...images].sort(newestFirst);
  return resolvePolicy(lineage, sorted, sorted.map(kindOf), input, new Map()).policy;
}

/**
 * The plan. Its cost is a few passes over the images with nothing made per image but its
 * decision (issue 18: a million images in 2 s): lineages are gathered in one pass, each
 * lineage's images sorted once and read in that order through scratch lists sized to the
 * largest lineage; retain tags are read, and reason texts made, once per plan. A decision's
 * reasons are a list exactly as long as needed, its own, or, when the policy's one reason is all
 * there is to say (an image it does not keep, or keeps and nothing else does), one frozen list
 * the plan's decisions share.
 */
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

  const byLineage = new Map<string, RotationImage[]>();
  // Images of one lineage mostly come together: the last lineage's list is at hand without a lookup.
  let lastLineage: string | undefined;
  let lastList: RotationImage[] = [];
  let largest = 0;
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
    if (img.lineage !== lastLineage) {
      lastLineage = img.lineage;
      const list = byLineage.get(lastLineage);
      if (list) lastList = list;
      else {
        lastList = [];
        byLineage.set(lastLineage, lastList);
      }
    }
    lastList.push(img);
    if (lastList.length > largest) largest = lastList.length;
  }

  // Scratch lists, place by place in a lineage newest first, sized once to the largest lineage.
  const kinds = new Uint8Array(largest);
  const times = new Float64Array(largest);
  const goodAt = new Int32Array(largest);
  /** The policy's reasons for keeping the image at a place: the first, and any more (tiers overlap). */
  const keptWhy: (string | undefined)[] = new Array<string | undefined>(largest).fill(undefined);
  const keptMore: (string[] | undefined)[] = new Array<string[] | undefined>(largest).fill(undefined);
  const keep = (place: number, why: string) => {
    if (keptWhy[place] === undefined) keptWhy[place] = why;
    else {
      const more = keptMore[place];
      if (more) more.push(why);
      else keptMore[place] = [why];
    }
  };
  /** An image's reasons gathered, then copied to an array of their own, exactly as long. */
  const why: string[] = [];
  const reasons = (k: number): string[] => (k === 1 ? [why[0]!] : k === 2 ? [why[0]!, why[1]!] : why.slice(0, k));
  const local = new LocalTimes(input.timeZone);
  const readings: TagReadings = new Map();
  const texts = new ReasonTexts();
  const nowMs = input.now.getTime();
  const { failedGraceDays, deprecateAfterDays, inUse } = input;

  // Each lineage's images are sorted once, newest first, and every step below reads them in that order.
  for (const lineage of [...byLineage.keys()].sort()) {
    const sorted = sortNewestFirst(byLineage.get(lineage)!, times);
    const n = sorted.length;
    let good = 0;
    let promotes = false;
    for (let i = 0; i < n; i++) {
      const img = sorted[i]!;
      const kind = kindOf(img);
      kinds[i] = kind;
      if (kind === GOOD) goodAt[good++] = i;
      if (img.promotedTo?.length) promotes = true;
      keptWhy[i] = undefined;
      keptMore[i] = undefined;
    }
    // Rule 5: a lineage without a live instance keeps its last known policy.
    const { policy, carrier, stamps: lineageStamps } = resolvePolicy(lineage, sorted, kinds, input, readings);
    lineages.push(policy);
    let stamp: PolicyStamp | undefined;
    if (lineageStamps) {
      for (const s of lineageStamps) stamps.push(s);
      stamp = lineageStamps.find((s) => s.imageId === carrier);
    }
    // Rule 6: what the lineage's promotion targets received last, and their rollback points.
    // (Most lineages promote nothing: no list is built for them.)
    const promoted = promotes
      ? promotionKeeps(
          sorted.map((i) => ({ imageId: i.imageId, createdAt: i.createdAt, lineage, promotedTo: i.promotedTo ?? [] })),
          input.promoteRollbackDepth ?? 1,
        )
      : undefined;
    const newestGood = good > 0 ? sorted[goodAt[0]!]!.imageId : undefined;
    const newestGoodAt = good > 0 ? sorted[goodAt[0]!]!.createdAt.getTime() : undefined;
    let carrierAt: number | undefined;
    if (carrier !== undefined)
      for (let i = 0; i < n && carrierAt === undefined; i++) if (sorted[i]!.imageId === carrier) carrierAt = sorted[i]!.createdAt.getTime();

    // Per schedule: a lineage on one schedule (most) is one group.
    const schedule = good > 0 ? sorted[goodAt[0]!]!.schedule : undefined;
    let oneSchedule = true;
    for (let g = 1; g < good && oneSchedule; g++) oneSchedule = sorted[goodAt[g]!]!.schedule === schedule;
    if (oneSchedule) keepByPolicy(sorted, goodAt, good, policy.retention, nowMs, local, keep);
    else {
      const bySchedule = new Map<string, number[]>();
      for (let g = 0; g < good; g++) append(bySchedule, sorted[goodAt[g]!]!.schedule ?? '', goodAt[g]!);
      for (const at of bySchedule.values()) keepByPolicy(sorted, at, at.length, policy.retention, nowMs, local, keep);
    }

    const because = texts.of(policy);
    for (let i = 0; i < n; i++) {
      const img = sorted[i]!;
      const kind = kinds[i]!;
      let k = 0;
      if (kind === PENDING) {
        // rule 4
        why[k++] = img.status === 'verifying' ? 'verifying: not good until a test instance booted from it' : 'pending: still being built';
      } else if (kind === UNKNOWN) why[k++] = `status '${img.status ?? 'none'}' in state ${img.state}: left alone`;
      const uses = inUse.get(img.imageId);
      // Rule 3 and rule 1, whatever the policy says.
      if (uses && uses.length > 0) why[k++] = `in use by ${uses.join(', ')}`;
      const targets = promoted?.get(img.imageId);
      if (targets) for (const w of targets) why[k++] = w;
      // (An image id is compared only with an image of the same time: ids are long, times few.)
      const createdAt = img.createdAt.getTime();
      const isNewestGood = sameTime(createdAt, newestGoodAt) && img.imageId === newestGood;
      if (isNewestGood) why[k++] = 'newest good image of the lineage';
      // Rule 5 over time: deleting the good image the last known policy is read from (the newest
      // good one lacking a stamp, an older one carrying it) would hand the lineage to an older
      // policy, or the default, on the next run.
      if (sameTime(createdAt, carrierAt) && img.imageId === carrier) {
        why[k++] = stamp
          ? `to carry the lineage's last known retain policy (${stamp.retain}, from ${stamp.readFrom})`
          : "carries the lineage's last known retain policy";
      }

      if (kind === PENDING || kind === UNKNOWN) {
        decide(img, 'keep', reasons(k));
        continue;
      }
      if (kind === FAILED) {
        const ageDays = (nowMs - createdAt) / DAY;
        if (k > 0) decide(img, 'keep', reasons(k));
        else if (ageDays >= failedGraceDays) deleteIfCleared(img, [texts.failed(img.status ?? img.state, failedGraceDays)]);
        else decide(img, 'keep', [texts.inGrace(img.status ?? img.state, failedGraceDays)]);
        continue;
      }
      const first = keptWhy[i];
      const more = keptMore[i];
      if (k === 0 && first === undefined) {
        deleteIfCleared(img, because.notKeptAlone);
        continue;
      }
      const deprecate =
        deprecateAfterDays !== undefined && !img.deprecated && !isNewestGood && nowMs - createdAt > deprecateAfterDays * DAY;
      // Kept by the policy alone (most kept images): its one reason is a list the plan shares.
      if (k === 0 && !more) {
        decide(img, 'keep', because.keptAlone(first!), deprecate);
        continue;
      }
      if (first !== undefined) {
        why[k++] = because.keptBy(first);
        if (more) for (const w of more) why[k++] = because.keptBy(w);
      }
      decide(img, 'keep', reasons(k), deprecate);
    }
  }
  return { decisions, lineages, stamps };
}

/**
 * `list` sorted by newestFirst, in place, exactly as list.sort(newestFirst) sorts it (a stable
 * sort): a short list already in order, or in reverse order, takes one look at each pair; another
 * is sorted by insertion, reading each creation time once (into `times`), not twice per comparison.
 */
function sortNewestFirst(list: RotationImage[], times: Float64Array): RotationImage[] {
  const n = list.length;
  if (n > 32) return list.sort(newestFirst);
  for (let i = 0; i < n; i++) {
    const t = list[i]!.createdAt.getTime();
    if (Number.isNaN(t)) return list.sort(newestFirst); // no order to reason about: the library's own
    times[i] = t;
  }
  const order = (a: number, b: number) =>
    times[b]! - times[a]! || (list[a]!.imageId < list[b]!.imageId ? -1 : list[a]!.imageId > list[b]!.imageId ? 1 : 0);
  let before = 0;
  let after = 0;
  for (let i = 1; i < n; i++) {
    const c = order(i - 1, i);
    if (c < 0) before++;
    else if (c > 0) after++;
  }
  if (before === n - 1 || n < 2) return list;
  // Strictly in reverse: no two equal, so reversing gives the one stable order.
  if (after === n - 1) return list.reverse();
  for (let i = 1; i < n; i++) {
    const img = list[i]!;
    const t = times[i]!;
    let j = i - 1;
    while (j >= 0 && (times[j]! < t || (times[j] === t && list[j]!.imageId > img.imageId))) {
      list[j + 1] = list[j]!;
      times[j + 1] = times[j]!;
      j--;
    }
    list[j + 1] = img;
    times[j + 1] = t;
  }
  return list;
}

/** Equal times, an invalid one (NaN) equal to itself. */
function sameTime(a: number, b: number | undefined): boolean {
  return a === b || (Number.isNaN(a) && b !== undefined && Number.isNaN(b));
}

/**
 * The reasons a policy gives, made once per policy text in a plan: a million images on a
 * handful of policies share a handful of texts rather than a string each.
 */
class PolicyTexts {
  /**
   * `[not kept by …]`: one list for every image the policy does not keep. Lists shared between
   * decisions are frozen, so that a caller changing one decision's reasons fails rather than
   * changing them all.
   */
  readonly notKeptAlone: string[];
  private readonly kept = new Map<string, string>();
  private readonly alone = new Map<string, string[]>();

  constructor(private readonly text: string) {
    this.notKeptAlone = Object.freeze([`not kept by ${text}`]) as string[];
  }

  /** `[newest 3 of 7: keep 7 (default policy)]`, shared (frozen) by every image kept for that reason alone. */
  keptAlone(why: string): string[] {
    let list = this.alone.get(why);
    if (list === undefined) {
      list = Object.freeze([this.keptBy(why)]) as string[];
      this.alone.set(why, list);
    }
    return list;
  }

  keptBy(why: string): string {
    let reason = this.kept.get(why);
    if (reason === undefined) {
      reason = `${why}: ${this.text}`;
      this.kept.set(why, reason);
    }
    return reason;
  }
}

/** Every policy's texts in a plan, found by its retention object first (lineages on one policy share it), then by its text. */
class ReasonTexts {
  private readonly byText = new Map<string, PolicyTexts>();
  private readonly byRetention = new Map<PolicySource, Map<Retention, PolicyTexts>>();
  private readonly failing = new Map<string, string>();

  of(policy: LineagePolicy): PolicyTexts {
    let bySource = this.byRetention.get(policy.source);
    if (!bySource) {
      bySource = new Map();
      this.byRetention.set(policy.source, bySource);
    }
    let found = bySource.get(policy.retention);
    if (!found) {
      const text = `${describeRetention(policy.retention)} (${policy.source} policy)`;
      found = this.byText.get(text);
      if (!found) {
        found = new PolicyTexts(text);
        this.byText.set(text, found);
      }
      bySource.set(policy.retention, found);
    }
    return found;
  }

  /** `failed for more than 3d`. */
  failed(what: string, graceDays: number): string {
    return this.once(`past\u0000${what}`, () => `${what} for more than ${graceDays}d`);
  }

  /** `failed, within the 3d grace period`. */
  inGrace(what: string, graceDays: number): string {
    return this.once(`grace\u0000${what}`, () => `${what}, within the ${graceDays}d grace period`);
  }

  private once(key: string, make: () => string): string {
    let text = this.failing.get(key);
    if (text === undefined) {
      text = make();
      this.failing.set(key, text);
    }
    return text;
  }
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
