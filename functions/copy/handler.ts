/**
 * Disaster-recovery copies (docs/disaster-recovery.md): ImageBaked and a 15-minute sweep reach the
 * function through a FIFO queue with one message group, so one batch runs at a time; any batch
 * runs one full pass of the copy reconcile (shared/use-cases/copy-images.ts). A pass that cannot
 * read the home region fails the batch, which the queue hands out again.
 */
import { ec2Client } from '../../shared/aws/clients.js';
import { copyHomeEc2, copyRegionEc2 } from '../../shared/aws/ec2/gateways.js';
import { CopyTrigger } from '../../shared/domain/incoming.js';
import { productionDeps, stageConfig } from '../../shared/runtime/deps.js';
import { ConfigError } from '../../shared/runtime/errors.js';
import { queueBatchHandler } from '../../shared/runtime/middleware.js';
import { reconcileCopies, type CopyDeps } from '../../shared/use-cases/copy-images.js';
import { syncDrCapture } from '../../shared/use-cases/dr-capture.js';

const { copies } = stageConfig();
if (!copies.homeRegion) throw new ConfigError('invalid configuration: AWS_REGION: the home region is not known');
const gateways = new Map<string, ReturnType<typeof copyRegionEc2>>();
const regionEc2 = (region: string) => {
  if (!gateways.has(region)) gateways.set(region, copyRegionEc2(ec2Client(region)));
  return gateways.get(region)!;
};
const base = productionDeps(copyHomeEc2);
const homeRegion = copies.homeRegion;
const deps: CopyDeps = {
  ...base,
  copies: { ...copies, homeRegion },
  regionEc2,
  syncDrCapture: (lineage, region) =>
    syncDrCapture({ managedBy: base.managedBy, homeRegion, ec2: base.ec2, ec2In: regionEc2, log: base.log }, lineage, region),
};

export const handler = queueBatchHandler('copy', CopyTrigger, async () => {
  await reconcileCopies(deps);
  return [];
});
