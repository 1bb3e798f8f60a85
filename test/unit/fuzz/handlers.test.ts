/**
 * Fuzzing the deployed entry points: each function's exported `handler`, with its
 * middy stack, its configuration read at load and its real gateways, answered by an
 * arbitrary EC2 account (test/unit/fuzz/world.ts). Whatever the event:
 *
 * - the handler answers; it never rejects (a rejection is a Lambda error, retried,
 *   then dropped or dead-lettered);
 * - an event the schema refuses is answered `{status: 'rejected'}` and logged as
 *   one JSON line at ERROR naming the function and the field at fault, and never
 *   the event's contents;
 * - an event the schema takes is carried out, item by item: vanished instances and
 *   images, foreign images and unreadable tags become outcomes, not throws, and
 *   every event published is one its consumers' schemas accept.
 */
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import type { Context } from 'aws-lambda';

const saved = vi.hoisted(() => {
  // Read at import by the handlers (configuration) and the logger (level): set before any import.
  const env: Record<string, string> = {
    MANAGED_BY: 'ami-lifecycle-dev',
    EVENT_BUS_NAME: 'ami-lifecycle-dev',
    SCHEDULES: 'nightly,weekly',
    RECHECK_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:ami-lifecycle-dev-recover',
    RECHECK_ROLE_ARN: 'arn:aws:iam::123456789012:role/recover-scheduler',
    RECHECK_DEAD_LETTER_ARN: 'arn:aws:sqs:us-east-1:123456789012:ami-lifecycle-dev-recover-dlq',
    VERIFY_SUBNET_ID: 'subnet-0123456789abcdef0',
    VERIFY_SECURITY_GROUP_ID: 'sg-0123456789abcdef0',
    VERIFY_INSTANCE_TYPE: 't3.micro',
    VERIFY_CHECK_FUNCTION_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:ami-lifecycle-dev-verify',
    VERIFY_CHECK_ROLE_ARN: 'arn:aws:iam::123456789012:role/verify-scheduler',
    VERIFY_CHECK_DEAD_LETTER_ARN: 'arn:aws:sqs:us-east-1:123456789012:ami-lifecycle-dev-verify-dlq',
    POWERTOOLS_SERVICE_NAME: 'ami-lifecycle',
    POWERTOOLS_LOG_LEVEL: 'DEBUG',
  };
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  return before;
});

import { readServerless } from '../../../cli/serverless-config.js';
import { handler as bake } from '../../../functions/bake/handler.js';
import { handler as imageState } from '../../../functions/image-state/handler.js';
import { handler as promote } from '../../../functions/promote/handler.js';
import { handler as recover } from '../../../functions/recover/handler.js';
import { handler as rotate } from '../../../functions/rotate/handler.js';
import { handler as schedule } from '../../../functions/schedule/handler.js';
import { handler as statusAlarms } from '../../../functions/status-alarms/handler.js';
import { handler as verify } from '../../../functions/verify/handler.js';
import { handler as copy } from '../../../functions/copy/handler.js';
import { DETAIL_SCHEMAS, EVENT_SOURCE, type DetailType } from '../../../shared/domain/events.js';
import {
  AmiStateChangeEvent,
  CopyTrigger,
  BakeRequestedEvent,
  PromoteInput,
  RecoverInput,
  RotationRequest,
  ScheduledRun,
  StatusAlarmsRequest,
  VerifyInput,
} from '../../../shared/domain/incoming.js';
import { logger } from '../../../shared/runtime/logger.js';
import { formatIssues } from '../../../shared/runtime/middleware.js';
import {
  anyJson,
  dotted,
  farFromValid,
  fuzz,
  hugeString,
  nearValid,
  samplesFor,
  wire,
  type FunctionName,
  type Json,
  type NearValid,
} from './arbitraries.js';
import { answerFromWorld, EMPTY_WORLD, worldArb, type Recorder, type World } from './world.js';

