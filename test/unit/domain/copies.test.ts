import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { copiedTags, copyRegions, decideBake, planBake, type RunContext } from '../../../shared/domain/bake.js';
import {
  AWS_MAX_CONCURRENT_COPIES,
  copyClientToken,
  copyNotMadeHere,
  copySources,
  copyTags,
  destinationRegions,
  MAX_CLIENT_TOKEN,
  planRegion,
  type CopyPlanInput,
  type CopyView,
} from '../../../shared/domain/copies.js';
import type { ImageView } from '../../../shared/domain/image-status.js';
import { CopyToSpec, parseInstancePolicy, TAG } from '../../../shared/domain/tags.js';
import { bakeRequest } from '../fakes.js';

const STACK = 'ami-lifecycle-test';
const HOME = 'us-east-1';
const DR = 'eu-west-1';

let n = 0;
const hex = (i: number) => i.toString(16).padStart(17, '0');

/** A good source image of the home region: lineage, created at minute `minute`, copied to `regions`. */
function source(lineage: string, minute: number, regions = DR, more: Partial<ImageView> = {}): ImageView {
  const id = `ami-${hex(++n)}`;
  const instance = `i-${hex(n)}`;
  return {
    imageId: id,
    name: `${STACK}-${lineage}-${minute}`,
    state: 'available',
    creationDate: new Date(Date.UTC(2026, 10, 26, 3, minute)).toISOString(),
    tags: {
      [TAG.managedBy]: STACK,
      [TAG.lineage]: lineage,
      [TAG.sourceInstance]: instance,
      [TAG.status]: 'good',
      [TAG.copyTo]: regions,
      Team: 'web',
    },
    snapshotIds: [`snap-${hex(n)}`],
    sourceInstanceId: instance,
    ...more,
  };
}

/** A copy in the DR region of `src`, in this state with this status tag. */
function copyOf(src: ImageView, state = 'pending', status = 'pending', more: Partial<CopyView> = {}): CopyView {
  const id = `ami-${hex(++n + 1_000_000)}`;
  return {
    imageId: id,
    name: src.name,
    state,
    tags: { ...copyTags(src, HOME), [TAG.status]: status },
    snapshotIds: [`snap-${hex(n + 1_000_000)}`],
    sourceImageId: src.imageId,
    sourceImageRegion: HOME,
    ...more,
  };
}

const input = (sources: ImageView[], copies: CopyView[] = [], inFlight = 0, maxConcurrent = 100): CopyPlanInput => ({
  managedBy: STACK,
  homeRegion: HOME,
  sources,
  regions: new Map([[DR, { copies, inFlight }]]),
  maxConcurrent,
});

describe('copy-to and copy-retain on an instance', () => {
  it('reads a region list (sorted, without repeats), none, and refuses a malformed one whole', () => {
    expect(v.parse(CopyToSpec, ' us-west-2,eu-west-1, us-west-2 ')).toEqual(['eu-west-1', 'us-west-2']);
    expect(v.parse(CopyToSpec, 'none')).toEqual([]);
    expect(v.parse(CopyToSpec, '')).toEqual([]);
    expect(v.safeParse(CopyToSpec, 'eu-west-1,Europe').success).toBe(false);
    expect(v.parse(CopyToSpec, 'us-gov-west-1')).toEqual(['us-gov-west-1']);
  });

  it('reports bad values as problems and still bakes the instance', () => {
    // Act
    const policy = parseInstancePolicy({ [TAG.bake]: 'nightly', [TAG.copyTo]: 'eu-west-1,mars', [TAG.copyRetain]: 'forever' }, ['nightly']);

    // Assess
    expect(policy.bakeable).toBe(true);
    expect(policy.copyTo).toEqual([]);
    expect(policy.copyRetain).toBeUndefined();
    expect(policy.problems.map((p) => p.tag)).toEqual([TAG.copyTo, TAG.copyRetain]);
  });

  it('takes copy-retain as retain takes it', () => {
    const policy = parseInstancePolicy({ [TAG.bake]: 'nightly', [TAG.copyRetain]: ' daily=7,weekly=4 ' }, ['nightly']);
    expect(policy.copyRetain).toBe('daily=7,weekly=4');
    expect(policy.problems).toEqual([]);
  });
});

