/**
 * What the use cases need from the outside world, and what each of them runs with (its deps).
 * The gateways in shared/aws implement the ports against AWS; tests implement them in memory.
 * EC2's ports, sliced per use case, are in ec2-ports.ts.
 */
import type { OutgoingEvent } from '../domain/events.js';
import type { TargetRevision } from '../domain/promotion.js';
import type { CopyTags, Tags, VerifyMode } from '../domain/tags.js';
import type {
  BakeEc2,
  Ec2Port,
  FleetViewEc2,
  OnDemandBakeEc2,
  PromoteEc2,
  RecoveryEc2,
  RotationEc2,
  ScheduleEc2,
  SettleEc2,
  ShareEc2,
  StatusAlarmsEc2,
  VerifyEc2,
} from './ec2-ports.js';
import type { CommandResult, VerifySettings } from '../domain/verification.js';
import type { RecoveryConfig, RotationSettings } from './settings.js';

/** An SSM parameter's current value. */
export interface ParameterValue {
  value: string;
  version: number;
  dataType: string;
}

/** SSM parameters that hold an image id (promotion's `ssm:` targets). */
export interface ParameterPort {
  /** The parameter now; undefined when it does not exist. */
  getParameter(name: string): Promise<ParameterValue | undefined>;
  /** PutParameter Overwrite, data type aws:ec2:image; answers the new version. */
  putImageParameter(name: string, imageId: string, description: string): Promise<number>;
  /** Every version SSM keeps (the last 100), in any order. */
  parameterHistory(name: string): Promise<TargetRevision[]>;
}

/** An Auto Scaling group as promotion reads it. */
export interface GroupView {
  name: string;
  tags: Tags;
  /** The launch template it launches from, with the version it names (`$Default`, `$Latest` or a number). */
  launchTemplate?: { id?: string; name?: string; version: string };
  /** A mixed instances policy names its own launch template overrides. */
  mixedInstances: boolean;
  launchConfigurationName?: string;
}

export interface RefreshPreferences {
  minHealthyPercentage: number;
  skipMatching: boolean;
  checkpointPercentages: number[];
}

/** Auto Scaling groups (promotion's `asg:` targets). */
export interface GroupPort {
  describeGroup(name: string): Promise<GroupView | undefined>;
  /** Starts a rolling instance refresh; a refresh already running is answered, not thrown. */
  startInstanceRefresh(name: string, preferences: RefreshPreferences): Promise<{ refreshId: string } | { inProgress: string }>;
}

/** An Auto Scaling launch configuration and the image it launches (launch configurations name one image each). */
export interface LaunchConfigurationImage {
  name: string;
  imageId: string;
}

/** Launch configurations: rotation keeps every image one names (launch-configuration-uses.ts). */
export interface LaunchConfigurationListing {
  /** Every launch configuration of the region, a page at a time. */
  listLaunchConfigurationImages(): AsyncIterable<LaunchConfigurationImage[]>;
}

/** The groups that launch from a launch configuration, for `stale`'s reasons. */
export interface StaleGroupsPort extends LaunchConfigurationListing {
  /** Every Auto Scaling group with the launch configuration it names (none for a template's group), a page at a time. */
  listGroupLaunchConfigurations(): AsyncIterable<Array<{ name: string; launchConfigurationName?: string | undefined }>>;
}

/** A String or StringList parameter whose value is (or lists) image ids. */
export interface ImageIdParameter {
  name: string;
  dataType: string;
  imageIds: string[];
}

/** Parameter Store, for `stale`'s reasons. */
export interface ImageParameterListing {
  /** Every String and StringList parameter of the region whose value holds an image id. */
  listImageIdParameters(): Promise<ImageIdParameter[]>;
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
  /** The alarm on one status-check metric of one instance (StatusCheckFailed_System or _Instance). */
  putStatusAlarm(name: string, instanceId: string, metricName: string, tags: Tags): Promise<void>;
  deleteAlarms(names: string[]): Promise<void>;
}

/**
 * The service's CloudWatch metrics (EMF, shared/runtime/metrics.ts), by name. The alarms in serverless.yml
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
  'RecoveriesDeferred',
  'RecoveriesGaveUp',
  'RecoveriesFailed',
  'LineagesWithoutGoodImage',
  'ImagesShared',
  'SharingFailures',
  'PublicImagesRevoked',
  'VerificationsRequested',
  'ImagesVerified',
  'ImageVerificationsFailed',
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
 * What the use cases need of a logger: a message and its fields. The functions' JSON logger is one
 * (shared/runtime/logger.ts), the CLI writes to stderr, tests record.
 */
export interface Log {
  debug(message: string, ...fields: LogFields[]): void;
  info(message: string, ...fields: LogFields[]): void;
  warn(message: string, ...fields: LogFields[]): void;
  error(message: string, ...fields: LogFields[]): void;
}

/** What every use case that acts runs with, EC2 aside: its stack, the bus, the log, the metrics and the clock. */
export interface UseCaseDeps {
  managedBy: string;
  events: EventPort;
  log: Log;
  metrics: MetricsPort;
  now: () => Date;
}

export interface SettleDeps extends UseCaseDeps {
  ec2: SettleEc2;
}

export interface BakeDeps extends UseCaseDeps {
  ec2: BakeEc2;
}

/** Issue 17: what the bake decision reads of the stage's copy settings (config.ts CopySettings). */
export interface BakeCopySettings {
  copyTo: readonly string[];
  homeRegion?: string | undefined;
}

