/**
 * The rotate function's wiring: productionDeps plus what only rotation reads, Auto Scaling's
 * launch configurations (each keeps the image it names) at home and in each copy region, and EC2
 * in the copy regions; and the scheduled adoption's readers. Kept apart so that no other bundle
 * carries the Auto Scaling client.
 */
import { autoScalingClient, ec2Client, ssmClient } from '../aws/clients.js';
import { AutoScalingGateway } from '../aws/autoscaling-gateway.js';
import { regionRotationEc2, rotationEc2, staleEc2 } from '../aws/ec2/gateways.js';
import { SsmGateway } from '../aws/ssm-gateway.js';
import type { RotationEc2 } from '../use-cases/ec2-ports.js';
import type { RotationDeps, ShareDeps } from '../use-cases/ports.js';
import type { ScheduledAdoption } from '../use-cases/rotation-run.js';
import { productionDeps, stageConfig } from './deps.js';

export function rotationDeps(): RotationDeps & ShareDeps {
  const config = stageConfig();
  const regional = new Map<string, RotationEc2>();
  const launchConfigurationsIn = new Map<string, AutoScalingGateway>();
  return {
    ...productionDeps(rotationEc2),
    ...(config.copies.homeRegion
      ? {
          copyRegions: {
            homeRegion: config.copies.homeRegion,
            regions: [...config.copies.copyTo, ...Object.keys(config.copies.drRegions)],
            ec2In: (region: string) => regional.get(region) ?? regional.set(region, regionRotationEc2(ec2Client(region))).get(region)!,
            launchConfigurationsIn: (region: string) =>
              launchConfigurationsIn.get(region) ??
              launchConfigurationsIn.set(region, new AutoScalingGateway(autoScalingClient(region))).get(region)!,
          },
        }
      : {}),
    launchConfigurations: new AutoScalingGateway(autoScalingClient()),
  };
}

/**
 * The rotate function's adoption (issue 19): undefined when the stage's adoptFilters lists nothing,
 * so that a stage without it never reads what it would need (Auto Scaling groups, Parameter Store).
 */
export function scheduledAdoption(): ScheduledAdoption | undefined {
  const settings = stageConfig().adoption;
  if (settings.filters.length === 0 && settings.invalid.length === 0) return undefined;
  const shared = productionDeps(staleEc2);
  return {
    settings,
    deps: {
      managedBy: shared.managedBy,
      log: shared.log,
      now: shared.now,
      events: shared.events,
      ec2: shared.ec2,
      groups: new AutoScalingGateway(autoScalingClient()),
      parameters: new SsmGateway(ssmClient()),
    },
  };
}
