/**
 * Baking decisions: which listed instance gets a bake request on a scheduled run,
 * and what CreateImage call a bake request turns into. Pure.
 */
import { imageDescription, imageName } from './naming.js';
import { truncate } from './text.js';
import { parseInstancePolicy, TAG, type Tags } from './tags.js';
import { outgoing, type BakeRequested, type OutgoingEvent } from './events.js';

export interface InstanceSummary {
  instanceId: string;
  state: string;
  tags: Tags;
  /** The image the instance was launched from. */
  imageId?: string | undefined;
}

export interface RunContext {
  managedBy: string;
  schedule: string;
  slot: string;
  knownSchedules: readonly string[];
  now: Date;
}

export type SkipReason = 'gone' | 'not-on-schedule' | 'invalid-policy';

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
  return decision;
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
