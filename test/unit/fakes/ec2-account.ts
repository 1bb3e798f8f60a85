/**
 * One in-memory EC2 account: its instances, images, snapshots, launch templates, Elastic IPs
 * and image references, the failures a test plants, and a record of the calls that reached it.
 * It implements no port: the slices (settle-ec2.ts, bake-ec2.ts, rotation-ec2.ts,
 * recovery-ec2.ts, ...) answer each use case's calls from it, so that a use-case test builds
 * only the slice its use case needs, over the account it arranges and inspects.
 *
 * It behaves like EC2 where it matters to the use cases: listings are paged and filtered as the
 * gateway's DescribeInstances / DescribeImages filters would, unknown instances answer
 * InvalidInstanceID.NotFound, and every rotation call is counted in `calls` (one per page for
 * listings).
 */
import type { ImageSpec, InstanceSummary } from '../../../shared/domain/bake.js';
import type { ImageView } from '../../../shared/domain/image-status.js';
import type { CaptureTimeSettings, LaunchConfig, RelaunchSpec, StoredLaunchConfig } from '../../../shared/domain/launch.js';
import { TAG, type Tags } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';

/** What happened, in order, across the fakes that share it. */
export type Journal = string[];

export const hex = (n: number, width = 17) => n.toString(16).padStart(width, '0');

/** States the gateway lists as bake or recover candidates (its instance-state-name filter). */
export const LIVE_STATES = new Set(['pending', 'running', 'stopping', 'stopped']);

export interface FakeInstance {
  instanceId: string;
  state: string;
  tags: Record<string, string>;
  /** EBS volumes: one snapshot each per image. */
  volumes: number;
  /**
   * The volumes by device, when a test names them (then they, not `volumes`, make the snapshots):
   * the root device and each volume's `ami-lifecycle:exclude` tag, as DescribeVolumes shows it.
   */
  devices?: Array<{ deviceName: string; volumeId: string; excludeTag?: string }> | undefined;
  rootDeviceName?: string | undefined;
  /** The image the instance was launched from. */
  imageId?: string | undefined;
  launchTime?: Date | undefined;
  stateReasonCode?: string | undefined;
  /** What DescribeInstances shows of its launch configuration (tags aside: they are the instance's). */
  launch?: Omit<LaunchConfig, 'tags'> | undefined;
  userData?: string | undefined;
  /** What only DescribeInstanceAttribute, DescribeInstanceCreditSpecifications and DescribeSpotInstanceRequests say. */
  captureSettings?: CaptureTimeSettings | undefined;
  /** What DescribeInstanceStatus reports (default: both checks ok while running, nothing otherwise). */
  statusChecks?: { system: string; instance: string } | undefined;
  /** RebootInstances calls that reached it. */
  reboots?: number;
  /** Its Availability Zone (default: its subnet's in `subnets`, else us-east-1a); its devices are `devices` (default the root, /dev/xvda). */
  zone?: string | undefined;
}

/** A data volume (the recovery slice's, for following volumes): attached to at most one instance. */
export interface FakeVolume {
  volumeId: string;
  zone: string;
  state: 'available' | 'in-use';
  attachment?: { instanceId: string; device: string; state: 'attached' | 'detaching' | 'attaching' } | undefined;
  tags: Record<string, string>;
  /** AttachVolume calls that put it on an instance. */
  attaches: number;
}

export interface FakeAddress {
  allocationId: string;
  publicIp: string;
  instanceId?: string | undefined;
  tags: Record<string, string>;
}

export interface FakeImage {
  imageId: string;
  name: string;
  description: string;
  state: string;
  stateReason?: string;
  creationDate: string;
  sourceInstanceId: string;
  noReboot: boolean;
  tags: Record<string, string>;
  snapshotIds: string[];
  /** Set by enableImageDeprecation (EC2's DeprecationTime), or given when arranging. */
  deprecationTime?: string | undefined;
  /** Launch permissions: account ids, organization and OU ARNs, and `all` when it is public (the share slice). */
  launchPermissions?: string[] | undefined;
  /** A copy's source, as EC2 records it (SourceImageId, SourceImageRegion): issue 17. */
  sourceImageId?: string | undefined;
  sourceImageRegion?: string | undefined;
}

export interface FakeSnapshotMeta {
  sizeBytes: number;
  /** ISO time the snapshot was started. */
  startTime: string;
}

export interface FakeLaunchTemplateVersion {
  version: number;
  /** A version without an image (the AMI is chosen at launch) is possible. */
  imageId: string | undefined;
  isDefault: boolean;
}

