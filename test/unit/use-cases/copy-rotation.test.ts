/**
 * Issue 17, part B: the daily rotation rotates the service's copies in each destination region
 * with the same planner, by copy-retain else the source's retention, under the same safety rules,
 * and only copies whose provenance EC2 records. Two in-memory accounts stand for two regions.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TAG } from '../../../shared/domain/tags.js';
import type { RotationEc2 } from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { planRotationRun, rotateImages } from '../../../shared/use-cases/rotate-images.js';
import type { RotationSettings } from '../../../shared/use-cases/settings.js';
import { instanceIdOf, rotationEc2, STACK, world, type FakeImage, type World } from '../fakes.js';

const NOW = new Date('2026-11-26T06:00:00.000Z');
const DAY = 86_400_000;
const HOME = 'us-east-1';
const DR = 'eu-west-1';
const DR2 = 'ap-southeast-2';

const rotationWorld = (rotation: Partial<RotationSettings> = {}): World<RotationEc2> => world(rotationEc2, { now: NOW, rotation });

/** A good home image of the lineage baked `daysAgo` nights ago (03:00). */
function source(w: World, lineage: string, daysAgo: number, tags: Record<string, string> = {}): FakeImage {
  const created = new Date(Date.UTC(2026, 10, 26, 3) - daysAgo * DAY);
  const slot = created.toISOString().slice(0, 10);
  return w.account.addImage({
    name: `${STACK}/${lineage}/nightly/${slot}`,
    creationDate: created.toISOString(),
    tags: {
      [TAG.managedBy]: STACK,
      [TAG.lineage]: lineage,
      [TAG.schedule]: 'nightly',
      [TAG.slot]: slot,
      [TAG.status]: 'good',
      [TAG.sourceInstance]: 'i-0aaaaaaaaaaaaaaaa',
      [TAG.copyTo]: DR,
      ...tags,
    },
  });
}

interface CopyOpts {
  status?: string;
  state?: string;
  /** EC2's record of the source, when it differs from the tag (a person's copy). */
  recordedSource?: string;
  sourceRegion?: string;
  tags?: Record<string, string>;
}

/** The service's copy of `of` in the region's account, an hour after its source; good unless told. */
function copyOf(r: World, of: FakeImage, opts: CopyOpts = {}): FakeImage {
  const { [TAG.status]: _status, ...userTags } = of.tags;
  return r.account.addImage({
    name: of.name,
    state: opts.state ?? 'available',
    creationDate: new Date(new Date(of.creationDate).getTime() + 3_600_000).toISOString(),
    sourceInstanceId: '',
    sourceImageId: opts.recordedSource ?? of.imageId,
    sourceImageRegion: HOME,
    tags: {
      ...userTags,
      [TAG.status]: opts.status ?? 'good',
      [TAG.sourceImage]: of.imageId,
      [TAG.sourceRegion]: opts.sourceRegion ?? HOME,
      ...opts.tags,
    },
  });
}

/** The home world's deps with copies: the stage's regions, and each region's in-memory EC2. */
function withCopies(home: World<RotationEc2>, regions: Record<string, World<RotationEc2>>, stageRegions: string[] = []) {
  return {
    ...home.deps,
    copyRegions: {
      homeRegion: HOME,
      regions: stageRegions,
      ec2In: (region: string) => {
        const r = regions[region];
        if (!r) throw new Error(`no fake region ${region}`);
        return r.deps.ec2;
      },
      launchConfigurationsIn: (region: string) => {
        const r = regions[region];
        if (!r) throw new Error(`no fake region ${region}`);
        return r.deps.launchConfigurations;
      },
    },
  };
}

const ids = (images: FakeImage[]) => images.map((i) => i.imageId).sort();
const left = (r: World) => [...r.account.images.keys()].sort();

