import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  type DeleteAlarmsCommandInput,
  type DescribeAlarmsCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { CloudWatchGateway } from '../../../shared/aws/cloudwatch-gateway.js';
import { STATUS_CHECKS, statusAlarmName } from '../../../shared/domain/status-alarms.js';
import { TAG } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { awsError, collect } from './support.js';

const STACK = 'ami-lifecycle-test';
const PREFIX = `${STACK}-status-`;
const INSTANCE_ID = 'i-0123456789abcdef0';

const cloudwatchMock = mockClient(CloudWatchClient);

/** A gateway whose client does not retry, so each test sees every call it causes. */
const gateway = () => new CloudWatchGateway(new CloudWatchClient({ region: 'us-east-1', maxAttempts: 1 }));

const names = (n: number) => Array.from({ length: n }, (_, i) => `${PREFIX}i-${i.toString(16).padStart(17, '0')}`);

beforeEach(() => {
  cloudwatchMock.reset();
});

describe('CloudWatchGateway.listAlarmNames', () => {
  it('asks for the metric alarms with the prefix, 100 a page, and follows NextToken across three pages', async () => {
    // Prepare: the paginator reuses one input object, so record each call's input as it was sent
    const sent: DescribeAlarmsCommandInput[] = [];
    const pages = [
      { NextToken: 't1', MetricAlarms: [{ AlarmName: `${PREFIX}i-1` }, { AlarmName: `${PREFIX}i-2` }] },
      { NextToken: 't2', MetricAlarms: [{ AlarmName: `${PREFIX}i-3` }] },
      { MetricAlarms: [{ AlarmName: `${PREFIX}i-4` }] },
    ];
    cloudwatchMock.on(DescribeAlarmsCommand).callsFake((input: DescribeAlarmsCommandInput) => {
      sent.push(structuredClone(input));
      return pages[sent.length - 1];
    });

    // Act
    const result = await collect(gateway().listAlarmNames(PREFIX));

    // Assess
    expect(cloudwatchMock).toHaveReceivedCommandTimes(DescribeAlarmsCommand, 3);
    expect(sent.map((i) => i.NextToken)).toEqual([undefined, 't1', 't2']);
    for (const input of sent) {
      expect(input).toMatchObject({ AlarmNamePrefix: PREFIX, AlarmTypes: ['MetricAlarm'], MaxRecords: 100 });
    }
    expect(result).toEqual([[`${PREFIX}i-1`, `${PREFIX}i-2`], [`${PREFIX}i-3`], [`${PREFIX}i-4`]]);
  });

  it('answers one empty page when there is no alarm, and skips alarms without a name', async () => {
    // Prepare
    cloudwatchMock
      .on(DescribeAlarmsCommand)
      .resolvesOnce({
        NextToken: 't1',
        MetricAlarms: [{ AlarmName: `${PREFIX}i-1` }, { AlarmArn: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:x' }],
      })
      .resolvesOnce({});

    // Act
    const result = await collect(gateway().listAlarmNames(PREFIX));

    // Assess
    expect(result).toEqual([[`${PREFIX}i-1`], []]);
  });

  it('translates a failure on a later page into a retryable AwsCallError, after yielding the first page', async () => {
    // Prepare
    cloudwatchMock
      .on(DescribeAlarmsCommand)
      .resolvesOnce({ NextToken: 't1', MetricAlarms: [{ AlarmName: `${PREFIX}i-1` }] })
      .rejectsOnce(awsError('Throttling'));
    const seen: string[][] = [];

    // Act
    const act = (async () => {
      for await (const page of gateway().listAlarmNames(PREFIX)) seen.push(page);
    })();

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'AwsCallError', code: 'Throttling', action: 'DescribeAlarms', retryable: true });
    expect(seen).toEqual([[`${PREFIX}i-1`]]);
  });
});

