/**
 * The events the service publishes to its own bus, with their detail schemas.
 * Users route them (SNS, Slack, tickets); the service routes BakeRequested to
 * its own bake function. Delivery is at least once: consumers deduplicate on
 * the identifying fields named in each schema's description.
 */
import * as z from 'zod/mini';
import './zod.js';
import { Region } from './tags.js';
import { Placement } from './launch.js';
import { BakeRequested, ImageId, ManagedBy, VerificationRequested } from './event-requests.js';

// What the functions need at run time (the requests they parse, outgoing, subjectOf) lives in
// event-requests.ts: building every detail schema below at load cost each function's cold start.
export { BakeRequested, EVENT_SOURCE, ImageId, InstanceId, outgoing, subjectOf, VerificationRequested } from './event-requests.js';

/** An image became available and is marked good. Dedupe key: imageId. */
export const ImageBaked = z.object({
  managedBy: ManagedBy,
  imageId: ImageId,
  imageName: z.string(),
  lineage: z.string(),
  sourceInstanceId: z.string(),
  schedule: z.string(),
  slot: z.string(),
  snapshotIds: z.array(z.string()),
  creationDate: z.optional(z.string()),
  /** What found it good: its AMI state change, the reconcile pass, or (verify=boot) its passed verification. */
  settledBy: z.enum(['event', 'reconcile', 'verification']),
  /**
   * The image carries its instance's `ami-lifecycle:promote` tag, stamped by the bake: only then
   * does the promote function's rule take the event (issue 18). Absent in events of older versions.
   */
  promotes: z.optional(z.boolean()),
  /**
   * The image carries `ami-lifecycle:copy-to` (the bake stamps the instance's, else the stage's
   * copyTo): only then does the copy function's queue take the event (issue 18); the 15-minute
   * sweep moves the others' copies on. Absent in events of older versions.
   */
  copies: z.optional(z.boolean()),
});
export type ImageBaked = z.infer<typeof ImageBaked>;

/**
 * A bake did not produce a good image: CreateImage was refused (phase `create`:
 * no image exists) or the image failed while being built (phase `build`: the image
 * is marked failed). Dedupe key: instanceId + schedule + slot.
 */
export const ImageBakeFailed = z.object({
  managedBy: ManagedBy,
  phase: z.enum(['create', 'build']),
  instanceId: z.string(),
  lineage: z.optional(z.string()),
  schedule: z.optional(z.string()),
  slot: z.optional(z.string()),
  imageId: z.optional(z.string()),
  errorCode: z.string(),
  message: z.string(),
});
export type ImageBakeFailed = z.infer<typeof ImageBakeFailed>;

/** An instance carries tag values the service cannot read. Dedupe key: instanceId + schedule + slot. */
export const PolicyInvalid = z.object({
  managedBy: ManagedBy,
  instanceId: z.string(),
  schedule: z.string(),
  slot: z.string(),
  problems: z.array(z.object({ tag: z.string(), value: z.string(), reason: z.string() })),
  /** True when this run did not bake the instance because of the problems. */
  bakeSkipped: z.boolean(),
});
export type PolicyInvalid = z.infer<typeof PolicyInvalid>;

/**
 * One rotation run: what was planned and what was done. In a dry run `done` is all
 * zeros. `keptUnverified` lists the delete candidates kept because DescribeImageReferences
 * could not answer for them (the error says why: a permission missing, the call refused or
 * not offered). Lists are capped at 50 entries (`truncated` says so); the full plan is in
 * the function's log. Dedupe key: none needed (a summary per run).
 */
