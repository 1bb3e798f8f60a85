/**
 * In-memory implementations of the ports in shared/use-cases/ports.ts, for unit tests
 * of the use cases. They behave like the AWS gateways where it matters to the use cases:
 *
 * - InMemoryEc2 refuses a second image of the same name with InvalidAMIName.Duplicate,
 *   and its createImage turns that refusal into `{ created: false, existing }` exactly as
 *   Ec2Gateway.createImage does (or a retryable error when the image is not visible);
 *   unknown instances answer InvalidInstanceID.NotFound; listings are paged and filtered
 *   as the gateway's DescribeInstances / DescribeImages filters would.
 * - For rotation, InMemoryEc2 keeps snapshots (tags, size, start time), launch templates
 *   and an image-references table (asked 10 ids a call, as DescribeImageReferences takes them;
 *   a refused call leaves its ids unverified, as the gateway does). deregisterImage behaves like DeregisterImage with
 *   DeleteAssociatedSnapshots (a snapshot another image still uses stays), deleteSnapshot
 *   refuses a snapshot a registered image uses (InvalidSnapshot.InUse), and
 *   enableImageDeprecation refuses a time in the past and rounds to the minute, as EC2 does.
 *   Every rotation call is counted in `calls` (one per page for listings).
 * - InMemoryEventBus records what it published and can refuse chosen entries, the way
 *   PutEvents refuses entries one by one.
 * - RecordingMetrics records every count and byte total the use cases report, in order.
 */
import type { ImageSpec, InstanceSummary } from '../../shared/domain/bake.js';
import type { z } from 'zod';
import type { BakeRequested, DETAIL_SCHEMAS, DetailType, OutgoingEvent } from '../../shared/domain/events.js';
import type { ImageView } from '../../shared/domain/image-status.js';
import type { LaunchConfig, RelaunchSpec, StoredLaunchConfig } from '../../shared/domain/launch.js';
import type { UnverifiedReason } from '../../shared/domain/retention.js';
import { TAG, type Tags } from '../../shared/domain/tags.js';
import type { RecoveryConfig, RotationSettings } from '../../shared/use-cases/settings.js';
import { AwsCallError } from '../../shared/use-cases/errors.js';
import type {
  AddressView,
  AlarmPort,
  BytesMetric,
  CountMetric,
  CreatedImage,
  Deps,
  Ec2Port,
  EventPort,
  Log,
  ImageReferenceCheck,
  LaunchTemplateImage,
  MetricsPort,
  PublishFailure,
  PublishOutcome,
  SnapshotView,
} from '../../shared/use-cases/ports.js';

/** What happened, in order, across the fakes that share it. */
export type Journal = string[];

const hex = (n: number, width = 17) => n.toString(16).padStart(width, '0');

/** States the gateway lists as bake candidates (its instance-state-name filter). */
const LIVE_STATES = new Set(['pending', 'running', 'stopping', 'stopped']);

export interface FakeInstance {
  instanceId: string;
  state: string;
  tags: Record<string, string>;
  /** EBS volumes: one snapshot each per image. */
  volumes: number;
  /** The image the instance was launched from. */
  imageId?: string | undefined;
  launchTime?: Date | undefined;
  stateReasonCode?: string | undefined;
  /** What DescribeInstances shows of its launch configuration (tags aside: they are the instance's). */
  launch?: Omit<LaunchConfig, 'tags'> | undefined;
  userData?: string | undefined;
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

/** The rotation calls the fake counts; a listing counts one call per page, as the paginators do. */
export type RotationAction =
  | 'DescribeImages'
  | 'DescribeSnapshots'
  | 'DescribeInstances'
  | 'DescribeLaunchTemplateVersions'
  | 'DescribeImageReferences'
  | 'DeregisterImage'
  | 'DeleteSnapshot'
  | 'EnableImageDeprecation';

export const GIB = 2 ** 30;
/** Size of a snapshot nobody gave a size: an 8 GiB root volume. */
export const DEFAULT_SNAPSHOT_BYTES = 8 * GIB;

export const notFound = (instanceId: string, action = 'CreateImage') =>
  new AwsCallError('InvalidInstanceID.NotFound', action, `The instance ID '${instanceId}' does not exist`, false, 400);

export const throttled = (action = 'CreateImage') => new AwsCallError('RequestLimitExceeded', action, 'Request limit exceeded.', true, 503);

export class InMemoryEc2 implements Ec2Port {
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
  /** Every rotation call that reached "EC2", in order, with the ids it named. */
  readonly calls: Array<{ action: RotationAction; ids: string[] }> = [];
  /** Every CreateImage call that reached "EC2", refused or not. */
  readonly createImageCalls: ImageSpec[] = [];
  readonly tagCalls: Array<{ resourceIds: string[]; tags: Tags }> = [];
  readonly describeImageCalls: string[] = [];

