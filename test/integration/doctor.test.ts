/**
 * `ami-lifecycle doctor` against moto, on the real packaged template "deployed" into moto's
 * CloudFormation (test/harness/deploy-stack.ts): the stack, its roles with their inline
 * policies, functions, queues, bus and rules, under the names CloudFormation gives them. Each
 * function's needs are simulated against its deployed role by the harness's
 * SimulatePrincipalPolicy (moto has none), which evaluates the role's policies with AWS's
 * authorization data (@cloud-copilot/iam-simulate). A planted defect (a statement removed, a
 * tag condition that no longer matches, a message in a dead-letter queue, a disabled rule or
 * queue mapping, a customer-managed EBS key) fails its check, names what to do, and exits 1.
 *
 * Moto's gaps closed for this: SimulatePrincipalPolicy and Lambda's GetAccountSettings in the
 * proxy (moto-gaps/account-reads.ts); GetImageBlockPublicAccessState, GetEbsDefaultKmsKeyId, the inline
 * policies and log group ARNs of CloudFormation, and ListEventSourceMappings by function name, in
 * moto itself (python/sitecustomize.py); the schedules CloudFormation in moto skips (deploy-stack.ts).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DisableImageBlockPublicAccessCommand,
  EC2Client,
  EnableEbsEncryptionByDefaultCommand,
  ModifyEbsDefaultKmsKeyIdCommand,
} from '@aws-sdk/client-ec2';
import { DisableRuleCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import {
  AttachRolePolicyCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  IAMClient,
  PutRolePolicyCommand,
  SimulatePrincipalPolicyCommand,
} from '@aws-sdk/client-iam';
import {
  GetAccountSettingsCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
  PutFunctionConcurrencyCommand,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { GetQueueUrlCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { DoctorReport } from '../../cli/doctor/doctor.js';
import { runCli, type CliRun } from '../harness/run-cli.js';
import { deployStack, packageIsolated } from '../harness/deploy-stack.js';
import { startMoto, type MotoServer } from '../harness/moto.js';
import { startFidelityProxy, type FidelityProxy } from '../harness/proxy/index.js';
import type { Resource, Template } from '../infra/template-rules.js';

const STACK = 'ami-lifecycle-dev';
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

let moto: MotoServer;
let proxy: FidelityProxy;
let packaged: Template;

beforeAll(async () => {
  [moto, packaged] = await Promise.all([startMoto(), packageIsolated('dev')]);
  proxy = await startFidelityProxy(moto.endpoint);
}, 120_000);
afterAll(async () => {
  await proxy?.stop();
  await moto?.stop();
});
beforeEach(async () => {
  await moto.reset();
  proxy.resetState();
  proxy.resetCalls();
});

/** Clients straight to moto, for the test's own setup (not counted by the proxy). */
const direct = <T>(Client: new (config: object) => T): T =>
  new Client({ endpoint: moto.endpoint, region: REGION, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } });
/** Clients through the proxy, as the CLI talks to it. */
const proxied = <T>(Client: new (config: object) => T): T =>
  new Client({
    endpoint: proxy.endpoint,
    region: REGION,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    maxAttempts: 1,
  });

interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

function statementsOf(template: Template, roleId: string): Statement[] {
  const role = template.Resources[roleId] as Resource;
  return (role.Properties!.Policies as Array<{ PolicyDocument: { Statement: Statement[] } }>)[0]!.PolicyDocument.Statement;
}

/** The template with one edit to a role's statements. */
function edited(template: Template, roleId: string, edit: (statements: Statement[]) => void): Template {
  const copy = structuredClone(template);
  edit(statementsOf(copy, roleId));
  return copy;
}

const deploy = (template: Template) => deployStack(moto.endpoint, template, { stackName: STACK, region: REGION });

/** A customer-managed KMS key in moto: one JSON call (the project has no KMS client, and needs none). */
async function createKmsKey(): Promise<string> {
  const response = await fetch(moto.endpoint, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': 'TrentService.CreateKey',
      // moto routes by the credential scope's service and does not check the signature.
      authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${REGION}/kms/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify({ Description: 'fleet volumes' }),
  });
  const { KeyMetadata } = (await response.json()) as { KeyMetadata: { Arn: string } };
  return KeyMetadata.Arn;
}

/** Runs `ami-lifecycle --endpoint <proxy> --region <region> doctor <argv...>` in-process. */
function doctor(...argv: string[]): Promise<CliRun> {
  return runCli(['--endpoint', proxy.endpoint, '--region', REGION, 'doctor', ...argv]);
}