type Handler = (event: unknown, context: Context) => Promise<unknown>;

/** Keyed by the function's name in serverless.yml, which is also the name it logs itself by. */
interface Target {
  handler: Handler;
  schema: v.GenericSchema;
  /** The shape of a carried-out run's answer: per-item outcomes, never a bare throw. */
  answered: (result: unknown) => void;
  /**
   * For a function fed by an SQS queue: the batch Lambda hands it for one event (the event is the
   * record's body). Its answer is then the batch response, for a rejected event as for any other.
   */
  batchOf?: (event: Json) => unknown;
  /** A queue-fed function that reports a record it cannot read as a batch item failure (dead-lettered), rather than deleting it. */
  rejectsInBatch?: boolean;
}

/** One event as the one record of an SQS batch, its body the event as EventBridge puts it in the queue. */
const oneRecord = (event: Json) => ({
  Records: [{ messageId: 'fuzz-1', receiptHandle: 'rh', body: JSON.stringify(event), eventSource: 'aws:sqs' }],
});

const outcomes = (result: unknown) => (result as { outcomes: Array<{ instanceId: string; action: string }> }).outcomes;

const TARGETS: Record<FunctionName, Target> = {
  schedule: {
    handler: schedule as Handler,
    schema: ScheduledRun,
    answered: (r) => expect(r).toMatchObject({ slot: expect.any(String), instancesSeen: expect.any(Number), publishFailed: 0 }),
  },
  bake: {
    handler: bake as Handler,
    schema: BakeRequestedEvent,
    // Created, already baked or failed for good: the record is done either way, never handed out again.
    answered: (r) => expect(r).toEqual({ batchItemFailures: [] }),
    batchOf: oneRecord,
  },
  imageState: {
    handler: imageState as Handler,
    schema: AmiStateChangeEvent,
    // Settled, left alone or gone: the record is done; an AWS error is the only thing that fails it.
    answered: (r) => expect(r).toEqual({ batchItemFailures: [] }),
    batchOf: oneRecord,
    rejectsInBatch: true,
  },
  promote: {
    handler: promote as Handler,
    schema: PromoteInput,
    // An image's report (its targets, or why none), or a catch-up's counts.
    answered: (r) =>
      expect(r).toSatisfy(
        (x: Record<string, unknown>) => (typeof x.imageId === 'string' && Array.isArray(x.targets)) || typeof x.lineages === 'number',
      ),
  },
  rotate: {
    handler: rotate as Handler,
    schema: RotationRequest,
    answered: (r) => expect(r).toMatchObject({ dryRun: expect.any(Boolean), failures: expect.any(Array) }),
  },
  recover: {
    handler: recover as Handler,
    schema: RecoverInput,
    answered: (r) => {
      for (const o of outcomes(r))
        expect(o).toMatchObject({ instanceId: expect.stringMatching(/^i-/), action: expect.any(String), reason: expect.any(String) });
    },
  },
  statusAlarms: {
    handler: statusAlarms as Handler,
    schema: StatusAlarmsRequest,
    answered: (r) => expect(r).toMatchObject({ instancesSeen: expect.any(Number), failures: expect.any(Array) }),
  },
  copy: {
    handler: copy as Handler,
    schema: CopyTrigger,
    // One pass whatever the world: a region's trouble is reported in the pass, never a failed record.
    answered: (r) => expect(r).toEqual({ batchItemFailures: [] }),
    batchOf: oneRecord,
    rejectsInBatch: true,
  },
  verify: {
    handler: verify as Handler,
    schema: VerifyInput,
    // One image's step, or the sweep's report.
    answered: (r) =>
      expect(r).toSatisfy(
        (x: Record<string, unknown>) => typeof x.step === 'string' || (typeof x.verifying === 'number' && typeof x.errors === 'number'),
      ),
  },
};
const FUNCTIONS = Object.keys(TARGETS) as FunctionName[];

