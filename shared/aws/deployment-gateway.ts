/**
 * What `ami-lifecycle doctor` reads of a deployed stack and the account it runs in, through the
 * SDK: the stack (CloudFormation), the functions, their concurrency and queue mappings (Lambda),
 * simulations of their roles (IAM), the account's image and EBS settings (EC2), the rules
 * (EventBridge), the schedules (Scheduler) and the queues (SQS). Read only: every call is a
 * Describe, Get, List or a simulation. Each answer is mapped to a small shape of its own; errors
 * come through as the SDK raised them, for doctor to tell a refusal from a missing resource.
 */
import { type CloudFormationClient, DescribeStacksCommand, paginateListStackResources } from '@aws-sdk/client-cloudformation';
import {
  type EC2Client,
  GetEbsDefaultKmsKeyIdCommand,
  GetEbsEncryptionByDefaultCommand,
  GetImageBlockPublicAccessStateCommand,
} from '@aws-sdk/client-ec2';
import { DescribeRuleCommand, type EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { type IAMClient, SimulatePrincipalPolicyCommand, type ContextEntry } from '@aws-sdk/client-iam';
import {
  GetAccountSettingsCommand,
  GetFunctionConcurrencyCommand,
  GetFunctionConfigurationCommand,
  type LambdaClient,
  paginateListEventSourceMappings,
} from '@aws-sdk/client-lambda';
import { GetScheduleCommand, type SchedulerClient } from '@aws-sdk/client-scheduler';
import { GetQueueAttributesCommand, GetQueueUrlCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** The clients doctor reads through (the CLI makes them on first use: the other commands need none of them). */
export interface DeploymentClients {
  cloudFormation: CloudFormationClient;
  iam: IAMClient;
  lambda: LambdaClient;
  ec2: EC2Client;
  events: EventBridgeClient;
  scheduler: SchedulerClient;
  sqs: SQSClient;
}

export interface StackDescription {
  status: string | undefined;
  /** arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<id> */
  stackId: string | undefined;
}

export interface StackResource {
  logicalId: string | undefined;
  physicalId: string | undefined;
}

export interface FunctionConfiguration {
  role: string | undefined;
  environment: Record<string, string>;
}

/** A value of an IAM condition key, as a simulation takes it. */
export type ContextValue = string | string[] | boolean;

/** IAM's verdict on one action on one resource: per resource where IAM answers so, else the action's. */
export interface SimulatedDecision {
  decision: string;
  statements: Array<{ policyId: string | undefined; policyType: string | undefined }>;
  missingContext: string[];
}

export interface EventSourceMapping {
  uuid: string | undefined;
  state: string | undefined;
  eventSourceArn: string | undefined;
  maximumConcurrency: number | undefined;
}

export interface AccountConcurrency {
  concurrentExecutions: number | undefined;
  unreservedConcurrentExecutions: number | undefined;
}

export interface QueueDepth {
  /** ApproximateNumberOfMessages. */
  visible: number;
  /** ApproximateNumberOfMessagesNotVisible: received, being read. */
  inFlight: number;
}

const DEPTH_ATTRIBUTES = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] as const;

function contextEntries(context: Readonly<Record<string, ContextValue>>): ContextEntry[] {
  return Object.entries(context).map(([ContextKeyName, value]) => ({
    ContextKeyName,
    ContextKeyValues: Array.isArray(value) ? value : [String(value)],
    ContextKeyType: Array.isArray(value) ? 'stringList' : typeof value === 'boolean' ? 'boolean' : 'string',
  }));
}

export class DeploymentGateway {
  constructor(private readonly clients: DeploymentClients) {}

  // ---- CloudFormation ------------------------------------------------------------------------

  /** The stack, or undefined when CloudFormation answers without one. Throws "does not exist" for an unknown stack. */
  async describeStack(stackName: string): Promise<StackDescription | undefined> {
    const stack = (await this.clients.cloudFormation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
    return stack ? { status: stack.StackStatus, stackId: stack.StackId } : undefined;
  }

  /** Every resource of the stack, all pages. */
  async listStackResources(stackName: string): Promise<StackResource[]> {
    const resources: StackResource[] = [];
    for await (const page of paginateListStackResources({ client: this.clients.cloudFormation }, { StackName: stackName })) {
      for (const r of page.StackResourceSummaries ?? []) {
        resources.push({ logicalId: r.LogicalResourceId, physicalId: r.PhysicalResourceId });
      }
    }
    return resources;
  }

  // ---- Lambda --------------------------------------------------------------------------------

  async functionConfiguration(functionName: string): Promise<FunctionConfiguration> {
    const config = await this.clients.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
    return { role: config.Role, environment: config.Environment?.Variables ?? {} };
  }

  async accountConcurrency(): Promise<AccountConcurrency> {
    const account = await this.clients.lambda.send(new GetAccountSettingsCommand({}));
    return {
      concurrentExecutions: account.AccountLimit?.ConcurrentExecutions,
      unreservedConcurrentExecutions: account.AccountLimit?.UnreservedConcurrentExecutions,
    };
  }

  /** The function's reserved concurrency; undefined when it reserves none. */
  async reservedConcurrency(functionName: string): Promise<number | undefined> {
    return (await this.clients.lambda.send(new GetFunctionConcurrencyCommand({ FunctionName: functionName }))).ReservedConcurrentExecutions;
  }

  /** The function's event source mappings, all pages. */
  async eventSourceMappings(functionName: string): Promise<EventSourceMapping[]> {
    const mappings: EventSourceMapping[] = [];
    for await (const page of paginateListEventSourceMappings({ client: this.clients.lambda }, { FunctionName: functionName })) {
      for (const m of page.EventSourceMappings ?? []) {
        const maximumConcurrency = m.ScalingConfig?.MaximumConcurrency;
        mappings.push({ uuid: m.UUID, state: m.State, eventSourceArn: m.EventSourceArn, maximumConcurrency });
      }
    }
    return mappings;
  }

  // ---- IAM -----------------------------------------------------------------------------------

  /** SimulatePrincipalPolicy of one action on one resource, with these condition keys, against the role. */
  async simulate(
    roleArn: string,
    action: string,
    resource: string,
    context: Readonly<Record<string, ContextValue>>,
  ): Promise<SimulatedDecision> {
    const out = await this.clients.iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: roleArn,
        ActionNames: [action],
        ResourceArns: [resource],
        ...(Object.keys(context).length > 0 ? { ContextEntries: contextEntries(context) } : {}),
      }),
    );
    const result = out.EvaluationResults?.find((r) => r.EvalActionName?.toLowerCase() === action.toLowerCase());
    const specific = result?.ResourceSpecificResults?.find((r) => r.EvalResourceName === resource);
    return {
      decision: specific?.EvalResourceDecision ?? result?.EvalDecision ?? 'implicitDeny',
      statements: (specific?.MatchedStatements ?? result?.MatchedStatements ?? []).map((s) => ({
        policyId: s.SourcePolicyId,
        policyType: s.SourcePolicyType,
      })),
      missingContext: specific?.MissingContextValues ?? result?.MissingContextValues ?? [],
    };
  }

  // ---- EC2 account settings ------------------------------------------------------------------

  async imageBlockPublicAccess(): Promise<{ state: string | undefined; managedBy: string | undefined }> {
    const out = await this.clients.ec2.send(new GetImageBlockPublicAccessStateCommand({}));
    return { state: out.ImageBlockPublicAccessState, managedBy: out.ManagedBy };
  }

  async ebsEncryptionByDefault(): Promise<boolean | undefined> {
    return (await this.clients.ec2.send(new GetEbsEncryptionByDefaultCommand({}))).EbsEncryptionByDefault;
  }

  async ebsDefaultKmsKeyId(): Promise<string | undefined> {
    return (await this.clients.ec2.send(new GetEbsDefaultKmsKeyIdCommand({}))).KmsKeyId;
  }

  // ---- EventBridge, Scheduler ----------------------------------------------------------------

  /** The rule's state (ENABLED, DISABLED, ...); the default bus when `eventBusName` is undefined. */
  async ruleState(name: string, eventBusName: string | undefined): Promise<string | undefined> {
    return (await this.clients.events.send(new DescribeRuleCommand({ Name: name, EventBusName: eventBusName }))).State;
  }

  async scheduleState(name: string): Promise<string | undefined> {
    return (await this.clients.scheduler.send(new GetScheduleCommand({ Name: name }))).State;
  }

  // ---- SQS -----------------------------------------------------------------------------------

  async queueUrl(queueName: string): Promise<string | undefined> {
    return (await this.clients.sqs.send(new GetQueueUrlCommand({ QueueName: queueName }))).QueueUrl;
  }

  /** How many messages wait in the queue and how many are being read. */
  async queueDepth(queueUrl: string | undefined): Promise<QueueDepth> {
    const { Attributes = {} } = await this.clients.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: [...DEPTH_ATTRIBUTES] }),
    );
    return {
      visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  }
}
