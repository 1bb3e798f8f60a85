/**
 * Verifying an image (issue 15): an image of a lineage with `verify=boot` is good only once a
 * test instance booted from it passed EC2's two status checks (and, when configured, an SSM Run
 * Command). Pure: each step is decided from the image, its test instance and their checks as
 * they are now, never from the event alone, so a duplicate, late or lost event settles the same.
 *
 * A verification waits by due times, never in a loop: a one-time schedule hands it back to the
 * verify function (verify-image.ts), and a sweep on a schedule of its own finds what a lost
 * schedule or a crash left.
 */
import type { VERIFICATION_CHECKS } from './events.js';
import { newestFirst } from './image-status.js';
import type { StatusChecks } from './recovery-deferral.js';
import { TAG, type Tags } from './tags.js';

/** What a test instance carries in `ami-lifecycle:role`. */
export const VERIFICATION_ROLE = 'verification';

/** The stage's verification settings (params verify*, reaching the verify function as VERIFY_*). */
export interface VerifySettings {
  subnetId: string;
  securityGroupId: string;
  /** The test instance's type; undefined: the lineage's captured type. */
  instanceType?: string | undefined;
  timeoutMinutes: number;
  maxConcurrent: number;
  /** Whether the test instance gets the lineage's captured instance profile (default: none). */
  instanceProfile: boolean;
  /** An SSM Run Command run on the test instance once its status checks passed; undefined: none. */
  command?: { document: string; parameters: Record<string, string[]> } | undefined;
}

/** How often a verification looks again while the test instance boots: EC2 runs status checks every minute. */
export const POLL_MINUTES = 2;

/** A test instance as DescribeInstances shows it. */
export interface TestInstance {
  instanceId: string;
  state: string;
  launchTime: Date;
  /** The image it tests (its `verifies` tag). */
  imageId: string | undefined;
  instanceType?: string | undefined;
}

/** The SSM command's result on the test instance (GetCommandInvocation's Status), when one was sent. */
export interface CommandResult {
  commandId: string;
  /** Pending | InProgress | Delayed | Success | Cancelled | TimedOut | Failed | Cancelling */
  status: string;
  /** StatusDetails, or the output's last line: what ImageVerificationFailed says. */
  detail?: string | undefined;
}

export type FailedCheck = (typeof VERIFICATION_CHECKS)[number];

export type VerificationStep =
  /** The image is verifying and has no test instance: launch one (when a slot is free). */
  | { kind: 'launch' }
  /** Look again at `until` (a one-time schedule). */
  | { kind: 'wait'; until: Date; why: string }
  /** Both status checks passed: send the SSM command. */
  | { kind: 'send-command' }
  | { kind: 'pass'; checks: StatusChecks }
  | { kind: 'fail'; check: FailedCheck; reason: string }
  /** The image is no longer verifying (settled, or gone): only a test instance still alive is ended. */
  | { kind: 'clean-up' }
  | { kind: 'nothing'; why: string };

export interface VerificationView {
  /** The image's status tag; undefined when the image is gone. */
  imageStatus: string | undefined;
  /** Its test instance, the newest when there are several (a launch raced), in any state. */
  instance: TestInstance | undefined;
  checks: StatusChecks | undefined;
  command: CommandResult | undefined;
  settings: Pick<VerifySettings, 'timeoutMinutes' | 'command'>;
  now: Date;
}

/** Instance states a test instance still costs in (or may come back from). */
export const LIVE_TEST_STATES: ReadonlySet<string> = new Set(['pending', 'running', 'stopping', 'stopped']);
const COMMAND_RUNNING = new Set(['Pending', 'InProgress', 'Delayed', 'Cancelling']);

/** When a verification gives up: its timeout after the test instance's launch. */
export function deadlineOf(instance: TestInstance, timeoutMinutes: number): Date {
  return new Date(instance.launchTime.getTime() + timeoutMinutes * 60_000);
}

/** Whole seconds from the test instance's launch to now (0 before it): what ImageVerified reports. */
export function instanceSeconds(instance: TestInstance | undefined, now: Date): number {
  return instance ? Math.max(0, Math.round((now.getTime() - instance.launchTime.getTime()) / 1000)) : 0;
}

