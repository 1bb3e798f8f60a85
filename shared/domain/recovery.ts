/**
 * Recovery decisions. Given what failed, the lineage's images, its instances and its
 * captured launch configuration, decide whether to relaunch, from which image and
 * with what, or why not. Pure.
 */
import type { InstanceSummary } from './bake.js';
import { newestFirst, notMadeHere, statusOf, type ImageView } from './image-status.js';
import type { AlarmStateChangeEvent, HealthEvent, InstanceStateChangeEvent } from './incoming.js';
import { fallbacksOf, relaunchSpec, type RelaunchSpec, type StoredLaunchConfig } from './launch.js';
import {
  bakeRebootOf,
  deferralOf,
  passedAgain,
  rebootedAtOf,
  stillFailing,
  type Deferral,
  type DeferralSettings,
  type Recheck,
  type StatusChecks,
} from './recovery-deferral.js';
import { parseInstancePolicy, TAG, type RecoverMode, type Tags } from './tags.js';

/** The events recovery listens to, as parsed by their schemas. */
export type RecoveryTrigger = InstanceStateChangeEvent | AlarmStateChangeEvent | HealthEvent;

/** Tag an operator sets on an instance under planned maintenance: recovery relaunches nothing while it is on. */
export const MAINTENANCE_TAG = TAG.maintenance;

/** What reported the failure. An alarm or Health event that waited carries its `recheck` when handed back. */
export type FailureSignal =
  | { kind: 'state'; instanceId: string; state: 'stopped' | 'terminated' }
  | { kind: 'alarm'; instanceId: string; alarmName: string; metric: string; recheck?: Recheck }
  | { kind: 'health'; instanceId: string; eventTypeCode: string; recheck?: Recheck }
  /**
   * An operator asked for it (the CLI's `relaunch`): no state reason or mode stands in the way;
   * `force` launches even an instance whose capacity another service owns.
   */
  | { kind: 'manual'; instanceId: string; force?: boolean };

/**
 * Tags by which another service marks the instances whose capacity it owns, and replaces on its
 * own: Auto Scaling (EKS managed node groups are Auto Scaling groups; "Tag Auto Scaling groups and
 * instances", https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-tagging.html),
 * EC2 Fleet and Spot Fleet, which tag the instances they launch with their ids (EC2 User Guide,
 * "EC2 Fleet and Spot Fleet", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Fleets.html),
 * and Karpenter's node pools (https://karpenter.sh/docs/concepts/nodepools/; `provisioner-name`
 * before v1beta1). Relaunching such an instance outside its owner would leave an unmanaged machine
 * after every scale-in and race the owner's own replacement.
 */
export const CAPACITY_OWNER_TAGS: ReadonlyArray<readonly [tag: string, owner: string]> = [
  ['aws:autoscaling:groupName', 'Auto Scaling group'],
  ['aws:ec2:fleet-id', 'EC2 Fleet'],
  ['aws:ec2spot:fleet-request-id', 'Spot Fleet'],
  ['karpenter.sh/nodepool', 'Karpenter node pool'],
  ['karpenter.sh/provisioner-name', 'Karpenter provisioner'],
];

/** The service that owns the instance's capacity, e.g. `Auto Scaling group web-asg`, if any. */
export function capacityOwnerOf(tags: Tags): string | undefined {
  for (const [tag, owner] of CAPACITY_OWNER_TAGS) if (tags[tag]) return `${owner} ${tags[tag]}`;
  return undefined;
}

/**
 * EC2's state-reason codes (API StateReason): those that mean the instance failed or
 * was taken away, as opposed to stopped or terminated by someone.
 */
const FAILURE_CODES = new Set([
  'Server.InternalError',
  'Server.InsufficientInstanceCapacity',
  'Server.ScheduledStop',
  'Server.SpotInstanceShutdown',
  'Server.SpotInstanceTermination',
  'Client.InternalError',
  'Client.VolumeLimitExceeded',
  'Client.InvalidSnapshot.NotFound',
]);
const USER_CODES = new Set([
  'Client.UserInitiatedShutdown',
  'Client.UserInitiatedHibernate',
  'Client.InstanceInitiatedShutdown',
  'Client.InstanceTerminated',
]);

