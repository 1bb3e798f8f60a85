/**
 * The pure parts of the harness's IAM evaluation (test/harness/iam): the template resolved
 * as CloudFormation would deploy it, the authorizations AWS makes for a request, and the
 * per-function identity put on requests to the proxy.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authorizationsFor, type ApiCall, type StateLookups } from '../harness/iam/authorizations.js';
import { FUNCTION_HEADER, IamEnforcer } from '../harness/iam/enforcer.js';
import { functionAccessKey, runAsFunction } from '../harness/iam/identity.js';
import { deployContext, ResolvedTemplate } from '../harness/iam/template.js';
import type { Template } from '../infra/template-rules.js';

const where = { partition: 'aws', region: 'us-east-1', account: '123456789012' };

describe('the template as deployed', () => {
  const template: Template = {
    Parameters: { Terminate: { Default: 'false' } },
    Conditions: { Terminates: { 'Fn::Equals': [{ Ref: 'Terminate' }, 'true'] } },
    Resources: {
      Bus: { Type: 'AWS::Events::EventBus', Properties: { Name: 'svc-dev' } },
      Dlq: { Type: 'AWS::SQS::Queue', Properties: { QueueName: 'svc-dev-f-dlq' } },
      Logs: { Type: 'AWS::Logs::LogGroup', Properties: { LogGroupName: '/aws/lambda/svc-dev-f' } },
      FRole: {
        Type: 'AWS::IAM::Role',
        Properties: {
          Policies: [
            {
              PolicyName: 'f',
              PolicyDocument: {
                Statement: [
                  { Effect: 'Allow', Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': ['Bus', 'Arn'] } },
                  { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::Sub': '${Dlq.Arn}' } },
                  { Effect: 'Allow', Action: 'logs:PutLogEvents', Resource: { 'Fn::GetAtt': ['Logs', 'Arn'] } },
                  {
                    Effect: 'Allow',
                    Action: 'ec2:CreateTags',
                    Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:instance/*' },
                    Condition: { 'Fn::If': ['Terminates', { Null: { 'aws:TagKeys': 'false' } }, { Ref: 'AWS::NoValue' }] },
                  },
                ],
              },
            },
          ],
        },
      },
      Extra: {
        Type: 'AWS::IAM::Policy',
        Condition: 'Terminates',
        Properties: {
          PolicyName: 'extra',
          Roles: [{ Ref: 'FRole' }],
          PolicyDocument: { Statement: [{ Effect: 'Allow', Action: 'ec2:TerminateInstances', Resource: '*' }] },
        },
      },
      FLambdaFunction: {
        Type: 'AWS::Lambda::Function',
        Properties: { FunctionName: 'svc-dev-f', Role: { 'Fn::GetAtt': ['FRole', 'Arn'] } },
      },
    },
  };

  it('names resources and resolves intrinsics as CloudFormation does', () => {
    const resolved = new ResolvedTemplate(template, deployContext('svc', 'dev'));
    expect(resolved.ref('Dlq')).toBe('https://sqs.us-east-1.amazonaws.com/123456789012/svc-dev-f-dlq');
    expect(resolved.getAtt('Logs', 'Arn')).toBe('arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/svc-dev-f:*');
    expect(resolved.physicalName('FRole')).toMatch(/^svc-dev-FRole-[0-9A-F]{12}$/);
    const [role, ...more] = resolved.functionRoles('svc', 'dev');
    expect(more).toEqual([]);
    expect(role).toMatchObject({ functionKey: 'f', functionName: 'svc-dev-f', roleLogicalId: 'FRole' });
    expect(role!.roleArn).toBe(`arn:aws:iam::123456789012:role/${resolved.physicalName('FRole')}`);
    expect(role!.policies.map((p) => p.name)).toEqual(['f']);
    expect(role!.policies[0]!.document.Statement.map((s) => s.Resource)).toEqual([
      'arn:aws:events:us-east-1:123456789012:event-bus/svc-dev',
      'arn:aws:sqs:us-east-1:123456789012:svc-dev-f-dlq',
      'arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/svc-dev-f:*',
      'arn:aws:ec2:us-east-1:123456789012:instance/*',
    ]);
    expect(role!.policies[0]!.document.Statement[3]).not.toHaveProperty('Condition');
  });

  it('attaches a conditional policy only where its condition holds', () => {
    const terminating = structuredClone(template);
    terminating.Parameters!.Terminate!.Default = 'true';
    const [role] = new ResolvedTemplate(terminating, deployContext('svc', 'dev')).functionRoles('svc', 'dev');
    expect(role!.policies.map((p) => p.name)).toEqual(['f', 'extra']);
    expect(role!.policies[0]!.document.Statement[3]!.Condition).toEqual({ Null: { 'aws:TagKeys': 'false' } });
  });
});

/** Lookups over a fixed state: tags by id, one instance profile. */
function state(tags: Record<string, Record<string, string>>): StateLookups {
  return {
    ec2Tags: async (ids) => new Map(ids.filter((id) => tags[id]).map((id) => [id, tags[id]!])),
    ec2Described: async (type, ids) =>
      type === 'image'
        ? new Map(
            ids
              .filter((id) => tags[id])
              .map((id) => [id, { tags: tags[id]!, keys: { 'ec2:Owner': '123456789012', 'ec2:Public': 'false' } }]),
          )
        : undefined,
    launchTemplateId: async (name) => (name === 'lt-name' ? 'lt-0123' : undefined),
    instanceNetwork: async () => ({ networkInterfaceId: 'eni-1', subnetId: 'subnet-1', vpcId: 'vpc-1' }),
    defaultSubnet: async () => ({ subnetId: 'subnet-default', vpcId: 'vpc-default' }),
    securityGroupIds: async () => ['sg-default'],
    roleOfInstanceProfile: async (p) => (p.arn?.endsWith('/app') || p.name === 'app' ? 'arn:aws:iam::123456789012:role/app' : undefined),
    ec2Exists: async (_type, id) => tags[id] !== undefined,
    autoScalingGroup: async (name) =>
      tags[`asg/${name}`]
        ? {
            arn: `arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:uuid-1:autoScalingGroupName/${name}`,
            tags: tags[`asg/${name}`]!,
          }
        : undefined,
    imageIn: async (_region, id) => (tags[id] ? { tags: tags[id]!, keys: { 'ec2:Owner': '123456789012' } } : undefined),
  };
}

