import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import {
  AssociateAddressCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DeleteLaunchTemplateVersionsCommand,
  DescribeAddressesCommand,
  DescribeImagesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type DescribeImagesCommandInput,
  type DescribeInstancesCommandInput,
  type Image,
  type Instance,
  type MonitoringState,
  type ResponseLaunchTemplateData,
} from '@aws-sdk/client-ec2';
import { fromTemplateData, toTemplateData } from '../../../shared/aws/ec2-mappers.js';
import type { RelaunchSpec, StoredLaunchConfig } from '../../../shared/domain/launch.js';
import { TAG } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { answerPages, awsError, collect, ec2Mock, gateway } from './support.js';

const STACK = 'ami-lifecycle-test';
const ACCOUNT = '123456789012';
const INSTANCE_ID = 'i-0123456789abcdef0';
const LAUNCHED = new Date('2026-11-20T08:30:00.000Z');
const PROFILE_ARN = `arn:aws:iam::${ACCOUNT}:instance-profile/web`;
const USER_DATA = 'IyEvYmluL2Jhc2gKZWNobyBoZWxsbwo=';

/** An instance as DescribeInstances shows it, with everything a replacement needs. */
const fullInstance: Instance = {
  InstanceId: INSTANCE_ID,
  ImageId: 'ami-0aaaaaaaaaaaaaaaa',
  State: { Name: 'stopped', Code: 80 },
  StateReason: { Code: 'Server.InternalError', Message: 'Server.InternalError: Internal error on launch' },
  LaunchTime: LAUNCHED,
  InstanceType: 'm7g.large',
  SubnetId: 'subnet-0aaaaaaaaaaaaaaaa',
  SecurityGroups: [{ GroupId: 'sg-01', GroupName: 'web' }, { GroupName: 'without-an-id' }, { GroupId: 'sg-02', GroupName: 'ssh' }],
  KeyName: 'ops',
  IamInstanceProfile: { Arn: PROFILE_ARN, Id: 'AIPAEXAMPLE' },
  EbsOptimized: true,
  Monitoring: { State: 'enabled' },
  MetadataOptions: {
    State: 'applied',
    HttpTokens: 'required',
    HttpEndpoint: 'enabled',
    HttpPutResponseHopLimit: 2,
    InstanceMetadataTags: 'disabled',
  },
  NetworkInterfaces: [
    { NetworkInterfaceId: 'eni-0', Attachment: { DeviceIndex: 0 }, Association: { PublicIp: '203.0.113.10', IpOwnerId: ACCOUNT } },
  ],
  Tags: [
    { Key: TAG.lineage, Value: 'web' },
    { Key: TAG.recover, Value: 'on-failure' },
    { Key: 'Name', Value: 'web-1' },
  ],
};

const fullTags = { [TAG.lineage]: 'web', [TAG.recover]: 'on-failure', Name: 'web-1' };

/** A configuration as the bake captures it (user data included). */
const config: StoredLaunchConfig = {
  instanceType: 'm7g.large',
  subnetId: 'subnet-0aaaaaaaaaaaaaaaa',
  securityGroupIds: ['sg-01', 'sg-02'],
  keyName: 'ops',
  iamInstanceProfileArn: PROFILE_ARN,
  ebsOptimized: true,
  monitoring: true,
  metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 2, instanceMetadataTags: 'disabled' },
  userData: USER_DATA,
  tags: { [TAG.lineage]: 'web', Name: 'web-1', team: 'platform' },
};

const configTagList = [
  { Key: TAG.lineage, Value: 'web' },
  { Key: 'Name', Value: 'web-1' },
  { Key: 'team', Value: 'platform' },
];

/** The launch template data `config` becomes. */
const configTemplateData = {
  InstanceType: 'm7g.large',
  KeyName: 'ops',
  IamInstanceProfile: { Arn: PROFILE_ARN },
  EbsOptimized: true,
  Monitoring: { Enabled: true },
  MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2, InstanceMetadataTags: 'disabled' },
  UserData: USER_DATA,
  NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: 'subnet-0aaaaaaaaaaaaaaaa', Groups: ['sg-01', 'sg-02'] }],
  TagSpecifications: [{ ResourceType: 'instance', Tags: configTagList }],
};

const TEMPLATE = `${STACK}-web`;
const TEMPLATE_TAGS = { [TAG.managedBy]: STACK, [TAG.lineage]: 'web' };
const DESCRIPTION = 'captured at 2026-11-26T01:00:00.000Z';
const REVISION = `from ${INSTANCE_ID}, digest 0123456789abcdef`;
/** The description as saved: the revision closes it. */
const SAVED_DESCRIPTION = `${DESCRIPTION} (${REVISION})`;

/** Answers DescribeInstances with the one instance and describes it through the gateway. */
async function summaryOf(instance: Instance) {
  ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance] }] });
  const summary = await gateway().describeInstance(instance.InstanceId ?? INSTANCE_ID);
  if (!summary) throw new Error('describeInstance answered undefined');
  return summary;
}

const lineageImage = (imageId: string, tags: Record<string, string>): Image => ({
  ImageId: imageId,
  Name: `${STACK}/web/nightly/${imageId}`,
  State: 'available',
  Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
});

beforeEach(() => {
  ec2Mock.reset();
});

