/**
 * The copy reconcile (issue 17, docs/disaster-recovery.md): one pass reads the home region's good
 * images that name regions to be copied to, then, region by region, the stack's copies there and
 * the copies in flight there (anyone's); marks the copies EC2 finished good or failed and says so
 * on the home bus; and starts the wanted copies, oldest source first, never more than the bound.
 *
 * All state is in EC2 (tags set at creation, CopyImage's client token), so a pass that crashes
 * after any call, or runs twice at once, converges: the next pass sees what the last one did.
 * The function runs one pass at a time (a FIFO queue with one message group), which is what keeps
 * the bound: two passes at once could both see room for the same slot.
 */
import { destinationRegions, copySources, planRegion, type CopyView, type RegionPlan } from '../domain/copies.js';
import { outgoing } from '../domain/event-requests.js';
import type { OutgoingEvent } from '../domain/events.js';
import type { ImageView } from '../domain/image-status.js';
import { TAG } from '../domain/tags.js';
import type { CopyRegionEc2, CopySourceEc2 } from './ec2-ports.js';
import { AwsCallError } from './errors.js';
import type { CopyReconcileSettings, UseCaseDeps } from './ports.js';

export interface CopyDeps extends UseCaseDeps {
  copies: CopyReconcileSettings & { homeRegion: string; copyTo?: readonly string[] | undefined };
  /** EC2 in the home region. */
  ec2: CopySourceEc2;
  /** EC2 in another region (a client per region, made once). */
  regionEc2(region: string): CopyRegionEc2;
  /**
   * Keeps the lineage's DR capture in R current (dr-capture.ts syncDrCapture), called once per
   * lineage whose copy in R turned good in this pass, so that a relaunch in R never needs home.
   * Absent: no DR capture is kept.
   */
  syncDrCapture?: ((lineage: string, region: string) => Promise<unknown>) | undefined;
}

export interface RegionReport {
  region: string;
  copies: number;
  inFlight: number;
  good: number;
  failed: number;
  started: string[];
  /** Wanted copies left for the next pass, oldest source first (their source image ids). */
  queued: string[];
  /** Why starting stopped early: the account's copy limit, or an error that outlasted the SDK's retries. */
  stopped?: string;
  notOurs: number;
  /** The region's part of the pass failed here (reported; the other regions went on). */
  error?: string;
  /** Lineages whose DR capture in R could not be kept current (reported; the copies are not affected). */
  captureFailures?: string[];
}

export interface CopyPassReport {
  sources: number;
  regions: RegionReport[];
}

/** CopyImage's answer when the destination is at its limit of copies in flight (our reading of "How Amazon EC2 AMI copy works"). */
const LIMIT_CODES = new Set(['ResourceLimitExceeded', 'AMIQuotaExceeded']);

async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[]> {
  const all: T[] = [];
  for await (const page of pages) all.push(...page);
  return all;
}

/** One full pass over every destination region. Throws only when the home region cannot be read (the batch is received again). */
export async function reconcileCopies(deps: CopyDeps): Promise<CopyPassReport> {
  const { homeRegion } = deps.copies;
  const sources = copySources(await collect(deps.ec2.listCopySources(deps.managedBy)), deps.managedBy);
  // Regions a source names, and those the stage names: a copy whose source is gone, or whose
  // copy-to changed, is still settled there.
  const regions = [
    ...new Set([...destinationRegions(sources, homeRegion), ...Object.keys(deps.copies.drRegions), ...(deps.copies.copyTo ?? [])]),
  ]
    .filter((r) => r !== homeRegion)
    .sort();
  const kmsKeyIds = new Map(Object.entries(deps.copies.drRegions).flatMap(([r, d]) => (d.kmsKeyId ? [[r, d.kmsKeyId] as const] : [])));
  const report: CopyPassReport = { sources: sources.length, regions: [] };
  for (const region of regions) report.regions.push(await reconcileRegion(region, sources, kmsKeyIds, deps));
  deps.log.info('copy pass done', { ...report });
  return report;
}

async function reconcileRegion(
  region: string,
  sources: ImageView[],
  kmsKeyIds: ReadonlyMap<string, string>,
  deps: CopyDeps,
): Promise<RegionReport> {
  const out: RegionReport = { region, copies: 0, inFlight: 0, good: 0, failed: 0, started: [], queued: [], notOurs: 0 };
  try {
    const ec2 = deps.regionEc2(region);
    const copies: CopyView[] = await collect(ec2.listCopies(deps.managedBy));
    const inFlight = await ec2.countCopiesInFlight();
    const plan = planRegion(region, {
      managedBy: deps.managedBy,
      homeRegion: deps.copies.homeRegion,
      sources,
      regions: new Map([[region, { copies, inFlight }]]),
      maxConcurrent: deps.copies.maxConcurrent,
      kmsKeyIds,
    });
    Object.assign(out, { copies: copies.length, inFlight, notOurs: plan.notOurs.length });
    for (const n of plan.notOurs) deps.log.warn('a copy with this stack tags is not the service one: never touched', { region, ...n });
    const good = await settle(plan, ec2, deps, out);
    await syncCaptures(region, good, deps, out);
    await start(plan, ec2, deps, out);
  } catch (error) {
    out.error = String(error);
    deps.log.error('the pass failed in this region; its copies wait for the next pass, the other regions go on', {
      region,
      error: out.error,
    });
  }
  return out;
}