const ec2 = (action: string, params: Record<string, string>): ApiCall => ({
  service: 'ec2',
  action,
  form: new URLSearchParams({ Action: action, ...params }),
});

describe('the authorizations AWS makes for a request', () => {
  it('RunInstances: each resource of the launch, tags on create per resource type, and PassRole of the profile', async () => {
    const call = ec2('RunInstances', {
      ImageId: 'ami-1',
      InstanceType: 't3.micro',
      SubnetId: 'subnet-9',
      'SecurityGroupId.1': 'sg-9',
      KeyName: 'ops',
      'IamInstanceProfile.Arn': 'arn:aws:iam::123456789012:instance-profile/app',
      'TagSpecification.1.ResourceType': 'instance',
      'TagSpecification.1.Tag.1.Key': 'ami-lifecycle:lineage',
      'TagSpecification.1.Tag.1.Value': 'web',
    });
    const out = await authorizationsFor(call, state({ 'ami-1': { 'ami-lifecycle:managed-by': 'svc' } }), where);
    expect(out.map((a) => `${a.action} ${a.resource}`)).toEqual([
      'ec2:RunInstances arn:aws:ec2:us-east-1::image/ami-1',
      'ec2:RunInstances arn:aws:ec2:us-east-1:123456789012:instance/*',
      'ec2:RunInstances arn:aws:ec2:us-east-1:123456789012:volume/*',
      'ec2:RunInstances arn:aws:ec2:us-east-1:123456789012:network-interface/*',
      'ec2:RunInstances arn:aws:ec2:us-east-1:123456789012:subnet/subnet-9',
      'ec2:RunInstances arn:aws:ec2:us-east-1:123456789012:security-group/sg-9',
      'ec2:RunInstances arn:aws:ec2:us-east-1:123456789012:key-pair/ops',
      'ec2:CreateTags arn:aws:ec2:us-east-1:123456789012:instance/*',
      'iam:PassRole arn:aws:iam::123456789012:role/app',
    ]);
    const [image, instance, volume] = out;
    expect(image!.context).toMatchObject({
      'aws:ResourceTag/ami-lifecycle:managed-by': 'svc',
      'ec2:ResourceTag/ami-lifecycle:managed-by': 'svc',
      'ec2:ImageID': 'ami-1',
      'ec2:Owner': '123456789012',
      'ec2:Public': 'false',
    });
    expect(instance!.context).toMatchObject({
      'aws:RequestTag/ami-lifecycle:lineage': 'web',
      'aws:TagKeys': ['ami-lifecycle:lineage'],
      'ec2:InstanceType': 't3.micro',
    });
    expect(instance!.context).not.toHaveProperty('aws:ResourceTag/ami-lifecycle:lineage');
    // The volume's TagSpecification carried no tags: no request tags for it.
    expect(volume!.context).not.toHaveProperty('aws:TagKeys');
    expect(out[7]!.context).toMatchObject({ 'ec2:CreateAction': 'RunInstances', 'aws:RequestTag/ami-lifecycle:lineage': 'web' });
    expect(out[8]!.context).toEqual({
      'iam:PassedToService': 'ec2.amazonaws.com',
      'iam:AssociatedResourceArn': 'arn:aws:ec2:us-east-1:123456789012:instance/*',
    });
  });

  it('CreateImage: the instance, the new image and snapshots, and CreateTags for each tagged one', async () => {
    const call = ec2('CreateImage', {
      InstanceId: 'i-1',
      Name: 'n',
      'TagSpecification.1.ResourceType': 'image',
      'TagSpecification.1.Tag.1.Key': 'managed-by',
      'TagSpecification.1.Tag.1.Value': 'svc',
      'TagSpecification.2.ResourceType': 'snapshot',
      'TagSpecification.2.Tag.1.Key': 'managed-by',
      'TagSpecification.2.Tag.1.Value': 'svc',
    });
    const out = await authorizationsFor(call, state({ 'i-1': { 'ami-lifecycle:bake': 'nightly' } }), where);
    expect(out.map((a) => `${a.action} ${a.resource}`)).toEqual([
      'ec2:CreateImage arn:aws:ec2:us-east-1:123456789012:instance/i-1',
      'ec2:CreateImage arn:aws:ec2:us-east-1::image/*',
      'ec2:CreateImage arn:aws:ec2:us-east-1::snapshot/*',
      'ec2:CreateTags arn:aws:ec2:us-east-1::image/*',
      'ec2:CreateTags arn:aws:ec2:us-east-1::snapshot/*',
    ]);
    // A request tag is set only where the reference lists it: not for the instance being imaged.
    expect(out[0]!.context).not.toHaveProperty('aws:RequestTag/managed-by');
    expect(out[0]!.context).toMatchObject({ 'aws:ResourceTag/ami-lifecycle:bake': 'nightly' });
    expect(out[1]!.context).toMatchObject({ 'aws:RequestTag/managed-by': 'svc' });
  });

  it('CopyImage (issue 17): the source in its own region with its owner, the copy and its snapshots where the request goes, tags on create', async () => {
    const call = ec2('CopyImage', {
      SourceImageId: 'ami-1',
      SourceRegion: 'us-east-1',
      Name: 'n',
      'TagSpecification.1.ResourceType': 'image',
      'TagSpecification.1.Tag.1.Key': 'managed-by',
      'TagSpecification.1.Tag.1.Value': 'svc',
    });
    const out = await authorizationsFor(call, state({ 'ami-1': { 'managed-by': 'svc' } }), { ...where, region: 'eu-west-1' });
    expect(out.map((a) => `${a.action} ${a.resource}`)).toEqual([
      'ec2:CopyImage arn:aws:ec2:us-east-1::image/ami-1',
      'ec2:CopyImage arn:aws:ec2:eu-west-1::image/*',
      'ec2:CopyImage arn:aws:ec2:eu-west-1::snapshot/*',
      'ec2:CreateTags arn:aws:ec2:eu-west-1::image/*',
    ]);
    // The reference lists no aws:ResourceTag for CopyImage's image: the source's tags are not in its context.
    expect(out[0]!.context).toEqual({ 'ec2:Region': 'eu-west-1', 'ec2:ImageID': 'ami-1', 'ec2:Owner': '123456789012' });
    expect(out[1]!.context).toMatchObject({ 'aws:RequestTag/managed-by': 'svc' });
    expect(out[3]!.context).toMatchObject({ 'ec2:CreateAction': 'CopyImage', 'aws:RequestTag/managed-by': 'svc' });
  });

  it('a call without tags makes no CreateTags authorization; a wildcard-only action is authorized on *', async () => {
    const launchTemplate = await authorizationsFor(ec2('CreateLaunchTemplate', { LaunchTemplateName: 'x' }), state({}), where);
    expect(launchTemplate.map((a) => a.action)).toEqual(['ec2:CreateLaunchTemplate']);
    const describe = await authorizationsFor(ec2('DescribeImages', {}), state({}), where);
    expect(describe).toEqual([{ action: 'ec2:DescribeImages', resource: '*', context: { 'ec2:Region': 'us-east-1' } }]);
  });

  it('a launch template version names its template by name; an instance profile in it is passed to EC2', async () => {
    const out = await authorizationsFor(
      ec2('CreateLaunchTemplateVersion', { LaunchTemplateName: 'lt-name', 'LaunchTemplateData.IamInstanceProfile.Name': 'app' }),
      state({ 'lt-0123': { 'ami-lifecycle:managed-by': 'svc' } }),
      where,
    );
    expect(out.map((a) => `${a.action} ${a.resource}`)).toEqual([
      'ec2:CreateLaunchTemplateVersion arn:aws:ec2:us-east-1:123456789012:launch-template/lt-0123',
      'iam:PassRole arn:aws:iam::123456789012:role/app',
    ]);
    expect(out[1]!.context).toEqual({ 'iam:PassedToService': 'ec2.amazonaws.com' });
  });

  it('PutEvents: one per bus, source and detail type; an action not modelled is a harness error', async () => {
    const call: ApiCall = {
      service: 'events',
      action: 'PutEvents',
      json: {
        Entries: [
          { Source: 's', DetailType: 'A', EventBusName: 'bus' },
          { Source: 's', DetailType: 'A', EventBusName: 'bus' },
          { Source: 's', DetailType: 'B' },
        ],
      },
    };
    const out = await authorizationsFor(call, state({}), where);
    expect(out.map((a) => [a.resource, a.context])).toEqual([
      ['arn:aws:events:us-east-1:123456789012:event-bus/bus', { 'events:source': 's', 'events:detail-type': 'A' }],
      ['arn:aws:events:us-east-1:123456789012:event-bus/default', { 'events:source': 's', 'events:detail-type': 'B' }],
    ]);
    await expect(authorizationsFor(ec2('ModifyVolume', { VolumeId: 'vol-1', Size: '20' }), state({}), where)).rejects.toThrow(
      /does not model/,
    );
  });

  it.each(['AttachVolume', 'DetachVolume'])('%s: the instance and the volume (a following volume moves, issue 14)', async (action) => {
    const out = await authorizationsFor(ec2(action, { VolumeId: 'vol-1', InstanceId: 'i-1', Device: '/dev/sdf' }), state({}), where);
    expect(out.map((a) => [a.action, a.resource])).toEqual([
      [`ec2:${action}`, 'arn:aws:ec2:us-east-1:123456789012:instance/i-1'],
      [`ec2:${action}`, 'arn:aws:ec2:us-east-1:123456789012:volume/vol-1'],
    ]);
  });
});

