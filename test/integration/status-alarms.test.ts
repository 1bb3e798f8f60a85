/**
 * Status-check alarms against moto: the statusAlarms function keeps one
 * StatusCheckFailed alarm per instance opted in to recovery, removes those of
 * instances gone or opted out, and leaves every other alarm alone.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CloudWatchClient, DescribeAlarmsCommand, PutMetricAlarmCommand } from '@aws-sdk/client-cloudwatch';
import { CreateTagsCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { LocalCloud } from '../harness/local-cloud.js';

const PREFIX = 'ami-lifecycle-dev-status-';

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

describe('status-check alarms', () => {
  it('creates one alarm per opted-in instance, removes stale ones, and leaves other alarms alone', async () => {
    // Prepare
    const [onFailure] = await cloud.launch(1, { 'ami-lifecycle:recover': 'on-failure' });
    const [always] = await cloud.launch(1, { 'ami-lifecycle:recover': 'always' });
    const [off] = await cloud.launch(1, { 'ami-lifecycle:recover': 'off' });
    const [plain] = await cloud.launch(1, { Name: 'plain' });
    const [leaving] = await cloud.launch(1, { 'ami-lifecycle:recover': 'always' });
    await cloud.invoke('statusAlarms', { trigger: 'schedule' });
    await cloud.ec2.send(new TerminateInstancesCommand({ InstanceIds: [leaving!] }));
    await cloud.ec2.send(new CreateTagsCommand({ Resources: [always!], Tags: [{ Key: 'ami-lifecycle:recover', Value: 'off' }] }));
    await userAlarm(`cpu-${plain}`, plain!);

    // Act
    const report = await cloud.invoke('statusAlarms', { trigger: 'schedule' });

    // Assess
    const byName = new Map((await alarms()).map((a) => [a.AlarmName, a]));
    expect([...byName.keys()].sort()).toEqual([`${PREFIX}${onFailure}`, `cpu-${plain}`].sort());
    expect(byName.get(`${PREFIX}${onFailure}`)).toMatchObject({
      Namespace: 'AWS/EC2',
      MetricName: 'StatusCheckFailed',
      Dimensions: [{ Name: 'InstanceId', Value: onFailure }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 2,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    });
    expect(report).toMatchObject({ created: 0, removed: 2, kept: 1, failures: [] });
    expect(off).toBeDefined();
  });

  it('changes nothing on a second run', async () => {
    // Prepare
    await cloud.launch(3, { 'ami-lifecycle:recover': 'on-failure' });
    await cloud.invoke('statusAlarms', { trigger: 'schedule' });
    expect(cloud.proxy.calls().PutMetricAlarm).toBe(3);
    cloud.proxy.resetCalls();

    // Act
    const report = await cloud.invoke('statusAlarms', { trigger: 'schedule' });

    // Assess
    expect(report).toMatchObject({ instancesSeen: 3, created: 0, removed: 0, kept: 3 });
    expect(cloud.proxy.calls().PutMetricAlarm ?? 0).toBe(0);
    expect(cloud.proxy.calls().DeleteAlarms ?? 0).toBe(0);
    expect(await alarms()).toHaveLength(3);
  });
});