export const ImagesRotated = z.object({
  managedBy: ManagedBy,
  /**
   * Issue 17: the region whose images were rotated. One event per region a run looks at: the home
   * region's, then one per destination region for the copies made from it (with `sourceRegion`, the
   * home region). A region that could not be read has one failure, whose resourceId is the region.
   */
  region: z.optional(z.string()),
  sourceRegion: z.optional(z.string()),
  dryRun: z.boolean(),
  lineages: z.number().check(z.int()),
  imagesSeen: z.number().check(z.int()),
  planned: z.object({
    keep: z.number().check(z.int()),
    delete: z.number().check(z.int()),
    deprecate: z.number().check(z.int()),
    orphanSnapshots: z.number().check(z.int()),
    bytesToFree: z.number(),
    keptUnverified: z.number().check(z.int()),
  }),
  done: z.object({
    deleted: z.number().check(z.int()),
    deprecated: z.number().check(z.int()),
    snapshotsDeleted: z.number().check(z.int()),
    orphanSnapshotsDeleted: z.number().check(z.int()),
    bytesFreed: z.number(),
  }),
  referencesChecked: z.boolean(),
  keptUnverified: z.array(z.object({ imageId: z.string(), lineage: z.string(), errorCode: z.string(), message: z.string() })),
  deletions: z.array(z.object({ imageId: z.string(), name: z.string(), lineage: z.string(), reason: z.string() })),
  failures: z.array(z.object({ resourceId: z.string(), action: z.string(), errorCode: z.string(), message: z.string() })),
  /** Images carrying this stack's tags that it did not make (a person's copy): reported, never touched. */
  notOurs: z.optional(z.array(z.string())),
  truncated: z.boolean(),
});
export type ImagesRotated = z.infer<typeof ImagesRotated>;

const Trigger = z.enum(['state', 'alarm', 'health', 'manual']);

/**
 * A failed instance was replaced. Dedupe key: failedInstanceId (a retried recovery
 * that finds its replacement already launched publishes this again with `resumed`).
 */
export const InstanceRelaunched = z.object({
  managedBy: ManagedBy,
  lineage: z.string(),
  failedInstanceId: z.string(),
  newInstanceId: z.string(),
  imageId: z.string(),
  trigger: Trigger,
  reason: z.string(),
  generation: z.number().check(z.int()),
  /** From the triggering event's time to RunInstances' answer. */
  secondsToLaunch: z.number(),
  /** An image blamed for a crash loop and marked bad on the way. */
  markedBad: z.optional(z.string()),
  elasticIp: z.optional(z.object({ allocationId: z.string(), publicIp: z.string() })),
  /** What became of the failed instance: tagged and kept, terminated (if configured), or already gone. */
  failedInstance: z.enum(['kept', 'terminated', 'gone']),
  resumed: z.boolean(),
  /** Keys of the failed instance's tags left off the replacement: EC2 takes 50 tags per resource. */
  droppedTags: z.optional(z.array(z.string())),
  /** Captured references that no longer existed and were left off the launch (a key pair, an instance profile). */
  launchedWithout: z.optional(z.array(z.string())),
  /** When the first launch met no capacity: each launch tried, in order, and how it ended (`t3.small in subnet-...: launched`). */
  launchAttempts: z.optional(z.array(z.string())),
  /** Data volumes tagged `exclude=follow`, moved from the failed instance to the replacement, at the same device. */
  volumes: z.optional(z.array(z.object({ volumeId: z.string(), device: z.string() }))),
  /** Following volumes that stayed with the failed instance, and why (the replacement is in another zone). */
  volumesLeft: z.optional(z.array(z.object({ volumeId: z.string(), reason: z.string() }))),
  // issue 17: a relaunch in another region (`relaunch <lineage> --region`), from a copy there.
  /** The region the replacement was launched in, when it is not the stack's. */
  region: z.optional(z.string()),
  /** What of the lineage's instance could not follow it into that region (the Elastic IP, data volumes, ...). */
  notFollowed: z.optional(z.array(z.string())),
});
export type InstanceRelaunched = z.infer<typeof InstanceRelaunched>;

