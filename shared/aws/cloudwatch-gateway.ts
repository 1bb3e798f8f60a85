/** The only code that talks to CloudWatch: the status-check alarms of opted-in instances. */
import { type CloudWatchClient, DeleteAlarmsCommand, paginateDescribeAlarms, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { STATUS_ALARM, STATUS_CHECKS } from '../domain/status-alarms.js';
import type { Tags } from '../domain/tags.js';
import type { AlarmPort } from '../use-cases/ports.js';
import { call } from './errors.js';

/** DeleteAlarms takes at most 100 names per call. */
const DELETE_BATCH = 100;

export class CloudWatchGateway implements AlarmPort {
  constructor(private readonly client: CloudWatchClient) {}

  async *listAlarmNames(prefix: string): AsyncIterable<string[]> {
    const iterator = paginateDescribeAlarms(
      { client: this.client, pageSize: 100 },
      { AlarmNamePrefix: prefix, AlarmTypes: ['MetricAlarm'] },
    )[Symbol.asyncIterator]();
    while (true) {
      const next = await call('DescribeAlarms', () => iterator.next());
      if (next.done) return;
      yield (next.value.MetricAlarms ?? []).flatMap((a) => (a.AlarmName ? [a.AlarmName] : []));
    }
  }

  async putStatusAlarm(name: string, instanceId: string, metricName: string, tags: Tags): Promise<void> {
    const does =
      metricName === STATUS_CHECKS.instance
        ? 'reboots it, then relaunches it from its last good AMI if the check still fails'
        : 'relaunches it from its last good AMI';
    await call('PutMetricAlarm', () =>
      this.client.send(
        new PutMetricAlarmCommand({
          AlarmName: name,
          AlarmDescription: `${metricName} of ${instanceId}: ALARM ${does} (ami-lifecycle, docs/recovery.md)`,
          Namespace: STATUS_ALARM.namespace,
          MetricName: metricName,
          Dimensions: [{ Name: 'InstanceId', Value: instanceId }],
          Statistic: STATUS_ALARM.statistic,
          Period: STATUS_ALARM.periodSeconds,
          EvaluationPeriods: STATUS_ALARM.evaluationPeriods,
          Threshold: STATUS_ALARM.threshold,
          ComparisonOperator: STATUS_ALARM.comparisonOperator,
          TreatMissingData: STATUS_ALARM.treatMissingData,
          Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
        }),
      ),
    );
  }

  async deleteAlarms(names: string[]): Promise<void> {
    for (let i = 0; i < names.length; i += DELETE_BATCH) {
      const AlarmNames = names.slice(i, i + DELETE_BATCH);
      await call('DeleteAlarms', () => this.client.send(new DeleteAlarmsCommand({ AlarmNames })));
    }
  }
}
