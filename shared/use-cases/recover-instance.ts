/**
 * Recovery: when an opted-in instance fails, launch an equivalent replacement from
 * the newest good image of its lineage, exactly once, and keep the lineage going.
 *
 * Sequential AWS calls up to the launch: describe the failed instance; then, side by
 * side, the lineage's images, its instances and its captured launch configuration;
 * then RunInstances. Every step after the launch is idempotent, and the launch itself
 * carries a client token derived from the lineage and the failed instance, so a
 * duplicated, reordered or retried event (or a crash anywhere) converges on the same
 * single replacement.
 */
import { outgoing } from '../domain/event-requests.js';
import type { OutgoingEvent } from '../domain/events.js';
import type { RecheckRequest, RecoverInput } from '../domain/incoming.js';
import { isCapacityError, launchTemplateName, specForAttempt, whenReferenceVanished, type RelaunchSpec } from '../domain/launch.js';
import {
  liveReplacementOf,
  planRecovery,
  recoverModeOf,
  signalsOf,
  type FailureSignal,
  type RecoveryPlan,
  type RecoveryTrigger,
} from '../domain/recovery.js';
import { recheckScheduleName, type Deferral } from '../domain/recovery-deferral.js';
import type { InstanceSummary } from '../domain/bake.js';
import { TAG, type Tags } from '../domain/tags.js';
import { followsTag, planVolumeMoves, type FollowingVolume, type VolumeStep } from '../domain/volume-moves.js';
import { AwsCallError } from './errors.js';
import type { AddressView } from './ec2-ports.js';
import type { RecoveryDeps } from './ports.js';
import { publishOrThrow } from './publish.js';

export type RecoveryOutcome =
  | { instanceId: string; action: 'ignored' | 'skipped' | 'gave-up'; reason: string }
  | { instanceId: string; action: 'planned'; imageId: string; reason: string }
  | { instanceId: string; action: 'deferred'; until: string; rebooted: boolean; reason: string }
  | { instanceId: string; action: 'relaunched'; replacementId: string; imageId: string; resumed: boolean; reason: string }
  | { instanceId: string; action: 'failed'; errorCode: string; reason: string };

export interface RecoveryReport {
  outcomes: RecoveryOutcome[];
}

/** What the recover function was given: a trigger event, or a deferred recovery at its due time. */
export function recover(input: RecoverInput, deps: RecoveryDeps): Promise<RecoveryReport> {
  return input['detail-type'] === 'Recovery Recheck' ? recoverAfterWaiting(input, deps) : recoverInstances(input, deps);
}

/** One trigger may name several instances (an AWS Health event); each is recovered on its own. */
export function recoverInstances(trigger: RecoveryTrigger, deps: RecoveryDeps): Promise<RecoveryReport> {
  const signals = signalsOf(trigger);
  if (signals.length === 0) deps.log.debug('event carries no failure signal', { detailType: trigger['detail-type'], eventId: trigger.id });
  return recoverEach(signals, new Date(trigger.time), deps);
}

/** The signal that waited, handed back by its one-time schedule: it is decided now, and never deferred again. */
export function recoverAfterWaiting({ recheck }: RecheckRequest, deps: RecoveryDeps): Promise<RecoveryReport> {
  const { instanceId, signal, cause, since, until, eventTime } = recheck;
  return recoverEach([{ ...signal, instanceId, recheck: { cause, since, until } }], new Date(eventTime), deps);
}

async function recoverEach(signals: FailureSignal[], eventTime: Date, deps: RecoveryDeps): Promise<RecoveryReport> {
  const outcomes: RecoveryOutcome[] = [];
  let retry: unknown;
  for (const signal of signals) {
    try {
      outcomes.push(await recoverSignal(signal, eventTime, deps));
    } catch (error) {
      try {
        if (!(error instanceof AwsCallError) || error.retryable) throw error;
        outcomes.push(await reportFailure(signal, error, deps));
      } catch (unreported) {
        // Transient trouble (or a report that could not be published): finish the others,
        // then let Lambda retry the event (every step is idempotent).
        retry ??= unreported;
        deps.log.warn('recovery interrupted; the event will be retried', { instanceId: signal.instanceId, error: String(unreported) });
      }
    }
  }
  if (retry !== undefined) throw retry;
  return { outcomes };
}

const publish = (deps: RecoveryDeps, event: OutgoingEvent): Promise<void> => publishOrThrow(deps.events, event);

async function reportFailure(signal: FailureSignal, error: AwsCallError, deps: RecoveryDeps): Promise<RecoveryOutcome> {
  deps.log.error('recovery failed', { instanceId: signal.instanceId, errorCode: error.code, action: error.action, message: error.message });
  await publish(
    deps,
    outgoing('RecoveryFailed', {
      managedBy: deps.managedBy,
      instanceId: signal.instanceId,
      trigger: signal.kind,
      action: error.action,
      errorCode: error.code,
      message: error.message,
    }),
  );
  deps.metrics.count('RecoveriesFailed');
  return { instanceId: signal.instanceId, action: 'failed', errorCode: error.code, reason: error.message };
}

