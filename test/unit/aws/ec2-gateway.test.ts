import { beforeEach, describe, expect, it } from 'vitest';
import {
  CreateImageCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeVolumesCommand,
  EC2ServiceException,
  type DescribeImagesCommandInput,
  type DescribeInstancesCommandInput,
  type Image,
} from '@aws-sdk/client-ec2';
import { toImageView } from '../../../shared/aws/ec2-mappers.js';
import type { ImageSpec } from '../../../shared/domain/bake.js';
import { TAG } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { answerPages, awsError, collect, ec2Mock, gateway } from './support.js';

const STACK = 'ami-lifecycle-test';

const spec: ImageSpec = {
  instanceId: 'i-0123456789abcdef0',
  name: `${STACK}/web/nightly/2026-11-26`,
  description: 'nightly 2026-11-26 image of i-0123456789abcdef0, lineage web, by ami-lifecycle-test',
  noReboot: true,
  tags: { [TAG.managedBy]: STACK, [TAG.lineage]: 'web', [TAG.status]: 'pending', Name: 'web-1' },
  noDevices: [],
};

const existingImage: Image = {
  ImageId: 'ami-0aaaaaaaaaaaaaaaa',
  Name: spec.name,
  State: 'pending',
  CreationDate: '2026-11-26T01:00:10.000Z',
  Tags: [
    { Key: TAG.managedBy, Value: STACK },
    { Key: TAG.status, Value: 'pending' },
  ],
  BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-0aaaaaaaaaaaaaaaa' } }],
};

beforeEach(() => {
  ec2Mock.reset();
});

describe('Ec2Gateway.listBakeCandidates', () => {
  it('filters on the bake tag and live states, 1000 a page, and follows NextToken across three pages', async () => {
    // Prepare: the paginator reuses one input object, so record each call's input as it was sent
    const sent: DescribeInstancesCommandInput[] = [];
    const pages = [
      {
        NextToken: 't1',
        Reservations: [
          { Instances: [{ InstanceId: 'i-1', State: { Name: 'running' as const }, Tags: [{ Key: TAG.bake, Value: 'nightly' }] }] },
          {
            Instances: [
              { InstanceId: 'i-2', State: { Name: 'stopped' as const } },
              { InstanceId: 'i-3', State: { Name: 'pending' as const } },
            ],
          },
        ],
      },
      { NextToken: 't2', Reservations: [{ Instances: [{ InstanceId: 'i-4', State: { Name: 'stopping' as const } }] }] },
      {
        Reservations: [
          { Instances: [{ InstanceId: 'i-5', State: { Name: 'running' as const }, Tags: [{ Key: 'Name', Value: 'web-5' }] }] },
        ],
      },
    ];
    ec2Mock.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
      sent.push(structuredClone(input));
      return pages[sent.length - 1];
    });

    // Act
    const result = await collect(gateway().listBakeCandidates());

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 3);
    expect(sent.map((i) => i.NextToken)).toEqual([undefined, 't1', 't2']);
    for (const input of sent) {
      expect(input).toMatchObject({
        MaxResults: 1000,
        Filters: [
          { Name: 'tag-key', Values: [TAG.bake] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
      });
    }
    expect(result).toEqual([
      [
        { instanceId: 'i-1', state: 'running', tags: { [TAG.bake]: 'nightly' } },
        { instanceId: 'i-2', state: 'stopped', tags: {} },
        { instanceId: 'i-3', state: 'pending', tags: {} },
      ],
      [{ instanceId: 'i-4', state: 'stopping', tags: {} }],
      [{ instanceId: 'i-5', state: 'running', tags: { Name: 'web-5' } }],
    ]);
  });

  it('uses the page size it was given', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [] });

    // Act
    await collect(gateway(5).listBakeCandidates());

    // Assess
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeInstancesCommand, { MaxResults: 5 });
  });

  it('yields one empty page when nothing carries the tag', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({});

    // Act
    const result = await collect(gateway().listBakeCandidates());

    // Assess
    expect(result).toEqual([[]]);
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeInstancesCommand, 1);
  });

  it('reads an instance without a state as unknown', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [{ InstanceId: 'i-1' }] }] });

    // Act
    const result = await collect(gateway().listBakeCandidates());

    // Assess
    expect(result).toEqual([[{ instanceId: 'i-1', state: 'unknown', tags: {} }]]);
  });

  it('translates a failure on a later page into a retryable AwsCallError, after yielding the first page', async () => {
    // Prepare
    ec2Mock
      .on(DescribeInstancesCommand)
      .resolvesOnce({ NextToken: 't1', Reservations: [{ Instances: [{ InstanceId: 'i-1', State: { Name: 'running' } }] }] })
      .rejectsOnce(awsError('RequestLimitExceeded', 503));
    const seen: string[] = [];

    // Act
    const act = (async () => {
      for await (const page of gateway().listBakeCandidates()) seen.push(...page.map((i) => i.instanceId));
    })();

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'RequestLimitExceeded',
      action: 'DescribeInstances',
      retryable: true,
    });
    expect(seen).toEqual(['i-1']);
  });
});

