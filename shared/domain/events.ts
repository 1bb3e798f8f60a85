/**
 * The events the service publishes to its own bus, with their detail schemas.
 * Users route them (SNS, Slack, tickets); the service routes BakeRequested to
 * its own bake function. Delivery is at least once: consumers deduplicate on
 * the identifying fields named in each schema's description.
 */
import * as v from 'valibot';
import { int, isoDateTime, looseObject, object, record } from './schema.js';
import { Region } from './tags.js';
import { Placement } from './launch.js';
import { BakeRequested, ImageId, ManagedBy, VerificationRequested } from './event-requests.js';

// What the functions need at run time (the requests they parse, outgoing, subjectOf) lives in
// event-requests.ts: building every detail schema below at load cost each function's cold start.
export { BakeRequested, EVENT_SOURCE, ImageId, InstanceId, outgoing, subjectOf, VerificationRequested } from './event-requests.js';

/** An image became available and is marked good. Dedupe key: imageId. */
export const ImageBaked = object({
  managedBy: ManagedBy,
  imageId: ImageId,
  imageName: v.string(),
  lineage: v.string(),
  sourceInstanceId: v.string(),
  schedule: v.string(),
  slot: v.string(),
  snapshotIds: v.array(v.string()),
  creationDate: v.optional(v.string()),
  /** What found it good: its AMI state change, the reconcile pass, or (verify=boot) its passed verification. */
  settledBy: v.picklist(['event', 'reconcile', 'verification']),
  /**
   * The image carries its instance's `ami-lifecycle:promote` tag, stamped by the bake: only then
   * does the promote function's rule take the event (issue 18). Absent in events of older versions.
   */
  promotes: v.optional(v.boolean()),
  /**
   * The image carries `ami-lifecycle:copy-to` (the bake stamps the instance's, else the stage's
   * copyTo): only then does the copy function's queue take the event (issue 18); the 15-minute
   * sweep moves the others' copies on. Absent in events of older versions.
   */
  copies: v.optional(v.boolean()),
});
export type ImageBaked = v.InferOutput<typeof ImageBaked>;

/**
 * A bake did not produce a good image: CreateImage was refused (phase `create`:
 * no image exists) or the image failed while being built (phase `build`: the image
 * is marked failed). Dedupe key: instanceId + schedule + slot.
 */
export const ImageBakeFailed = object({
  managedBy: ManagedBy,
  phase: v.picklist(['create', 'build']),
  instanceId: v.string(),
  lineage: v.optional(v.string()),
  schedule: v.optional(v.string()),
  slot: v.optional(v.string()),
  imageId: v.optional(v.string()),
  errorCode: v.string(),
  message: v.string(),
});
export type ImageBakeFailed = v.InferOutput<typeof ImageBakeFailed>;

/** An instance carries tag values the service cannot read. Dedupe key: instanceId + schedule + slot. */
export const PolicyInvalid = object({
  managedBy: ManagedBy,
  instanceId: v.string(),
  schedule: v.string(),
  slot: v.string(),
  problems: v.array(object({ tag: v.string(), value: v.string(), reason: v.string() })),
  /** True when this run did not bake the instance because of the problems. */
  bakeSkipped: v.boolean(),
});
export type PolicyInvalid = v.InferOutput<typeof PolicyInvalid>;

/**
 * One rotation run: what was planned and what was done. In a dry run `done` is all
 * zeros. `keptUnverified` lists the delete candidates kept because DescribeImageReferences
 * could not answer for them (the error says why: a permission missing, the call refused or
 * not offered). Lists are capped at 50 entries (`truncated` says so); the full plan is in
 * the function's log. Dedupe key: none needed (a summary per run).
 */
