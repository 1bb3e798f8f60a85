/**
 * What the use cases need of EC2, sliced by the use case it serves: each use case's deps name
 * only its slice, so that its tests fake only that and a new call shows in its type. A method
 * two slices use is declared once, in a small interface both extend. shared/aws/ec2/ implements
 * each operation against AWS, and gateways.ts there gives each function only its slices' (so its
 * bundle carries no other: issue 18); Ec2Gateway (shared/aws) is all of them, for the CLI;
 * test/unit/fakes implements them in memory.
 */
import type { FollowingVolume, ReplacementPlacement } from '../domain/volume-moves.js';
import type { ImageSpec, InstanceSummary } from '../domain/bake.js';
import type { ImageView } from '../domain/image-status.js';
import type { CopySpec, CopyView } from '../domain/copies.js';
import type { CaptureTimeSettings, LaunchConfig, RelaunchSpec, StoredLaunchConfig } from '../domain/launch.js';
import type { StatusChecks } from '../domain/recovery-deferral.js';
import type { UnverifiedReason } from '../domain/retention.js';
import type { PermissionChange } from '../domain/sharing.js';
import type { Tags } from '../domain/tags.js';
import type { TestInstance } from '../domain/verification.js';

export interface CreatedImage {
  imageId: string;
  /** False when an image of the same name already existed (a retried or duplicated bake). */
  created: boolean;
  /** The existing image, when created is false. */
  existing?: ImageView;
}

export interface ImageReferenceCheck {
  /** Image id -> what references it ("ssm:Parameter arn:aws:ssm:..."). */
  references: Map<string, string[]>;
  /** Image id -> why the check has no answer for it. */
  unverified: Map<string, UnverifiedReason>;
}

export interface AddressView {
  allocationId: string;
  publicIp: string;
  /** The instance it is associated with, if any. */
  instanceId?: string | undefined;
}

export interface SnapshotView {
  snapshotId: string;
  sizeBytes: number;
  startTime: Date;
  tags: Tags;
}

export interface LaunchTemplateImage {
  launchTemplateId: string;
  version: number;
  isDefault: boolean;
  imageId: string;
}

// ---- methods shared by two slices or more ----------------------------------------------------

/** CreateTags: an image's status (settle, recovery), an instance's lineage or replacement (bake, recovery). */
export interface Ec2Tagging {
  tagResources(resourceIds: string[], tags: Tags): Promise<void>;
}

/** The lineage on an Elastic IP: written at capture (bake), and at recovery for one associated since. */
export interface ElasticIpTagging {
  /** Tags the Elastic IP with this public address; its allocation id, or undefined if it is not one. */
  tagElasticIp(publicIp: string, tags: Tags): Promise<string | undefined>;
}

/** The stack's images: what rotation and the fleet view plan over, and what the scheduled run counts. */
export interface ManagedImageListing {
  /** Every image of this stack, a page at a time. */
  listManagedImages(managedBy: string): AsyncIterable<ImageView[]>;
}

/** The opted-in instances: the scheduled run's fan-out, and an operator's bake of them all. */
export interface BakeCandidateListing {
  /** Instances carrying the bake tag, not terminated, a page at a time. */
  listBakeCandidates(): AsyncIterable<InstanceSummary[]>;
}

/** The volumes an operator leaves out of images: the scheduled run, and an operator's bake. */
export interface ExcludeTagListing {
  /**
   * The `ami-lifecycle:exclude` tag of every attached volume that has one, by volume id: of the
   * whole account (one paged DescribeVolumes), or of the named instances' volumes.
   */
  listExcludeTags(instanceIds?: readonly string[]): Promise<Map<string, string>>;
}

/** Every live instance: what rotation and the fleet view plan over, and where sharing reads each lineage's tags. */
export interface InstanceListing {
  /** Every instance that is not terminated, whatever its tags, a page at a time. */
  listInstances(): AsyncIterable<InstanceSummary[]>;
}

/** One instance as EC2 describes it now: recovery, and an operator's bake of named instances. */
export interface InstanceLookup {
  /** The instance as EC2 describes it now; undefined when EC2 no longer knows it. */
  describeInstance(instanceId: string): Promise<InstanceSummary | undefined>;
}

