/**
 * Rotation, daily from EventBridge Scheduler or on demand ({"dryRun": true} to only plan), then
 * the sharing step (shared/use-cases/share-images.ts): the public sweep and each lineage's sharing;
 * then, where the stage lists adoptFilters, the adoption of unused images (docs/stale-images.md).
 */
import { RotationRequest } from '../../shared/domain/incoming.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { rotationDeps, scheduledAdoption } from '../../shared/runtime/rotation-deps.js';
import { rotateShareAndAdopt } from '../../shared/use-cases/rotation-run.js';

const deps = rotationDeps();
const adoption = scheduledAdoption();

export const handler = eventHandler('rotate', RotationRequest, (request) =>
  rotateShareAndAdopt({ dryRun: request.dryRun }, deps, adoption),
);
