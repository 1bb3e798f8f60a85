/**
 * The gateways of the operator CLI, for a real account (default credential chain, a named
 * profile, a region) or any endpoint (an emulator, a proxy). Its clients make fewer attempts than the
 * functions' (clients.ts): a person is waiting, and a dead endpoint should say so quickly.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { EC2Client } from '@aws-sdk/client-ec2';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SchedulerClient } from '@aws-sdk/client-scheduler';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SSMClient } from '@aws-sdk/client-ssm';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { AutoScalingGateway } from './autoscaling-gateway.js';
import { SsmGateway } from './ssm-gateway.js';
import { DeploymentGateway } from './deployment-gateway.js';
import { Ec2Gateway } from './ec2-gateway.js';
import { EventBusPublisher } from './event-bus.js';

/** Where an operator's commands reach AWS. */
export interface OperatorConnection {
  region: string;
  profile?: string | undefined;
  endpoint?: string | undefined;
}

export interface OperatorGateways {
  ec2: Ec2Gateway;
  /** EC2 in another region (issue 17: copies, their rotation, a DR relaunch), same credentials and endpoint; one per region. */
  ec2In: (region: string) => Ec2Gateway;
  /** Auto Scaling: the launch configurations rotation's plan reads, the groups `stale` reads, promotion's groups. */
  autoScaling: AutoScalingGateway;
  /** Parameter Store: the parameters `stale` reads, promotion's parameters. */
  ssm: SsmGateway;
  events: EventBusPublisher;
  /** What doctor reads (made on first use: the other commands need none of its clients). */
  deployment: () => DeploymentGateway;
  /** The SSM parameters and Auto Scaling groups promotion writes (made on first use). */
  promotion: () => { parameters: SsmGateway; groups: AutoScalingGateway };
}

export function operatorGateways(connection: OperatorConnection, eventBusName: string): OperatorGateways {
  const clientConfig = {
    region: connection.region,
    maxAttempts: 3,
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
    ...(connection.profile ? { profile: connection.profile } : {}),
  };
  const ec2 = new EC2Client(clientConfig);
  const eventBridge = new EventBridgeClient(clientConfig);
  let deployment: DeploymentGateway | undefined;
  const autoScaling = new AutoScalingGateway(new AutoScalingClient(clientConfig));
  const ssm = new SsmGateway(new SSMClient(clientConfig));
  const regional = new Map<string, Ec2Gateway>();
  return {
    ec2: new Ec2Gateway(ec2),
    ec2In: (region) => {
      const gateway = regional.get(region) ?? new Ec2Gateway(new EC2Client({ ...clientConfig, region }));
      regional.set(region, gateway);
      return gateway;
    },
    autoScaling,
    ssm,
    events: new EventBusPublisher(eventBridge, eventBusName),
    promotion: () => ({ parameters: ssm, groups: autoScaling }),
    deployment: () =>
      (deployment ??= new DeploymentGateway({
        cloudFormation: new CloudFormationClient(clientConfig),
        // IAM is global: the SDK sends it to IAM's endpoint whatever the region.
        iam: new IAMClient(clientConfig),
        lambda: new LambdaClient(clientConfig),
        ec2,
        events: eventBridge,
        scheduler: new SchedulerClient(clientConfig),
        sqs: new SQSClient(clientConfig),
      })),
  };
}