describe('copy rotation', () => {
  it('keeps the copies copy-retain asks for and deletes the older ones with their snapshots, one event per region', async () => {
    // Prepare: five nights at home, each copied; copy-retain=2 (the home keeps 7)
    const home = rotationWorld();
    const dr = rotationWorld();
    const sources = [4, 3, 2, 1, 0].map((d) => source(home, 'web', d, { [TAG.copyRetain]: '2' }));
    const copies = sources.map((s) => copyOf(dr, s));

    // Act
    const report = await rotateImages({}, withCopies(home, { [DR]: dr }));

    // Assess
    expect(left(dr)).toEqual(ids(copies.slice(3)));
    for (const id of copies.slice(0, 3).flatMap((c) => c.snapshotIds)) expect(dr.account.snapshotTags.has(id)).toBe(false);
    expect(left(home)).toEqual(ids(sources));
    expect(report.region).toBe(HOME);
    expect(report.copies).toHaveLength(1);
    expect(report.copies![0]).toMatchObject({ region: DR, sourceRegion: HOME, lineages: 1, done: { deleted: 3 }, failures: [] });
    const events = home.bus.ofType('ImagesRotated');
    expect(events.map((e) => [e.region, e.sourceRegion, e.done.deleted])).toEqual([
      [HOME, undefined, 0],
      [DR, HOME, 3],
    ]);
    expect(dr.bus.published).toEqual([]);
  });

  it('keeps a copy a launch configuration of the destination region names, and reads no home configuration for it', async () => {
    // Prepare: copy-retain=1 would delete the two older copies; a launch configuration in R names the oldest,
    // and one at home names its source (image ids are regional: the home one protects nothing in R)
    const home = rotationWorld();
    const dr = rotationWorld();
    const sources = [2, 1, 0].map((d) => source(home, 'web', d, { [TAG.copyRetain]: '1' }));
    const copies = sources.map((s) => copyOf(dr, s));
    dr.launchConfigurations.push({ name: 'web-asg-lc', imageId: copies[0]!.imageId });
    home.launchConfigurations.push({ name: 'home-lc', imageId: copies[1]!.imageId });

    // Act
    await rotateImages({}, withCopies(home, { [DR]: dr }));

    // Assess: the one in use in R stays, the other older copy goes, the newest stays
    expect(left(dr)).toEqual(ids([copies[0]!, copies[2]!]));
  });

  it("without copy-retain, keeps the copies by the source's retention as the home rotation reads it (the instance's tag)", async () => {
    // Prepare: the instance says retain=3; its images carry no retain tag
    const home = rotationWorld();
    const dr = rotationWorld();
    home.account.addInstance(instanceIdOf(1), { [TAG.bake]: 'nightly', [TAG.lineage]: 'web', [TAG.retain]: '3' });
    const copies = [5, 4, 3, 2, 1, 0].map((d) => copyOf(dr, source(home, 'web', d)));

    // Act
    const report = await rotateImages({}, withCopies(home, { [DR]: dr }));

    // Assess: the home keeps 3 of 6 too, and the copies follow the same policy
    expect(left(dr)).toEqual(ids(copies.slice(3)));
    expect(report.done.deleted).toBe(3);
    const policies = home.log.records.filter((r) => r.message === 'lineage policy').map((r) => r.extra[0]);
    expect(policies).toContainEqual({ region: DR, lineage: 'web', policy: 'keep 3', source: 'source' });
  });

  it('a lineage the home region no longer has keeps its copies by their retain tag, else the default', async () => {
    // Prepare: the home images are gone (another account took the region down, say); the copies say retain=2
    const home = rotationWorld();
    const dr = rotationWorld();
    const gone = [3, 2, 1, 0].map((d) => source(home, 'old', d, { [TAG.retain]: '2' }));
    const copies = gone.map((s) => copyOf(dr, s));
    for (const s of gone) home.account.images.delete(s.imageId);

    // Act
    await rotateImages({}, withCopies(home, { [DR]: dr }, [DR]));

    // Assess
    expect(left(dr)).toEqual(ids(copies.slice(2)));
  });

  it('never deletes the newest good copy, one in use in the region, or a failed one within its grace', async () => {
    // Prepare: copy-retain=1; the newest copy is pending, the next good; an old one runs an
    // instance there; a failed copy of yesterday (grace 2 days) and one of last week
    const home = rotationWorld();
    const dr = rotationWorld();
    const sources = [7, 5, 4, 1, 0].map((d) => source(home, 'web', d, { [TAG.copyRetain]: '1' }));
    const [lastWeek, inUse, old, failedYesterday, pending] = [
      copyOf(dr, sources[0]!, { status: 'failed', state: 'failed' }),
      copyOf(dr, sources[1]!),
      copyOf(dr, sources[2]!),
      copyOf(dr, sources[3]!, { status: 'failed', state: 'failed' }),
      copyOf(dr, sources[4]!, { status: 'pending', state: 'pending' }),
    ];
    dr.account.addInstance(instanceIdOf(9), {}, 'stopped', 1, inUse!.imageId);

    // Act
    const report = await rotateImages({}, withCopies(home, { [DR]: dr }));

    // Assess: old is the newest good copy (pending is not good yet); lastWeek is past its grace
    expect(left(dr)).toEqual(ids([inUse!, old!, failedYesterday!, pending!]));
    expect(report.copies![0]!.done.deleted).toBe(1);
    expect(lastWeek).toBeDefined();
  });

  it("never touches a person's copy that carries the service's tags, and reports it; ignores copies of another home region", async () => {
    // Prepare: copy-retain=1; a person copied an old copy, tags and all (EC2 records that copy as its source)
    const home = rotationWorld();
    const dr = rotationWorld();
    const sources = [3, 2, 1, 0].map((d) => source(home, 'web', d, { [TAG.copyRetain]: '1' }));
    const copies = sources.map((s) => copyOf(dr, s));
    const person = copyOf(dr, sources[0]!, { recordedSource: 'ami-0c0b1ed0ffa11e000' });
    const otherHome = copyOf(dr, sources[0]!, { sourceRegion: 'us-west-2' });

    // Act
    const report = await rotateImages({}, withCopies(home, { [DR]: dr }));

    // Assess
    expect(left(dr)).toEqual(ids([copies[3]!, person, otherHome]));
    expect(report.copies![0]).toMatchObject({ notOurs: [person.imageId], imagesSeen: 5 });
    expect(home.bus.ofType('ImagesRotated')[1]!.notOurs).toEqual([person.imageId]);
  });

  it('a dry run plans the deletions in every region and makes none', async () => {
    const home = rotationWorld();
    const dr = rotationWorld();
    const copies = [3, 2, 1, 0].map((d) => copyOf(dr, source(home, 'web', d, { [TAG.copyRetain]: '1' })));

    const report = await rotateImages({ dryRun: true }, withCopies(home, { [DR]: dr }));

    expect(left(dr)).toEqual(ids(copies));
    expect(report.copies![0]).toMatchObject({ dryRun: true, planned: { delete: 3 }, done: { deleted: 0 } });
    expect(dr.account.calls.filter((c) => c.action === 'DeregisterImage')).toEqual([]);
  });

  it('a region that fails is reported, and the other regions and the home rotation go on', async () => {
    // Prepare: two destination regions (the copy-to tags name one, the stage the other); the second refuses every read
    const home = rotationWorld();
    const dr = rotationWorld();
    const dr2 = rotationWorld();
    home.account.addInstance(instanceIdOf(1), { [TAG.bake]: 'nightly', [TAG.lineage]: 'web', [TAG.retain]: '2' });
    const sources = [3, 2, 1, 0].map((d) => source(home, 'web', d));
    const copies = sources.map((s) => copyOf(dr, s));
    dr2.account.listingFailures.set('DescribeImages', new AwsCallError('AuthFailure', 'DescribeImages', 'region not enabled', false));

    // Act
    const report = await rotateImages({}, withCopies(home, { [DR]: dr, [DR2]: dr2 }, [DR2]));

    // Assess
    expect(report.done.deleted).toBe(2);
    expect(left(dr)).toEqual(ids(copies.slice(2)));
    const byRegion = new Map((report.copies ?? []).map((r) => [r.region, r]));
    expect([...byRegion.keys()]).toEqual([DR2, DR]);
    expect(byRegion.get(DR2)!.failures).toEqual([
      { resourceId: DR2, action: 'DescribeImages', errorCode: 'AuthFailure', message: expect.stringContaining('region not enabled') },
    ]);
    expect(byRegion.get(DR)!.failures).toEqual([]);
    expect(home.bus.ofType('ImagesRotated').map((e) => e.region)).toEqual([HOME, DR2, DR]);
    expect(home.metrics.total('RotationFailures')).toBe(1);
  });

  it('looks at the regions the copy-to tags and the stage name, never the home region; none: no copies in the report', async () => {
    const home = rotationWorld();
    source(home, 'web', 0, { [TAG.copyTo]: `${HOME}, ${DR},not-a-region` });
    const asked: string[] = [];
    const deps = withCopies(home, { [DR]: rotationWorld(), [DR2]: rotationWorld() }, [DR2, HOME]);
    const report = await rotateImages(
      {},
      { ...deps, copyRegions: { ...deps.copyRegions, ec2In: (r: string) => (asked.push(r), deps.copyRegions.ec2In(r)) } },
    );
    expect(asked.sort()).toEqual([DR2, DR].sort());
    expect(report.copies?.map((c) => c.region)).toEqual([DR2, DR]);

    const alone = rotationWorld();
    source(alone, 'web', 0, { [TAG.copyTo]: 'none' });
    const quiet = await rotateImages({}, withCopies(alone, {}));
    expect(quiet.copies).toBeUndefined();
    expect(quiet.region).toBe(HOME);
  });
});