// ---- the Lambda side: a context, the log lines, the AWS answers ----------------------------------------------

function lambdaContext(functionName: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: `ami-lifecycle-dev-${functionName}`,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:ami-lifecycle-dev-${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: 'fuzz-request',
    logGroupName: `/aws/lambda/ami-lifecycle-dev-${functionName}`,
    logStreamName: 'fuzz',
    getRemainingTimeInMillis: () => 60_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Every line the logger prints, as printed (it writes each log as one JSON string). */
const lines: string[] = [];
const capture = (line: unknown) => void lines.push(String(line));

const recorder: Recorder = { world: EMPTY_WORLD, published: [], unexpected: [] };
let mocks: { restore: () => void };

beforeAll(() => {
  (logger as unknown as { console: Record<string, (line: unknown) => void> }).console = {
    error: capture,
    warn: capture,
    info: capture,
    debug: capture,
    log: capture,
    trace: capture,
  };
  mocks = answerFromWorld(recorder);
});

afterAll(() => {
  mocks.restore();
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

/** A value planted in every event: no log line may ever carry it (logs name fields, they do not dump events). */
const MARKER = 'FUZZ-MARKER-do-not-log-5a9c';

/** Inputs that refuse keys they do not know: the marker goes nowhere else there. */
const STRICT: ReadonlySet<FunctionName> = new Set(['rotate', 'statusAlarms']);
// promote takes either shape: a bus event (its detail loose, a planted key is kept) or a strict catch-up input.

function plant(fn: FunctionName, event: Json): Json {
  if (event === null || typeof event !== 'object' || Array.isArray(event) || STRICT.has(fn)) return event;
  const copy: Record<string, Json> = { ...event, fuzzNote: MARKER };
  const detail = copy.detail;
  if (detail !== null && typeof detail === 'object' && !Array.isArray(detail)) copy.detail = { ...detail, fuzzNote: MARKER };
  return wire(copy);
}

interface Invocation {
  result?: unknown;
  error?: unknown;
  lines: string[];
}

async function invoke(fn: FunctionName, event: Json, world: World): Promise<Invocation> {
  lines.length = 0;
  recorder.world = world;
  recorder.published = [];
  recorder.unexpected = [];
  try {
    const target = TARGETS[fn];
    const result = await target.handler(target.batchOf ? target.batchOf(event) : event, lambdaContext(fn));
    return { result, lines: [...lines] };
  } catch (error) {
    return { error, lines: [...lines] };
  }
}

const parsedLines = (inv: Invocation) => inv.lines.map((l) => JSON.parse(l) as Record<string, unknown>);

/** The checks every invocation must pass, whatever the event. */
function expectAnswered(fn: FunctionName, event: Json, inv: Invocation, near?: NearValid) {
  const target = TARGETS[fn];
  expect(inv.error, `${fn} threw: ${String(inv.error)}`).toBeUndefined();
  for (const line of inv.lines) {
    expect(line.includes('\n'), 'a log entry is one line').toBe(false);
    expect(line.includes(MARKER), `${fn} logged the event's contents: ${line.slice(0, 300)}`).toBe(false);
  }
  expect(recorder.unexpected).toEqual([]);

  const verdict = v.safeParse(target.schema, event);
  if (!verdict.success) {
    // A queue-fed function deletes the record it rejects (no batch item failure, so it is not retried),
    // or, for events from AWS, reports it failed so that it ends in the dead-letter queue.
    expect(inv.result).toEqual(
      target.rejectsInBatch
        ? { batchItemFailures: [{ itemIdentifier: 'fuzz-1' }] }
        : target.batchOf
          ? { batchItemFailures: [] }
          : { status: 'rejected', reason: expect.any(String) },
    );
    const entries = parsedLines(inv);
    const errors = entries.filter((e) => e.level === 'ERROR');
    expect(errors, 'one ERROR line per rejection').toHaveLength(1);
    const line = errors[0]!;
    expect(line).toMatchObject({ function: fn, message: expect.stringContaining('rejected'), service: 'ami-lifecycle' });
    const issues = line.issues as string[];
    const paths = verdict.issues.map((i) => v.getDotPath(i) || '(event)');
    // Every issue the schema found, as `path: message`, bounded as formatIssues bounds them.
    expect(issues).toEqual(formatIssues(verdict.issues));
    expect(issues.length).toBeGreaterThan(0);
    if (!target.batchOf) expect((inv.result as { reason: string }).reason).toBe(issues.join('; '));
    if (near) expectIssueNamesTheField(near, paths);
    return;
  }

  expect(inv.result).not.toMatchObject({ status: 'rejected' });
  target.answered(inv.result);
  expect(parsedLines(inv).filter((e) => String(e.message).includes('rejected'))).toEqual([]);
  expectPublishedEventsAreValid();
}

/** One issue names the broken field (or what holds it, or what is inside it). */
function expectIssueNamesTheField(near: NearValid, paths: string[]) {
  const m = near.mutation;
  const DISCRIMINATORS: readonly Json[] = ['EC2 Instance State-change Notification', 'CloudWatch Alarm State Change', 'AWS Health Event'];
  if (m.kind === 'replace' && dotted(m.path) === 'detail-type' && DISCRIMINATORS.includes(m.value)) return;
  const mutated = dotted(m.path);
  // An added key a strict object refuses is reported on the object that holds it.
  if (m.kind === 'add' && paths.includes(dotted(m.path.slice(0, -1)) || '(event)')) return;
  const related = (p: string) => p === mutated || p.startsWith(`${mutated}.`) || (p !== '(event)' && mutated.startsWith(`${p}.`));
  expect(paths.some(related), `${near.sample}: ${m.kind} ${mutated} -> ${JSON.stringify(paths.slice(0, 5))}`).toBe(true);
}

/** What the service publishes is what its consumers (users' rules, its own bake function) accept. */
function expectPublishedEventsAreValid() {
  for (const entry of recorder.published) {
    expect(entry.Source).toBe(EVENT_SOURCE);
    const schema = DETAIL_SCHEMAS[entry.DetailType as DetailType];
    expect(schema, `unknown detail-type ${entry.DetailType}`).toBeDefined();
    const detail = JSON.parse(entry.Detail!) as unknown;
    const parsed = v.safeParse(schema, detail);
    expect(parsed.success, `${entry.DetailType}: ${JSON.stringify(parsed.issues?.slice(0, 3))}`).toBe(true);
    if (entry.DetailType === 'BakeRequested') {
      const delivered = {
        version: '0',
        id: 'x',
        'detail-type': 'BakeRequested',
        source: EVENT_SOURCE,
        account: '123456789012',
        time: '2026-11-26T03:00:04Z',
        region: 'us-east-1',
        resources: [],
        detail,
      };
      expect(v.safeParse(BakeRequestedEvent, delivered).success).toBe(true);
    }
  }
}

// ---- the properties --------------------------------------------------------------------------------------------

describe.each(FUNCTIONS)('%s handler under fuzzing', (fn) => {
  it('answers arbitrary JSON: rejected and logged as one structured line, or carried out', async () => {
    await fc.assert(
      fc.asyncProperty(anyJson, async (raw) => {
        // Prepare
        const event = plant(fn, raw);

        // Act
        const inv = await invoke(fn, event, EMPTY_WORLD);

        // Assess
        expectAnswered(fn, event, inv);
      }),
      fuzz(80),
    );
  });

  it('answers every sample with one field broken, in an arbitrary account: the rejection names the field', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(...samplesFor(fn).map(nearValid)), worldArb, async (near, world) => {
        // Prepare
        const event = plant(fn, near.event);

        // Act
        const inv = await invoke(fn, event, world);

        // Assess
        expectAnswered(fn, event, inv, near);
      }),
      fuzz(200),
    );
  });

  it('answers every sample with several fields broken at once, in an arbitrary account', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(...samplesFor(fn).map(farFromValid)), worldArb, async (far, world) => {
        // Prepare
        const event = plant(fn, far.event);

        // Act
        const inv = await invoke(fn, event, world);

        // Assess
        expectAnswered(fn, event, inv);
      }),
      fuzz(100),
    );
  });

  it('carries out every sample, as AWS sends it, in an arbitrary account with fuzzed tags: outcomes, never throws', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...samplesFor(fn)), worldArb, async (sample, world) => {
        // Prepare
        const event = plant(fn, sample.event);

        // Act
        const inv = await invoke(fn, event, world);

        // Assess
        expect(inv.error, String(inv.error)).toBeUndefined();
        expect(inv.result).not.toMatchObject({ status: 'rejected' });
        expectAnswered(fn, event, inv);
      }),
      fuzz(150),
    );
  });

  it('meets a sample that names only vanished things (an empty account) with outcomes, not throws', async () => {
    for (const sample of samplesFor(fn)) {
      // Act
      const inv = await invoke(fn, plant(fn, sample.event), EMPTY_WORLD);

      // Assess
      expectAnswered(fn, plant(fn, sample.event), inv);
    }
  });
});

