/**
 * Keeps two status-check alarms (system and instance) per instance opted in to recovery:
 * creates the missing ones, deletes those whose instance is gone or opted out. Reads are paged
 * (one DescribeInstances call per 1,000 instances, one DescribeAlarms per 100
 * alarms); writes happen only for what changed, so an hourly run costs a few
 * calls in a steady fleet. Safe to run any number of times.
 */
import pLimit from 'p-limit';
import type { InstanceSummary } from '../domain/bake.js';
import { combinedAlarmName, planStatusAlarms, STATUS_CHECKS, statusAlarmPrefix } from '../domain/status-alarms.js';
import { TAG } from '../domain/tags.js';
import { AwsCallError } from './errors.js';
import type { AlarmPort, StatusAlarmsDeps } from './ports.js';

export interface StatusAlarmsReport {
  instancesSeen: number;
  created: number;
  removed: number;
  kept: number;
  failures: Array<{ instanceId: string; alarmName: string; errorCode: string; message: string }>;
}

export async function syncStatusAlarms(deps: StatusAlarmsDeps, alarms: AlarmPort): Promise<StatusAlarmsReport> {
  const instances: InstanceSummary[] = [];
  for await (const page of deps.ec2.listRecoverCandidates()) instances.push(...page);
  const existing: string[] = [];
  for await (const page of alarms.listAlarmNames(statusAlarmPrefix(deps.managedBy))) existing.push(...page);

  const plan = planStatusAlarms(deps.managedBy, instances, existing);
  const report: StatusAlarmsReport = { instancesSeen: instances.length, created: 0, removed: 0, kept: plan.keep, failures: [] };
  const limit = pLimit(4);
  let retry: unknown;
  await Promise.all(
    plan.create.map(({ name, instanceId, check }) =>
      limit(async () => {
        try {
          await alarms.putStatusAlarm(name, instanceId, STATUS_CHECKS[check], { [TAG.managedBy]: deps.managedBy });
          report.created++;
        } catch (error) {
          if (!(error instanceof AwsCallError) || error.retryable) retry ??= error;
          const code = error instanceof AwsCallError ? error.code : 'Error';
          report.failures.push({ instanceId, alarmName: name, errorCode: code, message: String(error) });
        }
      }),
    ),
  );
  // The combined alarm of an earlier version goes only once both of its successors exist: an
  // instance whose new alarm could not be made this run keeps the one it had.
  const failed = new Set(report.failures.map((f) => combinedAlarmName(deps.managedBy, f.instanceId)));
  const remove = plan.remove.filter((name) => !failed.has(name));
  if (remove.length > 0) {
    await alarms.deleteAlarms(remove);
    report.removed = remove.length;
  }
  deps.log.info('status-check alarms synchronised', { ...report });
  // Transient trouble: let the scheduler's retry finish the job (creating an alarm twice is harmless).
  if (retry !== undefined) throw retry;
  return report;
}
