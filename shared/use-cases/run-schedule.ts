/**
 * One firing of a schedule: settle what the AMI events missed, then list every
 * opted-in instance a page at a time and fan out one BakeRequested per instance
 * to the bus, then count the lineages on this schedule that have gone too long
 * without a good image. Nothing here calls EC2 per instance: 10,000 instances are
 * 10 DescribeInstances pages, 1,000 PutEvents calls, one paged DescribeImages and one paged
 * DescribeVolumes (of the excluded volumes only).
 */
import { decideBake, type InstanceSummary, type SkipReason } from '../domain/bake.js';
import type { OutgoingEvent } from '../domain/events.js';
import { summariseFleet } from '../domain/fleet-status.js';
import type { ScheduledRun } from '../domain/incoming.js';
import type { RotationImage } from '../domain/retention.js';
import { slotFor } from '../domain/schedule.js';
import { subjectOf } from '../domain/event-requests.js';
import { AwsCallError, FanOutIncomplete } from './errors.js';
import type { ScheduleDeps } from './ports.js';
import { toRotationImage } from './rotate-images.js';
import { reconcilePending, type ReconcileReport } from './settle-image.js';

export interface ScheduleRunReport {
  schedule: string;
  slot: string;
  instancesSeen: number;
  bakeRequested: number;
  skipped: Record<SkipReason, number>;
  policyInvalid: number;
  publishFailed: number;
  reconcile: ReconcileReport | { error: string };
  /** Attached volumes tagged `ami-lifecycle:exclude` (one DescribeVolumes a run), or why they could not be read. */
  excludeTagged: number | { error: string };
  /**
   * Lineages opted in to this schedule whose newest good image of it is older than twice its
   * period (the CLI status's rule); also the LineagesWithoutGoodImage metric.
   */
  lineagesWithoutGoodImage: number | { error: string };
}

/**
 * The lineages on this schedule without a good image within twice its period, by the rule of
 * the operator's status view (summariseFleet), over the instances the fan-out listed and one
 * paged read of the stack's images, made after the reconcile pass settled what it could.
 */
async function countLineagesWithoutGoodImage(
  run: ScheduledRun,
  instances: InstanceSummary[],
  now: Date,
  deps: ScheduleDeps,
): Promise<number> {
  const images: RotationImage[] = [];
  for await (const page of deps.ec2.listManagedImages(deps.managedBy)) images.push(...page.map(toRotationImage));
  const lineages = summariseFleet({
    now,
    images,
    instances,
    plan: { decisions: [], lineages: [], stamps: [] },
    snapshotSizes: new Map(),
    knownSchedules: deps.schedules,
    schedulePeriods: { [run.schedule]: run.period },
  });
  return lineages.filter((l) => l.overdue.includes(run.schedule)).length;
}

/**
 * The exclude tags of the account's attached volumes, read once for the run. Transient trouble
 * fails the run before it publishes anything (Scheduler retries it); a refusal (a permission
 * missing) bakes every volume, logged: a bigger image, never a skipped backup.
 */
export async function readExcludeTags(deps: {
  ec2: ScheduleDeps['ec2'];
  log: ScheduleDeps['log'];
}): Promise<Map<string, string> | { error: string }> {
  try {
    return await deps.ec2.listExcludeTags();
  } catch (error) {
    if (!(error instanceof AwsCallError) || error.retryable) throw error;
    deps.log.error('could not read which volumes are excluded; every volume goes into the images of this run', {
      errorCode: error.code,
      message: error.message,
    });
    return { error: `${error.action}: ${error.code}` };
  }
}

export async function runSchedule(run: ScheduledRun, deps: ScheduleDeps): Promise<ScheduleRunReport> {
  const slot = slotFor(new Date(run.scheduledTime), run.period, run.timeZone);
  const report: ScheduleRunReport = {
    schedule: run.schedule,
    slot,
    instancesSeen: 0,
    bakeRequested: 0,
    skipped: { gone: 0, replaced: 0, 'not-on-schedule': 0, 'invalid-policy': 0 },
    policyInvalid: 0,
    publishFailed: 0,
    reconcile: { error: 'not run' },
    excludeTagged: { error: 'not run' },
    lineagesWithoutGoodImage: { error: 'not run' },
  };

  try {
    report.reconcile = await reconcilePending(deps);
  } catch (error) {
    // Settling is worth less than baking: go on to the fan-out.
    report.reconcile = { error: String(error) };
    deps.log.error('reconcile pass failed; baking goes on', { error: String(error) });
  }

  const volumeExcludes = await readExcludeTags(deps);
  report.excludeTagged = volumeExcludes instanceof Map ? volumeExcludes.size : volumeExcludes;
  const context = {
    managedBy: deps.managedBy,
    schedule: run.schedule,
    slot,
    knownSchedules: deps.schedules,
    now: deps.now(),
    copyTags: deps.copyTags,
    verifyDefault: deps.verifyDefault,
    copyTo: deps.copies?.copyTo,
    homeRegion: deps.copies?.homeRegion,
    ...(volumeExcludes instanceof Map ? { volumeExcludes } : {}),
  };
  const instances: InstanceSummary[] = [];
  for await (const page of deps.ec2.listBakeCandidates()) {
    instances.push(...page);
    const events: OutgoingEvent[] = [];
    for (const instance of page) {
      report.instancesSeen++;
      const decision = decideBake(instance, context);
      if (decision.policyInvalid) {
        report.policyInvalid++;
        events.push(decision.policyInvalid);
        deps.log.warn('instance tags are invalid', { ...decision.policyInvalid.detail });
      }
      if (decision.request) {
        report.bakeRequested++;
        events.push({ detailType: 'BakeRequested', detail: decision.request });
      } else if (decision.skip) {
        report.skipped[decision.skip]++;
      }
    }
    const outcome = await deps.events.publish(events);
    for (const f of outcome.failed) {
      if (f.event.detailType === 'BakeRequested') report.publishFailed++;
      deps.log.error('could not publish event', {
        detailType: f.event.detailType,
        subject: subjectOf(f.event),
        code: f.code,
        message: f.message,
      });
    }
  }

  try {
    report.lineagesWithoutGoodImage = await countLineagesWithoutGoodImage(run, instances, context.now, deps);
    // Every run, zero included: the alarm on it sees the schedule running.
    deps.metrics.count('LineagesWithoutGoodImage', report.lineagesWithoutGoodImage);
  } catch (error) {
    // A health figure is worth less than the bakes: the run goes on, and publishes no figure rather than a wrong one.
    report.lineagesWithoutGoodImage = { error: String(error) };
    deps.log.error('could not count the lineages without a good image', { error: String(error) });
  }

  deps.log.info('scheduled run finished', { ...report });
  // A bake request that did not reach the bus would be a lost backup: fail the run so that
  // the scheduler retries it. Requests already published are harmless to repeat.
  if (report.publishFailed > 0) throw new FanOutIncomplete(report.publishFailed);
  return report;
}
