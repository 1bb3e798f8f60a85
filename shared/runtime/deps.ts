/**
 * The production wiring of the use cases: configuration read once at cold start,
 * AWS clients and gateways created once per container and reused by every
 * invocation.
 */
import { ec2Client, eventBridgeClient } from '../aws/clients.js';
import type { Ec2GatewayOf } from '../aws/ec2/gateways.js';
import { EventBusPublisher } from '../aws/event-bus.js';
import type { Deps } from '../use-cases/ports.js';
import { loadConfig, stageSettings, type Config } from './config.js';
import { logger } from './logger.js';
import { metricsPort } from './metrics.js';

/**
 * What every function gets, with its own EC2 gateway `E`: only the operations of its use case's
 * slice of EC2 (shared/aws/ec2/gateways.ts), so that its bundle carries no other (issue 18).
 * Rotation's Auto Scaling reads (launch configurations, at home and in the copy regions) are added
 * by the rotate function alone (rotation-deps.ts): the other bundles stay without the Auto
 * Scaling client.
 */
export type FunctionDeps<E> = Omit<Deps, 'launchConfigurations' | 'copyRegions' | 'ec2'> & { ec2: E };

let shared: Omit<FunctionDeps<unknown>, 'ec2'> | undefined;
let homeEc2: ReturnType<typeof ec2Client> | undefined;
let config: Config | undefined;

/** The stage's configuration, read from the environment once per container: every reader at load shares it. */
export function stageConfig(): Config {
  config ??= loadConfig();
  return config;
}

/** The function's deps, its EC2 gateway made by `ec2` (one of gateways.ts) on the container's one EC2 client. */
export function productionDeps<E>(ec2: Ec2GatewayOf<E>): FunctionDeps<E> {
  if (shared === undefined) {
    const config = stageConfig();
    shared = {
      ...stageSettings(config),
      events: new EventBusPublisher(eventBridgeClient(), config.eventBusName),
      log: logger,
      metrics: metricsPort,
      now: () => new Date(),
    };
  }
  homeEc2 ??= ec2Client();
  return { ...shared, ec2: ec2(homeEc2) };
}

/**
 * The deps of a function that publishes nothing (`publishes: false` in serverless/resources.cjs:
 * statusAlarms): its stack, the log and its EC2 gateway, without the EventBridge client that
 * productionDeps would put in its bundle for nothing (issue 18, cold start).
 */
export function quietDeps<E>(ec2: Ec2GatewayOf<E>): { managedBy: string; log: typeof logger; ec2: E } {
  homeEc2 ??= ec2Client();
  return { managedBy: stageSettings(stageConfig()).managedBy, log: logger, ec2: ec2(homeEc2) };
}
