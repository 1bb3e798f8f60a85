/**
 * What the use cases need from the outside world. The gateways in shared/aws
 * implement these against AWS; tests implement them in memory.
 */
import type { ImageSpec, InstanceSummary } from '../domain/bake.js';
import type { OutgoingEvent } from '../domain/events.js';
import type { ImageView } from '../domain/image-status.js';
import type { RelaunchSpec, StoredLaunchConfig } from '../domain/launch.js';
import type { UnverifiedReason } from '../domain/retention.js';
import type { Tags } from '../domain/tags.js';
import type { RecoveryConfig, RotationSettings } from './settings.js';

export interface CreatedImage {
  imageId: string;
  /** False when an image of the same name already existed (a retried or duplicated bake). */
  created: boolean;
  /** The existing image, when created is false. */
  existing?: ImageView;
}

export interface Ec2Port {
  /** Instances carrying the bake tag, not terminated, a page at a time. */
  listBakeCandidates(): AsyncIterable<InstanceSummary[]>;
  /** CreateImage; an image that already has this name is found and returned instead. */
  createImage(spec: ImageSpec): Promise<CreatedImage>;
  describeImage(imageId: string): Promise<ImageView | undefined>;
  /** Images of this stack still marked pending, a page at a time. */
  listPendingImages(managedBy: string): AsyncIterable<ImageView[]>;
  tagResources(resourceIds: string[], tags: Tags): Promise<void>;

  // ---- rotation --------------------------------------------------------------------------
  /** Every image of this stack, a page at a time. */
  listManagedImages(managedBy: string): AsyncIterable<ImageView[]>;
  /** Every snapshot of this stack, a page at a time. */
  listManagedSnapshots(managedBy: string): AsyncIterable<SnapshotView[]>;
  /** Instances carrying the recover tag, not terminated, a page at a time. */
  listRecoverCandidates(): AsyncIterable<InstanceSummary[]>;
  /** Every instance that is not terminated, whatever its tags, a page at a time. */
  listInstances(): AsyncIterable<InstanceSummary[]>;
  /** The images named by the default and latest version of every launch template. */
  listLaunchTemplateImages(): AsyncIterable<LaunchTemplateImage[]>;
  /**
   * What AWS knows to reference these images (DescribeImageReferences), and the images it
   * could not answer for (a call refused, not offered, throttled past the retries): never
   * throws for a refusal, so that one refusal costs a day's deletions, not the run.
   */
  findImageReferences(imageIds: string[]): Promise<ImageReferenceCheck>;
  /** DeregisterImage with DeleteAssociatedSnapshots; 'gone' when it no longer exists. */
  deregisterImage(imageId: string): Promise<'deregistered' | 'gone'>;
  deleteSnapshot(snapshotId: string): Promise<'deleted' | 'gone'>;
  enableImageDeprecation(imageId: string, at: Date): Promise<void>;

