/**
 * The functions' structured logger: one JSON object per line, in the shape Powertools Logger
 * writes (level, message, timestamp, service, then the invocation's cold_start, function_arn,
 * function_memory_size, function_name, function_request_id and xray_trace_id, then the entry's own fields), so that Logs Insights
 * queries written for it keep working. Settings keep Powertools' names, so a stage's settings
 * carry over: POWERTOOLS_LOG_LEVEL (TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL or SILENT; INFO
 * when unset or unknown) and POWERTOOLS_SERVICE_NAME.
 *
 * Why not Powertools Logger itself: issue 18 gives each bundle about 83 KiB beyond a bare EC2
 * client, and Powertools Logger and Metrics with their commons took 34 KiB of it in every
 * function, for what is here one JSON line per entry (BENCHMARKS.md, section 1).
 */
import { Console } from 'node:console';
import type { Log, LogFields } from '../use-cases/ports.js';

const LEVELS = { TRACE: 6, DEBUG: 8, INFO: 12, WARN: 16, ERROR: 20, CRITICAL: 24, SILENT: 28 } as const;
type LevelName = keyof typeof LEVELS;

/** The threshold a level setting names; INFO for anything else. */
export function logLevel(setting: string | undefined): LevelName {
  const name = setting?.trim().toUpperCase();
  return name !== undefined && name in LEVELS ? (name as LevelName) : 'INFO';
}

/** What an invocation adds to each of its lines: the fields of Powertools' Lambda context. */
export interface InvocationContext {
  functionName: string;
  awsRequestId: string;
  invokedFunctionArn?: string;
  memoryLimitInMB?: string;
}

/** JSON.stringify's replacer: an Error as its name, message and stack; a bigint as text; an object seen before as '[Circular]'. */
function replacer(): (key: string, value: unknown) => unknown {
  const seen = new WeakSet<object>();
  return (_key, value) => {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
    if (value !== null && typeof value === 'object') {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return value;
  };
}

export class JsonLogger implements Log {
  /** Where lines go: stdout, errors to stderr, as Lambda sends both to the function's log group. Tests replace it. */
  console: Pick<Console, 'debug' | 'info' | 'warn' | 'error'> = new Console({ stdout: process.stdout, stderr: process.stderr });
  private invocation: Record<string, unknown> = {};
  private readonly threshold: number;

  constructor(
    private readonly service: string,
    level: LevelName,
  ) {
    this.threshold = LEVELS[level];
  }

  /** The invocation's fields for every line until the next invocation. */
  setInvocation(context: InvocationContext, coldStart: boolean): void {
    this.invocation = {
      cold_start: coldStart,
      function_arn: context.invokedFunctionArn,
      function_memory_size: context.memoryLimitInMB,
      function_name: context.functionName,
      function_request_id: context.awsRequestId,
      ...(process.env._X_AMZN_TRACE_ID ? { xray_trace_id: process.env._X_AMZN_TRACE_ID.split(';')[0]?.replace('Root=', '') } : {}),
    };
  }

  debug(message: string, ...fields: LogFields[]): void {
    this.write('DEBUG', message, fields);
  }

  info(message: string, ...fields: LogFields[]): void {
    this.write('INFO', message, fields);
  }

  warn(message: string, ...fields: LogFields[]): void {
    this.write('WARN', message, fields);
  }

  error(message: string, ...fields: LogFields[]): void {
    this.write('ERROR', message, fields);
  }

  private write(level: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR', message: string, fields: LogFields[]): void {
    if (LEVELS[level] < this.threshold) return;
    const entry = Object.assign({ level, message, timestamp: new Date().toISOString(), service: this.service }, this.invocation, ...fields);
    const line = JSON.stringify(entry, replacer());
    if (level === 'ERROR') this.console.error(line);
    else if (level === 'WARN') this.console.warn(line);
    else if (level === 'INFO') this.console.info(line);
    else this.console.debug(line);
  }
}

/** The container's logger. */
export const logger = new JsonLogger(
  process.env.POWERTOOLS_SERVICE_NAME?.trim() || 'ami-lifecycle',
  logLevel(process.env.POWERTOOLS_LOG_LEVEL),
);
