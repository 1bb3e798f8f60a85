/**
 * Stale images (shared/domain/stale.ts): the filters, the candidates, the saving, the adoption plan,
 * and the property that matters: over random accounts, an image with any in-use reason is never a
 * candidate, never adopted, and never deleted by the rotation that follows the adoption.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { notMadeHere, type ImageView } from '../../../shared/domain/image-status.js';
import { planRotation } from '../../../shared/domain/retention.js';
import {
  adoptedLineage,
  adoptedHere,
  assessStale,
  namePattern,
  parseAge,
  parseTagFilters,
  planAdoption,
  USE_KINDS,
  type ImageUse,
  type StaleFilters,
  type StaleImageInput,
  type StaleInput,
} from '../../../shared/domain/stale.js';
import { TAG } from '../../../shared/domain/tags.js';
import { toRotationImage } from '../../../shared/use-cases/rotate-images.js';

const STACK = 'ami-lifecycle-test';
const NOW = new Date('2026-11-26T01:00:00.000Z');
const DAY = 86_400_000;
const GIB = 2 ** 30;
const daysAgo = (n: number) => new Date(NOW.getTime() - n * DAY).toISOString();

const img = (imageId: string, over: Partial<StaleImageInput> = {}): StaleImageInput => ({
  imageId,
  name: `packer-web-${imageId.slice(4)}`,
  state: 'available',
  creationDate: daysAgo(200),
  tags: {},
  snapshotIds: [`snap-${imageId.slice(4)}`],
  public: false,
  ...over,
});

const FILTERS: StaleFilters = { olderThanDays: 90, tags: {}, includeShared: false };

function input(images: StaleImageInput[], more: Partial<StaleInput> = {}): StaleInput {
  return {
    managedBy: STACK,
    now: NOW,
    images,
    snapshotSizes: new Map(images.flatMap((i) => i.snapshotIds.map((s) => [s, 8 * GIB] as const))),
    uses: new Map(),
    filters: FILTERS,
    pricePerGbMonth: 0.05,
    ...more,
  };
}

describe('the filters', () => {
  it("reads names with EC2's wildcards, everything else literal", () => {
    expect(namePattern('packer-*').test('packer-web-1')).toBe(true);
    expect(namePattern('packer-*').test('xpacker-web')).toBe(false);
    expect(namePattern('web-?').test('web-1')).toBe(true);
    expect(namePattern('web-?').test('web-12')).toBe(false);
    expect(namePattern('a.b(c)').test('a.b(c)')).toBe(true);
    expect(namePattern('a.b').test('axb')).toBe(false);
  });

  it('reads ages in days or weeks, and refuses anything else', () => {
    expect(parseAge('90d')).toBe(90);
    expect(parseAge('12w')).toBe(84);
    expect(parseAge('30')).toBe(30);
    expect(() => parseAge('3 months')).toThrow(/not an age/);
    expect(() => parseAge('-1d')).toThrow(/not an age/);
  });

  it('reads tag filters as key=value, the value keeping any further =', () => {
    expect(parseTagFilters(['team=web', 'k=a=b'])).toEqual({ team: 'web', k: 'a=b' });
    expect(() => parseTagFilters(['=x'])).toThrow(/key=value/);
    expect(() => parseTagFilters(['novalue'])).toThrow(/key=value/);
  });
});

describe('assessStale', () => {
  it('makes a candidate only of an unmanaged, available, old, unused image that matches', () => {
    const images = [
      img('ami-00000001'),
      img('ami-00000002', { creationDate: daysAgo(10) }),
      img('ami-00000003', { lastLaunchedTime: daysAgo(5) }),
      img('ami-00000004', { tags: { [TAG.managedBy]: STACK } }),
      img('ami-00000005', { tags: { [TAG.managedBy]: 'another-stack' } }),
      img('ami-00000006', { state: 'disabled' }),
      img('ami-00000007', { public: true }),
      img('ami-00000008', { name: 'hand-made' }),
      img('ami-00000009', { tags: { team: 'api' } }),
    ];
    const uses = new Map<string, ImageUse[]>([['ami-00000001', []]]);
    const report = assessStale(input(images, { uses, filters: { ...FILTERS, name: 'packer-*', tags: { team: 'api' } } }));
    const why = Object.fromEntries(report.entries.map((e) => [e.imageId, e.notCandidate]));
    expect(report.entries.filter((e) => e.candidate).map((e) => e.imageId)).toEqual(['ami-00000009']);
    expect(why['ami-00000002']).toContain('created 10d ago, not 90d');
    expect(why['ami-00000003']).toContain('last launched 5d ago, not 90d');
    expect(why['ami-00000004']!.join()).toContain("carries this stack's managed-by tag but is not its own (EC2 records no instance");
    expect(why['ami-00000005']!.join()).toContain('another stack (another-stack)');
    expect(why['ami-00000006']).toContain('state disabled');
    expect(why['ami-00000007']).toContain('in use: public: anyone may launch it');
    expect(why['ami-00000008']).toContain('name does not match packer-*');
  });

  it("says an adopted image is rotation's, and a person's image with the stack's tag is left alone", () => {
    const adopted = img('ami-00000001', { tags: { [TAG.managedBy]: STACK, [TAG.adopted]: `ami-00000001@${NOW.toISOString()}` } });
    const persons = img('ami-00000002', { tags: { [TAG.managedBy]: STACK }, sourceInstanceId: 'i-0person' });
    const [a, p] = assessStale(input([adopted, persons])).entries;
    expect(a!.notCandidate).toEqual([`this stack's (${STACK}): rotation's to decide`]);
    expect(p!.notCandidate).toEqual([
      "carries this stack's managed-by tag but is not its own (EC2 records it as made from i-0person, not from the instance its source-instance tag names): left alone",
    ]);
  });

  it('takes a shared image only when the operator includes shared ones, a public one never', () => {
    const images = [img('ami-00000001'), img('ami-00000002', { public: true })];
    const uses = new Map<string, ImageUse[]>([
      ['ami-00000001', [{ kind: 'shared', resource: '111122223333', detail: 'shared with 111122223333' }]],
    ]);
    expect(assessStale(input(images, { uses })).candidates).toBe(0);
    const included = assessStale(input(images, { uses, filters: { ...FILTERS, includeShared: true } }));
    expect(included.entries.map((e) => e.candidate)).toEqual([true, false]);
  });

  it('counts the snapshots deleting the candidates frees: none a kept image also uses, each once', () => {
    const images = [
      img('ami-00000001', { snapshotIds: ['snap-a', 'snap-shared'] }),
      img('ami-00000002', { snapshotIds: ['snap-shared'] }),
      img('ami-00000003', { snapshotIds: ['snap-kept'] }),
    ];
    const uses = new Map<string, ImageUse[]>([['ami-00000003', [{ kind: 'instance', resource: 'i-1', detail: 'instance i-1 (running)' }]]]);
    const sizes = new Map([
      ['snap-a', 10 * GIB],
      ['snap-shared', 20 * GIB],
      ['snap-kept', 30 * GIB],
    ]);
    const report = assessStale(input(images, { uses, snapshotSizes: sizes }));
    expect(report.candidates).toBe(2);
    expect(report.bytesToFree).toBe(30 * GIB);
    expect(report.monthlySaving).toBe(1.5);
  });
});

describe('adoption', () => {
  it('names the lineage after the name without its numbered parts', () => {
    expect(adoptedLineage('packer-web-1700000000')).toBe('adopted/packer-web');
    expect(adoptedLineage('web 2024-01-02')).toBe('adopted/web');
    expect(adoptedLineage('app_v2_20240101')).toBe('adopted/app');
    expect(adoptedLineage('1234')).toBe('adopted/1234');
    expect(adoptedLineage('--weird!name')).toBe('adopted/weird-name');
  });

  it('plans the tags for the candidates only, with the lineage and retention given', () => {
    const report = assessStale(input([img('ami-00000001'), img('ami-00000002', { creationDate: daysAgo(1) })]));
    const steps = planAdoption(report, STACK, NOW, { retain: '3' });
    expect(steps).toEqual([
      {
        imageId: 'ami-00000001',
        name: 'packer-web-00000001',
        snapshotIds: ['snap-00000001'],
        lineage: 'adopted/packer-web',
        tags: {
          [TAG.managedBy]: STACK,
          [TAG.lineage]: 'adopted/packer-web',
          [TAG.status]: 'good',
          [TAG.adopted]: `ami-00000001@${NOW.toISOString()}`,
          [TAG.retain]: '3',
        },
      },
    ]);
    expect(planAdoption(report, STACK, NOW, { lineage: 'legacy' })[0]!.lineage).toBe('legacy');
    expect(() => planAdoption(report, STACK, NOW, { lineage: 'a/b/c' })).toThrow(/not a lineage/);
  });

  it("makes an adopted image the stack's, but not a copy that carries another image's record", () => {
    const view = (imageId: string, tags: Record<string, string>, sourceInstanceId?: string): ImageView => ({
      imageId,
      name: 'x',
      state: 'available',
      tags: { [TAG.managedBy]: STACK, ...tags },
      snapshotIds: [],
      ...(sourceInstanceId ? { sourceInstanceId } : {}),
    });
    const record = `ami-00000001@${NOW.toISOString()}`;
    expect(notMadeHere(view('ami-00000001', { [TAG.adopted]: record }, 'i-0packer'))).toBeUndefined();
    expect(adoptedHere({ imageId: 'ami-00000001', tags: { [TAG.adopted]: record } })).toBe(true);
    expect(notMadeHere(view('ami-00000002', { [TAG.adopted]: record }))).toMatch(/names another image \(ami-00000001\)/);
    // A person's image with only our managed-by tag is still not ours.
    expect(notMadeHere(view('ami-00000003', {}, 'i-0person'))).toMatch(/EC2 records it as made from i-0person/);
  });
});

// ---- the property -------------------------------------------------------------------------------

const arbUse: fc.Arbitrary<ImageUse> = fc
  .record({ kind: fc.constantFrom(...USE_KINDS), n: fc.integer({ min: 0, max: 5 }) })
  .map(({ kind, n }) => ({ kind, resource: `${kind}-${n}`, detail: `${kind} ${n}` }));

const arbAccount = fc
  .array(
    fc.record({
      ageDays: fc.integer({ min: 0, max: 400 }),
      launchedDays: fc.option(fc.integer({ min: 0, max: 400 }), { nil: undefined }),
      owner: fc.constantFrom('none', 'none', 'none', 'adopted', 'person', 'other'),
      state: fc.constantFrom('available', 'available', 'available', 'disabled', 'pending'),
      public: fc.boolean(),
      uses: fc.oneof({ weight: 1, arbitrary: fc.constant<ImageUse[]>([]) }, { weight: 2, arbitrary: fc.array(arbUse, { maxLength: 3 }) }),
      retain: fc.constantFrom(undefined, '1', '2', '3d'),
    }),
    { minLength: 1, maxLength: 25 },
  )
  .map((seeds) =>
    seeds.map((s, i) => {
      const imageId = `ami-${String(i).padStart(8, '0')}`;
      const tags: Record<string, string> =
        s.owner === 'adopted'
          ? { [TAG.managedBy]: STACK, [TAG.lineage]: 'adopted/packer', [TAG.status]: 'good', [TAG.adopted]: `${imageId}@${daysAgo(300)}` }
          : s.owner === 'person'
            ? { [TAG.managedBy]: STACK, [TAG.lineage]: 'adopted/packer', [TAG.status]: 'good' }
            : s.owner === 'other'
              ? { [TAG.managedBy]: 'other-stack' }
              : {};
      return {
        image: img(imageId, {
          creationDate: daysAgo(s.ageDays),
          lastLaunchedTime: s.launchedDays === undefined ? undefined : daysAgo(s.launchedDays),
          state: s.state,
          public: s.public,
          tags,
          // Some snapshots shared between images, as AWS allows.
          snapshotIds: [`snap-${i % 7}`],
        }),
        uses: s.uses,
        retain: s.retain,
      };
    }),
  );

describe('over random accounts', () => {
  it('an image with any in-use reason is never a candidate, never adopted, never deleted by the next rotation', () => {
    fc.assert(
      fc.property(
        arbAccount,
        fc.boolean(),
        fc.integer({ min: 0, max: 200 }),
        fc.constantFrom(undefined, '1', '2'),
        (account, includeShared, olderThanDays, retain) => {
          const uses = new Map(account.map((a) => [a.image.imageId, a.uses]));
          const report = assessStale(
            input(
              account.map((a) => a.image),
              { uses, filters: { olderThanDays, tags: {}, includeShared } },
            ),
          );
          // What blocks: every use but a share the operator waived; a public image always.
          const blocked = new Set(
            account
              .filter((a) => a.image.public || a.uses.some((u) => !(u.kind === 'shared' && includeShared)))
              .map((a) => a.image.imageId),
          );
          for (const e of report.entries) if (blocked.has(e.imageId)) expect(e.candidate).toBe(false);
          for (const e of report.entries) if (e.candidate) expect(e.ownership).toBe('unmanaged');

          const steps = planAdoption(report, STACK, NOW, { retain });
          for (const s of steps) expect(blocked.has(s.imageId)).toBe(false);

          // The next rotation: the account with the adoption's tags on, every use as rotation sees it.
          const adopted = new Map(steps.map((s) => [s.imageId, s.tags]));
          const views: ImageView[] = account.map(({ image }) => ({
            imageId: image.imageId,
            name: image.name,
            state: image.state,
            creationDate: image.creationDate,
            tags: { ...image.tags, ...(adopted.get(image.imageId) ?? {}) },
            snapshotIds: image.snapshotIds,
          }));
          const inUse = new Map(
            account
              .filter((a) => a.uses.length > 0 || a.image.public)
              .map((a) => [a.image.imageId, [...a.uses.map((u) => u.detail), ...(a.image.public ? ['public'] : [])]]),
          );
          const plan = planRotation({
            managedBy: STACK,
            now: NOW,
            timeZone: 'UTC',
            images: views.filter((v) => v.tags[TAG.managedBy] === STACK).map(toRotationImage),
            instancePolicies: new Map(),
            defaultRetention: { kind: 'count', count: 1 },
            inUse,
            failedGraceDays: 2,
          });
          for (const d of plan.decisions) {
            if (d.action === 'delete') {
              expect(inUse.has(d.imageId)).toBe(false);
              // Only images the stack owns by provenance: adopted ones here (no bakes in this account).
              expect(views.find((v) => v.imageId === d.imageId)!.tags[TAG.adopted]).toMatch(new RegExp(`^${d.imageId}@`));
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