describe('per-function identity', () => {
  let proxy: Server;
  let other: Server;
  const seen: Array<{ server: string; authorization: string | undefined }> = [];
  const listen = async (name: string) => {
    const server = createServer((req, res) => {
      seen.push({ server: name, authorization: req.headers.authorization });
      res.end();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    return server;
  };
  const send = (server: Server) =>
    new Promise<void>((done, fail) => {
      const { port } = server.address() as AddressInfo;
      const auth = 'AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x';
      const req = request(
        { host: '127.0.0.1', port, method: 'POST', headers: { authorization: auth, host: `127.0.0.1:${port}` } },
        (res) => {
          res.resume();
          res.on('end', done);
        },
      );
      req.on('error', fail);
      req.end('x');
    });

  beforeAll(async () => {
    proxy = await listen('proxy');
    other = await listen('other');
  });
  afterAll(() => {
    proxy.close();
    other.close();
  });

  it('signs requests to the proxy made inside an invocation with the function key, and no others', async () => {
    const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const key = functionAccessKey('svc-dev-bake');
    expect(key).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(functionAccessKey('svc-dev-rotate')).not.toBe(key);

    await runAsFunction('svc-dev-bake', endpoint, async () => {
      await Promise.resolve();
      await send(proxy);
      await send(other);
    });
    await send(proxy);

    expect(seen.map((s) => [s.server, /Credential=([^/]+)\//.exec(s.authorization ?? '')?.[1]])).toEqual([
      ['proxy', key],
      ['other', 'testing'],
      ['proxy', 'testing'],
    ]);
  });
});

describe("authorizations on the caller's behalf (for a later link of the proxy)", () => {
  it('evaluates them against the role of the function that made the request, and records a refusal', async () => {
    const role = {
      functionKey: 'rotate',
      functionName: 'svc-dev-rotate',
      roleLogicalId: 'RotateRole',
      roleName: 'svc-dev-RotateRole-0123456789AB',
      roleArn: 'arn:aws:iam::123456789012:role/svc-dev-RotateRole-0123456789AB',
      policies: [
        {
          name: 'rotate',
          document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' }] },
        },
      ],
    };
    const enforcer = new IamEnforcer([role], 'http://127.0.0.1:1', where);
    try {
      const request = {
        method: 'POST',
        url: '/',
        headers: { [FUNCTION_HEADER]: 'svc-dev-rotate' },
        body: Buffer.alloc(0),
        action: 'DescribeImageReferences',
        form: undefined,
      };
      const asked = [
        { action: 'ec2:DescribeInstances', resource: '*', context: { 'aws:CalledVia': ['ec2.amazonaws.com'] } },
        { action: 'ssm:DescribeParameters', resource: '*', context: { 'aws:CalledVia': ['ec2.amazonaws.com'] } },
      ];
      const refused = await enforcer.authorizeOnBehalf(request, 'ec2:DescribeImageReferences', asked);
      expect(refused?.action).toBe('ssm:DescribeParameters');
      expect(enforcer.denials()).toEqual([
        expect.objectContaining({
          function: 'svc-dev-rotate',
          call: 'ec2:DescribeImageReferences',
          action: 'ssm:DescribeParameters',
          resource: '*',
        }),
      ]);
      // A request no function made (a test's own, the CLI) is an administrator's.
      expect(await enforcer.authorizeOnBehalf({ ...request, headers: {} }, 'ec2:DescribeImageReferences', asked)).toBeUndefined();
      enforcer.expectDenials(1);
    } finally {
      enforcer.close();
    }
  });
});