export const ImagesRotated = object({
  managedBy: ManagedBy,
  /**
   * Issue 17: the region whose images were rotated. One event per region a run looks at: the home
   * region's, then one per destination region for the copies made from it (with `sourceRegion`, the
   * home region). A region that could not be read has one failure, whose resourceId is the region.
   */
  region: v.optional(v.string()),
  sourceRegion: v.optional(v.string()),
  dryRun: v.boolean(),
  lineages: int(),
  imagesSeen: int(),
  planned: object({
    keep: int(),
    delete: int(),
    deprecate: int(),
    orphanSnapshots: int(),
    bytesToFree: v.number(),
    keptUnverified: int(),
  }),
  done: object({
    deleted: int(),
    deprecated: int(),
    snapshotsDeleted: int(),
    orphanSnapshotsDeleted: int(),
    bytesFreed: v.number(),
  }),
  referencesChecked: v.boolean(),
  keptUnverified: v.array(object({ imageId: v.string(), lineage: v.string(), errorCode: v.string(), message: v.string() })),
  deletions: v.array(object({ imageId: v.string(), name: v.string(), lineage: v.string(), reason: v.string() })),
  failures: v.array(object({ resourceId: v.string(), action: v.string(), errorCode: v.string(), message: v.string() })),
  /** Images carrying this stack's tags that it did not make (a person's copy): reported, never touched. */
  notOurs: v.optional(v.array(v.string())),
  truncated: v.boolean(),
});
export type ImagesRotated = v.InferOutput<typeof ImagesRotated>;

const Trigger = v.picklist(['state', 'alarm', 'health', 'manual']);

/**
 * A failed instance was replaced. Dedupe key: failedInstanceId (a retried recovery
 * that finds its replacement already launched publishes this again with `resumed`).
 */
export const InstanceRelaunched = object({
  managedBy: ManagedBy,
  lineage: v.string(),
  failedInstanceId: v.string(),
  newInstanceId: v.string(),
  imageId: v.string(),
  trigger: Trigger,
  reason: v.string(),
  generation: int(),
  /** From the triggering event's time to RunInstances' answer. */
  secondsToLaunch: v.number(),
  /** An image blamed for a crash loop and marked bad on the way. */
  markedBad: v.optional(v.string()),
  elasticIp: v.optional(object({ allocationId: v.string(), publicIp: v.string() })),
  /** What became of the failed instance: tagged and kept, terminated (if configured), or already gone. */
  failedInstance: v.picklist(['kept', 'terminated', 'gone']),
  resumed: v.boolean(),
  /** Keys of the failed instance's tags left off the replacement: EC2 takes 50 tags per resource. */
  droppedTags: v.optional(v.array(v.string())),
  /** Captured references that no longer existed and were left off the launch (a key pair, an instance profile). */
  launchedWithout: v.optional(v.array(v.string())),
  /** When the first launch met no capacity: each launch tried, in order, and how it ended (`t3.small in subnet-...: launched`). */
  launchAttempts: v.optional(v.array(v.string())),
  /** Data volumes tagged `exclude=follow`, moved from the failed instance to the replacement, at the same device. */
  volumes: v.optional(v.array(object({ volumeId: v.string(), device: v.string() }))),
  /** Following volumes that stayed with the failed instance, and why (the replacement is in another zone). */
  volumesLeft: v.optional(v.array(object({ volumeId: v.string(), reason: v.string() }))),
  // issue 17: a relaunch in another region (`relaunch <lineage> --region`), from a copy there.
  /** The region the replacement was launched in, when it is not the stack's. */
  region: v.optional(v.string()),
  /** What of the lineage's instance could not follow it into that region (the Elastic IP, data volumes, ...). */
  notFollowed: v.optional(v.array(v.string())),
});
export type InstanceRelaunched = v.InferOutput<typeof InstanceRelaunched>;

