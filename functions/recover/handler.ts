/** An instance stopped or terminated, a status-check alarm, or an AWS Health event: relaunch from the last good AMI. */
import { RecoveryTriggerEvent } from '../../shared/domain/incoming.js';
import { productionDeps } from '../../shared/runtime/deps.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { recoverInstances } from '../../shared/use-cases/recover-instance.js';

const deps = productionDeps();

export const handler = eventHandler('recover', RecoveryTriggerEvent, (event) => recoverInstances(event, deps));
