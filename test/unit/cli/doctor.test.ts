/**
 * `ami-lifecycle doctor` against a mocked account (aws-sdk-client-mock): each check's pass and
 * each way it fails, the exit codes, and the calls it makes (read only, the needs simulated as
 * AWS builds them at run time).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { allCustomMatcher } from 'aws-sdk-client-mock-vitest';
import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import {
  EC2Client,
  GetEbsDefaultKmsKeyIdCommand,
  GetEbsEncryptionByDefaultCommand,
  GetImageBlockPublicAccessStateCommand,
} from '@aws-sdk/client-ec2';
import { DescribeRuleCommand, EventBridgeClient, type DescribeRuleCommandInput } from '@aws-sdk/client-eventbridge';
import {
  IAMClient,
  SimulatePrincipalPolicyCommand,
  type EvaluationResult,
  type SimulatePrincipalPolicyCommandInput,
} from '@aws-sdk/client-iam';
import {
  GetAccountSettingsCommand,
  GetFunctionConcurrencyCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
  type GetFunctionConfigurationCommandInput,
} from '@aws-sdk/client-lambda';
import { GetScheduleCommand, SchedulerClient, type GetScheduleCommandInput } from '@aws-sdk/client-scheduler';
import { GetQueueAttributesCommand, GetQueueUrlCommand, SQSClient, type GetQueueUrlCommandInput } from '@aws-sdk/client-sqs';
import { doctorExitCode, doctorSettings, doctorText, runDoctor, type CheckResult, type DoctorReport } from '../../../cli/doctor/doctor.js';
import { FUNCTION_KEYS, NEEDS } from '../../../cli/doctor/needs.js';
import { main } from '../../../cli/main.js';
import { readServerless } from '../../../cli/serverless-config.js';
import { DeploymentGateway } from '../../../shared/aws/deployment-gateway.js';

expect.extend(allCustomMatcher);

const REGION = 'us-east-1';
const ACCOUNT = '111122223333';
const STACK = 'ami-lifecycle-dev';
const MANAGED_BY = 'ami-lifecycle-dev';
const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const BAKE_QUEUE = `arn:aws:sqs:${REGION}:${ACCOUNT}:${STACK}-bake`;
const IMAGE_STATE_QUEUE = `arn:aws:sqs:${REGION}:${ACCOUNT}:${STACK}-imageState`;
/** Issue 17: the copy function's FIFO queue (one batch at a time: no maximum concurrency of its own). */
const COPY_QUEUE = `arn:aws:sqs:${REGION}:${ACCOUNT}:${STACK}-copy.fifo`;

const cfn = mockClient(CloudFormationClient);
const iam = mockClient(IAMClient);
const lambda = mockClient(LambdaClient);
const ec2 = mockClient(EC2Client);
const events = mockClient(EventBridgeClient);
const scheduler = mockClient(SchedulerClient);
const sqs = mockClient(SQSClient);

const settings = doctorSettings(readServerless({ stage: 'dev' }), REGION);

/** Doctor's gateway over fresh clients, answered by the mocks. */
function deployment(): DeploymentGateway {
  const config = { region: REGION, maxAttempts: 1 };
  return new DeploymentGateway({
    cloudFormation: new CloudFormationClient(config),
    iam: new IAMClient(config),
    lambda: new LambdaClient(config),
    ec2: new EC2Client(config),
    events: new EventBridgeClient(config),
    scheduler: new SchedulerClient(config),
    sqs: new SQSClient(config),
  });
}

const logicalId = (fn: string) => `${fn[0]!.toUpperCase()}${fn.slice(1)}LambdaFunction`;
const roleOf = (fn: string) => `arn:aws:iam::${ACCOUNT}:role/${STACK}-${fn[0]!.toUpperCase()}${fn.slice(1)}Role-1A2B3C`;
const awsError = (name: string, message = `${name}: refused`, status = 400) =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

/** IAM's answer, as SimulatePrincipalPolicy gives it for one action and one resource. */
const answer = (
  input: SimulatePrincipalPolicyCommandInput,
  decision: EvaluationResult['EvalDecision'],
  more: Partial<EvaluationResult> = {},
) => ({
  EvaluationResults: [{ EvalActionName: input.ActionNames![0], EvalResourceName: input.ResourceArns![0], EvalDecision: decision, ...more }],
});

/** What doctor asked IAM, one simulation per need. */
let simulated: SimulatePrincipalPolicyCommandInput[] = [];

