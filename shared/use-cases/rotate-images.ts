/**
 * Rotation: read everything a page at a time, let the domain plan, then carry
 * the plan out (or, in a dry run, only report it). EC2 calls: a few per page of
 * images, snapshots, instances and launch templates, one DescribeImageReferences
 * (paged) per 10 delete candidates, then one per deleted image, plus a DeleteSnapshot
 * for any snapshot AWS left behind. A failure on one image is reported and the
 * rest go on; a candidate the reference check could not clear is kept and reported.
 */
import * as v from 'valibot';
import { append } from '../domain/collections.js';
import pLimit from 'p-limit';
import { claimsCopyFrom, copyPolicies, destinationRegions, notCopiedHere } from '../domain/copy-rotation.js';
import { outgoing } from '../domain/event-requests.js';
import { notMadeHere, statusOf } from '../domain/image-status.js';
import {
  clearedBy,
  planRotation,
  planSnapshotSweep,
  describeRetention,
  type ImageDecision,
  type LineagePolicy,
  type RotationImage,
  type RotationPlan,
  type SnapshotInfo,
} from '../domain/retention.js';
import { promotedTargets } from '../domain/promotion.js';
import { RetentionSpec, TAG, type Retention } from '../domain/tags.js';
import type { ImageView } from '../domain/image-status.js';
import type { InstanceSummary } from '../domain/bake.js';
import { AwsCallError } from './errors.js';
import { addLaunchConfigurationUses } from './launch-configuration-uses.js';
import type { RotationDeps, RotationPlanDeps } from './ports.js';

export interface RotateOptions {
  /** Overrides the configured DRY_RUN for this run. */
  dryRun?: boolean | undefined;
}

export interface RotationFailure {
  resourceId: string;
  action: string;
  errorCode: string;
  message: string;
}

/** A delete candidate kept because the reference check could not clear it. */
export interface KeptUnverified {
  imageId: string;
  lineage: string;
  /** The error of the DescribeImageReferences call that would have cleared it. */
  errorCode: string;
  message: string;
}

export interface RotationReport {
  /** The region whose images were rotated: the home region, or a destination region's copies (absent where unknown). */
  region?: string;
  /** On a destination region's report: the home region whose copies were rotated. */
  sourceRegion?: string;
  dryRun: boolean;
  lineages: number;
  imagesSeen: number;
  planned: { keep: number; delete: number; deprecate: number; orphanSnapshots: number; bytesToFree: number; keptUnverified: number };
  done: { deleted: number; deprecated: number; snapshotsDeleted: number; orphanSnapshotsDeleted: number; bytesFreed: number };
  failures: RotationFailure[];
  /** DescribeImageReferences answered for every delete candidate (false when there was none to ask about). */
  referencesChecked: boolean;
  /** Candidates kept because DescribeImageReferences could not answer for them: nothing is deleted blind. */
  keptUnverified: KeptUnverified[];
  /** Images with this stack's tags it did not make (a person's copy): reported, never touched. Absent when none. */
  notOurs?: string[];
  /** On the home report: one report per destination region whose copies were rotated (docs/disaster-recovery.md). */
  copies?: RotationReport[];
}

/** Where a rotation acts besides the home region: a destination region's copies (issue 17). */
export interface CopyScope {
  /** The destination region. */
  region: string;
  /** The stack's own region, which the copies name as their source-region. */
  homeRegion: string;
  /** The home rotation's policy of each lineage: the source's retention as rotation reads it. */
  homePolicies: ReadonlyMap<string, LineagePolicy>;
}

/** How many deletions run at once: gentle on EC2's mutating-call budget, quick enough for thousands. */
const DELETE_CONCURRENCY = 4;
/** Lists in the published event are capped to keep it far below EventBridge's 256 KB. */
const EVENT_LIST_MAX = 50;
/** An AWS error message in the event is cut at this length (one call's error repeats for up to 10 images). */
const MESSAGE_MAX = 500;

