/**
 * When recovery waits instead of relaunching, and what it does when it looks again (issue 22,
 * parts 3 and 4). Pure.
 *
 * - An instance status check failing is the operating system's trouble, which a reboot often
 *   clears: AWS recommends the reboot alarm action for instance check failures and the recover
 *   action for system check failures, and allows recover on any EC2 metric but
 *   StatusCheckFailed_Instance (CloudWatch User Guide, "Create alarms to stop, terminate, reboot,
 *   or recover an EC2 instance", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/UsingAlarmActions.html;
 *   EC2 User Guide, "Configure CloudWatch action based recovery", which works with
 *   StatusCheckFailed_System: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/cloudwatch-recovery.html).
 *   So recovery reboots first, and relaunches only if the check still fails a while later.
 * - A bake with `reboot=true` calls CreateImage without NoReboot: EC2 shuts the instance down
 *   and boots it again, and its status checks fail meanwhile (EC2 API reference, CreateImage,
 *   NoReboot: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html).
 *   Alarms and Health events wait out that window instead of relaunching the instance the
 *   service itself is rebooting.
 *
 * Waiting is a due time, never a loop: a one-time schedule hands the signal back to recovery
 * (a "recheck"), which then never defers again.
 */
import type { ImageView } from './image-status.js';
import type { FailureSignal } from './recovery.js';
import { TAG, type Tags } from './tags.js';

/** Why recovery waits: its own reboot after an instance check failed, or a bake's reboot. */
export type DeferCause = 'reboot' | 'bake-reboot';

/** A deferred signal, handed back at its due time. Times are ISO 8601. */
export interface Recheck {
  cause: DeferCause;
  /** When the reboot began (recovery's reboot, or the bake's CreateImage). */
  since: string;
  /** When the recheck is due. */
  until: string;
}

export interface DeferralSettings {
  /** How long after recovery reboots an instance its instance check must have passed again. */
  instanceCheckWaitMinutes: number;
  /** The longest a bake's reboot keeps alarms and Health events waiting. */
  bakeRebootWindowMinutes: number;
}

/** An instance's status checks as DescribeInstanceStatus reports them: ok, impaired, initializing, insufficient-data or not-applicable. */
export interface StatusChecks {
  system: string;
  instance: string;
}

export interface Deferral {
  cause: DeferCause;
  since: Date;
  until: Date;
  /**
   * Whether the answer is a reboot (the instance check), as opposed to waiting out a bake's. The
   * delivery that creates the recheck reboots; one that finds it scheduled does not (recover-instance.ts).
   */
  reboot: boolean;
  reason: string;
}

/** The one-time schedule of an instance's recheck: one per instance, so that a duplicate event makes none. */
export function recheckScheduleName(managedBy: string, instanceId: string): string {
  // At most 32 + 9 + 19 = 60 characters: Scheduler allows 64.
  return `${managedBy}-recheck-${instanceId}`;
}

/** The `rebooted-at` time recovery wrote on the instance when it rebooted it, if readable. */
export function rebootedAtOf(tags: Tags): Date | undefined {
  const raw = tags[TAG.rebootedAt];
  const at = raw ? new Date(raw) : undefined;
  return at && Number.isFinite(at.getTime()) ? at : undefined;
}

/**
 * The bake of this instance whose reboot may still be under way: the newest image baked from it
 * with `reboot=true`, created less than the window ago.
 */
export function bakeRebootOf(
  images: readonly ImageView[],
  instanceId: string,
  now: Date,
  windowMinutes: number,
): { imageId: string; startedAt: Date } | undefined {
  const rebooted = images
    .filter((i) => i.tags[TAG.sourceInstance] === instanceId && i.tags[TAG.reboot] === 'true' && i.creationDate)
    .map((i) => ({ imageId: i.imageId, startedAt: new Date(i.creationDate!) }))
    .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime())[0];
  return rebooted && now.getTime() - rebooted.startedAt.getTime() < windowMinutes * 60_000 ? rebooted : undefined;
}

const minutesAfter = (at: Date, minutes: number) => new Date(at.getTime() + minutes * 60_000);

export interface DeferralInput {
  signal: FailureSignal;
  bakeReboot: { imageId: string; startedAt: Date } | undefined;
  rebootedAt: Date | undefined;
  /** The failed instance is a fresh replacement whose own image is to blame: it is relaunched at once. */
  imageFault: boolean;
  settings: DeferralSettings;
  now: Date;
}

/** Whether, and until when, recovery waits for this signal; undefined when it goes on at once. */
export function deferralOf(input: DeferralInput): Deferral | undefined {
  const { signal, now, settings } = input;
  if ((signal.kind !== 'alarm' && signal.kind !== 'health') || signal.recheck) return undefined;
  const what = signal.kind === 'alarm' ? `alarm ${signal.alarmName}` : `health event ${signal.eventTypeCode}`;
  if (input.bakeReboot) {
    const { imageId, startedAt } = input.bakeReboot;
    const until = minutesAfter(startedAt, settings.bakeRebootWindowMinutes);
    return {
      cause: 'bake-reboot',
      since: startedAt,
      until,
      reboot: false,
      reason: `${what} came while the bake of ${imageId} (reboot=true) reboots the instance: checked again at ${until.toISOString()}`,
    };
  }
  if (signal.kind !== 'alarm' || signal.metric !== 'StatusCheckFailed_Instance' || input.imageFault) return undefined;
  const wait = settings.instanceCheckWaitMinutes;
  const rebootedAt = input.rebootedAt;
  if (rebootedAt && now.getTime() - rebootedAt.getTime() < wait * 60_000) {
    const until = minutesAfter(rebootedAt, wait);
    return {
      cause: 'reboot',
      since: rebootedAt,
      until,
      reboot: true,
      reason: `${what}: a reboot began at ${rebootedAt.toISOString()}; its instance check is checked again at ${until.toISOString()}`,
    };
  }
  const until = minutesAfter(now, wait);
  return {
    cause: 'reboot',
    since: now,
    until,
    reboot: true,
    reason: `${what}: its instance check failed, so it is rebooted first; relaunched if the check still fails at ${until.toISOString()}`,
  };
}

/** Whether the check an alarm watches still fails at its recheck (impaired; a check still initializing is not a failure yet). */
export function stillFailing(metric: string, checks: StatusChecks | undefined): boolean {
  if (!checks) return false;
  if (metric === 'StatusCheckFailed_System') return checks.system === 'impaired';
  if (metric === 'StatusCheckFailed_Instance') return checks.instance === 'impaired';
  return checks.system === 'impaired' || checks.instance === 'impaired';
}

/** What a recheck found when the checks pass again: the reason of its RecoverySkipped. */
export function passedAgain(signal: FailureSignal & { kind: 'alarm' }, checks: StatusChecks | undefined): string {
  const after = signal.recheck?.cause === 'bake-reboot' ? "after the bake's reboot" : 'after the reboot';
  const seen = checks ? `system ${checks.system}, instance ${checks.instance}` : 'no status: the instance is not running';
  return (
    `alarm ${signal.alarmName}: the status checks no longer fail ${after} (${seen}); not relaunched. ` +
    'An alarm that stays in ALARM sends nothing more: `ami-lifecycle relaunch` if the instance does not come back'
  );
}