/** A healthy deployment in a healthy account: every check passes. */
function healthyAccount(): void {
  cfn.on(DescribeStacksCommand).resolves({
    Stacks: [
      {
        StackName: STACK,
        StackStatus: 'CREATE_COMPLETE',
        StackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${STACK}/abc`,
        CreationTime: new Date(),
      },
    ],
  });
  cfn.on(ListStackResourcesCommand).resolves({
    StackResourceSummaries: FUNCTION_KEYS.map((fn) => ({
      LogicalResourceId: logicalId(fn),
      PhysicalResourceId: `${STACK}-${fn}`,
      ResourceType: 'AWS::Lambda::Function',
      ResourceStatus: 'CREATE_COMPLETE',
      LastUpdatedTimestamp: new Date(),
    })),
  });
  lambda.on(GetFunctionConfigurationCommand).callsFake((input: GetFunctionConfigurationCommandInput) => {
    const fn = input.FunctionName!.slice(STACK.length + 1);
    return {
      FunctionName: input.FunctionName,
      Role: roleOf(fn),
      Environment: { Variables: { MANAGED_BY, EVENT_BUS_NAME: STACK, RECOVERY_TERMINATE_REPLACED: 'false', ...recheckRoleOf(fn) } },
    };
  });
  simulated = [];
  iam.on(SimulatePrincipalPolicyCommand).callsFake((input: SimulatePrincipalPolicyCommandInput) => {
    simulated.push(input);
    return answer(input, 'allowed', { MatchedStatements: [{ SourcePolicyId: 'policy', SourcePolicyType: 'role' }] });
  });
  lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 1000 } });
  lambda.on(GetFunctionConcurrencyCommand).resolves({});
  lambda.on(ListEventSourceMappingsCommand, { FunctionName: `${STACK}-bake` }).resolves({
    EventSourceMappings: [{ UUID: 'esm-1', State: 'Enabled', EventSourceArn: BAKE_QUEUE, ScalingConfig: { MaximumConcurrency: 2 } }],
  });
  lambda.on(ListEventSourceMappingsCommand, { FunctionName: `${STACK}-imageState` }).resolves({
    EventSourceMappings: [{ UUID: 'esm-2', State: 'Enabled', EventSourceArn: IMAGE_STATE_QUEUE, ScalingConfig: { MaximumConcurrency: 2 } }],
  });
  lambda.on(ListEventSourceMappingsCommand, { FunctionName: `${STACK}-copy` }).resolves({
    EventSourceMappings: [{ UUID: 'esm-3', State: 'Enabled', EventSourceArn: COPY_QUEUE }],
  });
  ec2.on(GetImageBlockPublicAccessStateCommand).resolves({ ImageBlockPublicAccessState: 'block-new-sharing', ManagedBy: 'account' });
  ec2.on(GetEbsEncryptionByDefaultCommand).resolves({ EbsEncryptionByDefault: false });
  ec2.on(GetEbsDefaultKmsKeyIdCommand).resolves({ KmsKeyId: 'alias/aws/ebs' });
  events.on(DescribeRuleCommand).callsFake((input: DescribeRuleCommandInput) => ({ Name: input.Name, State: 'ENABLED' }));
  scheduler.on(GetScheduleCommand).callsFake((input: GetScheduleCommandInput) => ({
    Name: input.Name,
    State: input.Name!.endsWith('status-alarms') ? 'DISABLED' : 'ENABLED',
  }));
  sqs
    .on(GetQueueUrlCommand)
    .callsFake((input: GetQueueUrlCommandInput) => ({ QueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${input.QueueName}` }));
  sqs
    .on(GetQueueAttributesCommand)
    .resolves({ Attributes: { ApproximateNumberOfMessages: '0', ApproximateNumberOfMessagesNotVisible: '0' } });
}

const checkOf = (report: DoctorReport, name: string): CheckResult => {
  const found = report.checks.find((c) => c.check === name);
  if (!found) throw new Error(`no check ${name} in ${report.checks.map((c) => c.check).join(', ')}`);
  return found;
};
const statuses = (report: DoctorReport) => Object.fromEntries(report.checks.map((c) => [c.check, c.status]));

beforeEach(() => {
  for (const mock of [cfn, iam, lambda, ec2, events, scheduler, sqs]) mock.reset();
  healthyAccount();
});

/** The recover function's RECHECK_ROLE_ARN, as serverless.yml deploys it: its scheduler role. */
const recheckRoleOf = (fn: string): Record<string, string> =>
  fn === 'recover' ? { RECHECK_ROLE_ARN: `arn:aws:iam::123456789012:role/${STACK}-RecoverSchedulerRole-ABC` } : {};

describe('a healthy deployment', () => {
  it('passes every check, exits 0, and prints one line per check', async () => {
    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(statuses(report)).toEqual({
      stack: 'ok',
      ...Object.fromEntries(FUNCTION_KEYS.map((fn) => [`iam ${fn}`, 'ok'])),
      'queue mappings': 'ok',
      'lambda concurrency': 'ok',
      'ami block public access': 'ok',
      'ebs encryption': 'ok',
      'event rules': 'ok',
      schedules: 'ok',
      'dead-letter queues': 'ok',
    });
    expect(report.account).toBe(ACCOUNT);
    expect(doctorExitCode(report)).toBe(0);
    const lines = doctorText(report).split('\n');
    expect(lines.slice(0, report.checks.length).every((l) => /^OK {4}\S/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe(`${STACK} in ${REGION}: no check failed`);
    expect(checkOf(report, 'schedules').summary).toBe(
      '5 schedules enabled; ami-lifecycle-dev-status-alarms disabled (statusCheckAlarms is false)',
    );
    expect(checkOf(report, 'lambda concurrency').summary).toBe(
      'account limit 1000, unreserved 1000 (Lambda keeps at least 100 unreserved); reserved by this stack: none',
    );
    expect(checkOf(report, 'queue mappings').summary).toBe(
      `bake reads ${STACK}-bake (Enabled, at most 2 at once; 0 waiting, 0 in flight); ` +
        `imageState reads ${STACK}-imageState (Enabled, at most 2 at once; 0 waiting, 0 in flight); ` +
        `copy reads ${STACK}-copy.fifo (Enabled, no maximum concurrency; 0 waiting, 0 in flight)`,
    );
    expect(lambda).toHaveReceivedCommandWith(ListEventSourceMappingsCommand, { FunctionName: `${STACK}-bake` });
    expect(lambda).toHaveReceivedCommandWith(ListEventSourceMappingsCommand, { FunctionName: `${STACK}-imageState` });
  });

  it('simulates every need of each function against the role the function runs with, with the context AWS builds', async () => {
    // Act
    await runDoctor(deployment(), settings);

    // Assess: one simulation per need (terminateReplaced is off), each against its own function's role
    const expected = FUNCTION_KEYS.reduce((n, fn) => n + NEEDS[fn].filter((need) => need.when === undefined).length, 0);
    expect(simulated).toHaveLength(expected);
    expect(new Set(simulated.map((s) => s.PolicySourceArn))).toEqual(new Set(FUNCTION_KEYS.map(roleOf)));
    const bake = simulated.filter((s) => s.PolicySourceArn === roleOf('bake'));
    expect(bake).toContainEqual({
      PolicySourceArn: roleOf('bake'),
      ActionNames: ['ec2:CreateImage'],
      ResourceArns: [`arn:aws:ec2:${REGION}::image/*`],
      ContextEntries: expect.arrayContaining([
        { ContextKeyName: 'aws:RequestTag/ami-lifecycle:managed-by', ContextKeyValues: [MANAGED_BY], ContextKeyType: 'string' },
        {
          ContextKeyName: 'aws:TagKeys',
          ContextKeyValues: expect.arrayContaining(['ami-lifecycle:managed-by']),
          ContextKeyType: 'stringList',
        },
      ]),
    });
    expect(bake).toContainEqual(
      expect.objectContaining({
        ActionNames: ['ec2:CreateTags'],
        ResourceArns: [`arn:aws:ec2:${REGION}::snapshot/*`],
        ContextEntries: expect.arrayContaining([
          { ContextKeyName: 'ec2:CreateAction', ContextKeyValues: ['CreateImage'], ContextKeyType: 'string' },
        ]),
      }),
    );
    expect(bake).toContainEqual(
      expect.objectContaining({
        ActionNames: ['logs:PutLogEvents'],
        ResourceArns: [`arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/aws/lambda/${STACK}-bake:log-stream:*`],
      }),
    );
    const recover = simulated.filter((s) => s.PolicySourceArn === roleOf('recover'));
    expect(recover).toContainEqual(
      expect.objectContaining({
        ActionNames: ['iam:PassRole'],
        ResourceArns: [`arn:aws:iam::${ACCOUNT}:role/example`],
        ContextEntries: expect.arrayContaining([
          { ContextKeyName: 'iam:PassedToService', ContextKeyValues: ['ec2.amazonaws.com'], ContextKeyType: 'string' },
        ]),
      }),
    );
    expect(recover.map((s) => s.ActionNames![0])).not.toContain('ec2:TerminateInstances');
    expect(simulated.filter((s) => s.PolicySourceArn === roleOf('rotate'))).toContainEqual(
      expect.objectContaining({
        ActionNames: ['ssm:DescribeParameters'],
        ContextEntries: [{ ContextKeyName: 'aws:CalledVia', ContextKeyValues: ['ec2-images.amazonaws.com'], ContextKeyType: 'stringList' }],
      }),
    );
  });

  it('simulates TerminateInstances for recover only when the deployed function terminates replaced instances', async () => {
    // Prepare
    lambda.on(GetFunctionConfigurationCommand).callsFake((input: GetFunctionConfigurationCommandInput) => {
      const fn = input.FunctionName!.slice(STACK.length + 1);
      return {
        Role: roleOf(fn),
        Environment: { Variables: { MANAGED_BY, RECOVERY_TERMINATE_REPLACED: fn === 'recover' ? 'true' : 'false', ...recheckRoleOf(fn) } },
      };
    });

    // Act
    await runDoctor(deployment(), settings);

    // Assess
    expect(simulated).toContainEqual(
      expect.objectContaining({
        PolicySourceArn: roleOf('recover'),
        ActionNames: ['ec2:TerminateInstances'],
        ContextEntries: expect.arrayContaining([
          {
            ContextKeyName: 'aws:ResourceTag/ami-lifecycle:replaced-by',
            ContextKeyValues: ['i-0123456789abcdef0'],
            ContextKeyType: 'string',
          },
        ]),
      }),
    );
  });

  it('makes only reads', async () => {
    // Act
    await runDoctor(deployment(), settings);

    // Assess: every command sent is a Describe, Get, List or a simulation
    const sent = [cfn, iam, lambda, ec2, events, scheduler, sqs].flatMap((m) => m.calls().map((c) => c.args[0].constructor.name));
    expect(sent.filter((name) => !/^(Describe|Get|List|Simulate)/.test(name))).toEqual([]);
  });
});

describe('the stack', () => {
  it('is missing: fails with how to deploy, skips what needs it, still reads the account, exits 1', async () => {
    // Prepare
    cfn.on(DescribeStacksCommand).rejects(awsError('ValidationError', `Stack with id ${STACK} does not exist`));

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'stack')).toMatchObject({ status: 'fail', summary: `no stack ${STACK} in ${REGION}` });
    expect(checkOf(report, 'stack').fix).toContain('npx serverless deploy --stage dev --region us-east-1');
    expect(statuses(report)).toMatchObject({
      iam: 'skip',
      'queue mappings': 'skip',
      'event rules': 'skip',
      schedules: 'skip',
      'dead-letter queues': 'skip',
    });
    expect(statuses(report)).toMatchObject({ 'lambda concurrency': 'ok', 'ami block public access': 'ok', 'ebs encryption': 'ok' });
    expect(iam).not.toHaveReceivedCommand(SimulatePrincipalPolicyCommand);
    expect(doctorExitCode(report)).toBe(1);
  });

  it.each([
    ['UPDATE_ROLLBACK_COMPLETE', 'warn', /last update failed and was rolled back/],
    ['ROLLBACK_COMPLETE', 'fail', /describe-stack-events/],
    ['UPDATE_IN_PROGRESS', 'fail', /wait until CloudFormation finishes/],
    ['DELETE_FAILED', 'fail', /describe-stack-events/],
  ] as const)('%s: %s', async (status, expected, words) => {
    // Prepare
    cfn.on(DescribeStacksCommand).resolves({
      Stacks: [
        {
          StackName: STACK,
          StackStatus: status,
          StackId: `arn:aws:cloudformation:${REGION}:${ACCOUNT}:stack/${STACK}/abc`,
          CreationTime: new Date(),
        },
      ],
    });

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    const stack = checkOf(report, 'stack');
    expect(stack.status).toBe(expected);
    expect(`${stack.summary} ${stack.fix}`).toMatch(words);
    expect(doctorExitCode(report)).toBe(expected === 'fail' ? 1 : 0);
  });
});

describe('iam', () => {
  it('a refused need fails its function, naming the action, the resource, the context and the decision', async () => {
    // Prepare: the bake role may not image instances
    iam
      .on(SimulatePrincipalPolicyCommand)
      .callsFake((input: SimulatePrincipalPolicyCommandInput) =>
        input.PolicySourceArn === roleOf('bake') &&
        input.ActionNames![0] === 'ec2:CreateImage' &&
        input.ResourceArns![0]!.includes(':instance/')
          ? answer(input, 'implicitDeny', { MissingContextValues: [] })
          : answer(input, 'allowed'),
      );

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    const bake = checkOf(report, 'iam bake');
    expect(bake.status).toBe('fail');
    expect(bake.summary).toMatch(
      /^role ami-lifecycle-dev-BakeRole-1A2B3C refuses 1 of the \d+ authorizations ami-lifecycle-dev-bake needs$/,
    );
    expect(bake.details).toEqual([
      `ec2:CreateImage on arn:aws:ec2:${REGION}:${ACCOUNT}:instance/* with aws:ResourceTag/ami-lifecycle:bake=nightly: implicitDeny: no statement allows it. Needed: creates the image of an opted-in instance`,
    ]);
    expect(bake.fix).toContain('npx serverless deploy --stage dev');
    expect(statuses(report)).toMatchObject({ 'iam schedule': 'ok', 'iam recover': 'ok' });
    expect(doctorExitCode(report)).toBe(1);
    expect(doctorText(report)).toMatch(/^FAIL {2}iam bake +role .*; fix: grant these/m);
  });

  it('an explicit Deny names the policy that denies, and the keys the policies wanted but the request lacked', async () => {
    // Prepare
    iam.on(SimulatePrincipalPolicyCommand).callsFake((input: SimulatePrincipalPolicyCommandInput) =>
      input.PolicySourceArn === roleOf('rotate') && input.ActionNames![0] === 'ec2:DeregisterImage'
        ? answer(input, 'explicitDeny', {
            MatchedStatements: [{ SourcePolicyId: 'arn:aws:iam::111122223333:policy/no-deletes', SourcePolicyType: 'user-managed' }],
            MissingContextValues: ['aws:PrincipalTag/team'],
          })
        : answer(input, 'allowed'),
    );

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'iam rotate').details).toEqual([
      `ec2:DeregisterImage on arn:aws:ec2:${REGION}::image/* with aws:ResourceTag/ami-lifecycle:managed-by=${MANAGED_BY}: denied by arn:aws:iam::111122223333:policy/no-deletes (user-managed); policy keys not in the request: aws:PrincipalTag/team. Needed: deregisters the images beyond retention, with their snapshots`,
    ]);
  });

  it('reads the decision for its resource from ResourceSpecificResults, as IAM answers now', async () => {
    // Prepare: an aggregate that allows, with a per-resource result that does not
    iam.on(SimulatePrincipalPolicyCommand).callsFake((input: SimulatePrincipalPolicyCommandInput) =>
      input.ActionNames![0] === 'events:PutEvents' && input.PolicySourceArn === roleOf('schedule')
        ? {
            EvaluationResults: [
              {
                EvalActionName: 'events:PutEvents',
                EvalDecision: 'allowed',
                ResourceSpecificResults: [{ EvalResourceName: input.ResourceArns![0], EvalResourceDecision: 'implicitDeny' }],
              },
            ],
          }
        : answer(input, 'allowed'),
    );

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'iam schedule').details).toEqual([
      `events:PutEvents on arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${STACK}: implicitDeny: no statement allows it. Needed: publishes the service's events (and bake requests) to its bus`,
    ]);
  });

  it('a function that is not deployed fails its check; the others still run', async () => {
    // Prepare
    lambda
      .on(GetFunctionConfigurationCommand, { FunctionName: `${STACK}-statusAlarms` })
      .rejects(awsError('ResourceNotFoundException', 'Function not found', 404));

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'iam statusAlarms')).toMatchObject({
      status: 'fail',
      summary: expect.stringContaining(`function ${STACK}-statusAlarms is not deployed`),
    });
    expect(checkOf(report, 'iam bake').status).toBe('ok');
    expect(doctorExitCode(report)).toBe(1);
  });

  it('your own credentials refused the simulation: the check fails saying so', async () => {
    // Prepare
    iam
      .on(SimulatePrincipalPolicyCommand)
      .rejects(awsError('AccessDenied', 'User is not authorized to perform: iam:SimulatePrincipalPolicy', 403));

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'iam bake')).toMatchObject({
      status: 'fail',
      summary: 'could not check: AccessDenied: User is not authorized to perform: iam:SimulatePrincipalPolicy',
      fix: expect.stringContaining('your credentials need the read permissions'),
    });
    expect(checkOf(report, 'dead-letter queues').status).toBe('ok');
  });
});

