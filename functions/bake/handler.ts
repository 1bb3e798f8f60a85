/**
 * BakeRequested from the service's bus, through the bake queue (whose event source mapping
 * bounds the bakes at once): create the image of one instance for one slot, per record.
 */
import { bakeEc2 } from '../../shared/aws/ec2/gateways.js';
import { BakeRequestedEvent } from '../../shared/domain/incoming.js';
import { productionDeps } from '../../shared/runtime/deps.js';
import { queueHandler } from '../../shared/runtime/middleware.js';
import { bakeInstance } from '../../shared/use-cases/bake-instance.js';

const deps = productionDeps(bakeEc2);

export const handler = queueHandler('bake', BakeRequestedEvent, (event) => bakeInstance(event.detail, deps));
