/**
 * ImageBaked from the service's bus: promote the image into its lineage's targets.
 * Also the scheduled catch-up, which promotes each lineage's newest good image (a lost event still promotes).
 */
import { autoScalingClient, ssmClient } from '../../shared/aws/clients.js';
import { AutoScalingGateway } from '../../shared/aws/autoscaling-gateway.js';
import { SsmGateway } from '../../shared/aws/ssm-gateway.js';
import { promoteEc2 } from '../../shared/aws/ec2/gateways.js';
import { PromoteInput } from '../../shared/domain/incoming.js';
import { loadPromotionSettings } from '../../shared/runtime/config.js';
import { productionDeps } from '../../shared/runtime/deps.js';
import { eventHandler } from '../../shared/runtime/middleware.js';
import { promoteImage, reconcilePromotions } from '../../shared/use-cases/promote-image.js';

// Promotion's targets: SSM parameters and Auto Scaling groups (rotate and verify carry SSM too, for adoption and commands).
const deps = {
  ...productionDeps(promoteEc2),
  promotion: loadPromotionSettings(),
  parameters: new SsmGateway(ssmClient()),
  groups: new AutoScalingGateway(autoScalingClient()),
};

export const handler = eventHandler('promote', PromoteInput, async (input): Promise<unknown> => {
  if (!('detail' in input)) return reconcilePromotions(deps);
  // The event's lineage only spares a lineage without targets a DescribeImages; the image is read all the same.
  const hint = typeof input.detail.lineage === 'string' ? input.detail.lineage : undefined;
  return promoteImage(input.detail.imageId, deps, 'event', undefined, hint);
});
