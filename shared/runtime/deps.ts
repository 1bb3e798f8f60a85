/**
 * The production wiring of the use cases: configuration read once at cold start,
 * AWS clients and gateways created once per container and reused by every
 * invocation.
 */
import { autoScalingClient, ec2Client, eventBridgeClient } from '../aws/clients.js';
import { AutoScalingGateway } from '../aws/autoscaling-gateway.js';
import { Ec2Gateway } from '../aws/ec2-gateway.js';
import { EventBusPublisher } from '../aws/event-bus.js';
import type { Deps } from '../use-cases/ports.js';
import { loadConfig, stageSettings } from './config.js';
import { logger } from './logger.js';
import { metricsPort } from './metrics.js';

let deps: Deps | undefined;

export function productionDeps(): Deps {
  if (deps === undefined) {
    const config = loadConfig();
    const regional = new Map<string, Ec2Gateway>();
    const launchConfigurationsIn = new Map<string, AutoScalingGateway>();
    deps = {
      ...stageSettings(config),
      ec2: new Ec2Gateway(ec2Client()),
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
      events: new EventBusPublisher(eventBridgeClient(), config.eventBusName),
      log: logger,
      metrics: metricsPort,
      now: () => new Date(),
    } satisfies Deps;
  }
  return deps;
}