/**
 * State reasons with which EC2 ends a launch that the account or its configuration refused,
 * not the image: another image would fail the same way, so a replacement that ends with one
 * soon after its launch blames no image and is not relaunched (RecoveryFailed names the cause).
 * Sources: API reference, StateReason
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StateReason.html), and EC2 User
 * Guide, "Troubleshoot Amazon EC2 instance launch issues: instance terminates immediately"
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html), which
 * names Client.InvalidKMSKey.InvalidState and the KMS cause of Client.InternalError.
 */
export const LAUNCH_REFUSALS: Readonly<Record<string, string>> = {
  'Client.InternalError':
    'EC2 ended the launch with a client error: usually a KMS key of an encrypted volume that the launch may not use ' +
    '(name the key in the stage param kmsKeyArns, and let the key policy allow the account)',
  'Client.InvalidKMSKey.InvalidState': 'the KMS key of an encrypted volume is disabled or pending deletion',
  'Client.VolumeLimitExceeded': "the account's limit on EBS volumes or total storage is reached: free some or ask for an increase",
  'Server.InsufficientInstanceCapacity': 'EC2 had no capacity for the instance type in its Availability Zone',
};

/** Whether the instance names capacity fallbacks (ami-lifecycle:subnets or ami-lifecycle:fallback-types). */
function hasFallbacks(tags: Tags): boolean {
  const { subnets, instanceTypes } = fallbacksOf(tags);
  return subnets.length > 0 || instanceTypes.length > 0;
}

export type StateReasonClass = 'failure' | 'user' | 'unknown';

export function classifyStateReason(code: string | undefined): StateReasonClass {
  if (code === undefined || code === '') return 'unknown';
  if (FAILURE_CODES.has(code) || code in LAUNCH_REFUSALS) return 'failure';
  if (USER_CODES.has(code)) return 'user';
  // A Server.* code we do not list is still AWS's doing, not the operator's.
  return code.startsWith('Server.') ? 'failure' : 'unknown';
}

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

/** An instance id from a bare id or an EC2 instance ARN (AWS Health uses both). */
export function instanceIdOf(entity: string): string | undefined {
  const value = entity.trim();
  if (INSTANCE_ID.test(value)) return value;
  const arn = /^arn:aws[a-z-]*:ec2:[a-z0-9-]*:\d{12}:instance\/(i-[0-9a-f]{8,17})$/.exec(value);
  return arn?.[1];
}

/** Status-check metrics whose ALARM means the instance (or its host) is failing. */
export const STATUS_CHECK_METRICS = new Set(['StatusCheckFailed', 'StatusCheckFailed_System', 'StatusCheckFailed_Instance']);

/**
 * AWS Health event types of EC2 that announce the loss of the instance's hardware: retirement
 * (instance-store-backed, and EBS-backed "persistent"), expedited retirement, a stop or
 * termination scheduled because the host degraded, a dedicated host's retirement, and a degraded
 * instance-store drive. The rule in serverless.yml matches exactly these (a test holds them equal).
 * Sources: AWS Health User Guide, "Running operations on EC2 instances automatically in response
 * to events in AWS Health" (AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED)
 * https://docs.aws.amazon.com/health/latest/ug/automating-instance-actions.html; EC2 User Guide,
 * "Scheduled events for Amazon EC2 instances" (instance-stop, instance-retirement)
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instances-status-check_sched.html;
 * aws/aws-health-tools (AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED). AWS publishes no
 * AWS_EC2_DEGRADED_HARDWARE type: a degraded host is announced as a scheduled stop or retirement.
 */
