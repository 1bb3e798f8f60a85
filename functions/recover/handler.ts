/**
 * An instance stopped or terminated, a status-check alarm, or an AWS Health event: relaunch from the last good AMI.
 * Also the recheck of a deferred recovery, handed back by the one-time schedule it created.
 */
import { schedulerClient } from '../../shared/aws/clients.js';
import { SchedulerGateway } from '../../shared/aws/scheduler-gateway.js';
import { recoveryEc2 } from '../../shared/aws/ec2/gateways.js';
import { RecoverInput } from '../../shared/domain/incoming.js';
import { loadRecheckTarget } from '../../shared/runtime/config.js';
import { productionDeps } from '../../shared/runtime/deps.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { recover } from '../../shared/use-cases/recover-instance.js';

// Only this function schedules rechecks: the others' bundles stay without the Scheduler client.
const deps = { ...productionDeps(recoveryEc2), rechecks: new SchedulerGateway(schedulerClient(), loadRecheckTarget()) };

export const handler = eventHandler('recover', RecoverInput, (input) => recover(input, deps));
