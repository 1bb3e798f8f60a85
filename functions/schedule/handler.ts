/** A schedule fired (EventBridge Scheduler): settle pending images, fan out one bake per opted-in instance. */
import { scheduleEc2 } from '../../shared/aws/ec2/gateways.js';
import { ScheduledRun } from '../../shared/domain/incoming.js';
import { productionDeps } from '../../shared/runtime/deps.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { runSchedule } from '../../shared/use-cases/run-schedule.js';

const deps = productionDeps(scheduleEc2);

export const handler = eventHandler('schedule', ScheduledRun, (run) => runSchedule(run, deps));