/** A launch template the service saved, one entry per version (version = index + 1). */
export interface SavedLaunchConfig {
  config: StoredLaunchConfig;
  tags: Tags;
  description: string;
  revision?: string;
}

/** The rotation calls the fake counts; a listing counts one call per page, as the paginators do. */
export type RotationAction =
  | 'DescribeImages'
  | 'DescribeSnapshots'
  | 'DescribeInstances'
  | 'DescribeLaunchTemplateVersions'
  | 'DescribeImageReferences'
  | 'DescribeVolumes'
  | 'DeregisterImage'
  | 'DeleteSnapshot'
  | 'EnableImageDeprecation'
  | 'DescribeImageAttribute'
  | 'ModifyImageAttribute'
  | 'DescribeSnapshotAttribute'
  | 'ModifySnapshotAttribute';

export const GIB = 2 ** 30;
/** Size of a snapshot nobody gave a size: an 8 GiB root volume. */
export const DEFAULT_SNAPSHOT_BYTES = 8 * GIB;

export const notFound = (instanceId: string, action = 'CreateImage') =>
  new AwsCallError('InvalidInstanceID.NotFound', action, `The instance ID '${instanceId}' does not exist`, false, 400);

export const throttled = (action = 'CreateImage') => new AwsCallError('RequestLimitExceeded', action, 'Request limit exceeded.', true, 503);

export class FakeEc2Account {
  readonly instances = new Map<string, FakeInstance>();
  readonly images = new Map<string, FakeImage>();
  readonly snapshotTags = new Map<string, Record<string, string>>();
  /** Size and start time of every snapshot in snapshotTags. */
  readonly snapshotMeta = new Map<string, FakeSnapshotMeta>();
  readonly launchTemplates = new Map<string, FakeLaunchTemplateVersion[]>();
  /** What DescribeImageReferences answers: image id -> references. */
  readonly imageReferences = new Map<string, string[]>();
  /** False: the region does not offer DescribeImageReferences (every call is refused with InvalidAction). */
  imageReferencesOffered = true;
  /**
   * True (or the ids of chosen images): deregisterImage leaves the snapshots behind, as a crash
   * between the two steps or an older API would.
   */
  keepSnapshotsOnDeregister: boolean | ReadonlySet<string> = false;
  /** Launch templates by name: every saved version, oldest first (version = index + 1). */
  readonly savedLaunchConfigs = new Map<string, SavedLaunchConfig[]>();
  readonly addresses = new Map<string, FakeAddress>();
  /** createVolumePermission of each snapshot: account ids, and `all` when it is public (the share slice). */
  readonly snapshotPermissions = new Map<string, string[]>();
  /** `<action> <id>` -> the refusal of that call (the share slice: ModifyImageAttribute ami-..., ...). */
  readonly shareFailures = new Map<string, AwsCallError>();
  /** RunInstances client tokens EC2 remembers: the parameters and the instance of the first launch. */
  readonly launchesByToken = new Map<string, { params: string; instanceId: string }>();

  // ---- what reached "EC2" ------------------------------------------------------------------

  /** Every rotation call that reached "EC2", in order, with the ids it named. */
  readonly calls: Array<{ action: RotationAction; ids: string[] }> = [];
  /** Every CreateImage call that reached "EC2", refused or not. */
  readonly createImageCalls: ImageSpec[] = [];
  readonly tagCalls: Array<{ resourceIds: string[]; tags: Tags }> = [];
  /** Every DescribeImages by id that reached "EC2": the ids of each call. */
  readonly describeImageCalls: string[][] = [];
  /** Every RunInstances call that reached "EC2", refused or not. */
  readonly runCalls: RelaunchSpec[] = [];
  /** Every capture and recovery call that reached "EC2", in order, e.g. 'DescribeInstance', 'RunInstances'. */
  readonly recoveryCalls: string[] = [];

  // ---- failures a test planted (read by the slices) ----------------------------------------

