/**
 * Test harness: "deploys" the packaged CloudFormation template (`serverless package`, what a
 * real deploy sends) into moto's CloudFormation, so that what reads a deployed stack (the
 * operator CLI's doctor) reads the real template's roles, policies, functions, queues, bus and
 * rules, under the physical names CloudFormation gives them.
 *
 * Two moto gaps are closed here, as a deploy would leave the account:
 * - The functions' code is in the stack's own deployment bucket, which `serverless deploy`
 *   fills before it creates the stack and moto's CloudFormation would read: each function gets
 *   a one-line inline stand-in instead (tests run the real handlers in-process anyway).
 * - moto's CloudFormation has no AWS::Scheduler::Schedule (it skips the resource): the
 *   schedules are created through moto's EventBridge Scheduler, from the template's own
 *   properties with their references resolved to the stack's resources.
 * (moto also skips AWS::SQS::QueuePolicy and AWS::CloudWatch::Alarm; nothing here reads them.)
 */
import {
  CloudFormationClient,
  CreateStackCommand,
  DescribeStacksCommand,
  paginateListStackResources,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import { GetRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { CreateScheduleCommand, SchedulerClient, type CreateScheduleCommandInput } from '@aws-sdk/client-scheduler';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { loadServerlessYml, PROJECT_ROOT } from '../../cli/serverless-config.js';
import type { Template } from '../infra/template-rules.js';

const run = promisify(execFile);

/**
 * `serverless package` of a copy of the service (serverless.yml and the files it includes, its
 * sources, this node_modules), so that its esbuild work folder is its own: two test files
 * packaging at once in the project would clean and write the same .esbuild folder.
 */
export async function packageIsolated(stage: string, region = 'us-east-1'): Promise<Template> {
  const dir = mkdtempSync(join(tmpdir(), 'ami-lifecycle-service-'));
  try {
    const service = loadServerlessYml().files.map((file) => relative(PROJECT_ROOT, file));
    for (const entry of [...service, 'package.json', 'tsconfig.json', 'functions', 'shared']) {
      cpSync(join(PROJECT_ROOT, entry), join(dir, entry), { recursive: true });
    }
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
    // serverless-esbuild zips each function from a folder it makes in the temporary directory
    // and leaves behind (`<function>-<pid>-<time>-<hex>`): made inside `dir`, it goes with it.
    const temp = join(dir, 'tmp');
    mkdirSync(temp);
    const bin = join(dir, 'node_modules', 'osls', 'bin', 'serverless.js');
    await run(process.execPath, [bin, 'package', '--stage', stage, '--region', region, '--package', join(dir, 'out')], {
      cwd: dir,
      maxBuffer: 16 * 1024 * 1024,
      env: { ...process.env, TMPDIR: temp, SLS_TELEMETRY_DISABLED: '1', SLS_NOTIFICATIONS_MODE: 'off' },
    });
    return JSON.parse(readFileSync(join(dir, 'out', 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface DeployedStack {
  stackName: string;
  stackId: string;
  /** Logical id -> physical id, for every resource moto created. */
  physical: Record<string, string>;
}

const ACCOUNT = '123456789012';

/** The template as moto's CloudFormation can create it: each function's code inline. */
export function forMoto(template: Template): Template {
  const copy = structuredClone(template);
  for (const resource of Object.values(copy.Resources)) {
    if (resource.Type === 'AWS::Lambda::Function' && resource.Properties) {
      resource.Properties.Code = { ZipFile: 'exports.handler = async () => undefined;' };
    }
  }
  return copy;
}

export async function deployStack(
  endpoint: string,
  template: Template,
  options: { stackName: string; region?: string },
): Promise<DeployedStack> {
  const config = { endpoint, region: options.region ?? 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } };
  const cloudFormation = new CloudFormationClient(config);
  const iam = new IAMClient(config);
  const sqs = new SQSClient(config);
  const scheduler = new SchedulerClient(config);
  try {
    const { StackId } = await cloudFormation.send(
      new CreateStackCommand({
        StackName: options.stackName,
        TemplateBody: JSON.stringify(forMoto(template)),
        Capabilities: ['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM'],
      }),
    );
    const status = (await cloudFormation.send(new DescribeStacksCommand({ StackName: options.stackName }))).Stacks?.[0]?.StackStatus;
    if (status !== 'CREATE_COMPLETE') throw new Error(`moto left ${options.stackName} ${status}`);
    const resources: StackResourceSummary[] = [];
    for await (const page of paginateListStackResources({ client: cloudFormation }, { StackName: options.stackName })) {
      resources.push(...(page.StackResourceSummaries ?? []));
    }
    const physical = Object.fromEntries(
      resources.filter((r) => r.LogicalResourceId).map((r) => [r.LogicalResourceId!, r.PhysicalResourceId ?? '']),
    );

    /** Fn::GetAtt <resource>.Arn, as CloudFormation resolves it for the types the schedules name. */
    const arnOf = async (logicalId: string): Promise<string> => {
      const type = template.Resources[logicalId]?.Type;
      const id = physical[logicalId];
      if (!id) throw new Error(`the stack has no ${logicalId}`);
      if (type === 'AWS::Lambda::Function') return `arn:aws:lambda:${config.region}:${ACCOUNT}:function:${id}`;
      if (type === 'AWS::IAM::Role') return (await iam.send(new GetRoleCommand({ RoleName: id }))).Role!.Arn!;
      if (type === 'AWS::SQS::Queue') {
        const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: id, AttributeNames: ['QueueArn'] }));
        return Attributes!.QueueArn!;
      }
      throw new Error(`no ARN for ${logicalId} (${type})`);
    };
    const resolve = async (value: unknown): Promise<unknown> => {
      if (Array.isArray(value)) return Promise.all(value.map(resolve));
      if (value === null || typeof value !== 'object') return value;
      const entries = Object.entries(value as Record<string, unknown>);
      const [first] = entries;
      if (entries.length === 1 && first?.[0] === 'Fn::GetAtt') {
        const [logicalId, attribute] = first[1] as [string, string];
        if (attribute !== 'Arn') throw new Error(`Fn::GetAtt ${logicalId}.${attribute} is not resolved here`);
        return arnOf(logicalId);
      }
      return Object.fromEntries(await Promise.all(entries.map(async ([k, v]) => [k, await resolve(v)] as const)));
    };
    for (const [logicalId, resource] of Object.entries(template.Resources)) {
      if (resource.Type !== 'AWS::Scheduler::Schedule') continue;
      const input = (await resolve(resource.Properties)) as CreateScheduleCommandInput;
      if (!input.Name) throw new Error(`${logicalId} has no Name`);
      await scheduler.send(new CreateScheduleCommand(input));
    }
    return { stackName: options.stackName, stackId: StackId!, physical };
  } finally {
    cloudFormation.destroy();
    iam.destroy();
    sqs.destroy();
    scheduler.destroy();
  }
}
