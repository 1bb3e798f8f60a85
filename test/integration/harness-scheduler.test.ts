/**
 * The harness's support for what recovery's re-checks use: the proxy names rest-json actions
 * (Scheduler, Lambda), so they are counted, checked against AWS's API model and evaluated by IAM;
 * EventBridge Scheduler's one-time schedules, checked as AWS checks them and fired on the
 * harness's clock (LocalCloud.fireDueSchedules); IAM for the Scheduler calls (iam:PassRole of the
 * execution role) and for ec2:DescribeInstanceStatus and ec2:RebootInstances; instance status
 * checks a test stages (proxy.setInstanceStatus).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DescribeInstanceStatusCommand,
  type DescribeInstanceStatusCommandInput,
  EC2Client,
  RebootInstancesCommand,
  StopInstancesCommand,
} from '@aws-sdk/client-ec2';
import { LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import {
  CreateScheduleCommand,
  DeleteScheduleCommand,
  GetScheduleCommand,
  ListSchedulesCommand,
  SchedulerClient,
  UpdateScheduleCommand,
  type CreateScheduleCommandInput,
} from '@aws-sdk/client-scheduler';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import type { Template } from '../infra/template-rules.js';

const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const ACCOUNT = '123456789012';
const SCHEDULER_ROLE = `arn:aws:iam::${ACCOUNT}:role/ami-lifecycle-dev-recheck-scheduler`;
const DLQ = `arn:aws:sqs:us-east-1:${ACCOUNT}:ami-lifecycle-dev-recover-dlq`;

const cloud = cloudPerFile();

/** A client of the service at the proxy (what the functions use), or straight to moto. */
function client<C>(make: new (config: object) => C, endpoint = cloud.proxy.endpoint): C {
  return new make({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
}

/** The ARN of a function of serverless.yml, as deployed. */
const functionArn = (fn: string) => `arn:aws:lambda:us-east-1:${ACCOUNT}:function:${cloud.wiring.service}-${cloud.wiring.stage}-${fn}`;

/** A one-time schedule as recovery writes one: UTC, no window, deleted once it ran. */
function oneTime(name: string, at: string, target: { fn: string; input: unknown }, more: Partial<CreateScheduleCommandInput> = {}) {
  return new CreateScheduleCommand({
    Name: name,
    GroupName: 'default',
    ScheduleExpression: `at(${at})`,
    ScheduleExpressionTimezone: 'UTC',
    FlexibleTimeWindow: { Mode: 'OFF' },
    ActionAfterCompletion: 'DELETE',
    Target: {
      Arn: functionArn(target.fn),
      RoleArn: SCHEDULER_ROLE,
      Input: JSON.stringify(target.input),
      RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 3600 },
      DeadLetterConfig: { Arn: DLQ },
    },
    ...more,
  });
}

async function refusal(call: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await call;
  } catch (error) {
    const e = error as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the call to be refused');
}

/** The names of the schedules moto holds. */
async function scheduleNames(): Promise<string[]> {
  const scheduler = client(SchedulerClient, cloud.moto.endpoint);
  try {
    const { Schedules = [] } = await scheduler.send(new ListSchedulesCommand({}));
    return Schedules.map((s) => s.Name!).sort();
  } finally {
    scheduler.destroy();
  }
}

describe('the proxy names rest-json actions', () => {
  it('counts Scheduler and Lambda calls by action, checks them against the API model, and leaves moto-api uncounted', async () => {
    // Prepare
    const scheduler = client(SchedulerClient);
    const lambda = client(LambdaClient);
    cloud.proxy.resetCalls();
    cloud.expectApiViolations([
      { service: 'scheduler', action: 'UpdateSchedule', member: 'Name', rule: 'pattern', code: 'ValidationException' },
      { service: 'scheduler', action: 'GetSchedule', member: 'Name', rule: 'length', code: 'ValidationException' },
    ]);

    // Act
    await scheduler.send(oneTime('named', '2030-01-01T00:00:00', { fn: 'rotate', input: {} }));
    await scheduler.send(new GetScheduleCommand({ Name: 'named' }));
    await lambda.send(new ListFunctionsCommand({}));
    const badUpdate = await refusal(
      scheduler.send(
        new UpdateScheduleCommand({
          Name: 'bad name!',
          ScheduleExpression: 'at(2030-01-01T00:00:00)',
          FlexibleTimeWindow: { Mode: 'OFF' },
          Target: { Arn: functionArn('rotate'), RoleArn: SCHEDULER_ROLE },
        }),
      ),
    );
    const tooLong = await refusal(scheduler.send(new GetScheduleCommand({ Name: 'x'.repeat(65) })));
    await fetch(`${cloud.proxy.endpoint}/moto-api/data.json`);

    // Assess: each call named by its operation; the refused ones never reached moto
    expect(cloud.proxy.calls()).toEqual({ CreateSchedule: 1, GetSchedule: 2, ListFunctions: 1, UpdateSchedule: 1 });
    expect(badUpdate).toMatchObject({ name: 'ValidationException', status: 400 });
    expect(tooLong.message).toMatch(/Member must have length less than or equal to 64/);
    expect(cloud.proxy.apiRequestsChecked()).toBe(5);
    expect(
      Object.keys(cloud.proxy.upstreamMs())
        .filter((a) => a !== '(none)')
        .sort(),
    ).toEqual(['CreateSchedule', 'GetSchedule', 'ListFunctions']);
    scheduler.destroy();
    lambda.destroy();
  });
});

describe('EventBridge Scheduler one-time schedules', () => {
  it('refuses an at() expression AWS refuses, as AWS does, and accepts a real time, past ones included', async () => {
    // Prepare
    const scheduler = client(SchedulerClient);
    const target = { fn: 'rotate', input: { trigger: 'manual', dryRun: true } };

    // Act
    const refused = await Promise.all(
      [
        'at(2026-02-30T03:00:00)',
        'at(2026-11-26T03:00)',
        'at(2026-11-26T03:00:00Z)',
        'at(2026-11-26 03:00:00)',
        'at(2026-11-26T24:00:00)',
        'tomorrow',
      ].map((expression, i) =>
        refusal(scheduler.send(oneTime(`refused-${i}`, '2026-11-26T03:00:00', target, { ScheduleExpression: expression }))),
      ),
    );
    const update = await refusal(
      scheduler.send(
        new UpdateScheduleCommand({
          Name: 'refused-0',
          ScheduleExpression: 'at(2026-13-01T00:00:00)',
          FlexibleTimeWindow: { Mode: 'OFF' },
          Target: { Arn: functionArn('rotate'), RoleArn: SCHEDULER_ROLE },
        }),
      ),
    );
    await scheduler.send(oneTime('leap-day', '2028-02-29T23:59:59', target));
    await scheduler.send(oneTime('in-the-past', '2020-01-01T00:00:00', target));
    await scheduler.send(oneTime('recurring', '2026-11-26T03:00:00', target, { ScheduleExpression: 'cron(0 3 ? * MON-FRI *)' }));
    await scheduler.send(oneTime('every-hour', '2026-11-26T03:00:00', target, { ScheduleExpression: 'rate(1 hour)' }));

    // Assess
    expect(refused.map((r) => [r.name, r.status])).toEqual(Array(6).fill(['ValidationException', 400]));
    expect(refused[0]!.message).toBe('Invalid Schedule Expression at(2026-02-30T03:00:00)');
    expect(update).toMatchObject({ name: 'ValidationException', message: 'Invalid Schedule Expression at(2026-13-01T00:00:00)' });
    expect(await scheduleNames()).toEqual(['every-hour', 'in-the-past', 'leap-day', 'recurring']);
    scheduler.destroy();
  });

  it('UpdateSchedule sets what it omits to the defaults, as AWS does: ENABLED, ActionAfterCompletion NONE', async () => {
    // Prepare: a disabled schedule deleted after completion
    const scheduler = client(SchedulerClient);
    await scheduler.send(oneTime('updated', '2030-01-01T00:00:00', { fn: 'rotate', input: {} }, { State: 'DISABLED' }));

    // Act
    await scheduler.send(
      new UpdateScheduleCommand({
        Name: 'updated',
        ScheduleExpression: 'at(2030-01-02T00:00:00)',
        FlexibleTimeWindow: { Mode: 'OFF' },
        Target: { Arn: functionArn('rotate'), RoleArn: SCHEDULER_ROLE },
      }),
    );
    await scheduler.send(
      new CreateScheduleCommand({
        ...oneTime('plain', '2030-01-01T00:00:00', { fn: 'rotate', input: {} }).input,
        ActionAfterCompletion: undefined,
      }),
    );

    // Assess
    expect(await scheduler.send(new GetScheduleCommand({ Name: 'updated' }))).toMatchObject({
      State: 'ENABLED',
      ActionAfterCompletion: 'NONE',
      ScheduleExpression: 'at(2030-01-02T00:00:00)',
    });
    expect((await scheduler.send(new GetScheduleCommand({ Name: 'plain' }))).ActionAfterCompletion).toBe('NONE');
    scheduler.destroy();
  });

  it('fires the due ones in time order with their Input, on the harness clock, then deletes them; nothing else', async () => {
    // Prepare: a nightly run and two dry rotations due (one in Paris time); one later, one disabled, one recurring
    const scheduler = client(SchedulerClient);
    const [web] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly' });
    const dryRotation = { fn: 'rotate', input: { trigger: 'manual', dryRun: true } };
    const nightly = { schedule: 'nightly', period: 'day', timeZone: 'UTC', scheduledTime: '<aws.scheduler.scheduled-time>' };
    await scheduler.send(oneTime('second', '2026-11-27T00:20:00', dryRotation));
    await scheduler.send(oneTime('first', '2026-11-27T00:05:00', { fn: 'schedule', input: nightly }));
    await scheduler.send(oneTime('later', '2026-11-27T01:00:00', dryRotation));
    await scheduler.send(oneTime('disabled', '2026-11-27T00:00:00', dryRotation, { State: 'DISABLED' }));
    await scheduler.send(oneTime('recurring', '2026-11-27T00:00:00', dryRotation, { ScheduleExpression: 'cron(* * * * ? *)' }));
    // 01:10 in Paris is 00:10 UTC in November
    await scheduler.send(oneTime('paris', '2026-11-27T01:10:00', dryRotation, { ScheduleExpressionTimezone: 'Europe/Paris' }));
    cloud.proxy.resetCalls();
    const clockAtInvocation: Array<string | undefined> = [];
    const original = cloud.invokePayload.bind(cloud);
    cloud.invokePayload = async (name, payload) => {
      clockAtInvocation.push(cloud.simulatedTime()?.toISOString());
      return original(name, payload);
    };

    try {
      // Act
      const firings = await cloud.fireDueSchedules(new Date('2026-11-27T00:30:00Z'));

      // Assess: in time order, each invoked once with its Input, on the harness clock
      expect(firings.map((f) => [f.schedule, f.function, f.at.toISOString(), f.attempts, f.deleted, f.error])).toEqual([
        ['first', 'schedule', '2026-11-27T00:05:00.000Z', 1, true, undefined],
        ['paris', 'rotate', '2026-11-27T00:10:00.000Z', 1, true, undefined],
        ['second', 'rotate', '2026-11-27T00:20:00.000Z', 1, true, undefined],
      ]);
      expect(clockAtInvocation).toEqual(['2026-11-27T00:05:00.000Z', '2026-11-27T00:10:00.000Z', '2026-11-27T00:20:00.000Z']);
      expect(cloud.simulatedTime()).toBeUndefined();
      // The scheduled time filled in: the night of the 27th, one bake requested for web
      expect(firings[0]!.result).toMatchObject({ slot: '2026-11-27', bakeRequested: 1 });
      expect(cloud.published('BakeRequested').map((e) => e.detail.instanceId)).toEqual([web]);
      expect(firings[1]!.result).toMatchObject({ dryRun: true });
      expect(await scheduleNames()).toEqual(['disabled', 'later', 'recurring']);
      // The harness's reads and deletions went straight to moto: only the functions' calls were counted
      expect(Object.keys(cloud.proxy.calls()).filter((a) => /Schedule/.test(a))).toEqual([]);
      expect(await cloud.fireDueSchedules(new Date('2026-11-27T00:59:59Z'))).toEqual([]);
    } finally {
      cloud.invokePayload = original;
      scheduler.destroy();
    }
  });

  it('keeps a schedule with ActionAfterCompletion NONE, fires it once only, and retries a failing invocation', async () => {
    // Prepare: the first invocation crashes at its first call
    const scheduler = client(SchedulerClient);
    await scheduler.send(
      oneTime(
        'kept',
        '2026-11-26T03:05:00',
        { fn: 'rotate', input: { trigger: 'manual', dryRun: true } },
        { ActionAfterCompletion: 'NONE' },
      ),
    );
    cloud.proxy.crashAfter({ after: 0 });
    let invoked = 0;
    const original = cloud.invokePayload.bind(cloud);
    cloud.invokePayload = async (name, payload) => {
      if (++invoked === 2) cloud.proxy.disarmCrash();
      return original(name, payload);
    };

    try {
      // Act
      const [firing, ...more] = await cloud.fireDueSchedules(new Date('2026-11-26T04:00:00Z'));
      const again = await cloud.fireDueSchedules(new Date('2026-11-27T04:00:00Z'));

      // Assess: the second attempt ran it; it stays, and does not fire again
      expect(more).toEqual([]);
      expect(firing).toMatchObject({ schedule: 'kept', attempts: 2, deleted: false, result: { dryRun: true } });
      expect(firing!.error).toBeUndefined();
      expect(invoked).toBe(2);
      expect(again).toEqual([]);
      expect(await scheduleNames()).toEqual(['kept']);
    } finally {
      cloud.invokePayload = original;
      scheduler.destroy();
    }
  });

  it('reports an invocation that failed every attempt, and still deletes the schedule', async () => {
    // Prepare
    const scheduler = client(SchedulerClient);
    await scheduler.send(oneTime('failing', '2026-11-26T03:05:00', { fn: 'rotate', input: { trigger: 'manual', dryRun: true } }));
    cloud.proxy.crashAfter({ after: 0 });

    // Act
    const [firing] = await cloud.fireDueSchedules(new Date('2026-11-26T04:00:00Z'), { attempts: 2 });

    // Assess
    expect(firing).toMatchObject({ schedule: 'failing', attempts: 2, deleted: true });
    expect(firing!.error).toMatch(/HarnessProcessCrashed/);
    expect(await scheduleNames()).toEqual([]);
    scheduler.destroy();
  });
});

/** The function's role has only these statements from now on (its inline policies and any policy resource naming it). */
function onlyStatements(role: string, statements: Array<Record<string, unknown>>) {
  return (t: Template) => {
    t.Resources[role]!.Properties!.Policies = [{ PolicyName: 'only', PolicyDocument: { Version: '2012-10-17', Statement: statements } }];
    for (const [id, resource] of Object.entries(t.Resources)) {
      const roles = resource.Properties?.Roles as Array<{ Ref?: string }> | undefined;
      if (resource.Type === 'AWS::IAM::Policy' && roles?.some((r) => r.Ref === role)) delete t.Resources[id];
    }
  };
}

const SCHEDULES = `arn:aws:scheduler:us-east-1:${ACCOUNT}:schedule/default/*`;

describe('IAM for the calls of recovery re-checks', () => {
  let before = 0;
  beforeEach(() => {
    before = cloud.denials().length;
  });
  afterEach(async () => cloud.useTemplate());

  it('CreateSchedule passes the execution role to Scheduler: refused without iam:PassRole for scheduler.amazonaws.com', async () => {
    // Prepare: recover may create schedules, and pass roles to EC2 only; later also to Scheduler
    const createSchedules = { Effect: 'Allow', Action: ['scheduler:CreateSchedule', 'scheduler:GetSchedule'], Resource: SCHEDULES };
    const passToEc2 = {
      Effect: 'Allow',
      Action: 'iam:PassRole',
      Resource: SCHEDULER_ROLE,
      Condition: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    };
    await cloud.useTemplate(onlyStatements('RecoverRole', [createSchedules, passToEc2]));
    const scheduler = client(SchedulerClient);
    cloud.expectDenials(1);

    // Act
    const refused = await refusal(
      cloud.asFunction('recover', () => scheduler.send(oneTime('recheck', '2030-01-01T00:00:00', { fn: 'recover', input: {} }))),
    );
    await cloud.useTemplate(
      onlyStatements('RecoverRole', [
        createSchedules,
        { ...passToEc2, Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } } },
      ]),
    );
    await cloud.asFunction('recover', () => scheduler.send(oneTime('recheck', '2030-01-01T00:00:00', { fn: 'recover', input: {} })));

    // Assess: refused as rest-json services refuse, on the role, on the caller's behalf; then created
    expect(refused.name).toBe('AccessDeniedException');
    expect(refused.message).toMatch(
      /^User: arn:aws:sts::123456789012:assumed-role\/ami-lifecycle-dev-RecoverRole-\w+\/ami-lifecycle-dev-recover is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role\/ami-lifecycle-dev-recheck-scheduler because no identity-based policy allows the iam:PassRole action$/,
    );
    expect(cloud.denials().slice(before)).toEqual([
      expect.objectContaining({
        function: 'ami-lifecycle-dev-recover',
        call: 'scheduler:CreateSchedule',
        action: 'iam:PassRole',
        resource: SCHEDULER_ROLE,
        context: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
      }),
    ]);
    expect(await scheduleNames()).toEqual(['recheck']);
    scheduler.destroy();
  });

  it('evaluates Get, Update and Delete on the schedule of the group named (default when none is)', async () => {
    // Prepare: recover may touch schedules of another group only
    await cloud.useTemplate(
      onlyStatements('RecoverRole', [
        { Effect: 'Allow', Action: 'scheduler:*', Resource: `arn:aws:scheduler:us-east-1:${ACCOUNT}:schedule/recovery/*` },
        { Effect: 'Allow', Action: 'iam:PassRole', Resource: '*' },
      ]),
    );
    const scheduler = client(SchedulerClient);
    await scheduler.send(oneTime('recheck', '2030-01-01T00:00:00', { fn: 'recover', input: {} }));
    cloud.expectDenials(3);

    // Act
    const asRecover = (send: () => Promise<unknown>) => refusal(cloud.asFunction('recover', send));
    await asRecover(() => scheduler.send(new GetScheduleCommand({ Name: 'recheck' })));
    await asRecover(() =>
      scheduler.send(
        new UpdateScheduleCommand({
          Name: 'recheck',
          ScheduleExpression: 'at(2030-01-01T00:10:00)',
          FlexibleTimeWindow: { Mode: 'OFF' },
          Target: { Arn: functionArn('recover'), RoleArn: SCHEDULER_ROLE },
        }),
      ),
    );
    await asRecover(() => scheduler.send(new DeleteScheduleCommand({ Name: 'recheck', GroupName: 'default' })));

    // Assess
    expect(
      cloud
        .denials()
        .slice(before)
        .map((d) => [d.action, d.resource]),
    ).toEqual([
      ['scheduler:GetSchedule', `arn:aws:scheduler:us-east-1:${ACCOUNT}:schedule/default/recheck`],
      ['scheduler:UpdateSchedule', `arn:aws:scheduler:us-east-1:${ACCOUNT}:schedule/default/recheck`],
      ['scheduler:DeleteSchedule', `arn:aws:scheduler:us-east-1:${ACCOUNT}:schedule/default/recheck`],
    ]);
    expect(await scheduleNames()).toEqual(['recheck']);
    scheduler.destroy();
  });

  it('evaluates ec2:DescribeInstanceStatus (any resource) and ec2:RebootInstances (the instance)', async () => {
    // Prepare: recover may read statuses, and reboot nothing
    const [instanceId] = await cloud.launch(1, { 'ami-lifecycle:recover': 'on-failure' });
    await cloud.useTemplate(onlyStatements('RecoverRole', [{ Effect: 'Allow', Action: 'ec2:DescribeInstanceStatus', Resource: '*' }]));
    const ec2 = client(EC2Client);
    cloud.expectDenials(2);

    // Act
    const { InstanceStatuses = [] } = await cloud.asFunction('recover', () =>
      ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId!] })),
    );
    const refused = await refusal(cloud.asFunction('recover', () => ec2.send(new RebootInstancesCommand({ InstanceIds: [instanceId!] }))));
    await cloud.useTemplate(onlyStatements('RecoverRole', [{ Effect: 'Allow', Action: 'ec2:RebootInstances', Resource: '*' }]));
    const unread = await refusal(
      cloud.asFunction('recover', () => ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [instanceId!] }))),
    );

    // Assess
    expect(InstanceStatuses.map((s) => s.InstanceId)).toEqual([instanceId]);
    expect(refused).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    expect(unread).toMatchObject({ name: 'UnauthorizedOperation', status: 403 });
    expect(
      cloud
        .denials()
        .slice(before)
        .map((d) => [d.action, d.resource, d.context['ec2:Region']]),
    ).toEqual([
      ['ec2:RebootInstances', `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/${instanceId}`, 'us-east-1'],
      ['ec2:DescribeInstanceStatus', '*', 'us-east-1'],
    ]);
    ec2.destroy();
  });
});

