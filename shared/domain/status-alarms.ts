/**
 * Status-check alarms for instances opted in to recovery: two CloudWatch alarms per instance,
 * one on each status check, whose ALARM state EventBridge delivers to the recover function.
 * Split as AWS splits its own alarm actions: the system check (the host) relaunches at once, the
 * instance check (the operating system) reboots first (recovery-deferral.ts). Which alarms
 * should exist, and which should go. Pure.
 */
import type { InstanceSummary } from './bake.js';
import { recoverModeOf } from './recovery.js';

/** The two checks, and the metric of each (AWS/EC2). */
export const STATUS_CHECKS = {
  system: 'StatusCheckFailed_System',
  instance: 'StatusCheckFailed_Instance',
} as const;
export type StatusCheck = keyof typeof STATUS_CHECKS;

export function statusAlarmPrefix(managedBy: string): string {
  return `${managedBy}-status-`;
}

/** `<managed-by>-status-system-<id>` or `<managed-by>-status-instance-<id>`: at most 32 + 16 + 19 characters (CloudWatch allows 255). */
export function statusAlarmName(managedBy: string, instanceId: string, check: StatusCheck): string {
  return `${statusAlarmPrefix(managedBy)}${check}-${instanceId}`;
}

/** The single `StatusCheckFailed` alarm earlier versions kept per instance, which the split replaces. */
export function combinedAlarmName(managedBy: string, instanceId: string): string {
  return `${statusAlarmPrefix(managedBy)}${instanceId}`;
}

/** Each alarm: two failed minutes in a row, as AWS's own recovery alarms do; no data (a stopped instance) is not a failure. */
export const STATUS_ALARM = {
  namespace: 'AWS/EC2',
  statistic: 'Maximum',
  periodSeconds: 60,
  evaluationPeriods: 2,
  threshold: 1,
  comparisonOperator: 'GreaterThanOrEqualToThreshold',
  treatMissingData: 'missing',
} as const;

export interface WantedAlarm {
  name: string;
  instanceId: string;
  check: StatusCheck;
}

export interface StatusAlarmPlan {
  /** Alarms that opted-in instances need and do not have. */
  create: WantedAlarm[];
  /**
   * Alarms of this stack whose instance is gone or no longer opted in, and the single
   * `StatusCheckFailed` alarm (`<managed-by>-status-<id>`) earlier versions kept, now split in two.
   */
  remove: string[];
  keep: number;
}

const GONE = new Set(['shutting-down', 'terminated']);

export function planStatusAlarms(
  managedBy: string,
  instances: readonly InstanceSummary[],
  existingAlarms: readonly string[],
): StatusAlarmPlan {
  const wanted = new Map(
    instances
      .filter((i) => !GONE.has(i.state) && recoverModeOf(i.tags).mode !== 'off')
      .flatMap((i) =>
        (Object.keys(STATUS_CHECKS) as StatusCheck[]).map((check) => {
          const name = statusAlarmName(managedBy, i.instanceId, check);
          return [name, { name, instanceId: i.instanceId, check }] as const;
        }),
      ),
  );
  const existing = new Set(existingAlarms);
  // The prefix, a check or none (the combined alarm of earlier versions), an instance id and
  // nothing else: a stack named `<this>-status-x` keeps its alarms.
  const prefix = statusAlarmPrefix(managedBy).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const ours = new RegExp(`^${prefix}(system-|instance-)?i-[0-9a-z]+$`);
  return {
    create: [...wanted.values()].filter((a) => !existing.has(a.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    remove: [...existing].filter((name) => ours.test(name) && !wanted.has(name)).sort(),
    keep: [...existing].filter((name) => wanted.has(name)).length,
  };
}