  private readonly createFailures = new Map<string, AwsCallError>();
  private readonly tagFailures = new Map<string, AwsCallError>();
  private readonly invisibleNames = new Set<string>();
  private listPendingFailure: Error | undefined;
  private readonly deregisterFailures = new Map<string, AwsCallError>();
  private readonly deleteSnapshotFailures = new Map<string, AwsCallError>();
  private readonly deprecationFailures = new Map<string, AwsCallError>();
  private readonly listingFailures = new Map<RotationAction, AwsCallError>();
  private referencesFailure: AwsCallError | undefined;
  /** DescribeImageReferences call number (1-based) -> its refusal. */
  private readonly referencesCallFailures = new Map<number, AwsCallError>();
  private nextId = 1;

  constructor(
    readonly options: { pageSize?: number; journal?: Journal; clock?: () => Date } = {},
  ) {}

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
      sourceInstanceId: '',
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
  addLaunchTemplate(launchTemplateId: string, versions: Array<{ version: number; imageId?: string | undefined; isDefault: boolean }>): void {
    this.launchTemplates.set(
      launchTemplateId,
      versions.map((v) => ({ version: v.version, imageId: v.imageId, isDefault: v.isDefault })),
    );
  }

  /** DescribeImageReferences reports these references for the image. */
  addImageReference(imageId: string, ...references: string[]): void {
    this.imageReferences.set(imageId, [...(this.imageReferences.get(imageId) ?? []), ...references]);
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
  failListing(action: 'DescribeImages' | 'DescribeSnapshots' | 'DescribeInstances' | 'DescribeLaunchTemplateVersions', error: AwsCallError): void {
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

  /** How many calls of this action reached "EC2". */
  callCount(action: RotationAction): number {
    return this.calls.filter((c) => c.action === action).length;
  }

  /** The ids named by the calls of this action, in order. */
  callIds(action: RotationAction): string[] {
    return this.calls.filter((c) => c.action === action).flatMap((c) => c.ids);
  }

  /** EC2 finishing (or failing) a build. */
  setImageState(imageId: string, state: string, stateReason?: string): void {
    const image = this.mustImage(imageId);
    image.state = state;
    if (stateReason === undefined) delete image.stateReason;
    else image.stateReason = stateReason;
  }

  /** The next CreateImage calls for this instance fail with `error` (until cleared). */
  failCreateImage(instanceId: string, error: AwsCallError): void {
    this.createFailures.set(instanceId, error);
  }

  /** CreateTags calls that include this resource fail with `error` (until cleared with undefined). */
  failTagging(resourceId: string, error: AwsCallError | undefined): void {
    if (error) this.tagFailures.set(resourceId, error);
    else this.tagFailures.delete(resourceId);
  }

  /** DescribeImages by name does not see this name yet (EC2's eventual consistency). */
  hideName(name: string): void {
    this.invisibleNames.add(name);
  }

  failListPendingImages(error: Error): void {
    this.listPendingFailure = error;
  }

  imageByName(name: string): FakeImage | undefined {
    return [...this.images.values()].find((i) => i.name === name);
  }

  // ---- the port ----------------------------------------------------------------------------

  async *listBakeCandidates(): AsyncIterable<InstanceSummary[]> {
    const matching = [...this.instances.values()]
      .filter((i) => i.tags[TAG.bake] !== undefined && LIVE_STATES.has(i.state))
      .map((i) => this.instanceView(i));
    yield* this.pages(matching);
  }

  async *listRecoverCandidates(): AsyncIterable<InstanceSummary[]> {
    const matching = [...this.instances.values()]
      .filter((i) => i.tags[TAG.recover] !== undefined && LIVE_STATES.has(i.state))
      .map((i) => this.instanceView(i));
    yield* this.pages(matching);
  }

  async createImage(spec: ImageSpec): Promise<CreatedImage> {
    try {
      const imageId = this.ec2CreateImage(spec);
      return { imageId, created: true };
    } catch (error) {
      // The same handling as Ec2Gateway.createImage.
      if (!(error instanceof AwsCallError) || error.code !== 'InvalidAMIName.Duplicate') throw error;
      const existing = this.invisibleNames.has(spec.name) ? undefined : this.imageByName(spec.name);
      if (!existing) {
        throw new AwsCallError(error.code, 'CreateImage', `${error.message}; that image is not visible yet`, true, error.httpStatus, { cause: error });
      }
      return { imageId: existing.imageId, created: false, existing: this.view(existing) };
    }
  }

  async describeImage(imageId: string): Promise<ImageView | undefined> {
    this.describeImageCalls.push(imageId);
    const image = this.images.get(imageId);
    return image ? this.view(image) : undefined;
  }

  async *listPendingImages(managedBy: string): AsyncIterable<ImageView[]> {
    if (this.listPendingFailure) throw this.listPendingFailure;
    const matching = [...this.images.values()]
      .filter((i) => i.tags[TAG.managedBy] === managedBy && i.tags[TAG.status] === 'pending')
      .map((i) => this.view(i));
    yield* this.pages(matching);
  }

  async tagResources(resourceIds: string[], tags: Tags): Promise<void> {
    this.tagCalls.push({ resourceIds: [...resourceIds], tags: { ...tags } });
    this.options.journal?.push(`tag ${resourceIds.join(',')} ${JSON.stringify(tags)}`);
    if (resourceIds.length === 0) return;
    for (const id of resourceIds) {
      const failure = this.tagFailures.get(id);
      if (failure) throw failure;
      // CreateTags is all or nothing: every id must exist before anything is tagged.
      const known = this.instances.has(id) || this.images.has(id) || this.snapshotTags.has(id) || this.addresses.has(id);
      if (!known && id.startsWith('i-')) throw notFound(id, 'CreateTags');
      if (!known) throw new AwsCallError('InvalidID', 'CreateTags', `The ID '${id}' is not valid`, false, 400);
    }
    for (const id of resourceIds) {
      const target = this.instances.get(id)?.tags ?? this.images.get(id)?.tags ?? this.snapshotTags.get(id) ?? this.addresses.get(id)!.tags;
      Object.assign(target, tags);
    }
  }

  // ---- the port: capture and recovery -------------------------------------------------------

  /** Launch templates by name: every saved version, oldest first (version = index + 1). */
  readonly savedLaunchConfigs = new Map<string, Array<{ config: StoredLaunchConfig; tags: Tags; description: string; revision?: string }>>();
  readonly addresses = new Map<string, FakeAddress>();
  /** Every RunInstances call that reached "EC2", refused or not. */
  readonly runCalls: RelaunchSpec[] = [];
  /** Every recovery call that reached "EC2", in order, e.g. 'DescribeInstances', 'RunInstances'. */
  readonly recoveryCalls: string[] = [];
  private readonly launchesByToken = new Map<string, { params: string; instanceId: string }>();
  private runFailure: AwsCallError | undefined;
  private readonly recoveryFailures = new Map<string, AwsCallError>();

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

  /** The next RunInstances calls fail with `error` (until cleared with `undefined`). */
  failRunInstances(error: AwsCallError | undefined): void {
    this.runFailure = error;
  }

  /** Calls of this recovery action ('ReadUserData', 'SaveLaunchConfig', 'AssociateAddress', ...) fail with `error`. */
  failRecoveryCall(action: string, error: AwsCallError | undefined): void {
    if (error) this.recoveryFailures.set(action, error);
    else this.recoveryFailures.delete(action);
  }

  private recoveryCall(action: string): void {
    this.recoveryCalls.push(action);
    this.options.journal?.push(action);
    const failure = this.recoveryFailures.get(action);
    if (failure) throw failure;
  }

  async describeInstance(instanceId: string): Promise<InstanceSummary | undefined> {
    this.recoveryCall('DescribeInstance');
    const instance = this.instances.get(instanceId);
    return instance ? this.instanceView(instance) : undefined;
  }

  async listLineageInstances(lineage: string): Promise<InstanceSummary[]> {
    this.recoveryCall('ListLineageInstances');
    return [...this.instances.values()].filter((i) => i.tags[TAG.lineage] === lineage).map((i) => this.instanceView(i));
  }

  async listLineageImages(managedBy: string, lineage: string): Promise<ImageView[]> {
    this.recoveryCall('ListLineageImages');
    return [...this.images.values()]
      .filter((i) => i.tags[TAG.managedBy] === managedBy && i.tags[TAG.lineage] === lineage)
      .map((i) => this.view(i));
  }

  async findLineageOf(managedBy: string, instanceId: string): Promise<string | undefined> {
    this.recoveryCall('FindLineageOf');
    return [...this.images.values()].find((i) => i.tags[TAG.managedBy] === managedBy && i.tags[TAG.sourceInstance] === instanceId)?.tags[
      TAG.lineage
    ];
  }

  async readUserData(instanceId: string): Promise<string | undefined> {
    this.recoveryCall('ReadUserData');
    const instance = this.instances.get(instanceId);
    if (!instance) throw notFound(instanceId, 'DescribeInstanceAttribute');
    return instance.userData;
  }

  async saveLaunchConfig(name: string, config: StoredLaunchConfig, tags: Tags, description: string, revision: string): Promise<number> {
    this.recoveryCall('SaveLaunchConfig');
    const versions = this.savedLaunchConfigs.get(name) ?? [];
    if (versions.at(-1)?.revision === revision) return versions.length;
    // A new template takes the tags; a new version leaves the template's tags as they are.
    versions.push({ config: structuredClone(config), tags: versions[0]?.tags ?? { ...tags }, description, revision });
    this.savedLaunchConfigs.set(name, versions);
    return versions.length;
  }

  async readLaunchConfig(name: string): Promise<StoredLaunchConfig | undefined> {
    this.recoveryCall('ReadLaunchConfig');
    const versions = this.savedLaunchConfigs.get(name);
    return versions?.length ? structuredClone(versions[versions.length - 1]!.config) : undefined;
  }

  async tagElasticIp(publicIp: string, tags: Tags): Promise<string | undefined> {
    this.recoveryCall('TagElasticIp');
    const address = [...this.addresses.values()].find((a) => a.publicIp === publicIp);
    if (address) Object.assign(address.tags, tags);
    return address?.allocationId;
  }

  async findLineageAddresses(lineage: string): Promise<AddressView[]> {
    this.recoveryCall('FindLineageAddresses');
    return [...this.addresses.values()]
      .filter((a) => a.tags[TAG.lineage] === lineage)
      .map((a) => ({ allocationId: a.allocationId, publicIp: a.publicIp, ...(a.instanceId ? { instanceId: a.instanceId } : {}) }));
  }

  /** RunInstances as EC2 does it: a repeated client token answers the first launch, or a mismatch. */
  async runInstance(spec: RelaunchSpec): Promise<string> {
    this.runCalls.push(structuredClone(spec));
    this.recoveryCall('RunInstances');
    if (this.runFailure) throw this.runFailure;
    const params = JSON.stringify({ ...spec, clientToken: undefined });
    const earlier = this.launchesByToken.get(spec.clientToken);
    if (earlier) {
      if (earlier.params !== params) {
        throw new AwsCallError('IdempotentParameterMismatch', 'RunInstances', `token ${spec.clientToken} used with other parameters`, false, 400);
      }
      return earlier.instanceId;
    }
    const instanceId = `i-${hex(this.nextId++)}`;
    const { tags, userData, elasticIp: _ignored, ...launch } = spec.config;
    void _ignored;
    void tags;
    this.instances.set(instanceId, {
      instanceId,
      state: 'running',
      tags: { ...spec.tags },
      volumes: 1,
      imageId: spec.imageId,
      launchTime: this.clock(),
      launch,
      userData,
    });
    this.launchesByToken.set(spec.clientToken, { params, instanceId });
    return instanceId;
  }

  async waitUntilRunning(instanceId: string): Promise<void> {
    this.recoveryCall('WaitUntilRunning');
    const state = this.instances.get(instanceId)?.state;
    if (state !== 'running') throw new AwsCallError('TimeoutError', 'DescribeInstances', `${instanceId} is ${state ?? 'unknown'}`, true);
  }

  async associateAddress(allocationId: string, instanceId: string): Promise<void> {
    this.recoveryCall('AssociateAddress');
    const address = this.addresses.get(allocationId);
    if (!address) throw new AwsCallError('InvalidAllocationID.NotFound', 'AssociateAddress', allocationId, false, 400);
    if (!this.instances.has(instanceId)) throw notFound(instanceId, 'AssociateAddress');
    address.instanceId = instanceId;
  }

  async terminateInstance(instanceId: string): Promise<'terminated' | 'gone'> {
    this.recoveryCall('TerminateInstances');
    const instance = this.instances.get(instanceId);
    if (!instance) return 'gone';
    instance.state = 'terminated';
    return 'terminated';
  }

  // ---- the port: rotation ------------------------------------------------------------------

  async *listManagedImages(managedBy: string): AsyncIterable<ImageView[]> {
    yield* this.countedPages('DescribeImages', () =>
      [...this.images.values()].filter((i) => i.tags[TAG.managedBy] === managedBy).map((i) => this.view(i)),
    );
  }

  async *listManagedSnapshots(managedBy: string): AsyncIterable<SnapshotView[]> {
    yield* this.countedPages('DescribeSnapshots', () =>
      [...this.snapshotTags].flatMap(([snapshotId, tags]): SnapshotView[] => {
        if (tags[TAG.managedBy] !== managedBy) return [];
        const meta = this.mustSnapshot(snapshotId);
        return [{ snapshotId, sizeBytes: meta.sizeBytes, startTime: new Date(meta.startTime), tags: { ...tags } }];
      }),
    );
  }

  async *listInstances(): AsyncIterable<InstanceSummary[]> {
    yield* this.countedPages('DescribeInstances', () =>
      [...this.instances.values()].filter((i) => i.state !== 'terminated').map((i) => this.instanceView(i)),
    );
  }

  async *listLaunchTemplateImages(): AsyncIterable<LaunchTemplateImage[]> {
    yield* this.countedPages('DescribeLaunchTemplateVersions', () =>
      [...this.launchTemplates].flatMap(([launchTemplateId, versions]) => {
        // $Latest and $Default: one entry when they are the same version.
        const latest = versions.reduce<FakeLaunchTemplateVersion | undefined>((a, v) => (!a || v.version > a.version ? v : a), undefined);
        const chosen = versions.filter((v) => v.isDefault || v === latest).sort((a, b) => a.version - b.version);
        return chosen.flatMap((v) => (v.imageId ? [{ launchTemplateId, version: v.version, isDefault: v.isDefault, imageId: v.imageId }] : []));
      }),
    );
  }

  async findImageReferences(imageIds: string[]): Promise<ImageReferenceCheck> {
    this.options.journal?.push(`findImageReferences ${imageIds.join(',')}`);
    const references = new Map<string, string[]>();
    const unverified = new Map<string, UnverifiedReason>();
    // The gateway asks 10 ids a call; a refused call answers for none of its ids.
    for (let i = 0; i < imageIds.length; i += 10) {
      const slice = imageIds.slice(i, i + 10);
      this.calls.push({ action: 'DescribeImageReferences', ids: slice });
      const failure = this.imageReferencesOffered
        ? (this.referencesFailure ?? this.referencesCallFailures.get(this.callCount('DescribeImageReferences')))
        : new AwsCallError('InvalidAction', 'DescribeImageReferences', 'The action DescribeImageReferences is not valid for this web service.', false, 400);
      for (const id of slice) {
        if (failure) {
          unverified.set(id, { errorCode: failure.code, message: failure.message });
          continue;
        }
        const refs = this.imageReferences.get(id);
        if (refs && refs.length > 0) references.set(id, [...refs]);
      }
    }
    return { references, unverified };
  }

  async deregisterImage(imageId: string): Promise<'deregistered' | 'gone'> {
    this.calls.push({ action: 'DeregisterImage', ids: [imageId] });
    this.options.journal?.push(`deregister ${imageId}`);
    const failure = this.deregisterFailures.get(imageId);
    if (failure) throw failure;
    const image = this.images.get(imageId);
    if (!image) return 'gone';
    this.images.delete(imageId);
    const keep = this.keepSnapshotsOnDeregister;
    if (keep === true || (keep !== false && keep.has(imageId))) return 'deregistered';
    // DeleteAssociatedSnapshots: a snapshot another image still uses is not deleted.
    const stillUsed = new Set([...this.images.values()].flatMap((i) => i.snapshotIds));
    for (const s of image.snapshotIds) {
      if (stillUsed.has(s)) continue;
      this.snapshotTags.delete(s);
      this.snapshotMeta.delete(s);
    }
    return 'deregistered';
  }

  async deleteSnapshot(snapshotId: string): Promise<'deleted' | 'gone'> {
    this.calls.push({ action: 'DeleteSnapshot', ids: [snapshotId] });
    this.options.journal?.push(`deleteSnapshot ${snapshotId}`);
    const failure = this.deleteSnapshotFailures.get(snapshotId);
    if (failure) throw failure;
    if (!this.snapshotTags.has(snapshotId)) return 'gone';
    const user = [...this.images.values()].find((i) => i.snapshotIds.includes(snapshotId));
    if (user) {
      throw new AwsCallError('InvalidSnapshot.InUse', 'DeleteSnapshot', `The snapshot ${snapshotId} is currently in use by ${user.imageId}`, false, 400);
    }
    this.snapshotTags.delete(snapshotId);
    this.snapshotMeta.delete(snapshotId);
    return 'deleted';
  }

  async enableImageDeprecation(imageId: string, at: Date): Promise<void> {
    this.calls.push({ action: 'EnableImageDeprecation', ids: [imageId] });
    this.options.journal?.push(`deprecate ${imageId} ${at.toISOString()}`);
    const failure = this.deprecationFailures.get(imageId);
    if (failure) throw failure;
    const image = this.images.get(imageId);
    if (!image) throw new AwsCallError('InvalidAMIID.NotFound', 'EnableImageDeprecation', `The image id '[${imageId}]' does not exist`, false, 400);
    // EC2: "You can't specify a date in the past"; seconds are rounded to the nearest minute.
    if (at.getTime() < this.clock().getTime()) {
      throw new AwsCallError('InvalidParameterValue', 'EnableImageDeprecation', `The deprecation time ${at.toISOString()} is in the past`, false, 400);
    }
    image.deprecationTime = new Date(Math.round(at.getTime() / 60_000) * 60_000).toISOString();
  }

  // ---- internals -------------------------------------------------------------------------

  private putSnapshot(snapshotId: string, tags: Tags, startTime: string, sizeBytes = DEFAULT_SNAPSHOT_BYTES): void {
    this.snapshotTags.set(snapshotId, { ...tags });
    this.snapshotMeta.set(snapshotId, { sizeBytes, startTime });
  }

  private mustSnapshot(snapshotId: string): FakeSnapshotMeta {
    let meta = this.snapshotMeta.get(snapshotId);
    if (!meta) {
      if (!this.snapshotTags.has(snapshotId)) throw new Error(`fake: no snapshot ${snapshotId}`);
      // A snapshot put in snapshotTags directly by a test: give it the defaults.
      meta = { sizeBytes: DEFAULT_SNAPSHOT_BYTES, startTime: this.clock().toISOString() };
      this.snapshotMeta.set(snapshotId, meta);
    }
    return meta;
  }

  private clock(): Date {
    return this.options.clock?.() ?? new Date('2026-11-26T01:00:10.000Z');
  }

  private instanceView(i: FakeInstance): InstanceSummary {
    return {
      instanceId: i.instanceId,
      state: i.state,
      tags: { ...i.tags },
      ...(i.imageId !== undefined ? { imageId: i.imageId } : {}),
      ...(i.launchTime !== undefined ? { launchTime: i.launchTime } : {}),
      ...(i.stateReasonCode !== undefined ? { stateReasonCode: i.stateReasonCode } : {}),
      ...(i.launch !== undefined ? { launch: { ...i.launch, tags: { ...i.tags } } } : {}),
    };
  }

  /**
   * A listing as a paginator drains it: one call per page, and one call answering an
   * empty page when nothing matches. The items are read when the first page is asked for.
   */
  private async *countedPages<T>(action: RotationAction, items: () => T[]): AsyncIterable<T[]> {
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

  /** EC2's own CreateImage: refuses a duplicate name, an unknown instance, an instance going away. */
  private ec2CreateImage(spec: ImageSpec): string {
    this.createImageCalls.push(spec);
    this.options.journal?.push(`createImage ${spec.name}`);
    const failure = this.createFailures.get(spec.instanceId);
    if (failure) throw failure;
    const instance = this.instances.get(spec.instanceId);
    if (!instance || instance.state === 'terminated') throw notFound(spec.instanceId);
    if (instance.state === 'shutting-down') {
      throw new AwsCallError('IncorrectInstanceState', 'CreateImage', `The instance '${spec.instanceId}' is not in a state from which it can be imaged`, false, 400);
    }
    if (this.imageByName(spec.name)) {
      throw new AwsCallError('InvalidAMIName.Duplicate', 'CreateImage', `AMI name ${spec.name} is already in use by AMI`, false, 400);
    }
    const imageId = this.newId('ami');
    const snapshotIds = Array.from({ length: instance.volumes }, () => this.newId('snap'));
    this.images.set(imageId, {
      imageId,
      name: spec.name,
      description: spec.description,
      state: 'pending',
      creationDate: this.clock().toISOString(),
      sourceInstanceId: spec.instanceId,
      noReboot: spec.noReboot,
      tags: { ...spec.tags },
      snapshotIds,
    });
    for (const s of snapshotIds) this.putSnapshot(s, spec.tags, this.clock().toISOString());
    return imageId;
  }

  private view(image: FakeImage): ImageView {
    return {
      imageId: image.imageId,
      name: image.name,
      state: image.state,
      stateReason: image.stateReason,
      creationDate: image.creationDate,
      tags: { ...image.tags },
      snapshotIds: [...image.snapshotIds],
      ...(image.deprecationTime !== undefined ? { deprecationTime: image.deprecationTime } : {}),
    };
  }

  private async *pages<T>(items: T[]): AsyncIterable<T[]> {
    const size = this.options.pageSize ?? 1000;
    for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
  }

  private mustImage(imageId: string): FakeImage {
    const image = this.images.get(imageId);
    if (!image) throw new Error(`fake: no image ${imageId}`);
    return image;
  }

  private newId(prefix: 'ami' | 'snap'): string {
    return `${prefix}-${hex(this.nextId++)}`;
  }
}

export type Refusal = { code: string; message: string };

export class InMemoryEventBus implements EventPort {
  /** Events accepted, in order. */
  readonly published: OutgoingEvent[] = [];
  /** Every publish call with the events it was given. */
  readonly calls: OutgoingEvent[][] = [];
  private refuse: (event: OutgoingEvent) => Refusal | undefined = () => undefined;

  constructor(private readonly journal?: Journal) {}

  /** Refuses the entries for which `test` returns true, with `code` (as PutEvents does per entry). */
  failWhen(test: (event: OutgoingEvent) => boolean, code = 'ThrottlingException'): void {
    this.refuse = (event) => (test(event) ? { code, message: `refused: ${code}` } : undefined);
  }

  failAll(code = 'ThrottlingException'): void {
    this.failWhen(() => true, code);
  }

  heal(): void {
    this.refuse = () => undefined;
  }

  /** Details of the published events of one type. */
  ofType<K extends DetailType>(detailType: K): Array<z.infer<(typeof DETAIL_SCHEMAS)[K]>> {
    return this.published.filter((e) => e.detailType === detailType).map((e) => e.detail) as unknown as Array<z.infer<(typeof DETAIL_SCHEMAS)[K]>>;
  }

  async publish(events: OutgoingEvent[]): Promise<PublishOutcome> {
    this.calls.push([...events]);
    const failed: PublishFailure[] = [];
    for (const event of events) {
      const refusal = this.refuse(event);
      if (refusal) {
        failed.push({ event, ...refusal });
        this.journal?.push(`publish-refused ${event.detailType}`);
      } else {
        this.published.push(event);
        this.journal?.push(`publish ${event.detailType}`);
      }
    }
    return { published: events.length - failed.length, failed };
  }
}

/** CloudWatch's metric alarms, by name; calls counted like the API's. */
export class InMemoryAlarms implements AlarmPort {
  readonly alarms = new Map<string, { instanceId: string; tags: Tags }>();
  readonly calls: Array<{ action: 'DescribeAlarms' | 'PutMetricAlarm' | 'DeleteAlarms'; names: string[] }> = [];
  private readonly putFailures = new Map<string, AwsCallError>();

  constructor(private readonly pageSize = 100) {}

  /** PutMetricAlarm for this instance's alarm fails with `error` (until cleared with undefined). */
  failPut(instanceId: string, error: AwsCallError | undefined): void {
    if (error) this.putFailures.set(instanceId, error);
    else this.putFailures.delete(instanceId);
  }

  async *listAlarmNames(prefix: string): AsyncIterable<string[]> {
    const names = [...this.alarms.keys()].filter((n) => n.startsWith(prefix)).sort();
    for (let i = 0; i === 0 || i < names.length; i += this.pageSize) {
      this.calls.push({ action: 'DescribeAlarms', names: [] });
      yield names.slice(i, i + this.pageSize);
    }
  }

  async putStatusAlarm(name: string, instanceId: string, tags: Tags): Promise<void> {
    this.calls.push({ action: 'PutMetricAlarm', names: [name] });
    const failure = this.putFailures.get(instanceId);
    if (failure) throw failure;
    this.alarms.set(name, { instanceId, tags: { ...tags } });
  }

  async deleteAlarms(names: string[]): Promise<void> {
    this.calls.push({ action: 'DeleteAlarms', names: [...names] });
    for (const n of names) this.alarms.delete(n);
  }
}

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: unknown;
  extra: unknown[];
}

/** A logger that remembers what it was told. */
export class RecordingLog implements Log {
  readonly records: LogRecord[] = [];
  debug = (message: unknown, ...extra: unknown[]) => void this.records.push({ level: 'debug', message, extra });
  info = (message: unknown, ...extra: unknown[]) => void this.records.push({ level: 'info', message, extra });
  warn = (message: unknown, ...extra: unknown[]) => void this.records.push({ level: 'warn', message, extra });
  error = (message: unknown, ...extra: unknown[]) => void this.records.push({ level: 'error', message, extra });

  at(level: LogRecord['level']): LogRecord[] {
    return this.records.filter((r) => r.level === level);
  }
}

export interface MetricRecord {
  name: CountMetric | BytesMetric;
  unit: 'Count' | 'Bytes';
  value: number;
}

/** Metrics that remember what they were told, in order, as Powertools would publish them. */
export class RecordingMetrics implements MetricsPort {
  readonly records: MetricRecord[] = [];
  count = (name: CountMetric, value = 1) => void this.records.push({ name, unit: 'Count', value });
  bytes = (name: BytesMetric, value: number) => void this.records.push({ name, unit: 'Bytes', value });

  /** The sum of what was recorded under this name (CloudWatch's Sum statistic), 0 when nothing was. */
  total(name: CountMetric | BytesMetric): number {
    return this.records.filter((r) => r.name === name).reduce((sum, r) => sum + r.value, 0);
  }

  /** Every name recorded, with its sum: what an invocation published. */
  totals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.records) out[r.name] = (out[r.name] ?? 0) + r.value;
    return out;
  }

