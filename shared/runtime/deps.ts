/**
 * The production wiring of the use cases: configuration read once at cold start,
 * AWS clients and gateways created once per container and reused by every
 * invocation.
 */
import { autoScalingClient, ec2Client, eventBridgeClient, ssmClient } from '../aws/clients.js';
import { AutoScalingGateway } from '../aws/autoscaling-gateway.js';
import { Ec2Gateway } from '../aws/ec2-gateway.js';
import { EventBusPublisher } from '../aws/event-bus.js';
import { SsmGateway } from '../aws/ssm-gateway.js';
import type { Deps } from '../use-cases/ports.js';
import type { ScheduledAdoption } from '../use-cases/rotation-run.js';
import { loadConfig, stageSettings } from './config.js';
import { logger } from './logger.js';
import { metricsPort } from './metrics.js';

let deps: Deps | undefined;
let config: ReturnType<typeof loadConfig> | undefined;

export function productionDeps(): Deps {
  if (deps === undefined) {
    config = loadConfig();
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

/**
 * The rotate function's adoption (issue 19): undefined when the stage's adoptFilters lists nothing,
 * so that a stage without it never reads what it would need (Auto Scaling groups, Parameter Store).
 */
export function scheduledAdoption(): ScheduledAdoption | undefined {
  const shared = productionDeps();
  const settings = config!.adoption;
  if (settings.filters.length === 0 && settings.invalid.length === 0) return undefined;
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