export const HEALTH_EVENT_TYPES = new Set([
  'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED',
  'AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_SCHEDULED',
  'AWS_EC2_INSTANCE_RETIREMENT_EXPEDITED',
  'AWS_EC2_PERSISTENT_INSTANCE_RETIREMENT_EXPEDITED',
  'AWS_EC2_INSTANCE_STOP_SCHEDULED',
  'AWS_EC2_INSTANCE_TERMINATION_SCHEDULED',
  'AWS_EC2_DEDICATED_HOST_RETIREMENT_SCHEDULED',
  'AWS_EC2_INSTANCE_STORE_DRIVE_PERFORMANCE_DEGRADED',
]);

export interface RecoveryImage {
  imageId: string;
  status: string | undefined;
  state: string;
  createdAt: Date;
}

/**
 * The image to relaunch from: the newest `good`, available image of the lineage
 * that is not excluded (marked bad, or the image a crash-looping replacement came
 * from). Never a `pending`, `failed` or `bad` one.
 */
export function recoveryImage(images: readonly RecoveryImage[], exclude: ReadonlySet<string> = new Set()): RecoveryImage | undefined {
  return images.filter((i) => i.status === 'good' && i.state === 'available' && !exclude.has(i.imageId)).sort(newestFirst)[0];
}

export interface RecoveryInput {
  signal: FailureSignal;
  /** The failed instance as last described; undefined when it is already gone. */
  instance: { tags: Tags; state: string; stateReasonCode?: string | undefined; launchTime?: Date | undefined } | undefined;
  mode: RecoverMode;
  images: readonly RecoveryImage[];
  /** Relaunches of this lineage in the last hour (from its instances' `replaces` tags). */
  relaunchesLastHour: number;
  maxRelaunchesPerHour: number;
  /** The image the failed instance was launched from, when it was itself a replacement. */
  launchedFrom?: string | undefined;
  /** A replacement failing sooner than this after launch marks its image bad. */
  crashLoopGraceMinutes: number;
  /** A bake of the instance with reboot=true, created less than the bake reboot window ago. */
  bakeReboot?: { imageId: string; startedAt: Date } | undefined;
  /** When recovery last rebooted the instance (its rebooted-at tag). */
  rebootedAt?: Date | undefined;
  /** The instance's status checks, read for a recheck of an alarm, or a fresh replacement's combined alarm. */
  statusChecks?: StatusChecks | undefined;
  deferral: DeferralSettings;
  now: Date;
}

export type RecoveryDecision =
  | { action: 'relaunch'; imageId: string; markBad?: string; reason: string }
  /** `record`: tags to write on the instance (when maintenance was first seen). */
  | { action: 'skip'; reason: string; record?: Tags }
  /** Wait until a due time (rebooting first, if `reboot`), then look again. */
  | ({ action: 'defer' } & Deferral)
  | { action: 'give-up'; reason: string }
  /** The launch itself was refused by the account or its configuration: relaunching cannot help. */
  | { action: 'fail'; errorCode: string; reason: string };

/**
 * What in a signal says the image a replacement booted from is at fault, if anything: its
 * instance status check failing (the operating system: "incorrect startup configuration,
 * corrupted file system, incompatible kernel"; the system check is the host's), or the instance
 * shutting itself down from inside (Client.InstanceInitiatedShutdown: "the instance was shut
 * down using the shutdown -h command from the instance"), soon after its launch. Sources: EC2
 * User Guide, "Status checks for Amazon EC2 instances"
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-system-instance-status-check.html);
 * API reference, StateReason (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_StateReason.html).
 * The combined check (StatusCheckFailed, an alarm of your own) blames only when the checks,
 * read then, say the instance check failed and the system check passed.
 * Never a person's stop or termination, a spot interruption, a capacity or scheduled stop, the
 * system check (hardware), a Health event or an operator's relaunch: those relaunch, if the mode
 * says so, from the same image.
 * Client.InternalError ends a launch the account refused (LAUNCH_REFUSALS): RecoveryFailed.
 */
