import { beforeEach, describe, expect, it } from 'vitest';
import { mockClient } from 'aws-sdk-client-mock';
import { DescribeInstancesCommand, GetConsoleOutputCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { GetCommandInvocationCommand, ListCommandsCommand, SendCommandCommand, SSMClient } from '@aws-sdk/client-ssm';
import { SsmGateway } from '../../../shared/aws/ssm-gateway.js';
import { TAG } from '../../../shared/domain/tags.js';
import { awsError, ec2Mock, gateway } from './support.js';

const ssmMock = mockClient(SSMClient);
const ssm = () => new SsmGateway(new SSMClient({ region: 'us-east-1', maxAttempts: 1 }));

beforeEach(() => {
  ec2Mock.reset();
  ssmMock.reset();
});

describe('Ec2Gateway, verification', () => {
  it('launches a test instance with no key pair, no public address, the one subnet and group, every volume deleted with it', async () => {
    // Prepare
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0aaaaaaaaaaaaaaa1' }] });

    // Act
    const id = await gateway().runTestInstance({
      imageId: 'ami-0123456789abcdef0',
      instanceType: 't3.micro',
      subnetId: 'subnet-0aaaaaaaaaaaaaaa1',
      securityGroupId: 'sg-0aaaaaaaaaaaaaaa1',
      clientToken: 'verify-ami-0123456789abcdef0',
      tags: { [TAG.role]: 'verification' },
      devices: ['/dev/xvda', '/dev/sdf'],
    });

    // Assess
    expect(id).toBe('i-0aaaaaaaaaaaaaaa1');
    const sent = ec2Mock.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    expect(sent).toEqual({
      ImageId: 'ami-0123456789abcdef0',
      MinCount: 1,
      MaxCount: 1,
      ClientToken: 'verify-ami-0123456789abcdef0',
      InstanceType: 't3.micro',
      NetworkInterfaces: [
        { DeviceIndex: 0, SubnetId: 'subnet-0aaaaaaaaaaaaaaa1', Groups: ['sg-0aaaaaaaaaaaaaaa1'], AssociatePublicIpAddress: false },
      ],
      InstanceInitiatedShutdownBehavior: 'terminate',
      MetadataOptions: { HttpTokens: 'required' },
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: true } },
        { DeviceName: '/dev/sdf', Ebs: { DeleteOnTermination: true } },
      ],
      TagSpecifications: [
        { ResourceType: 'instance', Tags: [{ Key: TAG.role, Value: 'verification' }] },
        { ResourceType: 'volume', Tags: [{ Key: TAG.role, Value: 'verification' }] },
      ],
    });
    expect(sent.KeyName).toBeUndefined();
  });

  it("lists the stack's test instances by tag, of one image when asked", async () => {
    // Prepare
    const launched = new Date('2026-12-03T12:00:00Z');
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-0aaaaaaaaaaaaaaa1',
              State: { Name: 'running' },
              LaunchTime: launched,
              InstanceType: 't3.micro',
              Tags: [{ Key: TAG.verifies, Value: 'ami-0123456789abcdef0' }],
            },
          ],
        },
      ],
    });

    // Act
    const found = await gateway().listTestInstances('stack', 'ami-0123456789abcdef0');

    // Assess
    expect(found).toEqual([
      {
        instanceId: 'i-0aaaaaaaaaaaaaaa1',
        state: 'running',
        launchTime: launched,
        imageId: 'ami-0123456789abcdef0',
        instanceType: 't3.micro',
      },
    ]);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, {
      Filters: [
        { Name: `tag:${TAG.managedBy}`, Values: ['stack'] },
        { Name: `tag:${TAG.role}`, Values: ['verification'] },
        { Name: `tag:${TAG.verifies}`, Values: ['ami-0123456789abcdef0'] },
      ],
    });
  });

  it('reads the latest console output, decoded; none for an instance that is gone', async () => {
    // Prepare
    ec2Mock
      .on(GetConsoleOutputCommand, { InstanceId: 'i-0aaaaaaaaaaaaaaa1' })
      .resolves({ Output: Buffer.from('Kernel panic\n').toString('base64') })
      .on(GetConsoleOutputCommand, { InstanceId: 'i-0aaaaaaaaaaaaaaa2' })
      .rejects(awsError('InvalidInstanceID.NotFound'));

    // Act / Assess
    expect(await gateway().consoleOutput('i-0aaaaaaaaaaaaaaa1')).toBe('Kernel panic\n');
    expect(await gateway().consoleOutput('i-0aaaaaaaaaaaaaaa2')).toBeUndefined();
    expect(ec2Mock).toHaveReceivedCommandWith(GetConsoleOutputCommand, { InstanceId: 'i-0aaaaaaaaaaaaaaa1', Latest: true });
  });
});

describe('SsmGateway', () => {
  it('sends the document to the instance, its comment cut to the 100 characters SSM takes', async () => {
    // Prepare
    ssmMock.on(SendCommandCommand).resolves({ Command: { CommandId: 'c-1' } });

    // Act
    const id = await ssm().sendCommand('i-0aaaaaaaaaaaaaaa1', 'AWS-RunShellScript', { commands: ['true'] }, 'x'.repeat(101));

    // Assess
    expect(id).toBe('c-1');
    expect(ssmMock).toHaveReceivedCommandWith(SendCommandCommand, {
      InstanceIds: ['i-0aaaaaaaaaaaaaaa1'],
      DocumentName: 'AWS-RunShellScript',
      Parameters: { commands: ['true'] },
      Comment: 'x'.repeat(100),
    });
  });

  it('finds the newest command of the document on the instance, its result; pending while the invocation is not registered', async () => {
    // Prepare
    ssmMock.on(ListCommandsCommand).resolves({
      Commands: [
        { CommandId: 'old', DocumentName: 'AWS-RunShellScript', RequestedDateTime: new Date('2026-12-03T12:00:00Z') },
        { CommandId: 'new', DocumentName: 'AWS-RunShellScript', RequestedDateTime: new Date('2026-12-03T12:05:00Z') },
        { CommandId: 'other', DocumentName: 'Other', RequestedDateTime: new Date('2026-12-03T12:10:00Z') },
      ],
    });
    ssmMock
      .on(GetCommandInvocationCommand)
      .resolvesOnce({ Status: 'Failed', StatusDetails: 'Failed', ResponseCode: 3, StandardErrorContent: 'a\ninactive\n' })
      .rejectsOnce(awsError('InvocationDoesNotExist'));

    // Act
    const failed = await ssm().findCommand('i-0aaaaaaaaaaaaaaa1', 'AWS-RunShellScript');
    const registering = await ssm().findCommand('i-0aaaaaaaaaaaaaaa1', 'AWS-RunShellScript');

    // Assess
    expect(failed).toEqual({ commandId: 'new', status: 'Failed', detail: 'Failed, exit 3, inactive' });
    expect(registering).toEqual({ commandId: 'new', status: 'Pending' });
    expect(ssmMock).toHaveReceivedCommandWith(GetCommandInvocationCommand, { CommandId: 'new', InstanceId: 'i-0aaaaaaaaaaaaaaa1' });
  });
});