/** Dry run: what recovery would have launched. Dedupe key: failedInstanceId. */
export const RelaunchPlanned = object({
  managedBy: ManagedBy,
  lineage: v.string(),
  failedInstanceId: v.string(),
  imageId: v.string(),
  trigger: Trigger,
  reason: v.string(),
  markBad: v.optional(v.string()),
  launch: object({
    instanceType: v.string(),
    subnetId: v.optional(v.string()),
    securityGroupIds: v.array(v.string()),
    keyName: v.optional(v.string()),
    iamInstanceProfileArn: v.optional(v.string()),
    elasticIp: v.optional(v.string()),
    hasUserData: v.boolean(),
    tags: record(v.string(), v.string()),
    /** Keys of the failed instance's tags that would be left off: EC2 takes 50 tags per resource. */
    droppedTags: v.optional(v.array(v.string())),
    /** The launches it would try in order when one meets no capacity (`t3.small in subnet-...`), when there are fallbacks. */
    attempts: v.optional(v.array(v.string())),
    spot: v.optional(v.boolean()),
    placement: v.optional(Placement),
    sourceDestCheck: v.optional(v.boolean()),
    networkInterfaces: v.optional(int()),
    privateIpAddress: v.optional(v.string()),
  }),
  /** Why nothing would be launched (no subnet the replacement may use is in a following volume's zone). */
  notLaunched: v.optional(v.string()),
  /** Data volumes tagged `exclude=follow` that would move to the replacement, at the same device. */
  volumes: v.optional(v.array(object({ volumeId: v.string(), device: v.string() }))),
  /** The failed instance still runs: it would be stopped (never forced) so that its volumes can move. */
  stopsFailedInstance: v.optional(v.boolean()),
  // issue 17: a relaunch in another region, planned (see InstanceRelaunched).
  region: v.optional(v.string()),
  notFollowed: v.optional(v.array(v.string())),
});
export type RelaunchPlanned = v.InferOutput<typeof RelaunchPlanned>;

/** An opted-in instance stopped or failed and was deliberately not replaced. Dedupe key: instanceId + reason. */
export const RecoverySkipped = object({
  managedBy: ManagedBy,
  instanceId: v.string(),
  lineage: v.optional(v.string()),
  trigger: Trigger,
  reason: v.string(),
});
export type RecoverySkipped = v.InferOutput<typeof RecoverySkipped>;

/**
 * Recovery of an instance waits until a due time before it decides: recovery rebooted it after its
 * instance status check failed, or a bake with reboot=true is rebooting it. RecoverySkipped or
 * InstanceRelaunched follows at `until`. Dedupe key: instanceId + until.
 */
export const RecoveryDeferred = object({
  managedBy: ManagedBy,
  instanceId: v.string(),
  lineage: v.string(),
  trigger: Trigger,
  cause: v.picklist(['reboot', 'bake-reboot']),
  /** Whether this delivery rebooted the instance (false for a bake's reboot, a duplicate or a dry run). */
  rebooted: v.boolean(),
  until: isoDateTime(),
  reason: v.string(),
});
export type RecoveryDeferred = v.InferOutput<typeof RecoveryDeferred>;

/** Recovery of a lineage stopped: too many relaunches in the last hour. Dedupe key: instanceId. */
export const RecoveryGaveUp = object({
  managedBy: ManagedBy,
  instanceId: v.string(),
  lineage: v.string(),
  trigger: Trigger,
  reason: v.string(),
});
export type RecoveryGaveUp = v.InferOutput<typeof RecoveryGaveUp>;

/**
 * Recovery was wanted but AWS refused a step that a retry will not fix (for example
 * RunInstances refused for capacity or permissions). Dedupe key: instanceId + errorCode.
 */
export const RecoveryFailed = object({
  managedBy: ManagedBy,
  instanceId: v.string(),
  lineage: v.optional(v.string()),
  trigger: Trigger,
  action: v.string(),
  errorCode: v.string(),
  message: v.string(),
});
export type RecoveryFailed = v.InferOutput<typeof RecoveryFailed>;

/**
 * An image carries this stack's tags but EC2 does not record it as made by the stack (a person's
 * CopyImage with its tags, say): it is never rotated, deprecated, settled or launched from.
 * Published when EC2 announces the image. Dedupe key: imageId.
 */
export const ImageNotOwned = object({
  managedBy: ManagedBy,
  imageId: ImageId,
  imageName: v.string(),
  lineage: v.optional(v.string()),
  reason: v.string(),
});
export type ImageNotOwned = v.InferOutput<typeof ImageNotOwned>;

/** An operator cleared a `bad` mark (`ami-lifecycle mark-good`): the image is good again. Dedupe key: imageId. */
export const ImageMarkedGood = object({
  managedBy: ManagedBy,
  imageId: ImageId,
  lineage: v.optional(v.string()),
  previousStatus: v.picklist(['bad']),
});
export type ImageMarkedGood = v.InferOutput<typeof ImageMarkedGood>;

