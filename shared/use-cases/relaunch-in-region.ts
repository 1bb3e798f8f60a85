/**
 * `relaunch <lineage> --region R` (issue 17): the lineage's replacement launched in a
 * disaster-recovery region from its newest good copy there, with the captured configuration
 * mapped by `drRegions[R]` and the CLI's overrides. Everything is read in R: the copies, the DR
 * capture, the lineage's instances. The home region is read only when R has no DR capture, and
 * written to only to publish the event, whose failure is a warning (home may be the region that
 * is down).
 *
 * Exactly once: an instance of the lineage in R launched from this copy (its dr-relaunch-of tag)
 * is answered rather than a second launched, and the launch carries a client token derived from
 * the lineage, the copy and the region, so runs racing or repeated converge on one instance.
 */
import { drLaunch, newestGoodCopy, decodeLeftBehind, type DrLaunchPlan, type DrRegions } from '../domain/dr-launch.js';
import { outgoing } from '../domain/event-requests.js';
import type { OutgoingEvent } from '../domain/events.js';
import { launchTemplateName, type StoredLaunchConfig } from '../domain/launch.js';
import { TAG } from '../domain/tags.js';
import type { InstanceSummary } from '../domain/bake.js';
import type { ImageView } from '../domain/image-status.js';
import { AwsCallError } from './errors.js';
import type { DrHomeEc2, DrRegionEc2 } from './ec2-ports.js';
import type { EventPort, Log } from './ports.js';

export interface DrRelaunchDeps {
  managedBy: string;
  homeRegion: string;
  /** The stage's drRegions map. */
  drRegions: DrRegions;
  /** EC2 in the home region: read only when R holds no DR capture. */
  ec2: DrHomeEc2;
  ec2In: (region: string) => DrRegionEc2;
  /** The home region's bus. */
  events: EventPort;
  log: Log;
  now: () => Date;
}

export interface DrRelaunchOptions {
  subnetId?: string | undefined;
  securityGroupIds?: string[] | undefined;
  dryRun?: boolean | undefined;
}

interface Common {
  lineage: string;
  region: string;
}

export type DrRelaunchOutcome =
  | (Common & {
      action: 'relaunched' | 'planned';
      /** The replacement (relaunched), or the one found from an earlier run. */
      instanceId?: string;
      imageId: string;
      sourceImageId: string | undefined;
      resumed: boolean;
      /** Which capture was mapped: R's DR capture, or the home one when R has none. */
      capture: 'dr' | 'home';
      subnetId: string;
      securityGroupIds: string[];
      notFollowed: string[];
      /** Good-looking copies in R that are not the service's (never launched from). */
      notOurs: Array<{ imageId: string; reason: string }>;
      warnings: string[];
    })
  | (Common & {
      action: 'refused';
      code: 'NoGoodCopy' | 'NoCapture' | 'NoSubnet' | 'NoSecurityGroups' | 'AlreadyRelaunched' | 'LaunchRefused';
      reason: string;
      notOurs?: Array<{ imageId: string; reason: string }>;
    });

const LIVE = (i: InstanceSummary) => i.state !== 'terminated' && i.state !== 'shutting-down';