  readonly createFailures = new Map<string, AwsCallError>();
  readonly tagFailures = new Map<string, AwsCallError>();
  readonly invisibleNames = new Set<string>();
  listPendingFailure: Error | undefined;
  /** DescribeImages by id fails with this (until cleared with undefined). */
  describeFailure: AwsCallError | undefined;
  readonly deregisterFailures = new Map<string, AwsCallError>();
  readonly deleteSnapshotFailures = new Map<string, AwsCallError>();
  readonly deprecationFailures = new Map<string, AwsCallError>();
  readonly listingFailures = new Map<RotationAction, AwsCallError>();
  referencesFailure: AwsCallError | undefined;
  /** DescribeImageReferences call number (1-based) -> its refusal. */
  readonly referencesCallFailures = new Map<number, AwsCallError>();
  runFailure: AwsCallError | undefined;
  /**
   * Where EC2 has no capacity: `subnet|type`, with `*` for any subnet or type. A launch there
   * fails with the code given (InsufficientInstanceCapacity, or Unsupported with AWS's message).
   */
  readonly noCapacity = new Map<string, 'InsufficientInstanceCapacity' | 'Unsupported'>();
  /** Data volumes by id (following volumes and others). */
  readonly dataVolumes = new Map<string, FakeVolume>();
  /** Subnets' Availability Zones; a subnet absent here does not exist for DescribeSubnets. */
  readonly subnets = new Map<string, string>([
    ['subnet-0aaaaaaaaaaaaaaaa', 'us-east-1a'],
    ['subnet-0bbbbbbbbbbbbbbbb', 'us-east-1b'],
    ['subnet-0cccccccccccccccc', 'us-east-1c'],
    ['subnet-0aaaaaaaaaaaaaaa2', 'us-east-1a'],
  ]);
  /** DetachVolume leaves the volume `detaching` (the next describe shows it available) instead of available at once. */
  slowDetach = false;
  /** StopInstances leaves the instance `stopping` (the next wait sees it stopped), or, stuckStopping, for good. */
  slowStop = false;
  stuckStopping = false;
  /** DescribeInstanceTypes' ProcessorInfo.SupportedArchitectures, by type; a type absent here is unknown to EC2. */
  readonly instanceTypes = new Map<string, string[]>([
    ['t3.micro', ['x86_64']],
    ['t3.small', ['x86_64']],
    ['m5.large', ['x86_64']],
    ['c5.large', ['x86_64']],
    ['t4g.micro', ['arm64']],
    ['m6g.large', ['arm64']],
  ]);
  readonly recoveryFailures = new Map<string, AwsCallError>();

  private nextId = 1;

  constructor(readonly options: { pageSize?: number | undefined; journal?: Journal; clock?: () => Date } = {}) {}

  // ---- arranging the world ---------------------------------------------------------------

  addInstance(instanceId: string, tags: Tags, state = 'running', volumes = 1, imageId?: string): FakeInstance {
    const instance: FakeInstance = { instanceId, state, tags: { ...tags }, volumes, ...(imageId !== undefined ? { imageId } : {}) };
    this.instances.set(instanceId, instance);
    return instance;
  }

  /** Puts an image in the account directly, as if made earlier (by us or by anyone). */
  addImage(image: Partial<FakeImage> & { name: string; tags: Tags }): FakeImage {
    const imageId = image.imageId ?? this.newId('ami');
    const snapshotIds = image.snapshotIds ?? [this.newId('snap')];
    const stored: FakeImage = {
      imageId,
      description: '',
      state: 'available',
      creationDate: '2026-11-25T01:00:00.000Z',
      // As EC2 records it for an image made by CreateImage: the instance its tag names.
      sourceInstanceId: image.tags[TAG.sourceInstance] ?? '',
      noReboot: true,
      snapshotIds,
      ...image,
      tags: { ...image.tags },
    };
    this.images.set(imageId, stored);
    for (const s of snapshotIds) this.putSnapshot(s, image.tags, stored.creationDate);
    return stored;
  }

  /** Puts a snapshot in the account with no image: an orphan, or one whose image comes later. */
  addSnapshot(snapshot: { snapshotId?: string; tags: Tags; sizeBytes?: number; startTime?: string | Date }): string {
    const snapshotId = snapshot.snapshotId ?? this.newId('snap');
    const startTime = snapshot.startTime === undefined ? this.clock().toISOString() : new Date(snapshot.startTime).toISOString();
    this.putSnapshot(snapshotId, snapshot.tags, startTime, snapshot.sizeBytes);
    return snapshotId;
  }

  setSnapshotSize(snapshotId: string, sizeBytes: number): void {
    this.mustSnapshot(snapshotId).sizeBytes = sizeBytes;
  }

  setSnapshotStartTime(snapshotId: string, startTime: string | Date): void {
    this.mustSnapshot(snapshotId).startTime = new Date(startTime).toISOString();
  }