/** The next step of one image's verification. */
export function decideVerification(view: VerificationView): VerificationStep {
  const { instance, now } = view;
  if (view.imageStatus !== 'verifying') {
    return instance && LIVE_TEST_STATES.has(instance.state) ? { kind: 'clean-up' } : { kind: 'nothing', why: 'not verifying' };
  }
  if (!instance) return { kind: 'launch' };
  if (!LIVE_TEST_STATES.has(instance.state) || instance.state === 'stopping' || instance.state === 'stopped') {
    // The image's own OS shut it down (InstanceInitiatedShutdownBehavior terminate), or someone else ended it.
    return { kind: 'fail', check: 'instance-state', reason: `the test instance is ${instance.state} before its checks passed` };
  }
  const deadline = deadlineOf(instance, view.settings.timeoutMinutes);
  const checks = view.checks;
  if (instance.state === 'running' && checks) {
    if (checks.system === 'impaired') return { kind: 'fail', check: 'system-status', reason: 'the system status check failed (impaired)' };
    if (checks.instance === 'impaired') {
      return { kind: 'fail', check: 'instance-status', reason: 'the instance status check failed (impaired): the image does not boot' };
    }
    if (checks.system === 'ok' && checks.instance === 'ok') {
      if (!view.settings.command) return { kind: 'pass', checks };
      const command = view.command;
      if (!command) return now < deadline ? { kind: 'send-command' } : timeout(view, 'before its command was sent');
      if (command.status === 'Success') return { kind: 'pass', checks };
      if (!COMMAND_RUNNING.has(command.status)) {
        return {
          kind: 'fail',
          check: 'command',
          reason: `${view.settings.command.document} ended ${command.status}${command.detail ? `: ${command.detail}` : ''}`,
        };
      }
      return waitOrTimeout(view, deadline, `command ${command.commandId} is ${command.status}`);
    }
  }
  const seen = checks ? `system ${checks.system}, instance ${checks.instance}` : `${instance.state}, no status checks yet`;
  return waitOrTimeout(view, deadline, seen);
}

function waitOrTimeout(view: VerificationView, deadline: Date, seen: string): VerificationStep {
  if (view.now >= deadline) return timeout(view, `(last seen: ${seen})`);
  const next = new Date(Math.min(view.now.getTime() + POLL_MINUTES * 60_000, deadline.getTime()));
  return { kind: 'wait', until: next, why: seen };
}

function timeout(view: VerificationView, seen: string): VerificationStep {
  return { kind: 'fail', check: 'timeout', reason: `no verdict within ${view.settings.timeoutMinutes} min of the launch ${seen}` };
}

/** The one-time schedule of an image's verification: one per image, so a duplicate makes none. */
export function verifyScheduleName(managedBy: string, imageId: string): string {
  // At most 32 + 8 + 21 = 61 characters: Scheduler allows 64 (CreateSchedule, Name).
  return `${managedBy}-verify-${imageId}`;
}

/**
 * RunInstances' ClientToken for an image's test instance: the same image, the same token, so a
 * duplicate or retried start finds the instance the first one launched. EC2 allows 64 ASCII
 * characters ("Ensure idempotency in Amazon EC2 API requests",
 * https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html); this is at most 28.
 */
export function verifyClientToken(imageId: string): string {
  return `verify-${imageId}`;
}

/** The tags of an image's test instance (and its volumes), at launch. */
export function testInstanceTags(managedBy: string, imageId: string, lineage: string | undefined): Tags {
  return {
    [TAG.managedBy]: managedBy,
    [TAG.role]: VERIFICATION_ROLE,
    [TAG.verifies]: imageId,
    [TAG.name]: `verify ${imageId}${lineage ? ` (${lineage})` : ''}`,
  };
}

/** A waiting image: verifying, created when. */
export interface WaitingImage {
  imageId: string;
  createdAt: Date;
}

/**
 * The images to start now: at most `maxConcurrent` test instances live at once, the oldest
 * images first. Deterministic: two runs that see the same fleet start the same images, whose
 * client tokens then launch each one instance only.
 */
export function imagesToStart(waiting: readonly WaitingImage[], liveTestInstances: number, maxConcurrent: number): string[] {
  const free = Math.max(0, maxConcurrent - liveTestInstances);
  return [...waiting]
    .sort((a, b) => -newestFirst(a, b))
    .slice(0, free)
    .map((i) => i.imageId);
}

/** The last lines of a console output, at most `maxChars` characters: what ImageVerificationFailed carries. */
export function lastLines(output: string, lines = 20, maxChars = 2000): string {
  const tail = output.replace(/\r\n/g, '\n').trimEnd().split('\n').slice(-lines).join('\n');
  return tail.length > maxChars ? tail.slice(tail.length - maxChars) : tail;
}