describe('CloudWatchGateway.putStatusAlarm', () => {
  it.each([
    ['system', 'StatusCheckFailed_System'],
    ['instance', 'StatusCheckFailed_Instance'],
  ] as const)('puts the %s-check alarm on the instance, on the metric given, with its tags', async (check, metricName) => {
    // Prepare
    cloudwatchMock.on(PutMetricAlarmCommand).resolves({});
    const name = statusAlarmName(STACK, INSTANCE_ID, check);

    // Act
    await gateway().putStatusAlarm(name, INSTANCE_ID, metricName, { [TAG.managedBy]: STACK, Team: 'web' });

    // Assess
    expect(cloudwatchMock).toHaveReceivedCommandTimes(PutMetricAlarmCommand, 1);
    const input = cloudwatchMock.commandCalls(PutMetricAlarmCommand)[0]!.args[0].input;
    expect(input).toEqual({
      AlarmName: name,
      AlarmDescription: expect.stringContaining(INSTANCE_ID),
      Namespace: 'AWS/EC2',
      MetricName: metricName,
      Dimensions: [{ Name: 'InstanceId', Value: INSTANCE_ID }],
      Statistic: 'Maximum',
      Period: 60,
      EvaluationPeriods: 2,
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'missing',
      Tags: [
        { Key: TAG.managedBy, Value: STACK },
        { Key: 'Team', Value: 'web' },
      ],
    });
  });

  it('says in each alarm’s description what its ALARM does: the system check relaunches, the instance check reboots first', async () => {
    // Prepare
    cloudwatchMock.on(PutMetricAlarmCommand).resolves({});

    // Act
    await gateway().putStatusAlarm(statusAlarmName(STACK, INSTANCE_ID, 'system'), INSTANCE_ID, STATUS_CHECKS.system, {});
    await gateway().putStatusAlarm(statusAlarmName(STACK, INSTANCE_ID, 'instance'), INSTANCE_ID, STATUS_CHECKS.instance, {});

    // Assess: the description fits 255 characters, the limit of older revisions of the API reference (botocore's model says 1,024):
    // PutMetricAlarm, https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
    const [system = '', instance = ''] = cloudwatchMock
      .commandCalls(PutMetricAlarmCommand)
      .map((c) => c.args[0].input.AlarmDescription ?? '');
    expect(system).toMatch(/^StatusCheckFailed_System of i-0123456789abcdef0: ALARM relaunches it from its last good AMI/);
    expect(system).not.toMatch(/reboot/);
    expect(instance).toMatch(/^StatusCheckFailed_Instance of i-0123456789abcdef0: ALARM reboots it, then relaunches it/);
    for (const description of [system, instance]) {
      expect(description).toContain('ami-lifecycle');
      expect(description.length).toBeLessThanOrEqual(255);
    }
  });

  it('sets no alarm actions: the ALARM state reaches recovery through EventBridge, not through an action', async () => {
    // Prepare
    cloudwatchMock.on(PutMetricAlarmCommand).resolves({});

    // Act
    await gateway().putStatusAlarm(statusAlarmName(STACK, INSTANCE_ID, 'system'), INSTANCE_ID, STATUS_CHECKS.system, {});

    // Assess
    const input = cloudwatchMock.commandCalls(PutMetricAlarmCommand)[0]!.args[0].input;
    expect(input.AlarmActions).toBeUndefined();
    expect(input.Tags).toEqual([]);
  });

  it.each([
    ['ThrottlingException', () => awsError('ThrottlingException', 400), 'ThrottlingException', true, 400],
    ['Throttling', () => awsError('Throttling', 400), 'Throttling', true, 400],
    ['an internal failure', () => awsError('InternalServiceFault', 500, 'server'), 'InternalServiceFault', true, 500],
    ['ValidationError', () => awsError('ValidationError', 400), 'ValidationError', false, 400],
    ['LimitExceeded', () => awsError('LimitExceeded', 400), 'LimitExceeded', false, 400],
    ['AccessDenied', () => awsError('AccessDenied', 403), 'AccessDenied', false, 403],
  ])('maps %s to an AwsCallError with code %s, retryable %s', async (_label, error, code, retryable, httpStatus) => {
    // Prepare
    const cause = error();
    cloudwatchMock.on(PutMetricAlarmCommand).rejects(cause);

    // Act
    const thrown = await gateway()
      .putStatusAlarm(statusAlarmName(STACK, INSTANCE_ID, 'instance'), INSTANCE_ID, STATUS_CHECKS.instance, { [TAG.managedBy]: STACK })
      .catch((e: unknown) => e);

    // Assess
    expect(thrown).toBeInstanceOf(AwsCallError);
    expect(thrown).toMatchObject({ code, action: 'PutMetricAlarm', retryable, httpStatus });
    expect((thrown as Error).cause).toBe(cause);
  });
});

describe('CloudWatchGateway.deleteAlarms', () => {
  it('deletes 250 alarms in three calls of at most 100 names, in order', async () => {
    // Prepare
    const all = names(250);
    cloudwatchMock.on(DeleteAlarmsCommand).resolves({});

    // Act
    await gateway().deleteAlarms(all);

    // Assess
    expect(cloudwatchMock).toHaveReceivedCommandTimes(DeleteAlarmsCommand, 3);
    const batches = cloudwatchMock.commandCalls(DeleteAlarmsCommand).map((c) => c.args[0].input.AlarmNames ?? []);
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
    expect(batches.flat()).toEqual(all);
  });

  it('deletes exactly 100 alarms in one call', async () => {
    // Prepare
    const all = names(100);
    cloudwatchMock.on(DeleteAlarmsCommand).resolves({});

    // Act
    await gateway().deleteAlarms(all);

    // Assess
    expect(cloudwatchMock).toHaveReceivedCommandTimes(DeleteAlarmsCommand, 1);
    expect(cloudwatchMock).toHaveReceivedCommandWith(DeleteAlarmsCommand, { AlarmNames: all });
  });

  it('makes no call for no names', async () => {
    // Prepare
    cloudwatchMock.on(DeleteAlarmsCommand).resolves({});

    // Act
    await gateway().deleteAlarms([]);

    // Assess
    expect(cloudwatchMock).not.toHaveReceivedCommand(DeleteAlarmsCommand);
  });

  it('stops at the first failing batch with an AwsCallError', async () => {
    // Prepare
    const sent: DeleteAlarmsCommandInput[] = [];
    cloudwatchMock.on(DeleteAlarmsCommand).callsFake((input: DeleteAlarmsCommandInput) => {
      sent.push(structuredClone(input));
      if (sent.length === 2) throw awsError('ThrottlingException', 400);
      return {};
    });

    // Act
    const act = gateway().deleteAlarms(names(250));

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'AwsCallError', code: 'ThrottlingException', action: 'DeleteAlarms', retryable: true });
    expect(sent).toHaveLength(2);
  });

  it('maps a ValidationError to a permanent AwsCallError', async () => {
    // Prepare
    cloudwatchMock.on(DeleteAlarmsCommand).rejects(awsError('ValidationError', 400));

    // Act
    const thrown = await gateway()
      .deleteAlarms(names(1))
      .catch((e: unknown) => e);

    // Assess
    expect(thrown).toBeInstanceOf(AwsCallError);
    expect(thrown).toMatchObject({ code: 'ValidationError', action: 'DeleteAlarms', retryable: false, httpStatus: 400 });
  });
});
