/**
 * The only code that talks to EventBridge Scheduler: one-time schedules that hand a deferred
 * recovery back to the recover function at its due time.
 *
 * As the Scheduler documents them: a one-time schedule is `at(yyyy-mm-ddThh:mm:ss)` in its
 * time zone ("Schedule types on EventBridge Scheduler",
 * https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html); with
 * ActionAfterCompletion DELETE, Scheduler deletes it once it has invoked its target ("Deleting a
 * schedule", https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-delete.html),
 * so none are left behind; the name is unique in its group, and a second CreateSchedule of it is
 * refused with ConflictException (API reference, CreateSchedule,
 * https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html).
 */
import { CreateScheduleCommand, type SchedulerClient, UpdateScheduleCommand } from '@aws-sdk/client-scheduler';
import type { RecheckPort } from '../use-cases/ports.js';
import type { RecheckTarget } from '../use-cases/settings.js';
import { call, toAwsCallError } from './errors.js';

/** `at()` takes whole seconds: the due time rounded up, never early. */
export function atExpression(at: Date): string {
  const seconds = new Date(Math.ceil(at.getTime() / 1000) * 1000);
  return `at(${seconds.toISOString().slice(0, 19)})`;
}

export class SchedulerGateway implements RecheckPort {
  constructor(
    private readonly client: SchedulerClient,
    private readonly target: RecheckTarget,
    private readonly description = 'ami-lifecycle: a deferred recovery looks again (docs/recovery.md)',
  ) {}

  async scheduleOnce(name: string, at: Date, input: unknown): Promise<'created' | 'updated'> {
    const schedule = {
      Name: name,
      GroupName: 'default',
      Description: this.description,
      ScheduleExpression: atExpression(at),
      ScheduleExpressionTimezone: 'UTC',
      FlexibleTimeWindow: { Mode: 'OFF' as const },
      ActionAfterCompletion: 'DELETE' as const,
      Target: {
        Arn: this.target.functionArn,
        RoleArn: this.target.roleArn,
        Input: JSON.stringify(input),
        // As the recover function's rules: an hour of delivery attempts, then its dead-letter queue.
        RetryPolicy: { MaximumEventAgeInSeconds: 3600, MaximumRetryAttempts: 20 },
        DeadLetterConfig: { Arn: this.target.deadLetterArn },
      },
    };
    try {
      await this.client.send(new CreateScheduleCommand(schedule));
      return 'created';
    } catch (error) {
      const refused = toAwsCallError('CreateSchedule', error);
      if (refused.code !== 'ConflictException') throw refused;
      // The instance's recheck exists (a duplicate delivery, or a wait not yet over): it takes this due time.
      await call('UpdateSchedule', () => this.client.send(new UpdateScheduleCommand(schedule)));
      return 'updated';
    }
  }
}