describe('Ec2Gateway: what goes into an image', () => {
  it('sends NoDevice, an empty string, for each device left out', async () => {
    // Prepare
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0123456789abcdef0' });

    // Act
    await gateway().createImage({ ...spec, noDevices: ['/dev/sdf', '/dev/sdg'] });

    // Assess
    expect(ec2Mock).toHaveReceivedCommandWith(CreateImageCommand, {
      BlockDeviceMappings: [
        { DeviceName: '/dev/sdf', NoDevice: '' },
        { DeviceName: '/dev/sdg', NoDevice: '' },
      ],
    });
  });

  it('sends no BlockDeviceMappings when every volume goes in', async () => {
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0123456789abcdef0' });
    await gateway().createImage(spec);
    expect(ec2Mock.commandCalls(CreateImageCommand)[0]!.args[0].input).not.toHaveProperty('BlockDeviceMappings');
  });

  it('reads the exclude tags of attached volumes, paged by 500, filtered by tag key and attachment', async () => {
    // Prepare: two pages
    const pages = answerPages([
      { Volumes: [{ VolumeId: 'vol-1', Tags: [{ Key: TAG.exclude, Value: 'true' }] }], NextToken: 't' },
      {
        Volumes: [
          {
            VolumeId: 'vol-2',
            Tags: [
              { Key: TAG.exclude, Value: 'follow' },
              { Key: 'Name', Value: 'data' },
            ],
          },
        ],
      },
    ]);
    ec2Mock.on(DescribeVolumesCommand).callsFake(pages.fake);

    // Act
    const excludes = await gateway().listExcludeTags();

    // Assess
    expect([...excludes]).toEqual([
      ['vol-1', 'true'],
      ['vol-2', 'follow'],
    ]);
    const filters = [
      { Name: 'tag-key', Values: [TAG.exclude] },
      { Name: 'attachment.status', Values: ['attached'] },
    ];
    expect(pages.sent).toEqual([
      { Filters: filters, MaxResults: 500 },
      { Filters: filters, MaxResults: 500, NextToken: 't' },
    ]);
  });

  it('narrows to the named instances, 200 a call', async () => {
    // Prepare
    ec2Mock.on(DescribeVolumesCommand).resolves({ Volumes: [] });
    const ids = Array.from({ length: 201 }, (_, i) => `i-${String(i).padStart(17, '0')}`);

    // Act
    await gateway().listExcludeTags(ids);

    // Assess
    const sent = ec2Mock.commandCalls(DescribeVolumesCommand).map((c) => c.args[0].input.Filters?.[2]?.Values?.length);
    expect(sent).toEqual([200, 1]);
  });

  it('reads the root device and the volumes of an instance from DescribeInstances', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).resolves({
      Reservations: [
        {
          Instances: [
            {
              InstanceId: 'i-0123456789abcdef0',
              State: { Name: 'running' },
              RootDeviceName: '/dev/xvda',
              BlockDeviceMappings: [
                { DeviceName: '/dev/xvda', Ebs: { VolumeId: 'vol-a' } },
                { DeviceName: '/dev/sdf', Ebs: { VolumeId: 'vol-b' } },
              ],
            },
          ],
        },
      ],
    });

    // Act
    const [page] = await collect(gateway().listBakeCandidates());

    // Assess
    expect(page![0]).toMatchObject({
      rootDeviceName: '/dev/xvda',
      volumes: [
        { deviceName: '/dev/xvda', volumeId: 'vol-a' },
        { deviceName: '/dev/sdf', volumeId: 'vol-b' },
      ],
    });
  });
});