export async function relaunchInRegion(
  deps: DrRelaunchDeps,
  lineage: string,
  region: string,
  options: DrRelaunchOptions = {},
): Promise<DrRelaunchOutcome> {
  const there = deps.ec2In(region);
  const name = launchTemplateName(deps.managedBy, lineage);
  const [images, drCapture, drTemplate, instances] = await Promise.all([
    there.listLineageImages(deps.managedBy, lineage),
    there.readLaunchCapture(name),
    there.describeLaunchTemplate(name),
    there.listLineageInstances(lineage),
  ]);
  const { copy, notOurs } = newestGoodCopy(images, deps.managedBy, deps.homeRegion);
  if (notOurs.length > 0)
    deps.log.warn('copies in the region that are not the service’s: never launched from', { lineage, region, notOurs });
  if (!copy) {
    return refused(
      lineage,
      region,
      'NoGoodCopy',
      `${lineage} has no good copy of ${deps.managedBy} in ${region}: nothing was launched`,
      notOurs,
    );
  }

  // The DR capture is used only if this stack wrote it; else the home capture, if home answers.
  const ownDr = drCapture && drTemplate?.tags[TAG.managedBy] === deps.managedBy;
  const warnings: string[] = [];
  let capture: { from: 'dr' | 'home'; config: StoredLaunchConfig; leftBehind: ReturnType<typeof decodeLeftBehind> } | undefined;
  if (ownDr) capture = { from: 'dr', config: drCapture.config, leftBehind: decodeLeftBehind(drTemplate.tags[TAG.leftBehind]) };
  else {
    capture = await homeCapture(deps, name, lineage, warnings);
    if (!capture) {
      return refused(
        lineage,
        region,
        'NoCapture',
        `no launch configuration of ${lineage}: ${region} holds no DR capture, and the home capture in ${deps.homeRegion} ` +
          `could not be read${warnings.length ? ` (${warnings.join('; ')})` : ''}; nothing was launched`,
      );
    }
  }

  const plan: DrLaunchPlan = drLaunch({
    lineage,
    region,
    homeRegion: deps.homeRegion,
    copy,
    capture,
    entry: deps.drRegions[region],
    overrides: { subnetId: options.subnetId, securityGroupIds: options.securityGroupIds },
  });
  if (!plan.ok) return refused(lineage, region, plan.code, plan.reason);
  const { spec, notFollowed } = plan;
  if (spec.droppedTags.length > 0) warnings.push(`tags left off (EC2 takes 50 per resource): ${spec.droppedTags.join(', ')}`);

  const ofLineage = instances.filter(LIVE).filter((i) => i.tags[TAG.drRelaunchOf] !== undefined);
  const existing = ofLineage.find((i) => i.tags[TAG.drRelaunchOf] === copy.imageId);
  const other = ofLineage.find((i) => i.tags[TAG.drRelaunchOf] !== copy.imageId);
  if (!existing && other) {
    // A second machine of the lineage in R is never started by a rerun after a newer copy arrived.
    return refused(
      lineage,
      region,
      'AlreadyRelaunched',
      `${other.instanceId} in ${region} is already the DR relaunch of ${lineage} (from ${other.tags[TAG.drRelaunchOf]}): ` +
        'terminate it first to relaunch from the newer copy; nothing was launched',
    );
  }
  const base = {
    lineage,
    region,
    imageId: copy.imageId,
    sourceImageId: copy.sourceImageId,
    capture: capture.from,
    subnetId: spec.config.subnetId ?? '',
    securityGroupIds: spec.config.securityGroupIds,
    notFollowed,
    notOurs,
    warnings,
  };
  const failedInstanceId = copy.tags[TAG.sourceInstance] ?? 'unknown';

  if (options.dryRun) {
    const c = spec.config;
    await publishWarned(
      deps,
      warnings,
      outgoing('RelaunchPlanned', {
        managedBy: deps.managedBy,
        lineage,
        failedInstanceId,
        imageId: copy.imageId,
        trigger: 'manual',
        reason: `relaunch in ${region} from the copy ${copy.imageId} of ${copy.sourceImageId ?? copy.tags[TAG.sourceImage]}`,
        launch: {
          instanceType: c.instanceType,
          subnetId: c.subnetId,
          securityGroupIds: c.securityGroupIds,
          keyName: c.keyName,
          iamInstanceProfileArn: c.iamInstanceProfileArn ?? c.iamInstanceProfileName,
          hasUserData: c.userData !== undefined,
          tags: { ...spec.tags },
          ...(spec.droppedTags.length > 0 ? { droppedTags: spec.droppedTags } : {}),
          ...(c.spot ? { spot: true } : {}),
          ...(c.placement ? { placement: c.placement } : {}),
          ...(c.sourceDestCheck === false ? { sourceDestCheck: false } : {}),
        },
        ...(existing ? { notLaunched: `${existing.instanceId} was launched from this copy already` } : {}),
        region,
        notFollowed,
      }),
    );
    return { ...base, action: 'planned', resumed: existing !== undefined, ...(existing ? { instanceId: existing.instanceId } : {}) };
  }

  let instanceId = existing?.instanceId;
  let resumed = existing !== undefined;
  if (!instanceId) {
    try {
      instanceId = await there.runInstance(spec);
    } catch (error) {
      if (!(error instanceof AwsCallError) || error.retryable) throw error;
      // The same token with other parameters (the map or --subnet changed between two runs): the first launch stands.
      const again = error.code === 'IdempotentParameterMismatch' ? await findExisting(there, lineage, copy) : undefined;
      if (!again) return refused(lineage, region, 'LaunchRefused', `RunInstances in ${region} refused: ${error.code}: ${error.message}`);
      instanceId = again.instanceId;
      resumed = true;
    }
  }
  // Launch options cannot turn the check off (see recovery's finish): set once it exists, safe to repeat.
  if (spec.config.sourceDestCheck === false) await there.disableSourceDestCheck(instanceId);

  await publishWarned(
    deps,
    warnings,
    outgoing('InstanceRelaunched', {
      managedBy: deps.managedBy,
      lineage,
      failedInstanceId,
      newInstanceId: instanceId,
      imageId: copy.imageId,
      trigger: 'manual',
      reason: `relaunched in ${region} from the copy ${copy.imageId}`,
      generation: 1,
      secondsToLaunch: 0,
      // The home instance is not touched: it is in a region the relaunch does not need.
      failedInstance: 'kept',
      resumed,
      ...(spec.droppedTags.length > 0 ? { droppedTags: spec.droppedTags } : {}),
      region,
      notFollowed,
    }),
  );
  deps.log.info('relaunched in another region', { lineage, region, instanceId, imageId: copy.imageId, resumed });
  return { ...base, action: 'relaunched', instanceId, resumed };
}