/** An image as retention (and the fleet view) reads it. */
export function toRotationImage(image: ImageView): RotationImage {
  const t = image.tags;
  return {
    imageId: image.imageId,
    name: image.name,
    managedBy: t[TAG.managedBy],
    lineage: t[TAG.lineage],
    schedule: t[TAG.schedule],
    status: statusOf(image),
    state: image.state,
    createdAt: new Date(image.creationDate ?? 0),
    retainTag: t[TAG.retain],
    snapshotIds: image.snapshotIds,
    deprecated: image.deprecationTime !== undefined,
    ...(t[TAG.promoted] ? { promotedTo: promotedTargets(t[TAG.promoted]) } : {}),
    ...(t[TAG.adopted] !== undefined ? { adopted: true } : {}),
    ...(t[TAG.managedBy] !== undefined ? foreignOf(image) : {}),
  };
}

function foreignOf(image: ImageView): { foreign?: string } {
  const why = notMadeHere(image);
  return why ? { foreign: why } : {};
}

/**
 * A copy in a destination region as retention reads it: its provenance is EC2's record of the
 * image it was copied from (copy-rotation.ts, notCopiedHere), and the source's promoted tag, which
 * names targets of the home region, holds nothing here.
 */
export function toCopyRotationImage(image: ImageView): RotationImage {
  const { promotedTo: _promoted, foreign: _foreign, ...rest } = toRotationImage(image);
  const why = rest.managedBy !== undefined ? notCopiedHere(image) : undefined;
  return { ...rest, ...(why ? { foreign: why } : {}) };
}

/**
 * EC2 refuses a deprecation time in the past and rounds to the nearest minute ("You can't
 * specify a date in the past"; API reference, EnableImageDeprecation,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EnableImageDeprecation.html):
 * the next whole minute after now, plus one, is the earliest time it surely accepts.
 */
export function deprecationTime(now: Date): Date {
  return new Date((Math.floor(now.getTime() / 60_000) + 2) * 60_000);
}

const addUse = (inUse: Map<string, string[]>, imageId: string, use: string) => append(inUse, imageId, use);

/** What a rotation reads and plans, before it acts: what a dry run, `plan` and `status` show. */
export interface RotationRun {
  now: Date;
  images: RotationImage[];
  /** Every instance that is not terminated. */
  instances: InstanceSummary[];
  plan: RotationPlan;
  /** Orphaned managed snapshots old enough to sweep. */
  orphans: string[];
  snapshotSizes: ReadonlyMap<string, number>;
  referencesChecked: boolean;
  keptUnverified: KeptUnverified[];
  /** The copy-to tags of the home images: where their copies are (empty for a destination region's run). */
  copyToTags: string[];
}

/**
 * Reads images, instances, launch templates and snapshots a page at a time, and plans. Changes
 * nothing. With a copy scope, deps.ec2 is the destination region's, and the plan covers the copies
 * this home region made there: kept by copyPolicies, never deprecated, no snapshot swept.
 */
