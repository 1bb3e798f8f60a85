/**
 * The middy stack every function shares: the invocation's context for the logger and
 * its metrics (what the invocation recorded is published when it ends, error or not;
 * a ColdStart metric once per container), then the Powertools parser with the
 * function's valibot schema. An event the schema rejects is logged with every issue
 * and answered with a `rejected` result instead of an error, so Lambda does not
 * retry a payload that can never succeed. A function fed by an SQS queue
 * (queueHandler) does the same for each record of the batch, and reports the
 * records that failed (ReportBatchItemFailures), so only those are received again.
 */
import middy, { type MiddlewareObj } from '@middy/core';
import type { Context } from 'aws-lambda';
import { parser } from '@aws-lambda-powertools/parser/middleware';
import type { ParseError } from '@aws-lambda-powertools/parser/errors';
import * as v from 'valibot';
import { looseObject } from '../domain/schema.js';
import { logger } from './logger.js';
import { metrics } from './metrics.js';

export interface Rejected {
  status: 'rejected';
  reason: string;
}

/** Bounds of a rejection's log line: CloudWatch Logs cuts an entry at 256 KB, and a cut JSON line is no longer structured. */
const MAX_ISSUES = 20;
const MAX_SEGMENT = 64;
const MAX_ISSUE = 300;
const MAX_FIELD = 128;

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** What identifies an event in a log line: its id, source and type if they are strings, and its first keys, all cut short. */
function describeEvent(event: unknown): Record<string, unknown> {
  if (event === null || typeof event !== 'object') return { eventType: event === null ? 'null' : typeof event };
  if (Array.isArray(event)) return { eventType: 'array', length: event.length };
  const e = event as Record<string, unknown>;
  const field = (value: unknown) =>
    typeof value === 'string'
      ? cut(value, MAX_FIELD)
      : value === undefined
        ? undefined
        : `(${value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value})`;
  return {
    source: field(e.source),
    detailType: field(e['detail-type']),
    eventId: field(e.id),
    keys: Object.keys(e)
      .slice(0, 20)
      .map((k) => cut(k, MAX_FIELD)),
  };
}

export type SchemaIssue = { path?: ReadonlyArray<PropertyKey | { key: unknown }>; message: string };

/**
 * A schema's issues as `path: message` lines: the first 20, each path segment cut to
 * 64 characters and each line to 300, then `… and N more`. Enough to fix the event,
 * never a copy of it.
 */
export function formatIssues(list: ReadonlyArray<SchemaIssue>): string[] {
  const lines = list.slice(0, MAX_ISSUES).map((i) => {
    const path = (i.path ?? []).map((p) => cut(String(typeof p === 'object' ? p.key : p), MAX_SEGMENT)).join('.');
    return cut(`${path || '(event)'}: ${i.message}`, MAX_ISSUE);
  });
  if (list.length > MAX_ISSUES) lines.push(`… and ${list.length - MAX_ISSUES} more`);
  return lines;
}

export function rejectEvent(functionName: string, error: ParseError, event: unknown): Rejected {
  // The parser puts the Standard Schema issues in `cause`.
  const raw = error.cause as ReadonlyArray<SchemaIssue> | { issues?: ReadonlyArray<SchemaIssue> } | undefined;
  const list: ReadonlyArray<SchemaIssue> = Array.isArray(raw) ? raw : ((raw as { issues?: ReadonlyArray<SchemaIssue> })?.issues ?? []);
  logRejection(functionName, list, event);
  return { status: 'rejected', reason: formatIssues(list).join('; ') || cut(error.message, MAX_ISSUE) };
}

/** True until the container's first invocation begins. */
let coldStart = true;

/**
 * Every invocation: the logger's lines carry its context (cold_start, function_name,
 * function_request_id); the first of the container publishes the ColdStart metric; what the
 * invocation recorded is published when it ends, whether it succeeded or threw (the error goes
 * on to Lambda). Metrics are undefined outside Lambda (metrics.ts).
 */
function invocation<E, R>(): MiddlewareObj<E, R, Error, Context> {
  const publish = async () => metrics?.publish();
  return {
    before: async (request) => {
      logger.setInvocation(request.context, coldStart);
      if (coldStart) metrics?.publishColdStart(request.context.functionName);
      coldStart = false;
    },
    after: publish,
    onError: publish,
  };
}

export function eventHandler<S extends v.GenericSchema, R>(functionName: string, schema: S, run: (event: v.InferOutput<S>) => Promise<R>) {
  return middy<unknown, R | Rejected>()
    .use(invocation())
    .use(parser({ schema, errorHandler: (error, event) => rejectEvent(functionName, error, event) }))
    .handler(async (event) => run(event as v.InferOutput<S>));
}