/** Recovery of one instance for one signal (an event's, or an operator's through the CLI). */
export async function recoverSignal(signal: FailureSignal, eventTime: Date, deps: RecoveryDeps): Promise<RecoveryOutcome> {
  const { ec2, managedBy } = deps;
  const instanceId = signal.instanceId;
  const instance = await ec2.describeInstance(instanceId);
  // Every instance of the account sends state changes: stop at one call for those not opted in.
  const opted = instance && recoverModeOf(instance.tags);
  if (opted && opted.mode === 'off' && signal.kind !== 'manual') {
    // A recover tag that cannot be read was meant to opt in: say so, rather than stay silent while it is down.
    if (opted.problem) return skip(deps, signal, instance.tags[TAG.lineage], `not relaunched: ${opted.problem}`);
    return { instanceId, action: 'ignored', reason: 'recovery is off for this instance' };
  }
  // An instance at EC2's 50-tag limit never got its lineage tag: its images still name it.
  const lineage = instance?.tags[TAG.lineage] ?? (await ec2.findLineageOf(managedBy, instanceId));
  if (!lineage) {
    if (!instance) return { instanceId, action: 'ignored', reason: 'unknown instance: no longer described and never baked' };
    return skip(deps, signal, undefined, 'the instance has never been baked: it has no lineage and no image to relaunch from');
  }

  // A recheck of an alarm reads the checks again: relaunched only if the one it watches still fails.
  // So does a replacement's combined alarm: only the checks can say whether its image is to blame.
  const readChecks =
    signal.kind === 'alarm' &&
    instance !== undefined &&
    (signal.recheck !== undefined || (signal.metric === 'StatusCheckFailed' && instance.tags[TAG.replaces] !== undefined));
  // The following volumes (exclude=follow) of an instance that still holds them pin the
  // replacement's zone: read alongside, so that the calls before the launch stay sequentially as many.
  const [images, lineageInstances, config, statusChecks, followers] = await Promise.all([
    ec2.listLineageImages(managedBy, lineage),
    ec2.listLineageInstances(lineage),
    ec2.readLaunchConfig(launchTemplateName(managedBy, lineage)),
    readChecks ? ec2.describeStatusChecks(instanceId) : undefined,
    instance && HOLDS_VOLUMES.has(instance.state) ? ec2.findFollowingVolumes([instanceId]) : undefined,
  ]);
  const following = (followers ?? []).filter((v) => v.attachment?.instanceId === instanceId);
  const now = deps.now();
  const plan = planRecovery({
    signal,
    instance,
    lineage,
    tags: instance?.tags ?? config?.tags ?? {},
    images,
    lineageInstances,
    config,
    settings: deps.recovery,
    statusChecks,
    now,
  });
  const context = { instanceId, lineage, trigger: signal.kind };
  deps.log.info('recovery planned', {
    ...context,
    plan: { ...plan, ...('spec' in plan ? { spec: { ...plan.spec, config: '(captured)' } } : {}) },
  });

  switch (plan.action) {
    case 'ignore':
      return { instanceId, action: 'ignored', reason: plan.reason };
    case 'skip':
      if (plan.record && instance) await record(deps, instanceId, plan.record);
      return skip(deps, signal, lineage, plan.reason);
    case 'defer':
      return defer(deps, signal, lineage, plan, eventTime);
    case 'fail':
      return reportFailure(signal, new AwsCallError(plan.errorCode, 'RunInstances', plan.reason, false), deps);
    case 'give-up':
      await publish(deps, outgoing('RecoveryGaveUp', { managedBy, instanceId, lineage, trigger: signal.kind, reason: plan.reason }));
      deps.metrics.count('RecoveriesGaveUp');
      return { instanceId, action: 'gave-up', reason: plan.reason };
    case 'resume':
      return finish(deps, {
        signal,
        instance,
        lineage,
        eventTime,
        replacementId: plan.replacementId,
        imageId: plan.imageId,
        generation: plan.generation,
        sourceDestCheck: config?.sourceDestCheck,
        ...(plan.launchedAt ? { launchedAt: plan.launchedAt } : {}),
        reason: plan.reason,
        resumed: true,
      });
    case 'relaunch': {
      // Reads only: the dry run says what the zone pin would do too.
      const pinned = following.length > 0 ? await pinToVolumeZone(deps, plan.spec, following, instance) : { spec: plan.spec };
      if (deps.recovery.dryRun) return planned(deps, signal, lineage, plan, pinned, instance, following);
      const { spec } = plan;
      // Blame first, then launch: a crash in between leaves the image bad, which the retry would decide again.
      if (plan.markBad) {
        const bad = images.find((i) => i.imageId === plan.markBad);
        await ec2.tagResources([plan.markBad, ...(bad?.snapshotIds ?? [])], { [TAG.status]: 'bad' });
      }
      if (spec.droppedTags.length > 0) {
        deps.log.warn('tags left off the replacement: EC2 takes 50 per resource, the service own first', {
          instanceId,
          lineage,
          droppedTags: spec.droppedTags,
        });
      }
      if ('reason' in pinned) {
        return reportFailure(signal, new AwsCallError('NoSubnetInVolumeZone', 'RunInstances', pinned.reason, false), deps);
      }
      const launched = await launch(deps, pinned.spec, lineage, instanceId);
      // Counted at the launch, once: a retried or duplicated event resumes this replacement instead.
      if (!launched.resumed) deps.metrics.count('InstancesRelaunched');
      return finish(deps, {
        signal,
        instance,
        lineage,
        eventTime,
        ...launched,
        sourceDestCheck: spec.config.sourceDestCheck,
        generation: Number.parseInt(spec.tags[TAG.generation] ?? '1', 10),
        reason: plan.reason,
        ...(plan.markBad ? { markedBad: plan.markBad } : {}),
        ...(launched.droppedTags?.length && !launched.resumed ? { droppedTags: launched.droppedTags } : {}),
        following,
      });
    }
  }
}

