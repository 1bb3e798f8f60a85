import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { CreateScheduleCommand, SchedulerClient, UpdateScheduleCommand } from '@aws-sdk/client-scheduler';
import { atExpression, SchedulerGateway } from '../../../shared/aws/scheduler-gateway.js';
import { recheckScheduleName } from '../../../shared/domain/recovery-deferral.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { awsError } from './support.js';

const schedulerMock = mockClient(SchedulerClient);
const TARGET = {
  functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:ami-lifecycle-test-recover',
  roleArn: 'arn:aws:iam::123456789012:role/ami-lifecycle-test-RecoverSchedulerRole-X',
  deadLetterArn: 'arn:aws:sqs:us-east-1:123456789012:ami-lifecycle-test-recover-dlq',
};
const gateway = () => new SchedulerGateway(new SchedulerClient({ region: 'us-east-1', maxAttempts: 1 }), TARGET);
const DUE = new Date('2026-12-03T10:15:00.250Z');

beforeEach(() => {
  schedulerMock.reset();
});

describe('recheck schedule names', () => {
  // Scheduler's Name: 1-64 of [0-9a-zA-Z-_.] (botocore's model of CreateSchedule).
  it('fit the 64 characters Scheduler allows for the longest stack name and instance id, in its alphabet', () => {
    // Act
    const name = recheckScheduleName('s'.repeat(32), 'i-0123456789abcdef0');

    // Assess
    expect(name).toHaveLength(60);
    expect(name).toMatch(/^[0-9a-zA-Z-_.]{1,64}$/);
  });
});

describe('SchedulerGateway.scheduleOnce', () => {
  it('creates a one-time schedule in UTC, due at the whole second at or after the time, that deletes itself once it fired', async () => {
    // Prepare
    schedulerMock.on(CreateScheduleCommand).resolves({ ScheduleArn: 'arn' });

    // Act
    const outcome = await gateway().scheduleOnce('ami-lifecycle-test-recheck-i-1', DUE, { 'detail-type': 'Recovery Recheck' });

    // Assess
    expect(outcome).toBe('created');
    expect(schedulerMock.commandCalls(CreateScheduleCommand)[0]!.args[0].input).toEqual({
      Name: 'ami-lifecycle-test-recheck-i-1',
      GroupName: 'default',
      Description: expect.any(String),
      ScheduleExpression: 'at(2026-12-03T10:15:01)',
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' },
      ActionAfterCompletion: 'DELETE',
      Target: {
        Arn: TARGET.functionArn,
        RoleArn: TARGET.roleArn,
        Input: '{"detail-type":"Recovery Recheck"}',
        RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 20 },
        DeadLetterConfig: { Arn: TARGET.deadLetterArn },
      },
    });
  });

  it('updates the schedule where it exists (ConflictException): a duplicate makes no second one', async () => {
    // Prepare
    schedulerMock.on(CreateScheduleCommand).rejects(awsError('ConflictException', 409));
    schedulerMock.on(UpdateScheduleCommand).resolves({ ScheduleArn: 'arn' });

    // Act
    const outcome = await gateway().scheduleOnce('n', DUE, {});

    // Assess
    expect(outcome).toBe('updated');
    expect(schedulerMock.commandCalls(UpdateScheduleCommand)[0]!.args[0].input).toMatchObject({
      Name: 'n',
      ScheduleExpression: 'at(2026-12-03T10:15:01)',
      ActionAfterCompletion: 'DELETE',
    });
  });

  it.each([
    ['ThrottlingException', 400, true],
    ['AccessDeniedException', 403, false],
    ['ValidationException', 400, false],
  ])('maps %s to an AwsCallError (retryable %s) and updates nothing', async (code, status, retryable) => {
    // Prepare
    schedulerMock.on(CreateScheduleCommand).rejects(awsError(code, status));

    // Act
    const act = gateway().scheduleOnce('n', DUE, {});

    // Assess
    await expect(act).rejects.toBeInstanceOf(AwsCallError);
    await expect(gateway().scheduleOnce('n', DUE, {})).rejects.toMatchObject({ code, action: 'CreateSchedule', retryable });
    expect(schedulerMock.commandCalls(UpdateScheduleCommand)).toEqual([]);
  });
});

describe('atExpression', () => {
  it.each([
    ['2026-12-03T10:15:00.000Z', 'at(2026-12-03T10:15:00)'],
    ['2026-12-03T10:15:00.001Z', 'at(2026-12-03T10:15:01)'],
    ['2026-12-31T23:59:59.500Z', 'at(2027-01-01T00:00:00)'],
  ])('%s is %s: never early', (at, expression) => {
    expect(atExpression(new Date(at))).toBe(expression);
  });
});