// ---- the slices --------------------------------------------------------------------------------

/** Marking images good or failed (settleImage, reconcilePending). */
export interface SettleEc2 extends Ec2Tagging {
  /** The images of these ids EC2 describes, by id, in as few calls as EC2 allows; an image it does not know is absent. */
  describeImages(imageIds: readonly string[]): Promise<Map<string, ImageView>>;
  /** Images of this stack still marked pending, a page at a time. */
  listPendingImages(managedBy: string): AsyncIterable<ImageView[]>;
}

/** One bake: the image, and the capture of the instance's launch configuration (bakeInstance). */
export interface BakeEc2 extends Ec2Tagging, ElasticIpTagging {
  /** CreateImage; an image that already has this name is found and returned instead. */
  createImage(spec: ImageSpec): Promise<CreatedImage>;
  /** The instance's user data, base64, as DescribeInstanceAttribute gives it. */
  readUserData(instanceId: string): Promise<string | undefined>;
  /**
   * What the instance's description does not say, read only at capture: termination and stop
   * protection, shutdown behaviour, a burstable instance's CPU credits, a spot instance's request.
   */
  readCaptureSettings(instanceId: string, config: LaunchConfig): Promise<CaptureTimeSettings>;
  /**
   * Writes the configuration as the newest version of the named launch template (created
   * if missing) and answers its number. Idempotent per revision (the instance and its
   * configuration's digest): when the newest version was saved with this revision already
   * (a retry, a duplicate event), answers its number and adds nothing.
   */
  saveLaunchConfig(name: string, config: StoredLaunchConfig, tags: Tags, description: string, revision: string): Promise<number>;
}

/** One firing of a schedule: settle what is pending, fan out the bakes, count overdue lineages (runSchedule). */
export interface ScheduleEc2 extends SettleEc2, BakeCandidateListing, ManagedImageListing, ExcludeTagListing {}

/** What rotation reads to plan, and the operator's status and plan show (planRotationRun, inspectFleet). Reads only. */
export interface FleetViewEc2 extends ManagedImageListing, InstanceListing {
  /** Every snapshot of this stack, a page at a time. */
  listManagedSnapshots(managedBy: string): AsyncIterable<SnapshotView[]>;
  /** The images named by the default and latest version of every launch template. */
  listLaunchTemplateImages(): AsyncIterable<LaunchTemplateImage[]>;
  /**
   * What AWS knows to reference these images (DescribeImageReferences), and the images it
   * could not answer for (a call refused, not offered, throttled past the retries): never
   * throws for a refusal, so that one refusal costs a day's deletions, not the run.
   */
  findImageReferences(imageIds: string[]): Promise<ImageReferenceCheck>;
}

/** A rotation: the plan's reads, then its deletions and deprecations (rotateImages). */
export interface RotationEc2 extends FleetViewEc2, Ec2Tagging {
  /** DeregisterImage with DeleteAssociatedSnapshots; 'gone' when it no longer exists. */
  deregisterImage(imageId: string): Promise<'deregistered' | 'gone'>;
  deleteSnapshot(snapshotId: string): Promise<'deleted' | 'gone'>;
  enableImageDeprecation(imageId: string, at: Date): Promise<void>;
}

/**
 * Sharing the stack's good images as their lineages ask, and taking public access off any of its
 * images (shareImages). Entries are account ids, organization ARNs and OU ARNs, as the tag names them.
 */
export interface ShareEc2 extends ManagedImageListing, InstanceListing, Ec2Tagging {
  /** The stack's images that are public (launch permission of the group all), a page at a time. */
  listPublicImages(managedBy: string): AsyncIterable<ImageView[]>;
  /** The image's launch permissions (the group all as `all`); undefined when the image is gone. */
  readLaunchPermissions(imageId: string): Promise<string[] | undefined>;
  /** Removes, then adds, launch permissions; never the group all. */
  changeLaunchPermissions(imageId: string, change: PermissionChange): Promise<void>;
  /** Removes the launch permission of the group all; 'gone' when the image no longer exists. */
  revokePublicLaunch(imageId: string): Promise<'revoked' | 'gone'>;
  /** The accounts with createVolumePermission on the snapshot (the group all as `all`); undefined when it is gone. */
  readSnapshotPermissions(snapshotId: string): Promise<string[] | undefined>;
  /** Removes, then adds, accounts' createVolumePermission on the snapshot; never the group all. */
  changeSnapshotPermissions(snapshotId: string, change: PermissionChange): Promise<void>;
}