export function imageFaultOf(signal: FailureSignal, stateReasonCode: string | undefined, checks?: StatusChecks): string | undefined {
  if (signal.kind === 'alarm' && signal.metric === 'StatusCheckFailed_Instance') {
    return `its instance status check failed (alarm ${signal.alarmName})`;
  }
  if (signal.kind === 'alarm' && signal.metric === 'StatusCheckFailed' && checks?.instance === 'impaired' && checks.system === 'ok') {
    return `its instance status check failed, its system check passed (alarm ${signal.alarmName})`;
  }
  if (signal.kind === 'state' && stateReasonCode === 'Client.InstanceInitiatedShutdown') {
    return `it was ${signal.state} from inside (Client.InstanceInitiatedShutdown)`;
  }
  return undefined;
}

export function decideRecovery(input: RecoveryInput): RecoveryDecision {
  const { signal, instance, mode } = input;
  // A replacement that fails soon after its launch may blame its image, for an image fault only.
  const launchedAt = instance?.launchTime;
  const soonAfterLaunch =
    input.launchedFrom !== undefined &&
    launchedAt !== undefined &&
    input.now.getTime() - launchedAt.getTime() < input.crashLoopGraceMinutes * 60_000;
  const fault = soonAfterLaunch ? imageFaultOf(signal, instance?.stateReasonCode, input.statusChecks) : undefined;
  if (mode === 'off') return { action: 'skip', reason: 'recovery is off for this instance' };
  if (instance?.tags[TAG.replacedBy]) return { action: 'skip', reason: `already replaced by ${instance.tags[TAG.replacedBy]}` };
  const owner = instance ? capacityOwnerOf(instance.tags) : undefined;
  if (owner && !(signal.kind === 'manual' && signal.force)) {
    return {
      action: 'skip',
      reason:
        `capacity owned by ${owner}: it replaces its own instances, and recover has no effect here` +
        (signal.kind === 'manual' ? ' (relaunch --force launches one outside it anyway)' : ''),
    };
  }

  // The maintenance marker holds every trigger: a planned reboot trips the status-check alarm,
  // and patching can come with a Health notice. Only an operator's own relaunch goes past it.
  const maintenance = instance?.tags[MAINTENANCE_TAG];
  if (maintenance !== undefined && signal.kind !== 'manual') {
    const what =
      signal.kind === 'state'
        ? `a planned ${signal.state}`
        : signal.kind === 'alarm'
          ? `alarm ${signal.alarmName}`
          : `health event ${signal.eventTypeCode}`;
    return {
      action: 'skip',
      reason: `under maintenance: ${maintenance || '(no value)'} (${MAINTENANCE_TAG}); ${what} relaunches nothing`,
      // When the marker was first seen: `status` says how long an instance has been under maintenance.
      ...(instance?.tags[TAG.maintenanceSince] === undefined ? { record: { [TAG.maintenanceSince]: input.now.toISOString() } } : {}),
    };
  }
  if (signal.kind === 'state') {
    if (mode === 'on-failure') {
      const cls = classifyStateReason(instance?.stateReasonCode);
      // A replacement that shuts itself down at boot failed, whoever's code it ran.
      if (cls !== 'failure' && fault === undefined) {
        const why = cls === 'user' ? `${instance?.stateReasonCode}: stopped or terminated by a person` : 'no failure reason given';
        return { action: 'skip', reason: `${signal.state} (${why}); recover=on-failure relaunches only on failures` };
      }
    }
  } else if (signal.kind === 'alarm' && !STATUS_CHECK_METRICS.has(signal.metric)) {
    return { action: 'skip', reason: `alarm ${signal.alarmName} watches ${signal.metric}, not a status check` };
  } else if (signal.kind === 'health' && !HEALTH_EVENT_TYPES.has(signal.eventTypeCode)) {
    return { action: 'skip', reason: `health event ${signal.eventTypeCode} does not announce lost hardware` };
  }

  // An alarm or Health event waits out a reboot (the bake's, or its own first answer to an
  // instance check failing); handed back at its due time, it goes on if the check still fails.
  if (signal.kind === 'alarm' && signal.recheck && !stillFailing(signal.metric, input.statusChecks)) {
    return { action: 'skip', reason: passedAgain(signal, input.statusChecks) };
  }
  const deferral = deferralOf({
    signal,
    bakeReboot: input.bakeReboot,
    rebootedAt: input.rebootedAt,
    imageFault: fault !== undefined,
    settings: input.deferral,
    now: input.now,
  });
  if (deferral) return { action: 'defer', ...deferral };

  if (input.relaunchesLastHour >= input.maxRelaunchesPerHour) {
    return {
      action: 'give-up',
      reason: `${input.relaunchesLastHour} relaunches of this lineage in the last hour (limit ${input.maxRelaunchesPerHour})`,
    };
  }

  // EC2 says the account or its configuration refused the launch: no image is to blame,
  // and an older one would be refused alike.
  // Except a capacity end where the lineage names fallbacks: the relaunch tries them (its first
  // attempt, the same subnet and type, most likely meets InsufficientInstanceCapacity at once).
  const code = instance?.stateReasonCode ?? '';
  const fallsBack = code === 'Server.InsufficientInstanceCapacity' && instance !== undefined && hasFallbacks(instance.tags);
  const refusal = signal.kind === 'state' && soonAfterLaunch && !fallsBack ? LAUNCH_REFUSALS[code] : undefined;
  if (refusal) {
    return {
      action: 'fail',
      errorCode: instance!.stateReasonCode!,
      reason: `the replacement launched from ${input.launchedFrom} ended at once: ${refusal}`,
    };
  }
  // An image fault blames the image: it is skipped from now on. Anything else relaunches from it.
  const crashLoop = fault !== undefined;
  const exclude = new Set(crashLoop ? [input.launchedFrom!] : []);
  const image = recoveryImage(input.images, exclude);
  if (!image) {
    return {
      action: 'skip',
      reason: crashLoop
        ? `no good image left besides ${input.launchedFrom}, which failed its replacement`
        : 'the lineage has no good image',
    };
  }
  return {
    action: 'relaunch',
    imageId: image.imageId,
    ...(crashLoop ? { markBad: input.launchedFrom! } : {}),
    reason: crashLoop
      ? `replacement from ${input.launchedFrom} failed within ${input.crashLoopGraceMinutes} min of its launch: ${fault}`
      : `${signal.kind} signal`,
  };
}

