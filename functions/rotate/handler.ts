/** Rotation, daily from EventBridge Scheduler or on demand ({"dryRun": true} to only plan). */
import { RotationRequest } from '../../shared/domain/incoming.js';
import { productionDeps } from '../../shared/runtime/deps.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { rotateImages } from '../../shared/use-cases/rotate-images.js';

const deps = productionDeps();

export const handler = eventHandler('rotate', RotationRequest, (request) => rotateImages({ dryRun: request.dryRun }, deps));