/**
 * The dry run: RelaunchPlanned says what the relaunch would do (the launch, its fallbacks, the
 * Elastic IP, the following volumes and whether the failed instance would be stopped for them),
 * or why it would launch nothing. Nothing is written.
 */
async function planned(
  deps: RecoveryDeps,
  signal: FailureSignal,
  lineage: string,
  plan: Extract<RecoveryPlan, { action: 'relaunch' }>,
  pinned: { spec: RelaunchSpec } | { reason: string },
  instance: InstanceSummary | undefined,
  following: FollowingVolume[],
): Promise<RecoveryOutcome> {
  const { ec2, managedBy } = deps;
  const instanceId = signal.instanceId;
  const spec = 'spec' in pinned ? pinned.spec : plan.spec;
  const c = spec.config;
  const tagged = await ec2.findLineageAddresses(lineage);
  const elasticIp = untaggedElasticIp(instance, tagged) ?? movableAddress(tagged, instanceId)?.publicIp;
  const attempts = spec.attempts ?? [];
  await publish(
    deps,
    outgoing('RelaunchPlanned', {
      managedBy,
      lineage,
      failedInstanceId: instanceId,
      imageId: spec.imageId,
      trigger: signal.kind,
      reason: plan.reason,
      ...(plan.markBad ? { markBad: plan.markBad } : {}),
      ...('reason' in pinned ? { notLaunched: pinned.reason } : {}),
      launch: {
        instanceType: c.instanceType,
        subnetId: c.subnetId,
        securityGroupIds: c.securityGroupIds,
        keyName: c.keyName,
        iamInstanceProfileArn: c.iamInstanceProfileArn,
        elasticIp,
        hasUserData: c.userData !== undefined,
        tags: { ...spec.tags },
        ...(spec.droppedTags.length > 0 ? { droppedTags: spec.droppedTags } : {}),
        ...(attempts.length > 1 ? { attempts: attempts.map((a) => `${a.instanceType} in ${a.subnetId ?? 'the default subnet'}`) } : {}),
        ...(c.spot ? { spot: true } : {}),
        ...(c.placement ? { placement: c.placement } : {}),
        ...(c.sourceDestCheck === false ? { sourceDestCheck: false } : {}),
        ...(c.networkInterfaces && c.networkInterfaces.length > 1 ? { networkInterfaces: c.networkInterfaces.length } : {}),
        ...(spec.keepPrivateIp && c.privateIpAddress ? { privateIpAddress: c.privateIpAddress } : {}),
      },
      ...(following.length > 0
        ? {
            volumes: following.map((v) => ({ volumeId: v.volumeId, device: v.attachment?.device ?? '' })),
            ...(instance?.state === 'running' ? { stopsFailedInstance: true } : {}),
          }
        : {}),
    }),
  );
  deps.metrics.count('RecoveriesPlanned');
  return { instanceId, action: 'planned', imageId: spec.imageId, reason: plan.reason };
}

/**
 * Waits for a due time instead of deciding now. In this order, so that duplicates and crashes
 * never reboot twice and never lose the recheck: the rebooted-at tag (its time bounds the wait for
 * every later delivery), the one-time schedule (one per instance: of the deliveries that get here,
 * racing or not, only the one that creates it reboots; the others move it to the same time), the
 * reboot, the event. A crash after the schedule and before the reboot costs the reboot, never the
 * recheck.
 */