describe('the bake resolves copy-to and writes it on the image', () => {
  const run = (more: Partial<RunContext> = {}): RunContext => ({
    managedBy: STACK,
    schedule: 'nightly',
    slot: '2026-11-26',
    knownSchedules: ['nightly'],
    now: new Date('2026-11-26T03:00:00Z'),
    homeRegion: HOME,
    ...more,
  });
  const instance = (tags: Record<string, string>) => ({ instanceId: 'i-0123456789abcdef0', state: 'running', tags });

  it("takes the instance's copy-to over the stage's copyTo, and the stage's when it has none", () => {
    expect(decideBake(instance({ [TAG.bake]: 'nightly', [TAG.copyTo]: 'us-west-2' }), run({ copyTo: [DR] })).request?.copyTo).toEqual([
      'us-west-2',
    ]);
    expect(decideBake(instance({ [TAG.bake]: 'nightly' }), run({ copyTo: [DR] })).request?.copyTo).toEqual([DR]);
    expect(decideBake(instance({ [TAG.bake]: 'nightly', [TAG.copyTo]: 'none' }), run({ copyTo: [DR] })).request).not.toHaveProperty(
      'copyTo',
    );
  });

  it('refuses the home region as a PolicyInvalid problem, keeps the other regions, and bakes', () => {
    // Act
    const decision = decideBake(instance({ [TAG.bake]: 'nightly', [TAG.copyTo]: `${HOME},${DR}` }), run());

    // Assess
    expect(decision.request?.copyTo).toEqual([DR]);
    expect(decision.policyInvalid?.detail).toMatchObject({ bakeSkipped: false, problems: [expect.objectContaining({ tag: TAG.copyTo })] });
    expect(copyRegions(undefined, undefined, { copyTo: [HOME], homeRegion: HOME }).regions).toEqual([]);
  });

  it('a bad copy-to copies nowhere, reported, and the image is still made', () => {
    const decision = decideBake(instance({ [TAG.bake]: 'nightly', [TAG.copyTo]: 'mars' }), run({ copyTo: [DR] }));
    expect(decision.request).toBeDefined();
    expect(decision.request).not.toHaveProperty('copyTo');
    expect(decision.policyInvalid).toBeDefined();
  });

  it('stamps copy-to and copy-retain on the image, as verify is', () => {
    const plan = planBake(bakeRequest({ copyTo: [DR, 'us-west-2'], copyRetain: '3' }));
    expect(plan.image.tags).toMatchObject({ [TAG.copyTo]: `${DR},us-west-2`, [TAG.copyRetain]: '3' });
    expect(planBake(bakeRequest({})).image.tags).not.toHaveProperty(TAG.copyTo);
    // The service's keys are never copied from the instance.
    expect(copiedTags({ [TAG.copyTo]: DR, Team: 'a' }, { kind: 'all' })).toEqual({ Team: 'a' });
  });
});

