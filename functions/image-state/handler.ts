/**
 * `EC2 AMI State Change`, through the image-state queue (whose event source mapping hands over
 * many at once): mark the managed images good or failed and say so on the bus, with one
 * DescribeImages for the batch. A record whose image could not be settled is reported as a
 * batch item failure, so only it is received again.
 */
import { settleEc2 } from '../../shared/aws/ec2/gateways.js';
import { AmiStateChangeEvent } from '../../shared/domain/incoming.js';
import { productionDeps } from '../../shared/runtime/deps.js';
import { queueBatchHandler } from '../../shared/runtime/middleware.js';
import { settleImages } from '../../shared/use-cases/settle-image.js';

const deps = productionDeps(settleEc2);

export const handler = queueBatchHandler('imageState', AmiStateChangeEvent, async (records) => {
  const outcomes = await settleImages(
    records.map(({ event }) => ({ imageId: event.detail.ImageId, errorMessage: event.detail.ErrorMessage })),
    deps,
  );
  return records.filter(({ event }) => 'error' in outcomes.get(event.detail.ImageId)!).map((r) => r.messageId);
});