async function defer(
  deps: RecoveryDeps,
  signal: FailureSignal,
  lineage: string,
  plan: Deferral,
  eventTime: Date,
): Promise<RecoveryOutcome> {
  const { instanceId } = signal;
  if (!deps.rechecks) throw new Error(`recovery of ${instanceId} waits, but this caller cannot schedule its recheck`);
  if (signal.kind !== 'alarm' && signal.kind !== 'health') throw new Error(`a ${signal.kind} signal never waits`);
  const request: RecheckRequest = {
    'detail-type': 'Recovery Recheck',
    recheck: {
      instanceId,
      signal:
        signal.kind === 'alarm'
          ? { kind: 'alarm', alarmName: signal.alarmName, metric: signal.metric }
          : { kind: 'health', eventTypeCode: signal.eventTypeCode },
      cause: plan.cause,
      since: plan.since.toISOString(),
      until: plan.until.toISOString(),
      eventTime: eventTime.toISOString(),
    },
  };
  // A dry run plans: it reboots nothing, and its recheck publishes RelaunchPlanned at the most.
  const rebooting = plan.reboot && !deps.recovery.dryRun;
  // An instance at EC2's 50-tag limit refuses the tag: it is still rebooted once (the schedule decides who reboots).
  if (rebooting) await record(deps, instanceId, { [TAG.rebootedAt]: plan.since.toISOString() });
  const schedule = await deps.rechecks.scheduleOnce(recheckScheduleName(deps.managedBy, instanceId), plan.until, request);
  const reboot = rebooting && schedule === 'created';
  if (reboot) await deps.ec2.rebootInstance(instanceId);
  const until = plan.until.toISOString();
  await publish(
    deps,
    outgoing('RecoveryDeferred', {
      managedBy: deps.managedBy,
      instanceId,
      lineage,
      trigger: signal.kind,
      cause: plan.cause,
      rebooted: reboot,
      until,
      reason: plan.reason,
    }),
  );
  deps.metrics.count('RecoveriesDeferred');
  return { instanceId, action: 'deferred', until, rebooted: reboot, reason: plan.reason };
}

/** Tags recovery keeps on the instance (its reboot, when maintenance was first seen): a refusal is logged, never fatal. */
async function record(deps: RecoveryDeps, instanceId: string, tags: Tags): Promise<void> {
  try {
    await deps.ec2.tagResources([instanceId], tags);
  } catch (error) {
    if (!(error instanceof AwsCallError) || error.retryable) throw error;
    deps.log.warn('could not record on the instance', { instanceId, tags, errorCode: error.code });
  }
}

async function skip(deps: RecoveryDeps, signal: FailureSignal, lineage: string | undefined, reason: string): Promise<RecoveryOutcome> {
  await publish(
    deps,
    outgoing('RecoverySkipped', {
      managedBy: deps.managedBy,
      instanceId: signal.instanceId,
      ...(lineage ? { lineage } : {}),
      trigger: signal.kind,
      reason,
    }),
  );
  deps.metrics.count('RecoveriesSkipped');
  return { instanceId: signal.instanceId, action: 'skipped', reason };
}

/**
 * RunInstances with the replacement's client token. EC2 answers a repeated token with
 * the first launch; a token met with other parameters (the image or configuration
 * changed between two deliveries) means a replacement exists already: find it by its
 * `replaces` tag.
 *
 * When EC2 has no capacity for the launch (isCapacityError), the spec's next attempt is tried
 * (launchAttempts: other subnets, then fallback types), each with a token of its own. Before a
 * fallback, the lineage's instances are listed again: a duplicate delivery that met capacity
 * where this one did not may have launched the replacement with an earlier attempt, and that
 * one is finished rather than a second launched. A fallback type of another architecture than
 * the captured type is never launched (a tag problem, named in the failure).
 */
async function launch(
  deps: RecoveryDeps,
  first: RelaunchSpec,
  lineage: string,
  failedId: string,
): Promise<Pick<Launched, 'replacementId' | 'imageId' | 'resumed' | 'launchedAt' | 'launchedWithout' | 'droppedTags' | 'attempts'>> {
  const state = { spec: first, launchedWithout: [] as string[] };
  const attempts = first.attempts?.length
    ? first.attempts
    : [{ subnetId: first.config.subnetId, instanceType: first.config.instanceType, clientToken: first.clientToken }];
  const tried: string[] = [];
  let lastCapacity: AwsCallError | undefined;
  // Read once, when the first fallback type is reached: a launch that needs none costs no call.
  let architectures: Promise<Record<string, string[]>> | undefined;
  for (const [index, attempt] of attempts.entries()) {
    const where = `${attempt.instanceType} in ${attempt.subnetId ?? 'the default subnet'}`;
    if (attempt.instanceType !== first.config.instanceType) {
      architectures ??= deps.ec2.instanceTypeArchitectures([...new Set(attempts.map((a) => a.instanceType))]);
      const wrong = otherArchitecture(await architectures, first.config.instanceType, attempt.instanceType);
      if (wrong) {
        tried.push(`${where}: not tried (${wrong})`);
        continue;
      }
    }
    if (index > 0) {
      const existing = liveReplacementOf(await deps.ec2.listLineageInstances(lineage), failedId);
      if (existing) return { ...resumedBy(existing, first), attempts: tried };
    }
    try {
      const launched = await launchOne(deps, state, specForAttempt(state.spec, attempt), lineage, failedId);
      return { ...launched, attempts: [...tried, `${where}: launched`] };
    } catch (error) {
      if (!(error instanceof AwsCallError) || !isCapacityError(error)) throw error;
      lastCapacity = error;
      tried.push(`${where}: ${error.code}`);
      deps.log.warn('no capacity for the replacement there: the next fallback is tried', {
        instanceId: failedId,
        lineage,
        subnetId: attempt.subnetId,
        instanceType: attempt.instanceType,
        errorCode: error.code,
      });
    }
  }
  const problems = first.fallbackProblems?.length ? `; unused fallback tags: ${first.fallbackProblems.join('; ')}` : '';
  const none =
    attempts.length === 1 && !first.pinnedZone
      ? ' (the instance names no fallbacks: ami-lifecycle:subnets, ami-lifecycle:fallback-types)'
      : '';
  const pin = first.pinnedZone ? `; ${first.pinnedZone}` : '';
  throw new AwsCallError(
    lastCapacity?.code ?? 'InsufficientInstanceCapacity',
    'RunInstances',
    `no launch of the replacement succeeded: ${tried.join('; ')}${none}${problems}${pin}`,
    false,
    lastCapacity?.httpStatus,
  );
}

