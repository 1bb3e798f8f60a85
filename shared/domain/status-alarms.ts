/**
 * Status-check alarms for instances opted in to recovery: one CloudWatch alarm per
 * instance on `StatusCheckFailed`, whose ALARM state EventBridge delivers to the
 * recover function. Which alarms should exist, and which should go. Pure.
 */
import type { InstanceSummary } from './bake.js';
import { recoverModeOf } from './recovery.js';

export function statusAlarmPrefix(managedBy: string): string {
  return `${managedBy}-status-`;
}

export function statusAlarmName(managedBy: string, instanceId: string): string {
  return `${statusAlarmPrefix(managedBy)}${instanceId}`;
}

/** The alarm: two failed minutes in a row, as AWS's own recovery alarms do; no data (a stopped instance) is not a failure. */
export const STATUS_ALARM = {
  namespace: 'AWS/EC2',
  metricName: 'StatusCheckFailed',
  statistic: 'Maximum',
  periodSeconds: 60,
  evaluationPeriods: 2,
  threshold: 1,
  comparisonOperator: 'GreaterThanOrEqualToThreshold',
  treatMissingData: 'missing',
} as const;

export interface StatusAlarmPlan {
  /** Instances that need an alarm and have none. */
  create: string[];
  /** Alarms of this stack whose instance is gone or no longer opted in. */
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
      .map((i) => [statusAlarmName(managedBy, i.instanceId), i.instanceId] as const),
  );
  const existing = new Set(existingAlarms);
  // The prefix followed by an instance id and nothing else: a stack named `<this>-status-x` keeps its alarms.
  const ours = new RegExp(`^${statusAlarmPrefix(managedBy).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}i-[0-9a-z]+$`);
  return {
    create: [...wanted]
      .filter(([name]) => !existing.has(name))
      .map(([, id]) => id)
      .sort(),
    remove: [...existing].filter((name) => ours.test(name) && !wanted.has(name)).sort(),
    keep: [...existing].filter((name) => wanted.has(name)).length,
  };
}