  clear(): void {
    this.records.length = 0;
  }
}

export const STACK = 'ami-lifecycle-test';
export const NOW = new Date('2026-11-26T01:00:05.000Z');

export interface World {
  deps: Deps;
  ec2: InMemoryEc2;
  alarms: InMemoryAlarms;
  bus: InMemoryEventBus;
  log: RecordingLog;
  metrics: RecordingMetrics;
  journal: Journal;
  /** The world's time, read by deps.now() and EC2 alike: a test moves it to make a run last. */
  clock: { now: Date };
}

/** Rotation settings of the test world: the configured defaults, with orphans spared a day. */
export const ROTATION_DEFAULTS: RotationSettings = {
  defaultRetention: { kind: 'count', count: 7 },
  failedGraceDays: 2,
  deprecateAfterDays: undefined,
  dryRun: false,
  timeZone: 'UTC',
  orphanGraceHours: 24,
};

/** Recovery settings of the test world: the configured defaults. */
export const RECOVERY_DEFAULTS: RecoveryConfig = {
  maxRelaunchesPerHour: 3,
  crashLoopGraceMinutes: 30,
  terminateReplaced: false,
  dryRun: false,
  runningWaitSeconds: 180,
};

/** A fresh in-memory world with the use cases' dependencies wired to it. */
export function world(
  options: {
    pageSize?: number;
    schedules?: string[];
    now?: Date;
    rotation?: Partial<RotationSettings>;
    recovery?: Partial<RecoveryConfig>;
  } = {},
): World {
  const journal: Journal = [];
  const clock = { now: options.now ?? NOW };
  const ec2 = new InMemoryEc2({ pageSize: options.pageSize, journal, clock: () => clock.now });
  const bus = new InMemoryEventBus(journal);
  const log = new RecordingLog();
  const alarms = new InMemoryAlarms();
  const metrics = new RecordingMetrics();
  const deps: Deps = {
    managedBy: STACK,
    schedules: options.schedules ?? ['nightly', 'weekly'],
    rotation: { ...ROTATION_DEFAULTS, ...options.rotation },
    recovery: { ...RECOVERY_DEFAULTS, ...options.recovery },
    ec2,
    events: bus,
    log,
    metrics,
    now: () => clock.now,
  };
  return { deps, ec2, alarms, bus, log, metrics, journal, clock };
}

/** Instance ids that match the InstanceId schema: i- and 17 hex digits. */
export const instanceIdOf = (n: number) => `i-${hex(n)}`;

/** A BakeRequested detail as the scheduled run produces it, for tests to vary. */
export const bakeRequest = (overrides: Partial<BakeRequested> = {}): BakeRequested => ({
  managedBy: STACK,
  instanceId: 'i-0123456789abcdef0',
  lineage: 'web',
  assignLineage: false,
  schedule: 'nightly',
  slot: '2026-11-26',
  reboot: false,
  requestedAt: NOW.toISOString(),
  ...overrides,
});

/** A string the AWS SDK can serialize: its query serializer runs encodeURIComponent, which throws on a lone surrogate. */
export function isWellFormed(s: string): boolean {
  try {
    encodeURIComponent(s);
    return true;
  } catch {
    return false;
  }
}
