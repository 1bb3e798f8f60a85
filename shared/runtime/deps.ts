/**
 * The production wiring of the use cases: configuration read once at cold start,
 * AWS clients and gateways created once per container and reused by every
 * invocation.
 */
import { ec2Client, eventBridgeClient } from '../aws/clients.js';
import { Ec2Gateway } from '../aws/ec2-gateway.js';
import { EventBusPublisher } from '../aws/event-bus.js';
import type { Deps } from '../use-cases/ports.js';
import { loadConfig, stageSettings, type Config } from './config.js';
import { logger } from './logger.js';
import { metricsPort } from './metrics.js';

/**
 * What every function gets. Rotation's Auto Scaling reads (launch configurations, at home and in
 * the copy regions) are added by the rotate function alone (rotation-deps.ts): the other bundles
 * stay without the Auto Scaling client (issue 18, cold start).
 */
export type FunctionDeps = Omit<Deps, 'launchConfigurations' | 'copyRegions'>;

let deps: FunctionDeps | undefined;
let config: Config | undefined;

/** The stage's configuration, read from the environment once per container: every reader at load shares it. */
export function stageConfig(): Config {
  config ??= loadConfig();
  return config;
}

export function productionDeps(): FunctionDeps {
  if (deps === undefined) {
    const config = stageConfig();
    deps = {
      ...stageSettings(config),
      ec2: new Ec2Gateway(ec2Client()),
      events: new EventBusPublisher(eventBridgeClient(), config.eventBusName),
      log: logger,
      metrics: metricsPort,
      now: () => new Date(),
    } satisfies FunctionDeps;
  }
  return deps;
}