/** Why a fallback type cannot stand in for the captured type: it runs none of its architectures, or EC2 does not know it. */
function otherArchitecture(known: Record<string, string[]>, captured: string, instanceType: string): string | undefined {
  const theirs = known[instanceType];
  if (!theirs) return `EC2 does not know instance type ${instanceType}`;
  const ours = known[captured] ?? [];
  if (ours.length > 0 && !theirs.some((a) => ours.includes(a))) {
    return `${instanceType} runs ${theirs.join(', ')}, ${captured} runs ${ours.join(', ')}: the image cannot boot on it`;
  }
  return undefined;
}

function resumedBy(existing: InstanceSummary, spec: RelaunchSpec): Pick<Launched, 'replacementId' | 'imageId' | 'resumed' | 'launchedAt'> {
  return {
    replacementId: existing.instanceId,
    imageId: existing.imageId ?? spec.imageId,
    resumed: true,
    ...(existing.launchTime ? { launchedAt: existing.launchTime } : {}),
  };
}

/** One attempt: RunInstances, and again without a captured reference that no longer exists (remembered for the next attempts). */
async function launchOne(
  deps: RecoveryDeps,
  state: { spec: RelaunchSpec; launchedWithout: string[] },
  attemptSpec: RelaunchSpec,
  lineage: string,
  failedId: string,
): Promise<Pick<Launched, 'replacementId' | 'imageId' | 'resumed' | 'launchedAt' | 'launchedWithout' | 'droppedTags'>> {
  let spec = attemptSpec;
  // At most the key pair, the instance profile and the placement group can be left off: four tries at the most.
  for (let attempt = 0; ; attempt++) {
    try {
      const replacementId = await deps.ec2.runInstance(spec);
      return {
        replacementId,
        imageId: spec.imageId,
        resumed: false,
        launchedWithout: state.launchedWithout,
        droppedTags: spec.droppedTags,
      };
    } catch (error) {
      if (!(error instanceof AwsCallError) || attempt >= 3 || isCapacityError(error)) throw error;
      const vanished = whenReferenceVanished(spec, error);
      if (!vanished) return resumeOrThrow(deps, error, spec, lineage, failedId);
      if (vanished.action === 'fail') throw new AwsCallError(error.code, 'RunInstances', vanished.reason, false, error.httpStatus);
      deps.log.warn('a captured reference no longer exists: the replacement is launched without it', {
        instanceId: failedId,
        lineage,
        without: vanished.what,
        errorCode: error.code,
      });
      state.launchedWithout.push(vanished.what);
      spec = vanished.spec;
      // The next attempts lack it too (specForAttempt sets their own subnet, type and token).
      state.spec = vanished.spec;
    }
  }
}

async function resumeOrThrow(
  deps: RecoveryDeps,
  error: AwsCallError,
  spec: RelaunchSpec,
  lineage: string,
  failedId: string,
): Promise<Pick<Launched, 'replacementId' | 'imageId' | 'resumed' | 'launchedAt'>> {
  if (error.code !== 'IdempotentParameterMismatch') throw error;
  const existing = liveReplacementOf(await deps.ec2.listLineageInstances(lineage), failedId);
  if (!existing) throw error;
  return resumedBy(existing, spec);
}

/**
 * The Elastic IP the failed instance holds now, when no lineage tag names it yet: one associated
 * after the last bake. An Elastic IP is owned by the account, an address EC2 assigned by
 * 'amazon' (the description says which: see launchConfigOf in shared/aws/ec2-mappers.ts).
 */
function untaggedElasticIp(failed: InstanceSummary | undefined, tagged: readonly AddressView[]): string | undefined {
  const ip = failed?.launch?.elasticIp;
  return ip && !tagged.some((a) => a.publicIp === ip) ? ip : undefined;
}

/**
 * The addresses that may follow the lineage: the failed instance's current Elastic IP first
 * (tagged with the lineage now, as its bake would have done: recovery may move only the
 * lineage's addresses), then those the lineage's bakes tagged.
 */