/**
 * The failure signals an event carries: none for a state that is not a stop or a
 * termination, an alarm leaving ALARM or watching no instance, or a health event
 * of another service; one per affected instance for a health event.
 */
export function signalsOf(event: RecoveryTrigger): FailureSignal[] {
  switch (event['detail-type']) {
    case 'EC2 Instance State-change Notification': {
      const d = event.detail;
      return d.state === 'stopped' || d.state === 'terminated' ? [{ kind: 'state', instanceId: d['instance-id'], state: d.state }] : [];
    }
    case 'CloudWatch Alarm State Change': {
      const d = event.detail;
      if (d.state.value !== 'ALARM') return [];
      return d.configuration.metrics.flatMap((m) => {
        const id = m.metricStat?.metric.dimensions.InstanceId;
        const instanceId = id ? instanceIdOf(id) : undefined;
        return instanceId && m.metricStat
          ? [{ kind: 'alarm' as const, instanceId, alarmName: d.alarmName, metric: m.metricStat.metric.name }]
          : [];
      });
    }
    case 'AWS Health Event': {
      const d = event.detail;
      if (d.service !== 'EC2') return [];
      const ids = new Set(
        [...d.affectedEntities.map((e) => e.entityValue), ...event.resources].flatMap((v) => {
          const id = instanceIdOf(v);
          return id ? [id] : [];
        }),
      );
      return [...ids].map((instanceId) => ({ kind: 'health' as const, instanceId, eventTypeCode: d.eventTypeCode }));
    }
  }
}

