/**
 * What every CLI command runs with: the stage's settings read from serverless.yml
 * (exactly what its functions get), and the gateways (shared/aws/operator.ts) for a real
 * account (default credential chain, --profile, --region) or any endpoint (--endpoint, e.g. moto).
 */
import type { DeploymentGateway } from '../shared/aws/deployment-gateway.js';
import type { Ec2Gateway } from '../shared/aws/ec2-gateway.js';
import { operatorGateways } from '../shared/aws/operator.js';
import { PERIODS, type Period } from '../shared/domain/schedule.js';
import { loadConfig, loadDrRegions, loadPromotionSettings, stageSettings } from '../shared/runtime/config.js';
import type { DrRelaunchDeps } from '../shared/use-cases/relaunch-in-region.js';
import { noMetrics, type Deps, type Log, type PromoteDeps } from '../shared/use-cases/ports.js';
import type { StaleDeps } from '../shared/use-cases/stale-images.js';
import { readServerless, type ServiceWiring } from './serverless-config.js';

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
  /** serverless.yml as this stage resolves it. */
  wiring: ServiceWiring;
  /** What doctor reads (made on first use: the other commands need none of it). */
  deployment: () => DeploymentGateway;
  /** What promote, rollback and status's promotion targets run with: the promote function's settings. */
  promotion: () => PromoteDeps;
  /** What `relaunch <lineage> --region R` runs with (issue 17): the stage's drRegions, EC2 in any region, the home bus. */
  dr: () => DrRelaunchDeps;
  /** EC2 in another region (status --region): same credentials and endpoint. */
  ec2In: (region: string) => Ec2Gateway;
  /** What stale and adopt run with: EC2, Auto Scaling groups and launch configurations, Parameter Store. */
  stale: () => StaleDeps;
}

/** Warnings and errors of the use cases, on stderr; everything with --verbose. */
function stderrLog(verbose: boolean): Log {
  const write =
    (level: string) =>
    (message: unknown, ...extra: unknown[]) => {
      const details = extra.length > 0 ? ` ${extra.map((e) => JSON.stringify(e)).join(' ')}` : '';
      process.stderr.write(`${level}: ${String(message)}${details}\n`);
    };
  const quiet = () => undefined;
  return {
    debug: verbose ? write('debug') : quiet,
    info: verbose ? write('info') : quiet,
    warn: write('warning'),
    error: write('error'),
  } as Log;
}

export function createContext(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): CliContext {
  const wiring = readServerless({ stage: options.stage });
  const config = loadConfig(wiring.environment);
  const region = options.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? wiring.region;
  const schedulePeriods: Record<string, Period> = {};
  for (const fn of wiring.functions) {
    for (const s of fn.schedules) {
      const { schedule, period } = s.input as { schedule?: unknown; period?: unknown };
      if (typeof schedule === 'string' && PERIODS.includes(period as Period)) schedulePeriods[schedule] = period as Period;
    }
  }
  const aws = operatorGateways({ region, profile: options.profile, endpoint: options.endpoint }, config.eventBusName);
  const promoteEnv = wiring.functions.find((f) => f.name === 'promote')?.environment ?? {};
  const promotionSettings = loadPromotionSettings({ ...wiring.environment, ...promoteEnv });
  const deps: Deps = {
    ...stageSettings(config),
    ec2: aws.ec2,
    launchConfigurations: aws.autoScaling,
    events: aws.events,
    log: stderrLog(options.verbose ?? false),
    // An operator's run is no service's: the service's metrics and alarms stay its own.
    metrics: noMetrics,
    now: () => new Date(),
  };
  return {
    stage: options.stage,
    region,
    wiring,
    deployment: aws.deployment,
    eventBusName: config.eventBusName,
    schedulePeriods,
    progress: options.quiet ? () => undefined : (line) => process.stderr.write(`${line}\n`),
    deps,
    promotion: () => ({ ...deps, promotion: promotionSettings, ...aws.promotion() }),
    dr: () => ({
      managedBy: deps.managedBy,
      homeRegion: region,
      // The map where serverless.yml puts it: the provider's environment, or the function that copies.
      drRegions: loadDrRegions({
        ...wiring.environment,
        ...(wiring.functions.find((f) => f.environment?.DR_REGIONS !== undefined)?.environment ?? {}),
      }),
      ec2: aws.ec2,
      ec2In: aws.ec2In,
      events: aws.events,
      log: deps.log,
      now: deps.now,
    }),
    ec2In: aws.ec2In,
    stale: () => ({ managedBy: deps.managedBy, log: deps.log, now: deps.now, ec2: aws.ec2, groups: aws.autoScaling, parameters: aws.ssm }),
  };
}
