import { describe, expect, it } from 'vitest';
import type { CopySpec, CopyView } from '../../../shared/domain/copies.js';
import type { ImageView } from '../../../shared/domain/image-status.js';
import { TAG, type Tags } from '../../../shared/domain/tags.js';
import { reconcileCopies, type CopyDeps } from '../../../shared/use-cases/copy-images.js';
import type { CopyRegionEc2, CopySourceEc2 } from '../../../shared/use-cases/ec2-ports.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { InMemoryEventBus } from '../fakes/event-bus.js';
import { RecordingLog, RecordingMetrics } from '../fakes/recording.js';

const STACK = 'ami-lifecycle-test';
const HOME = 'us-east-1';

const hex = (i: number) => i.toString(16).padStart(17, '0');
function source(i: number, regions: string): ImageView {
  return {
    imageId: `ami-${hex(i)}`,
    name: `web-${i}`,
    state: 'available',
    creationDate: new Date(Date.UTC(2026, 10, 26, 3, i)).toISOString(),
    tags: {
      [TAG.managedBy]: STACK,
      [TAG.lineage]: `l${i}`,
      [TAG.sourceInstance]: `i-${hex(i)}`,
      [TAG.status]: 'good',
      [TAG.copyTo]: regions,
    },
    snapshotIds: [],
    sourceInstanceId: `i-${hex(i)}`,
  };
}

/** One region's EC2 in memory: its copies, a count of others' copies in flight, and the refusals a test stages. */
class RegionEc2 implements CopyRegionEc2 {
  readonly copies: CopyView[] = [];
  readonly tagged: Array<{ ids: string[]; tags: Tags }> = [];
  others = 0;
  /** CopyImage refusals, in order of the calls (undefined: accepted). */
  refusals: Array<AwsCallError | undefined> = [];
  failListing: AwsCallError | undefined;
  private next = 1000;

  async *listCopies(): AsyncIterable<CopyView[]> {
    if (this.failListing) throw this.failListing;
    yield this.copies;
  }

  async countCopiesInFlight(): Promise<number> {
    return this.others + this.copies.filter((c) => c.state === 'pending').length;
  }

  async copyImage(spec: CopySpec): Promise<string> {
    const refusal = this.refusals.shift();
    if (refusal) throw refusal;
    const imageId = `ami-${hex(++this.next)}`;
    this.copies.push({
      imageId,
      name: spec.name,
      state: 'pending',
      tags: spec.tags,
      snapshotIds: [`snap-${hex(this.next)}`],
      sourceImageId: spec.sourceImageId,
      sourceImageRegion: spec.sourceRegion,
    });
    return imageId;
  }

  async tagResources(ids: string[], tags: Tags): Promise<void> {
    this.tagged.push({ ids, tags });
    for (const c of this.copies) if (ids.includes(c.imageId)) c.tags = { ...c.tags, ...tags };
  }
}

function world(sources: ImageView[], regions: string[], maxConcurrent = 10) {
  const ec2: Record<string, RegionEc2> = Object.fromEntries(regions.map((r) => [r, new RegionEc2()]));
  const home: CopySourceEc2 = {
    async *listCopySources() {
      yield sources;
    },
  };
  const events = new InMemoryEventBus();
  const log = new RecordingLog();
  const deps: CopyDeps = {
    managedBy: STACK,
    events,
    log,
    metrics: new RecordingMetrics(),
    now: () => new Date('2026-11-26T04:00:00Z'),
    copies: { homeRegion: HOME, maxConcurrent, drRegions: {} },
    ec2: home,
    regionEc2: (r) => ec2[r]!,
  };
  return { deps, ec2, events, log };
}

const limit = () => new AwsCallError('ResourceLimitExceeded', 'CopyImage', 'too many copies in flight', false, 400);
const throttled = () => new AwsCallError('RequestLimitExceeded', 'CopyImage', 'Request limit exceeded.', true, 503);