/** Relaunching a failed instance from its lineage's last good image (recoverInstances, relaunchManually). */
export interface RecoveryEc2 extends Ec2Tagging, ElasticIpTagging, InstanceLookup {
  /** Every instance carrying the lineage tag, in any state. */
  listLineageInstances(lineage: string): Promise<InstanceSummary[]>;
  /** Every image of this stack in the lineage. */
  listLineageImages(managedBy: string, lineage: string): Promise<ImageView[]>;
  /** The lineage of an instance that is gone, from the images baked from it. */
  findLineageOf(managedBy: string, instanceId: string): Promise<string | undefined>;
  /** The newest version of the named launch template, or undefined when there is none. */
  readLaunchConfig(name: string): Promise<StoredLaunchConfig | undefined>;
  /** Elastic IPs carrying the lineage tag. */
  findLineageAddresses(lineage: string): Promise<AddressView[]>;
  /** RunInstances for one replacement; idempotent by the spec's client token. */
  runInstance(spec: RelaunchSpec): Promise<string>;
  /** Turns the source/destination check of the instance's primary interface off (a NAT); safe to repeat. */
  disableSourceDestCheck(instanceId: string): Promise<void>;
  /**
   * Volumes tagged exclude=follow attached to these instances, and those tagged `follows` (on
   * their way to a replacement: see shared/domain/volume-moves.ts).
   */
  findFollowingVolumes(instanceIds: string[]): Promise<FollowingVolume[]>;
  /** DescribeSubnets: the Availability Zone of each subnet that exists. */
  subnetZones(subnetIds: string[]): Promise<Record<string, string>>;
  /** The instance's zone and the devices its block device mappings use. */
  placementOf(instanceId: string): Promise<ReplacementPlacement | undefined>;
  /** DetachVolume, never forced. */
  detachVolume(volumeId: string, instanceId: string): Promise<void>;
  /** Until the volume is off the instance (available, or attached elsewhere by a duplicate delivery). */
  waitUntilDetached(volumeId: string, instanceId: string, maxWaitSeconds: number): Promise<void>;
  attachVolume(volumeId: string, instanceId: string, device: string): Promise<void>;
  /** DescribeInstanceTypes: the architectures of each type EC2 knows (an unknown type is absent). */
  instanceTypeArchitectures(instanceTypes: string[]): Promise<Record<string, string[]>>;
  waitUntilRunning(instanceId: string, maxWaitSeconds: number): Promise<void>;
  /** StopInstances, never forced; 'gone' when EC2 no longer knows the instance. Safe to repeat. */
  stopInstance(instanceId: string): Promise<'stopping' | 'gone'>;
  /** Until the instance is stopped: TimeoutError (retryable) when it is not within maxWaitSeconds. */
  waitUntilStopped(instanceId: string, maxWaitSeconds: number): Promise<void>;
  /** Associates the Elastic IP with the instance, taking it from wherever it is. */
  associateAddress(allocationId: string, instanceId: string): Promise<void>;
  terminateInstance(instanceId: string): Promise<'terminated' | 'gone'>;
  /** The instance's status checks now; undefined when EC2 reports none (an instance not running). */
  describeStatusChecks(instanceId: string): Promise<StatusChecks | undefined>;
  /** RebootInstances: EC2 reboots it, as the reboot alarm action would. */
  rebootInstance(instanceId: string): Promise<void>;
}

/** RunInstances of one test instance (verify-image.ts): no key pair, no public address, ended by its own shutdown. */
export interface TestLaunchSpec {
  imageId: string;
  instanceType: string;
  subnetId: string;
  securityGroupId: string;
  /** Idempotency: one test instance per image, however often the launch is asked for. */
  clientToken: string;
  tags: Tags;
  /** The lineage's captured instance profile, only when the stage asks for it (verifyInstanceProfile). */
  iamInstanceProfileArn?: string | undefined;
  /** The image's EBS devices: each is deleted with the test instance, whatever the image says. */
  devices: string[];
}