describe('lambda concurrency', () => {
  it("a new account's limit of 10: a warning (the bake queue's 2 at once still fit), exit 0", async () => {
    // Prepare
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { ConcurrentExecutions: 10, UnreservedConcurrentExecutions: 10 } });

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    const check = checkOf(report, 'lambda concurrency');
    expect(check).toMatchObject({
      status: 'warn',
      summary:
        "account limit 10, unreserved 10 (Lambda keeps at least 10 unreserved); reserved by this stack: none: a new account's reduced quota, shared by every function of the account",
    });
    expect(check.fix).toContain("'Concurrent executions' of 1,000");
    expect(doctorExitCode(report)).toBe(0);
  });

  it("a bake function reserving less than its queue mapping's maximum: throttled requests would end in the DLQ, fails", async () => {
    // Prepare: someone reserved 1 for bake by hand
    lambda.on(GetFunctionConcurrencyCommand, { FunctionName: `${STACK}-bake` }).resolves({ ReservedConcurrentExecutions: 1 });

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'lambda concurrency')).toMatchObject({
      status: 'fail',
      summary: expect.stringContaining('reserved by this stack: bake 1'),
      details: [
        "bake reserves 1, fewer than the 2 its queue's mapping may run at once: Lambda throttles the rest, and a throttled request returns to the queue and ends in its dead-letter queue",
      ],
    });
    expect(doctorExitCode(report)).toBe(1);
  });

  it('a function reserving 0 never runs: fails', async () => {
    // Prepare
    lambda.on(GetFunctionConcurrencyCommand, { FunctionName: `${STACK}-recover` }).resolves({ ReservedConcurrentExecutions: 0 });

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'lambda concurrency')).toMatchObject({
      status: 'fail',
      details: ['recover reserves 0: Lambda throttles every invocation of it'],
    });
  });

  it('less unreserved than the minimum: fails', async () => {
    // Prepare
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 80 } });

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'lambda concurrency').details).toEqual([
      "only 80 executions are unreserved, under Lambda's minimum of 100: Lambda refuses any further reservation",
    ]);
  });

  it('a reduced quota and no queue-fed function: a warning, exit 0', async () => {
    // Prepare: a stage without a queue
    const unqueued = { ...settings, functions: settings.functions.map(({ key }) => ({ key })) };
    lambda.on(GetAccountSettingsCommand).resolves({ AccountLimit: { ConcurrentExecutions: 50, UnreservedConcurrentExecutions: 50 } });

    // Act
    const report = await runDoctor(deployment(), unqueued);

    // Assess
    expect(checkOf(report, 'lambda concurrency')).toMatchObject({
      status: 'warn',
      summary: expect.stringContaining("a new account's reduced quota"),
    });
    expect(doctorExitCode(report)).toBe(0);
  });

  it('your credentials may not read the account settings: only that check fails', async () => {
    // Prepare
    lambda
      .on(GetAccountSettingsCommand)
      .rejects(awsError('AccessDeniedException', 'not authorized to perform lambda:GetAccountSettings', 403));

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'lambda concurrency')).toMatchObject({
      status: 'fail',
      summary: expect.stringContaining('could not check: AccessDeniedException'),
    });
    expect(checkOf(report, 'ebs encryption').status).toBe('ok');
  });
});