/** The lineage's images recovery may launch from: the stack's own only, never a copy that carries its tags. */
export function recoveryImagesOf(images: readonly ImageView[]): RecoveryImage[] {
  return images
    .filter((i) => notMadeHere(i) === undefined)
    .map((i) => ({
      imageId: i.imageId,
      status: statusOf(i),
      state: i.state,
      createdAt: new Date(i.creationDate ?? 0),
    }));
}

/** Replacements (instances carrying `replaces`) of the lineage launched in the hour before `now`. */
export function relaunchesInLastHour(lineageInstances: readonly InstanceSummary[], now: Date): number {
  return lineageInstances.filter(
    (i) => i.tags[TAG.replaces] !== undefined && i.launchTime !== undefined && now.getTime() - i.launchTime.getTime() < 3_600_000,
  ).length;
}

/** The recover mode an instance's tags ask for; an unreadable value is `off` (and a problem to report). */
export function recoverModeOf(tags: Tags): { mode: RecoverMode; problem?: string } {
  const raw = tags[TAG.recover];
  if (raw === undefined) return { mode: 'off' };
  const policy = parseInstancePolicy(tags, []);
  const problem = policy.problems.find((p) => p.tag === TAG.recover);
  return problem ? { mode: 'off', problem: `${problem.tag}=${problem.value}: ${problem.reason}` } : { mode: policy.recover };
}

export interface RecoverySettings extends DeferralSettings {
  maxRelaunchesPerHour: number;
  crashLoopGraceMinutes: number;
  /** Relaunch with the captured primary private IP when the failed instance no longer holds it (recoveryKeepPrivateIp). */
  keepPrivateIp?: boolean;
}

export interface RecoveryPlanInput {
  signal: FailureSignal;
  /** The failed instance as described now; undefined when EC2 no longer knows it. */
  instance: InstanceSummary | undefined;
  lineage: string;
  /** The tags to read the recover mode and carry from: the instance's, else those captured with the configuration. */
  tags: Tags;
  images: readonly ImageView[];
  /** Every instance carrying the lineage tag, terminated ones included (EC2 shows them for about an hour). */
  lineageInstances: readonly InstanceSummary[];
  config: StoredLaunchConfig | undefined;
  settings: RecoverySettings;
  /** The instance's status checks, read for a recheck of an alarm. */
  statusChecks?: StatusChecks | undefined;
  now: Date;
}

export type RecoveryPlan =
  /** Not opted in: nothing to report (every instance of the account sends state changes). */
  | { action: 'ignore'; reason: string }
  | { action: 'skip'; reason: string; record?: Tags }
  | ({ action: 'defer' } & Deferral)
  | { action: 'give-up'; reason: string }
  | { action: 'fail'; errorCode: string; reason: string }
  /** A replacement exists already (a retry or a duplicate): finish what the first run may not have. */
  | { action: 'resume'; replacementId: string; imageId: string; generation: number; launchedAt?: Date; reason: string }
  | { action: 'relaunch'; spec: RelaunchSpec; markBad?: string; reason: string };

const LIVE = new Set(['pending', 'running', 'stopping', 'stopped']);

/** The replacements of an instance, ordered by id so that no answer depends on EC2's listing order. */
function replacementsOf(instances: readonly InstanceSummary[], failedId: string): InstanceSummary[] {
  return instances
    .filter((i) => i.tags[TAG.replaces] === failedId)
    .sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
}

/** The replacement of an instance that is still alive, if any: the one a later delivery must finish, never duplicate. */
export function liveReplacementOf(instances: readonly InstanceSummary[], failedId: string): InstanceSummary | undefined {
  return replacementsOf(instances, failedId).find((i) => LIVE.has(i.state));
}

