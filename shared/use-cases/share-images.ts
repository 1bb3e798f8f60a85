/**
 * The sharing step of the rotation schedule: first the public sweep (any image of the stack that
 * is public, made so by anyone, loses the launch permission of the group `all`), then each
 * lineage's good images are brought to the sharing its live instance's tags ask for (accounts,
 * organizations, OUs; snapshots with share-snapshots=true). Names removed from the tag are
 * removed from the images on the next run; a new good image gets its permissions on the next run.
 *
 * EC2 calls. Every run: one paged DescribeImages of the stack's public images (is-public), one
 * paged DescribeImages of its images and one paged DescribeInstances. Per image whose recorded
 * digest (`ami-lifecycle:shared`) differs from its lineage's: one DescribeImageAttribute, up to two
 * ModifyImageAttribute (remove, add), for each snapshot when snapshots are or were shared one
 * DescribeSnapshotAttribute and up to two ModifySnapshotAttribute, then one CreateTags. An image
 * already carrying its lineage's digest costs nothing: a steady night is three paged reads. Per
 * public image: one ModifyImageAttribute.
 *
 * The digest goes on last: a run that stops half-way (a crash, a refusal) leaves it different, and
 * the next run reads the image again and finishes. One image failing is reported; the others go on.
 * ImagePublicAccessRevoked is published just before its removal, so that no crash loses it.
 */
import pLimit from 'p-limit';
import { notMadeHere, type ImageView } from '../domain/image-status.js';
import { outgoing } from '../domain/event-requests.js';
import type { OutgoingEvent } from '../domain/events.js';
import { slotFor } from '../domain/schedule.js';
import { launchEntries, permissionChange, planSharing, type ShareTask } from '../domain/sharing.js';
import { TAG } from '../domain/tags.js';
import { AwsCallError } from './errors.js';
import type { RotationDeps, ShareDeps } from './ports.js';
import { rotateImages, type RotateOptions, type RotationReport } from './rotate-images.js';

export interface ShareOptions {
  /** Overrides the configured DRY_RUN for this run: plan and report, change nothing. */
  dryRun?: boolean | undefined;
}

export interface SharingFailure {
  resourceId: string;
  action: string;
  errorCode: string;
  message: string;
}

export interface ShareReport {
  dryRun: boolean;
  /** Good images whose sharing differed from their lineage's (changed, or would be in a dry run). */
  planned: number;
  /** Of those, brought to their lineage's sharing. */
  shared: number;
  /** Good images already carrying their lineage's sharing: no call made for them. */
  unchanged: number;
  /** Lineages whose images keep what they carry (no live instance, instances that disagree, a bad tag). */
  kept: Array<{ lineage: string; reason: string }>;
  /** Instances whose sharing tags could not be read (each a PolicyInvalid). */
  policyInvalid: number;
  public: {
    /** The stack's images found public. */
    found: number;
    revoked: string[];
    /** Public images carrying the stack's tags that EC2 does not record as made by it: reported, never touched. */
    notOurs: string[];
  };
  failures: SharingFailure[];
}

/** Images changed at once: gentle on EC2's mutating-call budget. */
const SHARE_CONCURRENCY = 4;
/** The schedule PolicyInvalid names for the sharing step: the rotation schedule's. */
export const SHARING_SCHEDULE = 'rotate';