/** Verifying images with test instances (verifyImage, sweepVerifications). */
export interface VerifyEc2 extends Ec2Tagging {
  /** The images of these ids that EC2 describes, by id (one DescribeImages per 1,000). */
  describeImages(imageIds: readonly string[]): Promise<Map<string, ImageView>>;
  /** Images of this stack with this status tag, a page at a time. */
  listImagesByStatus(managedBy: string, status: string): AsyncIterable<ImageView[]>;
  /** Test instances of this stack (role=verification), in any state EC2 still lists; of one image when given. */
  listTestInstances(managedBy: string, imageId?: string): Promise<TestInstance[]>;
  /** The newest version of the named launch template, or undefined when there is none. */
  readLaunchConfig(name: string): Promise<StoredLaunchConfig | undefined>;
  /** RunInstances for one test instance; idempotent by the spec's client token. */
  runTestInstance(spec: TestLaunchSpec): Promise<string>;
  /** The instance's status checks now; undefined when EC2 reports none (an instance not running). */
  describeStatusChecks(instanceId: string): Promise<StatusChecks | undefined>;
  /** GetConsoleOutput (the latest, decoded); undefined when EC2 has none or the instance is gone. */
  consoleOutput(instanceId: string): Promise<string | undefined>;
  terminateInstance(instanceId: string): Promise<'terminated' | 'gone'>;
}

/** The instances whose status-check alarms are kept (syncStatusAlarms). */
export interface StatusAlarmsEc2 {
  /** Instances carrying the recover tag, not terminated, a page at a time. */
  listRecoverCandidates(): AsyncIterable<InstanceSummary[]>;
}

/** An operator's bake, of named instances or of every opted-in one (bakeOnDemand). */
export interface OnDemandBakeEc2 extends BakeEc2, BakeCandidateListing, InstanceLookup, ExcludeTagListing {}

/** A launch template as promotion reads it. */
export interface LaunchTemplateView {
  launchTemplateId: string;
  launchTemplateName: string;
  defaultVersion: number;
  latestVersion: number;
  tags: Tags;
}

/** Promotion into launch templates, and the images and instances it decides from (promoteImage, rollbackLineage). */
export interface PromoteEc2 extends Ec2Tagging {
  describeImage(imageId: string): Promise<ImageView | undefined>;
  /** Every instance carrying the lineage tag, in any state. */
  listLineageInstances(lineage: string): Promise<InstanceSummary[]>;
  /** Every image of this stack in the lineage. */
  listLineageImages(managedBy: string, lineage: string): Promise<ImageView[]>;
  /** Instances carrying the promote tag, not terminated, a page at a time. */
  listPromoteCandidates(): AsyncIterable<InstanceSummary[]>;
  /** The launch template of this id (lt-...) or name; undefined when EC2 knows none. */
  describeLaunchTemplate(ref: string): Promise<LaunchTemplateView | undefined>;
  /** The image ids of the template's versions from minVersion to maxVersion that still exist, newest first. */
  launchTemplateVersions(
    launchTemplateId: string,
    minVersion: number,
    maxVersion: number,
  ): Promise<Array<{ version: number; imageId: string | undefined }>>;
  /**
   * A new version of the template: `sourceVersion`'s data with only the image changed. Idempotent by
   * `clientToken` (EC2's ClientToken): a retry with the same token answers the first version.
   */
  createImageVersion(
    launchTemplateId: string,
    sourceVersion: number,
    imageId: string,
    clientToken: string,
    description: string,
  ): Promise<number>;
  /** ModifyLaunchTemplate DefaultVersion. Safe to repeat. */
  setDefaultVersion(launchTemplateId: string, version: number): Promise<void>;
}

// ---- issue 17: another region, reached from home -------------------------------------------------

/** The newest version of a launch template, with the description it was saved with (its revision). */
export interface LaunchCapture {
  config: StoredLaunchConfig;
  description: string;
}

/** The home capture, as the DR capture reads it (and a DR relaunch, when R has no DR capture). */
export interface DrHomeEc2 {
  /** The newest version of the named launch template, or undefined when there is none. */
  readLaunchCapture(name: string): Promise<LaunchCapture | undefined>;
  /** Elastic IPs carrying the lineage tag. */
  findLineageAddresses(lineage: string): Promise<AddressView[]>;
}