/** The home capture, when home answers: a failure there is a warning, the caller says what it means. */
async function homeCapture(
  deps: DrRelaunchDeps,
  name: string,
  lineage: string,
  warnings: string[],
): Promise<{ from: 'home'; config: StoredLaunchConfig; leftBehind: { elasticIp?: string } } | undefined> {
  try {
    const [home, addresses] = await Promise.all([deps.ec2.readLaunchCapture(name), deps.ec2.findLineageAddresses(lineage)]);
    if (!home) {
      warnings.push(`no launch template ${name} in ${deps.homeRegion}`);
      return undefined;
    }
    warnings.push(`no DR capture in the region: the home capture of ${deps.homeRegion} was mapped`);
    return { from: 'home', config: home.config, leftBehind: addresses[0] ? { elasticIp: addresses[0].publicIp } : {} };
  } catch (error) {
    warnings.push(`${deps.homeRegion} did not answer: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

async function findExisting(there: DrRegionEc2, lineage: string, copy: ImageView): Promise<InstanceSummary | undefined> {
  return (await there.listLineageInstances(lineage)).filter(LIVE).find((i) => i.tags[TAG.drRelaunchOf] === copy.imageId);
}

/** Publishes to the home bus; a failure (home may be down) is a warning on the outcome, never a failed relaunch. */
async function publishWarned(deps: DrRelaunchDeps, warnings: string[], event: OutgoingEvent): Promise<void> {
  try {
    const { failed } = await deps.events.publish([event]);
    for (const f of failed) warnings.push(`${event.detailType} not published to the home bus: ${f.code}: ${f.message}`);
  } catch (error) {
    warnings.push(`${event.detailType} not published to the home bus: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (warnings.some((w) => w.includes('not published')))
    deps.log.warn('event not published to the home bus', { detailType: event.detailType });
}

function refused(
  lineage: string,
  region: string,
  code: Extract<DrRelaunchOutcome, { action: 'refused' }>['code'],
  reason: string,
  notOurs?: Array<{ imageId: string; reason: string }>,
): DrRelaunchOutcome {
  return { lineage, region, action: 'refused', code, reason, ...(notOurs?.length ? { notOurs } : {}) };
}
