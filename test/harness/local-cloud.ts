/**
 * A local stand-in for the deployed stack: moto behind the fidelity proxy, the
 * EventBridge bus and rules declared in serverless.yml (moto evaluates the
 * patterns and delivers to SQS queues that stand in for the Lambda targets), the
 * real handler modules, and the AMI and instance state-change events moto never
 * emits, synthesised from the image and instance states it reports (an image the
 * proxy still reports pending is announced once it is available). Deliveries can
 * be duplicated and shuffled, and the proxy can inject faults (see faults.ts).
 * Test and sandbox code only.
 */
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  EC2Client,
  paginateDescribeInstances,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
  type RunInstancesCommandInput,
  type Tag,
} from '@aws-sdk/client-ec2';
import { CreateEventBusCommand, EventBridgeClient, PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import {
  DeleteScheduleCommand,
  GetScheduleCommand,
  paginateListSchedules,
  SchedulerClient,
  type GetScheduleCommandOutput,
} from '@aws-sdk/client-scheduler';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { ExpectedApiViolations } from './api-model/index.js';
import { startMoto, useRunningMoto, type MotoServer } from './moto.js';
import { seededShuffle } from './faults.js';
import {
  startFidelityProxy,
  type FaultOptions,
  type FidelityProxy,
  type ImagePendingOptions,
  type RecordedEvent,
  type ThrottleOptions,
} from './proxy/index.js';
import { PROJECT_ROOT, readServerless, type FunctionWiring, type ServiceWiring } from '../../cli/serverless-config.js';
import type { Template } from '../infra/template-rules.js';
import { IamEnforcer, type Denial } from './iam/enforcer.js';
import { runAsFunction } from './iam/identity.js';
import { referenceAccessFromIam } from './iam/image-references-access.js';
import type { ReferenceAccess } from './moto-gaps/image-references.js';
import { LOCAL_CLOUD_STAGE, loadFunctionEnvironments, loadFunctionRoles } from './iam/roles.js';
import { deployContext } from './iam/template.js';
import { atInstant } from './moto-gaps/schedules.js';

/** An image id that moto ships in every region, to launch instances from. */
export const MOTO_BASE_AMI = 'ami-760aaa0f';

/**
 * The last `n` nights before today, 03:00 UTC, oldest first: bake times for images that
 * rotation (which reads the real time) and status must see as recent.
 */
export function pastNights(n: number): Date[] {
  const today = new Date();
  today.setUTCHours(3, 0, 0, 0);
  return Array.from({ length: n }, (_, i) => new Date(today.getTime() - (n - i) * 86_400_000));
}

export type LambdaHandler = (event: unknown, context: Context) => Promise<unknown>;

export interface Delivery {
  function: string;
  detailType: string;
  attempts: number;
  result?: unknown;
  error?: string;
}

/** A one-time schedule fireDueSchedules() fired: its target's invocations, as a Delivery, and what became of it. */
export interface ScheduleFiring extends Delivery {
  /** The schedule's name and group. */
  schedule: string;
  group: string;
  /** Its `at()` time, the instant it fired (the harness's clock during the invocation). */
  at: Date;
  /** Whether it was deleted afterwards (ActionAfterCompletion DELETE). */
  deleted: boolean;
}

export type ObservedEvent = RecordedEvent;

/**
 * Delivers the whole event, as EventBridge does to a Lambda target. moto's default
 * delivery to SQS drops `account` and evaluates eight JSONPath expressions per
 * event and rule (seconds per PutEvents call); this template needs one.
 */
const WHOLE_EVENT = { InputPathsMap: { id: '$.id' }, InputTemplate: '<aws.events.event.json>' };
/** The account moto uses for the dummy credentials. */
const MOTO_ACCOUNT = '123456789012';
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const region = 'us-east-1';

function lambdaContext(functionName: string, timeoutSeconds: number): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${MOTO_ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '256',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export interface LocalCloudOptions {
  stage?: string;
  /**
   * Stage parameters overridden (serverless.yml `params`), as `--param key=value` would: they
   * reach the functions' environment and the packaged roles alike.
   */
  params?: Record<string, string>;
  /**
   * IAM evaluated on every call a function makes, against its role in the packaged template
   * (default true; see test/harness/iam).
   */
  iam?: boolean;
  /** Edits a copy of the packaged template before its roles are read: how a harness test plants a defect. */
  editTemplate?: (template: Template) => void;
  /** Environment entries to set in addition to serverless.yml's (they win). */
  env?: Record<string, string>;
  /** Handler invocations running at once while delivering. */
  concurrency?: number;
  /**
   * An already running moto_server to use instead of starting one (its state is
   * kept, and stop() leaves it running).
   */
  endpoint?: string;
  /** EC2 request throttling by the proxy (off by default; proxy.setThrottle changes it later). */
  throttle?: ThrottleOptions;
  /** Random faults injected by the proxy (off by default; proxy.setFaults changes it later). */
  faults?: FaultOptions;
  /** New images pending for a while before available (off by default; setImagePending changes it later). */
  imagePending?: ImagePendingOptions;
}

/** How deliver() hands the queued events to the functions. */
export interface DeliverOptions {
  /** Rounds of draining the queues before giving up (default 50). */
  maxRounds?: number;
  /** Each event is delivered this many times (default 1): EventBridge delivers at least once. */
  copies?: number;
  /** Shuffles each round's deliveries, across functions, with this seed: EventBridge keeps no order. */
  shuffleSeed?: number;
  /** Handler invocations at once (default: the LocalCloud's concurrency). */
  concurrency?: number;
  /** Invocations per delivery before it counts as failed (default 3: Lambda's asynchronous retries). */
  attempts?: number;
}

/** A change of an instance's state, as announceInstanceStates() saw and announced it. */
export interface InstanceStateChange {
  instanceId: string;
  state: string;
  /** The state seen the time before; undefined for an instance not seen before. */
  previous: string | undefined;
}

export class LocalCloud {
  readonly ec2: EC2Client;
  private readonly events: EventBridgeClient;
  private readonly sqs: SQSClient;
  private readonly scheduler: SchedulerClient;
  /** One-time schedules fired and kept (ActionAfterCompletion NONE), by ARN and version: they never fire again. */
  private readonly firedSchedules = new Set<string>();
  private readonly queues = new Map<string, string>();
  private readonly announced = new Set<string>();
  /** Instance id -> the state announceInstanceStates() saw last. */
  private readonly instanceStates = new Map<string, string>();
  private handlers: Record<string, LambdaHandler> = {};
  private imagePending: ImagePendingOptions | undefined;
  /** What DescribeImageReferences may look at for its caller: the caller's role decides (IAM on). */
  private referenceAccess: ReferenceAccess | undefined;

  private constructor(
    readonly moto: MotoServer,
    readonly proxy: FidelityProxy,
    readonly wiring: ServiceWiring,
    private readonly concurrency: number,
    /** The simulated time the proxy reports for images created now (undefined: the real time). */
    private readonly clock: { at?: Date | undefined },
    private readonly options: LocalCloudOptions,
    /** The IAM evaluator of the proxy (undefined when started with iam: false). */
    readonly iam?: IamEnforcer,
  ) {
    // The harness's own calls go straight to moto: the proxy counts only the service's calls.
    const config = { endpoint: moto.endpoint, region, credentials };
    this.ec2 = new EC2Client(config);
    this.events = new EventBridgeClient(config);
    this.sqs = new SQSClient(config);
    this.scheduler = new SchedulerClient(config);
  }

  static async start(options: LocalCloudOptions = {}): Promise<LocalCloud> {
    const stage = options.stage ?? LOCAL_CLOUD_STAGE;
    const wiring = readServerless({ stage, ...(options.params ? { params: options.params } : {}) });
    const roles =
      options.iam === false
        ? undefined
        : await loadFunctionRoles({
            service: wiring.service,
            stage,
            ...(options.params ? { params: options.params } : {}),
            ...(options.editTemplate ? { editTemplate: options.editTemplate } : {}),
          });
    const moto = options.endpoint ? await useRunningMoto(options.endpoint) : await startMoto();
    const iam = roles ? new IamEnforcer(roles, moto.endpoint, deployContext(wiring.service, stage)) : undefined;
    const clock: { at?: Date | undefined } = {};
    const proxy = await startFidelityProxy(moto.endpoint, {
      clock: () => clock.at ?? new Date(),
      ...(options.throttle ? { throttle: options.throttle } : {}),
      ...(options.faults ? { faults: options.faults } : {}),
      ...(options.imagePending ? { imagePending: options.imagePending } : {}),
      ...(iam ? { iam } : {}),
    });
    const cloud = new LocalCloud(moto, proxy, wiring, options.concurrency ?? 4, clock, options, iam);
    cloud.referenceAccess = iam ? referenceAccessFromIam(iam, deployContext(wiring.service, stage)) : undefined;
    proxy.setReferenceAccess(cloud.referenceAccess);
    cloud.imagePending = options.imagePending;
    // The handlers read their configuration from the environment at load, as in Lambda: the
    // provider's, and each function's own as deployed (one process: their names never collide).
    const deployed = await loadFunctionEnvironments({
      service: wiring.service,
      stage,
      ...(options.params ? { params: options.params } : {}),
    });
    const own = Object.fromEntries(
      Object.values(deployed).flatMap((vars) => Object.entries(vars).filter(([k]) => !(k in wiring.environment))),
    );
    const { NODE_OPTIONS: _ignored, ...env } = wiring.environment;
    for (const [key, value] of Object.entries({ ...env, ...own, ...options.env })) {
      if (key === 'POWERTOOLS_LOG_LEVEL' && process.env[key] !== undefined) continue;
      process.env[key] = value;
    }
    process.env.AWS_ENDPOINT_URL = proxy.endpoint;
    process.env.AWS_REGION = region;
    process.env.AWS_ACCESS_KEY_ID ??= credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY ??= credentials.secretAccessKey;
    await cloud.install();
    cloud.handlers = Object.fromEntries(await Promise.all(wiring.functions.map(async (fn) => [fn.name, await loadHandler(fn)] as const)));
    return cloud;
  }

  /** Creates the bus, one queue per function target, and the rules from serverless.yml. */
  private async install(): Promise<void> {
    await this.events.send(new CreateEventBusCommand({ Name: this.wiring.eventBusName }));
    const targets: Array<{ name: string; bus: string; pattern: Record<string, unknown> }> = [];
    for (const fn of this.wiring.functions) {
      for (const [i, eb] of fn.eventBridge.entries()) targets.push({ name: `${fn.name}-${i}`, bus: eb.bus, pattern: eb.pattern });
    }
    for (const t of targets) {
      const { QueueUrl } = await this.sqs.send(new CreateQueueCommand({ QueueName: `wiring-${t.name}` }));
      const { Attributes } = await this.sqs.send(new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }));
      const ruleName = `wiring-${t.name}`;
      const busName = t.bus === 'default' ? undefined : t.bus;
      await this.events.send(new PutRuleCommand({ Name: ruleName, EventBusName: busName, EventPattern: JSON.stringify(t.pattern) }));
      await this.events.send(
        new PutTargetsCommand({
          Rule: ruleName,
          EventBusName: busName,
          Targets: [{ Id: 'queue', Arn: Attributes!.QueueArn!, InputTransformer: WHOLE_EVENT }],
        }),
      );
      this.queues.set(t.name, QueueUrl!);
    }
  }

  /**
   * Wipes moto and the harness's memory (the proxy's included), puts the faults,
   * throttling and image build time back to those the cloud was started with, lets
   * DescribeImageReferences look at every resource type again,
   * then installs the wiring again.
   */
  async reset(): Promise<void> {
    this.proxy.disarmCrash();
    this.proxy.setFaults(undefined);
    this.proxy.setThrottle(undefined);
    this.proxy.setReferenceAccess(this.referenceAccess);
    await this.moto.reset();
    this.setClock(undefined);
    this.queues.clear();
    this.announced.clear();
    this.instanceStates.clear();
    this.firedSchedules.clear();
    this.proxy.resetState();
    this.proxy.resetCalls();
    await this.install();
    this.proxy.setFaults(this.options.faults);
    this.proxy.setThrottle(this.options.throttle);
    this.setImagePending(this.options.imagePending);
  }

  /**
   * Declares the requests the current test makes on purpose that AWS's API model refuses
   * (see FidelityProxy.expectApiViolations); any other refused request fails the test.
   */
  expectApiViolations(expected: ExpectedApiViolations): void {
    this.proxy.expectApiViolations(expected);
  }

  /** New images stay pending for this long (see FidelityProxy.setImagePending); undefined: available at once. */
  setImagePending(options: ImagePendingOptions | undefined): void {
    this.imagePending = options;
    this.proxy.setImagePending(options);
  }

  /**
   * Lets every image created so far finish building: moves the manual build clock
   * past the build time, or waits it out on the real one. Nothing to do when images
   * are available at once.
   */
  async finishImageBuilds(): Promise<void> {
    const pending = this.imagePending;
    if (pending === undefined) return;
    if (pending.clock === 'manual') this.proxy.advanceImageClock(pending.forMs);
    else await new Promise((resolve) => setTimeout(resolve, pending.forMs));
  }

  async stop(): Promise<void> {
    this.iam?.close();
    this.ec2.destroy();
    this.events.destroy();
    this.sqs.destroy();
    this.scheduler.destroy();
    await this.proxy.stop();
    await this.moto.stop();
  }

  /** Sets the simulated time images created from now on report (undefined: the real time). */
  setClock(at: Date | undefined): void {
    this.clock.at = at;
  }

  /** The simulated time set by setClock (undefined: the real time). */
  simulatedTime(): Date | undefined {
    return this.clock.at;
  }

  handler(functionName: string): LambdaHandler {
    const h = this.handlers[functionName];
    if (!h) throw new Error(`no function ${functionName} in serverless.yml`);
    return h;
  }

  /**
   * Invokes a function the way Lambda would, with a fresh context, its calls signed as its
   * own role (see test/harness/iam/identity.ts): with the event itself, or, for a function fed
   * by an SQS queue, with a batch of one record whose body is the event (as EventBridge puts it
   * in the queue). Answers what the handler answers.
   */
  invoke(functionName: string, event: unknown): Promise<unknown> {
    const fn = this.wiring.functions.find((f) => f.name === functionName);
    return this.invokePayload(functionName, fn?.queue ? sqsBatch([event]) : event);
  }

  /**
   * Invokes a function fed by an SQS queue with these events as one batch, one record each (as
   * its event source mapping would hand them over): the handler's answer and the records'
   * messageIds, in the events' order.
   */
  async invokeBatch(functionName: string, events: unknown[]): Promise<{ result: unknown; messageIds: string[] }> {
    if (!this.wiring.functions.find((f) => f.name === functionName)?.queue) throw new Error(`${functionName} is not fed by a queue`);
    const messageIds: string[] = events.map(() => randomUUID());
    return { result: await this.invokePayload(functionName, sqsBatch(events, messageIds)), messageIds };
  }

  /**
   * Invokes a function with this payload as it is, as Lambda's Invoke API does whatever the
   * function's event sources (what EventBridge Scheduler does with a schedule's Input).
   */
  invokePayload(functionName: string, payload: unknown): Promise<unknown> {
    const fn = this.wiring.functions.find((f) => f.name === functionName);
    const handler = this.handler(functionName);
    return this.asFunction(functionName, () => handler(payload, lambdaContext(functionName, fn?.timeout ?? 6)));
  }

  /**
   * Runs `fn` with the identity of a function (by its serverless.yml name): the calls it makes
   * through the proxy are evaluated against that function's role, as if the function made them.
   */
  asFunction<T>(functionName: string, fn: () => T): T {
    if (!this.wiring.functions.some((f) => f.name === functionName)) throw new Error(`no function ${functionName} in serverless.yml`);
    return runAsFunction(`${this.wiring.service}-${this.wiring.stage}-${functionName}`, this.proxy.endpoint, fn);
  }

  /**
   * The current test plants `n` IAM denials: the after-test check (test/harness/iam/setup.ts)
   * expects exactly that many rather than failing on them.
   */
  expectDenials(n: number): void {
    if (!this.iam) throw new Error('this LocalCloud does not evaluate IAM');
    this.iam.expectDenials(n);
  }

  /**
   * The functions' roles from now on come from the packaged template with `edit` applied (a
   * harness test plants a defect in a role this way); without `edit`, the template as packaged.
   */
  async useTemplate(edit?: (template: Template) => void): Promise<void> {
    if (!this.iam) throw new Error('this LocalCloud does not evaluate IAM');
    const { params } = this.options;
    this.iam.setRoles(
      await loadFunctionRoles({
        service: this.wiring.service,
        stage: this.wiring.stage,
        ...(params ? { params } : {}),
        ...(edit ? { editTemplate: edit } : {}),
      }),
    );
  }

  /** Every call IAM refused so far, oldest first. */
  denials(): Denial[] {
    return this.iam?.denials() ?? [];
  }

  /**
   * Fires a schedule declared in serverless.yml at `at`, with the input
   * EventBridge Scheduler would pass (its scheduled-time placeholder filled in).
   * With `attempts` above 1, an invocation that throws is fired again with the
   * same input, as Scheduler's retry policy does; the last error is thrown.
   */
  async fireSchedule(schedule: string, at: Date, options: { attempts?: number } = {}): Promise<unknown> {
    this.setClock(at);
    for (const fn of this.wiring.functions) {
      for (const s of fn.schedules) {
        if (s.input.schedule !== schedule) continue;
        const input = JSON.parse(JSON.stringify(s.input).replaceAll('<aws.scheduler.scheduled-time>', at.toISOString()));
        const attempts = options.attempts ?? 1;
        for (let attempt = 1; ; attempt++) {
          try {
            return await this.invoke(fn.name, input);
          } catch (error) {
            if (attempt >= attempts) throw error;
          }
        }
      }
    }
    throw new Error(`no schedule ${schedule} in serverless.yml`);
  }

  /**
   * Fires, in time order, every ENABLED one-time schedule (`at()`, in its time zone) in moto's
   * EventBridge Scheduler whose time is at or before `until`, as Scheduler would (moto stores
   * schedules and never fires them; see moto-gaps/schedules.ts):
   *
   * - its target, a function of serverless.yml by its deployed name (`<service>-<stage>-<fn>`, the
   *   Lambda ARN's function name), is invoked (invokePayload: the payload as it is, whatever the
   *   function's event sources) with `JSON.parse(Target.Input)` (`{}` without one), its
   *   context attributes filled in ("Adding context attributes in EventBridge Scheduler",
   *   https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html),
   *   with the harness's clock set to the schedule's time (put back afterwards);
   * - an invocation that throws is made again, up to `attempts` times in all (default 3, as
   *   deliver() retries an asynchronous invocation: Scheduler hands the event to Lambda, whose
   *   retries then apply, as serverless.yml's delivery note says; Target.RetryPolicy covers
   *   handing it on, which never fails here);
   * - then, with ActionAfterCompletion DELETE, the schedule is deleted: "For one-time schedules,
   *   this occurs after the schedule has invoked its target once" ("Deleting a schedule in
   *   EventBridge Scheduler", https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-delete.html).
   *   A schedule its own target updated meanwhile (a new time) is a new schedule and is kept: AWS
   *   does not say what it does then. With NONE it stays, and never fires again unless updated.
   *
   * A schedule a fired target creates, due by `until`, fires in the same call. Recurring (cron,
   * rate) schedules are never fired here: fireSchedule() and cron.ts fire those. The schedules are
   * read straight from moto, so these reads are not counted as the service's calls.
   */
  async fireDueSchedules(until: Date, options: { attempts?: number } = {}): Promise<ScheduleFiring[]> {
    const firings: ScheduleFiring[] = [];
    const clockBefore = this.clock.at;
    try {
      for (let round = 0; round < 1000; round++) {
        const next = (await this.dueSchedules(until))[0];
        if (next === undefined) return firings;
        firings.push(await this.fireOne(next.schedule, next.at, options.attempts ?? 3));
      }
      throw new Error('fireDueSchedules: more than 1,000 firings; a target keeps scheduling itself');
    } finally {
      this.setClock(clockBefore);
    }
  }

  /** The ENABLED one-time schedules due by `until` and not fired yet, earliest first. */
  private async dueSchedules(until: Date): Promise<Array<{ schedule: GetScheduleCommandOutput; at: Date }>> {
    const due: Array<{ schedule: GetScheduleCommandOutput; at: Date }> = [];
    for await (const page of paginateListSchedules({ client: this.scheduler }, { State: 'ENABLED' })) {
      for (const summary of page.Schedules ?? []) {
        const schedule = await this.scheduler.send(new GetScheduleCommand({ Name: summary.Name!, GroupName: summary.GroupName }));
        if (schedule.State !== 'ENABLED' || this.firedSchedules.has(scheduleVersion(schedule))) continue;
        const at = atInstant(schedule.ScheduleExpression ?? '', schedule.ScheduleExpressionTimezone || 'UTC');
        if (at !== undefined && at.getTime() <= until.getTime()) due.push({ schedule, at });
      }
    }
    return due.sort((a, b) => a.at.getTime() - b.at.getTime() || String(a.schedule.Name).localeCompare(String(b.schedule.Name)));
  }

  /**
   * Takes the one-time schedules due by `until` without invoking their targets: what each would
   * be handed (as drain() does for events), the schedules deleted as Scheduler deletes them after
   * firing (ActionAfterCompletion DELETE). For a test that invokes the target itself (a crash, then
   * the retry).
   */
  async drainDueSchedules(until: Date): Promise<Array<{ functionName: string; event: unknown }>> {
    const drained: Array<{ functionName: string; event: unknown }> = [];
    for (const { schedule, at } of await this.dueSchedules(until)) {
      drained.push({ functionName: this.targetOf(schedule).name, event: JSON.parse(scheduleInput(schedule, at, 1)) });
      if (schedule.ActionAfterCompletion === 'DELETE')
        await this.scheduler.send(new DeleteScheduleCommand({ Name: schedule.Name!, GroupName: schedule.GroupName }));
      else this.firedSchedules.add(scheduleVersion(schedule));
    }
    return drained;
  }

  /** The function of serverless.yml a schedule's target names (`<service>-<stage>-<function>`). */
  private targetOf(schedule: GetScheduleCommandOutput): FunctionWiring {
    const target = schedule.Target!;
    const functionName = /^arn:[^:]+:lambda:[^:]*:[^:]*:function:([^:]+)(:[^:]+)?$/.exec(target.Arn ?? '')?.[1];
    const fn = this.wiring.functions.find((f) => `${this.wiring.service}-${this.wiring.stage}-${f.name}` === functionName);
    if (!fn) throw new Error(`fireDueSchedules: ${schedule.Name}'s target ${target.Arn} is no function of serverless.yml`);
    return fn;
  }

  private async fireOne(schedule: GetScheduleCommandOutput, at: Date, attempts: number): Promise<ScheduleFiring> {
    const fn = this.targetOf(schedule);
    const firing: ScheduleFiring = {
      function: fn.name,
      detailType: '',
      attempts: 0,
      schedule: schedule.Name!,
      group: schedule.GroupName ?? 'default',
      at,
      deleted: false,
    };
    this.setClock(at);
    for (let attempt = 1; attempt <= attempts; attempt++) {
      firing.attempts = attempt;
      try {
        firing.result = await this.invokePayload(fn.name, JSON.parse(scheduleInput(schedule, at, attempt)));
        delete firing.error;
        break;
      } catch (error) {
        firing.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      }
    }
    // The schedule as it is now: its target may have updated (re-armed) or deleted it.
    const now = await this.scheduler
      .send(new GetScheduleCommand({ Name: schedule.Name!, GroupName: schedule.GroupName }))
      .catch((error: unknown) => {
        if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
        throw error;
      });
    if (now === undefined || scheduleVersion(now) !== scheduleVersion(schedule)) return firing;
    if (schedule.ActionAfterCompletion === 'DELETE') {
      await this.scheduler.send(new DeleteScheduleCommand({ Name: schedule.Name!, GroupName: schedule.GroupName }));
      firing.deleted = true;
    } else {
      this.firedSchedules.add(scheduleVersion(schedule));
    }
    return firing;
  }

  /**
   * One night of a schedule, end to end: it fires at `at`, its bake requests are
   * delivered, the images finish building, EC2 reports them, and they are settled.
   * Images report `at` as their creation time; the clock is put back to real time
   * afterwards. Returns every delivery made.
   */
  async bakeCycle(schedule: string, at: Date, options: DeliverOptions & { scheduleAttempts?: number } = {}): Promise<Delivery[]> {
    const { scheduleAttempts, ...deliver } = options;
    await this.fireSchedule(schedule, at, scheduleAttempts ? { attempts: scheduleAttempts } : {});
    const deliveries = await this.deliver(deliver);
    await this.finishImageBuilds();
    await this.announceImageStates();
    deliveries.push(...(await this.deliver(deliver)));
    this.setClock(undefined);
    return deliveries;
  }

  /**
   * Delivers everything waiting in the target queues to the functions, until
   * the queues stay empty. A handler that throws is retried twice, as Lambda
   * retries an asynchronous invocation. With `copies` or `shuffleSeed`, each
   * round first drains every queue, then delivers every event `copies` times in
   * a seeded random order, across functions.
   */
  async deliver(options: DeliverOptions = {}): Promise<Delivery[]> {
    if (options.copies !== undefined || options.shuffleSeed !== undefined) return this.deliverScrambled(options);
    const deliveries: Delivery[] = [];
    for (let round = 0; round < (options.maxRounds ?? 50); round++) {
      let delivered = 0;
      for (const fn of this.wiring.functions) {
        for (let i = 0; i < fn.eventBridge.length; i++) {
          const url = this.queues.get(`${fn.name}-${i}`)!;
          // Everything waiting in the queue is run at once (up to the concurrency), not ten
          // at a time: a slow invocation must not hold back the others, as in Lambda.
          const waiting = await this.receiveAll(url);
          if (waiting.length === 0) continue;
          delivered += waiting.length;
          deliveries.push(
            ...(await this.runAll(
              waiting.map((m) => ({ functionName: fn.name, event: m.event })),
              options,
            )),
          );
          await this.deleteAll(url, waiting);
        }
      }
      if (delivered === 0) break;
    }
    return deliveries;
  }

  /**
   * Takes every event waiting in the target queues without delivering it, in
   * serverless.yml's order of functions: for a test that invokes the functions
   * itself (a crash, then the retry Lambda would make with the same event).
   */
  async drain(): Promise<Array<{ functionName: string; event: unknown }>> {
    const drained: Array<{ functionName: string; event: unknown }> = [];
    for (const fn of this.wiring.functions) {
      for (let i = 0; i < fn.eventBridge.length; i++) {
        const url = this.queues.get(`${fn.name}-${i}`)!;
        const waiting = await this.receiveAll(url);
        drained.push(...waiting.map((m) => ({ functionName: fn.name, event: m.event })));
        await this.deleteAll(url, waiting);
      }
    }
    return drained;
  }

  private async deliverScrambled(options: DeliverOptions): Promise<Delivery[]> {
    const deliveries: Delivery[] = [];
    const copies = options.copies ?? 1;
    for (let round = 0; round < (options.maxRounds ?? 50); round++) {
      const drained = await this.drain();
      if (drained.length === 0) break;
      const all = drained.flatMap((d) => Array.from({ length: copies }, () => d));
      const order = options.shuffleSeed === undefined ? all : seededShuffle(all, options.shuffleSeed + round);
      deliveries.push(...(await this.runAll(order, options)));
    }
    return deliveries;
  }

  /**
   * Runs the deliveries, each retried as AWS would: an asynchronous invocation that throws up to
   * `attempts` times in all (Lambda's retries). A queue-fed function gets its events as Lambda's
   * event source mapping hands them over (see runQueued): in batches of its batch size, each
   * record received again while it fails, up to the queue's maxReceiveCount. A queue-fed function
   * never runs more invocations at once than its event source mapping's maximum concurrency.
   */
  private async runAll(items: Array<{ functionName: string; event: unknown }>, options: DeliverOptions = {}): Promise<Delivery[]> {
    const out: Delivery[] = new Array(items.length);
    const concurrency = options.concurrency ?? this.concurrency;
    const queued = new Map<string, number[]>(); // a queue-fed function -> its items, in arrival order
    const direct: number[] = [];
    items.forEach((item, index) => {
      const event = item.event as { 'detail-type'?: string };
      out[index] = { function: item.functionName, detailType: event['detail-type'] ?? '', attempts: 0 };
      if (this.wiring.functions.find((f) => f.name === item.functionName)?.queue)
        queued.set(item.functionName, [...(queued.get(item.functionName) ?? []), index]);
      else direct.push(index);
    });
    const deliverOne = async (index: number) => {
      const { functionName, event } = items[index]!;
      const delivery = out[index]!;
      for (let attempt = 1; attempt <= (options.attempts ?? 3); attempt++) {
        delivery.attempts = attempt;
        try {
          delivery.result = await this.invoke(functionName, event);
          delete delivery.error;
          break;
        } catch (error) {
          delivery.error = describeError(error);
        }
      }
    };
    await Promise.all([
      inPool(direct, concurrency, deliverOne),
      ...[...queued].map(([functionName, indexes]) => this.runQueued(functionName, indexes, items, out, concurrency)),
    ]);
    return out;
  }

  /**
   * A queue-fed function's records, as its event source mapping hands them over: every record
   * waiting is taken in arrival order, in batches of the mapping's batch size (the batching window
   * is not waited: what a test delivered at once counts as gathered in one window), up to its
   * maximum concurrency at once. A record the function reports in `batchItemFailures`, or every
   * record of a batch whose invocation throws or names a record not in the batch ("Implementing
   * partial batch responses", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-errorhandling.html),
   * is received again, with the others that failed, until the queue's maxReceiveCount (then the
   * queue would move it to its dead-letter queue). Each record's Delivery holds its receives and
   * the answer of the last batch it was in.
   */
  private async runQueued(
    functionName: string,
    indexes: number[],
    items: Array<{ event: unknown }>,
    out: Delivery[],
    concurrency: number,
  ): Promise<void> {
    const queue = this.wiring.functions.find((f) => f.name === functionName)!.queue!;
    let pending = indexes;
    for (let receive = 1; receive <= queue.maxReceiveCount && pending.length > 0; receive++) {
      const batches: number[][] = [];
      for (let i = 0; i < pending.length; i += queue.batchSize) batches.push(pending.slice(i, i + queue.batchSize));
      const failed = new Set<number>();
      // A FIFO queue of one message group hands over one batch at a time ("Messages within the same message
      // group are always processed one at a time", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/using-messagegroupid-property.html).
      const atOnce = queue.fifo ? 1 : Math.min(concurrency, queue.maximumConcurrency ?? concurrency);
      await inPool(batches, atOnce, async (batch) => {
        const { result, error, failedIds, messageIds } = await this.runBatch(
          functionName,
          batch.map((i) => items[i]!.event),
          receive,
        );
        batch.forEach((index, k) => {
          const delivery = out[index]!;
          delivery.attempts = receive;
          delivery.result = result;
          if (error !== undefined || failedIds.has(messageIds[k]!)) {
            delivery.error = error ?? 'Error: the record was reported in batchItemFailures';
            failed.add(index);
          } else {
            delete delivery.error;
          }
        });
      });
      pending = pending.filter((i) => failed.has(i));
    }
  }

  /** One invocation of a queue-fed function with these events as one batch: its answer, or the error that fails every record. */
  private async runBatch(functionName: string, events: unknown[], receive: number) {
    const messageIds: string[] = events.map(() => randomUUID());
    try {
      const result = await this.invokePayload(functionName, sqsBatch(events, messageIds, receive));
      const reported = ((result as { batchItemFailures?: Array<{ itemIdentifier?: unknown }> } | undefined)?.batchItemFailures ?? []).map(
        (f) => f.itemIdentifier,
      );
      const invalid = reported.find((id) => typeof id !== 'string' || !messageIds.includes(id));
      if (invalid !== undefined)
        return {
          result,
          error: `Error: batchItemFailures names ${String(invalid)}, no record of the batch`,
          failedIds: new Set<string>(),
          messageIds,
        };
      return { result, error: undefined, failedIds: new Set(reported as string[]), messageIds };
    } catch (error) {
      return { result: undefined, error: describeError(error), failedIds: new Set<string>(), messageIds };
    }
  }

  /** Every message waiting in the queue, hidden from other receivers until deleted (or for 300 s). */
  private async receiveAll(url: string): Promise<Array<{ event: unknown; receipt: string }>> {
    const waiting: Array<{ event: unknown; receipt: string }> = [];
    while (true) {
      const { Messages = [] } = await this.sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0, VisibilityTimeout: 300 }),
      );
      if (Messages.length === 0) return waiting;
      waiting.push(...Messages.map((m) => ({ event: asDelivered(JSON.parse(m.Body!)), receipt: m.ReceiptHandle! })));
    }
  }

  /** Deletes received messages, ten per call (SQS's batch limit). */
  private async deleteAll(url: string, messages: Array<{ receipt: string }>): Promise<void> {
    for (let n = 0; n < messages.length; n += 10) {
      await this.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: url,
          Entries: messages.slice(n, n + 10).map((m, k) => ({ Id: String(k), ReceiptHandle: m.receipt })),
        }),
      );
    }
  }

  /** Every event the service has published to its bus so far (since the last reset), oldest first. */
  published(detailType?: string): ObservedEvent[] {
    const all = this.proxy.putEvents();
    return detailType ? all.filter((e) => e['detail-type'] === detailType) : all;
  }

  /**
   * Sends `EC2 AMI State Change` to the default bus for every image of the
   * account that reached available or failed since the last call, in the shape
   * EC2 sends it: once per image and state. An image the proxy still reports
   * pending (see setImagePending) is announced by a later call, once built.
   * moto emits no such events.
   */
  async announceImageStates(): Promise<number> {
    const { Images } = await this.ec2.send(new DescribeImagesCommand({ Owners: ['self'] }));
    const entries = (Images ?? [])
      .filter((i) => !this.proxy.isImagePending(i.ImageId!))
      .filter((i) => (i.State === 'available' || i.State === 'failed') && !this.announced.has(`${i.ImageId}:${i.State}`))
      .map((i) => {
        this.announced.add(`${i.ImageId}:${i.State}`);
        return {
          Source: 'aws.ec2',
          DetailType: 'EC2 AMI State Change',
          Resources: [`arn:aws:ec2:${region}::image/${i.ImageId}`],
          Detail: JSON.stringify({
            RequestId: randomUUID(),
            ImageId: i.ImageId,
            State: i.State,
            ErrorMessage: i.StateReason?.Message ?? '',
          }),
        };
      });
    for (let i = 0; i < entries.length; i += 10) {
      await this.events.send(new PutEventsCommand({ Entries: entries.slice(i, i + 10) }));
    }
    return entries.length;
  }

  /** Sends any event to a bus, as AWS or another producer would. */
  async putEvent(entry: { source: string; detailType: string; detail: unknown; bus?: string }): Promise<void> {
    await this.events.send(
      new PutEventsCommand({
        Entries: [{ Source: entry.source, DetailType: entry.detailType, Detail: JSON.stringify(entry.detail), EventBusName: entry.bus }],
      }),
    );
  }

  /** Launches `count` instances with the given tags (moto launches them running); `more` adds any RunInstances field. */
  async launch(count: number, tags: Record<string, string>, more: Partial<RunInstancesCommandInput> = {}): Promise<string[]> {
    const Tags: Tag[] = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    const { Instances } = await this.ec2.send(
      new RunInstancesCommand({
        ImageId: MOTO_BASE_AMI,
        InstanceType: 't3.micro',
        MinCount: count,
        MaxCount: count,
        ...(Tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'instance', Tags }] } : {}),
        ...more,
      }),
    );
    return (Instances ?? []).map((i) => i.InstanceId!);
  }

  /**
   * Stops or terminates an instance the way a failure would: with `reason` as its
   * StateReason (default: AWS's own Server.InternalError; pass
   * Client.UserInitiatedShutdown for a person), then announces the state change.
   */
  async failInstance(instanceId: string, state: 'stopped' | 'terminated', reason = 'Server.InternalError'): Promise<void> {
    await this.breakInstance(instanceId, state, reason);
    await this.announceInstanceState(instanceId, state);
  }

  /**
   * Stops or terminates an instance the way a failure would (`reason` as its
   * StateReason), announcing nothing: announceInstanceStates() then reports the
   * change, as EC2 would.
   */
  async breakInstance(instanceId: string, state: 'stopped' | 'terminated', reason = 'Server.InternalError'): Promise<void> {
    this.proxy.setStateReason(instanceId, reason);
    await this.ec2.send(
      state === 'stopped'
        ? new StopInstancesCommand({ InstanceIds: [instanceId] })
        : new TerminateInstancesCommand({ InstanceIds: [instanceId] }),
    );
  }

  /**
   * Sends `EC2 Instance State-change Notification` to the default bus for every
   * instance of the account whose state differs from the one seen by the last
   * call (an instance not seen before counts as changed: EC2 announced its
   * launch), in the shape EC2 sends it, and returns the changes. moto emits no
   * such events. Announcements made by hand (announceInstanceState, failInstance)
   * are not remembered: a change announced that way is announced again here, as
   * an at-least-once delivery may.
   */
  async announceInstanceStates(): Promise<InstanceStateChange[]> {
    const changes: InstanceStateChange[] = [];
    for await (const page of paginateDescribeInstances({ client: this.ec2 }, { MaxResults: 1000 })) {
      for (const instance of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
        const instanceId = instance.InstanceId!;
        const state = instance.State?.Name ?? 'unknown';
        const previous = this.instanceStates.get(instanceId);
        if (previous === state) continue;
        this.instanceStates.set(instanceId, state);
        changes.push({ instanceId, state, previous });
      }
    }
    for (let i = 0; i < changes.length; i += 10) {
      await this.events.send(
        new PutEventsCommand({ Entries: changes.slice(i, i + 10).map((c) => instanceStateEntry(c.instanceId, c.state)) }),
      );
    }
    return changes;
  }

  /** Sends `EC2 Instance State-change Notification` to the default bus, in the shape EC2 sends it. moto emits none. */
  /** The instances carrying this tag value, in any state EC2 still lists, read straight from moto. */
  async instancesTagged(tag: string, value: string): Promise<Instance[]> {
    const { Reservations = [] } = await this.ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: `tag:${tag}`, Values: [value] }] }));
    return Reservations.flatMap((r) => r.Instances ?? []);
  }

  /** The replacements recovery launched for an instance: those whose `ami-lifecycle:replaces` names it. */
  replacementsOf(failedId: string): Promise<Instance[]> {
    return this.instancesTagged('ami-lifecycle:replaces', failedId);
  }

  async announceInstanceState(instanceId: string, state: string): Promise<void> {
    await this.events.send(new PutEventsCommand({ Entries: [instanceStateEntry(instanceId, state)] }));
  }
}