describe('planRegion', () => {
  it('starts the wanted copies oldest source first, up to the bound less what is in flight; queues the rest in order', () => {
    // Prepare
    const sources = [source('c', 30), source('a', 10), source('d', 40), source('b', 20)];

    // Act
    const plan = planRegion(DR, input(sources, [], 1, 3));

    // Assess
    expect(plan.start.map((s) => s.lineage)).toEqual(['a', 'b']);
    expect(plan.queued.map((s) => s.lineage)).toEqual(['c', 'd']);
  });

  it('wants only the newest good source of a lineage: an older one without a copy is superseded', () => {
    const old = source('web', 1);
    const newer = source('web', 2);
    expect(planRegion(DR, input([old, newer])).start.map((s) => s.sourceImageId)).toEqual([newer.imageId]);
    // Its copy exists (any state, even failed): nothing more for that lineage.
    expect(planRegion(DR, input([old, newer], [copyOf(newer, 'failed', 'failed')])).start).toEqual([]);
  });

  it('never copies into the home region, nor a source that does not name the region', () => {
    expect(planRegion(HOME, { ...input([source('web', 1, HOME)]), regions: new Map([[HOME, { copies: [], inFlight: 0 }]]) }).start).toEqual(
      [],
    );
    expect(planRegion(DR, input([source('web', 1, 'us-west-2')])).start).toEqual([]);
    expect(destinationRegions([source('a', 1, `${HOME},${DR}`)], HOME)).toEqual([DR]);
  });

  it('settles pending copies from EC2: available -> good, failed -> failed; leaves settled ones', () => {
    // Prepare
    const [a, b, c] = [source('a', 1), source('b', 2), source('c', 3)];
    const copies = [
      copyOf(a, 'available'),
      copyOf(b, 'failed', 'pending', { stateReason: 'snapshot copy failed' }),
      copyOf(c, 'available', 'good'),
    ];

    // Act
    const plan = planRegion(DR, input([a, b, c], copies));

    // Assess
    expect(plan.settle.map((s) => [s.sourceImageId, s.to, s.reason])).toEqual([
      [a.imageId, 'good', undefined],
      [b.imageId, 'failed', 'snapshot copy failed'],
    ]);
    expect(plan.start).toEqual([]);
  });

  it("reports a copy with the stack's tags that EC2 does not record as copied from its source-image, and never touches it", () => {
    // Prepare
    const a = source('a', 1);
    const forged = copyOf(a, 'available', 'pending', { sourceImageId: 'ami-0fffffffffffffff0' });

    // Act
    const plan = planRegion(DR, input([a], [forged]));

    // Assess
    expect(plan.notOurs).toEqual([{ imageId: forged.imageId, reason: expect.stringContaining('ami-0fffffffffffffff0') }]);
    expect(plan.settle).toEqual([]);
    expect(plan.start.map((s) => s.sourceImageId)).toEqual([a.imageId]);
    expect(copyNotMadeHere({ ...forged, sourceImageId: a.imageId, sourceImageRegion: 'ap-south-1' })).toContain('ap-south-1');
  });

  it('copies the source tags but its status, adds where it comes from, within 50 tags; a client token within 64 characters', () => {
    // Prepare
    const many = Object.fromEntries(Array.from({ length: 48 }, (_, i) => [`k${String(i).padStart(2, '0')}`, 'v']));
    const src = source('web', 1, DR, {});
    src.tags = { ...src.tags, ...many, 'aws:cloudformation:stack-name': 'x' };

    // Act
    const spec = planRegion(DR, { ...input([src]), kmsKeyIds: new Map([[DR, 'arn:aws:kms:eu-west-1:1:key/k']]) }).start[0]!;

    // Assess
    expect(spec.tags).toMatchObject({
      [TAG.status]: 'pending',
      [TAG.sourceImage]: src.imageId,
      [TAG.sourceRegion]: HOME,
      [TAG.lineage]: 'web',
    });
    expect(Object.keys(spec.tags)).toHaveLength(50);
    expect(Object.keys(spec.tags).some((k) => k.startsWith('aws:'))).toBe(false);
    expect(spec.kmsKeyId).toBe('arn:aws:kms:eu-west-1:1:key/k');
    expect(spec.clientToken.length).toBeLessThanOrEqual(MAX_CLIENT_TOKEN);
    expect(copyClientToken(src.imageId)).toBe(spec.clientToken);
  });

  it("copies only the stack's good images that EC2 records as its bakes", () => {
    const ok = source('a', 1);
    const foreign = source('b', 1, DR, { sourceInstanceId: undefined });
    const pending = source('c', 1);
    pending.tags = { ...pending.tags, [TAG.status]: 'pending' };
    expect(copySources([ok, foreign, pending], STACK)).toEqual([ok]);
  });
});

describe('planRegion over many passes (property)', () => {
  /** A pass: EC2 finishes some copies, others start copies of their own, the reconcile plans and its starts land. */
  const passArb = fc.record({
    finish: fc.array(fc.boolean(), { maxLength: 40 }),
    fail: fc.array(fc.boolean(), { maxLength: 40 }),
    foreign: fc.nat(4),
    newSources: fc.nat(3),
  });

  it('never has more in flight than the bound (with what others had already), never two copies of one source in a region', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(passArb, { minLength: 1, maxLength: 12 }), (bound, passes) => {
        const sources: ImageView[] = [];
        const copies: CopyView[] = [];
        let foreignInFlight = 0;
        let minute = 0;
        for (const pass of passes) {
          for (let i = 0; i < pass.newSources; i++) sources.push(source(`l${i % 3}`, ++minute));
          // EC2 finishes (or fails) some of our pending copies; others' copies come and go.
          copies.forEach((c, i) => {
            if (c.state === 'pending' && pass.finish[i]) c.state = pass.fail[i] ? 'failed' : 'available';
          });
          foreignInFlight = pass.foreign;
          const inFlight = foreignInFlight + copies.filter((c) => c.state === 'pending').length;
          const plan = planRegion(DR, input(sources, copies, inFlight, bound));
          for (const s of plan.settle) s.copy.tags = { ...s.copy.tags, [TAG.status]: s.to };
          for (const spec of plan.start) copies.push(copyOf(sources.find((s) => s.imageId === spec.sourceImageId)!));
          const after = foreignInFlight + copies.filter((c) => c.state === 'pending').length;
          // Starts only into room under the bound: never past it, nor past what was in flight already.
          expect(plan.start.length).toBeLessThanOrEqual(Math.max(0, bound - inFlight));
          expect(after).toBeLessThanOrEqual(Math.max(bound, inFlight));
          expect(after).toBeLessThanOrEqual(Math.max(AWS_MAX_CONCURRENT_COPIES, inFlight));
          const bySource = copies.map((c) => c.sourceImageId);
          expect(new Set(bySource).size).toBe(bySource.length);
        }
      }),
      { numRuns: 200 },
    );
  });
});