  /** A launch template with these versions; listLaunchTemplateImages reports its default and latest. */
  addLaunchTemplate(
    launchTemplateId: string,
    versions: Array<{ version: number; imageId?: string | undefined; isDefault: boolean }>,
  ): void {
    this.launchTemplates.set(
      launchTemplateId,
      versions.map((v) => ({ version: v.version, imageId: v.imageId, isDefault: v.isDefault })),
    );
  }

  /** DescribeImageReferences reports these references for the image. */
  addImageReference(imageId: string, ...references: string[]): void {
    this.imageReferences.set(imageId, [...(this.imageReferences.get(imageId) ?? []), ...references]);
  }

  /** An Elastic IP, optionally associated with an instance. */
  addAddress(address: Omit<FakeAddress, 'tags'> & { tags?: Record<string, string> }): FakeAddress {
    const stored: FakeAddress = { ...address, tags: { ...address.tags } };
    this.addresses.set(address.allocationId, stored);
    return stored;
  }

  /** Puts a captured configuration in the account, as an earlier bake would have. */
  addLaunchConfig(name: string, config: StoredLaunchConfig, tags: Tags = {}): void {
    const versions = this.savedLaunchConfigs.get(name) ?? [];
    versions.push({ config, tags: { ...tags }, description: 'arranged' });
    this.savedLaunchConfigs.set(name, versions);
  }

  /** EC2 finishing (or failing) a build. */
  setImageState(imageId: string, state: string, stateReason?: string): void {
    const image = this.mustImage(imageId);
    image.state = state;
    if (stateReason === undefined) delete image.stateReason;
    else image.stateReason = stateReason;
  }

  /** DescribeImages by name does not see this name yet (EC2's eventual consistency). */
  hideName(name: string): void {
    this.invisibleNames.add(name);
  }

  imageByName(name: string): FakeImage | undefined {
    return [...this.images.values()].find((i) => i.name === name);
  }

  // ---- planting failures -------------------------------------------------------------------

  /** The next CreateImage calls for this instance fail with `error` (until cleared). */
  failCreateImage(instanceId: string, error: AwsCallError): void {
    this.createFailures.set(instanceId, error);
  }

  /** CreateTags calls that include this resource fail with `error` (until cleared with undefined). */
  failTagging(resourceId: string, error: AwsCallError | undefined): void {
    if (error) this.tagFailures.set(resourceId, error);
    else this.tagFailures.delete(resourceId);
  }

  /** DescribeImages by id fails with `error` (until cleared with undefined). */
  failDescribeImages(error: AwsCallError | undefined): void {
    this.describeFailure = error;
  }

  failListPendingImages(error: Error): void {
    this.listPendingFailure = error;
  }

  /** DeregisterImage of this image fails with `error` (until cleared with heal). */
  failDeregister(imageId: string, error: AwsCallError): void {
    this.deregisterFailures.set(imageId, error);
  }

  failDeleteSnapshot(snapshotId: string, error: AwsCallError): void {
    this.deleteSnapshotFailures.set(snapshotId, error);
  }

  failDeprecation(imageId: string, error: AwsCallError): void {
    this.deprecationFailures.set(imageId, error);
  }

  /** Every DescribeImageReferences call fails with `error`. */
  failFindImageReferences(error: AwsCallError): void {
    this.referencesFailure = error;
  }

  /** The n-th DescribeImageReferences call (counting from 1) fails with `error`. */
  failImageReferencesCall(n: number, error: AwsCallError): void {
    this.referencesCallFailures.set(n, error);
  }

  /** The listing fails with `error` on its first page. */
  failListing(
    action: 'DescribeImages' | 'DescribeSnapshots' | 'DescribeInstances' | 'DescribeLaunchTemplateVersions' | 'DescribeVolumes',
    error: AwsCallError,
  ): void {
    this.listingFailures.set(action, error);
  }

  /** Clears every rotation failure set with fail*. */
  heal(): void {
    this.deregisterFailures.clear();
    this.deleteSnapshotFailures.clear();
    this.deprecationFailures.clear();
    this.listingFailures.clear();
    this.referencesFailure = undefined;
    this.referencesCallFailures.clear();
  }

  /** The next RunInstances calls fail with `error` (until cleared with `undefined`). */
  failRunInstances(error: AwsCallError | undefined): void {
    this.runFailure = error;
  }

  /** Calls of this recovery action ('ReadUserData', 'SaveLaunchConfig', 'AssociateAddress', ...) fail with `error`. */
  failRecoveryCall(action: string, error: AwsCallError | undefined): void {
    if (error) this.recoveryFailures.set(action, error);
    else this.recoveryFailures.delete(action);
  }

  // ---- reading what happened ---------------------------------------------------------------