/** A schedule as it was last written: its ARN and its last modification. */
function scheduleVersion(schedule: GetScheduleCommandOutput): string {
  return `${schedule.Arn}@${schedule.LastModificationDate?.getTime() ?? ''}`;
}

/** A schedule's target input as Scheduler hands it over: its context attributes filled in. */
function scheduleInput(schedule: GetScheduleCommandOutput, at: Date, attempt: number): string {
  return (schedule.Target?.Input ?? '{}')
    .replaceAll('<aws.scheduler.schedule-arn>', schedule.Arn ?? '')
    .replaceAll('<aws.scheduler.scheduled-time>', at.toISOString().replace(/\.\d{3}Z$/, 'Z'))
    .replaceAll('<aws.scheduler.execution-id>', randomUUID().replaceAll('-', '').slice(0, 16))
    .replaceAll('<aws.scheduler.attempt-number>', String(attempt));
}

/** What Lambda hands a function fed by an SQS queue: one record per event, its body the event as EventBridge puts it there. */
function sqsBatch(events: unknown[], messageIds: string[] = events.map(() => randomUUID()), receiveCount = 1) {
  return {
    Records: events.map((event, k) => ({
      messageId: messageIds[k]!,
      receiptHandle: randomUUID(),
      body: JSON.stringify(event),
      attributes: { ApproximateReceiveCount: String(receiveCount), SentTimestamp: String(Date.now()) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${region}:${MOTO_ACCOUNT}:queue`,
      awsRegion: region,
    })),
  };
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Runs `work` on every item, at most `width` at once. */
async function inPool<T>(list: T[], width: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < list.length) await work(list[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(width, 1), list.length) }, worker));
}

/** `EC2 Instance State-change Notification` as a PutEvents entry, in the shape EC2 sends it. */
function instanceStateEntry(instanceId: string, state: string) {
  return {
    Source: 'aws.ec2',
    DetailType: 'EC2 Instance State-change Notification',
    Resources: [`arn:aws:ec2:${region}:${MOTO_ACCOUNT}:instance/${instanceId}`],
    Detail: JSON.stringify({ 'instance-id': instanceId, state }),
  };
}

/** The event as EventBridge delivers it to Lambda, without moto's internal ingestion time. */
function asDelivered(event: Record<string, unknown>): Record<string, unknown> {
  const { 'ingestion-time': _ignored, ...delivered } = event;
  return delivered;
}

async function loadHandler(fn: FunctionWiring): Promise<LambdaHandler> {
  const module = (await import(pathToFileURL(resolve(PROJECT_ROOT, fn.file)).href)) as Record<string, unknown>;
  const handler = module[fn.exportName];
  if (typeof handler !== 'function') throw new Error(`${fn.file} does not export ${fn.exportName}`);
  return handler as LambdaHandler;
}
