/**
 * What every CLI command runs with: the stage's settings read from serverless.yml
 * (exactly what its functions get), and SDK clients for a real account (default
 * credential chain, --profile, --region) or any endpoint (--endpoint, e.g. moto).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { Ec2Gateway } from '../shared/aws/ec2-gateway.js';
import { EventBusPublisher } from '../shared/aws/event-bus.js';
import { PERIODS, type Period } from '../shared/domain/schedule.js';
import { loadConfig } from '../shared/runtime/config.js';
import type { Log } from '../shared/runtime/logger.js';
import { noMetrics, type Deps } from '../shared/use-cases/ports.js';
import { readServerless } from './serverless-config.js';

export interface GlobalOptions {
  stage: string;
  region?: string | undefined;
  profile?: string | undefined;
  endpoint?: string | undefined;
  verbose?: boolean | undefined;
  quiet?: boolean | undefined;
}

export interface CliContext {
  deps: Deps;
  stage: string;
  region: string;
  eventBusName: string;
  /** The period of each schedule, from its Scheduler input in serverless.yml. */
  schedulePeriods: Record<string, Period>;
  /** Progress and warnings go to stderr, so that stdout stays clean for --json. */
  progress: (line: string) => void;
}

/** Warnings and errors of the use cases, on stderr; everything with --verbose. */
function stderrLog(verbose: boolean): Log {
  const write = (level: string) => (message: unknown, ...extra: unknown[]) => {
    const details = extra.length > 0 ? ` ${extra.map((e) => JSON.stringify(e)).join(' ')}` : '';
    process.stderr.write(`${level}: ${String(message)}${details}\n`);
  };
  const quiet = () => undefined;
  return { debug: verbose ? write('debug') : quiet, info: verbose ? write('info') : quiet, warn: write('warning'), error: write('error') } as Log;
}

export function createContext(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): CliContext {
  const wiring = readServerless({ stage: options.stage });
  const config = loadConfig(wiring.environment);
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? wiring.region;
  // Fewer attempts than the functions: a person is waiting, and a dead endpoint should say so quickly.
  const clientConfig = {
    region,
    maxAttempts: 3,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.profile ? { profile: options.profile } : {}),
  };
  const schedulePeriods: Record<string, Period> = {};
  for (const fn of wiring.functions) {
    for (const s of fn.schedules) {
      const { schedule, period } = s.input as { schedule?: unknown; period?: unknown };
      if (typeof schedule === 'string' && PERIODS.includes(period as Period)) schedulePeriods[schedule] = period as Period;
    }
  }
  return {
    stage: options.stage,
    region,
    eventBusName: config.eventBusName,
    schedulePeriods,
    progress: options.quiet ? () => undefined : (line) => process.stderr.write(`${line}\n`),
    deps: {
      managedBy: config.managedBy,
      schedules: config.schedules,
      rotation: config.rotation,
      recovery: config.recovery,
      ec2: new Ec2Gateway(new EC2Client(clientConfig)),
      events: new EventBusPublisher(new EventBridgeClient(clientConfig), config.eventBusName),
      log: stderrLog(options.verbose ?? false),
      // An operator's run is no service's: the service's metrics and alarms stay its own.
      metrics: noMetrics,
      now: () => new Date(),
    },
  };
}