export async function planRotationRun(deps: RotationPlanDeps, copies?: CopyScope): Promise<RotationRun> {
  const settings = deps.rotation;
  const now = deps.now();

  const images: RotationImage[] = [];
  const copyViews: ImageView[] = [];
  const copyToTags = new Set<string>();
  // Every listed image's snapshots, copies or not: none of them is an orphan.
  const snapshotsOfImages = new Set<string>();
  for await (const page of deps.ec2.listManagedImages(deps.managedBy)) {
    for (const view of page) {
      for (const id of view.snapshotIds) snapshotsOfImages.add(id);
      if (!copies) {
        images.push(toRotationImage(view));
        const copyTo = view.tags[TAG.copyTo];
        if (copyTo !== undefined) copyToTags.add(copyTo);
      } else if (claimsCopyFrom(view, copies.homeRegion)) {
        copyViews.push(view);
        images.push(toCopyRotationImage(view));
      }
    }
  }

  const inUse = new Map<string, string[]>();
  const instances: InstanceSummary[] = [];
  const tagsByLineage = new Map<string, Map<string, string>>(); // lineage -> instance id -> retain tag
  for await (const page of deps.ec2.listInstances()) {
    instances.push(...page);
    for (const instance of page) {
      if (instance.imageId) addUse(inUse, instance.imageId, `instance ${instance.instanceId} (${instance.state})`);
      const lineage = instance.tags[TAG.lineage] ?? (instance.tags[TAG.bake] !== undefined ? instance.instanceId : undefined);
      const raw = instance.tags[TAG.retain];
      if (!lineage || raw === undefined) continue;
      tagsByLineage.set(lineage, (tagsByLineage.get(lineage) ?? new Map()).set(instance.instanceId, raw.trim()));
    }
  }
  const instancePolicies = new Map<string, Retention>();
  for (const [lineage, byInstance] of tagsByLineage) {
    const values = new Set(byInstance.values());
    if (values.size > 1) {
      // Two live instances of one lineage disagree (a relaunch and its stopped original):
      // neither decides, whatever order EC2 lists them in; the last known policy does.
      deps.log.warn('instances of one lineage carry different retain tags; using its last known policy', {
        lineage,
        retain: Object.fromEntries(byInstance),
      });
      continue;
    }
    // An unreadable tag is no policy: the lineage keeps its last known one rather than a guess.
    const parsed = v.safeParse(RetentionSpec, [...values][0]);
    if (parsed.success) instancePolicies.set(lineage, parsed.output);
  }
  for await (const page of deps.ec2.listLaunchTemplateImages()) {
    for (const v of page) {
      addUse(inUse, v.imageId, `launch template ${v.launchTemplateId} version ${v.version}${v.isDefault ? ' (default)' : ' (latest)'}`);
    }
  }
  await addLaunchConfigurationUses(deps.launchConfigurations, (imageId, use) => addUse(inUse, imageId, use));

  // ---- plan --------------------------------------------------------------------------------
  const planInput = {
    managedBy: deps.managedBy,
    now,
    timeZone: settings.timeZone,
    images,
    instancePolicies,
    defaultRetention: settings.defaultRetention,
    inUse,
    failedGraceDays: settings.failedGraceDays,
    // A copy is a recovery point kept for a disaster: never deprecated.
    deprecateAfterDays: copies ? undefined : settings.deprecateAfterDays,
    promoteRollbackDepth: settings.promoteRollbackDepth,
    ...(copies ? { lineagePolicies: copyPolicies(copyViews, copies.homePolicies, settings.defaultRetention) } : {}),
  };
  let plan: RotationPlan = planRotation(planInput);
  // What else references the images we are about to delete (other accounts' launch permissions
  // aside), asked only about the candidates. The plan then deletes only what the check cleared:
  // a candidate it could not look at (refused, not offered, a permission missing) is kept.
  const candidates = plan.decisions.filter((d) => d.action === 'delete').map((d) => d.imageId);
  let referencesChecked = false;
  if (candidates.length > 0) {
    const answer = await deps.ec2.findImageReferences(candidates);
    for (const [imageId, uses] of answer.references) for (const use of uses) addUse(inUse, imageId, use);
    referencesChecked = answer.unverified.size === 0;
    if (!referencesChecked) {
      const codes = [...new Set([...answer.unverified.values()].map((u) => u.errorCode))];
      deps.log.warn('the image reference check could not clear every delete candidate: they are kept', {
        unverified: answer.unverified.size,
        candidates: candidates.length,
        errorCodes: codes,
        message: [...answer.unverified.values()][0]!.message,
      });
    }
    plan = planRotation({ ...planInput, referenceCheck: { cleared: clearedBy(candidates, answer), unverified: answer.unverified } });
  }
  const keptUnverified = plan.decisions.flatMap((d) =>
    d.unverified
      ? [{ imageId: d.imageId, lineage: d.lineage ?? '', errorCode: d.unverified.errorCode, message: d.unverified.message }]
      : [],
  );

  const snapshotSizes = new Map<string, number>();
  const snapshots: SnapshotInfo[] = [];
  for await (const page of deps.ec2.listManagedSnapshots(deps.managedBy)) {
    for (const s of page) {
      snapshotSizes.set(s.snapshotId, s.sizeBytes);
      snapshots.push({ snapshotId: s.snapshotId, managedBy: s.tags[TAG.managedBy], startTime: s.startTime });
    }
  }
  // No sweep in a destination region: a copy in flight may not list its snapshots for longer than
  // the grace, and DeregisterImage's DeleteAssociatedSnapshots takes a copy's with it.
  const orphans = copies
    ? []
    : planSnapshotSweep(snapshots, snapshotsOfImages, {
        managedBy: deps.managedBy,
        now,
        graceHours: settings.orphanGraceHours,
      });
  return { now, images, instances, plan, orphans, snapshotSizes, referencesChecked, keptUnverified, copyToTags: [...copyToTags].sort() };
}