/**
 * A managed image was found public (its launch permissions held the group `all`, given by anyone)
 * and the sharing step removed that permission; every other launch permission stays. Dedupe key:
 * imageId + revokedAt (an image made public again is revoked, and said, again).
 */
export const ImagePublicAccessRevoked = object({
  managedBy: ManagedBy,
  imageId: ImageId,
  imageName: v.string(),
  lineage: v.optional(v.string()),
  revokedAt: isoDateTime(),
});
export type ImagePublicAccessRevoked = v.InferOutput<typeof ImagePublicAccessRevoked>;

/** What a verification checked: EC2's two status checks, and the SSM command when one is configured. */
const VerifiedChecks = object({ system: v.string(), instance: v.string(), command: v.optional(v.string()) });

/**
 * A test instance booted from the image and passed its checks: the image is good (ImageBaked follows
 * with settledBy `verification`), the test instance terminated. Dedupe key: imageId.
 */
export const ImageVerified = object({
  managedBy: ManagedBy,
  imageId: ImageId,
  lineage: v.string(),
  testInstanceId: v.string(),
  instanceType: v.optional(v.string()),
  checks: VerifiedChecks,
  /** From the test instance's launch to the verdict: what it was billed for, about. */
  instanceSeconds: int(),
});
export type ImageVerified = v.InferOutput<typeof ImageVerified>;

/** The check a verification failed on. */
export const VERIFICATION_CHECKS = ['launch', 'instance-state', 'system-status', 'instance-status', 'command', 'timeout'] as const;

/**
 * An image failed its verification: it is marked `failed` (its `failure` tag says why), never
 * relaunched from, and its test instance terminated. Dedupe key: imageId.
 */
export const ImageVerificationFailed = object({
  managedBy: ManagedBy,
  imageId: ImageId,
  lineage: v.string(),
  testInstanceId: v.optional(v.string()),
  check: v.picklist(VERIFICATION_CHECKS),
  reason: v.string(),
  /** From the test instance's launch to the verdict (0 when none was launched). */
  instanceSeconds: int(),
  /** The last lines of the test instance's console output, when EC2 has them (GetConsoleOutput). */
  consoleOutput: v.optional(v.string()),
});
export type ImageVerificationFailed = v.InferOutput<typeof ImageVerificationFailed>;

/** `ssm:/path`, `lt:<template>` or `asg:<group>`, as the instance's promote tag spells it. */
const Target = v.pipe(v.string(), v.minLength(1), v.maxLength(256));

/**
 * An image went into a promotion target: an SSM parameter's new version, a launch template's new
 * default version (for `asg:`, the group's template). Dedupe key: imageId + target.
 */
export const ImagePromoted = object({
  managedBy: ManagedBy,
  imageId: ImageId,
  lineage: v.string(),
  target: Target,
  /** The image the target held before, if any. */
  previousImageId: v.optional(v.string()),
  /** The parameter's or launch template's version that now holds the image. */
  version: v.optional(int()),
  /** `promote` (a new good image, or an operator's `promote`) or `rollback` (an operator's `rollback`). */
  action: v.picklist(['promote', 'rollback']),
  trigger: v.picklist(['event', 'reconcile', 'manual']),
  /** The target held the image already when this delivery looked (an earlier delivery changed it, then stopped). */
  resumed: v.boolean(),
});
export type ImagePromoted = v.InferOutput<typeof ImagePromoted>;

/**
 * A target could not be promoted: malformed, not marked promotable, missing, refused by AWS, or a
 * group whose launch template cannot be changed this way. Dedupe key: imageId + target + errorCode.
 */
export const PromotionFailed = object({
  managedBy: ManagedBy,
  imageId: v.optional(v.string()),
  lineage: v.string(),
  target: Target,
  errorCode: v.string(),
  message: v.string(),
});
export type PromotionFailed = v.InferOutput<typeof PromotionFailed>;