/**
 * CreateTags takes "Up to 1000 resource IDs. We recommend breaking up this request into smaller
 * batches." (EC2 API reference, CreateTags, Resources,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTags.html): the settled copies
 * of one status, with their snapshots, are tagged 100 ids a call.
 */
export const TAG_IDS_PER_CALL = 100;

/**
 * Says it on the bus first (all of the region's settlements at once: PutEvents takes ten a call),
 * then tags the copies whose event went out, a batch per status: a pass that stops between the
 * two leaves them pending, and the next pass says it again (at least once).
 */
async function settle(plan: RegionPlan, ec2: CopyRegionEc2, deps: CopyDeps, out: RegionReport): Promise<string[]> {
  if (plan.settle.length === 0) return [];
  const goodLineages = new Set<string>();
  const events: OutgoingEvent[] = plan.settle.map((s) =>
    s.to === 'good'
      ? outgoing('ImageCopied', {
          managedBy: deps.managedBy,
          lineage: s.lineage,
          sourceImageId: s.sourceImageId,
          sourceRegion: deps.copies.homeRegion,
          region: plan.region,
          imageId: s.copy.imageId,
        })
      : outgoing('ImageCopyFailed', {
          managedBy: deps.managedBy,
          lineage: s.lineage,
          sourceImageId: s.sourceImageId,
          region: plan.region,
          imageId: s.copy.imageId,
          errorCode: 'CopyFailed',
          message: s.reason ?? 'the copy failed',
        }),
  );
  const published = await deps.events.publish(events);
  const refused = new Set(published.failed.map((f) => f.event));
  if (refused.size > 0)
    deps.log.warn('not published: those copies stay pending until the next pass', { region: plan.region, refused: refused.size });
  for (const to of ['good', 'failed'] as const) {
    const settled = plan.settle.filter((s, i) => s.to === to && !refused.has(events[i]!));
    const ids = settled.flatMap((s) => [s.copy.imageId, ...s.copy.snapshotIds]);
    for (let i = 0; i < ids.length; i += TAG_IDS_PER_CALL) await ec2.tagResources(ids.slice(i, i + TAG_IDS_PER_CALL), { [TAG.status]: to });
    if (to === 'good') {
      out.good += settled.length;
      for (const s of settled) goodLineages.add(s.lineage);
    } else out.failed += settled.length;
  }
  return [...goodLineages];
}

/** The DR capture of each lineage whose copy turned good: one at a time, a failure said and never the pass's. */
async function syncCaptures(region: string, lineages: readonly string[], deps: CopyDeps, out: RegionReport): Promise<void> {
  if (!deps.syncDrCapture) return;
  const failures: string[] = [];
  for (const lineage of lineages) {
    try {
      await deps.syncDrCapture(lineage, region);
    } catch (error) {
      failures.push(lineage);
      deps.log.warn('the DR capture was not kept current: a relaunch there maps the last one written, or the home capture', {
        region,
        lineage,
        error: String(error),
      });
    }
  }
  if (failures.length > 0) out.captureFailures = failures;
}

/**
 * Starts the planned copies in order. The account's copy limit stops the region's starts for this
 * pass (the rest stay queued); an error that outlasted the SDK's retries (throttling) ends the
 * region's part; any other refusal is said for its source and the next one goes on.
 */
async function start(plan: RegionPlan, ec2: CopyRegionEc2, deps: CopyDeps, out: RegionReport): Promise<void> {
  out.queued = plan.queued.map((q) => q.sourceImageId);
  for (const [i, spec] of plan.start.entries()) {
    try {
      const imageId = await ec2.copyImage(spec);
      out.started.push(imageId);
    } catch (error) {
      const rest = plan.start.slice(i).map((s) => s.sourceImageId);
      if (error instanceof AwsCallError && LIMIT_CODES.has(error.code)) {
        out.stopped = `${error.code}: ${error.message}`;
        out.queued = [...rest, ...out.queued];
        return;
      }
      if (!(error instanceof AwsCallError) || error.retryable) {
        out.queued = [...rest, ...out.queued];
        throw error;
      }
      await deps.events.publish([
        outgoing('ImageCopyFailed', {
          managedBy: deps.managedBy,
          lineage: spec.lineage,
          sourceImageId: spec.sourceImageId,
          region: plan.region,
          errorCode: error.code,
          message: error.message,
        }),
      ]);
    }
  }
}