// ---------------------------------------------------------------------------------------------
describe('instance summaries (describeInstance, listBakeCandidates)', () => {
  it('maps the launch time, the state reason code and the launch configuration', async () => {
    // Act
    const summary = await summaryOf(fullInstance);

    // Assess
    expect(summary).toEqual({
      instanceId: INSTANCE_ID,
      state: 'stopped',
      tags: fullTags,
      imageId: 'ami-0aaaaaaaaaaaaaaaa',
      launchTime: LAUNCHED,
      stateReasonCode: 'Server.InternalError',
      launch: {
        instanceType: 'm7g.large',
        subnetId: 'subnet-0aaaaaaaaaaaaaaaa',
        securityGroupIds: ['sg-01', 'sg-02'],
        keyName: 'ops',
        iamInstanceProfileArn: PROFILE_ARN,
        ebsOptimized: true,
        monitoring: true,
        metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 2, instanceMetadataTags: 'disabled' },
        elasticIp: '203.0.113.10',
        tags: fullTags,
      },
    });
  });

  it('maps the same fields in the bake listing', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [fullInstance] }] });

    // Act
    const [page] = await collect(gateway().listBakeCandidates());

    // Assess
    expect(page).toEqual([await summaryOf(fullInstance)]);
    expect(page?.[0]).toMatchObject({
      launchTime: LAUNCHED,
      stateReasonCode: 'Server.InternalError',
      launch: { elasticIp: '203.0.113.10' },
    });
  });

  it.each([
    ['an empty code', { Code: '', Message: '' }],
    ['no code', { Message: 'pending' }],
    ['no state reason', undefined],
  ])('reads %s as no state reason code', async (_label, StateReason) => {
    // Act
    const summary = await summaryOf({ ...fullInstance, StateReason });

    // Assess
    expect(summary.stateReasonCode).toBeUndefined();
  });

  it.each<[MonitoringState | undefined, boolean]>([
    ['enabled', true],
    ['pending', true],
    ['disabled', false],
    ['disabling', false],
    [undefined, false],
  ])('reads detailed monitoring %s as %s', async (State, monitoring) => {
    // Act
    const summary = await summaryOf({ ...fullInstance, Monitoring: State ? { State } : undefined });

    // Assess
    expect(summary.launch?.monitoring).toBe(monitoring);
  });

  it.each([
    ['an address owned by the account (an Elastic IP)', { PublicIp: '203.0.113.10', IpOwnerId: ACCOUNT }, '203.0.113.10'],
    ["an address owned by 'amazon' (auto-assigned)", { PublicIp: '198.51.100.7', IpOwnerId: 'amazon' }, undefined],
    ['an address without an owner', { PublicIp: '198.51.100.7' }, undefined],
    ['an owner without an address', { IpOwnerId: ACCOUNT }, undefined],
    ['no association', undefined, undefined],
  ])('reads %s on the primary interface as elasticIp %s', async (_label, Association, elasticIp) => {
    // Act
    const summary = await summaryOf({ ...fullInstance, NetworkInterfaces: [{ Attachment: { DeviceIndex: 0 }, Association }] });

    // Assess
    expect(summary.launch?.elasticIp).toBe(elasticIp);
  });

  it('takes the Elastic IP of the interface at device index 0, not of the first one listed', async () => {
    // Prepare
    const instance: Instance = {
      ...fullInstance,
      NetworkInterfaces: [
        { NetworkInterfaceId: 'eni-1', Attachment: { DeviceIndex: 1 }, Association: { PublicIp: '203.0.113.99', IpOwnerId: ACCOUNT } },
        { NetworkInterfaceId: 'eni-0', Attachment: { DeviceIndex: 0 }, Association: { PublicIp: '198.51.100.7', IpOwnerId: 'amazon' } },
      ],
    };

    // Act
    const summary = await summaryOf(instance);

    // Assess
    expect(summary.launch?.elasticIp).toBeUndefined();
  });

  it('falls back to the first interface when none is attached at device index 0', async () => {
    // Prepare
    const instance: Instance = {
      ...fullInstance,
      NetworkInterfaces: [
        { NetworkInterfaceId: 'eni-a', Association: { PublicIp: '203.0.113.20', IpOwnerId: ACCOUNT } },
        { NetworkInterfaceId: 'eni-b', Attachment: { DeviceIndex: 1 }, Association: { PublicIp: '203.0.113.21', IpOwnerId: ACCOUNT } },
      ],
    };

    // Act
    const summary = await summaryOf(instance);

    // Assess
    expect(summary.launch?.elasticIp).toBe('203.0.113.20');
  });

  it('fills in defaults for an instance that shows little more than its type', async () => {
    // Act
    const summary = await summaryOf({ InstanceId: 'i-1', State: { Name: 'running' }, InstanceType: 't3.micro' });

    // Assess
    expect(summary).toEqual({
      instanceId: 'i-1',
      state: 'running',
      tags: {},
      launch: { instanceType: 't3.micro', securityGroupIds: [], ebsOptimized: false, monitoring: false, tags: {} },
    });
    expect(summary.launch?.metadataOptions).toBeUndefined();
  });

  it('has no launch configuration for an instance without a type', async () => {
    // Act
    const summary = await summaryOf({ ...fullInstance, InstanceType: undefined });

    // Assess
    expect(summary.launch).toBeUndefined();
    expect(summary.launchTime).toEqual(LAUNCHED);
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.describeInstance', () => {
  it('asks for the one instance by id', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [fullInstance] }] });

    // Act
    const summary = await gateway().describeInstance(INSTANCE_ID);

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, { InstanceIds: [INSTANCE_ID] });
    expect(summary?.instanceId).toBe(INSTANCE_ID);
  });

  it.each([
    ['no reservation', {}],
    ['an empty reservation', { Reservations: [{ Instances: [] }] }],
  ])('returns undefined when EC2 answers with %s', async (_label, answer) => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves(answer);

    // Act
    const summary = await gateway().describeInstance(INSTANCE_ID);

    // Assess
    expect(summary).toBeUndefined();
  });

  it.each(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed'])('returns undefined on %s', async (code) => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).rejects(awsError(code));

    // Act
    const summary = await gateway().describeInstance(INSTANCE_ID);

    // Assess
    expect(summary).toBeUndefined();
  });

  it.each([
    ['RequestLimitExceeded', 503, true],
    ['InternalError', 500, true],
    ['UnauthorizedOperation', 403, false],
  ])('throws %s as an AwsCallError, retryable %s', async (code, status, retryable) => {
    // Prepare
    const cause = awsError(code, status);
    ec2Mock.on(DescribeInstancesCommand).rejects(cause);

    // Act
    const error = await gateway()
      .describeInstance(INSTANCE_ID)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ code, action: 'DescribeInstances', retryable, httpStatus: status });
    expect((error as Error).cause).toBe(cause);
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.listLineageInstances', () => {
  it('filters on the lineage tag alone (every state), 1000 a page, and collects every page', async () => {
    // Prepare
    const { sent, fake } = answerPages<DescribeInstancesCommandInput, object>([
      {
        NextToken: 'p2',
        Reservations: [
          {
            Instances: [
              { InstanceId: 'i-1', State: { Name: 'terminated' } },
              { InstanceId: 'i-2', State: { Name: 'running' } },
            ],
          },
        ],
      },
      { NextToken: 'p3', Reservations: [{ Instances: [{ InstanceId: 'i-3', State: { Name: 'stopped' } }] }] },
      { Reservations: [{ Instances: [{ InstanceId: 'i-4', State: { Name: 'shutting-down' } }] }] },
    ]);
    ec2Mock.on(DescribeInstancesCommand).callsFake(fake);

    // Act
    const instances = await gateway().listLineageInstances('web');

    // Assess
    expect(sent.map((i) => i.NextToken)).toEqual([undefined, 'p2', 'p3']);
    for (const input of sent) {
      expect(input.MaxResults).toBe(1000);
      expect(input.Filters).toEqual([{ Name: `tag:${TAG.lineage}`, Values: ['web'] }]);
    }
    expect(instances.map((i) => [i.instanceId, i.state])).toEqual([
      ['i-1', 'terminated'],
      ['i-2', 'running'],
      ['i-3', 'stopped'],
      ['i-4', 'shutting-down'],
    ]);
  });

  it('translates a failure on a later page rather than answering with the first', async () => {
    // Prepare
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({ NextToken: 'p2', Reservations: [{ Instances: [{ InstanceId: 'i-1' }] }] })
      .rejectsOnce(awsError('RequestLimitExceeded', 503));

    // Act
    const act = gateway().listLineageInstances('web');

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'RequestLimitExceeded',
      action: 'DescribeInstances',
      retryable: true,
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.listLineageImages', () => {
  it('asks for own images of the stack and the lineage, 1000 a page, and collects every page', async () => {
    // Prepare
    const tags = { [TAG.managedBy]: STACK, [TAG.lineage]: 'web', [TAG.status]: 'good' };
    const { sent, fake } = answerPages<DescribeImagesCommandInput, object>([
      { NextToken: 'n2', Images: [lineageImage('ami-01', tags), lineageImage('ami-02', tags)] },
      { Images: [lineageImage('ami-03', tags)] },
    ]);
    ec2Mock.on(DescribeImagesCommand).callsFake(fake);

    // Act
    const images = await gateway().listLineageImages(STACK, 'web');

    // Assess
    expect(sent.map((i) => i.NextToken)).toEqual([undefined, 'n2']);
    for (const input of sent) {
      expect(input).toMatchObject({
        Owners: ['self'],
        MaxResults: 1000,
        Filters: [
          { Name: `tag:${TAG.managedBy}`, Values: [STACK] },
          { Name: `tag:${TAG.lineage}`, Values: ['web'] },
        ],
      });
      expect(input.IncludeDisabled).toBeUndefined();
    }
    expect(images.map((i) => i.imageId)).toEqual(['ami-01', 'ami-02', 'ami-03']);
    expect(images[0]).toMatchObject({ state: 'available', tags });
  });

  it('translates a listing failure', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).rejects(awsError('UnauthorizedOperation', 403));

    // Act
    const act = gateway().listLineageImages(STACK, 'web');

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'UnauthorizedOperation', action: 'DescribeImages', retryable: false });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.findLineageOf', () => {
  it('asks for own images of the stack baked from the instance and returns their lineage tag', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).resolves({
      Images: [lineageImage('ami-01', { [TAG.managedBy]: STACK, [TAG.sourceInstance]: INSTANCE_ID, [TAG.lineage]: 'web' })],
    });

    // Act
    const lineage = await gateway().findLineageOf(STACK, INSTANCE_ID);

    // Assess
    expect(lineage).toBe('web');
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImagesCommand, {
      Owners: ['self'],
      Filters: [
        { Name: `tag:${TAG.managedBy}`, Values: [STACK] },
        { Name: `tag:${TAG.sourceInstance}`, Values: [INSTANCE_ID] },
      ],
    });
  });

  it('skips images without a lineage tag', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).resolves({
      Images: [lineageImage('ami-01', { [TAG.managedBy]: STACK }), lineageImage('ami-02', { [TAG.managedBy]: STACK, [TAG.lineage]: 'db' })],
    });

    // Act
    const lineage = await gateway().findLineageOf(STACK, INSTANCE_ID);

    // Assess
    expect(lineage).toBe('db');
  });

  it.each([
    ['no image', { Images: [] }],
    ['no image list', {}],
    ['images without a lineage tag', { Images: [lineageImage('ami-01', { [TAG.managedBy]: STACK })] }],
  ])('returns undefined for %s', async (_label, answer) => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).resolves(answer);

    // Act
    const lineage = await gateway().findLineageOf(STACK, INSTANCE_ID);

    // Assess
    expect(lineage).toBeUndefined();
  });

  it('throws a failure, translated', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).rejects(awsError('RequestLimitExceeded', 503));

    // Act
    const act = gateway().findLineageOf(STACK, INSTANCE_ID);

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'RequestLimitExceeded',
      action: 'DescribeImages',
      retryable: true,
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.readUserData', () => {
  it("asks for the instance's userData attribute and returns its value as EC2 gives it (base64)", async () => {
    // Prepare
    ec2Mock.on(DescribeInstanceAttributeCommand).resolves({ InstanceId: INSTANCE_ID, UserData: { Value: USER_DATA } });

    // Act
    const userData = await gateway().readUserData(INSTANCE_ID);

    // Assess
    expect(userData).toBe(USER_DATA);
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstanceAttributeCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstanceAttributeCommand, { InstanceId: INSTANCE_ID, Attribute: 'userData' });
  });

  it.each([
    ['an empty value', { UserData: { Value: '' } }],
    ['no value', { UserData: {} }],
    ['no attribute', {}],
  ])('returns undefined for %s', async (_label, answer) => {
    // Prepare
    ec2Mock.on(DescribeInstanceAttributeCommand).resolves(answer);

    // Act
    const userData = await gateway().readUserData(INSTANCE_ID);

    // Assess
    expect(userData).toBeUndefined();
  });

  it('throws a refusal, translated', async () => {
    // Prepare
    ec2Mock.on(DescribeInstanceAttributeCommand).rejects(awsError('UnauthorizedOperation', 403));

    // Act
    const act = gateway().readUserData(INSTANCE_ID);

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'UnauthorizedOperation',
      action: 'DescribeInstanceAttribute',
      retryable: false,
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.saveLaunchConfig', () => {
  /** The template exists already: each save adds a version, numbered as given. */
  const existingTemplate = (...versions: number[]) => {
    ec2Mock.on(CreateLaunchTemplateCommand).rejects(awsError('InvalidLaunchTemplateName.AlreadyExistsException'));
    const versionMock = ec2Mock.on(CreateLaunchTemplateVersionCommand);
    for (const VersionNumber of versions)
      versionMock.resolvesOnce({ LaunchTemplateVersion: { LaunchTemplateName: TEMPLATE, VersionNumber } });
    ec2Mock.on(DeleteLaunchTemplateVersionsCommand).resolves({});
  };
  const deletedVersions = () => ec2Mock.commandCalls(DeleteLaunchTemplateVersionsCommand).flatMap((c) => c.args[0].input.Versions ?? []);

  it('creates the template with its name, description, tags and the configuration as launch template data', async () => {
    // Prepare
    ec2Mock.on(CreateLaunchTemplateCommand).resolves({ LaunchTemplate: { LaunchTemplateName: TEMPLATE, LatestVersionNumber: 1 } });

    // Act
    const version = await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    expect(version).toBe(1);
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateLaunchTemplateCommand, 1);
    const input = ec2Mock.commandCalls(CreateLaunchTemplateCommand)[0]!.args[0].input;
    expect(input).toEqual({
      LaunchTemplateName: TEMPLATE,
      VersionDescription: SAVED_DESCRIPTION,
      LaunchTemplateData: configTemplateData,
      TagSpecifications: [
        {
          ResourceType: 'launch-template',
          Tags: [
            { Key: TAG.managedBy, Value: STACK },
            { Key: TAG.lineage, Value: 'web' },
          ],
        },
      ],
    });
    expect(ec2Mock).not.toHaveReceivedCommand(CreateLaunchTemplateVersionCommand);
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteLaunchTemplateVersionsCommand);
  });

  it('names no image, and spells the network as the primary interface only', async () => {
    // Prepare
    ec2Mock.on(CreateLaunchTemplateCommand).resolves({ LaunchTemplate: { LatestVersionNumber: 1 } });

    // Act
    await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    const data = ec2Mock.commandCalls(CreateLaunchTemplateCommand)[0]!.args[0].input.LaunchTemplateData;
    expect(data).not.toHaveProperty('ImageId');
    expect(data).not.toHaveProperty('SubnetId');
    expect(data).not.toHaveProperty('SecurityGroupIds');
    expect(data?.NetworkInterfaces).toEqual([{ DeviceIndex: 0, SubnetId: config.subnetId, Groups: config.securityGroupIds }]);
  });

  it('answers version 1 when EC2 does not say which version it created', async () => {
    // Prepare
    ec2Mock.on(CreateLaunchTemplateCommand).resolves({});

    // Act
    const version = await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    expect(version).toBe(1);
  });

  it('cuts the description to the 255 characters EC2 takes, keeping the revision, for the template and for a version', async () => {
    // Prepare
    const long = `${DESCRIPTION} ${'x'.repeat(400)}`;
    ec2Mock
      .on(CreateLaunchTemplateCommand)
      .resolvesOnce({ LaunchTemplate: { LatestVersionNumber: 1 } })
      .rejects(awsError('InvalidLaunchTemplateName.AlreadyExistsException'));
    ec2Mock.on(CreateLaunchTemplateVersionCommand).resolves({ LaunchTemplateVersion: { VersionNumber: 2 } });

    // Act
    await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, long, REVISION);
    await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, long, REVISION);

    // Assess
    const created = ec2Mock.commandCalls(CreateLaunchTemplateCommand).map((c) => c.args[0].input.VersionDescription);
    const added = ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand).map((c) => c.args[0].input.VersionDescription);
    expect(added).toHaveLength(1);
    const marker = ` (${REVISION})`;
    for (const description of [...created, ...added]) expect(description).toBe(`${long.slice(0, 255 - marker.length)}${marker}`);
  });

  it('keeps a description whole when it fits in 255 characters with the revision', async () => {
    // Prepare
    const exact = 'd'.repeat(255 - ` (${REVISION})`.length);
    ec2Mock.on(CreateLaunchTemplateCommand).resolves({ LaunchTemplate: { LatestVersionNumber: 1 } });

    // Act
    await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, exact, REVISION);

    // Assess
    expect(ec2Mock).toHaveReceivedCommandWith(CreateLaunchTemplateCommand, { VersionDescription: `${exact} (${REVISION})` });
  });

  it('adds a version with the same data and description when the template exists, and answers its number', async () => {
    // Prepare
    existingTemplate(4);

    // Act
    const version = await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    expect(version).toBe(4);
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateLaunchTemplateVersionCommand, 1);
    const input = ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand)[0]!.args[0].input;
    expect(input).toEqual({
      LaunchTemplateName: TEMPLATE,
      VersionDescription: SAVED_DESCRIPTION,
      LaunchTemplateData: configTemplateData,
      ClientToken: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(input.LaunchTemplateData).not.toHaveProperty('ImageId');
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteLaunchTemplateVersionsCommand);
  });

  it.each([
    [2, []],
    [10, []],
    [11, []],
    [12, ['2']],
    [13, ['3']],
    [250, ['240']],
  ])('at version %s deletes versions %j', async (created, deleted) => {
    // Prepare
    existingTemplate(created);

    // Act
    const version = await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    expect(version).toBe(created);
    expect(deletedVersions()).toEqual(deleted);
    if (deleted.length > 0) {
      expect(ec2Mock).toHaveReceivedCommandTimes(DeleteLaunchTemplateVersionsCommand, 1);
      expect(ec2Mock).toHaveReceivedCommandWith(DeleteLaunchTemplateVersionsCommand, { LaunchTemplateName: TEMPLATE, Versions: deleted });
    }
  });

  it('keeps the first version and the ten newest across a run of saves', async () => {
    // Prepare
    const versions = Array.from({ length: 39 }, (_, i) => i + 2);
    existingTemplate(...versions);

    // Act
    for (const _ of versions) await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    const deleted = new Set(deletedVersions().map(Number));
    const kept = [1, ...versions].filter((v) => !deleted.has(v));
    expect(kept).toEqual([1, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
  });

  it('never deletes version 1, nor any version but the one ten behind (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 100_000 }), async (created) => {
        // Prepare
        ec2Mock.reset();
        existingTemplate(created);

        // Act
        await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

        // Assess
        const deleted = deletedVersions();
        expect(deleted).not.toContain('1');
        expect(deleted).toEqual(created > 11 ? [String(created - 10)] : []);
      }),
      { numRuns: 200 },
    );
  });

  it('answers the newest version and adds none when it was saved with this revision (a retry, a duplicate)', async () => {
    // Prepare: saved by an earlier delivery of the bake, at another time
    existingTemplate(8);
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).resolves({
      LaunchTemplateVersions: [{ VersionNumber: 7, VersionDescription: `captured at 2026-11-25T01:00:00.000Z (${REVISION})` }],
    });

    // Act
    const version = await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    expect(version).toBe(7);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeLaunchTemplateVersionsCommand, {
      LaunchTemplateName: TEMPLATE,
      Versions: ['$Latest'],
    });
    expect(ec2Mock).not.toHaveReceivedCommand(CreateLaunchTemplateVersionCommand);
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteLaunchTemplateVersionsCommand);
  });

  it.each([
    ['another digest', `captured at 2026-11-25T01:00:00.000Z (from ${INSTANCE_ID}, digest fedcba9876543210)`],
    ['the same digest from another instance', 'captured at 2026-11-25T01:00:00.000Z (from i-0fedcba9876543210, digest 0123456789abcdef)'],
    ['the revision not at the end', `(${REVISION}) quoted by an operator`],
    ['no description', undefined],
  ])('adds a version when the newest has %s', async (_, VersionDescription) => {
    // Prepare
    existingTemplate(8);
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).resolves({ LaunchTemplateVersions: [{ VersionNumber: 7, VersionDescription }] });

    // Act
    const version = await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    expect(version).toBe(8);
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateLaunchTemplateVersionCommand, 1);
  });

  it('adds a version when the template vanished between the two calls (EC2 then says what is wrong)', async () => {
    // Prepare
    ec2Mock.on(CreateLaunchTemplateCommand).rejects(awsError('InvalidLaunchTemplateName.AlreadyExistsException'));
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).rejects(awsError('InvalidLaunchTemplateName.NotFoundException'));
    ec2Mock.on(CreateLaunchTemplateVersionCommand).rejects(awsError('InvalidLaunchTemplateName.NotFoundException'));

    // Act
    const act = gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'InvalidLaunchTemplateName.NotFoundException', action: 'CreateLaunchTemplateVersion' });
  });

  it('sends one client token for one save and another for another save, so AWS merges only true copies', async () => {
    // Prepare
    existingTemplate(2, 3, 4, 5);

    // Act
    await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);
    await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);
    await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, `${DESCRIPTION}, again`, REVISION);
    await gateway().saveLaunchConfig(`${TEMPLATE}-other`, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    const tokens = ec2Mock.commandCalls(CreateLaunchTemplateVersionCommand).map((c) => c.args[0].input.ClientToken);
    expect(tokens[0]).toBe(tokens[1]);
    expect(new Set(tokens).size).toBe(3);
    for (const token of tokens) expect(token!.length).toBeLessThanOrEqual(64);
  });

  it('throws a failure to read the newest version, translated, without adding one', async () => {
    // Prepare
    ec2Mock.on(CreateLaunchTemplateCommand).rejects(awsError('InvalidLaunchTemplateName.AlreadyExistsException'));
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).rejects(awsError('RequestLimitExceeded', 503));

    // Act
    const act = gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'RequestLimitExceeded', action: 'DescribeLaunchTemplateVersions', retryable: true });
    expect(ec2Mock).not.toHaveReceivedCommand(CreateLaunchTemplateVersionCommand);
  });

  it('throws any other CreateLaunchTemplate refusal without adding a version', async () => {
    // Prepare
    ec2Mock.on(CreateLaunchTemplateCommand).rejects(awsError('InvalidParameterValue'));

    // Act
    const error = await gateway()
      .saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ code: 'InvalidParameterValue', action: 'CreateLaunchTemplate', retryable: false });
    expect(ec2Mock).not.toHaveReceivedCommand(CreateLaunchTemplateVersionCommand);
  });

  it('throws a failure to add the version, translated', async () => {
    // Prepare
    ec2Mock.on(CreateLaunchTemplateCommand).rejects(awsError('InvalidLaunchTemplateName.AlreadyExistsException'));
    ec2Mock.on(CreateLaunchTemplateVersionCommand).rejects(awsError('RequestLimitExceeded', 503));

    // Act
    const act = gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'RequestLimitExceeded',
      action: 'CreateLaunchTemplateVersion',
      retryable: true,
    });
    expect(ec2Mock).not.toHaveReceivedCommand(DeleteLaunchTemplateVersionsCommand);
  });

  it('throws a failure to delete the stale version, translated', async () => {
    // Prepare
    existingTemplate(12);
    ec2Mock.on(DeleteLaunchTemplateVersionsCommand).rejects(awsError('UnauthorizedOperation', 403));

    // Act
    const act = gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'UnauthorizedOperation',
      action: 'DeleteLaunchTemplateVersions',
      retryable: false,
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.readLaunchConfig', () => {
  it("asks for the template's $Latest version and reads its data back", async () => {
    // Prepare
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).resolves({
      LaunchTemplateVersions: [
        { LaunchTemplateName: TEMPLATE, VersionNumber: 7, LaunchTemplateData: configTemplateData as ResponseLaunchTemplateData },
      ],
    });

    // Act
    const read = await gateway().readLaunchConfig(TEMPLATE);

    // Assess
    expect(read).toEqual(config);
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeLaunchTemplateVersionsCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeLaunchTemplateVersionsCommand, {
      LaunchTemplateName: TEMPLATE,
      Versions: ['$Latest'],
    });
  });

  it('reads back what saveLaunchConfig sent', async () => {
    // Prepare
    ec2Mock.on(CreateLaunchTemplateCommand).resolves({ LaunchTemplate: { LatestVersionNumber: 1 } });
    await gateway().saveLaunchConfig(TEMPLATE, config, TEMPLATE_TAGS, DESCRIPTION, REVISION);
    const sent = ec2Mock.commandCalls(CreateLaunchTemplateCommand)[0]!.args[0].input.LaunchTemplateData;
    ec2Mock
      .on(DescribeLaunchTemplateVersionsCommand)
      .resolves({ LaunchTemplateVersions: [{ LaunchTemplateData: sent as ResponseLaunchTemplateData }] });

    // Act
    const read = await gateway().readLaunchConfig(TEMPLATE);

    // Assess
    expect(read).toEqual(config);
  });

  it.each(['InvalidLaunchTemplateName.NotFoundException', 'InvalidLaunchTemplateId.NotFound'])('returns undefined on %s', async (code) => {
    // Prepare
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).rejects(awsError(code));

    // Act
    const read = await gateway().readLaunchConfig(TEMPLATE);

    // Assess
    expect(read).toBeUndefined();
  });

  it.each([
    ['no version', { LaunchTemplateVersions: [] }],
    ['a version without data', { LaunchTemplateVersions: [{ VersionNumber: 1 }] }],
    ['data without an instance type', { LaunchTemplateVersions: [{ LaunchTemplateData: { KeyName: 'ops' } }] }],
  ])('returns undefined for %s', async (_label, answer) => {
    // Prepare
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).resolves(answer);

    // Act
    const read = await gateway().readLaunchConfig(TEMPLATE);

    // Assess
    expect(read).toBeUndefined();
  });

  it.each([
    ['RequestLimitExceeded', 503, true],
    ['UnauthorizedOperation', 403, false],
  ])('throws %s, translated', async (code, status, retryable) => {
    // Prepare
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).rejects(awsError(code, status));

    // Act
    const act = gateway().readLaunchConfig(TEMPLATE);

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'AwsCallError', code, action: 'DescribeLaunchTemplateVersions', retryable });
  });
});