// ---- the safety rules, for any copies ------------------------------------------------------------

interface CopySeed {
  lineage: 'web' | 'db';
  daysAgo: number;
  status: 'good' | 'pending' | 'failed' | 'bad';
  /** Whether EC2 records the copy as made from the image its tag names. */
  provenance: boolean;
  copyRetain: string | undefined;
  inUse: boolean;
}

const arbCopy: fc.Arbitrary<CopySeed> = fc.record({
  lineage: fc.constantFrom('web', 'db'),
  daysAgo: fc.integer({ min: 0, max: 60 }),
  status: fc.constantFrom('good', 'good', 'good', 'pending', 'failed', 'bad'),
  provenance: fc.boolean(),
  copyRetain: fc.option(fc.constantFrom('1', '2', '3d', 'daily=1,weekly=1', 'bogus'), { nil: undefined }),
  inUse: fc.boolean(),
});

describe('copy rotation, for any copies in a region', () => {
  it('never plans to delete the newest good copy of a lineage, a copy without provenance, or one in use there', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(arbCopy, { minLength: 1, maxLength: 14 }), fc.constantFrom('1', '2', '5d'), async (seeds, homeRetain) => {
        const home = rotationWorld();
        const dr = rotationWorld();
        const made = seeds.map((seed, i) => {
          const s = source(home, seed.lineage, seed.daysAgo + i / 100, { [TAG.retain]: homeRetain });
          const failed = seed.status === 'failed';
          const c = copyOf(dr, s, {
            status: seed.status,
            state: failed ? 'failed' : seed.status === 'pending' ? 'pending' : 'available',
            ...(seed.provenance ? {} : { recordedSource: 'ami-0someoneelse00000' }),
            tags: seed.copyRetain ? { [TAG.copyRetain]: seed.copyRetain } : {},
          });
          if (seed.inUse) dr.account.addInstance(instanceIdOf(100 + i), {}, 'running', 1, c.imageId);
          return { seed, copy: c };
        });

        const run = await planRotationRun(dr.deps, {
          region: DR,
          homeRegion: HOME,
          homePolicies: new Map(),
        });

        const deleted = new Set(run.plan.decisions.filter((d) => d.action === 'delete').map((d) => d.imageId));
        for (const { seed, copy } of made) {
          if (!seed.provenance || seed.inUse) expect(deleted.has(copy.imageId)).toBe(false);
        }
        for (const lineage of ['web', 'db']) {
          const good = made
            .filter(({ seed }) => seed.lineage === lineage && seed.provenance && seed.status === 'good')
            .sort((a, b) => new Date(b.copy.creationDate).getTime() - new Date(a.copy.creationDate).getTime());
          if (good[0]) expect(deleted.has(good[0].copy.imageId)).toBe(false);
        }
        // Nothing is deprecated, and no snapshot swept, in a destination region.
        expect(run.plan.decisions.some((d) => d.deprecate)).toBe(false);
        expect(run.orphans).toEqual([]);
      }),
      { numRuns: 150 },
    );
  });
});
