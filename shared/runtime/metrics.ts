/**
 * The service's CloudWatch metrics: Powertools Metrics writes them to stdout in the
 * Embedded Metric Format, and CloudWatch Logs turns the lines into metrics; no API
 * call, no client, no IAM. One instance per container, shared by the use cases
 * (through deps.metrics) and by the middleware that publishes what an invocation
 * recorded when it ends (shared/runtime/middleware.ts).
 *
 * Namespace POWERTOOLS_METRICS_NAMESPACE (AmiLifecycle when unset); one dimension,
 * `service` (POWERTOOLS_SERVICE_NAME, the stack). Powertools' ColdStart metric adds
 * `function_name`: six functions, a bounded set.
 *
 * Metrics are published inside Lambda. Elsewhere (the tests, `npm start`, anything
 * importing a handler) an EMF line means nothing and would clutter the output, so
 * they are off unless POWERTOOLS_METRICS_DISABLED is set, which Powertools then
 * honours either way: POWERTOOLS_METRICS_DISABLED=false to see them locally.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { noMetrics, type BytesMetric, type CountMetric, type MetricsPort } from '../use-cases/ports.js';
import { logger } from './logger.js';

export const DEFAULT_NAMESPACE = 'AmiLifecycle';

type Env = Record<string, string | undefined>;
const set = (v: string | undefined): string | undefined => (v?.trim() ? v.trim() : undefined);

/** True in Lambda, or wherever POWERTOOLS_METRICS_DISABLED says what to do. */
export function publishesMetrics(env: Env = process.env): boolean {
  return set(env.AWS_LAMBDA_FUNCTION_NAME) !== undefined || set(env.POWERTOOLS_METRICS_DISABLED) !== undefined;
}

/**
 * Powertools warns when an invocation recorded no metric. Here that is routine: every
 * instance state change in the account reaches the recover function, and most are of
 * instances that did not opt in. That one notice goes to debug; any other stays a warning.
 */
const NOTHING_TO_PUBLISH = 'No application metrics to publish';
const metricsLog = {
  debug: (...content: unknown[]) => logger.debug(String(content[0]), ...content.slice(1).map(asExtra)),
  info: (...content: unknown[]) => logger.info(String(content[0]), ...content.slice(1).map(asExtra)),
  warn: (...content: unknown[]) =>
    String(content[0]).startsWith(NOTHING_TO_PUBLISH)
      ? logger.debug(String(content[0]))
      : logger.warn(String(content[0]), ...content.slice(1).map(asExtra)),
  error: (...content: unknown[]) => logger.error(String(content[0]), ...content.slice(1).map(asExtra)),
};
function asExtra(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === 'object' && !(value instanceof Error)
    ? (value as Record<string, unknown>)
    : { detail: String(value) };
}

/** A Powertools Metrics for this environment, or undefined where metrics are not published. */
export function createMetrics(env: Env = process.env): Metrics | undefined {
  if (!publishesMetrics(env)) return undefined;
  return new Metrics({
    namespace: set(env.POWERTOOLS_METRICS_NAMESPACE) ?? DEFAULT_NAMESPACE,
    serviceName: set(env.POWERTOOLS_SERVICE_NAME) ?? 'ami-lifecycle',
    logger: metricsLog,
  });
}

/** The use cases' MetricsPort over Powertools: each call adds a value, published at the end of the invocation. */
export class PowertoolsMetrics implements MetricsPort {
  constructor(private readonly metrics: Metrics) {}

  count(name: CountMetric, value = 1): void {
    this.metrics.addMetric(name, MetricUnit.Count, value);
  }

  bytes(name: BytesMetric, value: number): void {
    this.metrics.addMetric(name, MetricUnit.Bytes, value);
  }
}

/** The container's Powertools Metrics, flushed by the middleware; undefined outside Lambda. */
export const metrics: Metrics | undefined = createMetrics();

/** What productionDeps gives the use cases. */
export const metricsPort: MetricsPort = metrics ? new PowertoolsMetrics(metrics) : noMetrics;