/** Dry run: what recovery would have launched. Dedupe key: failedInstanceId. */
export const RelaunchPlanned = z.object({
  managedBy: ManagedBy,
  lineage: z.string(),
  failedInstanceId: z.string(),
  imageId: z.string(),
  trigger: Trigger,
  reason: z.string(),
  markBad: z.optional(z.string()),
  launch: z.object({
    instanceType: z.string(),
    subnetId: z.optional(z.string()),
    securityGroupIds: z.array(z.string()),
    keyName: z.optional(z.string()),
    iamInstanceProfileArn: z.optional(z.string()),
    elasticIp: z.optional(z.string()),
    hasUserData: z.boolean(),
    tags: z.record(z.string(), z.string()),
    /** Keys of the failed instance's tags that would be left off: EC2 takes 50 tags per resource. */
    droppedTags: z.optional(z.array(z.string())),
    /** The launches it would try in order when one meets no capacity (`t3.small in subnet-...`), when there are fallbacks. */
    attempts: z.optional(z.array(z.string())),
    spot: z.optional(z.boolean()),
    placement: z.optional(Placement),
    sourceDestCheck: z.optional(z.boolean()),
    networkInterfaces: z.optional(z.number().check(z.int())),
    privateIpAddress: z.optional(z.string()),
  }),
  /** Why nothing would be launched (no subnet the replacement may use is in a following volume's zone). */
  notLaunched: z.optional(z.string()),
  /** Data volumes tagged `exclude=follow` that would move to the replacement, at the same device. */
  volumes: z.optional(z.array(z.object({ volumeId: z.string(), device: z.string() }))),
  /** The failed instance still runs: it would be stopped (never forced) so that its volumes can move. */
  stopsFailedInstance: z.optional(z.boolean()),
  // issue 17: a relaunch in another region, planned (see InstanceRelaunched).
  region: z.optional(z.string()),
  notFollowed: z.optional(z.array(z.string())),
});
export type RelaunchPlanned = z.infer<typeof RelaunchPlanned>;

/** An opted-in instance stopped or failed and was deliberately not replaced. Dedupe key: instanceId + reason. */
export const RecoverySkipped = z.object({
  managedBy: ManagedBy,
  instanceId: z.string(),
  lineage: z.optional(z.string()),
  trigger: Trigger,
  reason: z.string(),
});
export type RecoverySkipped = z.infer<typeof RecoverySkipped>;

/**
 * Recovery of an instance waits until a due time before it decides: recovery rebooted it after its
 * instance status check failed, or a bake with reboot=true is rebooting it. RecoverySkipped or
 * InstanceRelaunched follows at `until`. Dedupe key: instanceId + until.
 */
export const RecoveryDeferred = z.object({
  managedBy: ManagedBy,
  instanceId: z.string(),
  lineage: z.string(),
  trigger: Trigger,
  cause: z.enum(['reboot', 'bake-reboot']),
  /** Whether this delivery rebooted the instance (false for a bake's reboot, a duplicate or a dry run). */
  rebooted: z.boolean(),
  until: z.iso.datetime(),
  reason: z.string(),
});
export type RecoveryDeferred = z.infer<typeof RecoveryDeferred>;

/** Recovery of a lineage stopped: too many relaunches in the last hour. Dedupe key: instanceId. */
export const RecoveryGaveUp = z.object({
  managedBy: ManagedBy,
  instanceId: z.string(),
  lineage: z.string(),
  trigger: Trigger,
  reason: z.string(),
});
export type RecoveryGaveUp = z.infer<typeof RecoveryGaveUp>;

/**
 * Recovery was wanted but AWS refused a step that a retry will not fix (for example
 * RunInstances refused for capacity or permissions). Dedupe key: instanceId + errorCode.
 */
export const RecoveryFailed = z.object({
  managedBy: ManagedBy,
  instanceId: z.string(),
  lineage: z.optional(z.string()),
  trigger: Trigger,
  action: z.string(),
  errorCode: z.string(),
  message: z.string(),
});
export type RecoveryFailed = z.infer<typeof RecoveryFailed>;

/**
 * An image carries this stack's tags but EC2 does not record it as made by the stack (a person's
 * CopyImage with its tags, say): it is never rotated, deprecated, settled or launched from.
 * Published when EC2 announces the image. Dedupe key: imageId.
 */
export const ImageNotOwned = z.object({
  managedBy: ManagedBy,
  imageId: ImageId,
  imageName: z.string(),
  lineage: z.optional(z.string()),
  reason: z.string(),
});
export type ImageNotOwned = z.infer<typeof ImageNotOwned>;

/** An operator cleared a `bad` mark (`ami-lifecycle mark-good`): the image is good again. Dedupe key: imageId. */
export const ImageMarkedGood = z.object({
  managedBy: ManagedBy,
  imageId: ImageId,
  lineage: z.optional(z.string()),
  previousStatus: z.enum(['bad']),
});
export type ImageMarkedGood = z.infer<typeof ImageMarkedGood>;

/**
 * A managed image was found public (its launch permissions held the group `all`, given by anyone)
 * and the sharing step removed that permission; every other launch permission stays. Dedupe key:
 * imageId + revokedAt (an image made public again is revoked, and said, again).
 */