/** EC2 in a disaster-recovery region R, as the DR capture writes it (dr-capture.ts, run by the copy function). */
export interface DrCaptureEc2 extends Ec2Tagging {
  describeLaunchTemplate(ref: string): Promise<LaunchTemplateView | undefined>;
  saveLaunchConfig(name: string, config: StoredLaunchConfig, tags: Tags, description: string, revision: string): Promise<number>;
}

/** EC2 in a disaster-recovery region R (no stack there): the DR capture, the lineage's copies, the DR relaunch. */
export interface DrRegionEc2 extends DrCaptureEc2 {
  readLaunchCapture(name: string): Promise<LaunchCapture | undefined>;
  /** Every image of this stack in the lineage (in R: its copies). */
  listLineageImages(managedBy: string, lineage: string): Promise<ImageView[]>;
  /** Every instance carrying the lineage tag, in any state. */
  listLineageInstances(lineage: string): Promise<InstanceSummary[]>;
  runInstance(spec: RelaunchSpec): Promise<string>;
  disableSourceDestCheck(instanceId: string): Promise<void>;
}

/** An image the account owns, as `stale` reads it: DescribeImages' LastLaunchedTime and Public besides. */
export interface OwnedImageView extends ImageView {
  lastLaunchedTime?: string | undefined;
  public: boolean;
}

/**
 * The account's images and what uses them, for `stale` and `adopt` (stale-images.ts). Reads every
 * owned image, snapshot and listed instance a page at a time; launch permissions one image a call
 * (EC2 has no batch read of them), and only for would-be candidates.
 */
export interface StaleEc2 extends Ec2Tagging {
  /** Every image the account owns in the region, disabled ones too, a page at a time. */
  listOwnedImages(): AsyncIterable<OwnedImageView[]>;
  /** Every snapshot the account owns, a page at a time. */
  listOwnedSnapshots(): AsyncIterable<SnapshotView[]>;
  /** Every instance EC2 still lists, in any state (a terminated one is listed for about an hour), a page at a time. */
  listListedInstances(): AsyncIterable<InstanceSummary[]>;
  /** The images named by the default and latest version of every launch template. */
  listLaunchTemplateImages(): AsyncIterable<LaunchTemplateImage[]>;
  /** As FleetViewEc2's: DescribeImageReferences, 10 ids a call; what it could not answer for comes back unverified. */
  findImageReferences(imageIds: string[]): Promise<ImageReferenceCheck>;
  /** The image's launch permissions (the group all as `all`); undefined when the image is gone. */
  readLaunchPermissions(imageId: string): Promise<string[] | undefined>;
}

/** Issue 17, the copy reconcile in the home region: the good images that name regions to be copied to. */
export interface CopySourceEc2 {
  /** This stack's good images that carry copy-to, a page at a time (one paged DescribeImages with tag filters). */
  listCopySources(managedBy: string): AsyncIterable<ImageView[]>;
}

/** Issue 17, the copy reconcile in a destination region (an EC2 client for that region). */
export interface CopyRegionEc2 extends Ec2Tagging {
  /** This stack's copies in the region (managed-by and a source-image tag), any state, with EC2's record of their source. */
  listCopies(managedBy: string): AsyncIterable<CopyView[]>;
  /** The copies in flight into the region, anyone's: pending images made by CopyImage (SourceImageId, no SourceInstanceId). */
  countCopiesInFlight(): Promise<number>;
  /** CopyImage in the region, idempotent by the spec's client token; answers the copy's id. */
  copyImage(spec: CopySpec): Promise<string>;
}

/** Every slice: what the whole service needs of EC2, and what Ec2Gateway implements. */
export interface Ec2Port
  extends ScheduleEc2,
    BakeEc2,
    RotationEc2,
    RecoveryEc2,
    StatusAlarmsEc2,
    OnDemandBakeEc2,
    ShareEc2,
    VerifyEc2,
    PromoteEc2,
    DrHomeEc2,
    DrRegionEc2,
    StaleEc2,
    CopySourceEc2,
    CopyRegionEc2 {}