// ---------------------------------------------------------------------------------------------
describe('toTemplateData / fromTemplateData', () => {
  it('leaves out the instance profile and metadata options a configuration does not have', () => {
    // Prepare
    const bare: StoredLaunchConfig = { instanceType: 't3.micro', securityGroupIds: [], ebsOptimized: false, monitoring: false, tags: {} };

    // Act
    const data = toTemplateData(bare);

    // Assess
    expect(data).not.toHaveProperty('IamInstanceProfile');
    expect(data).not.toHaveProperty('MetadataOptions');
    expect(data).not.toHaveProperty('ImageId');
    expect(data).toEqual({
      InstanceType: 't3.micro',
      EbsOptimized: false,
      Monitoring: { Enabled: false },
      NetworkInterfaces: [{ DeviceIndex: 0, Groups: [] }],
      TagSpecifications: [{ ResourceType: 'instance', Tags: [] }],
    });
  });

  it('reads the security groups of template data that names them outside a network interface', () => {
    // Act
    const read = fromTemplateData({ InstanceType: 't3.micro', SecurityGroupIds: ['sg-09'] });

    // Assess
    expect(read).toEqual({ instanceType: 't3.micro', securityGroupIds: ['sg-09'], ebsOptimized: false, monitoring: false, tags: {} });
  });

  it("reads the network of the interface at device index 0, and the instance's tags only", () => {
    // Act
    const read = fromTemplateData({
      InstanceType: 't3.micro',
      NetworkInterfaces: [
        { DeviceIndex: 1, SubnetId: 'subnet-1', Groups: ['sg-1'] },
        { DeviceIndex: 0, SubnetId: 'subnet-0', Groups: ['sg-0'] },
      ],
      TagSpecifications: [
        { ResourceType: 'volume', Tags: [{ Key: 'disk', Value: 'yes' }] },
        { ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web-1' }] },
      ],
    });

    // Assess
    expect(read).toMatchObject({ subnetId: 'subnet-0', securityGroupIds: ['sg-0'], tags: { Name: 'web-1' } });
  });

  it('preserves every captured configuration through template data (property)', () => {
    const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
    const id = (prefix: string) => fc.stringMatching(/^[0-9a-f]{8,17}$/).map((s) => `${prefix}-${s}`);
    const tagKey = fc.string({ minLength: 1, maxLength: 40 }).filter((k) => k !== '__proto__');
    const configs: fc.Arbitrary<StoredLaunchConfig> = fc.record({
      instanceType: fc.constantFrom('t3.micro', 'm7g.large', 'c7i.2xlarge', 'r6a.metal'),
      subnetId: optional(id('subnet')),
      securityGroupIds: fc.array(id('sg'), { maxLength: 5 }),
      keyName: optional(fc.string({ maxLength: 30 })),
      iamInstanceProfileArn: optional(fc.stringMatching(/^[a-z0-9-]{1,20}$/).map((n) => `arn:aws:iam::${ACCOUNT}:instance-profile/${n}`)),
      ebsOptimized: fc.boolean(),
      monitoring: fc.boolean(),
      metadataOptions: optional(
        fc.record({
          httpTokens: optional(fc.constantFrom('required', 'optional')),
          httpEndpoint: optional(fc.constantFrom('enabled', 'disabled')),
          httpPutResponseHopLimit: optional(fc.integer({ min: 1, max: 64 })),
          instanceMetadataTags: optional(fc.constantFrom('enabled', 'disabled')),
        }),
      ),
      userData: optional(fc.base64String({ maxLength: 200 })),
      tags: fc.dictionary(tagKey, fc.string({ maxLength: 40 }), { maxKeys: 8, noNullPrototype: true }),
    });

    fc.assert(
      fc.property(configs, (original) => {
        // Act
        const back = fromTemplateData(toTemplateData(original) as ResponseLaunchTemplateData);

        // Assess
        expect(back).toEqual(original);
      }),
      { numRuns: 300 },
    );
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.tagElasticIp', () => {
  it('looks the address up by its public IP and tags its allocation', async () => {
    // Prepare
    ec2Mock
      .on(DescribeAddressesCommand)
      .resolves({ Addresses: [{ PublicIp: '203.0.113.10', AllocationId: 'eipalloc-01', InstanceId: INSTANCE_ID }] });
    ec2Mock.on(CreateTagsCommand).resolves({});

    // Act
    const allocationId = await gateway().tagElasticIp('203.0.113.10', { [TAG.lineage]: 'web' });

    // Assess
    expect(allocationId).toBe('eipalloc-01');
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeAddressesCommand, { PublicIps: ['203.0.113.10'] });
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateTagsCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ['eipalloc-01'],
      Tags: [{ Key: TAG.lineage, Value: 'web' }],
    });
  });

  it.each([
    ['InvalidAddress.NotFound', () => ec2Mock.on(DescribeAddressesCommand).rejects(awsError('InvalidAddress.NotFound'))],
    ['no address', () => ec2Mock.on(DescribeAddressesCommand).resolves({ Addresses: [] })],
    [
      'an address without an allocation',
      () => ec2Mock.on(DescribeAddressesCommand).resolves({ Addresses: [{ PublicIp: '203.0.113.10' }] }),
    ],
  ])('returns undefined and tags nothing for an unknown address (%s)', async (_label, answer) => {
    // Prepare
    answer();

    // Act
    const allocationId = await gateway().tagElasticIp('203.0.113.10', { [TAG.lineage]: 'web' });

    // Assess
    expect(allocationId).toBeUndefined();
    expect(ec2Mock).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('throws other lookup failures, translated, without tagging', async () => {
    // Prepare
    ec2Mock.on(DescribeAddressesCommand).rejects(awsError('UnauthorizedOperation', 403));

    // Act
    const act = gateway().tagElasticIp('203.0.113.10', { [TAG.lineage]: 'web' });

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'UnauthorizedOperation',
      action: 'DescribeAddresses',
      retryable: false,
    });
    expect(ec2Mock).not.toHaveReceivedCommand(CreateTagsCommand);
  });

  it('throws a tagging failure, translated', async () => {
    // Prepare
    ec2Mock.on(DescribeAddressesCommand).resolves({ Addresses: [{ PublicIp: '203.0.113.10', AllocationId: 'eipalloc-01' }] });
    ec2Mock.on(CreateTagsCommand).rejects(awsError('RequestLimitExceeded', 503));

    // Act
    const act = gateway().tagElasticIp('203.0.113.10', { [TAG.lineage]: 'web' });

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'AwsCallError', code: 'RequestLimitExceeded', action: 'CreateTags', retryable: true });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.findLineageAddresses', () => {
  it('filters on the lineage tag and maps allocation, public IP and instance', async () => {
    // Prepare
    ec2Mock.on(DescribeAddressesCommand).resolves({
      Addresses: [
        { AllocationId: 'eipalloc-01', PublicIp: '203.0.113.10', InstanceId: INSTANCE_ID, AssociationId: 'eipassoc-01' },
        { AllocationId: 'eipalloc-02', PublicIp: '203.0.113.11' },
        { AllocationId: 'eipalloc-03', PublicIp: '203.0.113.12', InstanceId: '' },
      ],
    });

    // Act
    const addresses = await gateway().findLineageAddresses('web');

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeAddressesCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeAddressesCommand, { Filters: [{ Name: `tag:${TAG.lineage}`, Values: ['web'] }] });
    expect(addresses).toEqual([
      { allocationId: 'eipalloc-01', publicIp: '203.0.113.10', instanceId: INSTANCE_ID },
      { allocationId: 'eipalloc-02', publicIp: '203.0.113.11', instanceId: undefined },
      { allocationId: 'eipalloc-03', publicIp: '203.0.113.12', instanceId: undefined },
    ]);
    expect(addresses[2]?.instanceId).toBeUndefined();
  });

  it('skips addresses without an allocation id or a public IP', async () => {
    // Prepare
    ec2Mock.on(DescribeAddressesCommand).resolves({ Addresses: [{ PublicIp: '203.0.113.10' }, { AllocationId: 'eipalloc-02' }] });

    // Act
    const addresses = await gateway().findLineageAddresses('web');

    // Assess
    expect(addresses).toEqual([]);
  });

  it('answers no address for an empty answer', async () => {
    // Prepare
    ec2Mock.on(DescribeAddressesCommand).resolves({});

    // Act
    const addresses = await gateway().findLineageAddresses('web');

    // Assess
    expect(addresses).toEqual([]);
  });

  it('throws a failure, translated', async () => {
    // Prepare
    ec2Mock.on(DescribeAddressesCommand).rejects(awsError('RequestLimitExceeded', 503));

    // Act
    const act = gateway().findLineageAddresses('web');

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'RequestLimitExceeded',
      action: 'DescribeAddresses',
      retryable: true,
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.runInstance', () => {
  const replacementTagList = [
    { Key: TAG.lineage, Value: 'web' },
    { Key: TAG.replaces, Value: INSTANCE_ID },
    { Key: TAG.generation, Value: '1' },
    { Key: 'Name', Value: 'web-1' },
  ];
  const spec: RelaunchSpec = {
    imageId: 'ami-0bbbbbbbbbbbbbbbb',
    config,
    clientToken: 'ami-lifecycle-0123456789abcdef0123456789abcdef01234567',
    tags: { [TAG.lineage]: 'web', [TAG.replaces]: INSTANCE_ID, [TAG.generation]: '1', Name: 'web-1' },
    droppedTags: [],
  };

  it('launches one instance from the image with the configuration, the client token and the tags for instance and volumes', async () => {
    // Prepare
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0ffffffffffffffff' }] });

    // Act
    const instanceId = await gateway().runInstance(spec);

    // Assess
    expect(instanceId).toBe('i-0ffffffffffffffff');
    expect(ec2Mock).toHaveReceivedCommandTimes(RunInstancesCommand, 1);
    const input = ec2Mock.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    expect(input).toEqual({
      ImageId: 'ami-0bbbbbbbbbbbbbbbb',
      MinCount: 1,
      MaxCount: 1,
      ClientToken: spec.clientToken,
      InstanceType: 'm7g.large',
      SubnetId: 'subnet-0aaaaaaaaaaaaaaaa',
      SecurityGroupIds: ['sg-01', 'sg-02'],
      KeyName: 'ops',
      IamInstanceProfile: { Arn: PROFILE_ARN },
      EbsOptimized: true,
      Monitoring: { Enabled: true },
      MetadataOptions: { HttpTokens: 'required', HttpEndpoint: 'enabled', HttpPutResponseHopLimit: 2, InstanceMetadataTags: 'disabled' },
      UserData: USER_DATA,
      TagSpecifications: [
        { ResourceType: 'instance', Tags: replacementTagList },
        { ResourceType: 'volume', Tags: replacementTagList },
      ],
    });
    // The network is given at the top level: RunInstances refuses it in both places at once.
    expect(input).not.toHaveProperty('NetworkInterfaces');
  });

  it('leaves out the security groups, instance profile and metadata options a configuration does not have', async () => {
    // Prepare
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0ffffffffffffffff' }] });
    const bare: StoredLaunchConfig = { instanceType: 't3.micro', securityGroupIds: [], ebsOptimized: false, monitoring: false, tags: {} };

    // Act
    await gateway().runInstance({ ...spec, config: bare });

    // Assess
    const input = ec2Mock.commandCalls(RunInstancesCommand)[0]!.args[0].input;
    expect(input.SecurityGroupIds).toBeUndefined();
    expect(input.SubnetId).toBeUndefined();
    expect(input.UserData).toBeUndefined();
    expect(input).not.toHaveProperty('IamInstanceProfile');
    expect(input).not.toHaveProperty('MetadataOptions');
    expect(input).toMatchObject({ InstanceType: 't3.micro', EbsOptimized: false, Monitoring: { Enabled: false } });
  });

  it('refuses an answer without an instance', async () => {
    // Prepare
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [] });

    // Act
    const act = gateway().runInstance(spec);

    // Assess
    await expect(act).rejects.toThrow(/RunInstances answered without an instance/);
  });

  it('surfaces IdempotentParameterMismatch as a permanent AwsCallError with that code', async () => {
    // Prepare
    const cause = awsError('IdempotentParameterMismatch');
    ec2Mock.on(RunInstancesCommand).rejects(cause);

    // Act
    const error = await gateway()
      .runInstance(spec)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ code: 'IdempotentParameterMismatch', action: 'RunInstances', retryable: false, httpStatus: 400 });
    expect((error as Error).cause).toBe(cause);
  });

  it.each([
    ['InsufficientInstanceCapacity', 500, 'server' as const, true],
    ['RequestLimitExceeded', 503, 'client' as const, true],
    ['InvalidParameterValue', 400, 'client' as const, false],
  ])('throws %s, translated', async (code, status, fault, retryable) => {
    // Prepare
    ec2Mock.on(RunInstancesCommand).rejects(awsError(code, status, fault));

    // Act
    const act = gateway().runInstance(spec);

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'AwsCallError', code, action: 'RunInstances', retryable });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.waitUntilRunning', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const answer = (Name: 'pending' | 'running' | 'terminated') => ({
    Reservations: [{ Instances: [{ InstanceId: 'i-0ffffffffffffffff', State: { Name } }] }],
  });

  it('resolves as soon as DescribeInstances shows the instance running', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves(answer('running'));

    // Act
    await gateway().waitUntilRunning('i-0ffffffffffffffff', 180);

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, { InstanceIds: ['i-0ffffffffffffffff'] });
  });

  it('polls again while the instance is pending', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    ec2Mock.on(DescribeInstancesCommand).resolvesOnce(answer('pending')).resolves(answer('running'));

    // Act
    const done = gateway().waitUntilRunning('i-0ffffffffffffffff', 180);
    await vi.advanceTimersByTimeAsync(10_000);
    await done;

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 2);
  });

  it('throws a permanent AwsCallError when the instance is terminated instead', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves(answer('terminated'));

    // Act
    const error = await gateway()
      .waitUntilRunning('i-0ffffffffffffffff', 180)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ action: 'DescribeInstances', retryable: false });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1);
  });

  it('fails at once when DescribeInstances is refused, rather than polling until the time is up', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).rejects(awsError('UnauthorizedOperation', 403));

    // Act
    const error = await gateway()
      .waitUntilRunning('i-0ffffffffffffffff', 180)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toMatchObject({ code: 'UnauthorizedOperation', action: 'DescribeInstances', retryable: false });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1);
  });

  it('polls again while EC2 does not list the instance yet, just after its launch', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    ec2Mock.on(DescribeInstancesCommand).rejectsOnce(awsError('InvalidInstanceID.NotFound')).resolves(answer('running'));

    // Act
    const done = gateway().waitUntilRunning('i-0ffffffffffffffff', 180);
    await vi.advanceTimersByTimeAsync(10_000);
    await done;

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 2);
  });

  it('throws a retryable TimeoutError when the instance is not running in time', async () => {
    // Prepare
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    ec2Mock.on(DescribeInstancesCommand).resolves(answer('pending'));

    // Act
    const outcome = gateway()
      .waitUntilRunning('i-0ffffffffffffffff', 5)
      .catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10_000);
    const error = await outcome;

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ code: 'TimeoutError', action: 'DescribeInstances', retryable: true });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.associateAddress', () => {
  it('associates the allocation with the instance, taking it from wherever it is', async () => {
    // Prepare
    ec2Mock.on(AssociateAddressCommand).resolves({ AssociationId: 'eipassoc-01' });

    // Act
    await gateway().associateAddress('eipalloc-01', 'i-0ffffffffffffffff');

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(AssociateAddressCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(AssociateAddressCommand, {
      AllocationId: 'eipalloc-01',
      InstanceId: 'i-0ffffffffffffffff',
      AllowReassociation: true,
    });
  });

  it('throws a refusal, translated', async () => {
    // Prepare
    ec2Mock.on(AssociateAddressCommand).rejects(awsError('InvalidInstanceID'));

    // Act
    const act = gateway().associateAddress('eipalloc-01', 'i-0ffffffffffffffff');

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'InvalidInstanceID',
      action: 'AssociateAddress',
      retryable: false,
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.terminateInstance', () => {
  it('terminates the instance', async () => {
    // Prepare
    ec2Mock.on(TerminateInstancesCommand).resolves({ TerminatingInstances: [{ InstanceId: INSTANCE_ID }] });

    // Act
    const result = await gateway().terminateInstance(INSTANCE_ID);

    // Assess
    expect(result).toBe('terminated');
    expect(ec2Mock).toHaveReceivedCommandTimes(TerminateInstancesCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(TerminateInstancesCommand, { InstanceIds: [INSTANCE_ID] });
  });

  it.each(['InvalidInstanceID.NotFound', 'InvalidInstanceID.Malformed'])("answers 'gone' on %s", async (code) => {
    // Prepare
    ec2Mock.on(TerminateInstancesCommand).rejects(awsError(code));

    // Act
    const result = await gateway().terminateInstance(INSTANCE_ID);

    // Assess
    expect(result).toBe('gone');
  });

  it.each([
    ['OperationNotPermitted', 400, false],
    ['RequestLimitExceeded', 503, true],
  ])('throws %s, translated', async (code, status, retryable) => {
    // Prepare
    ec2Mock.on(TerminateInstancesCommand).rejects(awsError(code, status));

    // Act
    const act = gateway().terminateInstance(INSTANCE_ID);

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'AwsCallError', code, action: 'TerminateInstances', retryable });
  });
});