describe('instance status checks a test stages', () => {
  it('reports the staged checks of a running instance as EC2 shapes them; moto alone says ok', async () => {
    // Prepare
    const [web, db] = await cloud.launch(2, {});
    const ec2 = client(EC2Client);
    const status = async (id: string) => (await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [id] }))).InstanceStatuses?.[0];
    cloud.setClock(new Date('2026-11-26T03:02:00Z'));

    // Act
    cloud.proxy.setInstanceStatus(web!, { instance: 'impaired' });
    const impaired = await status(web!);
    cloud.setClock(new Date('2026-11-26T03:04:00Z'));
    cloud.proxy.setInstanceStatus(web!, { instance: 'impaired', system: 'initializing' });
    const both = await status(web!);
    const straight = (await cloud.ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [web!] }))).InstanceStatuses?.[0];

    // Assess
    expect(impaired).toMatchObject({
      InstanceId: web,
      InstanceState: { Name: 'running' },
      InstanceStatus: {
        Status: 'impaired',
        Details: [{ Name: 'reachability', Status: 'failed', ImpairedSince: new Date('2026-11-26T03:02:00Z') }],
      },
      SystemStatus: { Status: 'ok', Details: [{ Name: 'reachability', Status: 'passed' }] },
    });
    // Still impaired since 03:02; the system check initializing
    expect(both?.InstanceStatus?.Details?.[0]?.ImpairedSince).toEqual(new Date('2026-11-26T03:02:00Z'));
    expect(both?.SystemStatus).toEqual({ Status: 'initializing', Details: [{ Name: 'reachability', Status: 'initializing' }] });
    expect(await status(db!)).toMatchObject({ InstanceStatus: { Status: 'ok' }, SystemStatus: { Status: 'ok' } });
    expect(straight?.InstanceStatus?.Status).toBe('ok');

    // Act / Assess: cleared, moto's ok again
    cloud.proxy.clearInstanceStatus(web);
    expect((await status(web!))?.InstanceStatus).toEqual({ Status: 'ok', Details: [{ Name: 'reachability', Status: 'passed' }] });
    ec2.destroy();
  });

  it('filters on the checks as reported, and describes an instance not running only with IncludeAllInstances', async () => {
    // Prepare: web's instance check fails, db's host fails, cache is stopped (a staged status does not apply to it)
    const [web, db, cache] = await cloud.launch(3, {});
    cloud.proxy.setInstanceStatus(web!, { instance: 'impaired' });
    cloud.proxy.setInstanceStatus(db!, { system: 'impaired' });
    cloud.proxy.setInstanceStatus(cache!, { instance: 'impaired' });
    await cloud.ec2.send(new StopInstancesCommand({ InstanceIds: [cache!] }));
    const ec2 = client(EC2Client);
    const ids = async (input: DescribeInstanceStatusCommandInput) =>
      ((await ec2.send(new DescribeInstanceStatusCommand(input))).InstanceStatuses ?? []).map((s) => s.InstanceId).sort();

    // Act / Assess
    expect(await ids({ Filters: [{ Name: 'instance-status.status', Values: ['impaired'] }] })).toEqual([web]);
    expect(await ids({ Filters: [{ Name: 'system-status.reachability', Values: ['failed'] }] })).toEqual([db]);
    expect(await ids({ Filters: [{ Name: 'instance-status.status', Values: ['ok', 'impaired'] }] })).toEqual([web, db].sort());
    expect(await ids({ Filters: [{ Name: 'event.code', Values: ['instance-reboot'] }] })).toEqual([]);
    expect(await ids({ InstanceIds: [cache!] })).toEqual([]);
    const all = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [cache!], IncludeAllInstances: true }));
    expect(all.InstanceStatuses).toMatchObject([
      {
        InstanceId: cache,
        InstanceState: { Name: 'stopped' },
        InstanceStatus: { Status: 'not-applicable' },
        SystemStatus: { Status: 'not-applicable' },
      },
    ]);
    expect(await ids({ IncludeAllInstances: true, Filters: [{ Name: 'instance-status.status', Values: ['not-applicable'] }] })).toEqual([
      cache,
    ]);
    ec2.destroy();
  });

  it("forgets what was staged when the proxy forgets moto's state (a reset)", async () => {
    // Prepare
    const [web] = await cloud.launch(1, {});
    cloud.proxy.setInstanceStatus(web!, { system: 'impaired' });
    const ec2 = client(EC2Client);

    // Act
    cloud.proxy.resetState();
    const { InstanceStatuses = [] } = await ec2.send(new DescribeInstanceStatusCommand({ InstanceIds: [web!] }));

    // Assess
    expect(InstanceStatuses.map((s) => [s.InstanceId, s.SystemStatus?.Status])).toEqual([[web, 'ok']]);
    ec2.destroy();
  });
});