describe('Ec2Gateway.createImage', () => {
  it('sends name, description, NoReboot and the same tags for the image and its snapshots', async () => {
    // Prepare
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0123456789abcdef0' });

    // Act
    const result = await gateway().createImage(spec);

    // Assess
    expect(result).toEqual({ imageId: 'ami-0123456789abcdef0', created: true });
    const tags = [
      { Key: TAG.managedBy, Value: STACK },
      { Key: TAG.lineage, Value: 'web' },
      { Key: TAG.status, Value: 'pending' },
      { Key: 'Name', Value: 'web-1' },
    ];
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateImageCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(CreateImageCommand, {
      InstanceId: spec.instanceId,
      Name: spec.name,
      Description: spec.description,
      NoReboot: true,
      TagSpecifications: [
        { ResourceType: 'image', Tags: tags },
        { ResourceType: 'snapshot', Tags: tags },
      ],
    });
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeImagesCommand);
  });

  it('passes NoReboot false through', async () => {
    // Prepare
    ec2Mock.on(CreateImageCommand).resolves({ ImageId: 'ami-0123456789abcdef0' });

    // Act
    await gateway().createImage({ ...spec, noReboot: false });

    // Assess
    expect(ec2Mock).toHaveReceivedCommandWith(CreateImageCommand, { NoReboot: false });
  });

  it.each([
    ['a plain SDK-shaped error', () => awsError('InvalidAMIName.Duplicate')],
    [
      "the SDK's EC2ServiceException",
      () =>
        new EC2ServiceException({
          name: 'InvalidAMIName.Duplicate',
          $fault: 'client',
          $metadata: { httpStatusCode: 400 },
          message: `AMI name ${spec.name} is already in use by AMI ami-0aaaaaaaaaaaaaaaa`,
        }),
    ],
  ])('finds the existing image by name on InvalidAMIName.Duplicate (%s) and returns it', async (_label, error) => {
    // Prepare
    ec2Mock.on(CreateImageCommand).rejects(error());
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [existingImage] });

    // Act
    const result = await gateway().createImage(spec);

    // Assess
    expect(result).toEqual({
      imageId: 'ami-0aaaaaaaaaaaaaaaa',
      created: false,
      existing: {
        imageId: 'ami-0aaaaaaaaaaaaaaaa',
        name: spec.name,
        state: 'pending',
        stateReason: undefined,
        creationDate: '2026-11-26T01:00:10.000Z',
        tags: { [TAG.managedBy]: STACK, [TAG.status]: 'pending' },
        snapshotIds: ['snap-0aaaaaaaaaaaaaaaa'],
        ebsDevices: ['/dev/xvda'],
      },
    });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImagesCommand, {
      Owners: ['self'],
      Filters: [{ Name: 'name', Values: [spec.name] }],
    });
  });

  it('throws a retryable AwsCallError when the duplicate is not visible yet', async () => {
    // Prepare
    const cause = awsError('InvalidAMIName.Duplicate');
    ec2Mock.on(CreateImageCommand).rejects(cause);
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });

    // Act
    const error = await gateway()
      .createImage(spec)
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ code: 'InvalidAMIName.Duplicate', action: 'CreateImage', retryable: true, httpStatus: 400 });
    expect((error as Error).message).toMatch(/not visible yet/);
    expect((error as Error).cause).toBe(cause);
  });

  it('translates a failure of the lookup by name', async () => {
    // Prepare
    ec2Mock.on(CreateImageCommand).rejects(awsError('InvalidAMIName.Duplicate'));
    ec2Mock.on(DescribeImagesCommand).rejects(awsError('RequestLimitExceeded', 503));

    // Act
    const act = gateway().createImage(spec);

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'RequestLimitExceeded', action: 'DescribeImages', retryable: true });
  });

  it.each([
    ['RequestLimitExceeded (throttling)', () => awsError('RequestLimitExceeded', 503), 'RequestLimitExceeded', true, 503],
    ['RequestLimitExceeded answered as 400', () => awsError('RequestLimitExceeded', 400), 'RequestLimitExceeded', true, 400],
    ['InvalidInstanceID.NotFound', () => awsError('InvalidInstanceID.NotFound'), 'InvalidInstanceID.NotFound', false, 400],
    ['IncorrectInstanceState', () => awsError('IncorrectInstanceState'), 'IncorrectInstanceState', false, 400],
    ['UnauthorizedOperation', () => awsError('UnauthorizedOperation', 403), 'UnauthorizedOperation', false, 403],
    ['an unknown 500', () => awsError('SomethingBroke', 500, 'server'), 'SomethingBroke', true, 500],
    ['a 503 without a server fault', () => awsError('Unavailable', 503), 'Unavailable', true, 503],
    [
      'a network timeout (no $metadata)',
      () => Object.assign(new Error('socket timed out'), { name: 'TimeoutError' }),
      'TimeoutError',
      true,
      undefined,
    ],
    [
      'a connection reset (Node system error)',
      () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }),
      'ECONNRESET',
      true,
      undefined,
    ],
  ])('maps %s to code %s, retryable %s', async (_label, error, code, retryable, httpStatus) => {
    // Prepare
    const cause = error();
    ec2Mock.on(CreateImageCommand).rejects(cause);

    // Act
    const thrown = await gateway()
      .createImage(spec)
      .catch((e: unknown) => e);

    // Assess
    expect(thrown).toBeInstanceOf(AwsCallError);
    expect(thrown).toMatchObject({ code, action: 'CreateImage', retryable, httpStatus });
    expect((thrown as Error).cause).toBe(cause);
    expect(ec2Mock).not.toHaveReceivedCommand(DescribeImagesCommand);
  });

  it('refuses an answer without an ImageId as an AwsCallError', async () => {
    // Prepare
    ec2Mock.on(CreateImageCommand).resolves({});

    // Act
    const act = gateway().createImage(spec);

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      action: 'CreateImage',
      message: expect.stringMatching(/without an ImageId/),
    });
  });
});