describe('queue mappings', () => {
  it('a disabled mapping fails with the command that enables it; a missing one fails', async () => {
    // Prepare
    lambda.on(ListEventSourceMappingsCommand, { FunctionName: `${STACK}-bake` }).resolves({
      EventSourceMappings: [{ UUID: 'esm-1', State: 'Disabled', EventSourceArn: BAKE_QUEUE, ScalingConfig: { MaximumConcurrency: 2 } }],
    });

    // Act
    const disabled = await runDoctor(deployment(), settings);
    lambda.on(ListEventSourceMappingsCommand, { FunctionName: `${STACK}-bake` }).resolves({ EventSourceMappings: [] });
    const missing = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(disabled, 'queue mappings')).toMatchObject({
      status: 'fail',
      details: [`bake's mapping from ${STACK}-bake is Disabled: aws lambda update-event-source-mapping --uuid esm-1 --enabled`],
    });
    expect(checkOf(missing, 'queue mappings').details).toEqual(['bake has no event source mapping from its queue: nothing reads it']);
    expect(doctorExitCode(disabled)).toBe(1);
  });

  it('reports the waiting requests of an enabled mapping without failing', async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand, { QueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${STACK}-bake` }).resolves({
      Attributes: { ApproximateNumberOfMessages: '120', ApproximateNumberOfMessagesNotVisible: '2' },
    });

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'queue mappings')).toMatchObject({
      status: 'ok',
      summary:
        `bake reads ${STACK}-bake (Enabled, at most 2 at once; 120 waiting, 2 in flight); ` +
        `imageState reads ${STACK}-imageState (Enabled, at most 2 at once; 0 waiting, 0 in flight); ` +
        `copy reads ${STACK}-copy.fifo (Enabled, no maximum concurrency; 0 waiting, 0 in flight)`,
    });
  });
});

describe('ami block public access', () => {
  it('unblocked: a warning with the command that turns it on, exit 0', async () => {
    // Prepare
    ec2.on(GetImageBlockPublicAccessStateCommand).resolves({ ImageBlockPublicAccessState: 'unblocked', ManagedBy: 'account' });

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'ami block public access')).toMatchObject({
      status: 'warn',
      fix:
        'aws ec2 enable-image-block-public-access --image-block-public-access-state block-new-sharing --region us-east-1 ' +
        '(or the EC2 console: Dashboard > Account attributes > Data protection and security > Block public access for AMIs > Manage; ' +
        'it takes up to 10 minutes)',
    });
    expect(doctorExitCode(report)).toBe(0);
    expect(doctorText(report)).toMatch(
      /^WARN {2}ami block public access +unblocked in us-east-1: .*; fix: aws ec2 enable-image-block-public-access/m,
    );
  });

  it('unblocked by an organization declarative policy: the fix is the policy, not a command the account may not run', async () => {
    ec2.on(GetImageBlockPublicAccessStateCommand).resolves({ ImageBlockPublicAccessState: 'unblocked', ManagedBy: 'declarative-policy' });

    const report = await runDoctor(deployment(), settings);

    expect(checkOf(report, 'ami block public access')).toMatchObject({
      status: 'warn',
      summary: expect.stringContaining('set by a declarative policy of your organization'),
      fix: expect.stringContaining('declarative policy for EC2'),
    });
  });

  it('blocked: ok', async () => {
    ec2.on(GetImageBlockPublicAccessStateCommand).resolves({ ImageBlockPublicAccessState: 'block-new-sharing', ManagedBy: 'account' });

    const report = await runDoctor(deployment(), settings);

    expect(checkOf(report, 'ami block public access')).toMatchObject({
      status: 'ok',
      summary: 'on in us-east-1: no image can be made public',
    });
  });
});

describe('ebs encryption', () => {
  it('on, with the AWS managed key: ok, nothing simulated for it', async () => {
    // Prepare
    ec2.on(GetEbsEncryptionByDefaultCommand).resolves({ EbsEncryptionByDefault: true });

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'ebs encryption')).toMatchObject({
      status: 'ok',
      summary: expect.stringContaining('the AWS managed key needs no KMS permission'),
    });
    expect(simulated.some((s) => s.ActionNames![0]!.startsWith('kms:'))).toBe(false);
  });

  it('on, with a customer-managed key the bake, recover and verify roles may use: ok, after simulating what EC2 does with it', async () => {
    // Prepare
    ec2.on(GetEbsEncryptionByDefaultCommand).resolves({ EbsEncryptionByDefault: true });
    ec2.on(GetEbsDefaultKmsKeyIdCommand).resolves({ KmsKeyId: KEY });

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'ebs encryption').status).toBe('ok');
    const kms = simulated.filter((s) => s.ActionNames![0]!.startsWith('kms:'));
    expect(new Set(kms.map((s) => s.PolicySourceArn))).toEqual(new Set([roleOf('bake'), roleOf('recover'), roleOf('verify')]));
    expect(kms).toContainEqual({
      PolicySourceArn: roleOf('bake'),
      ActionNames: ['kms:CreateGrant'],
      ResourceArns: [KEY],
      ContextEntries: [
        { ContextKeyName: 'kms:ViaService', ContextKeyValues: [`ec2.${REGION}.amazonaws.com`], ContextKeyType: 'string' },
        { ContextKeyName: 'kms:GrantIsForAWSResource', ContextKeyValues: ['true'], ContextKeyType: 'boolean' },
      ],
    });
  });

  it('on, with a customer-managed key the roles may not use: fails, saying to list it in kmsKeyArns', async () => {
    // Prepare
    ec2.on(GetEbsEncryptionByDefaultCommand).resolves({ EbsEncryptionByDefault: true });
    ec2.on(GetEbsDefaultKmsKeyIdCommand).resolves({ KmsKeyId: KEY });
    iam
      .on(SimulatePrincipalPolicyCommand)
      .callsFake((input: SimulatePrincipalPolicyCommandInput) =>
        answer(input, input.ActionNames![0]!.startsWith('kms:') ? 'implicitDeny' : 'allowed'),
      );

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    const check = checkOf(report, 'ebs encryption');
    expect(check.status).toBe('fail');
    expect(check.fix).toBe("list the key's ARN in the stage parameter kmsKeyArns and deploy (npx serverless deploy --stage dev)");
    // Six KMS needs for each of bake, recover and verify (a test instance's encrypted volumes).
    expect(check.details).toHaveLength(18);
    expect(check.details[0]).toMatch(/^bake: kms:CreateGrant on arn:aws:kms:.*: implicitDeny/);
    expect(doctorExitCode(report)).toBe(1);
  });

  it('on, with a key named by an alias: a warning that says how to find the key', async () => {
    // Prepare
    ec2.on(GetEbsEncryptionByDefaultCommand).resolves({ EbsEncryptionByDefault: true });
    ec2.on(GetEbsDefaultKmsKeyIdCommand).resolves({ KmsKeyId: `arn:aws:kms:${REGION}:${ACCOUNT}:alias/fleet` });

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'ebs encryption')).toMatchObject({
      status: 'warn',
      fix: expect.stringContaining('aws kms describe-key --key-id'),
    });
  });
});

describe('event rules and schedules', () => {
  it('a disabled rule and a missing one fail, with the command that enables it', async () => {
    // Prepare
    events
      .on(DescribeRuleCommand, { Name: 'ami-lifecycle-dev-bake-queue-rule' })
      .resolves({ Name: 'ami-lifecycle-dev-bake-queue-rule', State: 'DISABLED' });
    events
      .on(DescribeRuleCommand, { Name: 'ami-lifecycle-dev-recover-rule-3' })
      .rejects(awsError('ResourceNotFoundException', 'Rule does not exist'));

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'event rules')).toMatchObject({
      status: 'fail',
      summary: '2 of 9 rules would not deliver: their events never reach the function',
      details: [
        'ami-lifecycle-dev-bake-queue-rule (bake) is DISABLED: aws events enable-rule --name ami-lifecycle-dev-bake-queue-rule --event-bus-name ami-lifecycle-dev',
        'ami-lifecycle-dev-recover-rule-3 (recover) does not exist on bus default',
      ],
    });
    expect(events).toHaveReceivedCommandWith(DescribeRuleCommand, {
      Name: 'ami-lifecycle-dev-bake-queue-rule',
      EventBusName: 'ami-lifecycle-dev',
    });
    expect(events).toHaveReceivedCommandWith(DescribeRuleCommand, {
      Name: 'ami-lifecycle-dev-imageState-queue-rule',
      EventBusName: undefined,
    });
    expect(doctorExitCode(report)).toBe(1);
  });

  it('a disabled or missing schedule fails; the status-alarms schedule may be disabled only when statusCheckAlarms is false', async () => {
    // Prepare
    scheduler
      .on(GetScheduleCommand, { Name: 'ami-lifecycle-dev-rotate' })
      .rejects(awsError('ResourceNotFoundException', 'Schedule ami-lifecycle-dev-rotate does not exist.', 404));

    // Act
    const report = await runDoctor(deployment(), { ...settings, statusCheckAlarms: true });

    // Assess
    expect(checkOf(report, 'schedules')).toMatchObject({
      status: 'fail',
      details: [
        'ami-lifecycle-dev-rotate (rotate) does not exist',
        'ami-lifecycle-dev-status-alarms (statusAlarms) is DISABLED: nothing runs it',
      ],
    });
  });
});

describe('dead-letter queues', () => {
  it('a queue holding messages fails, pointing at the docs section that says how to inspect and redrive', async () => {
    // Prepare
    sqs.on(GetQueueAttributesCommand, { QueueUrl: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${STACK}-bake-dlq` }).resolves({
      Attributes: { ApproximateNumberOfMessages: '3', ApproximateNumberOfMessagesNotVisible: '1' },
    });
    sqs
      .on(GetQueueUrlCommand, { QueueName: `${STACK}-rotate-dlq` })
      .rejects(awsError('QueueDoesNotExist', 'The specified queue does not exist.'));

    // Act
    const report = await runDoctor(deployment(), settings);

    // Assess
    expect(checkOf(report, 'dead-letter queues')).toMatchObject({
      status: 'fail',
      summary: '2 of 9 dead-letter queues hold messages or are missing',
      fix: 'inspect each message, fix its cause and send it again: docs/operations.md, "When a dead-letter queue alarm fires"',
      details: [
        `${STACK}-bake-dlq: 4 messages (3 visible, 1 being read): bake work that was never done`,
        `${STACK}-rotate-dlq does not exist: failed rotate invocations have nowhere to go`,
      ],
    });
    expect(sqs).toHaveReceivedCommandWith(GetQueueAttributesCommand, {
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    });
    expect(doctorExitCode(report)).toBe(1);
  });
});

