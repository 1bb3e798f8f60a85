/** A log and metrics that remember what the use cases told them, in order. */
import type { BytesMetric, CountMetric, Log, MetricsPort } from '../../../shared/use-cases/ports.js';

export interface LogRecord {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: unknown;
  extra: unknown[];
}

/** A logger that remembers what it was told. */
export class RecordingLog implements Log {
  readonly records: LogRecord[] = [];
  debug = (message: unknown, ...extra: unknown[]) => void this.records.push({ level: 'debug', message, extra });
  info = (message: unknown, ...extra: unknown[]) => void this.records.push({ level: 'info', message, extra });
  warn = (message: unknown, ...extra: unknown[]) => void this.records.push({ level: 'warn', message, extra });
  error = (message: unknown, ...extra: unknown[]) => void this.records.push({ level: 'error', message, extra });

  at(level: LogRecord['level']): LogRecord[] {
    return this.records.filter((r) => r.level === level);
  }
}

export interface MetricRecord {
  name: CountMetric | BytesMetric;
  unit: 'Count' | 'Bytes';
  value: number;
}

/** Metrics that remember what they were told, in order, as the EMF metrics would publish them. */
export class RecordingMetrics implements MetricsPort {
  readonly records: MetricRecord[] = [];
  count = (name: CountMetric, value = 1) => void this.records.push({ name, unit: 'Count', value });
  bytes = (name: BytesMetric, value: number) => void this.records.push({ name, unit: 'Bytes', value });

  /** The sum of what was recorded under this name (CloudWatch's Sum statistic), 0 when nothing was. */
  total(name: CountMetric | BytesMetric): number {
    return this.records.filter((r) => r.name === name).reduce((sum, r) => sum + r.value, 0);
  }

  /** Every name recorded, with its sum: what an invocation published. */
  totals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.records) out[r.name] = (out[r.name] ?? 0) + r.value;
    return out;
  }

  clear(): void {
    this.records.length = 0;
  }
}