export interface ScheduleDeps extends UseCaseDeps {
  schedules: readonly string[];
  /** The stage's copyTo and home region; absent: no copies. */
  copies?: BakeCopySettings | undefined;
  /** The stage's copyTags; absent: none. */
  copyTags?: CopyTags | undefined;
  /** The stage's verifyDefault; absent: off. */
  verifyDefault?: VerifyMode | undefined;
  ec2: ScheduleEc2;
}

/** Planning a rotation reads and decides; it publishes and records nothing. */
export interface RotationPlanDeps {
  managedBy: string;
  rotation: RotationSettings;
  log: Log;
  now: () => Date;
  ec2: FleetViewEc2;
  /** Auto Scaling launch configurations: each keeps the image it names. */
  launchConfigurations: LaunchConfigurationListing;
}

export interface FleetViewDeps extends RotationPlanDeps {
  schedules: readonly string[];
}

/** Where the service's copies are (issue 17): the home region, the stage's destination regions, and EC2 in each. */
/** Issue 17: the destination regions rotation reaches from home, and its gateways there. */
export interface CopyRegions {
  /** The stack's own region: what a copy names as its source-region. */
  homeRegion: string;
  /** The stage's destination regions whatever the images say: copyTo and drRegions' keys. */
  regions: readonly string[];
  /** EC2 in a destination region (created once per region and reused). */
  ec2In(region: string): RotationEc2;
  /** Auto Scaling's launch configurations in a destination region: in-use reasons there (image ids are regional). */
  launchConfigurationsIn(region: string): LaunchConfigurationListing;
}

export interface RotationDeps extends UseCaseDeps {
  rotation: RotationSettings;
  ec2: RotationEc2;
  /** Absent: the home region's images only (no copies anywhere). */
  copyRegions?: CopyRegions | undefined;
  launchConfigurations: LaunchConfigurationListing;
}

/** The sharing step of the rotation schedule: the rotation's settings give its dry run and its time zone. */
export interface ShareDeps extends UseCaseDeps {
  rotation: Pick<RotationSettings, 'dryRun' | 'timeZone'>;
  ec2: ShareEc2;
}

/** One-time schedules that hand a deferred recovery back to the recover function when it is due. */
export interface RecheckPort {
  /**
   * The schedule of this name, due at `at` with this input: created, or updated where it exists
   * (one per name). Says which: of deliveries racing, exactly one creates it.
   */
  scheduleOnce(name: string, at: Date, input: unknown): Promise<'created' | 'updated'>;
}

export interface RecoveryDeps extends UseCaseDeps {
  recovery: RecoveryConfig;
  ec2: RecoveryEc2;
  /** Absent where no recovery ever waits: an operator's relaunch (the CLI). */
  rechecks?: RecheckPort;
}

/** SSM Run Command on a test instance (verify-image.ts). */
export interface CommandPort {
  /** SendCommand of the document to the instance; the command id. */
  sendCommand(instanceId: string, document: string, parameters: Record<string, string[]>, comment: string): Promise<string>;
  /** The newest command of this document sent to the instance, with its result there; undefined when none was sent. */
  findCommand(instanceId: string, document: string): Promise<CommandResult | undefined>;
}

export interface VerifyDeps extends UseCaseDeps {
  verify: VerifySettings;
  ec2: VerifyEc2;
  /** The one-time schedules that hand a verification back when it is due. */
  rechecks: RecheckPort;
  /** Only where a command is configured. */
  commands?: CommandPort | undefined;
}

export interface StatusAlarmsDeps {
  managedBy: string;
  log: Log;
  ec2: StatusAlarmsEc2;
}

export interface OnDemandBakeDeps extends UseCaseDeps {
  schedules: readonly string[];
  /** The stage's copyTo and home region; absent: no copies. */
  copies?: BakeCopySettings | undefined;
  /** The schedules' time zone, which places the slot. */
  rotation: Pick<RotationSettings, 'timeZone'>;
  /** The stage's copyTags; absent: none. */
  copyTags?: CopyTags | undefined;
  /** The stage's verifyDefault; absent: off. */
  verifyDefault?: VerifyMode | undefined;
  ec2: OnDemandBakeEc2;
}

/** What promotion is set to by the stage (promoteParameterPrefix, promoteRollbackDepth, refresh*). */
export interface PromotionSettings {
  parameterPrefix: string;
  rollbackDepth: number;
  refresh: RefreshPreferences;
}

export interface PromoteDeps extends UseCaseDeps {
  promotion: PromotionSettings;
  ec2: PromoteEc2;
  parameters: ParameterPort;
  groups: GroupPort;
}

/** Everything every use case needs: what the functions (runtime/deps.ts) and the CLI build. */
export interface Deps extends UseCaseDeps {
  schedules: readonly string[];
  /** The stage's copyTags; absent: none. */
  copyTags?: CopyTags | undefined;
  /** The stage's verifyDefault; absent: off. */
  verifyDefault?: VerifyMode | undefined;
  rotation: RotationSettings;
  recovery: RecoveryConfig;
  /** Issue 17: the stage's copy settings; absent: no copies. */
  copies?: (BakeCopySettings & CopyReconcileSettings) | undefined;
  ec2: Ec2Port;
  /** The copies' destination regions, for rotation (issue 17); absent where the home region is unknown. */
  copyRegions?: CopyRegions | undefined;
  launchConfigurations: LaunchConfigurationListing;
}

/** Issue 17: what the copy reconcile reads of the stage's settings. */
export interface CopyReconcileSettings {
  maxConcurrent: number;
  homeRegion?: string | undefined;
  /** Per region, the KMS key copies into it are encrypted with (drRegions' kmsKeyId). */
  drRegions: Readonly<Record<string, { kmsKeyId?: string | undefined }>>;
}