async function report(): Promise<{ code: number; report: DoctorReport }> {
  const run = await doctor('--json');
  return { code: run.code, report: JSON.parse(run.stdout) as DoctorReport };
}

const statusOf = (r: DoctorReport) => Object.fromEntries(r.checks.map((c) => [c.check, c.status]));
const check = (r: DoctorReport, name: string) => r.checks.find((c) => c.check === name)!;
const ALL_OK = {
  stack: 'ok',
  'iam schedule': 'ok',
  'iam bake': 'ok',
  'iam imageState': 'ok',
  'iam promote': 'ok',
  'iam rotate': 'ok',
  'iam recover': 'ok',
  'iam statusAlarms': 'ok',
  'iam verify': 'ok',
  'iam copy': 'ok',
  'queue mappings': 'ok',
  'lambda concurrency': 'ok',
  'ami block public access': 'ok',
  'ebs encryption': 'ok',
  'event rules': 'ok',
  schedules: 'ok',
  'dead-letter queues': 'ok',
};

describe('doctor on a deployed stack', () => {
  it('is all green on a correct deployment, exits 0, and only reads', async () => {
    // Prepare
    await deploy(packaged);
    proxy.resetCalls();

    // Act
    const text = await doctor();

    // Assess
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines.slice(0, 15).map((l) => l.slice(0, 4))).toEqual(Array(15).fill('OK  '));
    expect(text.stdout).toMatch(
      /^OK {4}iam bake +role ami-lifecycle-dev-BakeRole-\w+ allows all \d+ authorizations ami-lifecycle-dev-bake needs$/m,
    );
    expect(text.stdout).toContain(
      'OK    schedules                5 schedules enabled; ami-lifecycle-dev-status-alarms disabled (statusCheckAlarms is false)',
    );
    expect(text.stdout).toContain(
      'OK    queue mappings           bake reads ami-lifecycle-dev-bake (Enabled, at most 2 at once; 0 waiting, 0 in flight)',
    );
    expect(lines.at(-1)).toBe(`${STACK} in ${REGION}: no check failed`);
    const calls = proxy.calls();
    expect(calls.SimulatePrincipalPolicy).toBeGreaterThan(80);
    expect(Object.keys(calls).filter((a) => !/^(Describe|Get|List|Simulate)/.test(a))).toEqual([]);
  });

  it('a role missing a permission: that function fails, naming the action and resource, and exits 1', async () => {
    // Prepare: the bake role loses the statement that lets it image opted-in instances
    await deploy(
      edited(packaged, 'BakeRole', (s) =>
        s.splice(
          s.findIndex((x) => x.Sid === 'ImageOptedInInstances'),
          1,
        ),
      ),
    );

    // Act
    const text = await doctor();
    const { report: r } = await report();

    // Assess
    expect(text.code).toBe(1);
    expect(statusOf(r)).toEqual({ ...ALL_OK, 'iam bake': 'fail' });
    expect(check(r, 'iam bake').details).toEqual([
      `ec2:CreateImage on arn:aws:ec2:${REGION}:${ACCOUNT}:instance/* with aws:ResourceTag/ami-lifecycle:bake=nightly: implicitDeny: no statement allows it. Needed: creates the image of an opted-in instance`,
    ]);
    expect(text.stdout).toMatch(
      /^FAIL {2}iam bake +role ami-lifecycle-dev-BakeRole-\w+ refuses 1 of the \d+ authorizations ami-lifecycle-dev-bake needs; fix: /m,
    );
    expect(text.stdout).toContain(`- ec2:CreateImage on arn:aws:ec2:${REGION}:${ACCOUNT}:instance/*`);
  });

  it('a tag condition that no longer matches the stack: the actions under it fail', async () => {
    // Prepare: rotation may delete only images of another stack
    await deploy(
      edited(packaged, 'RotateRole', (s) => {
        const st = s.find((x) => x.Sid === 'DeregisterAndDeprecateOnlyManagedImages')!;
        st.Condition = { StringEquals: { 'aws:ResourceTag/ami-lifecycle:managed-by': 'ami-lifecycle-other' } };
      }),
    );

    // Act
    const { code, report: r } = await report();

    // Assess
    expect(code).toBe(1);
    expect(statusOf(r)).toEqual({ ...ALL_OK, 'iam rotate': 'fail' });
    expect(check(r, 'iam rotate').details.map((d) => d.split(' on ')[0])).toEqual(['ec2:DeregisterImage', 'ec2:EnableImageDeprecation']);
    expect(check(r, 'iam rotate').details[0]).toContain(`with aws:ResourceTag/ami-lifecycle:managed-by=${STACK}: implicitDeny`);
  });

  it('a message in a dead-letter queue fails that check, pointing at the docs section, and exits 1', async () => {
    // Prepare
    await deploy(packaged);
    const sqs = direct(SQSClient);
    const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: `${STACK}-recover-dlq` }));
    await sqs.send(
      new SendMessageCommand({ QueueUrl, MessageBody: JSON.stringify({ requestContext: { condition: 'RetriesExhausted' } }) }),
    );

    // Act
    const text = await doctor();
    const { report: r } = await report();

    // Assess
    expect(text.code).toBe(1);
    expect(statusOf(r)).toEqual({ ...ALL_OK, 'dead-letter queues': 'fail' });
    expect(check(r, 'dead-letter queues').details).toEqual([
      `${STACK}-recover-dlq: 1 message (1 visible, 0 being read): recover work that was never done`,
    ]);
    expect(text.stdout).toContain(
      'fix: inspect each message, fix its cause and send it again: docs/operations.md, "When a dead-letter queue alarm fires"',
    );
  });

  it('a disabled rule fails the rules check, with the command that enables it, and exits 1', async () => {
    // Prepare
    await deploy(packaged);
    await direct(EventBridgeClient).send(new DisableRuleCommand({ Name: `${STACK}-recover-rule-1` }));

    // Act
    const { code, report: r } = await report();

    // Assess
    expect(code).toBe(1);
    expect(statusOf(r)).toEqual({ ...ALL_OK, 'event rules': 'fail' });
    expect(check(r, 'event rules').details).toEqual([
      `${STACK}-recover-rule-1 (recover) is DISABLED: aws events enable-rule --name ${STACK}-recover-rule-1`,
    ]);
  });

  it('a disabled queue mapping fails: bake requests would wait in the queue until they expire', async () => {
    // Prepare
    await deploy(packaged);
    const lambda = direct(LambdaClient);
    const { EventSourceMappings = [] } = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: `${STACK}-bake` }));
    expect(EventSourceMappings).toHaveLength(1);
    await lambda.send(new UpdateEventSourceMappingCommand({ UUID: EventSourceMappings[0]!.UUID!, Enabled: false }));

    // Act
    const { code, report: r } = await report();

    // Assess
    expect(code).toBe(1);
    expect(statusOf(r)).toEqual({ ...ALL_OK, 'queue mappings': 'fail' });
    expect(check(r, 'queue mappings').details).toEqual([
      `bake's mapping from ${STACK}-bake is Disabled: aws lambda update-event-source-mapping --uuid ${EventSourceMappings[0]!.UUID} --enabled`,
    ]);
  });

  it('AMI block public access turned off: a warning with the command, exit 0', async () => {
    // Prepare
    await deploy(packaged);
    await direct(EC2Client).send(new DisableImageBlockPublicAccessCommand({}));

    // Act
    const text = await doctor();

    // Assess
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(
      'WARN  ami block public access  unblocked in us-east-1: anyone with ec2:ModifyImageAttribute can make an image (and its data) public; fix: aws ec2 enable-image-block-public-access --image-block-public-access-state block-new-sharing --region us-east-1',
    );
    expect(text.stdout).toContain(
      'EC2 console: Dashboard > Account attributes > Data protection and security > Block public access for AMIs',
    );
  });

  it('a customer-managed EBS default key: fails until the bake, recover and verify roles may use it', async () => {
    // Prepare: encryption by default under a key of the account
    const ec2 = direct(EC2Client);
    const useKey = async (key: string) => {
      await ec2.send(new EnableEbsEncryptionByDefaultCommand({}));
      await ec2.send(new ModifyEbsDefaultKmsKeyIdCommand({ KmsKeyId: key }));
    };
    await deploy(packaged);
    const key = await createKmsKey();
    await useKey(key);

    // Act
    const before = await report();

    // Assess
    expect(before.code).toBe(1);
    expect(statusOf(before.report)).toEqual({ ...ALL_OK, 'ebs encryption': 'fail' });
    const failed = check(before.report, 'ebs encryption');
    expect(failed.summary).toContain(`encryption by default is on, default key ${key}`);
    expect(failed.fix).toContain('stage parameter kmsKeyArns');
    expect(new Set(failed.details.map((d) => d.split(':')[0]))).toEqual(new Set(['bake', 'recover', 'verify']));

    // Prepare: the roles get what EC2 needs for the key (as the stage parameter kmsKeyArns grants it)
    await moto.reset();
    const fleetKey = await createKmsKey();
    const kmsStatement = (s: Statement[]) =>
      s.push(
        {
          Sid: 'GrantsForEncryptedVolumes',
          Effect: 'Allow',
          Action: 'kms:CreateGrant',
          Resource: fleetKey,
          Condition: { Bool: { 'kms:GrantIsForAWSResource': 'true' }, StringEquals: { 'kms:ViaService': `ec2.${REGION}.amazonaws.com` } },
        },
        {
          Sid: 'UseForEncryptedVolumes',
          Effect: 'Allow',
          Action: ['kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncrypt*', 'kms:DescribeKey'],
          Resource: fleetKey,
          Condition: { StringEquals: { 'kms:ViaService': `ec2.${REGION}.amazonaws.com` } },
        },
      );
    await deploy(edited(edited(edited(packaged, 'BakeRole', kmsStatement), 'RecoverRole', kmsStatement), 'VerifyRole', kmsStatement));
    await useKey(fleetKey);

    // Act
    const after = await report();

    // Assess
    expect(after.code).toBe(0);
    expect(check(after.report, 'ebs encryption').summary).toContain('a customer-managed key the bake, recover and verify roles may use');
  });

  it('no stack in the region: fails saying how to deploy, skips what needs it, exits 1', async () => {
    // Act
    const text = await doctor();

    // Assess
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(
      /^FAIL {2}stack +no stack ami-lifecycle-dev in us-east-1; fix: deploy it \(npx serverless deploy --stage dev --region us-east-1\)/m,
    );
    expect(text.stdout).toMatch(/^SKIP {2}iam +no stack: no roles to simulate$/m);
    expect(text.stdout).toMatch(/^SKIP {2}queue mappings +no stack$/m);
    expect(text.stdout).toMatch(/^OK {4}lambda concurrency +account limit 1000, unreserved 1000 .*reserved by this stack: none$/m);
  });
});

