import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chooseRollback,
  decidePromotion,
  parameterNameProblem,
  parsePromoteTag,
  promotionKeeps,
  withPromotedTarget,
} from '../../../shared/domain/promotion.js';
import { planRotation, type RotationImage } from '../../../shared/domain/retention.js';

const P = '/ami-lifecycle/';
const DAY = 86_400_000;
const T0 = new Date('2026-11-20T01:00:00Z');
const day = (n: number) => new Date(T0.getTime() + n * DAY);

describe('the promote tag', () => {
  it('reads each kind of target', () => {
    expect(parsePromoteTag('ssm:/ami-lifecycle/web/latest, lt:web-template ,asg:web-asg,lt:lt-0123456789abcdef0', P)).toEqual({
      targets: [
        { kind: 'ssm', name: '/ami-lifecycle/web/latest', key: 'ssm:/ami-lifecycle/web/latest' },
        { kind: 'lt', ref: 'web-template', key: 'lt:web-template' },
        { kind: 'asg', name: 'web-asg', key: 'asg:web-asg' },
        { kind: 'lt', ref: 'lt-0123456789abcdef0', key: 'lt:lt-0123456789abcdef0' },
      ],
      problems: [],
    });
  });

  it('reports a malformed target for itself only: the others proceed', () => {
    const tag = parsePromoteTag('ssm:/elsewhere/web,lt:web,bogus,s3:x,asg:a:b,lt:ab,ssm:/ami-lifecycle/web', P);
    expect(tag.targets.map((t) => t.key)).toEqual(['lt:web', 'ssm:/ami-lifecycle/web']);
    expect(tag.problems.map((p) => p.target)).toEqual(['ssm:/elsewhere/web', 'bogus', 's3:x', 'asg:a:b', 'lt:ab']);
    expect(tag.problems[0]!.reason).toContain('only parameters under /ami-lifecycle/');
  });

  it('names a target once, however often the tag lists it, and skips empty items', () => {
    expect(parsePromoteTag('lt:web,,lt:web, ', P).targets).toHaveLength(1);
  });

  it('takes a parameter of 15 levels and refuses one of 16 (the hierarchy limit)', () => {
    const levels = (n: number) => `/ami-lifecycle${'/x'.repeat(n - 1)}`;
    expect(parameterNameProblem(levels(15), P)).toBeUndefined();
    expect(parameterNameProblem(levels(16), P)).toContain('at most 15 levels');
  });

  it('takes a name of 1011 characters and refuses one of 1012', () => {
    const long = (n: number) => `/ami-lifecycle/${'a'.repeat(n - P.length)}`;
    expect(long(1011)).toHaveLength(1011);
    expect(parameterNameProblem(long(1011), P)).toBeUndefined();
    expect(parameterNameProblem(long(1012), P)).toContain('at most 1011');
  });

  it('refuses the prefix itself, empty levels, a trailing slash and characters SSM refuses', () => {
    for (const name of ['/ami-lifecycle/', '/ami-lifecycle//x', '/ami-lifecycle/x/', '/ami-lifecycle/a b', '/ami-lifecycle/ä'])
      expect(parameterNameProblem(name, P), name).toBeDefined();
  });

  it('honours another prefix', () => {
    expect(parsePromoteTag('ssm:/golden/web', '/golden/').targets).toHaveLength(1);
    expect(parsePromoteTag('ssm:/ami-lifecycle/web', '/golden/').problems).toHaveLength(1);
  });
});

describe('the newer-image rule', () => {
  const candidate = { imageId: 'ami-00000000000000002', createdAt: day(2) };

  it('promotes into an empty target, and over an older image', () => {
    expect(decidePromotion(candidate, undefined)).toEqual({ action: 'promote' });
    expect(decidePromotion(candidate, { imageId: 'ami-00000000000000001', createdAt: day(1) })).toEqual({
      action: 'promote',
      replaces: 'ami-00000000000000001',
    });
  });

  it('adds nothing to a target that holds the image already', () => {
    expect(decidePromotion(candidate, { imageId: candidate.imageId, createdAt: day(2) })).toEqual({ action: 'already-holds' });
  });

  it('never goes over a newer image', () => {
    expect(decidePromotion(candidate, { imageId: 'ami-00000000000000003', createdAt: day(3) })).toEqual({
      action: 'holds-newer',
      held: 'ami-00000000000000003',
    });
  });

  it('replaces an image EC2 no longer knows', () => {
    expect(decidePromotion(candidate, { imageId: 'ami-0000000000000000f' }).action).toBe('promote');
  });

  it('is a strict order: of two images, exactly one may go over the other', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 5 }), fc.boolean(), (a, b, swap) => {
        const x = { imageId: 'ami-0000000000000000a', createdAt: day(a) };
        const y = { imageId: 'ami-0000000000000000b', createdAt: day(b) };
        const [c, h] = swap ? [y, x] : [x, y];
        const forward = decidePromotion(c, h).action === 'promote';
        const back = decidePromotion(h, c).action === 'promote';
        expect(forward).not.toBe(back);
      }),
    );
  });
});