describe('Ec2Gateway.describeImages', () => {
  const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `ami-${(from + i).toString(16).padStart(17, '0')}`);
  const imageOf = (ImageId: string): Image => ({ ...existingImage, ImageId });

  it('asks for the images by id in one call and returns their views by id', async () => {
    // Prepare
    const second = imageOf('ami-0bbbbbbbbbbbbbbbb');
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [existingImage, second] });

    // Act
    const views = await gateway().describeImages(['ami-0aaaaaaaaaaaaaaaa', 'ami-0bbbbbbbbbbbbbbbb', 'ami-0aaaaaaaaaaaaaaaa']);

    // Assess: duplicates asked once
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImagesCommand, { ImageIds: ['ami-0aaaaaaaaaaaaaaaa', 'ami-0bbbbbbbbbbbbbbbb'] });
    expect([...views.keys()]).toEqual(['ami-0aaaaaaaaaaaaaaaa', 'ami-0bbbbbbbbbbbbbbbb']);
    expect(views.get('ami-0aaaaaaaaaaaaaaaa')).toMatchObject({ state: 'pending', snapshotIds: ['snap-0aaaaaaaaaaaaaaaa'] });
  });

  it.each([
    [1000, [1000]],
    [1001, [1000, 1]],
  ])('sends %i ids in calls of %j: at most 1,000 a call, as EC2 asks', async (n, sizes) => {
    // Prepare
    const sent: string[][] = [];
    ec2Mock.on(DescribeImagesCommand).callsFake((input: DescribeImagesCommandInput) => {
      sent.push(input.ImageIds ?? []);
      return { Images: (input.ImageIds ?? []).map(imageOf) };
    });

    // Act
    const views = await gateway().describeImages(ids(n));

    // Assess
    expect(sent.map((c) => c.length)).toEqual(sizes);
    expect(sent.flat()).toEqual(ids(n));
    expect(views.size).toBe(n);
  });

  it('leaves out an image EC2 answers with no entry (recently deregistered)', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });

    // Act
    const views = await gateway().describeImages(['ami-0aaaaaaaaaaaaaaaa']);

    // Assess
    expect(views.size).toBe(0);
  });

  it.each(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed'])(
    'answers no image for a lone id refused with %s',
    async (code) => {
      // Prepare
      ec2Mock.on(DescribeImagesCommand).rejects(awsError(code));

      // Act
      const views = await gateway().describeImages(['ami-0aaaaaaaaaaaaaaaa']);

      // Assess
      expect(views.size).toBe(0);
      expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 1);
    },
  );

  it('drops the ids a NotFound names and asks again for the others: one gone image costs one call, not the batch', async () => {
    // Prepare: EC2 refuses a list that names an image it no longer knows
    const gone = ['ami-0ccccccccccccccc1', 'ami-0ccccccccccccccc2'];
    const sent: string[][] = [];
    ec2Mock.on(DescribeImagesCommand).callsFake((input: DescribeImagesCommandInput) => {
      const asked = input.ImageIds ?? [];
      sent.push(asked);
      const missing = asked.filter((id) => gone.includes(id));
      if (missing.length > 0) {
        throw Object.assign(new Error(`The image ids '[${missing.join(', ')}]' do not exist`), {
          name: 'InvalidAMIID.NotFound',
          $metadata: { httpStatusCode: 400 },
          $fault: 'client',
        });
      }
      return { Images: asked.map(imageOf) };
    });

    // Act
    const views = await gateway().describeImages(['ami-0aaaaaaaaaaaaaaaa', gone[0]!, 'ami-0bbbbbbbbbbbbbbbb', gone[1]!]);

    // Assess
    expect(sent).toEqual([
      ['ami-0aaaaaaaaaaaaaaaa', gone[0], 'ami-0bbbbbbbbbbbbbbbb', gone[1]],
      ['ami-0aaaaaaaaaaaaaaaa', 'ami-0bbbbbbbbbbbbbbbb'],
    ]);
    expect([...views.keys()].sort()).toEqual(['ami-0aaaaaaaaaaaaaaaa', 'ami-0bbbbbbbbbbbbbbbb']);
  });

  it('throws a NotFound for several ids that names none of them, rather than asking forever', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).rejects(awsError('InvalidAMIID.NotFound'));

    // Act
    const act = gateway().describeImages(['ami-0aaaaaaaaaaaaaaaa', 'ami-0bbbbbbbbbbbbbbbb']);

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'AwsCallError', code: 'InvalidAMIID.NotFound', action: 'DescribeImages' });
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 1);
  });

  it('throws other errors, translated', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).rejects(awsError('RequestLimitExceeded', 503));

    // Act
    const act = gateway().describeImages(['ami-0aaaaaaaaaaaaaaaa']);

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'RequestLimitExceeded',
      action: 'DescribeImages',
      retryable: true,
    });
  });

  it('makes no call for no ids', async () => {
    // Act
    const views = await gateway().describeImages([]);

    // Assess
    expect(views.size).toBe(0);
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 0);
  });
});

