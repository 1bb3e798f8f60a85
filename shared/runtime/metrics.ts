/**
 * The service's CloudWatch metrics, written to stdout in the Embedded Metric Format (EMF):
 * CloudWatch Logs turns each line into metrics; no API call, no client, no IAM. One instance
 * per container, shared by the use cases (through deps.metrics) and by the middleware that
 * publishes what an invocation recorded when it ends (shared/runtime/middleware.ts).
 * Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 *
 * The lines are those Powertools Metrics writes (issue 18 replaced it for its weight in every
 * bundle, see logger.ts): namespace POWERTOOLS_METRICS_NAMESPACE (AmiLifecycle when unset);
 * one dimension, `service` (POWERTOOLS_SERVICE_NAME, the stack); a ColdStart count once per
 * container with `service` and `function_name` (nine functions, a bounded set).
 *
 * Metrics are published inside Lambda unless POWERTOOLS_METRICS_DISABLED=true. Elsewhere (the
 * tests, `npm start`, anything importing a handler) an EMF line means nothing and would clutter
 * the output, so they are off unless POWERTOOLS_METRICS_DISABLED=false.
 */
import { Console } from 'node:console';
import { noMetrics, type BytesMetric, type CountMetric, type MetricsPort } from '../use-cases/ports.js';
import { logger } from './logger.js';

export const DEFAULT_NAMESPACE = 'AmiLifecycle';

/**
 * EMF's bounds, as Powertools Metrics keeps them: at most 100 metrics in one directive and 100
 * values for one metric in one line; the line is written as soon as either is reached, and what
 * follows goes into the next.
 */
export const MAX_METRICS = 100;
export const MAX_VALUES = 100;

type Env = Record<string, string | undefined>;
type Unit = 'Count' | 'Bytes';
const set = (v: string | undefined): string | undefined => (v?.trim() ? v.trim() : undefined);

/** True where metrics are written: in Lambda unless POWERTOOLS_METRICS_DISABLED=true, elsewhere only with POWERTOOLS_METRICS_DISABLED=false. */
export function publishesMetrics(env: Env = process.env): boolean {
  const disabled = set(env.POWERTOOLS_METRICS_DISABLED)?.toLowerCase();
  if (disabled !== undefined) return disabled !== 'true';
  return set(env.AWS_LAMBDA_FUNCTION_NAME) !== undefined;
}

/** What one invocation recorded, written as EMF lines by `publish`. */
export class EmfMetrics implements MetricsPort {
  /** Where lines go (stdout). Tests replace it. */
  console: Pick<Console, 'log'> = new Console({ stdout: process.stdout, stderr: process.stderr });
  private readonly recorded = new Map<string, { unit: Unit; values: number[] }>();

  constructor(
    readonly namespace: string,
    readonly service: string,
  ) {}

  count(name: CountMetric, value = 1): void {
    this.add(name, 'Count', value);
  }

  bytes(name: BytesMetric, value: number): void {
    this.add(name, 'Bytes', value);
  }

  /** Writes what was recorded since the last publish, one line; an invocation that recorded nothing writes nothing. */
  publish(): void {
    if (this.recorded.size === 0) {
      logger.debug('No application metrics to publish: the invocation recorded none');
      return;
    }
    const metrics = [...this.recorded].map(([name, { unit, values }]) => ({
      name,
      unit,
      value: values.length === 1 ? values[0]! : values,
    }));
    this.recorded.clear();
    this.line(metrics, { service: this.service });
  }

  /** The ColdStart count, its own line, with the function's name as a second dimension. */
  publishColdStart(functionName: string): void {
    this.line([{ name: 'ColdStart', unit: 'Count', value: 1 }], { service: this.service, function_name: functionName });
  }

  private add(name: string, unit: Unit, value: number): void {
    if (!this.recorded.has(name) && this.recorded.size >= MAX_METRICS) this.publish();
    const entry = this.recorded.get(name) ?? this.recorded.set(name, { unit, values: [] }).get(name)!;
    entry.values.push(value);
    if (entry.values.length >= MAX_VALUES) this.publish();
  }

  private line(metrics: Array<{ name: string; unit: Unit; value: number | number[] }>, dimensions: Record<string, string>): void {
    const blob: Record<string, unknown> = {
      _aws: {
        Timestamp: Date.now(),
        CloudWatchMetrics: [
          {
            Namespace: this.namespace,
            Dimensions: [Object.keys(dimensions)],
            Metrics: metrics.map((m) => ({ Name: m.name, Unit: m.unit })),
          },
        ],
      },
      ...dimensions,
    };
    for (const m of metrics) blob[m.name] = m.value;
    this.console.log(JSON.stringify(blob));
  }
}

/** The metrics for this environment, or undefined where metrics are not published. */
export function createMetrics(env: Env = process.env): EmfMetrics | undefined {
  if (!publishesMetrics(env)) return undefined;
  return new EmfMetrics(set(env.POWERTOOLS_METRICS_NAMESPACE) ?? DEFAULT_NAMESPACE, set(env.POWERTOOLS_SERVICE_NAME) ?? 'ami-lifecycle');
}

/** The container's metrics, published by the middleware; undefined outside Lambda. */
export const metrics: EmfMetrics | undefined = createMetrics();

/** What productionDeps gives the use cases. */
export const metricsPort: MetricsPort = metrics ?? noMetrics;
