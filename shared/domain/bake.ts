/**
 * Baking decisions: which listed instance gets a bake request on a scheduled run,
 * and what CreateImage call a bake request turns into. Pure.
 */
import { imageDescription, imageName } from './naming.js';
import { truncate } from './text.js';
import { parseInstancePolicy, TAG, type Tags } from './tags.js';
import { outgoing, type BakeRequested, type OutgoingEvent } from './events.js';
import { carriedTags, configDigest, type LaunchConfig } from './launch.js';

export interface InstanceSummary {
  instanceId: string;
  state: string;
  tags: Tags;
  /** The image the instance was launched from. */
  imageId?: string | undefined;
  launchTime?: Date | undefined;
  /** EC2's StateReason code, e.g. Server.InternalError or Client.UserInitiatedShutdown. */
  stateReasonCode?: string | undefined;
  /** What a replacement would need, as the listing shows it (tags raw: the domain picks what is carried). */
  launch?: LaunchConfig | undefined;
}

export interface RunContext {
  managedBy: string;
  schedule: string;
  slot: string;
  knownSchedules: readonly string[];
  now: Date;
}

export type SkipReason = 'gone' | 'replaced' | 'not-on-schedule' | 'invalid-policy';

export interface BakeDecision {
  request?: BakeRequested;
  skip?: SkipReason;
  /** PolicyInvalid event to publish alongside, when the tags have problems this run should report. */
  policyInvalid?: OutgoingEvent;
}

/** Instances in these states cannot be imaged and will not come back. */
const GONE = new Set(['shutting-down', 'terminated']);

export function decideBake(instance: InstanceSummary, run: RunContext): BakeDecision {
  if (GONE.has(instance.state)) return { skip: 'gone' };
  // A replaced instance kept around (stopped, or still running after a failed status check)
  // must not bake into the lineage its replacement now carries on.
  if (instance.tags[TAG.replacedBy] !== undefined) return { skip: 'replaced' };
  const policy = parseInstancePolicy(instance.tags, run.knownSchedules);
  const onSchedule = policy.schedules.includes(run.schedule);
  const decision: BakeDecision = {};

  // Report problems in the runs that concern the instance: every run when we cannot tell
  // which schedules it wants, otherwise the runs of its own schedules.
  if (policy.problems.length > 0 && (!policy.bakeable || policy.schedules.length === 0 || onSchedule)) {
    decision.policyInvalid = outgoing('PolicyInvalid', {
      managedBy: run.managedBy,
      instanceId: instance.instanceId,
      schedule: run.schedule,
      slot: run.slot,
      problems: policy.problems,
      bakeSkipped: !policy.bakeable || !onSchedule,
    });
  }
  if (!policy.bakeable) return { ...decision, skip: 'invalid-policy' };
  if (!onSchedule) return { ...decision, skip: 'not-on-schedule' };

  const name = instance.tags[TAG.name];
  decision.request = {
    managedBy: run.managedBy,
    instanceId: instance.instanceId,
    lineage: policy.lineage ?? instance.instanceId,
    assignLineage: policy.lineage === undefined,
    ...(name ? { instanceName: truncate(name, 256) } : {}),
    schedule: run.schedule,
    slot: run.slot,
    reboot: policy.reboot,
    ...(policy.retain ? { retain: instance.tags[TAG.retain]!.trim() } : {}),
    requestedAt: run.now.toISOString(),
  };
  const capture = captureOf(instance, decision.request.lineage);
  if (capture) decision.request.capture = capture;
  return decision;
}

/**
 * The launch configuration a bake should capture for recovery, or undefined when the
 * one captured last (its digest is on the instance) is still current. The digest is
 * taken after the lineage tag the bake gives the instance, so that tagging does not
 * look like a change on the next run.
 */
export function captureOf(instance: InstanceSummary, lineage: string): { digest: string; config: LaunchConfig } | undefined {
  if (!instance.launch) return undefined;
  const config: LaunchConfig = { ...instance.launch, tags: carriedTags({ ...instance.launch.tags, [TAG.lineage]: lineage }) };
  const digest = configDigest(config, instance.launchTime);
  return digest === instance.tags[TAG.captured] ? undefined : { digest, config };
}

export interface ImageSpec {
  instanceId: string;
  name: string;
  description: string;
  noReboot: boolean;
  /** Tags for the image and for each of its snapshots, applied at creation. */
  tags: Tags;
}

export interface BakePlan {
  /** Tags to put on the instance before imaging (its lineage, on its first bake). */
  instanceTags?: Tags;
  image: ImageSpec;
}

export function planBake(request: BakeRequested): BakePlan {
  const key = {
    managedBy: request.managedBy,
    lineage: request.lineage,
    schedule: request.schedule,
    slot: request.slot,
  };
  const tags: Record<string, string> = {
    [TAG.managedBy]: request.managedBy,
    [TAG.lineage]: request.lineage,
    [TAG.sourceInstance]: request.instanceId,
    [TAG.schedule]: request.schedule,
    [TAG.slot]: request.slot,
    [TAG.status]: 'pending',
  };
  if (request.instanceName) tags[TAG.name] = request.instanceName;
  if (request.retain) tags[TAG.retain] = request.retain;
  // The image says its bake rebooted the instance: recovery waits that reboot out (recovery-deferral.ts).
  if (request.reboot) tags[TAG.reboot] = 'true';
  return {
    ...(request.assignLineage ? { instanceTags: { [TAG.lineage]: request.lineage } } : {}),
    image: {
      instanceId: request.instanceId,
      name: imageName(key),
      description: imageDescription({ ...key, instanceId: request.instanceId, instanceName: request.instanceName }),
      // CreateImage's NoReboot is the inverse of the reboot tag: by default the instance keeps running.
      noReboot: !request.reboot,
      tags,
    },
  };
}
