/**
 * Rotation, daily from EventBridge Scheduler or on demand ({"dryRun": true} to only plan), then
 * the sharing step (shared/use-cases/share-images.ts): the public sweep and each lineage's sharing.
 */
import { RotationRequest } from '../../shared/domain/incoming.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { rotationDeps } from '../../shared/runtime/rotation-deps.js';
import { rotateAndShare } from '../../shared/use-cases/share-images.js';

const deps = rotationDeps();

export const handler = eventHandler('rotate', RotationRequest, (request) => rotateAndShare({ dryRun: request.dryRun }, deps));
