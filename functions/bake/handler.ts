/** One BakeRequested from the service's bus: create the image of one instance for one slot. */
import { BakeRequestedEvent } from '../../shared/domain/incoming.js';
import { productionDeps } from '../../shared/runtime/deps.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { bakeInstance } from '../../shared/use-cases/bake-instance.js';

const deps = productionDeps();

export const handler = eventHandler('bake', BakeRequestedEvent, (event) => bakeInstance(event.detail, deps));