describe('rejection log lines stay small whatever the event', () => {
  /** CloudWatch Logs cuts an event at 256 KB, and a cut JSON line is no longer structured; 8 KB leaves room. */
  const LIMIT = 8 * 1024;

  const sample = (file: string) => structuredClone(samplesFor('recover').find((s) => s.file === file)!.event) as Record<string, any>;
  const oversized = fc.oneof(
    // A huge value where the log summary reads the event's id, source or detail-type.
    fc.tuple(fc.constantFrom('id', 'source', 'detail-type'), hugeString, fc.boolean()).map(([key, big, asObject]) => ({
      ...sample('instance-stopped.json'),
      [key]: asObject ? { nested: big } : big,
      detail: null,
    })),
    // Thousands of bad entries: one issue each.
    fc.integer({ min: 500, max: 5_000 }).map((n) => {
      const health = sample('health-instance-stop-scheduled.json');
      health.detail.affectedEntities = Array.from({ length: n }, () => ({ entityValue: 7 }));
      return health as Json;
    }),
    // A map key as long as the event allows, in the path of the issue.
    hugeString.map((big) => {
      const alarm = sample('alarm-status-check-failed.json');
      alarm.detail.configuration.metrics[0].metricStat.metric.dimensions = { [big]: 1 };
      return alarm as Json;
    }),
  );

  it('the ERROR line of a rejected event stays under 8 KB', async () => {
    await fc.assert(
      fc.asyncProperty(oversized, async (event) => {
        // Act
        const inv = await invoke('recover', wire(event), EMPTY_WORLD);

        // Assess
        expect(inv.result).toMatchObject({ status: 'rejected' });
        const error = inv.lines.find((l) => (JSON.parse(l) as { level: string }).level === 'ERROR')!;
        expect(error.length).toBeLessThan(LIMIT);
      }),
      fuzz(20),
    );
  });
});

describe('log names', () => {
  it('are the function names of serverless.yml: every function logs a rejection under its own name', async () => {
    // Prepare: the functions serverless.yml declares, each fuzzed here
    const declared = readServerless({ stage: 'dev' }).functions.map((f) => f.name);
    expect([...FUNCTIONS].sort()).toEqual([...declared].sort());

    for (const fn of FUNCTIONS) {
      // Act: an event no function accepts
      const inv = await invoke(fn, null, EMPTY_WORLD);

      // Assess
      const errors = parsedLines(inv).filter((e) => e.level === 'ERROR');
      expect(
        errors.map((e) => e.function),
        fn,
      ).toEqual([fn]);
    }
  });
});
