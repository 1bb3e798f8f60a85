import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  applyRetention,
  clearedBy,
  describeRetention,
  planRotation,
  planSnapshotSweep,
  policyFor,
  type LineagePolicy,
  type ReferenceCheck,
  type RotationImage,
  type RotationInput,
  type RotationPlan,
  type SnapshotInfo,
} from '../../../shared/domain/retention.js';
import { RetentionSpec, RETENTION_TIERS, type ImageStatus, type Retention, type RetentionTier } from '../../../shared/domain/tags.js';
import { referencePlan } from './retention-reference.js';

const STACK = 'ami-lifecycle-test';
const NOW = new Date('2026-11-26T12:00:00.000Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const hex = (n: number) => n.toString(16).padStart(17, '0');
let nextId = 1;
const freshId = () => `ami-${hex(nextId++)}`;

const at = (iso: string) => new Date(iso);
const daysAgo = (d: number, now = NOW) => new Date(now.getTime() - d * DAY);

/** A managed, good, available nightly image of lineage web, unless told otherwise. */
function image(overrides: Partial<RotationImage> & { createdAt: Date }): RotationImage {
  const imageId = overrides.imageId ?? freshId();
  return {
    imageId,
    name: `${STACK}/web/nightly/${imageId}`,
    managedBy: STACK,
    lineage: 'web',
    schedule: 'nightly',
    status: 'good',
    state: 'available',
    retainTag: undefined,
    snapshotIds: [`snap-${imageId.slice(4)}`],
    deprecated: false,
    ...overrides,
  };
}

/** One good nightly image a day for `n` days, the newest `firstAgo` days old (01:00 UTC each night). */
function nightly(n: number, overrides: Partial<RotationImage> = {}, firstAgo = 0): RotationImage[] {
  const base = at('2026-11-26T01:00:00.000Z').getTime();
  return Array.from({ length: n }, (_, i) => image({ createdAt: new Date(base - (firstAgo + i) * DAY), ...overrides }));
}

const count = (n: number): Retention => ({ kind: 'count', count: n });
const age = (days: number): Retention => ({ kind: 'age', days });
const tiers = (t: Partial<Record<RetentionTier, number>>): Retention => ({ kind: 'tiers', tiers: t });

function input(overrides: Partial<RotationInput> = {}): RotationInput {
  return {
    managedBy: STACK,
    now: NOW,
    timeZone: 'UTC',
    images: [],
    instancePolicies: new Map(),
    defaultRetention: count(7),
    inUse: new Map(),
    failedGraceDays: 2,
    ...overrides,
  };
}

const decisionOf = (plan: RotationPlan, imageId: string) => {
  const d = plan.decisions.find((x) => x.imageId === imageId);
  if (!d) throw new Error(`no decision for ${imageId}`);
  return d;
};
const deletedIds = (plan: RotationPlan) => plan.decisions.filter((d) => d.action === 'delete').map((d) => d.imageId);
const keptIds = (plan: RotationPlan) => plan.decisions.filter((d) => d.action === 'keep').map((d) => d.imageId);
const ids = (images: RotationImage[]) => images.map((i) => i.imageId);
const sortIds = (xs: string[]) => [...xs].sort();

/** Deterministic shuffle, so that tests never depend on the order images are listed in. */
function shuffled<T>(xs: readonly T[], seed = 7): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
describe('describeRetention', () => {
  it.each<[Retention, string]>([
    [count(7), 'keep 7'],
    [age(14), 'keep 14d'],
    [tiers({ weekly: 4, daily: 7, monthly: 12 }), 'daily=7,weekly=4,monthly=12'],
    [tiers({ yearly: 1, hourly: 24 }), 'hourly=24,yearly=1'],
  ])('describes %j as %s', (retention, expected) => {
    // Act
    const text = describeRetention(retention);

    // Assess
    expect(text).toBe(expected);
  });
});

// ---------------------------------------------------------------------------------------------
describe('applyRetention: count', () => {
  it('keeps the newest N whatever order the images come in, and says which of N each one is', () => {
    // Prepare
    const images = nightly(7);

    // Act
    const kept = applyRetention(shuffled(images), count(3), NOW, 'UTC');

    // Assess
    expect([...kept.keys()]).toEqual(ids(images.slice(0, 3)));
    expect([...kept.values()]).toEqual([['newest 1 of 3'], ['newest 2 of 3'], ['newest 3 of 3']]);
  });

  it('keeps everything when there are fewer images than the count', () => {
    // Prepare
    const images = nightly(2);

    // Act
    const kept = applyRetention(images, count(7), NOW, 'UTC');

    // Assess
    expect(sortIds([...kept.keys()])).toEqual(sortIds(ids(images)));
  });

  it('breaks a tie in creation time by image id, so the answer does not depend on input order', () => {
    // Prepare
    const same = at('2026-11-26T01:00:00Z');
    const a = image({ imageId: 'ami-0000000000000000a', createdAt: same });
    const b = image({ imageId: 'ami-0000000000000000b', createdAt: same });

    // Act
    const kept1 = applyRetention([a, b], count(1), NOW, 'UTC');
    const kept2 = applyRetention([b, a], count(1), NOW, 'UTC');

    // Assess
    expect([...kept1.keys()]).toEqual(['ami-0000000000000000a']);
    expect([...kept2.keys()]).toEqual(['ami-0000000000000000a']);
  });

  it('does not reorder the array it is given', () => {
    // Prepare
    const images = shuffled(nightly(5));
    const before = ids(images);

    // Act
    applyRetention(images, count(2), NOW, 'UTC');

    // Assess
    expect(ids(images)).toEqual(before);
  });

  it('keeps nothing of nothing', () => {
    // Act
    const kept = applyRetention([], count(3), NOW, 'UTC');

    // Assess
    expect(kept.size).toBe(0);
  });
});

describe('applyRetention: age', () => {
  it('keeps images up to exactly N days old and drops older ones', () => {
    // Prepare
    const younger = image({ createdAt: new Date(NOW.getTime() - 14 * DAY + 1) });
    const exactly = image({ createdAt: daysAgo(14) });
    const older = image({ createdAt: new Date(NOW.getTime() - 14 * DAY - 1) });

    // Act
    const kept = applyRetention([older, exactly, younger], age(14), NOW, 'UTC');

    // Assess
    expect(sortIds([...kept.keys()])).toEqual(sortIds([younger.imageId, exactly.imageId]));
    expect(kept.get(younger.imageId)).toEqual(['younger than 14d']);
  });

  it('keeps an image from the future (clock skew): its age is negative, not huge', () => {
    // Prepare
    const future = image({ createdAt: new Date(NOW.getTime() + 3 * DAY) });

    // Act
    const kept = applyRetention([future], age(1), NOW, 'UTC');

    // Assess
    expect([...kept.keys()]).toEqual([future.imageId]);
  });
});

describe('applyRetention: tiers (restic forget --keep-* semantics)', () => {
  it('keeps the newest image of each of the last N days that have one, skipping days without images', () => {
    // Prepare: two images on the 26th, one on the 25th, none on the 24th, one on the 23rd and the 22nd
    const d26late = image({ createdAt: at('2026-11-26T10:00:00Z') });
    const d26early = image({ createdAt: at('2026-11-26T01:00:00Z') });
    const d25 = image({ createdAt: at('2026-11-25T01:00:00Z') });
    const d23 = image({ createdAt: at('2026-11-23T01:00:00Z') });
    const d22 = image({ createdAt: at('2026-11-22T01:00:00Z') });

    // Act
    const kept = applyRetention(shuffled([d26late, d26early, d25, d23, d22]), tiers({ daily: 3 }), NOW, 'UTC');

    // Assess: the gap on the 24th does not use up a day
    expect([...kept]).toEqual([
      [d26late.imageId, ['daily 2026-11-26']],
      [d25.imageId, ['daily 2026-11-25']],
      [d23.imageId, ['daily 2026-11-23']],
    ]);
  });

  it('keeps only the newer of two images in the same period', () => {
    // Prepare
    const newer = image({ createdAt: at('2026-11-25T23:59:59.999Z') });
    const older = image({ createdAt: at('2026-11-25T00:00:00.000Z') });

    // Act
    const kept = applyRetention([older, newer], tiers({ daily: 7 }), NOW, 'UTC');

    // Assess
    expect([...kept.keys()]).toEqual([newer.imageId]);
  });

  it('keeps the newest image of each ISO week for weekly', () => {
    // Prepare: Mon 23rd and Thu 26th are week 48; Sun 22nd and Wed 18th are week 47; Sun 15th is week 46
    const w48a = image({ createdAt: at('2026-11-26T01:00:00Z') });
    const w48b = image({ createdAt: at('2026-11-23T01:00:00Z') });
    const w47a = image({ createdAt: at('2026-11-22T23:00:00Z') });
    const w47b = image({ createdAt: at('2026-11-18T01:00:00Z') });
    const w46 = image({ createdAt: at('2026-11-15T01:00:00Z') });

    // Act
    const kept = applyRetention([w46, w47b, w47a, w48b, w48a], tiers({ weekly: 2 }), NOW, 'UTC');

    // Assess
    expect([...kept]).toEqual([
      [w48a.imageId, ['weekly 2026-W48']],
      [w47a.imageId, ['weekly 2026-W47']],
    ]);
  });

  it('keeps the newest image of each month and of each year', () => {
    // Prepare
    const nov = image({ createdAt: at('2026-11-20T01:00:00Z') });
    const oct2 = image({ createdAt: at('2026-10-31T23:00:00Z') });
    const oct1 = image({ createdAt: at('2026-10-01T01:00:00Z') });
    const aug = image({ createdAt: at('2026-08-01T01:00:00Z') });
    const y2025 = image({ createdAt: at('2025-12-31T23:00:00Z') });
    const y2024 = image({ createdAt: at('2024-06-01T01:00:00Z') });
    const all = [nov, oct2, oct1, aug, y2025, y2024];

    // Act
    const monthly = applyRetention(all, tiers({ monthly: 3 }), NOW, 'UTC');
    const yearly = applyRetention(all, tiers({ yearly: 2 }), NOW, 'UTC');

    // Assess
    expect([...monthly]).toEqual([
      [nov.imageId, ['monthly 2026-11']],
      [oct2.imageId, ['monthly 2026-10']],
      [aug.imageId, ['monthly 2026-08']],
    ]);
    expect([...yearly]).toEqual([
      [nov.imageId, ['yearly 2026']],
      [y2025.imageId, ['yearly 2025']],
    ]);
  });

  it('keeps the newest image of each hour for hourly', () => {
    // Prepare
    const h11b = image({ createdAt: at('2026-11-26T11:45:00Z') });
    const h11a = image({ createdAt: at('2026-11-26T11:05:00Z') });
    const h10 = image({ createdAt: at('2026-11-26T10:59:59Z') });
    const h08 = image({ createdAt: at('2026-11-26T08:30:00Z') });

    // Act
    const kept = applyRetention([h08, h10, h11a, h11b], tiers({ hourly: 3 }), NOW, 'UTC');

    // Assess
    expect([...kept]).toEqual([
      [h11b.imageId, ['hourly 2026-11-26T11']],
      [h10.imageId, ['hourly 2026-11-26T10']],
      [h08.imageId, ['hourly 2026-11-26T08']],
    ]);
  });

  it('lets tiers overlap: an image kept by daily and weekly carries both reasons, in tier order', () => {
    // Prepare: a week of nightlies and the Sunday before
    const images = nightly(7); // 26th (Thu) back to the 20th (Fri)

    // Act
    const kept = applyRetention(images, tiers({ weekly: 2, daily: 2 }), NOW, 'UTC');

    // Assess: the 26th is the newest of its day and its week; the 22nd (Sun) is the newest of week 47
    expect([...kept]).toEqual([
      [images[0]!.imageId, ['daily 2026-11-26', 'weekly 2026-W48']],
      [images[1]!.imageId, ['daily 2026-11-25']],
      [images[4]!.imageId, ['weekly 2026-W47']],
    ]);
  });

  it('keeps the union of what each tier keeps, a tier of 0 keeping nothing', () => {
    // Prepare
    const images = nightly(40);

    // Act
    const kept = applyRetention(images, tiers({ hourly: 0, daily: 7, weekly: 4, monthly: 2 }), NOW, 'UTC');

    // Assess
    const daily = applyRetention(images, tiers({ daily: 7 }), NOW, 'UTC');
    const weekly = applyRetention(images, tiers({ weekly: 4 }), NOW, 'UTC');
    const monthly = applyRetention(images, tiers({ monthly: 2 }), NOW, 'UTC');
    expect(sortIds([...kept.keys()])).toEqual(sortIds([...new Set([...daily.keys(), ...weekly.keys(), ...monthly.keys()])]));
    expect([...kept.values()].flat().some((r) => r.startsWith('hourly'))).toBe(false);
  });

  it('draws the day boundary in the time zone it is given', () => {
    // Prepare: 22:30Z and 23:30Z on the 26th are the same day in UTC, but 23:30Z is already the 27th in Paris
    const late = image({ createdAt: at('2026-11-26T23:30:00Z') });
    const earlier = image({ createdAt: at('2026-11-26T22:30:00Z') });
    const now = at('2026-11-27T06:00:00Z');

    // Act
    const utc = applyRetention([late, earlier], tiers({ daily: 2 }), now, 'UTC');
    const paris = applyRetention([late, earlier], tiers({ daily: 2 }), now, 'Europe/Paris');

    // Assess
    expect([...utc]).toEqual([[late.imageId, ['daily 2026-11-26']]]);
    expect([...paris]).toEqual([
      [late.imageId, ['daily 2026-11-27']],
      [earlier.imageId, ['daily 2026-11-26']],
    ]);
  });

  it('draws the week boundary in the time zone too (Sunday night UTC is Monday in Auckland)', () => {
    // Prepare
    const sundayNight = image({ createdAt: at('2026-11-29T20:00:00Z') }); // Mon 30th 09:00 in Auckland
    const sundayMorning = image({ createdAt: at('2026-11-29T01:00:00Z') }); // Sun 29th 14:00 in Auckland

    // Act
    const utc = applyRetention([sundayNight, sundayMorning], tiers({ weekly: 5 }), NOW, 'UTC');
    const auckland = applyRetention([sundayNight, sundayMorning], tiers({ weekly: 5 }), NOW, 'Pacific/Auckland');

    // Assess
    expect(utc.size).toBe(1);
    expect(auckland.size).toBe(2);
  });
});

// ---------------------------------------------------------------------------------------------
describe('policyFor', () => {
  it("takes the instance's policy first, even when images carry another", () => {
    // Prepare
    const images = nightly(3, { retainTag: '3' });
    const policies = new Map([['web', age(30)]]);

    // Act
    const policy = policyFor('web', images, input({ instancePolicies: policies }));

    // Assess
    expect(policy).toEqual({ lineage: 'web', source: 'instance', retention: age(30) });
  });

  it("takes the newest image's stamped tag when the instance has no policy (last known)", () => {
    // Prepare: the policy was 3, then became 14d
    const [newest, middle, oldest] = nightly(3);
    const images = [
      { ...oldest!, retainTag: '3' },
      { ...newest!, retainTag: '14d' },
      { ...middle!, retainTag: '3' },
    ];

    // Act
    const policy = policyFor('web', images, input({ instancePolicies: new Map([['db', count(1)]]) }));

    // Assess
    expect(policy).toEqual({ lineage: 'web', source: 'last-known', retention: age(14) });
  });

  it('skips newer images without a tag or with an unreadable one', () => {
    // Prepare
    const [a, b, c, d] = nightly(4);
    const images = [
      { ...a!, retainTag: undefined },
      { ...b!, retainTag: '0d' },
      { ...c!, retainTag: 'daily=7,weekly=4' },
      { ...d!, retainTag: '2' },
    ];

    // Act
    const policy = policyFor('web', shuffled(images), input());

    // Assess
    expect(policy).toEqual({ lineage: 'web', source: 'last-known', retention: tiers({ daily: 7, weekly: 4 }) });
  });

  it('reads a stamped tag the way the instance tag is read (whitespace trimmed)', () => {
    // Prepare
    const images = nightly(1, { retainTag: ' 5 ' });

    // Act
    const policy = policyFor('web', images, input());

    // Assess
    expect(policy.retention).toEqual(count(5));
  });

  it('falls back to the default when neither the instance nor any image says', () => {
    // Prepare
    const images = [...nightly(2), ...nightly(1, { retainTag: 'bogus' }, 5)];

    // Act
    const policy = policyFor('web', images, input({ defaultRetention: age(9) }));

    // Assess
    expect(policy).toEqual({ lineage: 'web', source: 'default', retention: age(9) });
  });
});

// ---------------------------------------------------------------------------------------------
describe('planRotation', () => {
  it('rotates a week of nightly images to a count policy, keeping the newest with their reasons', () => {
    // Prepare
    const images = nightly(7);

    // Act
    const plan = planRotation(input({ images: shuffled(images), defaultRetention: count(3) }));

    // Assess
    expect(sortIds(keptIds(plan))).toEqual(sortIds(ids(images.slice(0, 3))));
    expect(sortIds(deletedIds(plan))).toEqual(sortIds(ids(images.slice(3))));
    expect(decisionOf(plan, images[0]!.imageId).reasons).toEqual([
      'newest good image of the lineage',
      'newest 1 of 3: keep 3 (default policy)',
    ]);
    expect(decisionOf(plan, images[2]!.imageId).reasons).toEqual(['newest 3 of 3: keep 3 (default policy)']);
    expect(decisionOf(plan, images[6]!.imageId).reasons).toEqual(['not kept by keep 3 (default policy)']);
    expect(plan.lineages).toEqual([{ lineage: 'web', source: 'default', retention: count(3) }]);
  });

  it('carries the name, lineage, schedule and snapshots of every image into its decision', () => {
    // Prepare
    const img = image({ createdAt: daysAgo(1), snapshotIds: ['snap-1', 'snap-2'], schedule: 'weekly', lineage: 'db' });

    // Act
    const plan = planRotation(input({ images: [img] }));

    // Assess
    expect(plan.decisions).toEqual([
      {
        imageId: img.imageId,
        name: img.name,
        lineage: 'db',
        schedule: 'weekly',
        action: 'keep',
        reasons: expect.arrayContaining(['newest good image of the lineage']),
        deprecate: false,
        snapshotIds: ['snap-1', 'snap-2'],
      },
    ]);
  });

  describe('rule 1: the newest good image of a lineage', () => {
    it('is kept when the age policy would drop every image', () => {
      // Prepare
      const images = nightly(5, {}, 30);

      // Act
      const plan = planRotation(input({ images, defaultRetention: age(7) }));

      // Assess
      expect(keptIds(plan)).toEqual([images[0]!.imageId]);
      expect(decisionOf(plan, images[0]!.imageId).reasons).toEqual(['newest good image of the lineage']);
      expect(deletedIds(plan)).toHaveLength(4);
    });

    it('is the newest good and available one: newer pending, failed or unsettled images do not count', () => {
      // Prepare
      const good = image({ createdAt: daysAgo(30) });
      const older = image({ createdAt: daysAgo(31) });
      const pending = image({ createdAt: daysAgo(1), status: 'pending', state: 'pending' });
      const failed = image({ createdAt: daysAgo(10), status: 'failed', state: 'failed' });
      const disabled = image({ createdAt: daysAgo(2), state: 'disabled' });

      // Act
      const plan = planRotation(input({ images: [older, good, pending, failed, disabled], defaultRetention: age(7) }));

      // Assess
      expect(decisionOf(plan, good.imageId)).toMatchObject({ action: 'keep', reasons: ['newest good image of the lineage'] });
      expect(decisionOf(plan, older.imageId).action).toBe('delete');
      expect(decisionOf(plan, failed.imageId).action).toBe('delete');
    });

    it('is per lineage, not per stack: each lineage keeps its own', () => {
      // Prepare
      const web = nightly(3, { lineage: 'web' }, 40);
      const db = nightly(3, { lineage: 'db' }, 50);

      // Act
      const plan = planRotation(input({ images: [...web, ...db], defaultRetention: age(7) }));

      // Assess
      expect(sortIds(keptIds(plan))).toEqual(sortIds([web[0]!.imageId, db[0]!.imageId]));
    });
  });

  describe('rule 2: only this stack', () => {
    it("keeps other stacks' images and images with no managed-by tag, whatever their age or status", () => {
      // Prepare
      const other = nightly(5, { managedBy: 'other-stack' }, 100);
      const nobody = nightly(5, { managedBy: undefined, status: 'failed', state: 'failed' }, 100);

      // Act
      const plan = planRotation(input({ images: [...other, ...nobody], defaultRetention: count(1), failedGraceDays: 0 }));

      // Assess
      expect(deletedIds(plan)).toEqual([]);
      for (const d of plan.decisions) expect(d.reasons).toEqual(['not managed by this stack']);
      expect(plan.lineages).toEqual([]);
    });

    it("does not let images of another stack count towards this stack's lineage of the same name", () => {
      // Prepare: the other stack's web images are newer
      const ours = nightly(3, {}, 10);
      const theirs = nightly(3, { managedBy: 'other-stack' });

      // Act
      const plan = planRotation(input({ images: [...theirs, ...ours], defaultRetention: count(2) }));

      // Assess
      expect(sortIds(keptIds(plan))).toEqual(sortIds([...ids(theirs), ours[0]!.imageId, ours[1]!.imageId]));
      expect(deletedIds(plan)).toEqual([ours[2]!.imageId]);
    });

    it('keeps an image of ours without a lineage: it belongs to no series', () => {
      // Prepare
      const orphan = image({ createdAt: daysAgo(400), lineage: undefined });
      const empty = image({ createdAt: daysAgo(400), lineage: '' });

      // Act
      const plan = planRotation(input({ images: [orphan, empty], defaultRetention: count(1) }));

      // Assess
      expect(plan.decisions.map((d) => [d.action, d.reasons])).toEqual([
        ['keep', ['no lineage tag: not part of any series']],
        ['keep', ['no lineage tag: not part of any series']],
      ]);
    });
  });

  describe('rule 3: images in use', () => {
    it('keeps an image used by an instance or a launch template, saying by what', () => {
      // Prepare
      const images = nightly(6);
      const inUse = new Map([
        [images[4]!.imageId, ['instance i-0123456789abcdef0 (stopped)']],
        [images[5]!.imageId, ['launch template lt-0abc version 3 (default)', 'instance i-0fedcba9876543210 (running)']],
      ]);

      // Act
      const plan = planRotation(input({ images, inUse, defaultRetention: count(2) }));

      // Assess
      expect(decisionOf(plan, images[4]!.imageId)).toMatchObject({
        action: 'keep',
        reasons: ['in use by instance i-0123456789abcdef0 (stopped)'],
      });
      expect(decisionOf(plan, images[5]!.imageId)).toMatchObject({
        action: 'keep',
        reasons: ['in use by launch template lt-0abc version 3 (default), instance i-0fedcba9876543210 (running)'],
      });
      expect(sortIds(deletedIds(plan))).toEqual(sortIds([images[2]!.imageId, images[3]!.imageId]));
    });

    it('keeps a failed image past its grace period while it is in use', () => {
      // Prepare
      const failed = image({ createdAt: daysAgo(30), status: 'failed', state: 'available' });

      // Act
      const plan = planRotation(input({ images: [failed], inUse: new Map([[failed.imageId, ['instance i-1 (running)']]]) }));

      // Assess
      expect(decisionOf(plan, failed.imageId)).toMatchObject({ action: 'keep', reasons: ['in use by instance i-1 (running)'] });
    });

    it('ignores an empty list of uses', () => {
      // Prepare
      const images = nightly(2);

      // Act
      const plan = planRotation(input({ images, inUse: new Map([[images[1]!.imageId, []]]), defaultRetention: count(1) }));

      // Assess
      expect(deletedIds(plan)).toEqual([images[1]!.imageId]);
    });

    it('deletes, once the reference check has run, only what it cleared; the rest is kept, saying why', () => {
      // Prepare: keep 1 of 4 nightly images; the check cleared one candidate, could not look at one, was not asked about one
      const images = nightly(4);
      const [, cleared, refused, unasked] = images.map((i) => i.imageId) as [string, string, string, string];
      const referenceCheck: ReferenceCheck = {
        cleared: new Set([cleared]),
        unverified: new Map([[refused, { errorCode: 'UnauthorizedOperation', message: 'cannot check ssm:Parameter' }]]),
      };

      // Act
      const plan = planRotation(input({ images, defaultRetention: count(1), referenceCheck }));

      // Assess
      expect(deletedIds(plan)).toEqual([cleared]);
      expect(decisionOf(plan, refused)).toMatchObject({
        action: 'keep',
        deprecate: false,
        unverified: { errorCode: 'UnauthorizedOperation', message: 'cannot check ssm:Parameter' },
        reasons: [
          'not cleared by the reference check (UnauthorizedOperation: cannot check ssm:Parameter); would be: not kept by keep 1 (default policy)',
        ],
      });
      expect(decisionOf(plan, unasked)).toMatchObject({ action: 'keep', unverified: { errorCode: 'NotChecked' } });
      expect(decisionOf(plan, cleared)).not.toHaveProperty('unverified');
    });

    it('keeps a failed image past its grace period that the reference check did not clear', () => {
      // Prepare
      const failed = image({ createdAt: daysAgo(30), status: 'failed', state: 'available' });
      const unverified = new Map([[failed.imageId, { errorCode: 'RequestLimitExceeded', message: 'Request limit exceeded.' }]]);

      // Act
      const plan = planRotation(input({ images: [failed], referenceCheck: { cleared: new Set(), unverified } }));

      // Assess
      expect(decisionOf(plan, failed.imageId)).toMatchObject({ action: 'keep', unverified: { errorCode: 'RequestLimitExceeded' } });
    });

    it('clears the candidates the check answered for and found referenced by nothing', () => {
      // Act
      const cleared = clearedBy(['ami-1', 'ami-2', 'ami-3', 'ami-4'], {
        references: new Map([['ami-2', ['ssm:Parameter arn:aws:ssm:us-east-1:123456789012:parameter/golden']]]),
        unverified: new Map([['ami-3', { errorCode: 'UnauthorizedOperation', message: '' }]]),
      });

      // Assess
      expect([...cleared].sort()).toEqual(['ami-1', 'ami-4']);
    });
  });

  describe('rule 4: pending, failed and bad images', () => {
    it.each<[ImageStatus | undefined, string]>([
      ['pending', 'pending'],
      ['pending', 'available'],
      ['good', 'pending'],
      ['failed', 'pending'],
      [undefined, 'transient'],
    ])('never deletes a pending image (status %s, state %s), however old', (status, state) => {
      // Prepare
      const old = image({ createdAt: daysAgo(365), status, state });
      const newer = nightly(3);

      // Act
      const plan = planRotation(input({ images: [old, ...newer], defaultRetention: count(1), failedGraceDays: 0 }));

      // Assess
      expect(decisionOf(plan, old.imageId)).toMatchObject({ action: 'keep', reasons: ['pending: still being built'] });
    });

    it.each<[ImageStatus | undefined, string, string]>([
      ['failed', 'failed', 'failed'],
      ['bad', 'available', 'bad'],
      // The reason names the status tag before the EC2 state: "good, within ..." for an image in state error (cosmetic)
      ['good', 'error', 'good'],
      [undefined, 'invalid', 'invalid'],
    ])('deletes a %s image (state %s) only once the grace period has passed', (status, state, label) => {
      // Prepare
      const within = image({ createdAt: new Date(NOW.getTime() - 2 * DAY + 1), status, state });
      const exactly = image({ createdAt: daysAgo(2), status, state });
      const past = image({ createdAt: daysAgo(9), status, state });

      // Act
      const plan = planRotation(input({ images: [within, exactly, past], failedGraceDays: 2 }));

      // Assess
      expect(decisionOf(plan, within.imageId)).toMatchObject({ action: 'keep', reasons: [`${label}, within the 2d grace period`] });
      expect(decisionOf(plan, exactly.imageId)).toMatchObject({ action: 'delete', reasons: [`${label} for more than 2d`] });
      expect(decisionOf(plan, past.imageId).action).toBe('delete');
    });

    it('deletes a failed image on the next run when the grace period is 0', () => {
      // Prepare
      const failed = image({ createdAt: NOW, status: 'failed', state: 'failed' });

      // Act
      const plan = planRotation(input({ images: [failed], failedGraceDays: 0 }));

      // Assess
      expect(deletedIds(plan)).toEqual([failed.imageId]);
    });

    it('does not count failed images towards the policy: a failed nightly does not push a good one out', () => {
      // Prepare
      const good = nightly(3, {}, 1);
      const failed = image({ createdAt: at('2026-11-26T01:00:00Z'), status: 'failed', state: 'failed' });

      // Act
      const plan = planRotation(input({ images: [failed, ...good], defaultRetention: count(3) }));

      // Assess
      expect(sortIds(keptIds(plan))).toEqual(sortIds([failed.imageId, ...ids(good)]));
    });
  });

  describe('images whose status the service does not know', () => {
    it.each<[ImageStatus | undefined, string]>([
      [undefined, 'available'],
      ['good', 'deregistered'],
      ['good', 'disabled'],
      [undefined, 'disabled'],
    ])('leaves status %s in state %s alone', (status, state) => {
      // Prepare
      const img = image({ createdAt: daysAgo(365), status, state });

      // Act
      const plan = planRotation(input({ images: [img, ...nightly(2)], defaultRetention: count(1), failedGraceDays: 0 }));

      // Assess
      expect(decisionOf(plan, img.imageId)).toMatchObject({
        action: 'keep',
        reasons: [`status '${status ?? 'none'}' in state ${state}: left alone`],
      });
    });
  });

  describe('schedules', () => {
    it('rotates each schedule of a lineage separately under the same policy', () => {
      // Prepare
      const nightlies = nightly(5, { schedule: 'nightly' });
      const weeklies = Array.from({ length: 4 }, (_, i) => image({ schedule: 'weekly', createdAt: daysAgo(7 * i + 0.5) }));
      const unscheduled = nightly(3, { schedule: undefined }, 2);

      // Act
      const plan = planRotation(input({ images: shuffled([...nightlies, ...weeklies, ...unscheduled]), defaultRetention: count(2) }));

      // Assess
      expect(sortIds(keptIds(plan))).toEqual(
        sortIds([...ids(nightlies.slice(0, 2)), ...ids(weeklies.slice(0, 2)), ...ids(unscheduled.slice(0, 2))]),
      );
      expect(plan.lineages).toHaveLength(1);
    });

    it('keeps the newest good image of the lineage even when its schedule has been rotated by another', () => {
      // Prepare: under an age policy, only rule 1 keeps anything, and only once per lineage
      const nightlies = nightly(2, { schedule: 'nightly' }, 20);
      const weekly = image({ schedule: 'weekly', createdAt: daysAgo(15) });

      // Act
      const plan = planRotation(input({ images: [...nightlies, weekly], defaultRetention: age(7) }));

      // Assess
      expect(keptIds(plan)).toEqual([weekly.imageId]);
    });
  });

  describe('rule 5 and policy changes', () => {
    it("keeps a gone instance's images under the policy stamped on them, not the default", () => {
      // Prepare: the instance kept 10; the default would keep 2
      const images = nightly(10, { retainTag: '10' });

      // Act
      const plan = planRotation(input({ images, defaultRetention: count(2) }));

      // Assess
      expect(deletedIds(plan)).toEqual([]);
      expect(plan.lineages).toEqual([{ lineage: 'web', source: 'last-known', retention: count(10) }]);
      expect(decisionOf(plan, images[9]!.imageId).reasons).toEqual(['newest 10 of 10: keep 10 (last-known policy)']);
    });

    it('gives the same decisions whether the policy is on the live instance or only stamped on the images', () => {
      // Prepare
      const images = nightly(12, { retainTag: 'daily=3,weekly=1' });
      const live = input({ images, instancePolicies: new Map([['web', tiers({ daily: 3, weekly: 1 })]]) });
      const gone = input({ images });

      // Act
      const [a, b] = [planRotation(live), planRotation(gone)];

      // Assess
      expect(a.decisions.map((d) => [d.imageId, d.action])).toEqual(b.decisions.map((d) => [d.imageId, d.action]));
      expect([a.lineages[0]!.source, b.lineages[0]!.source]).toEqual(['instance', 'last-known']);
    });

    it('deletes the extra images when a policy shortens retention, but never the newest good one', () => {
      // Prepare: kept 7 under count 7; the operator changes the tag to 3
      const images = nightly(7, { retainTag: '7' });
      const before = planRotation(input({ images }));

      // Act
      const after = planRotation(input({ images, instancePolicies: new Map([['web', count(3)]]) }));
      const toAge = planRotation(input({ images, instancePolicies: new Map([['web', age(1)]]) }));

      // Assess
      expect(deletedIds(before)).toEqual([]);
      expect(sortIds(deletedIds(after))).toEqual(sortIds(ids(images.slice(3))));
      expect(sortIds(deletedIds(toAge))).toEqual(sortIds(ids(images.slice(1))));
      expect(decisionOf(toAge, images[0]!.imageId).action).toBe('keep');
    });

    it('keeps more when a policy lengthens retention (a count raised keeps what is still there)', () => {
      // Prepare
      const images = nightly(5);

      // Act
      const plan = planRotation(input({ images, instancePolicies: new Map([['web', count(30)]]) }));

      // Assess
      expect(deletedIds(plan)).toEqual([]);
    });

    // Regression: the last known policy was read from the newest stamped image, failed ones included,
    // and a failed image is deleted after its grace period: the next run then fell back to an older
    // stamp (the operator raised retain from 1 to 7, the last bake failed, the instance was terminated:
    // 6 good images deleted on the second run). Issue 21: keeping that failed image for its stamp then
    // kept it, and its snapshots, forever. The stamp moves to the newest good image, then the failed
    // image goes once its grace has passed.
    it('keeps the last known policy run after run, and moves it off a failed image, which is then deleted', () => {
      // Prepare: seven good images stamped 1, then a failed bake stamped 7, past its grace period
      const good = nightly(7, { retainTag: '1' }, 1);
      const failed = image({ createdAt: at('2026-11-26T01:00:00Z'), status: 'failed', state: 'failed', retainTag: '7' });
      const run = (images: RotationImage[]) => planRotation(input({ images, now: daysAgo(-5), failedGraceDays: 2 }));
      const carriedOut = (images: RotationImage[], plan: RotationPlan) =>
        images
          .filter((i) => !deletedIds(plan).includes(i.imageId))
          .map((i) => {
            const stamp = plan.stamps.find((s) => s.imageId === i.imageId);
            return stamp ? { ...i, retainTag: stamp.retain } : i;
          });

      // Act: three runs, as the daily schedule makes them, each carrying out the one before
      const first = run([failed, ...good]);
      const second = run(carriedOut([failed, ...good], first));
      const third = run(carriedOut(carriedOut([failed, ...good], first), second));

      // Assess: 7 is honoured every time; the newest good image is stamped with it and the failed
      // image, past its grace, is deleted in the first run; no good image is ever deleted
      expect(deletedIds(first)).toEqual([failed.imageId]);
      expect(first.stamps).toEqual([{ imageId: good[0]!.imageId, lineage: 'web', retain: '7', readFrom: failed.imageId }]);
      expect(decisionOf(first, good[0]!.imageId).reasons).toContain(
        `to carry the lineage's last known retain policy (7, from ${failed.imageId})`,
      );
      for (const plan of [first, second, third]) {
        expect(plan.lineages[0]).toMatchObject({ source: 'last-known', retention: { kind: 'count', count: 7 } });
      }
      for (const plan of [second, third]) {
        expect(deletedIds(plan)).toEqual([]);
        expect(plan.stamps).toEqual([]);
        expect(decisionOf(plan, good[0]!.imageId).reasons).toContain("carries the lineage's last known retain policy");
      }
    });
  });

  describe('clock skew', () => {
    it('treats images created after now as the newest, and deletes none of them for age', () => {
      // Prepare
      const future = [image({ createdAt: new Date(NOW.getTime() + HOUR) }), image({ createdAt: new Date(NOW.getTime() + 2 * DAY) })];
      const past = nightly(3, {}, 10);

      // Act
      const plan = planRotation(input({ images: [...past, ...future], defaultRetention: age(3) }));

      // Assess
      expect(sortIds(keptIds(plan))).toEqual(sortIds(ids(future)));
      expect(decisionOf(plan, future[1]!.imageId).reasons[0]).toBe('newest good image of the lineage');
    });

    it('does not delete a failed image created after now (negative age)', () => {
      // Prepare
      const failed = image({ createdAt: new Date(NOW.getTime() + 5 * DAY), status: 'failed', state: 'failed' });

      // Act
      const plan = planRotation(input({ images: [failed], failedGraceDays: 0 }));

      // Assess
      expect(decisionOf(plan, failed.imageId).action).toBe('keep');
    });

    it('keeps everything under an age policy when now is far behind every image', () => {
      // Prepare
      const images = nightly(5);

      // Act
      const plan = planRotation(input({ images, now: at('2020-01-01T00:00:00Z'), defaultRetention: age(1) }));

      // Assess
      expect(deletedIds(plan)).toEqual([]);
    });
  });

  describe('deprecation', () => {
    const deprecated = (plan: RotationPlan) => plan.decisions.filter((d) => d.deprecate).map((d) => d.imageId);

    it('deprecates kept images older than the window, but not the newest good one, nor deleted ones', () => {
      // Prepare: monthly images, the newest 40 days old; tiers keep 4 of 6
      const images = Array.from({ length: 6 }, (_, i) => image({ createdAt: daysAgo(40 + 31 * i) }));

      // Act
      const plan = planRotation(input({ images, defaultRetention: tiers({ monthly: 4 }), deprecateAfterDays: 30 }));

      // Assess
      expect(sortIds(deprecated(plan))).toEqual(sortIds(ids(images.slice(1, 4))));
      expect(decisionOf(plan, images[0]!.imageId).deprecate).toBe(false);
      for (const id of deletedIds(plan)) expect(decisionOf(plan, id).deprecate).toBe(false);
    });

    it('deprecates only images strictly older than the window', () => {
      // Prepare
      const newest = image({ createdAt: daysAgo(1) });
      const exactly = image({ createdAt: daysAgo(30) });
      const older = image({ createdAt: new Date(NOW.getTime() - 30 * DAY - 1) });

      // Act
      const plan = planRotation(input({ images: [newest, exactly, older], deprecateAfterDays: 30 }));

      // Assess
      expect(deprecated(plan)).toEqual([older.imageId]);
    });

    it('does not deprecate an image already deprecated, nor pending, failed or unknown ones', () => {
      // Prepare
      const newest = image({ createdAt: daysAgo(1) });
      const already = image({ createdAt: daysAgo(60), deprecated: true });
      const pending = image({ createdAt: daysAgo(60), status: 'pending', state: 'pending' });
      const failed = image({ createdAt: daysAgo(60), status: 'failed', state: 'failed' });
      const unknown = image({ createdAt: daysAgo(60), status: undefined });

      // Act
      const plan = planRotation(
        input({
          images: [newest, already, pending, failed, unknown],
          deprecateAfterDays: 30,
          inUse: new Map([[failed.imageId, ['instance i-1 (running)']]]),
        }),
      );

      // Assess
      expect(deprecated(plan)).toEqual([]);
      expect(decisionOf(plan, already.imageId).action).toBe('keep');
    });

    it('deprecates an old image kept only because it is in use', () => {
      // Prepare
      const images = nightly(3, {}, 60);
      const inUse = new Map([[images[2]!.imageId, ['launch template lt-1 version 1 (default)']]]);

      // Act
      const plan = planRotation(input({ images, inUse, defaultRetention: count(1), deprecateAfterDays: 30 }));

      // Assess
      expect(decisionOf(plan, images[2]!.imageId)).toMatchObject({ action: 'keep', deprecate: true });
      expect(decisionOf(plan, images[0]!.imageId)).toMatchObject({ action: 'keep', deprecate: false });
    });

    it('deprecates nothing when deprecation is off', () => {
      // Prepare
      const images = nightly(7, {}, 100);

      // Act
      const plan = planRotation(input({ images, deprecateAfterDays: undefined }));

      // Assess
      expect(deprecated(plan)).toEqual([]);
    });
  });

  it('lists the policy of every lineage it planned for, in lineage order', () => {
    // Prepare
    const images = [
      ...nightly(1, { lineage: 'web' }),
      ...nightly(1, { lineage: 'api', retainTag: '14d' }),
      ...nightly(1, { lineage: 'db' }),
    ];

    // Act
    const plan = planRotation(input({ images, instancePolicies: new Map([['db', count(2)]]) }));

    // Assess
    expect(plan.lineages).toEqual([
      { lineage: 'api', source: 'last-known', retention: age(14) },
      { lineage: 'db', source: 'instance', retention: count(2) },
      { lineage: 'web', source: 'default', retention: count(7) },
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
describe('planSnapshotSweep', () => {
  const snap = (snapshotId: string, startTime: Date, ...owner: [string | undefined] | []): SnapshotInfo => ({
    snapshotId,
    managedBy: owner.length === 0 ? STACK : owner[0],
    startTime,
  });
  const sweep = (snapshots: SnapshotInfo[], used: string[] = [], graceHours = 24) =>
    planSnapshotSweep(snapshots, new Set(used), { managedBy: STACK, now: NOW, graceHours });

  it('sweeps a managed snapshot no existing image uses, once it is older than the grace period', () => {
    // Prepare
    const orphan = snap('snap-old', new Date(NOW.getTime() - 25 * HOUR));
    const young = snap('snap-young', new Date(NOW.getTime() - 23 * HOUR));

    // Act
    const swept = sweep([orphan, young]);

    // Assess
    expect(swept).toEqual(['snap-old']);
  });

  it('spares a snapshot exactly at the grace period boundary', () => {
    // Act
    const swept = sweep([
      snap('snap-edge', new Date(NOW.getTime() - 24 * HOUR)),
      snap('snap-past', new Date(NOW.getTime() - 24 * HOUR - 1)),
    ]);

    // Assess
    expect(swept).toEqual(['snap-past']);
  });

  it('spares snapshots of existing images and snapshots of other stacks or of nobody', () => {
    // Prepare
    const old = new Date(NOW.getTime() - 100 * DAY);

    // Act
    const swept = sweep(
      [snap('snap-used', old), snap('snap-theirs', old, 'other-stack'), snap('snap-nobody', old, undefined), snap('snap-orphan', old)],
      ['snap-used'],
    );

    // Assess
    expect(swept).toEqual(['snap-orphan']);
  });

  it('spares a snapshot started in the future (clock skew)', () => {
    // Act
    const swept = sweep([snap('snap-future', new Date(NOW.getTime() + DAY))], [], 0);

    // Assess
    expect(swept).toEqual([]);
  });

  it('sweeps at once with a grace of 0 hours', () => {
    // Act
    const swept = sweep([snap('snap-now', new Date(NOW.getTime() - 1))], [], 0);

    // Assess
    expect(swept).toEqual(['snap-now']);
  });
});

// ---------------------------------------------------------------------------------------------
// Properties: the safety rules over random image sets, clocks and policies.

const LINEAGES = ['web', 'db', 'api'] as const;
const TIME_ZONES = ['UTC', 'Europe/Paris', 'America/New_York', 'Pacific/Auckland', 'Asia/Kolkata'] as const;
const BASE = at('2026-06-01T00:00:00Z').getTime();

const arbRetention: fc.Arbitrary<Retention> = fc.oneof(
  fc.integer({ min: 1, max: 10 }).map(count),
  fc.integer({ min: 1, max: 60 }).map(age),
  fc
    .record({
      hourly: fc.integer({ min: 0, max: 6 }),
      daily: fc.integer({ min: 0, max: 8 }),
      weekly: fc.integer({ min: 0, max: 5 }),
      monthly: fc.integer({ min: 0, max: 4 }),
      yearly: fc.integer({ min: 0, max: 2 }),
      present: fc.subarray([...RETENTION_TIERS], { minLength: 1 }),
    })
    .map(({ present, ...n }) => tiers(Object.fromEntries(present.map((t) => [t, n[t]])))),
);

/** The tag the bake stamps for a policy: what RetentionSpec reads back as that policy. */
function specOf(r: Retention): string {
  if (r.kind === 'count') return String(r.count);
  if (r.kind === 'age') return `${r.days}d`;
  return RETENTION_TIERS.filter((t) => r.tiers[t] !== undefined)
    .map((t) => `${t}=${r.tiers[t]}`)
    .join(',');
}
/** Policies a stamped tag can carry: RetentionSpec refuses tiers that keep nothing. */
const arbStampable = arbRetention.filter((r) => v.safeParse(RetentionSpec, specOf(r)).success);

const arbStatus = fc.oneof(
  { weight: 12, arbitrary: fc.constant<ImageStatus | undefined>('good') },
  { weight: 4, arbitrary: fc.constantFrom<ImageStatus | undefined>('pending', 'failed', 'bad', undefined) },
);
const arbState = fc.oneof(
  { weight: 12, arbitrary: fc.constant('available') },
  { weight: 4, arbitrary: fc.constantFrom('pending', 'failed', 'error', 'invalid', 'transient', 'deregistered', 'disabled') },
);

interface ImageSeed {
  idNum: number;
  lineage: string | undefined;
  schedule: string | undefined;
  status: ImageStatus | undefined;
  state: string;
  managedBy: string | undefined;
  /** Hours after BASE: coarse on purpose, so that ties in creation time happen. */
  hour: number;
  retainTag: string | undefined;
  deprecated: boolean;
  snapshots: number;
}

const arbImageSeed: fc.Arbitrary<ImageSeed> = fc.record({
  idNum: fc.integer({ min: 0, max: 0xfffffff }),
  lineage: fc.oneof(
    { weight: 9, arbitrary: fc.constantFrom<string | undefined>(...LINEAGES) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  schedule: fc.constantFrom<string | undefined>('nightly', 'nightly', 'weekly', undefined),
  status: arbStatus,
  state: arbState,
  managedBy: fc.constantFrom<string | undefined>(STACK, STACK, STACK, STACK, 'other-stack', undefined),
  hour: fc.oneof(
    fc.integer({ min: 0, max: 24 * 400 }),
    // nightly at 01:00: many images share a day, and some share a creation time
    fc.integer({ min: 0, max: 120 }).map((d) => d * 24 + 1),
  ),
  retainTag: fc.option(fc.constantFrom('3', '7', '14d', 'daily=3,weekly=2', 'monthly=2', 'bogus', '0d'), { nil: undefined }),
  deprecated: fc.boolean(),
  snapshots: fc.integer({ min: 0, max: 2 }),
});

const toImage = (s: ImageSeed): RotationImage => {
  const imageId = `ami-${hex(s.idNum)}`;
  return {
    imageId,
    name: `${s.managedBy ?? 'x'}/${s.lineage ?? '-'}/${s.schedule ?? '-'}/${s.hour}`,
    managedBy: s.managedBy,
    lineage: s.lineage,
    schedule: s.schedule,
    status: s.status,
    state: s.state,
    createdAt: new Date(BASE + s.hour * HOUR),
    retainTag: s.retainTag,
    snapshotIds: Array.from({ length: s.snapshots }, (_, i) => `snap-${hex(s.idNum)}${i}`),
    deprecated: s.deprecated,
  };
};

const arbInput: fc.Arbitrary<RotationInput> = fc
  .uniqueArray(arbImageSeed, { selector: (s) => s.idNum, maxLength: 60, size: 'large' })
  .chain((seeds) => {
    const images = seeds.map(toImage);
    return fc.record({
      managedBy: fc.constant(STACK),
      // now anywhere from before the first image to well after the last: images may be in the future
      now: fc
        .oneof(fc.integer({ min: -24 * 30, max: 24 * 500 }), fc.integer({ min: 24 * 100, max: 24 * 140 }))
        .map((h) => new Date(BASE + h * HOUR + 1234)),
      timeZone: fc.constantFrom(...TIME_ZONES),
      images: fc.constant(images),
      instancePolicies: fc
        .record({
          web: fc.option(arbRetention, { nil: undefined }),
          db: fc.option(arbRetention, { nil: undefined }),
          api: fc.option(arbRetention, { nil: undefined }),
        })
        .map((p) => new Map(Object.entries(p).filter((e): e is [string, Retention] => e[1] !== undefined))),
      defaultRetention: arbRetention,
      inUse: fc.subarray(ids(images)).map((used) => new Map(used.map((id) => [id, [`instance i-${id.slice(4)} (running)`]]))),
      failedGraceDays: fc.integer({ min: 0, max: 10 }),
      deprecateAfterDays: fc.option(fc.integer({ min: 1, max: 90 }), { nil: undefined }),
    });
  });

const isGood = (i: RotationImage) => i.status === 'good' && i.state === 'available';
const isPending = (i: RotationImage) => i.status === 'pending' || i.state === 'pending' || i.state === 'transient';
const isFailed = (i: RotationImage) =>
  !isPending(i) && (i.status === 'failed' || i.status === 'bad' || ['failed', 'error', 'invalid'].includes(i.state));
const actionsById = (plan: RotationPlan) => new Map(plan.decisions.map((d) => [d.imageId, d.action]));

const RUNS = { numRuns: 400 };

describe('planRotation properties: the safety rules', () => {
  it('rule 1: every lineage with a good, available image of this stack keeps its newest one', () => {
    fc.assert(
      fc.property(arbInput, (inp) => {
        // Act
        const actions = actionsById(planRotation(inp));

        // Assess: among the good images with the latest creation time, one at least is kept
        for (const lineage of LINEAGES) {
          const good = inp.images.filter((i) => i.managedBy === STACK && i.lineage === lineage && isGood(i));
          if (good.length === 0) continue;
          const latest = Math.max(...good.map((i) => i.createdAt.getTime()));
          const newest = good.filter((i) => i.createdAt.getTime() === latest);
          expect(newest.some((i) => actions.get(i.imageId) === 'keep')).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('rule 2: no image whose managed-by differs from the stack is ever deleted', () => {
    fc.assert(
      fc.property(arbInput, (inp) => {
        // Act
        const plan = planRotation(inp);

        // Assess
        for (const img of inp.images.filter((i) => i.managedBy !== STACK)) expect(actionsById(plan).get(img.imageId)).toBe('keep');
      }),
      RUNS,
    );
  });

  it('rule 3: no image in use is ever deleted', () => {
    fc.assert(
      fc.property(arbInput, (inp) => {
        // Act
        const actions = actionsById(planRotation(inp));

        // Assess
        for (const id of inp.inUse.keys()) expect(actions.get(id)).toBe('keep');
      }),
      RUNS,
    );
  });

  it('rule 4: no pending image is deleted, nor a failed or bad one younger than the grace period', () => {
    fc.assert(
      fc.property(arbInput, (inp) => {
        // Act
        const actions = actionsById(planRotation(inp));

        // Assess
        for (const img of inp.images) {
          if (isPending(img)) expect(actions.get(img.imageId)).toBe('keep');
          const young = inp.now.getTime() - img.createdAt.getTime() < inp.failedGraceDays * DAY;
          if (isFailed(img) && young) expect(actions.get(img.imageId)).toBe('keep');
        }
      }),
      RUNS,
    );
  });

  // Issue 21: a failed image that carried a vanished lineage's last known policy was kept forever.
  it('rule 4, the other way: every failed or bad image past its grace and not in use is planned for deletion, instance or not', () => {
    fc.assert(
      fc.property(arbInput, (inp) => {
        // Act
        const actions = actionsById(planRotation(inp));

        // Assess
        for (const img of inp.images) {
          if (img.managedBy !== STACK || !img.lineage || !isFailed(img) || inp.inUse.has(img.imageId)) continue;
          if (inp.now.getTime() - img.createdAt.getTime() < inp.failedGraceDays * DAY) continue;
          expect(actions.get(img.imageId), img.imageId).toBe('delete');
        }
      }),
      RUNS,
    );
  });

  it('rule 5 over time: a vanished lineage with a good image is rotated under its last known policy on every later run', () => {
    fc.assert(
      fc.property(arbInput, fc.constantFrom(...LINEAGES), (base, lineage) => {
        // Prepare: the lineage's instance is gone
        const policies = new Map(base.instancePolicies);
        policies.delete(lineage);
        const ofLineage = (images: RotationImage[]) => images.filter((i) => i.managedBy === STACK && i.lineage === lineage);
        fc.pre(ofLineage(base.images).some(isGood));

        // Act: four daily runs, each carrying out the one before (deletions, then stamps)
        let images = base.images;
        const seen: LineagePolicy[] = [];
        for (let day = 0; day < 4; day++) {
          const plan = planRotation({ ...base, images, instancePolicies: policies, now: new Date(base.now.getTime() + day * DAY) });
          seen.push(plan.lineages.find((l) => l.lineage === lineage)!);
          const deleted = new Set(deletedIds(plan));
          images = images
            .filter((i) => !deleted.has(i.imageId))
            .map((i) => {
              const stamp = plan.stamps.find((s) => s.imageId === i.imageId);
              return stamp ? { ...i, retainTag: stamp.retain } : i;
            });
          // Assess, each run: its newest good image is still there
          expect(ofLineage(images).some(isGood)).toBe(true);
        }

        // Assess: the same policy, from the same source, every run
        for (const policy of seen) expect(policy).toEqual(seen[0]);
      }),
      RUNS,
    );
  });

  it('rule 5: a lineage whose instance is gone is planned as if its stamped policy were still on the instance', () => {
    fc.assert(
      fc.property(
        arbInput,
        fc.constantFrom(...LINEAGES),
        arbStampable,
        fc.array(fc.constantFrom('stamp', 'none', 'bogus'), { minLength: 60, maxLength: 60 }),
        (base, lineage, policy, marks) => {
          // Prepare: every image of the lineage carries the policy, none, or an unreadable tag; one at least carries it
          const images = base.images.map((img, i) =>
            img.lineage !== lineage
              ? img
              : { ...img, retainTag: marks[i] === 'stamp' ? specOf(policy) : marks[i] === 'bogus' ? '0d' : undefined },
          );
          const ofLineage = images.filter((i) => i.managedBy === STACK && i.lineage === lineage);
          fc.pre(ofLineage.length > 0);
          if (!ofLineage.some((i) => i.retainTag === specOf(policy))) ofLineage[0]!.retainTag = specOf(policy);
          const live = new Map(base.instancePolicies).set(lineage, policy);
          const gone = new Map(base.instancePolicies);
          gone.delete(lineage);

          // Act
          const withInstance = planRotation({ ...base, images, instancePolicies: live });
          const withoutInstance = planRotation({ ...base, images, instancePolicies: gone });

          // Assess: the same decisions, but for the image that carries the policy, which is kept
          // (deleting it would hand the lineage to an older stamp on the next run). It is a good
          // image, or the one the policy is read from until the newest good image is stamped.
          const carriers = withoutInstance.decisions
            .filter(
              (d) => d.lineage === lineage && d.reasons.some((r) => /^(carries|to carry) the lineage's last known retain policy/.test(r)),
            )
            .map((d) => d.imageId);
          expect(carriers.length).toBeLessThanOrEqual(1);
          const decided = (p: RotationPlan) =>
            p.decisions.filter((d) => !carriers.includes(d.imageId)).map((d) => [d.imageId, d.action, d.deprecate]);
          expect(decided(withoutInstance)).toEqual(decided(withInstance));
          const good = (i: RotationImage) => i.status === 'good' && i.state === 'available';
          for (const carrier of carriers) {
            const stamp = withoutInstance.stamps.find((s) => s.imageId === carrier);
            expect(decisionOf(withoutInstance, carrier).action).toBe('keep');
            expect(good(ofLineage.find((i) => i.imageId === carrier)!)).toBe(true);
            if (stamp) expect(stamp).toMatchObject({ lineage, retain: specOf(policy) });
          }
          // With no good image there is nothing to retain: nothing is carried.
          if (!ofLineage.some(good)) expect(carriers).toEqual([]);
          expect(withoutInstance.lineages.find((l) => l.lineage === lineage)).toEqual({
            lineage,
            source: 'last-known',
            retention: v.parse(RetentionSpec, specOf(policy)),
          });
        },
      ),
      RUNS,
    );
  });

  it('deletes nothing the rules do not allow: only managed, placed, unused images that are settled good (not the newest) or failed past grace', () => {
    fc.assert(
      fc.property(arbInput, (inp) => {
        // Act
        const plan = planRotation(inp);

        // Assess
        for (const id of deletedIds(plan)) {
          const img = inp.images.find((i) => i.imageId === id)!;
          expect(img.managedBy).toBe(STACK);
          expect(img.lineage).toBeTruthy();
          expect(inp.inUse.has(id)).toBe(false);
          expect(isPending(img)).toBe(false);
          if (isFailed(img)) expect(inp.now.getTime() - img.createdAt.getTime()).toBeGreaterThanOrEqual(inp.failedGraceDays * DAY);
          else expect(isGood(img)).toBe(true);
        }
      }),
      RUNS,
    );
  });
});

describe('planRotation properties: shape and determinism', () => {
  it('decides every image exactly once, gives every decision a reason, and deprecates only kept images', () => {
    fc.assert(
      fc.property(arbInput, (inp) => {
        // Act
        const plan = planRotation(inp);

        // Assess
        expect(sortIds(plan.decisions.map((d) => d.imageId))).toEqual(sortIds(ids(inp.images)));
        for (const d of plan.decisions) {
          expect(d.reasons.length).toBeGreaterThan(0);
          if (d.deprecate) expect(d.action).toBe('keep');
        }
        for (const d of plan.decisions.filter((x) => x.action === 'delete')) expect(d.reasons.join('').length).toBeGreaterThan(0);
      }),
      RUNS,
    );
  });

  it('is deterministic: the same input gives the same plan, and so does the same input in another order', () => {
    fc.assert(
      fc.property(arbInput, fc.integer({ min: 1, max: 1_000_000 }), (inp, seed) => {
        // Act
        const first = planRotation(inp);
        const again = planRotation({ ...inp, images: inp.images.map((i) => ({ ...i, createdAt: new Date(i.createdAt) })) });
        const reordered = planRotation({ ...inp, images: shuffled(inp.images, seed) });

        // Assess: decisions are compared by image, since images outside any lineage come in input order
        expect(again).toEqual(first);
        const byId = (p: RotationPlan) => [...p.decisions].sort((a, b) => (a.imageId < b.imageId ? -1 : 1));
        expect(byId(reordered)).toEqual(byId(first));
        expect(reordered.lineages).toEqual(first.lineages);
      }),
      RUNS,
    );
  });

  it('is idempotent when a lineage carries one stamped policy: planning again after the deletions deletes nothing more', () => {
    fc.assert(
      fc.property(arbInput, fc.record({ web: arbStampable, db: arbStampable, api: arbStampable }), (base, stamps) => {
        // Prepare: one stamp per lineage (a changing stamp is the regression case above)
        const images = base.images.map((i) => ({
          ...i,
          retainTag: i.lineage ? specOf(stamps[i.lineage as (typeof LINEAGES)[number]]) : undefined,
        }));
        const first = planRotation({ ...base, images });
        const gone = new Set(deletedIds(first));

        // Act
        const second = planRotation({ ...base, images: images.filter((i) => !gone.has(i.imageId)) });

        // Assess
        expect(deletedIds(second)).toEqual([]);
      }),
      RUNS,
    );
  });

  it('never deletes more when more images are in use', () => {
    fc.assert(
      fc.property(arbInput, fc.nat(), (inp, pick) => {
        // Prepare
        fc.pre(inp.images.length > 0);
        const extra = inp.images[pick % inp.images.length]!.imageId;
        const more = new Map(inp.inUse).set(extra, ['launch template lt-1 version 1 (latest)']);

        // Act
        const before = new Set(deletedIds(planRotation(inp)));
        const after = deletedIds(planRotation({ ...inp, inUse: more }));

        // Assess
        for (const id of after) expect(before.has(id)).toBe(true);
        expect(after).not.toContain(extra);
      }),
      RUNS,
    );
  });

  /** Any reference check over the input's images: some cleared, some unverified, the rest not asked about. */
  const arbChecked = arbInput.chain((inp) =>
    fc
      .record({
        cleared: fc.subarray(ids(inp.images)),
        unverified: fc.subarray(ids(inp.images)),
        code: fc.constantFrom('UnauthorizedOperation', 'InvalidAction', 'RequestLimitExceeded', 'InternalError'),
      })
      .map(({ cleared, unverified, code }) => ({
        inp,
        check: {
          cleared: new Set(cleared.filter((id) => !unverified.includes(id))),
          unverified: new Map(unverified.map((id) => [id, { errorCode: code, message: 'refused' }])),
        } satisfies ReferenceCheck,
      })),
  );

  it('rule 3: no image that the reference check did not clear is ever in the delete plan', () => {
    fc.assert(
      fc.property(arbChecked, ({ inp, check }) => {
        // Act
        const plan = planRotation({ ...inp, referenceCheck: check });

        // Assess
        for (const id of deletedIds(plan)) expect(check.cleared.has(id)).toBe(true);
      }),
      RUNS,
    );
  });

  it('rule 3: the check only ever turns deletions into keeps, each saying why, and one that clears everything changes nothing', () => {
    fc.assert(
      fc.property(arbChecked, ({ inp, check }) => {
        // Act
        const unchecked = planRotation(inp);
        const checked = planRotation({ ...inp, referenceCheck: check });
        const everything = planRotation({ ...inp, referenceCheck: { cleared: new Set(ids(inp.images)), unverified: new Map() } });

        // Assess
        const wouldDelete = new Set(deletedIds(unchecked));
        expect(everything).toEqual(unchecked);
        for (const d of checked.decisions) {
          if (d.action === 'delete') expect(wouldDelete.has(d.imageId)).toBe(true);
          const blocked = wouldDelete.has(d.imageId) && !check.cleared.has(d.imageId);
          expect(d.unverified !== undefined).toBe(blocked);
          if (blocked)
            expect(d).toMatchObject({
              action: 'keep',
              deprecate: false,
              unverified: check.unverified.get(d.imageId) ?? { errorCode: 'NotChecked' },
            });
        }
      }),
      RUNS,
    );
  });

  it('under a count policy, keeps at least min(N, good images) of every schedule of every lineage', () => {
    fc.assert(
      fc.property(arbInput, fc.integer({ min: 1, max: 10 }), (base, n) => {
        // Prepare: every lineage on count n, nothing stamped
        const images = base.images.map((i) => ({ ...i, retainTag: undefined }));
        const inp = { ...base, images, instancePolicies: new Map(), defaultRetention: count(n) };

        // Act
        const actions = actionsById(planRotation(inp));

        // Assess
        const groups = new Map<string, RotationImage[]>();
        for (const i of images.filter((x) => x.managedBy === STACK && x.lineage && isGood(x))) {
          const key = `${i.lineage}/${i.schedule ?? ''}`;
          groups.set(key, [...(groups.get(key) ?? []), i]);
        }
        for (const group of groups.values()) {
          const kept = group.filter((i) => actions.get(i.imageId) === 'keep').length;
          expect(kept).toBeGreaterThanOrEqual(Math.min(n, group.length));
        }
      }),
      RUNS,
    );
  });
});

describe('planSnapshotSweep properties', () => {
  it('sweeps exactly the managed snapshots of no image that are older than the grace period', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(
          fc.record({
            n: fc.integer({ min: 0, max: 10_000 }),
            managedBy: fc.constantFrom<string | undefined>(STACK, STACK, 'other-stack', undefined),
            ageHours: fc.integer({ min: -48, max: 24 * 30 }),
            used: fc.boolean(),
          }),
          { selector: (s) => s.n, maxLength: 30 },
        ),
        fc.integer({ min: 0, max: 72 }),
        (seeds, graceHours) => {
          // Prepare
          const snaps = seeds.map((s) => ({
            snapshotId: `snap-${s.n}`,
            managedBy: s.managedBy,
            startTime: new Date(NOW.getTime() - s.ageHours * HOUR),
          }));
          const used = new Set(seeds.filter((s) => s.used).map((s) => `snap-${s.n}`));

          // Act
          const swept = planSnapshotSweep(snaps, used, { managedBy: STACK, now: NOW, graceHours });

          // Assess
          const expected = seeds.filter((s) => s.managedBy === STACK && !s.used && s.ageHours > graceHours).map((s) => `snap-${s.n}`);
          expect(swept).toEqual(expected);
        },
      ),
      RUNS,
    );
  });
});

describe('the example of tiers in docs/rotation.md', () => {
  it('keeps the 11 images docs/rotation.md lists out of 60 nightly ones under daily=7,weekly=4,monthly=3', () => {
    // Prepare: one image a night, 03:00 UTC, from 1 to 60 days before 2026-11-26
    const now = new Date('2026-11-26T06:00:00Z');
    const nights = Array.from({ length: 60 }, (_, i) => image({ createdAt: new Date(Date.UTC(2026, 10, 25 - i, 3)) }));

    // Act
    const kept = applyRetention(nights, v.parse(RetentionSpec, 'daily=7,weekly=4,monthly=3'), now, 'UTC');

    // Assess
    const days = nights.filter((n) => kept.has(n.imageId)).map((n) => n.createdAt.toISOString().slice(0, 10));
    expect(days).toEqual([
      '2026-11-25',
      '2026-11-24',
      '2026-11-23',
      '2026-11-22',
      '2026-11-21',
      '2026-11-20',
      '2026-11-19',
      '2026-11-15',
      '2026-11-08',
      '2026-10-31',
      '2026-09-30',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------
// Issue 18 made planRotation fast (one pass to gather lineages, scratch lists, texts made once
// per plan). The planner it replaced is kept verbatim as the oracle: on any account, the same plan.

/** Accounts with what arbInput leaves out: promotions, foreign images, given policies, a reference check, invalid dates. */
const arbAccount: fc.Arbitrary<RotationInput> = fc
  .record({
    base: arbInput,
    extras: fc.array(
      fc.record({
        promotedTo: fc.subarray(['ssm:/ami/web', 'lt:lt-0123456789abcdef0', 'asg:web']),
        foreign: fc.option(fc.constant('copied by a person'), { freq: 10, nil: undefined }),
        verifying: fc.boolean(),
        invalidDate: fc.integer({ min: 0, max: 40 }).map((n) => n === 0),
        // created at the same time as the image listed before it: ties are ordered by image id
        tie: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
        // a lineage name as another string object than its siblings': equal, not identical
        copyLineage: fc.boolean(),
      }),
      { minLength: 60, maxLength: 60 },
    ),
    order: fc.constantFrom('as-listed', 'oldest-first', 'newest-first'),
    given: fc.record({
      web: fc.option(arbRetention, { freq: 4, nil: undefined }),
      api: fc.option(arbRetention, { freq: 4, nil: undefined }),
    }),
    depth: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
    cleared: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  })
  .map(({ base, extras, order, given, depth, cleared }) => {
    let images = base.images.map((img, i) => {
      const x = extras[i % extras.length]!;
      return {
        ...img,
        lineage: img.lineage && x.copyLineage ? [...img.lineage].join('') : img.lineage,
        promotedTo: x.promotedTo,
        foreign: x.foreign,
        status: x.verifying && img.status === 'pending' ? ('verifying' as const) : img.status,
        createdAt: x.invalidDate ? new Date(Number.NaN) : x.tie && i > 0 ? new Date(base.images[i - 1]!.createdAt) : img.createdAt,
      };
    });
    if (order !== 'as-listed') {
      const oldestFirst = [...images].sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.imageId < b.imageId ? -1 : 1));
      images = order === 'oldest-first' ? oldestFirst : oldestFirst.reverse();
    }
    const lineagePolicies = new Map(
      Object.entries(given)
        .filter((e): e is [string, Retention] => e[1] !== undefined)
        .map(([lineage, retention]) => [lineage, { lineage, source: 'copy-retain' as const, retention }]),
    );
    const idList = ids(images);
    return {
      ...base,
      images,
      ...(lineagePolicies.size > 0 ? { lineagePolicies } : {}),
      ...(depth !== undefined ? { promoteRollbackDepth: depth } : {}),
      ...(cleared !== undefined
        ? {
            referenceCheck: {
              cleared: new Set(idList.filter((_, i) => (i * 0.618) % 1 < cleared)),
              unverified: new Map(idList.filter((_, i) => i % 5 === 0).map((id) => [id, { errorCode: 'InternalError', message: 'x' }])),
            },
          }
        : {}),
    };
  });

/** The plan, or the error planning throws (a tier policy over an invalid date). */
const outcome = (plan: (i: RotationInput) => RotationPlan, inp: RotationInput) => {
  try {
    return { plan: plan(inp) };
  } catch (e) {
    return { error: String(e) };
  }
};

describe('planRotation equals the straightforward planner it replaced', () => {
  it('gives the same plan, decision for decision, in the same order, on any account', () => {
    fc.assert(
      fc.property(arbAccount, (inp) => {
        expect(outcome(planRotation, inp)).toEqual(outcome(referencePlan, inp));
      }),
      { numRuns: 600 },
    );
  });

  it('shares a reason list between decisions only frozen: changing one decision cannot change another', () => {
    // Prepare: ten nightly images on count 3: seven deleted, and two kept by the policy alone
    const inp = input({ images: nightly(10), defaultRetention: count(3) });

    // Act
    const plan = planRotation(inp);

    // Assess: lists that several decisions share refuse changes; the others are the decision's own
    const deleted = plan.decisions.filter((d) => d.action === 'delete');
    expect(deleted).toHaveLength(7);
    expect(deleted[0]!.reasons).toBe(deleted[1]!.reasons);
    expect(() => deleted[0]!.reasons.push('changed')).toThrow(TypeError);
    expect(deleted[1]!.reasons).toEqual(['not kept by keep 3 (default policy)']);
    for (const d of plan.decisions) {
      const sharers = plan.decisions.filter((o) => o !== d && o.reasons === d.reasons);
      if (sharers.length > 0) expect(Object.isFrozen(d.reasons)).toBe(true);
    }
  });

  it('gives the same plan for long lineages, listed in any order (the sort of more than 32 images)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(arbImageSeed, { selector: (s) => s.idNum, minLength: 40, maxLength: 150 }),
        fc.constantFrom('as-listed', 'oldest-first', 'newest-first'),
        arbRetention,
        (seeds, order, policy) => {
          const images = seeds.map((s) => toImage({ ...s, managedBy: STACK, lineage: 'web' }));
          if (order !== 'as-listed')
            images.sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.imageId < b.imageId ? -1 : 1));
          if (order === 'newest-first') images.reverse();
          const inp = input({ images, now: new Date(BASE + 200 * DAY), defaultRetention: policy, timeZone: 'Europe/Paris' });
          expect(planRotation(inp)).toEqual(referencePlan(inp));
        },
      ),
      { numRuns: 150 },
    );
  });
});