describe('harness: SimulatePrincipalPolicy as AWS answers it', () => {
  const roleArn = `arn:aws:iam::${ACCOUNT}:role/app`;

  beforeEach(async () => {
    const iam = direct(IAMClient);
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'app',
        AssumeRolePolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' }],
        }),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'app',
        PolicyName: 'images',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: ['ec2:DeregisterImage', 'ec2:DeleteSnapshot'],
              Resource: ['arn:aws:ec2:us-east-1::image/ami-1', 'arn:aws:ec2:us-east-1::snapshot/*'],
              Condition: { StringEquals: { 'aws:ResourceTag/team': 'a' } },
            },
          ],
        }),
      }),
    );
    const { Policy } = await iam.send(
      new CreatePolicyCommand({
        PolicyName: 'no-snapshot-deletes',
        PolicyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [{ Effect: 'Deny', Action: 'ec2:DeleteSnapshot', Resource: '*' }],
        }),
      }),
    );
    await iam.send(new AttachRolePolicyCommand({ RoleName: 'app', PolicyArn: Policy!.Arn! }));
  });

  const simulate = (input: Omit<ConstructorParameters<typeof SimulatePrincipalPolicyCommand>[0], 'PolicySourceArn'>) =>
    proxied(IAMClient).send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: roleArn, ...input }));
  const team = (value: string) => [
    { ContextKeyName: 'aws:ResourceTag/team', ContextKeyValues: [value], ContextKeyType: 'string' as const },
  ];

  it('allows what an inline policy grants, naming it', async () => {
    // Act
    const out = await simulate({
      ActionNames: ['ec2:DeregisterImage'],
      ResourceArns: ['arn:aws:ec2:us-east-1::image/ami-1'],
      ContextEntries: team('a'),
    });

    // Assess
    expect(out.EvaluationResults).toEqual([
      expect.objectContaining({
        EvalActionName: 'ec2:DeregisterImage',
        EvalResourceName: 'arn:aws:ec2:us-east-1::image/ami-1',
        EvalDecision: 'allowed',
        MatchedStatements: [{ SourcePolicyId: 'images', SourcePolicyType: 'role' }],
        ResourceSpecificResults: [
          expect.objectContaining({ EvalResourceName: 'arn:aws:ec2:us-east-1::image/ami-1', EvalResourceDecision: 'allowed' }),
        ],
      }),
    ]);
    expect(out.IsTruncated).toBe(false);
  });

  it('denies implicitly when the condition fails, and lists a condition key the request lacked', async () => {
    // Act
    const other = await simulate({
      ActionNames: ['ec2:DeregisterImage'],
      ResourceArns: ['arn:aws:ec2:us-east-1::image/ami-1'],
      ContextEntries: team('b'),
    });
    const absent = await simulate({ ActionNames: ['ec2:DeregisterImage'], ResourceArns: ['arn:aws:ec2:us-east-1::image/ami-1'] });

    // Assess
    expect(other.EvaluationResults![0]).toMatchObject({ EvalDecision: 'implicitDeny', MatchedStatements: [], MissingContextValues: [] });
    expect(absent.EvaluationResults![0]).toMatchObject({ EvalDecision: 'implicitDeny', MissingContextValues: ['aws:ResourceTag/team'] });
  });

  it('denies explicitly by an attached managed policy, naming it', async () => {
    // Act
    const out = await simulate({
      ActionNames: ['ec2:DeleteSnapshot'],
      ResourceArns: ['arn:aws:ec2:us-east-1::snapshot/snap-1'],
      ContextEntries: team('a'),
    });

    // Assess
    expect(out.EvaluationResults).toEqual([
      expect.objectContaining({
        EvalActionName: 'ec2:DeleteSnapshot',
        EvalDecision: 'explicitDeny',
        MatchedStatements: [{ SourcePolicyId: `arn:aws:iam::${ACCOUNT}:policy/no-snapshot-deletes`, SourcePolicyType: 'user-managed' }],
      }),
    ]);
  });

  it('answers one result per action, each resource under it, the most restrictive on top', async () => {
    // Act: the inline policy names ami-1 only
    const out = await simulate({
      ActionNames: ['ec2:DeregisterImage'],
      ResourceArns: ['arn:aws:ec2:us-east-1::image/ami-1', 'arn:aws:ec2:us-east-1::image/ami-2'],
      ContextEntries: team('a'),
    });

    // Assess
    expect(out.EvaluationResults).toHaveLength(1);
    const [result] = out.EvaluationResults!;
    expect(result).toMatchObject({ EvalActionName: 'ec2:DeregisterImage', EvalDecision: 'implicitDeny', MatchedStatements: [] });
    expect(result!.EvalResourceName).toBeUndefined();
    expect(result!.ResourceSpecificResults!.map((r) => [r.EvalResourceName, r.EvalResourceDecision, r.MatchedStatements])).toEqual([
      ['arn:aws:ec2:us-east-1::image/ami-1', 'allowed', [{ SourcePolicyId: 'images', SourcePolicyType: 'role' }]],
      ['arn:aws:ec2:us-east-1::image/ami-2', 'implicitDeny', []],
    ]);
  });

  it('pages the results with MaxItems and Marker', async () => {
    // Act
    const first = await simulate({ ActionNames: ['ec2:DeregisterImage', 'ec2:DeleteSnapshot', 'ec2:CreateImage'], MaxItems: 2 });
    const rest = await simulate({
      ActionNames: ['ec2:DeregisterImage', 'ec2:DeleteSnapshot', 'ec2:CreateImage'],
      MaxItems: 2,
      Marker: first.Marker!,
    });

    // Assess
    expect(first.IsTruncated).toBe(true);
    expect(first.EvaluationResults!.map((r) => r.EvalActionName)).toEqual(['ec2:DeregisterImage', 'ec2:DeleteSnapshot']);
    expect(rest.IsTruncated).toBe(false);
    expect(rest.EvaluationResults!.map((r) => [r.EvalActionName, r.EvalDecision])).toEqual([['ec2:CreateImage', 'implicitDeny']]);
  });

  it('answers NoSuchEntity for a role that does not exist', async () => {
    // Act
    const refused = proxied(IAMClient).send(
      new SimulatePrincipalPolicyCommand({ PolicySourceArn: `arn:aws:iam::${ACCOUNT}:role/nobody`, ActionNames: ['ec2:DescribeImages'] }),
    );

    // Assess
    await expect(refused).rejects.toMatchObject({ name: 'NoSuchEntityException', message: 'The role with name nobody cannot be found.' });
  });
});

describe('harness: the account settings doctor reads', () => {
  it("Lambda's GetAccountSettings: the default limit, less what the account's functions reserve", async () => {
    // Prepare
    await deploy(packaged);
    await direct(LambdaClient).send(
      new PutFunctionConcurrencyCommand({ FunctionName: `${STACK}-rotate`, ReservedConcurrentExecutions: 5 }),
    );

    // Act
    const out = await proxied(LambdaClient).send(new GetAccountSettingsCommand({}));

    // Assess
    expect(out.AccountLimit).toMatchObject({ ConcurrentExecutions: 1000, UnreservedConcurrentExecutions: 995 });
    expect(out.AccountUsage?.FunctionCount).toBe(9);
  });
});
