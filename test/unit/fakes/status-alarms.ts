/** The in-memory status-alarms slice (syncStatusAlarms): the instances opted in to recovery, and CloudWatch's alarms. */
import { TAG, type Tags } from '../../../shared/domain/tags.js';
import type { StatusAlarmsEc2 } from '../../../shared/use-cases/ec2-ports.js';
import type { AwsCallError } from '../../../shared/use-cases/errors.js';
import type { AlarmPort } from '../../../shared/use-cases/ports.js';
import { LIVE_STATES, type FakeEc2Account } from './ec2-account.js';

export const statusAlarmsEc2 = (a: FakeEc2Account): StatusAlarmsEc2 => ({
  async *listRecoverCandidates() {
    yield* a.pages(
      [...a.instances.values()].filter((i) => i.tags[TAG.recover] !== undefined && LIVE_STATES.has(i.state)).map((i) => a.instanceView(i)),
    );
  },
});

/** CloudWatch's metric alarms, by name; calls counted like the API's. */
export class InMemoryAlarms implements AlarmPort {
  readonly alarms = new Map<string, { instanceId: string; metricName: string; tags: Tags }>();
  readonly calls: Array<{ action: 'DescribeAlarms' | 'PutMetricAlarm' | 'DeleteAlarms'; names: string[] }> = [];
  private readonly putFailures = new Map<string, AwsCallError>();

  constructor(private readonly pageSize = 100) {}

  /** PutMetricAlarm for both alarms of this instance, or for the one alarm of this name, fails with `error` (until cleared with undefined). */
  failPut(instanceIdOrName: string, error: AwsCallError | undefined): void {
    if (error) this.putFailures.set(instanceIdOrName, error);
    else this.putFailures.delete(instanceIdOrName);
  }

  async *listAlarmNames(prefix: string): AsyncIterable<string[]> {
    const names = [...this.alarms.keys()].filter((n) => n.startsWith(prefix)).sort();
    for (let i = 0; i === 0 || i < names.length; i += this.pageSize) {
      this.calls.push({ action: 'DescribeAlarms', names: [] });
      yield names.slice(i, i + this.pageSize);
    }
  }

  async putStatusAlarm(name: string, instanceId: string, metricName: string, tags: Tags): Promise<void> {
    this.calls.push({ action: 'PutMetricAlarm', names: [name] });
    const failure = this.putFailures.get(name) ?? this.putFailures.get(instanceId);
    if (failure) throw failure;
    this.alarms.set(name, { instanceId, metricName, tags: { ...tags } });
  }

  async deleteAlarms(names: string[]): Promise<void> {
    this.calls.push({ action: 'DeleteAlarms', names: [...names] });
    for (const n of names) this.alarms.delete(n);
  }
}
