/**
 * The rotation planner as it stood before issue 18 made it fast: straightforward (a Map of
 * image arrays per lineage, a Map of reasons per policy, every list filtered and spread anew),
 * kept verbatim as the oracle the optimised planRotation must equal on random accounts
 * (retention.test.ts, "planRotation equals the straightforward planner").
 */
import * as v from 'valibot';
import { append } from '../../../shared/domain/collections.js';
import { FAILED_STATES, newestFirst } from '../../../shared/domain/image-status.js';
import { promotionKeeps } from '../../../shared/domain/promotion.js';
import {
  describeRetention,
  type ImageDecision,
  type LineagePolicy,
  type PolicyStamp,
  type RotationImage,
  type RotationInput,
  type RotationPlan,
  type UnverifiedReason,
} from '../../../shared/domain/retention.js';
import { slotFor } from '../../../shared/domain/schedule.js';
import { RetentionSpec, RETENTION_TIERS, type Retention, type RetentionTier } from '../../../shared/domain/tags.js';

const DAY = 86_400_000;

const TIER_PERIOD: Record<RetentionTier, (d: Date, tz: string) => string> = {
  hourly: (d, tz) => slotFor(d, 'hour', tz),
  daily: (d, tz) => slotFor(d, 'day', tz),
  weekly: (d, tz) => slotFor(d, 'week', tz),
  monthly: (d, tz) => slotFor(d, 'month', tz),
  yearly: (d, tz) => slotFor(d, 'month', tz).slice(0, 4),
};

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
    const parsed = v.safeParse(RetentionSpec, img.retainTag);
    if (parsed.success) return { retention: parsed.output, raw: img.retainTag, image: img };
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
    .filter((i) => i.retainTag !== known.raw && (i === carrier || v.safeParse(RetentionSpec, i.retainTag).success))
    .map((i) => ({ imageId: i.imageId, lineage, retain: known.raw, readFrom: known.image.imageId }));
  return { policy, carrier: carrier.imageId, ...(stamps.length > 0 ? { stamps } : {}) };
}

function kindOf(img: RotationImage): 'pending' | 'good' | 'failed' | 'unknown' {
  // A verifying image is not good yet: kept, as a pending one, and never the lineage's last good image.
  if (img.status === 'pending' || img.status === 'verifying' || img.state === 'pending' || img.state === 'transient') return 'pending';
  if (img.status === 'failed' || img.status === 'bad' || FAILED_STATES.has(img.state)) return 'failed';
  if (img.status === 'good' && img.state === 'available') return 'good';
  return 'unknown';
}

export function referencePlan(input: RotationInput): RotationPlan {
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
