/**
 * What an operator can ask for by hand (the CLI's `bake` and `relaunch`), through
 * the same use cases the scheduled and event-driven paths run: the same decisions,
 * the same idempotency keys, the same events.
 */
import pLimit from 'p-limit';
import { decideBake, type InstanceSummary } from '../domain/bake.js';
import { slotFor, type Period } from '../domain/schedule.js';
import { parseInstancePolicy, TAG } from '../domain/tags.js';
import { bakeInstance, type BakeOutcome } from './bake-instance.js';
import { outgoing } from '../domain/event-requests.js';
import { isManagedBy, notMadeHere, statusOf } from '../domain/image-status.js';
import type { OnDemandBakeDeps, RecoveryDeps, SettleDeps } from './ports.js';
import { recoverSignal, type RecoveryOutcome } from './recover-instance.js';
import { publishOrThrow } from './publish.js';

export type OnDemandBake =
  | { instanceId: string; schedule: string; slot: string; outcome: BakeOutcome }
  | { instanceId: string; status: 'skipped'; reason: string }
  | { instanceId: string; status: 'not-found'; reason: string };

export interface OnDemandBakeOptions {
  /** Bake for this schedule; by default the first schedule the instance's bake tag names. */
  schedule?: string | undefined;
  schedulePeriods: Readonly<Record<string, Period>>;
  /** Called after each instance, for progress. */
  progress?: (done: number, total: number) => void;
}

/**
 * Bakes the named instances (or, with `'all'`, every opted-in one) into the current
 * slot of their schedule. A slot that has its image already answers `already-baked`:
 * the nightly run that follows finds the same image, as a retried bake would.
 */
export async function bakeOnDemand(
  target: string[] | 'all',
  deps: OnDemandBakeDeps,
  options: OnDemandBakeOptions,
): Promise<OnDemandBake[]> {
  const instances: Array<InstanceSummary | { instanceId: string; missing: true }> = [];
  if (target === 'all') {
    for await (const page of deps.ec2.listBakeCandidates()) instances.push(...page);
  } else {
    for (const id of target) instances.push((await deps.ec2.describeInstance(id)) ?? { instanceId: id, missing: true });
  }
  // The exclude tags of their volumes, in one read (the whole account for 'all', as a run does).
  const named = instances.flatMap((i) => ('missing' in i ? [] : [i.instanceId]));
  const volumeExcludes =
    named.length === 0 ? new Map<string, string>() : await deps.ec2.listExcludeTags(target === 'all' ? undefined : named);
  const limit = pLimit(4);
  let done = 0;
  return Promise.all(
    instances.map((instance) =>
      limit(async (): Promise<OnDemandBake> => {
        const result = await bakeOne(instance, deps, options, volumeExcludes);
        options.progress?.(++done, instances.length);
        return result;
      }),
    ),
  );
}

async function bakeOne(
  instance: InstanceSummary | { instanceId: string; missing: true },
  deps: OnDemandBakeDeps,
  options: OnDemandBakeOptions,
  volumeExcludes: ReadonlyMap<string, string>,
): Promise<OnDemandBake> {
  const { instanceId } = instance;
  if ('missing' in instance) return { instanceId, status: 'not-found', reason: 'no such instance' };
  if (instance.tags[TAG.bake] === undefined) return { instanceId, status: 'skipped', reason: `not opted in: no ${TAG.bake} tag` };
  const schedule = options.schedule ?? parseInstancePolicy(instance.tags, deps.schedules).schedules[0];
  const period = schedule ? options.schedulePeriods[schedule] : undefined;
  if (!schedule || !period) return { instanceId, status: 'skipped', reason: `no known schedule to bake for (${instance.tags[TAG.bake]})` };
  const now = deps.now();
  const slot = slotFor(now, period, deps.rotation.timeZone);
  const decision = decideBake(instance, {
    managedBy: deps.managedBy,
    schedule,
    slot,
    knownSchedules: deps.schedules,
    now,
    copyTags: deps.copyTags,
    verifyDefault: deps.verifyDefault,
    copyTo: deps.copies?.copyTo,
    homeRegion: deps.copies?.homeRegion,
    volumeExcludes,
  });
  if (decision.policyInvalid) await deps.events.publish([decision.policyInvalid]);
  if (!decision.request) return { instanceId, status: 'skipped', reason: decision.skip ?? 'not baked' };
  return { instanceId, schedule, slot, outcome: await bakeInstance(decision.request, deps) };
}