describe('Ec2Gateway.listPendingImages', () => {
  it('lists own images of the stack still marked pending, following NextToken', async () => {
    // Prepare
    const sent: DescribeImagesCommandInput[] = [];
    const second: Image = { ...existingImage, ImageId: 'ami-0bbbbbbbbbbbbbbbb', State: 'available' };
    const pages = [{ NextToken: 'n1', Images: [existingImage] }, { Images: [second] }];
    ec2Mock.on(DescribeImagesCommand).callsFake((input: DescribeImagesCommandInput) => {
      sent.push(structuredClone(input));
      return pages[sent.length - 1];
    });

    // Act
    const result = await collect(gateway().listPendingImages(STACK));

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 2);
    expect(sent.map((i) => i.NextToken)).toEqual([undefined, 'n1']);
    for (const input of sent) {
      expect(input).toMatchObject({
        Owners: ['self'],
        MaxResults: 1000,
        Filters: [
          { Name: `tag:${TAG.managedBy}`, Values: [STACK] },
          { Name: `tag:${TAG.status}`, Values: ['pending'] },
        ],
      });
    }
    expect(result.map((page) => page.map((i) => [i.imageId, i.state]))).toEqual([
      [['ami-0aaaaaaaaaaaaaaaa', 'pending']],
      [['ami-0bbbbbbbbbbbbbbbb', 'available']],
    ]);
  });

  it('translates a listing failure', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).rejects(awsError('UnauthorizedOperation', 403));

    // Act
    const act = collect(gateway().listPendingImages(STACK));

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'UnauthorizedOperation', action: 'DescribeImages', retryable: false });
  });
});