async function lineageAddresses(deps: RecoveryDeps, lineage: string, failed: InstanceSummary | undefined): Promise<AddressView[]> {
  const tagged = await deps.ec2.findLineageAddresses(lineage);
  const ip = untaggedElasticIp(failed, tagged);
  if (!ip || !failed) return tagged;
  const allocationId = await deps.ec2.tagElasticIp(ip, { [TAG.lineage]: lineage });
  return allocationId ? [{ allocationId, publicIp: ip, instanceId: failed.instanceId }, ...tagged] : tagged;
}

/** The lineage's Elastic IP, unless someone has since given it to an instance other than the failed one. */
function movableAddress(addresses: readonly AddressView[], failedId: string, replacementId?: string): AddressView | undefined {
  return addresses.find((a) => a.instanceId === undefined || a.instanceId === failedId || a.instanceId === replacementId);
}

interface Launched {
  signal: FailureSignal;
  instance: InstanceSummary | undefined;
  lineage: string;
  eventTime: Date;
  replacementId: string;
  imageId: string;
  reason: string;
  resumed: boolean;
  generation: number;
  /** When the replacement was launched, if an earlier delivery did it. */
  launchedAt?: Date;
  markedBad?: string;
  /** Tags left off the replacement (EC2's limit), when this delivery launched it. */
  droppedTags?: string[];
  /** Captured references that no longer existed, left off the launch. */
  launchedWithout?: string[];
  /** The captured source/destination check: false is set on the replacement after the launch. */
  sourceDestCheck?: boolean | undefined;
  /** The launches tried before the one that succeeded, when a fallback was needed. */
  attempts?: string[];
  /** The following volumes attached to the failed instance before the launch (they pinned its zone). */
  following?: FollowingVolume[];
}

/** Everything after the launch, each step safe to repeat: the Elastic IP, the failed instance, the event. */
async function finish(deps: RecoveryDeps, l: Launched): Promise<RecoveryOutcome> {
  const { ec2, managedBy } = deps;
  const failedId = l.signal.instanceId;
  const secondsToLaunch = Math.max(0, ((l.launchedAt ?? deps.now()).getTime() - l.eventTime.getTime()) / 1000);

  // Launch options cannot turn the check off: it is the instance's attribute, set once it exists.
  // Setting it again is harmless, so a resumed recovery sets it too.
  if (l.sourceDestCheck === false) await ec2.disableSourceDestCheck(l.replacementId);

  const address = movableAddress(await lineageAddresses(deps, l.lineage, l.instance), failedId, l.replacementId);
  if (address && address.instanceId !== l.replacementId) {
    await ec2.waitUntilRunning(l.replacementId, deps.recovery.runningWaitSeconds);
    await ec2.associateAddress(address.allocationId, l.replacementId);
  }

  const volumes = await moveVolumes(deps, l);

  let failedInstance: 'kept' | 'terminated' | 'gone' = 'gone';
  if (l.instance && l.instance.state !== 'terminated') {
    await markReplaced(deps, failedId, l.replacementId);
    failedInstance = 'kept';
    // Never with a following volume still on it: termination would delete it (DeleteOnTermination) or leave it behind.
    const holding = volumes.left.some((v) => v.attachedToFailed);
    if (deps.recovery.terminateReplaced && !holding) {
      failedInstance = (await ec2.terminateInstance(failedId)) === 'terminated' ? 'terminated' : 'gone';
    }
  }

  await publish(
    deps,
    outgoing('InstanceRelaunched', {
      managedBy,
      lineage: l.lineage,
      failedInstanceId: failedId,
      newInstanceId: l.replacementId,
      imageId: l.imageId,
      trigger: l.signal.kind,
      reason: l.reason,
      generation: Number.isFinite(l.generation) ? l.generation : 1,
      secondsToLaunch,
      ...(l.markedBad ? { markedBad: l.markedBad } : {}),
      ...(address ? { elasticIp: { allocationId: address.allocationId, publicIp: address.publicIp } } : {}),
      failedInstance,
      resumed: l.resumed,
      ...(l.droppedTags?.length ? { droppedTags: l.droppedTags } : {}),
      ...(l.launchedWithout?.length ? { launchedWithout: l.launchedWithout } : {}),
      ...(l.attempts && l.attempts.length > 1 ? { launchAttempts: l.attempts } : {}),
      ...(volumes.moved.length > 0 ? { volumes: volumes.moved } : {}),
      ...(volumes.left.length > 0 ? { volumesLeft: volumes.left.map(({ volumeId, reason }) => ({ volumeId, reason })) } : {}),
    }),
  );
  deps.log.info('instance relaunched', {
    instanceId: failedId,
    lineage: l.lineage,
    replacementId: l.replacementId,
    imageId: l.imageId,
    resumed: l.resumed,
  });
  return {
    instanceId: failedId,
    action: 'relaunched',
    replacementId: l.replacementId,
    imageId: l.imageId,
    resumed: l.resumed,
    reason: l.reason,
  };
}

/**
 * Tags the failed instance with its replacement: the scheduled run stops baking it (a kept
 * instance must not fork the lineage) and operators see what became of it. Recovery's own
 * record is the replacement's `replaces` tag, so a refusal here is logged, not fatal.
 */
