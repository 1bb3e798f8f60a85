/**
 * The rotate function's wiring: productionDeps plus what only rotation reads, Auto Scaling's
 * launch configurations (each keeps the image it names) at home and in each copy region, and EC2
 * in the copy regions. Kept apart so that no other bundle carries the Auto Scaling client.
 */
import { autoScalingClient, ec2Client } from '../aws/clients.js';
import { AutoScalingGateway } from '../aws/autoscaling-gateway.js';
import { Ec2Gateway } from '../aws/ec2-gateway.js';
import type { Deps } from '../use-cases/ports.js';
import { loadConfig } from './config.js';
import { productionDeps } from './deps.js';

export function rotationDeps(): Deps {
  const config = loadConfig();
  const regional = new Map<string, Ec2Gateway>();
  const launchConfigurationsIn = new Map<string, AutoScalingGateway>();
  return {
    ...productionDeps(),
    ...(config.copies.homeRegion
      ? {
          copyRegions: {
            homeRegion: config.copies.homeRegion,
            regions: [...config.copies.copyTo, ...Object.keys(config.copies.drRegions)],
            ec2In: (region: string) => regional.get(region) ?? regional.set(region, new Ec2Gateway(ec2Client(region))).get(region)!,
            launchConfigurationsIn: (region: string) =>
              launchConfigurationsIn.get(region) ??
              launchConfigurationsIn.set(region, new AutoScalingGateway(autoScalingClient(region))).get(region)!,
          },
        }
      : {}),
    launchConfigurations: new AutoScalingGateway(autoScalingClient()),
  };
}