/**
 * The daily rotation: the home region's images, then the copies this home region made in each
 * destination region (docs/disaster-recovery.md), each region with its own EC2 and its own
 * ImagesRotated. Copies are rotated only once the home plan is known (it gives each lineage's
 * policy); a region that fails is reported and the others go on.
 */
export async function rotateImages(options: RotateOptions, deps: RotationDeps): Promise<RotationReport> {
  const copies = deps.copyRegions;
  const home = await rotateIn(options, deps, copies ? { region: copies.homeRegion } : undefined);
  if (!copies) return home.report;
  const regions = destinationRegions({ homeRegion: copies.homeRegion, stageRegions: copies.regions, copyToTags: home.run.copyToTags });
  if (regions.length === 0) return home.report;
  const homePolicies = new Map(home.run.plan.lineages.map((l) => [l.lineage, l]));
  let unexpected: unknown;
  // Regions at once: each has its own endpoint and its own EC2 request budget.
  const reports = await Promise.all(
    regions.map(async (region) => {
      try {
        const scope = { region, homeRegion: copies.homeRegion, homePolicies };
        return (
          await rotateIn(
            options,
            { ...deps, ec2: copies.ec2In(region), launchConfigurations: copies.launchConfigurationsIn(region) },
            scope,
          )
        ).report;
      } catch (error) {
        if (!(error instanceof AwsCallError)) unexpected ??= error;
        return regionFailed(options, deps, region, copies.homeRegion, error);
      }
    }),
  );
  if (unexpected !== undefined) throw unexpected;
  return { ...home.report, copies: reports };
}

/** A destination region whose copies could not be rotated (unreachable, refused): reported, published, counted. */
async function regionFailed(
  options: RotateOptions,
  deps: RotationDeps,
  region: string,
  homeRegion: string,
  error: unknown,
): Promise<RotationReport> {
  const errorCode = error instanceof AwsCallError ? error.code : ((error as { name?: string }).name ?? 'Error');
  const action = error instanceof AwsCallError ? error.action : 'RotateCopies';
  const message = (error instanceof Error ? error.message : String(error)).slice(0, MESSAGE_MAX);
  deps.log.error("a destination region's copies could not be rotated; the other regions go on", { region, errorCode, action, message });
  deps.metrics.count('RotationFailures');
  const report: RotationReport = {
    region,
    sourceRegion: homeRegion,
    dryRun: options.dryRun ?? deps.rotation.dryRun,
    lineages: 0,
    imagesSeen: 0,
    planned: { keep: 0, delete: 0, deprecate: 0, orphanSnapshots: 0, bytesToFree: 0, keptUnverified: 0 },
    done: { deleted: 0, deprecated: 0, snapshotsDeleted: 0, orphanSnapshotsDeleted: 0, bytesFreed: 0 },
    failures: [{ resourceId: region, action, errorCode, message }],
    referencesChecked: false,
    keptUnverified: [],
  };
  const published = await deps.events.publish([
    outgoing('ImagesRotated', { managedBy: deps.managedBy, ...report, deletions: [], truncated: false }),
  ]);
  if (published.failed.length > 0) deps.log.error('could not publish ImagesRotated', { region, code: published.failed[0]!.code });
  return report;
}