export const ImagePublicAccessRevoked = z.object({
  managedBy: ManagedBy,
  imageId: ImageId,
  imageName: z.string(),
  lineage: z.optional(z.string()),
  revokedAt: z.iso.datetime(),
});
export type ImagePublicAccessRevoked = z.infer<typeof ImagePublicAccessRevoked>;

/** What a verification checked: EC2's two status checks, and the SSM command when one is configured. */
const VerifiedChecks = z.object({ system: z.string(), instance: z.string(), command: z.optional(z.string()) });

/**
 * A test instance booted from the image and passed its checks: the image is good (ImageBaked follows
 * with settledBy `verification`), the test instance terminated. Dedupe key: imageId.
 */
export const ImageVerified = z.object({
  managedBy: ManagedBy,
  imageId: ImageId,
  lineage: z.string(),
  testInstanceId: z.string(),
  instanceType: z.optional(z.string()),
  checks: VerifiedChecks,
  /** From the test instance's launch to the verdict: what it was billed for, about. */
  instanceSeconds: z.number().check(z.int()),
});
export type ImageVerified = z.infer<typeof ImageVerified>;

/** The check a verification failed on. */
export const VERIFICATION_CHECKS = ['launch', 'instance-state', 'system-status', 'instance-status', 'command', 'timeout'] as const;

/**
 * An image failed its verification: it is marked `failed` (its `failure` tag says why), never
 * relaunched from, and its test instance terminated. Dedupe key: imageId.
 */
export const ImageVerificationFailed = z.object({
  managedBy: ManagedBy,
  imageId: ImageId,
  lineage: z.string(),
  testInstanceId: z.optional(z.string()),
  check: z.enum(VERIFICATION_CHECKS),
  reason: z.string(),
  /** From the test instance's launch to the verdict (0 when none was launched). */
  instanceSeconds: z.number().check(z.int()),
  /** The last lines of the test instance's console output, when EC2 has them (GetConsoleOutput). */
  consoleOutput: z.optional(z.string()),
});
export type ImageVerificationFailed = z.infer<typeof ImageVerificationFailed>;

/** `ssm:/path`, `lt:<template>` or `asg:<group>`, as the instance's promote tag spells it. */
const Target = z.string().check(z.minLength(1), z.maxLength(256));

/**
 * An image went into a promotion target: an SSM parameter's new version, a launch template's new
 * default version (for `asg:`, the group's template). Dedupe key: imageId + target.
 */
export const ImagePromoted = z.object({
  managedBy: ManagedBy,
  imageId: ImageId,
  lineage: z.string(),
  target: Target,
  /** The image the target held before, if any. */
  previousImageId: z.optional(z.string()),
  /** The parameter's or launch template's version that now holds the image. */
  version: z.optional(z.number().check(z.int())),
  /** `promote` (a new good image, or an operator's `promote`) or `rollback` (an operator's `rollback`). */
  action: z.enum(['promote', 'rollback']),
  trigger: z.enum(['event', 'reconcile', 'manual']),
  /** The target held the image already when this delivery looked (an earlier delivery changed it, then stopped). */
  resumed: z.boolean(),
});
export type ImagePromoted = z.infer<typeof ImagePromoted>;

/**
 * A target could not be promoted: malformed, not marked promotable, missing, refused by AWS, or a
 * group whose launch template cannot be changed this way. Dedupe key: imageId + target + errorCode.
 */
export const PromotionFailed = z.object({
  managedBy: ManagedBy,
  imageId: z.optional(z.string()),
  lineage: z.string(),
  target: Target,
  errorCode: z.string(),
  message: z.string(),
});
export type PromotionFailed = z.infer<typeof PromotionFailed>;

/** An Auto Scaling group's instance refresh started after its launch template was promoted. Dedupe key: instanceRefreshId. */
export const InstanceRefreshStarted = z.object({
  managedBy: ManagedBy,
  imageId: ImageId,
  lineage: z.string(),
  autoScalingGroupName: z.string(),
  instanceRefreshId: z.string(),
  minHealthyPercentage: z.number().check(z.int()),
  skipMatching: z.boolean(),
  checkpointPercentages: z.array(z.number().check(z.int())),
});
export type InstanceRefreshStarted = z.infer<typeof InstanceRefreshStarted>;

/**
 * A copy of a good image in another region is available there and marked good (issue 17,
 * docs/disaster-recovery.md). Published to the home region's bus. Dedupe key: imageId.
 */