async function markReplaced(deps: RecoveryDeps, failedId: string, replacementId: string): Promise<void> {
  try {
    await deps.ec2.tagResources([failedId], { [TAG.replacedBy]: replacementId });
  } catch (error) {
    if (!(error instanceof AwsCallError) || error.retryable) throw error;
    deps.log.warn('could not tag the failed instance with its replacement', { instanceId: failedId, replacementId, errorCode: error.code });
  }
}

/**
 * The attempts cut to the zone of the following volumes (a volume attaches only in its own
 * zone): the failed instance's own subnet is in it (the volume is attached there); the others
 * are looked up, only when there are others. A subnet not known to be in the zone is not tried.
 */
async function pinToVolumeZone(
  deps: RecoveryDeps,
  spec: RelaunchSpec,
  following: FollowingVolume[],
  failed: InstanceSummary | undefined,
): Promise<{ spec: RelaunchSpec } | { reason: string }> {
  const zone = [...following].sort((a, b) => (a.volumeId < b.volumeId ? -1 : 1))[0]!.availabilityZone;
  const attempts = spec.attempts?.length
    ? spec.attempts
    : [{ subnetId: spec.config.subnetId, instanceType: spec.config.instanceType, clientToken: spec.clientToken }];
  const own = failed?.launch?.subnetId;
  const others = [...new Set(attempts.flatMap((a) => (a.subnetId && a.subnetId !== own ? [a.subnetId] : [])))];
  const zones = others.length > 0 ? await deps.ec2.subnetZones(others) : {};
  const inZone = (subnet: string | undefined) => subnet !== undefined && (subnet === own || zones[subnet] === zone);
  const kept = attempts.filter((a) => inZone(a.subnetId));
  const ids = following.map((v) => v.volumeId).join(', ');
  if (kept.length === 0) {
    const subnets = [...new Set(attempts.map((a) => a.subnetId ?? '(default)'))].join(', ');
    return {
      reason:
        `following volume ${ids} is in ${zone}, and no subnet the replacement may use (${subnets}) is in that zone: ` +
        `nothing was launched, the volume stays attached to ${failed?.instanceId}`,
    };
  }
  const pinnedZone = `following volume ${ids} pins ${zone}: subnets in other zones were not tried, the volume stays attached`;
  return { spec: { ...spec, attempts: kept, pinnedZone } };
}

interface VolumeOutcome {
  moved: Array<{ volumeId: string; device: string }>;
  left: Array<{ volumeId: string; reason: string; attachedToFailed: boolean }>;
}

/** States of a failed instance whose following volumes recovery moves (stopping it first if it runs). */
const HOLDS_VOLUMES: ReadonlySet<string> = new Set(['running', 'stopping', 'stopped']);

/**
 * The following volumes to the replacement (planVolumeMoves), each step safe to repeat: the
 * volume is tagged with where it goes, detached (never forced), waited for, attached at the same
 * device once the replacement runs. A failed instance that still runs is stopped first (once: see
 * stopFailed). A later delivery finds the volume attached already, detaching, or available and
 * tagged for this replacement, and finishes. An attach refused for good puts it back on the failed
 * instance: never detached and left nowhere.
 */
async function moveVolumes(deps: RecoveryDeps, l: Launched): Promise<VolumeOutcome> {
  const { ec2 } = deps;
  const failedId = l.signal.instanceId;
  const outcome: VolumeOutcome = { moved: [], left: [] };
  const stillThere = l.instance !== undefined && l.instance.state !== 'terminated' && l.instance.state !== 'stopped';
  if (!l.resumed && !stillThere && !l.following?.length) return outcome;
  const ours = (v: FollowingVolume) =>
    v.attachment?.instanceId === failedId ||
    v.attachment?.instanceId === l.replacementId ||
    (v.tags[TAG.follows] ?? '').startsWith(`${l.replacementId} `);
  const found = (await ec2.findFollowingVolumes([failedId, l.replacementId])).filter(ours);
  if (found.length === 0) return outcome;
  await ec2.waitUntilRunning(l.replacementId, deps.recovery.runningWaitSeconds);
  // The failed instance's state now, not at the start: a duplicate delivery may have stopped it since.
  const [placement, failedNow] = await Promise.all([
    ec2.placementOf(l.replacementId),
    l.instance && l.instance.state !== 'terminated' ? ec2.describeInstance(failedId).then((i) => i?.state) : undefined,
  ]);
  const plan = (volumes: FollowingVolume[], failedState: string | undefined) =>
    planVolumeMoves({
      volumes,
      failedInstanceId: failedId,
      failedState,
      replacementId: l.replacementId,
      replacement: placement ?? { availabilityZone: '(unknown)', devices: [] },
    });
  const steps = plan(found, failedNow);
  const toStop = steps.filter((s) => s.action === 'stop-then-move');
  const notStopped = toStop.length > 0 ? await stopFailed(deps, failedId, l.replacementId, toStop) : undefined;
  for (const step of steps) {
    if (step.action === 'done') outcome.moved.push({ volumeId: step.volumeId, device: step.device });
    else if (step.action === 'stay' || (step.action === 'stop-then-move' && notStopped)) {
      const reason = step.action === 'stay' ? step.reason : notStopped!;
      const v = found.find((x) => x.volumeId === step.volumeId);
      outcome.left.push({ volumeId: step.volumeId, reason, attachedToFailed: v?.attachment?.instanceId === failedId });
    } else await carryOut(deps, step, failedId, l.replacementId, (volumes) => plan(volumes, 'stopped'), outcome);
  }
  if (outcome.left.length > 0)
    deps.log.warn('following volumes stayed with the failed instance', { instanceId: failedId, left: outcome.left });
  return outcome;
}

