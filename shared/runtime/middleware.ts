/**
 * The middy stack every function shares: Powertools logger context, Powertools
 * metrics (what the invocation recorded is published when it ends, error or not;
 * a ColdStart metric once per container), then the Powertools parser with the
 * function's zod schema. An event the schema rejects is logged with every issue
 * and answered with a `rejected` result instead of an error, so Lambda does not
 * retry a payload that can never succeed.
 */
import middy from '@middy/core';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import type { ParseError } from '@aws-lambda-powertools/parser/errors';
import type { z } from 'zod';
import { logger } from './logger.js';
import { metrics } from './metrics.js';

export interface Rejected {
  status: 'rejected';
  reason: string;
}

function describeEvent(event: unknown): Record<string, unknown> {
  if (event === null || typeof event !== 'object') return { eventType: typeof event };
  const e = event as Record<string, unknown>;
  return { source: e.source, detailType: e['detail-type'], eventId: e.id, keys: Object.keys(e).slice(0, 20) };
}

export function rejectEvent(functionName: string, error: ParseError, event: unknown): Rejected {
  // The parser puts the Standard Schema issues in `cause`.
  type Issue = { path?: ReadonlyArray<PropertyKey | { key: PropertyKey }>; message: string };
  const raw = error.cause as ReadonlyArray<Issue> | { issues?: ReadonlyArray<Issue> } | undefined;
  const list: ReadonlyArray<Issue> = Array.isArray(raw) ? raw : ((raw as { issues?: ReadonlyArray<Issue> })?.issues ?? []);
  const issues = list.map((i) => {
    const path = (i.path ?? []).map((p) => String(typeof p === 'object' ? p.key : p)).join('.');
    return `${path || '(event)'}: ${i.message}`;
  });
  logger.error('event rejected: it does not match what this function accepts; not retried', {
    function: functionName,
    issues,
    event: describeEvent(event),
  });
  return { status: 'rejected', reason: issues.join('; ') || error.message };
}

export function eventHandler<S extends z.ZodType, R>(
  functionName: string,
  schema: S,
  run: (event: z.infer<S>) => Promise<R>,
) {
  const stack = middy<unknown, R | Rejected>().use(injectLambdaContext(logger, { resetKeys: true }));
  // Undefined outside Lambda (see metrics.ts). An invocation that recorded nothing publishes nothing.
  if (metrics) stack.use(logMetrics(metrics, { captureColdStartMetric: true, throwOnEmptyMetrics: false }));
  return stack
    .use(parser({ schema, errorHandler: (error, event) => rejectEvent(functionName, error, event) }))
    .handler(async (event) => run(event as z.infer<S>));
}