  /** How many calls of this action reached "EC2". */
  callCount(action: RotationAction): number {
    return this.calls.filter((c) => c.action === action).length;
  }

  /** The ids named by the calls of this action, in order. */
  callIds(action: RotationAction): string[] {
    return this.calls.filter((c) => c.action === action).flatMap((c) => c.ids);
  }

  // ---- what the slices share ---------------------------------------------------------------

  /** Writes a line to the journal the fakes share, if there is one. */
  note(line: string): void {
    this.options.journal?.push(line);
  }

  /** A capture or recovery call: recorded, journaled, and refused if a test planted a failure for it. */
  recoveryCall(action: string): void {
    this.recoveryCalls.push(action);
    this.note(action);
    const failure = this.recoveryFailures.get(action);
    if (failure) throw failure;
  }

  putSnapshot(snapshotId: string, tags: Tags, startTime: string, sizeBytes = DEFAULT_SNAPSHOT_BYTES): void {
    this.snapshotTags.set(snapshotId, { ...tags });
    this.snapshotMeta.set(snapshotId, { sizeBytes, startTime });
  }

  mustSnapshot(snapshotId: string): FakeSnapshotMeta {
    let meta = this.snapshotMeta.get(snapshotId);
    if (!meta) {
      if (!this.snapshotTags.has(snapshotId)) throw new Error(`fake: no snapshot ${snapshotId}`);
      // A snapshot put in snapshotTags directly by a test: give it the defaults.
      meta = { sizeBytes: DEFAULT_SNAPSHOT_BYTES, startTime: this.clock().toISOString() };
      this.snapshotMeta.set(snapshotId, meta);
    }
    return meta;
  }

  clock(): Date {
    return this.options.clock?.() ?? new Date('2026-11-26T01:00:10.000Z');
  }

  instanceView(i: FakeInstance): InstanceSummary {
    return {
      instanceId: i.instanceId,
      state: i.state,
      tags: { ...i.tags },
      ...(i.imageId !== undefined ? { imageId: i.imageId } : {}),
      ...(i.launchTime !== undefined ? { launchTime: i.launchTime } : {}),
      ...(i.stateReasonCode !== undefined ? { stateReasonCode: i.stateReasonCode } : {}),
      ...(i.launch !== undefined ? { launch: { ...i.launch, tags: { ...i.tags } } } : {}),
      ...(i.rootDeviceName !== undefined ? { rootDeviceName: i.rootDeviceName } : {}),
      ...(i.devices !== undefined ? { volumes: i.devices.map(({ deviceName, volumeId }) => ({ deviceName, volumeId })) } : {}),
    };
  }

  view(image: FakeImage): ImageView {
    return {
      imageId: image.imageId,
      name: image.name,
      state: image.state,
      stateReason: image.stateReason,
      creationDate: image.creationDate,
      tags: { ...image.tags },
      snapshotIds: [...image.snapshotIds],
      ...(image.sourceInstanceId ? { sourceInstanceId: image.sourceInstanceId } : {}),
      ...(image.deprecationTime !== undefined ? { deprecationTime: image.deprecationTime } : {}),
      ...(image.sourceImageId ? { sourceImageId: image.sourceImageId } : {}),
      ...(image.sourceImageRegion ? { sourceImageRegion: image.sourceImageRegion } : {}),
    };
  }

  /**
   * A listing as a paginator drains it: one call per page, and one call answering an
   * empty page when nothing matches. The items are read when the first page is asked for.
   */
  async *countedPages<T>(action: RotationAction, items: () => T[]): AsyncIterable<T[]> {
    const failure = this.listingFailures.get(action);
    this.calls.push({ action, ids: [] });
    if (failure) throw failure;
    const all = items();
    const size = this.options.pageSize ?? 1000;
    if (all.length === 0) {
      yield [];
      return;
    }
    for (let i = 0; i < all.length; i += size) {
      if (i > 0) this.calls.push({ action, ids: [] });
      yield all.slice(i, i + size);
    }
  }

  /** A listing a page at a time, uncounted. */
  async *pages<T>(items: T[]): AsyncIterable<T[]> {
    const size = this.options.pageSize ?? 1000;
    for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
  }

  mustImage(imageId: string): FakeImage {
    const image = this.images.get(imageId);
    if (!image) throw new Error(`fake: no image ${imageId}`);
    return image;
  }

  newId(prefix: 'ami' | 'snap' | 'i'): string {
    return `${prefix}-${hex(this.nextId++)}`;
  }
}