describe('reconcileCopies', () => {
  it("stops starting into a region at EC2's copy limit and leaves the rest queued; the next pass starts them", async () => {
    // Prepare
    const { deps, ec2 } = world([source(1, 'eu-west-1'), source(2, 'eu-west-1'), source(3, 'eu-west-1')], ['eu-west-1']);
    ec2['eu-west-1']!.refusals = [undefined, limit()];

    // Act
    const report = await reconcileCopies(deps);

    // Assess
    const region = report.regions[0]!;
    expect(region.started).toHaveLength(1);
    expect(region.queued).toEqual([`ami-${hex(2)}`, `ami-${hex(3)}`]);
    expect(region.stopped).toContain('ResourceLimitExceeded');

    // Act: the next pass
    const next = await reconcileCopies(deps);

    // Assess
    expect(next.regions[0]!.started).toHaveLength(2);
    expect(ec2['eu-west-1']!.copies.map((c) => c.sourceImageId)).toEqual([1, 2, 3].map((i) => `ami-${hex(i)}`));
  });

  it("fails a region's part when throttling outlasts the SDK's retries, reports it, and goes on with the other regions", async () => {
    // Prepare
    const { deps, ec2, log } = world([source(1, 'eu-west-1,us-west-2')], ['eu-west-1', 'us-west-2']);
    ec2['eu-west-1']!.refusals = [throttled()];

    // Act
    const report = await reconcileCopies(deps);

    // Assess
    expect(report.regions.map((r) => [r.region, r.started.length, r.queued.length, r.error !== undefined])).toEqual([
      ['eu-west-1', 0, 1, true],
      ['us-west-2', 1, 0, false],
    ]);
    expect(log.at('error')).toHaveLength(1);
    expect((await reconcileCopies(deps)).regions[0]!.started).toHaveLength(1);
  });

  it('says a refusal a retry will not fix for its source, and starts the next one', async () => {
    // Prepare
    const { deps, ec2, events } = world([source(1, 'eu-west-1'), source(2, 'eu-west-1')], ['eu-west-1']);
    ec2['eu-west-1']!.refusals = [new AwsCallError('InvalidAMIName.Duplicate', 'CopyImage', 'AMI name is already in use', false, 400)];

    // Act
    await reconcileCopies(deps);

    // Assess
    expect(events.ofType('ImageCopyFailed')).toEqual([
      expect.objectContaining({ sourceImageId: `ami-${hex(1)}`, region: 'eu-west-1', errorCode: 'InvalidAMIName.Duplicate' }),
    ]);
    expect(ec2['eu-west-1']!.copies.map((c) => c.sourceImageId)).toEqual([`ami-${hex(2)}`]);
  });

  it('keeps a finished copy pending while its event cannot be published: said before it is marked, at least once', async () => {
    // Prepare
    const { deps, ec2, events } = world([source(1, 'eu-west-1')], ['eu-west-1']);
    await reconcileCopies(deps);
    ec2['eu-west-1']!.copies[0]!.state = 'available';
    events.failAll();

    // Act
    await reconcileCopies(deps);

    // Assess
    expect(ec2['eu-west-1']!.tagged).toEqual([]);

    // Act: the bus is back
    events.heal();
    await reconcileCopies(deps);

    // Assess
    expect(events.ofType('ImageCopied')).toHaveLength(1);
    expect(ec2['eu-west-1']!.copies[0]!.tags[TAG.status]).toBe('good');
  });

  it("keeps the lineage's DR capture current once its copy turns good, and a capture that fails never fails the pass", async () => {
    // Prepare: two lineages copied to two regions; the capture into us-west-2 fails
    const { deps, ec2 } = world([source(1, 'eu-west-1,us-west-2'), source(2, 'eu-west-1')], ['eu-west-1', 'us-west-2']);
    const synced: string[] = [];
    deps.syncDrCapture = async (lineage, region) => {
      if (region === 'us-west-2') throw new Error('UnauthorizedOperation');
      synced.push(`${lineage}@${region}`);
    };
    await reconcileCopies(deps);
    expect(synced).toEqual([]); // started, not yet good: nothing to relaunch from there yet
    for (const r of ['eu-west-1', 'us-west-2']) for (const c of ec2[r]!.copies) c.state = 'available';

    // Act
    const report = await reconcileCopies(deps);

    // Assess: once per lineage and region whose copy turned good; the failing region is reported, its copy still good
    const lineages = ec2['eu-west-1']!.copies.map((c) => c.tags[TAG.lineage]).sort();
    expect(synced.sort()).toEqual(lineages.map((l) => `${l}@eu-west-1`));
    const west = report.regions.find((r) => r.region === 'us-west-2')!;
    expect(west).toMatchObject({ good: 1, captureFailures: [ec2['us-west-2']!.copies[0]!.tags[TAG.lineage]] });
    expect(west.error).toBeUndefined();
    expect(ec2['us-west-2']!.copies[0]!.tags[TAG.status]).toBe('good');

    // Act: a pass with nothing newly good writes no capture again
    synced.length = 0;
    await reconcileCopies(deps);
    expect(synced).toEqual([]);
  });

  it('counts copies others have in flight against the bound', async () => {
    // Prepare
    const { deps, ec2 } = world([source(1, 'eu-west-1'), source(2, 'eu-west-1')], ['eu-west-1'], 3);
    ec2['eu-west-1']!.others = 2;

    // Act
    const report = await reconcileCopies(deps);

    // Assess
    expect(report.regions[0]).toMatchObject({ inFlight: 2, started: [expect.any(String)], queued: [`ami-${hex(2)}`] });
  });

  it('fails the pass, for the queue to hand it out again, only when the home region cannot be read', async () => {
    const { deps } = world([], ['eu-west-1']);
    deps.ec2 = {
      // biome-ignore lint/correctness/useYield: a listing that fails before its first page
      async *listCopySources() {
        throw throttled();
      },
    };
    await expect(reconcileCopies(deps)).rejects.toThrow('RequestLimitExceeded');
  });
});