/** One region's rotation: the home region's images (scope without homePolicies), or a destination region's copies. */
async function rotateIn(
  options: RotateOptions,
  deps: RotationDeps,
  scope: CopyScope | { region: string } | undefined,
): Promise<{ run: RotationRun; report: RotationReport }> {
  const dryRun = options.dryRun ?? deps.rotation.dryRun;
  const copies = scope && 'homePolicies' in scope ? scope : undefined;
  const run = await planRotationRun(deps, copies);
  const { images, plan, orphans, snapshotSizes, referencesChecked, keptUnverified } = run;
  const notOurs = images.filter((i) => i.foreign !== undefined && i.managedBy === deps.managedBy).map((i) => i.imageId);

  const toDelete = plan.decisions.filter((d) => d.action === 'delete');
  const toDeprecate = plan.decisions.filter((d) => d.deprecate);
  const bytesOf = (ids: string[]) => ids.reduce((sum, id) => sum + (snapshotSizes.get(id) ?? 0), 0);
  const report: RotationReport = {
    ...(scope ? { region: scope.region } : {}),
    ...(copies ? { sourceRegion: copies.homeRegion } : {}),
    dryRun,
    lineages: plan.lineages.length,
    imagesSeen: images.length,
    planned: {
      keep: plan.decisions.length - toDelete.length,
      delete: toDelete.length,
      deprecate: toDeprecate.length,
      orphanSnapshots: orphans.length,
      bytesToFree: bytesOf(toDelete.flatMap((d) => d.snapshotIds)) + bytesOf(orphans),
      keptUnverified: keptUnverified.length,
    },
    done: { deleted: 0, deprecated: 0, snapshotsDeleted: 0, orphanSnapshotsDeleted: 0, bytesFreed: 0 },
    failures: [],
    referencesChecked,
    keptUnverified,
    ...(notOurs.length > 0 ? { notOurs } : {}),
  };
  logPlan(plan, deps, dryRun, scope?.region);
  // Dry run or not: a check that cannot look is the operator's to fix before deletions stop for good.
  deps.metrics.count('ImagesKeptUnverified', keptUnverified.length);

  // ---- act ---------------------------------------------------------------------------------
  if (dryRun) {
    // What a real run would delete; a dry run deletes nothing, so it counts no deletion.
    deps.metrics.count('DeletionsPlanned', toDelete.length);
  } else {
    try {
      const limit = pLimit(DELETE_CONCURRENCY);
      const attempt = async (resourceId: string, action: string, fn: () => Promise<void>, tolerate?: (e: AwsCallError) => boolean) => {
        try {
          await fn();
        } catch (error) {
          if (!(error instanceof AwsCallError)) throw error;
          if (tolerate?.(error)) return;
          report.failures.push({ resourceId, action, errorCode: error.code, message: error.message });
          deps.log.error('rotation step failed; the others go on', { resourceId, action, errorCode: error.code, message: error.message });
        }
      };
      // A vanished lineage's last known policy onto its newest good image first. The image it is
      // read from (a failed or bad one, past its grace) is deleted only once the stamp is on: a
      // refused stamp keeps it one more run, and never loses the policy.
      const heldBack = new Set<string>();
      for (const s of plan.stamps) {
        let stamped = false;
        await attempt(s.imageId, 'CreateTags', async () => {
          await deps.ec2.tagResources([s.imageId], { [TAG.retain]: s.retain });
          stamped = true;
          deps.log.info("lineage's last known policy stamped on its newest good image", { ...s });
        });
        if (!stamped) heldBack.add(s.readFrom);
      }
      const deregistered: ImageDecision[] = [];
      await Promise.all(
        toDelete
          .filter((d) => !heldBack.has(d.imageId))
          .map((d) =>
            limit(() =>
              attempt(d.imageId, 'DeregisterImage', async () => {
                await deps.ec2.deregisterImage(d.imageId);
                deregistered.push(d);
                report.done.deleted++;
              }),
            ),
          ),
      );
      await Promise.all(
        toDeprecate.map((d) =>
          limit(() =>
            attempt(d.imageId, 'EnableImageDeprecation', async () => {
              // Computed as the call is made: EC2 refuses a time in the past, and deletions before
              // this one may have taken many minutes of a long run.
              await deps.ec2.enableImageDeprecation(d.imageId, deprecationTime(deps.now()));
              report.done.deprecated++;
            }),
          ),
        ),
      );

      // DeleteAssociatedSnapshots should have taken the snapshots with their images; whatever is
      // still there (a partial failure, an older API) is deleted here, found with one paged read.
      const expected = new Set(deregistered.flatMap((d) => d.snapshotIds));
      const leftovers: string[] = [];
      if (expected.size > 0) {
        for await (const page of deps.ec2.listManagedSnapshots(deps.managedBy)) {
          for (const s of page) if (expected.has(s.snapshotId)) leftovers.push(s.snapshotId);
        }
      }
      const stillThere = new Set(leftovers);
      for (const id of expected) if (!stillThere.has(id)) report.done.bytesFreed += snapshotSizes.get(id) ?? 0;
      report.done.snapshotsDeleted = expected.size - stillThere.size;
      await Promise.all(
        [...leftovers.map((id) => ({ id, orphan: false })), ...orphans.map((id) => ({ id, orphan: true }))].map(({ id, orphan }) =>
          limit(() =>
            attempt(
              id,
              'DeleteSnapshot',
              async () => {
                await deps.ec2.deleteSnapshot(id);
                if (orphan) report.done.orphanSnapshotsDeleted++;
                else report.done.snapshotsDeleted++;
                report.done.bytesFreed += snapshotSizes.get(id) ?? 0;
              },
              // A "orphan" an image still uses (one taken out of rotation by removing its
              // managed-by tag) is no orphan: EC2 refuses, and that is the right answer.
              (e) => {
                if (!orphan || e.code !== 'InvalidSnapshot.InUse') return false;
                deps.log.info('snapshot still used by an image this stack does not manage; left alone', { snapshotId: id });
                return true;
              },
            ),
          ),
        ),
      );
    } finally {
      // What was really done, even when an unexpected error ends the run early: each run once.
      deps.metrics.count('ImagesDeleted', report.done.deleted);
      deps.metrics.count('SnapshotsDeleted', report.done.snapshotsDeleted + report.done.orphanSnapshotsDeleted);
      deps.metrics.bytes('BytesFreed', report.done.bytesFreed);
      deps.metrics.count('RotationFailures', report.failures.length);
    }
  }

  // ---- report ------------------------------------------------------------------------------
  const published = await deps.events.publish([
    outgoing('ImagesRotated', {
      managedBy: deps.managedBy,
      ...report,
      failures: report.failures.slice(0, EVENT_LIST_MAX),
      ...(notOurs.length > 0 ? { notOurs: notOurs.slice(0, EVENT_LIST_MAX) } : {}),
      keptUnverified: keptUnverified.slice(0, EVENT_LIST_MAX).map((k) => ({ ...k, message: k.message.slice(0, MESSAGE_MAX) })),
      deletions: toDelete.slice(0, EVENT_LIST_MAX).map((d) => ({
        imageId: d.imageId,
        name: d.name,
        lineage: d.lineage ?? '',
        reason: d.reasons.join('; '),
      })),
      truncated:
        report.failures.length > EVENT_LIST_MAX ||
        toDelete.length > EVENT_LIST_MAX ||
        keptUnverified.length > EVENT_LIST_MAX ||
        notOurs.length > EVENT_LIST_MAX,
    }),
  ]);
  if (published.failed.length > 0) deps.log.error('could not publish ImagesRotated', { code: published.failed[0]!.code });
  deps.log.info('rotation finished', { ...report, failures: report.failures.length, keptUnverified: report.keptUnverified.length });
  return { run, report };
}

/** Every decision as one log line: the plan a dry run prints. */
function logPlan(plan: RotationPlan, deps: RotationDeps, dryRun: boolean, region: string | undefined): void {
  const where = region ? { region } : {};
  for (const l of plan.lineages) {
    deps.log.info('lineage policy', { ...where, lineage: l.lineage, policy: describeRetention(l.retention), source: l.source });
  }
  for (const s of plan.stamps) deps.log.info(dryRun ? 'policy stamp (dry run)' : 'policy stamp', { ...where, ...s });
  for (const d of plan.decisions) {
    deps.log.info(dryRun ? 'plan (dry run)' : 'plan', {
      ...where,
      imageId: d.imageId,
      name: d.name,
      lineage: d.lineage,
      schedule: d.schedule,
      action: d.action,
      deprecate: d.deprecate,
      reasons: d.reasons,
    });
  }
}