/**
 * Stops a failed instance that still runs, so that its following volumes can be detached: a
 * stop unmounts them as a shutdown does. StopInstances first, then the volumes' destination tag:
 * a failed instance found running again with its volume so tagged was started by someone since
 * the stop, and is not stopped twice (planVolumeMoves). Waits as long as for a replacement to
 * run; one still stopping then keeps its volumes for now, and its `stopped` state change, which
 * comes back to this function, finishes the move. Undefined once stopped, else why not.
 */
async function stopFailed(
  deps: RecoveryDeps,
  failedId: string,
  replacementId: string,
  steps: ReadonlyArray<Extract<VolumeStep, { action: 'stop-then-move' }>>,
): Promise<string | undefined> {
  const { ec2 } = deps;
  const wait = deps.recovery.runningWaitSeconds;
  try {
    if ((await ec2.stopInstance(failedId)) === 'gone') return `${failedId} is gone: its volume was detached by EC2, or deleted with it`;
    for (const step of steps) await ec2.tagResources([step.volumeId], followsTag(replacementId, step.device));
    await ec2.waitUntilStopped(failedId, wait);
    return undefined;
  } catch (error) {
    if (!(error instanceof AwsCallError)) throw error;
    if (error.code === 'TimeoutError') {
      return (
        `${failedId} was stopped to free the volume and is still stopping after ${wait} s: the volume stays attached ` +
        'until it has stopped, and its stopped state change brings recovery back to move it'
      );
    }
    if (error.retryable) throw error;
    return `${error.action} refused (${error.code}: ${error.message}): the volume stays attached to ${failedId}`;
  }
}

async function carryOut(
  deps: RecoveryDeps,
  step: Extract<VolumeStep, { action: 'move' | 'attach' | 'stop-then-move' }>,
  failedId: string,
  replacementId: string,
  plan: (volumes: FollowingVolume[]) => VolumeStep[],
  outcome: VolumeOutcome,
): Promise<void> {
  const { ec2 } = deps;
  const { volumeId, device } = step;
  // Off the failed instance: detached (by this delivery or another), or attached to the replacement by another.
  const wait = () => ec2.waitUntilDetached(volumeId, failedId, deps.recovery.runningWaitSeconds);
  try {
    // A stopped instance's volume is tagged here; one that had to be stopped was tagged just after the stop.
    if (step.action === 'move') await ec2.tagResources([volumeId], followsTag(replacementId, device));
    if (step.action !== 'attach') await ec2.detachVolume(volumeId, failedId);
    await wait();
    await ec2.attachVolume(volumeId, replacementId, device);
    outcome.moved.push({ volumeId, device });
  } catch (error) {
    if (!(error instanceof AwsCallError) || error.retryable) throw error;
    // A duplicate delivery may be moving it too: look again before calling it refused.
    const look = async () => {
      const now = (await ec2.findFollowingVolumes([failedId, replacementId])).find((v) => v.volumeId === volumeId);
      return { now, again: now ? plan([now]).find((s) => s.volumeId === volumeId) : undefined };
    };
    let { now, again } = await look();
    // The other delivery detached it (this detach was refused): attach it, as that one will; one of the two wins.
    if (again?.action === 'attach' && error.action !== 'AttachVolume') {
      try {
        await wait();
        await ec2.attachVolume(volumeId, replacementId, device);
      } catch (late) {
        if (!(late instanceof AwsCallError) || late.retryable) throw late;
      }
      ({ now, again } = await look());
    }
    if (again?.action === 'done') {
      outcome.moved.push({ volumeId, device });
      return;
    }
    // Detached by this move and refused by the replacement: back where it was.
    let back = false;
    if (now?.state === 'available' && error.action === 'AttachVolume') {
      try {
        await ec2.attachVolume(volumeId, failedId, device);
        back = true;
      } catch (rollback) {
        if (!(rollback instanceof AwsCallError) || rollback.retryable) throw rollback;
      }
    }
    const where = back || now?.attachment?.instanceId === failedId ? `attached to ${failedId}` : `available, for ${failedId}`;
    outcome.left.push({
      volumeId,
      reason: `${error.action} refused (${error.code}: ${error.message}): the volume stays ${where}`,
      attachedToFailed: where.startsWith('attached'),
    });
  }
}
