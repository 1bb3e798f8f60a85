/** `EC2 AMI State Change`: mark a managed image good or failed and say so on the bus. */
import { AmiStateChangeEvent } from '../../shared/domain/incoming.js';
import { productionDeps } from '../../shared/runtime/deps.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { settleImage } from '../../shared/use-cases/settle-image.js';

const deps = productionDeps();

export const handler = eventHandler('imageState', AmiStateChangeEvent, (event) =>
  settleImage(event.detail.ImageId, deps, { errorMessage: event.detail.ErrorMessage }),
);