  // ---- capture (at bake) and recovery -------------------------------------------------------
  /** The instance as EC2 describes it now; undefined when EC2 no longer knows it. */
  describeInstance(instanceId: string): Promise<InstanceSummary | undefined>;
  /** Every instance carrying the lineage tag, in any state. */
  listLineageInstances(lineage: string): Promise<InstanceSummary[]>;
  /** Every image of this stack in the lineage. */
  listLineageImages(managedBy: string, lineage: string): Promise<ImageView[]>;
  /** The lineage of an instance that is gone, from the images baked from it. */
  findLineageOf(managedBy: string, instanceId: string): Promise<string | undefined>;
  /** The instance's user data, base64, as DescribeInstanceAttribute gives it. */
  readUserData(instanceId: string): Promise<string | undefined>;
  /**
   * Writes the configuration as the newest version of the named launch template (created
   * if missing) and answers its number. Idempotent per revision (the instance and its
   * configuration's digest): when the newest version was saved with this revision already
   * (a retry, a duplicate event), answers its number and adds nothing.
   */
  saveLaunchConfig(name: string, config: StoredLaunchConfig, tags: Tags, description: string, revision: string): Promise<number>;
  /** The newest version of the named launch template, or undefined when there is none. */
  readLaunchConfig(name: string): Promise<StoredLaunchConfig | undefined>;
  /** Tags the Elastic IP with this public address; its allocation id, or undefined if it is not one. */
  tagElasticIp(publicIp: string, tags: Tags): Promise<string | undefined>;
  /** Elastic IPs carrying the lineage tag. */
  findLineageAddresses(lineage: string): Promise<AddressView[]>;
  /** RunInstances for one replacement; idempotent by the spec's client token. */
  runInstance(spec: RelaunchSpec): Promise<string>;
  waitUntilRunning(instanceId: string, maxWaitSeconds: number): Promise<void>;
  /** Associates the Elastic IP with the instance, taking it from wherever it is. */
  associateAddress(allocationId: string, instanceId: string): Promise<void>;
  terminateInstance(instanceId: string): Promise<'terminated' | 'gone'>;
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

export interface PublishFailure {
  event: OutgoingEvent;
  code: string;
  message: string;
}

export interface PublishOutcome {
  published: number;
  failed: PublishFailure[];
}

export interface EventPort {
  publish(events: OutgoingEvent[]): Promise<PublishOutcome>;
}

/** The status-check alarms of opted-in instances (CloudWatch). */
export interface AlarmPort {
  /** Names of the metric alarms starting with the prefix, a page at a time. */
  listAlarmNames(prefix: string): AsyncIterable<string[]>;
  /** Creates (or updates) the status-check alarm of one instance. */
  putStatusAlarm(name: string, instanceId: string, tags: Tags): Promise<void>;
  deleteAlarms(names: string[]): Promise<void>;
}

/**
 * The service's CloudWatch metrics (Powertools, EMF), by name. The alarms in serverless.yml
 * and the README name them: rename none without both. Counts unless the name says otherwise.
 */
export const COUNT_METRICS = [
  'ImagesBaked',
  'ImageBakesFailed',
  'ImagesGood',
  'ImagesFailed',
  'ImagesDeleted',
  'SnapshotsDeleted',
  'DeletionsPlanned',
  'RotationFailures',
  'ImagesKeptUnverified',
  'InstancesRelaunched',
  'RecoveriesPlanned',
  'RecoveriesSkipped',
  'RecoveriesGaveUp',
  'RecoveriesFailed',
  'LineagesWithoutGoodImage',
] as const;
export type CountMetric = (typeof COUNT_METRICS)[number];
export const BYTES_METRICS = ['BytesFreed'] as const;
export type BytesMetric = (typeof BYTES_METRICS)[number];

/**
 * Where the use cases record what they decided, once per outcome. What is recorded during an
 * invocation is published when it ends (the function's middleware), with no dimension but the
 * service: nothing per instance or per image, whose cardinality CloudWatch would bill.
 */
export interface MetricsPort {
  /** Adds `value` (default 1) to a count. */
  count(name: CountMetric, value?: number): void;
  bytes(name: BytesMetric, value: number): void;
}

/** Metrics that go nowhere: for the operator CLI and scripts, whose runs are no service's. */
export const noMetrics: MetricsPort = { count: () => undefined, bytes: () => undefined };

/** Structured fields of a log line. */
export type LogFields = Record<string, unknown>;

/**
 * What the use cases need of a logger: a message and its fields. Powertools' Logger is one
 * (shared/runtime/logger.ts), the CLI writes to stderr, tests record.
 */
export interface Log {
  debug(message: string, ...fields: LogFields[]): void;
  info(message: string, ...fields: LogFields[]): void;
  warn(message: string, ...fields: LogFields[]): void;
  error(message: string, ...fields: LogFields[]): void;
}

export interface Deps {
  managedBy: string;
  schedules: readonly string[];
  rotation: RotationSettings;
  recovery: RecoveryConfig;
  ec2: Ec2Port;
  events: EventPort;
  log: Log;
  metrics: MetricsPort;
  now: () => Date;
}