/** An Auto Scaling group's instance refresh started after its launch template was promoted. Dedupe key: instanceRefreshId. */
export const InstanceRefreshStarted = object({
  managedBy: ManagedBy,
  imageId: ImageId,
  lineage: v.string(),
  autoScalingGroupName: v.string(),
  instanceRefreshId: v.string(),
  minHealthyPercentage: int(),
  skipMatching: v.boolean(),
  checkpointPercentages: v.array(int()),
});
export type InstanceRefreshStarted = v.InferOutput<typeof InstanceRefreshStarted>;

/**
 * A copy of a good image in another region is available there and marked good (issue 17,
 * docs/disaster-recovery.md). Published to the home region's bus. Dedupe key: imageId.
 */
export const ImageCopied = object({
  managedBy: ManagedBy,
  lineage: v.string(),
  sourceImageId: ImageId,
  sourceRegion: Region,
  region: Region,
  imageId: ImageId,
});
export type ImageCopied = v.InferOutput<typeof ImageCopied>;

/**
 * A copy could not be made (CopyImage refused: no imageId) or failed in the destination (marked
 * `failed` there). Dedupe key: sourceImageId + region (+ imageId when there is one).
 */
export const ImageCopyFailed = object({
  managedBy: ManagedBy,
  lineage: v.string(),
  sourceImageId: ImageId,
  region: Region,
  imageId: v.optional(ImageId),
  errorCode: v.string(),
  message: v.string(),
});
export type ImageCopyFailed = v.InferOutput<typeof ImageCopyFailed>;

/**
 * Issue 19: the scheduled rotation run's adoption (the stage's adoptFilters): unused images the
 * stack did not make, tagged as its own with their snapshots (docs/stale-images.md). Nothing is
 * deleted by it; the next day's rotation handles them under their lineage's retention. In a dry
 * run, what would have been adopted. A filter entry that could not be read is in `invalidFilters`
 * and adopted nothing. Published when something was (or would be) adopted, or failed. Lists are
 * capped at 50 entries (`truncated` says so). Dedupe key: none needed (a summary per run); an
 * image is adopted once (its adoption record), so its id appears in one such event.
 */
export const ImagesAdopted = object({
  managedBy: ManagedBy,
  dryRun: v.boolean(),
  /** Images adopted (or, in a dry run, that would be). */
  count: int(),
  lineages: v.array(object({ lineage: v.string(), imageIds: v.array(v.string()) })),
  failures: v.array(object({ filter: int(), imageId: v.optional(v.string()), errorCode: v.string(), message: v.string() })),
  invalidFilters: v.array(object({ filter: int(), problems: v.array(v.string()) })),
  truncated: v.boolean(),
});
export type ImagesAdopted = v.InferOutput<typeof ImagesAdopted>;

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
  [K in DetailType]: { detailType: K; detail: v.InferOutput<(typeof DETAIL_SCHEMAS)[K]> };
}[DetailType];

/**
 * A published event as a consumer reads it back (an export of the bus, one JSON object a line):
 * the EventBridge fields a reader needs. Whose it is: its detail's managedBy. What it says: its
 * detail, read by the schema of its type (readDetail), the one the service publishes it with.
 */
export const PublishedEvent = object({
  'detail-type': v.string(),
  /** EventBridge's time; a record without a usable one is read all the same, at no time. */
  time: v.fallback(v.optional(v.string()), undefined),
  detail: looseObject({ managedBy: v.fallback(v.optional(v.string()), undefined) }),
});
export type PublishedEvent = v.InferOutput<typeof PublishedEvent>;

/** True for the detail types this service publishes (and has a schema for). */
export const isDetailType = (detailType: string): detailType is DetailType => Object.hasOwn(DETAIL_SCHEMAS, detailType);

/** A published detail read by its type's schema: the event, or undefined when the detail does not match it. */
export function readDetail(detailType: DetailType, detail: unknown): OutgoingEvent | undefined {
  const parsed = v.safeParse(DETAIL_SCHEMAS[detailType], detail);
  return parsed.success ? ({ detailType, detail: parsed.output } as OutgoingEvent) : undefined;
}
