/**
 * Status-check alarms against moto: the statusAlarms function keeps two alarms per
 * instance opted in to recovery, one on StatusCheckFailed_System and one on
 * StatusCheckFailed_Instance, removes those of instances gone or opted out and the
 * single StatusCheckFailed alarm earlier versions kept, and leaves every other alarm alone.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchClient, DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { CreateTagsCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { LocalCloud } from '../harness/local-cloud.js';

const PREFIX = 'ami-lifecycle-dev-status-';
/** The alarms of this version: one per check. */
const systemAlarm = (id: string) => `${PREFIX}system-${id}`;
const instanceAlarm = (id: string) => `${PREFIX}instance-${id}`;
/** The single alarm earlier versions kept per instance. */
const combinedAlarm = (id: string) => `${PREFIX}${id}`;
/** What every alarm of this version watches, whatever its check. */
const ALARM_SHAPE = {
  Namespace: 'AWS/EC2',
  Statistic: 'Maximum',
  Period: 60,
  EvaluationPeriods: 2,
  Threshold: 1,
  ComparisonOperator: 'GreaterThanOrEqualToThreshold',
};

let cloud: LocalCloud;
let cloudwatch: CloudWatchClient;

beforeAll(async () => {
  cloud = await LocalCloud.start();
  cloudwatch = new CloudWatchClient({
    endpoint: cloud.moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
});
afterAll(async () => {
  cloudwatch?.destroy();
  await cloud?.stop();
});
beforeEach(async () => {
  await cloud.reset();
});

async function alarms() {
  const { MetricAlarms } = await cloudwatch.send(new DescribeAlarmsCommand({}));
  return MetricAlarms ?? [];
}

async function userAlarm(name: string, instanceId: string): Promise<void> {
  await cloudwatch.send(
    new PutMetricAlarmCommand({
      AlarmName: name,
      Namespace: 'AWS/EC2',
      MetricName: 'CPUUtilization',
      Dimensions: [{ Name: 'InstanceId', Value: instanceId }],
      Statistic: 'Average',
      Period: 300,
      EvaluationPeriods: 1,
      Threshold: 90,
      ComparisonOperator: 'GreaterThanThreshold',
    }),
  );
}

/** The alarm an earlier version put on an instance: one, on the combined check, named without a check. */
async function combinedStatusAlarm(instanceId: string): Promise<void> {
  await cloudwatch.send(
    new PutMetricAlarmCommand({
      AlarmName: combinedAlarm(instanceId),
      AlarmDescription: `Status checks of ${instanceId}: ALARM relaunches it from its last good AMI (ami-lifecycle)`,
      Namespace: 'AWS/EC2',
      MetricName: 'StatusCheckFailed',
      Dimensions: [{ Name: 'InstanceId', Value: instanceId }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 2,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'missing',
      Tags: [{ Key: 'ami-lifecycle:managed-by', Value: 'ami-lifecycle-dev' }],
    }),
  );
}

describe('status-check alarms', () => {
  it('creates an alarm per check for each opted-in instance, removes stale ones, and leaves other alarms alone', async () => {
    // Prepare
    const [onFailure] = await cloud.launch(1, { 'ami-lifecycle:recover': 'on-failure' });
    const [always] = await cloud.launch(1, { 'ami-lifecycle:recover': 'always' });
    const [off] = await cloud.launch(1, { 'ami-lifecycle:recover': 'off' });
    const [plain] = await cloud.launch(1, { Name: 'plain' });
    const [leaving] = await cloud.launch(1, { 'ami-lifecycle:recover': 'always' });
    const first = await cloud.invoke('statusAlarms', { trigger: 'schedule' });
    await cloud.ec2.send(new TerminateInstancesCommand({ InstanceIds: [leaving!] }));
    await cloud.ec2.send(new CreateTagsCommand({ Resources: [always!], Tags: [{ Key: 'ami-lifecycle:recover', Value: 'off' }] }));
    await userAlarm(`cpu-${plain}`, plain!);

    // Act
    const report = await cloud.invoke('statusAlarms', { trigger: 'schedule' });

    // Assess
    expect(first).toMatchObject({ created: 6, removed: 0, kept: 0, failures: [] });
    const byName = new Map((await alarms()).map((a) => [a.AlarmName, a]));
    expect([...byName.keys()].sort()).toEqual([systemAlarm(onFailure!), instanceAlarm(onFailure!), `cpu-${plain}`].sort());
    expect(byName.get(systemAlarm(onFailure!))).toMatchObject({
      ...ALARM_SHAPE,
      MetricName: 'StatusCheckFailed_System',
      Dimensions: [{ Name: 'InstanceId', Value: onFailure }],
      AlarmDescription: expect.stringMatching(/^StatusCheckFailed_System of i-\w+: ALARM relaunches/),
    });
    expect(byName.get(instanceAlarm(onFailure!))).toMatchObject({
      ...ALARM_SHAPE,
      MetricName: 'StatusCheckFailed_Instance',
      Dimensions: [{ Name: 'InstanceId', Value: onFailure }],
      AlarmDescription: expect.stringMatching(/^StatusCheckFailed_Instance of i-\w+: ALARM reboots it/),
    });
    expect(report).toMatchObject({ created: 0, removed: 4, kept: 2, failures: [] });
    expect(off).toBeDefined();
  });

  it('changes nothing on a second run: 2N PutMetricAlarm calls for N instances, then only the reads', async () => {
    // Prepare
    await cloud.launch(3, { 'ami-lifecycle:recover': 'on-failure' });
    await cloud.invoke('statusAlarms', { trigger: 'schedule' });
    expect(cloud.proxy.calls().PutMetricAlarm).toBe(6);
    cloud.proxy.resetCalls();

    // Act
    const report = await cloud.invoke('statusAlarms', { trigger: 'schedule' });

    // Assess
    expect(report).toMatchObject({ instancesSeen: 3, created: 0, removed: 0, kept: 6 });
    expect(cloud.proxy.calls().PutMetricAlarm ?? 0).toBe(0);
    expect(cloud.proxy.calls().DeleteAlarms ?? 0).toBe(0);
    expect(await alarms()).toHaveLength(6);
  });

  it('replaces the combined alarm of an earlier version by the two of the split, and removes those of instances opted out', async () => {
    // Prepare: both instances were opted in under the earlier version; one has been opted out since
    const [kept] = await cloud.launch(1, { 'ami-lifecycle:recover': 'on-failure' });
    const [optedOut] = await cloud.launch(1, { 'ami-lifecycle:recover': 'off' });
    await combinedStatusAlarm(kept!);
    await combinedStatusAlarm(optedOut!);
    await userAlarm(`${PREFIX}${kept}-cpu`, kept!);

    // Act
    const report = await cloud.invoke('statusAlarms', { trigger: 'schedule' });
    const again = await cloud.invoke('statusAlarms', { trigger: 'schedule' });

    // Assess
    expect(report).toMatchObject({ instancesSeen: 2, created: 2, removed: 2, kept: 0, failures: [] });
    const byName = new Map((await alarms()).map((a) => [a.AlarmName, a]));
    expect([...byName.keys()].sort()).toEqual([systemAlarm(kept!), instanceAlarm(kept!), `${PREFIX}${kept}-cpu`].sort());
    expect(byName.get(systemAlarm(kept!))).toMatchObject({ ...ALARM_SHAPE, MetricName: 'StatusCheckFailed_System' });
    expect(byName.get(instanceAlarm(kept!))).toMatchObject({ ...ALARM_SHAPE, MetricName: 'StatusCheckFailed_Instance' });
    expect(again).toMatchObject({ created: 0, removed: 0, kept: 2 });
  });
});