export const ImageCopied = z.object({
  managedBy: ManagedBy,
  lineage: z.string(),
  sourceImageId: ImageId,
  sourceRegion: Region,
  region: Region,
  imageId: ImageId,
});
export type ImageCopied = z.infer<typeof ImageCopied>;

/**
 * A copy could not be made (CopyImage refused: no imageId) or failed in the destination (marked
 * `failed` there). Dedupe key: sourceImageId + region (+ imageId when there is one).
 */
export const ImageCopyFailed = z.object({
  managedBy: ManagedBy,
  lineage: z.string(),
  sourceImageId: ImageId,
  region: Region,
  imageId: z.optional(ImageId),
  errorCode: z.string(),
  message: z.string(),
});
export type ImageCopyFailed = z.infer<typeof ImageCopyFailed>;

/**
 * Issue 19: the scheduled rotation run's adoption (the stage's adoptFilters): unused images the
 * stack did not make, tagged as its own with their snapshots (docs/stale-images.md). Nothing is
 * deleted by it; the next day's rotation handles them under their lineage's retention. In a dry
 * run, what would have been adopted. A filter entry that could not be read is in `invalidFilters`
 * and adopted nothing. Published when something was (or would be) adopted, or failed. Lists are
 * capped at 50 entries (`truncated` says so). Dedupe key: none needed (a summary per run); an
 * image is adopted once (its adoption record), so its id appears in one such event.
 */
export const ImagesAdopted = z.object({
  managedBy: ManagedBy,
  dryRun: z.boolean(),
  /** Images adopted (or, in a dry run, that would be). */
  count: z.number().check(z.int()),
  lineages: z.array(z.object({ lineage: z.string(), imageIds: z.array(z.string()) })),
  failures: z.array(
    z.object({ filter: z.number().check(z.int()), imageId: z.optional(z.string()), errorCode: z.string(), message: z.string() }),
  ),
  invalidFilters: z.array(z.object({ filter: z.number().check(z.int()), problems: z.array(z.string()) })),
  truncated: z.boolean(),
});
export type ImagesAdopted = z.infer<typeof ImagesAdopted>;

export const DETAIL_SCHEMAS = {
  BakeRequested,
  ImageBaked,
  ImageBakeFailed,
  PolicyInvalid,
  ImagesRotated,
  InstanceRelaunched,
  RelaunchPlanned,
  RecoverySkipped,
  RecoveryDeferred,
  RecoveryGaveUp,
  RecoveryFailed,
  ImageNotOwned,
  ImageMarkedGood,
  ImagePublicAccessRevoked,
  VerificationRequested,
  ImageVerified,
  ImageVerificationFailed,
  ImagePromoted,
  PromotionFailed,
  InstanceRefreshStarted,
  ImageCopied,
  ImageCopyFailed,
  ImagesAdopted,
} as const;

export type DetailType = keyof typeof DETAIL_SCHEMAS;

export type OutgoingEvent = {
  [K in DetailType]: { detailType: K; detail: z.infer<(typeof DETAIL_SCHEMAS)[K]> };
}[DetailType];

/**
 * A published event as a consumer reads it back (an export of the bus, one JSON object a line):
 * the EventBridge fields a reader needs. Whose it is: its detail's managedBy. What it says: its
 * detail, read by the schema of its type (readDetail), the one the service publishes it with.
 */
export const PublishedEvent = z.object({
  'detail-type': z.string(),
  /** EventBridge's time; a record without a usable one is read all the same, at no time. */
  time: z.catch(z.optional(z.string()), undefined),
  detail: z.looseObject({ managedBy: z.catch(z.optional(z.string()), undefined) }),
});
export type PublishedEvent = z.infer<typeof PublishedEvent>;

/** True for the detail types this service publishes (and has a schema for). */
export const isDetailType = (detailType: string): detailType is DetailType => Object.hasOwn(DETAIL_SCHEMAS, detailType);

/** A published detail read by its type's schema: the event, or undefined when the detail does not match it. */
export function readDetail(detailType: DetailType, detail: unknown): OutgoingEvent | undefined {
  const parsed = DETAIL_SCHEMAS[detailType].safeParse(detail);
  return parsed.success ? ({ detailType, detail: parsed.data } as OutgoingEvent) : undefined;
}