export async function shareImages(options: ShareOptions, deps: ShareDeps): Promise<ShareReport> {
  const dryRun = options.dryRun ?? deps.rotation.dryRun;
  const report: ShareReport = {
    dryRun,
    planned: 0,
    shared: 0,
    unchanged: 0,
    kept: [],
    policyInvalid: 0,
    public: { found: 0, revoked: [], notOurs: [] },
    failures: [],
  };
  const fail = (resourceId: string, error: AwsCallError) => {
    report.failures.push({ resourceId, action: error.action, errorCode: error.code, message: error.message });
    deps.log.error('sharing step failed; the others go on', {
      resourceId,
      action: error.action,
      errorCode: error.code,
      message: error.message,
    });
  };
  const attempt = async (resourceId: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (error) {
      if (!(error instanceof AwsCallError)) throw error;
      fail(resourceId, error);
    }
  };
  const events: OutgoingEvent[] = [];

  try {
    // ---- the public sweep ------------------------------------------------------------------
    for await (const page of deps.ec2.listPublicImages(deps.managedBy)) {
      for (const image of page) {
        report.public.found++;
        const why = notMadeHere(image);
        if (why) {
          report.public.notOurs.push(image.imageId);
          deps.log.warn("a public image carries this stack's tags but is not its own: left alone", { imageId: image.imageId, why });
          continue;
        }
        if (dryRun) {
          deps.log.warn('public image found (dry run: its public permission stays)', { imageId: image.imageId, name: image.name });
          continue;
        }
        // Said before it is done: a crash between the two (or an answer lost) would otherwise leave an
        // image made private that nobody was told had been public. A removal that then fails is in
        // the report's failures, and the image is found, and said, again on the next run.
        deps.log.warn('public image found: its public launch permission is removed', { imageId: image.imageId, name: image.name });
        const said = await deps.events.publish([revoked(image, deps)]);
        for (const f of said.failed) deps.log.error('could not publish event', { detailType: f.event.detailType, code: f.code });
        await attempt(image.imageId, async () => {
          if ((await deps.ec2.revokePublicLaunch(image.imageId)) === 'revoked') report.public.revoked.push(image.imageId);
        });
      }
    }

    // ---- each lineage's sharing -------------------------------------------------------------
    const images: ImageView[] = [];
    for await (const page of deps.ec2.listManagedImages(deps.managedBy)) images.push(...page);
    const instances: Array<{ instanceId: string; tags: Record<string, string> }> = [];
    for await (const page of deps.ec2.listInstances()) instances.push(...page);
    const plan = planSharing({ managedBy: deps.managedBy, images, instances });
    report.planned = plan.tasks.length;
    report.unchanged = plan.unchanged;
    report.kept = plan.kept;
    report.policyInvalid = plan.invalid.length;
    const slot = slotFor(deps.now(), 'day', deps.rotation.timeZone);
    for (const v of plan.invalid) {
      deps.log.warn('sharing tags are invalid: the lineage keeps what its images are shared with', { ...v });
      events.push(
        outgoing('PolicyInvalid', {
          managedBy: deps.managedBy,
          instanceId: v.instanceId,
          schedule: SHARING_SCHEDULE,
          slot,
          problems: v.problems,
          bakeSkipped: false,
        }),
      );
    }
    for (const k of plan.kept) deps.log.debug('lineage keeps its images sharing', { ...k });
    for (const t of plan.tasks) {
      deps.log.info(dryRun ? 'share (dry run)' : 'share', {
        imageId: t.imageId,
        lineage: t.lineage,
        launchPermissions: launchEntries(t.sharing.targets),
        snapshotAccounts: t.sharing.snapshotAccounts,
      });
    }
    if (!dryRun) {
      const limit = pLimit(SHARE_CONCURRENCY);
      await Promise.all(plan.tasks.map((t) => limit(() => attempt(t.imageId, () => apply(t, deps, report)))));
    }
  } finally {
    deps.metrics.count('ImagesShared', report.shared);
    deps.metrics.count('PublicImagesRevoked', report.public.revoked.length);
    deps.metrics.count('SharingFailures', report.failures.length);
    if (events.length > 0) {
      const published = await deps.events.publish(events);
      for (const f of published.failed) deps.log.error('could not publish event', { detailType: f.event.detailType, code: f.code });
    }
  }
  deps.log.info('sharing finished', { ...report, kept: report.kept.length, failures: report.failures.length });
  return report;
}

/** One image to its lineage's sharing: launch permissions, then its snapshots', then the digest. */
async function apply(task: ShareTask, deps: ShareDeps, report: ShareReport): Promise<void> {
  const current = await deps.ec2.readLaunchPermissions(task.imageId);
  if (current === undefined) return; // deregistered since the listing
  const launch = permissionChange(current, launchEntries(task.sharing.targets));
  if (launch.add.length + launch.remove.length > 0) await deps.ec2.changeLaunchPermissions(task.imageId, launch);
  if (task.readSnapshots) {
    for (const snapshotId of task.snapshotIds) {
      const now = await deps.ec2.readSnapshotPermissions(snapshotId);
      if (now === undefined) continue;
      const change = permissionChange(now, task.sharing.snapshotAccounts);
      if (change.add.length + change.remove.length > 0) await deps.ec2.changeSnapshotPermissions(snapshotId, change);
    }
  }
  await deps.ec2.tagResources([task.imageId], { [TAG.shared]: task.digest });
  report.shared++;
}

function revoked(image: ImageView, deps: ShareDeps): OutgoingEvent {
  return outgoing('ImagePublicAccessRevoked', {
    managedBy: deps.managedBy,
    imageId: image.imageId,
    imageName: image.name,
    ...(image.tags[TAG.lineage] ? { lineage: image.tags[TAG.lineage] } : {}),
    revokedAt: deps.now().toISOString(),
  });
}

/** What the rotation schedule's run answers: the rotation's report, and the sharing step's beside it. */
export type RotationRunReport = RotationReport & { sharing: ShareReport };

/**
 * The rotation schedule's run: rotation, then the sharing step, which runs even when rotation
 * failed (a public image waits for no retention), and whose own failure fails the run after.
 */
export async function rotateAndShare(options: RotateOptions, deps: RotationDeps & ShareDeps): Promise<RotationRunReport> {
  let rotation: RotationReport | undefined;
  let rotationError: unknown;
  try {
    rotation = await rotateImages(options, deps);
  } catch (error) {
    rotationError = error;
  }
  const sharing = await shareImages(options, deps);
  if (rotationError !== undefined) throw rotationError;
  return { ...rotation!, sharing };
}