describe('ami-lifecycle doctor (the command)', () => {
  let stdout: string[];
  let stderr: string[];
  const capture = (into: string[]) =>
    ((chunk: string | Uint8Array) => {
      into.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    }) as typeof process.stdout.write;

  beforeEach(() => {
    stdout = [];
    stderr = [];
    vi.spyOn(process.stdout, 'write').mockImplementation(capture(stdout));
    vi.spyOn(process.stderr, 'write').mockImplementation(capture(stderr));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });

  it('exits 0 on a healthy deployment and prints the lines; --json prints the report', async () => {
    // Act
    const text = await main(['node', 'ami-lifecycle', '--region', REGION, 'doctor']);
    const printed = stdout.join('');
    stdout.length = 0;
    const asJson = await main(['node', 'ami-lifecycle', '--region', REGION, '--quiet', 'doctor', '--json']);

    // Assess
    expect(text).toBe(0);
    expect(printed).toMatch(/^OK {4}stack +ami-lifecycle-dev is CREATE_COMPLETE/);
    expect(asJson).toBe(0);
    const report = JSON.parse(stdout.join('')) as DoctorReport;
    expect(report).toMatchObject({ stackName: STACK, region: REGION, account: ACCOUNT });
    expect(report.checks.map((c) => c.status)).toEqual(report.checks.map(() => 'ok'));
  });

  it('exits 1 when a check fails', async () => {
    // Prepare
    sqs
      .on(GetQueueAttributesCommand)
      .resolves({ Attributes: { ApproximateNumberOfMessages: '1', ApproximateNumberOfMessagesNotVisible: '0' } });

    // Act
    const code = await main(['node', 'ami-lifecycle', '--region', REGION, 'doctor']);

    // Assess
    expect(code).toBe(1);
    expect(stdout.join('')).toMatch(/^FAIL {2}dead-letter queues/m);
  });

  it('exits 3 on expired credentials and 4 on an endpoint that does not answer, as the other commands', async () => {
    // Prepare
    cfn.on(DescribeStacksCommand).rejectsOnce(awsError('ExpiredToken', 'The security token included in the request is expired', 403));

    // Act
    const expired = await main(['node', 'ami-lifecycle', '--region', REGION, 'doctor']);
    // The SDK retries a refused connection: every attempt is refused.
    cfn.on(DescribeStacksCommand).rejects(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }));
    const unreachable = await main(['node', 'ami-lifecycle', '--region', REGION, '--endpoint', 'http://127.0.0.1:9', 'doctor']);

    // Assess
    expect(expired).toBe(3);
    expect(unreachable).toBe(4);
    expect(stderr.join('')).toContain('no usable AWS credentials (ExpiredToken)');
    expect(stderr.join('')).toContain('http://127.0.0.1:9 did not answer (ECONNREFUSED)');
  });
});