function highestGeneration(instances: readonly InstanceSummary[]): number {
  return Math.max(0, ...instances.map((i) => Number.parseInt(i.tags[TAG.generation] ?? '0', 10)).filter((n) => Number.isFinite(n)));
}

export function planRecovery(input: RecoveryPlanInput): RecoveryPlan {
  const { signal, instance } = input;
  const opted = recoverModeOf(input.tags);
  if (opted.mode === 'off' && signal.kind !== 'manual')
    return { action: 'ignore', reason: opted.problem ?? 'recovery is off for this instance' };
  // An operator's explicit request relaunches whatever the tag says.
  const mode = signal.kind === 'manual' ? 'always' : opted.mode;

  const failedId = signal.instanceId;
  // A live replacement means an earlier delivery launched it: finish its steps (each is
  // idempotent) rather than decide again, even if the failed instance is tagged already,
  // since a crash may have come between that tag and the event. (Ordered by id, so that
  // the answer never depends on the order EC2 lists them in.)
  // Ordered by id, so that the answer never depends on the order EC2 lists them in.
  const replacements = replacementsOf(input.lineageInstances, failedId);
  const live = liveReplacementOf(input.lineageInstances, failedId);
  if (live) {
    return {
      action: 'resume',
      replacementId: live.instanceId,
      imageId: live.imageId ?? '',
      generation: Number.parseInt(live.tags[TAG.generation] ?? '1', 10) || 1,
      ...(live.launchTime ? { launchedAt: live.launchTime } : {}),
      reason: `replacement ${live.instanceId} was launched by an earlier delivery`,
    };
  }
  if (replacements[0])
    return { action: 'skip', reason: `already replaced by ${replacements[0].instanceId}, which is ${replacements[0].state} now` };

  // Events arrive late and out of order: a stop that has since been undone is no failure.
  if (
    signal.kind === 'state' &&
    instance &&
    instance.state !== signal.state &&
    instance.state !== 'terminated' &&
    instance.state !== 'shutting-down'
  ) {
    return { action: 'skip', reason: `the instance was ${signal.state} but is ${instance.state} now` };
  }

  const decision = decideRecovery({
    signal,
    instance: instance ? { ...instance, tags: input.tags } : undefined,
    mode,
    images: recoveryImagesOf(input.images),
    relaunchesLastHour: relaunchesInLastHour(input.lineageInstances, input.now),
    maxRelaunchesPerHour: input.settings.maxRelaunchesPerHour,
    launchedFrom: input.tags[TAG.replaces] !== undefined ? instance?.imageId : undefined,
    crashLoopGraceMinutes: input.settings.crashLoopGraceMinutes,
    bakeReboot: bakeRebootOf(input.images, failedId, input.now, input.settings.bakeRebootWindowMinutes),
    rebootedAt: rebootedAtOf(input.tags),
    statusChecks: input.statusChecks,
    deferral: input.settings,
    now: input.now,
  });
  if (decision.action !== 'relaunch') return decision;
  if (!input.config) {
    return { action: 'skip', reason: 'no launch configuration captured for the lineage yet (each bake captures it)' };
  }
  // A failed instance that is gone left only its captured tags, which carry no generation:
  // take the lineage's highest.
  const failedTags = instance ? input.tags : { ...input.tags, [TAG.generation]: String(highestGeneration(input.lineageInstances)) };
  return {
    action: 'relaunch',
    spec: relaunchSpec({
      failedInstanceId: failedId,
      lineage: input.lineage,
      imageId: decision.imageId,
      config: input.config,
      failedTags,
      // A terminated instance's interfaces are deleted with it (or detached, holding their own addresses).
      keepPrivateIp: {
        wanted: input.settings.keepPrivateIp ?? false,
        failedHoldsIt: instance !== undefined && instance.state !== 'terminated',
      },
    }),
    ...(decision.markBad ? { markBad: decision.markBad } : {}),
    reason: decision.reason,
  };
}