export class UnknownTarget extends Error {
  override readonly name = 'UnknownTarget';
}

/**
 * A manual recovery of an instance, or of a lineage's current instance (the live one
 * not yet replaced; else its newest instance EC2 still shows; else the instance its
 * newest image was baked from). Dry run: deps.recovery.dryRun.
 */
export async function relaunchManually(target: string, deps: RecoveryDeps, options: { force?: boolean } = {}): Promise<RecoveryOutcome> {
  const instanceId = /^i-[0-9a-f]{8,17}$/.test(target) ? target : await currentInstanceOf(target, deps);
  const outcome = await recoverSignal({ kind: 'manual', instanceId, ...(options.force ? { force: true } : {}) }, deps.now(), deps);
  if (outcome.action === 'ignored' && !(await deps.ec2.describeInstance(instanceId))) {
    throw new UnknownTarget(`${target}: no such instance, and no image of this stack was baked from it`);
  }
  return outcome;
}

async function currentInstanceOf(lineage: string, deps: RecoveryDeps): Promise<string> {
  const instances = await deps.ec2.listLineageInstances(lineage);
  const byLaunch = [...instances].sort((a, b) => (b.launchTime?.getTime() ?? 0) - (a.launchTime?.getTime() ?? 0));
  const live = byLaunch.find((i) => i.state !== 'terminated' && i.state !== 'shutting-down' && i.tags[TAG.replacedBy] === undefined);
  if (live ?? byLaunch[0]) return (live ?? byLaunch[0])!.instanceId;
  const images = await deps.ec2.listLineageImages(deps.managedBy, lineage);
  const newest = images.sort((a, b) => ((b.creationDate ?? '') > (a.creationDate ?? '') ? 1 : -1))[0];
  const source = newest?.tags[TAG.sourceInstance];
  if (!source) throw new UnknownTarget(`${lineage}: no instance or image of this stack carries this lineage`);
  return source;
}

/**
 * Clears a `bad` mark an operator judges wrong (recovery blamed the image for a replacement's
 * early failure): the image and its snapshots are `good` again, which recovery launches from and
 * rotation counts. Only an image of this stack marked `bad`; anything else is refused, saying why.
 * Published (ImageMarkedGood) and logged: the mark was the service's, the correction a person's.
 */
export async function markGood(imageId: string, deps: SettleDeps): Promise<{ imageId: string; lineage: string | undefined }> {
  const image = (await deps.ec2.describeImages([imageId])).get(imageId);
  if (!image || !isManagedBy(image.tags, deps.managedBy) || notMadeHere(image)) {
    throw new UnknownTarget(`${imageId}: no image this stack made`);
  }
  const status = statusOf(image);
  if (status !== 'bad') throw new NotMarkedBad(`${imageId} is ${status ?? 'untagged'}, not bad: nothing to clear`);
  const lineage = image.tags[TAG.lineage];
  const event = outgoing('ImageMarkedGood', { managedBy: deps.managedBy, imageId, ...(lineage ? { lineage } : {}), previousStatus: 'bad' });
  await publishOrThrow(deps.events, event);
  await deps.ec2.tagResources([imageId, ...image.snapshotIds], { [TAG.status]: 'good' });
  deps.log.info('image marked good by an operator', { imageId, lineage, previousStatus: 'bad' });
  return { imageId, lineage };
}

/** mark-good on an image that is not marked bad. */
export class NotMarkedBad extends Error {
  override readonly name = 'NotMarkedBad';
}