describe('the rollback choice', () => {
  const usable = (id: string) => id !== 'ami-bad';

  it('goes to the image the target held before the one it holds now', () => {
    const history = [
      { version: 1, imageId: 'ami-a' },
      { version: 2, imageId: 'ami-b' },
      { version: 3, imageId: 'ami-c' },
    ];
    expect(chooseRollback(history, 'ami-c', usable)).toEqual({ version: 2, imageId: 'ami-b' });
  });

  it('skips versions of the same image and images that can no longer be launched', () => {
    const history = [
      { version: 1, imageId: 'ami-a' },
      { version: 2, imageId: 'ami-bad' },
      { version: 3, imageId: 'ami-c' },
      { version: 4, imageId: 'ami-c' },
    ];
    expect(chooseRollback(history, 'ami-c', usable)).toEqual({ version: 1, imageId: 'ami-a' });
  });

  it('has nothing to go back to after a single promotion', () => {
    expect(chooseRollback([{ version: 1, imageId: 'ami-a' }], 'ami-a', usable)).toBeUndefined();
  });
});

describe('the promoted tag', () => {
  it('adds a target once, and refuses to pass 256 characters', () => {
    expect(withPromotedTarget(undefined, 'lt:web')).toBe('lt:web');
    expect(withPromotedTarget('lt:web', 'lt:web')).toBe('lt:web');
    expect(withPromotedTarget('lt:web', 'ssm:/ami-lifecycle/web')).toBe('lt:web,ssm:/ami-lifecycle/web');
    const full = `lt:${'a'.repeat(249)}`; // 252 characters
    expect(withPromotedTarget(full, 'lt:b')).toBeUndefined(); // 257
    expect(withPromotedTarget(`lt:${'a'.repeat(248)}`, 'lt:b')).toHaveLength(256);
  });
});

const STACK = 'ami-lifecycle-test';
function rotationImage(i: number, promotedTo: string[] = [], status: RotationImage['status'] = 'good'): RotationImage {
  const imageId = `ami-${i.toString(16).padStart(17, '0')}`;
  return {
    imageId,
    name: `${STACK}/web/nightly/${i}`,
    managedBy: STACK,
    lineage: 'web',
    schedule: 'nightly',
    status,
    state: 'available',
    createdAt: day(i),
    retainTag: undefined,
    snapshotIds: [],
    deprecated: false,
    promotedTo,
  };
}
const plan = (images: RotationImage[], depth?: number) =>
  planRotation({
    managedBy: STACK,
    now: day(40),
    timeZone: 'UTC',
    images,
    instancePolicies: new Map(),
    defaultRetention: { kind: 'count', count: 1 },
    inUse: new Map(),
    failedGraceDays: 0,
    promoteRollbackDepth: depth,
  });

describe('rotation keeps what promotion needs', () => {
  it('keeps the image promoted last and the one before it (depth 1), not older ones', () => {
    const images = [1, 2, 3, 4].map((i) => rotationImage(i, ['lt:web']));
    images.push(rotationImage(5));
    const decisions = new Map(plan(images).decisions.map((d) => [d.imageId, d]));
    expect(decisions.get(images[3]!.imageId)!.reasons).toContain('promoted to lt:web');
    expect(decisions.get(images[2]!.imageId)!.reasons).toContain('rollback point 1 of 1 for lt:web');
    expect(decisions.get(images[2]!.imageId)!.action).toBe('keep');
    expect(decisions.get(images[1]!.imageId)!.action).toBe('delete');
    expect(decisions.get(images[0]!.imageId)!.action).toBe('delete');
  });

  it('keeps deeper with a larger depth, and per target', () => {
    const images = [
      rotationImage(1, ['lt:web']),
      rotationImage(2, ['ssm:/ami-lifecycle/web']),
      rotationImage(3, ['lt:web']),
      rotationImage(4),
    ];
    const kept = plan(images, 0)
      .decisions.filter((d) => d.action === 'keep')
      .map((d) => d.imageId);
    expect(kept.sort()).toEqual([images[1]!.imageId, images[2]!.imageId, images[3]!.imageId].sort());
    expect(plan(images, 1).decisions.every((d) => d.action === 'keep')).toBe(true);
  });

  it('property: whatever the policy, the newest depth+1 images promoted to each target are never deleted', () => {
    const arbImage = fc.record({
      targets: fc.subarray(['lt:a', 'lt:b', 'ssm:/ami-lifecycle/c']),
      status: fc.constantFrom<RotationImage['status']>('good', 'good', 'bad', 'failed'),
    });
    fc.assert(
      fc.property(
        fc.array(arbImage, { maxLength: 12 }),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 1, max: 4 }),
        (specs, depth, count) => {
          const images = specs.map((s, i) => rotationImage(i + 1, s.targets, s.status));
          const result = planRotation({
            managedBy: STACK,
            now: day(60),
            timeZone: 'UTC',
            images,
            instancePolicies: new Map(),
            defaultRetention: { kind: 'count', count },
            inUse: new Map(),
            failedGraceDays: 0,
            promoteRollbackDepth: depth,
          });
          const deleted = new Set(result.decisions.filter((d) => d.action === 'delete').map((d) => d.imageId));
          const keeps = promotionKeeps(
            images.map((i) => ({ imageId: i.imageId, createdAt: i.createdAt, lineage: 'web', promotedTo: i.promotedTo ?? [] })),
            depth,
          );
          for (const target of ['lt:a', 'lt:b', 'ssm:/ami-lifecycle/c']) {
            const newest = images
              .filter((i) => i.promotedTo?.includes(target))
              .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
              .slice(0, depth + 1);
            for (const img of newest) {
              expect(deleted.has(img.imageId)).toBe(false);
              expect(keeps.has(img.imageId)).toBe(true);
            }
          }
        },
      ),
    );
  });
});