describe('Ec2Gateway.tagResources', () => {
  it('tags every resource in one CreateTags call', async () => {
    // Prepare
    ec2Mock.on(CreateTagsCommand).resolves({});
    const ids = ['ami-0aaaaaaaaaaaaaaaa', 'snap-01', 'snap-02'];

    // Act
    await gateway().tagResources(ids, { [TAG.status]: 'good', other: 'x' });

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(CreateTagsCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(CreateTagsCommand, {
      Resources: ids,
      Tags: [
        { Key: TAG.status, Value: 'good' },
        { Key: 'other', Value: 'x' },
      ],
    });
  });

  it('sends nothing for an empty list', async () => {
    // Prepare
    ec2Mock.on(CreateTagsCommand).resolves({});

    // Act
    await gateway().tagResources([], { [TAG.status]: 'good' });

    // Assess
    expect(ec2Mock).not.toHaveReceivedAnyCommand();
  });

  it('translates a refusal', async () => {
    // Prepare
    ec2Mock.on(CreateTagsCommand).rejects(awsError('InvalidInstanceID.NotFound'));

    // Act
    const act = gateway().tagResources(['i-0123456789abcdef0'], { [TAG.lineage]: 'x' });

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'InvalidInstanceID.NotFound', action: 'CreateTags', retryable: false });
  });
});

describe('toImageView', () => {
  it('takes the snapshot ids of the EBS mappings, skipping instance-store and snapshot-less mappings', () => {
    // Prepare
    const image: Image = {
      ImageId: 'ami-0aaaaaaaaaaaaaaaa',
      Name: 'n',
      State: 'failed',
      StateReason: { Code: 'Client.InternalError', Message: 'snapshot failed' },
      CreationDate: '2026-11-26T01:00:10.000Z',
      Tags: [{ Key: 'k', Value: 'v' }],
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { SnapshotId: 'snap-1' } },
        { DeviceName: '/dev/sdb', VirtualName: 'ephemeral0' },
        { DeviceName: '/dev/sdc', Ebs: { VolumeSize: 8 } },
        { DeviceName: '/dev/sdd', Ebs: { SnapshotId: 'snap-2' } },
      ],
    };

    // Act
    const view = toImageView(image);

    // Assess
    expect(view).toEqual({
      imageId: 'ami-0aaaaaaaaaaaaaaaa',
      name: 'n',
      state: 'failed',
      stateReason: 'snapshot failed',
      creationDate: '2026-11-26T01:00:10.000Z',
      tags: { k: 'v' },
      snapshotIds: ['snap-1', 'snap-2'],
      ebsDevices: ['/dev/xvda', '/dev/sdc', '/dev/sdd'],
    });
  });

  it('fills in defaults for an image with nothing but an id', () => {
    // Prepare
    const image: Image = { ImageId: 'ami-0aaaaaaaaaaaaaaaa' };

    // Act
    const view = toImageView(image);

    // Assess
    expect(view).toEqual({
      imageId: 'ami-0aaaaaaaaaaaaaaaa',
      name: '',
      state: 'unknown',
      stateReason: undefined,
      creationDate: undefined,
      tags: {},
      snapshotIds: [],
    });
  });
});