/** What Lambda hands a function fed by an SQS queue; only what the handler reads is required. */
const SqsRecord = looseObject({ messageId: v.pipe(v.string(), v.minLength(1)), body: v.string() });
const SqsBatch = looseObject({ Records: v.array(SqsRecord) });

/** The answer Lambda reads when the event source mapping reports batch item failures. */
export interface BatchResponse {
  batchItemFailures: Array<{ itemIdentifier: string }>;
}

/**
 * A function fed by an SQS queue (an EventBridge rule puts each event there whole, as the
 * record's body). Each record is parsed and run on its own: a body the schema refuses is
 * logged as eventHandler logs it and deleted (never retried); one whose run throws is
 * reported in `batchItemFailures`, so the queue hands it out again after its visibility
 * timeout, and moves it to the dead-letter queue after its maxReceiveCount. Answers only
 * `batchItemFailures`: the response format Lambda documents ("Implementing partial batch
 * responses", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html).
 */
export function queueHandler<S extends v.GenericSchema>(
  functionName: string,
  schema: S,
  run: (event: v.InferOutput<S>) => Promise<unknown>,
) {
  return sqsHandler(async (records) => {
    const batchItemFailures: BatchResponse['batchItemFailures'] = [];
    for (const record of records) {
      const event = parseRecord(functionName, schema, record);
      if (event === undefined) continue;
      try {
        await run(event);
      } catch (error) {
        logger.warn('record failed; the queue hands it out again', {
          function: functionName,
          messageId: record.messageId,
          error: String(error),
        });
        batchItemFailures.push({ itemIdentifier: record.messageId });
      }
    }
    return batchItemFailures;
  }, functionName);
}

/** One record of a batch, its body parsed with the function's schema. */
export interface QueueRecord<T> {
  messageId: string;
  event: T;
}

/**
 * A function fed by an SQS queue that works on the whole batch at once (one read for all its
 * records): `run` gets every record whose body the schema takes and answers the messageIds of
 * those that failed. Unlike queueHandler, a body the schema refuses is logged and reported as a
 * batch item failure too: the events come from AWS, so one this function cannot read is a change
 * to fix, and after the queue's maxReceiveCount it waits in the dead-letter queue (whose alarm
 * says so) to be redriven, rather than being lost in a log line. A run that throws fails every
 * record it was given. The others of the batch are deleted by Lambda as done.
 */
export function queueBatchHandler<S extends v.GenericSchema>(
  functionName: string,
  schema: S,
  run: (records: Array<QueueRecord<v.InferOutput<S>>>) => Promise<Iterable<string>>,
) {
  return sqsHandler(async (records) => {
    const failed = new Set<string>();
    const parsed: Array<QueueRecord<v.InferOutput<S>>> = [];
    for (const record of records) {
      const event = parseRecord(functionName, schema, record);
      if (event === undefined) failed.add(record.messageId);
      else parsed.push({ messageId: record.messageId, event });
    }
    try {
      if (parsed.length > 0) for (const id of await run(parsed)) failed.add(id);
    } catch (error) {
      logger.error('batch failed; the queue hands its records out again', {
        function: functionName,
        records: parsed.length,
        error: String(error),
      });
      for (const r of parsed) failed.add(r.messageId);
    }
    if (failed.size > 0) logger.warn('records failed; the queue hands them out again', { function: functionName, messageIds: [...failed] });
    return [...failed].map((itemIdentifier) => ({ itemIdentifier }));
  }, functionName);
}

/** The middy stack of a queue-fed function around `each`, which answers the batch's failures. */
function sqsHandler(
  each: (records: Array<v.InferOutput<typeof SqsRecord>>) => Promise<BatchResponse['batchItemFailures']>,
  functionName: string,
) {
  return middy<unknown, BatchResponse>()
    .use(invocation())
    .handler(async (event) => {
      const batch = v.safeParse(SqsBatch, event);
      if (!batch.success) {
        logRejection(functionName, batch.issues, event);
        return { batchItemFailures: [] };
      }
      return { batchItemFailures: await each(batch.output.Records) };
    });
}

/** A record's body parsed with the schema; undefined (logged as a rejection) when it is not JSON or the schema refuses it. */
function parseRecord<S extends v.GenericSchema>(
  functionName: string,
  schema: S,
  record: v.InferOutput<typeof SqsRecord>,
): v.InferOutput<S> | undefined {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    logRejection(functionName, [{ path: ['body'], message: 'not JSON' }], { id: record.messageId });
    return undefined;
  }
  const parsed = v.safeParse(schema, body);
  if (!parsed.success) {
    logRejection(functionName, parsed.issues, body);
    return undefined;
  }
  return parsed.output;
}

function logRejection(functionName: string, issues: ReadonlyArray<SchemaIssue>, event: unknown): void {
  logger.error('event rejected: it does not match what this function accepts; not retried', {
    function: functionName,
    issues: formatIssues(issues),
    event: describeEvent(event),
  });
}
