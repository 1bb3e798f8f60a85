import { beforeEach, describe, expect, it } from 'vitest';
import {
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImageReferencesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSnapshotsCommand,
  EC2ServiceException,
  EnableImageDeprecationCommand,
  type DescribeImageReferencesCommandInput,
  type DescribeImagesCommandInput,
  type DescribeInstancesCommandInput,
  type DescribeLaunchTemplateVersionsCommandInput,
  type DescribeSnapshotsCommandInput,
  type Image,
} from '@aws-sdk/client-ec2';
import { IMAGE_REFERENCES_IDS_PER_CALL } from '../../../shared/aws/ec2-gateway.js';
import { toImageView } from '../../../shared/aws/ec2-mappers.js';
import { TAG } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { answerPages as pagesOf, awsError, collect, ec2Mock, gateway } from './support.js';

const STACK = 'ami-lifecycle-test';
const GIB = 2 ** 30;

const managedImage = (id: string, extra: Partial<Image> = {}): Image => ({
  ImageId: id,
  Name: `${STACK}/web/nightly/${id}`,
  State: 'available',
  CreationDate: '2026-11-20T01:00:10.000Z',
  Tags: [
    { Key: TAG.managedBy, Value: STACK },
    { Key: TAG.lineage, Value: 'web' },
    { Key: TAG.status, Value: 'good' },
  ],
  BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { SnapshotId: `snap-of-${id}` } }],
  ...extra,
});

beforeEach(() => {
  ec2Mock.reset();
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.listManagedImages', () => {
  it('asks for own images carrying the stack tag, 1000 a page, and follows NextToken', async () => {
    // Prepare
    const { sent, fake } = pagesOf<DescribeImagesCommandInput, object>([
      { NextToken: 'p2', Images: [managedImage('ami-01'), managedImage('ami-02')] },
      { NextToken: 'p3', Images: [managedImage('ami-03')] },
      { Images: [managedImage('ami-04')] },
    ]);
    ec2Mock.on(DescribeImagesCommand).callsFake(fake);

    // Act
    const result = await collect(gateway().listManagedImages(STACK));

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImagesCommand, 3);
    expect(sent.map((i) => i.NextToken)).toEqual([undefined, 'p2', 'p3']);
    for (const input of sent) {
      expect(input).toEqual({
        Owners: ['self'],
        Filters: [{ Name: `tag:${TAG.managedBy}`, Values: [STACK] }],
        IncludeDisabled: true,
        MaxResults: 1000,
        ...(input.NextToken ? { NextToken: input.NextToken } : {}),
      });
    }
    expect(result.map((page) => page.map((i) => i.imageId))).toEqual([['ami-01', 'ami-02'], ['ami-03'], ['ami-04']]);
    expect(result[0]![0]).toEqual({
      imageId: 'ami-01',
      name: `${STACK}/web/nightly/ami-01`,
      state: 'available',
      stateReason: undefined,
      creationDate: '2026-11-20T01:00:10.000Z',
      tags: { [TAG.managedBy]: STACK, [TAG.lineage]: 'web', [TAG.status]: 'good' },
      snapshotIds: ['snap-of-ami-01'],
      ebsDevices: ['/dev/xvda'],
    });
  });

  it('uses the page size it was given', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });

    // Act
    await collect(gateway(25).listManagedImages(STACK));

    // Assess
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImagesCommand, { MaxResults: 25 });
  });

  it('reads the deprecation time of an image', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [managedImage('ami-01', { DeprecationTime: '2026-12-01T00:00:00.000Z' })] });

    // Act
    const result = await collect(gateway().listManagedImages(STACK));

    // Assess
    expect(result[0]![0]!.deprecationTime).toBe('2026-12-01T00:00:00.000Z');
    expect(toImageView(managedImage('ami-02'))).not.toHaveProperty('deprecationTime');
  });

  it('translates a failure on a later page, after yielding the pages before it', async () => {
    // Prepare
    ec2Mock
      .on(DescribeImagesCommand)
      .resolvesOnce({ NextToken: 'p2', Images: [managedImage('ami-01')] })
      .rejectsOnce(awsError('RequestLimitExceeded', 503));
    const seen: string[] = [];

    // Act
    const act = (async () => {
      for await (const page of gateway().listManagedImages(STACK)) seen.push(...page.map((i) => i.imageId));
    })();

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'RequestLimitExceeded',
      action: 'DescribeImages',
      retryable: true,
    });
    expect(seen).toEqual(['ami-01']);
  });

  // Regression (fixed): DescribeImages leaves out disabled AMIs unless IncludeDisabled is true, even for their
  // owner (deprecated ones are always listed for their owner, disabled ones are not). A managed image
  // that someone disabled is then invisible to rotation: the planner's "left alone" rule for it never
  // runs, and its snapshots, which no listed image uses, are taken for orphans by the sweep, so every
  // run tries DeleteSnapshot on them and reports InvalidSnapshot.InUse failures. Fix: pass
  // IncludeDisabled: true (and IncludeDeprecated: true, harmless for the owner) in listManagedImages.
  it('lists disabled images too, so that their snapshots are not taken for orphans', async () => {
    // Prepare
    ec2Mock.on(DescribeImagesCommand).resolves({ Images: [] });

    // Act
    await collect(gateway().listManagedImages(STACK));

    // Assess
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImagesCommand, { IncludeDisabled: true });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.listManagedSnapshots', () => {
  it('asks for own snapshots carrying the stack tag, 1000 a page, and follows NextToken', async () => {
    // Prepare
    const start = new Date('2026-11-20T01:00:12.000Z');
    const { sent, fake } = pagesOf<DescribeSnapshotsCommandInput, object>([
      {
        NextToken: 's2',
        Snapshots: [{ SnapshotId: 'snap-1', VolumeSize: 8, StartTime: start, Tags: [{ Key: TAG.managedBy, Value: STACK }] }],
      },
      { Snapshots: [{ SnapshotId: 'snap-2', VolumeSize: 100, FullSnapshotSizeInBytes: 1_234_567, StartTime: start }] },
    ]);
    ec2Mock.on(DescribeSnapshotsCommand).callsFake(fake);

    // Act
    const result = await collect(gateway().listManagedSnapshots(STACK));

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeSnapshotsCommand, 2);
    expect(sent.map((i) => i.NextToken)).toEqual([undefined, 's2']);
    for (const input of sent) {
      expect(input).toMatchObject({ OwnerIds: ['self'], Filters: [{ Name: `tag:${TAG.managedBy}`, Values: [STACK] }], MaxResults: 1000 });
      expect(input).not.toHaveProperty('SnapshotIds');
    }
    expect(result).toEqual([
      [{ snapshotId: 'snap-1', sizeBytes: 8 * GIB, startTime: start, tags: { [TAG.managedBy]: STACK } }],
      [{ snapshotId: 'snap-2', sizeBytes: 1_234_567, startTime: start, tags: {} }],
    ]);
  });

  it.each([
    ['the full snapshot size when EC2 gives it', { FullSnapshotSizeInBytes: 5_000, VolumeSize: 8 }, 5_000],
    ['the volume size in GiB otherwise', { VolumeSize: 30 }, 30 * GIB],
    ['0 when EC2 gives neither', {}, 0],
  ])('sizes a snapshot by %s', async (_label, sizes, expected) => {
    // Prepare
    ec2Mock.on(DescribeSnapshotsCommand).resolves({ Snapshots: [{ SnapshotId: 'snap-1', StartTime: new Date(0), ...sizes }] });

    // Act
    const result = await collect(gateway().listManagedSnapshots(STACK));

    // Assess
    expect(result[0]![0]!.sizeBytes).toBe(expected);
  });

  it('reads a snapshot without a start time as the epoch (old enough to sweep, if it is an orphan)', async () => {
    // Prepare
    ec2Mock.on(DescribeSnapshotsCommand).resolves({ Snapshots: [{ SnapshotId: 'snap-1' }] });

    // Act
    const result = await collect(gateway().listManagedSnapshots(STACK));

    // Assess
    expect(result).toEqual([[{ snapshotId: 'snap-1', sizeBytes: 0, startTime: new Date(0), tags: {} }]]);
  });

  it('translates a listing failure', async () => {
    // Prepare
    ec2Mock.on(DescribeSnapshotsCommand).rejects(awsError('UnauthorizedOperation', 403));

    // Act
    const act = collect(gateway().listManagedSnapshots(STACK));

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'UnauthorizedOperation',
      action: 'DescribeSnapshots',
      retryable: false,
    });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.listInstances', () => {
  it('lists every instance that is not terminated, whatever its tags, with the image it runs', async () => {
    // Prepare
    const { sent, fake } = pagesOf<DescribeInstancesCommandInput, object>([
      {
        NextToken: 'i2',
        Reservations: [
          { Instances: [{ InstanceId: 'i-1', ImageId: 'ami-01', State: { Name: 'running' }, Tags: [{ Key: TAG.lineage, Value: 'web' }] }] },
          {
            Instances: [
              { InstanceId: 'i-2', ImageId: 'ami-02', State: { Name: 'stopped' } },
              { InstanceId: 'i-3', State: { Name: 'pending' } },
            ],
          },
        ],
      },
      { Reservations: [{ Instances: [{ InstanceId: 'i-4', ImageId: 'ami-04', State: { Name: 'shutting-down' } }] }] },
    ]);
    ec2Mock.on(DescribeInstancesCommand).callsFake(fake);

    // Act
    const result = await collect(gateway().listInstances());

    // Assess
    expect(sent.map((i) => i.NextToken)).toEqual([undefined, 'i2']);
    for (const input of sent) {
      expect(input).toMatchObject({
        MaxResults: 1000,
        Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down'] }],
      });
      expect(input.Filters).toHaveLength(1);
      expect(input).not.toHaveProperty('InstanceIds');
    }
    expect(result).toEqual([
      [
        { instanceId: 'i-1', state: 'running', tags: { [TAG.lineage]: 'web' }, imageId: 'ami-01' },
        { instanceId: 'i-2', state: 'stopped', tags: {}, imageId: 'ami-02' },
        { instanceId: 'i-3', state: 'pending', tags: {}, imageId: undefined },
      ],
      [{ instanceId: 'i-4', state: 'shutting-down', tags: {}, imageId: 'ami-04' }],
    ]);
  });

  it('translates a listing failure', async () => {
    // Prepare
    ec2Mock.on(DescribeInstancesCommand).rejects(awsError('RequestLimitExceeded', 503));

    // Act
    const act = collect(gateway().listInstances());

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'RequestLimitExceeded', action: 'DescribeInstances', retryable: true });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.listLaunchTemplateImages', () => {
  it('asks for $Latest and $Default of every template (no template named), 200 a page, following NextToken', async () => {
    // Prepare
    const { sent, fake } = pagesOf<DescribeLaunchTemplateVersionsCommandInput, object>([
      {
        NextToken: 'l2',
        LaunchTemplateVersions: [
          { LaunchTemplateId: 'lt-1', VersionNumber: 3, DefaultVersion: false, LaunchTemplateData: { ImageId: 'ami-latest' } },
          { LaunchTemplateId: 'lt-1', VersionNumber: 1, DefaultVersion: true, LaunchTemplateData: { ImageId: 'ami-default' } },
        ],
      },
      {
        LaunchTemplateVersions: [
          { LaunchTemplateId: 'lt-2', VersionNumber: 7, DefaultVersion: true, LaunchTemplateData: { ImageId: 'ami-07' } },
        ],
      },
    ]);
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).callsFake(fake);

    // Act
    const result = await collect(gateway().listLaunchTemplateImages());

    // Assess
    expect(sent.map((i) => i.NextToken)).toEqual([undefined, 'l2']);
    for (const input of sent) {
      expect(input).toMatchObject({ Versions: ['$Latest', '$Default'], MaxResults: 200 });
      expect(input.LaunchTemplateId).toBeUndefined();
      expect(input.LaunchTemplateName).toBeUndefined();
    }
    expect(result).toEqual([
      [
        { launchTemplateId: 'lt-1', version: 3, isDefault: false, imageId: 'ami-latest' },
        { launchTemplateId: 'lt-1', version: 1, isDefault: true, imageId: 'ami-default' },
      ],
      [{ launchTemplateId: 'lt-2', version: 7, isDefault: true, imageId: 'ami-07' }],
    ]);
  });

  it('skips versions that name no image', async () => {
    // Prepare
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).resolves({
      LaunchTemplateVersions: [
        { LaunchTemplateId: 'lt-1', VersionNumber: 2, DefaultVersion: true, LaunchTemplateData: { InstanceType: 't3.micro' } },
        { LaunchTemplateId: 'lt-2', VersionNumber: 1, DefaultVersion: true },
        { LaunchTemplateId: 'lt-3', VersionNumber: 1, DefaultVersion: true, LaunchTemplateData: { ImageId: 'ami-3' } },
      ],
    });

    // Act
    const result = await collect(gateway().listLaunchTemplateImages());

    // Assess
    expect(result).toEqual([[{ launchTemplateId: 'lt-3', version: 1, isDefault: true, imageId: 'ami-3' }]]);
  });

  it('translates a listing failure', async () => {
    // Prepare
    ec2Mock.on(DescribeLaunchTemplateVersionsCommand).rejects(awsError('UnauthorizedOperation', 403));

    // Act
    const act = collect(gateway().listLaunchTemplateImages());

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'UnauthorizedOperation', action: 'DescribeLaunchTemplateVersions', retryable: false });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.findImageReferences', () => {
  const idsOf = (n: number) => Array.from({ length: n }, (_, i) => `ami-${String(i).padStart(17, '0')}`);
  /** Every slice answers in two pages: one reference of its first image, then one of its last. */
  const twoPagesPerSlice = (sent: DescribeImageReferencesCommandInput[]) => (input: DescribeImageReferencesCommandInput) => {
    sent.push(structuredClone(input));
    const ids = input.ImageIds!;
    if (input.NextToken === undefined) {
      return {
        NextToken: `more-${ids[0]}`,
        ImageReferences: [
          { ImageId: ids[0], ResourceType: 'ec2:Instance', Arn: `arn:aws:ec2:us-east-1:123456789012:instance/i-for-${ids[0]}` },
        ],
      };
    }
    return {
      ImageReferences: [
        { ImageId: ids.at(-1), ResourceType: 'ssm:Parameter', Arn: `arn:aws:ssm:us-east-1:123456789012:parameter/for-${ids.at(-1)}` },
      ],
    };
  };

  // Regression (fixed): the gateway asked about up to 100 images a call, where EC2 takes 1 to 10
  // (API reference "DescribeImageReferences": "Maximum number of 10 items"), so every rotation
  // with more than 10 deletion candidates was refused, every day.
  it.each([
    [25, [10, 10, 5]],
    [10, [10]],
    [11, [10, 1]],
    [1, [1]],
  ])('asks about %i images in slices of at most 10, %j, and follows each slice\u2019s pages', async (n, slices) => {
    // Prepare
    const ids = idsOf(n);
    const sent: DescribeImageReferencesCommandInput[] = [];
    ec2Mock.on(DescribeImageReferencesCommand).callsFake(twoPagesPerSlice(sent));

    // Act
    const check = await gateway().findImageReferences(ids);

    // Assess: two calls per slice, the second with the first's token and the same ids
    const firsts = sent.filter((i) => i.NextToken === undefined);
    expect(firsts.map((i) => i.ImageIds!.length)).toEqual(slices);
    expect(firsts.flatMap((i) => i.ImageIds)).toEqual(ids);
    expect(sent).toHaveLength(2 * slices.length);
    for (let k = 0; k < sent.length; k += 2) {
      expect(sent[k + 1]!.NextToken).toBe(`more-${sent[k]!.ImageIds![0]}`);
      expect(sent[k + 1]!.ImageIds).toEqual(sent[k]!.ImageIds);
    }
    for (const input of sent) expect(input.ImageIds!.length).toBeLessThanOrEqual(IMAGE_REFERENCES_IDS_PER_CALL);
    expect(check.unverified).toEqual(new Map());
    const last = firsts.at(-1)!.ImageIds!.at(-1)!;
    expect(check.references.get(ids[0]!)).toContain(`ec2:Instance arn:aws:ec2:us-east-1:123456789012:instance/i-for-${ids[0]}`);
    expect(check.references.get(last)).toContain(`ssm:Parameter arn:aws:ssm:us-east-1:123456789012:parameter/for-${last}`);
  });

  it('checks every resource type, instances not terminated, every version of each launch template (10,000 deep), 1000 a page', async () => {
    // Prepare
    ec2Mock.on(DescribeImageReferencesCommand).resolves({ ImageReferences: [] });

    // Act
    await gateway().findImageReferences(['ami-1']);

    // Assess
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImageReferencesCommand, {
      ImageIds: ['ami-1'],
      IncludeAllResourceTypes: true,
      ResourceTypes: [
        {
          ResourceType: 'ec2:Instance',
          ResourceTypeOptions: [{ OptionName: 'state-name', OptionValues: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] }],
        },
        { ResourceType: 'ec2:LaunchTemplate', ResourceTypeOptions: [{ OptionName: 'version-depth', OptionValues: ['10000'] }] },
      ],
      MaxResults: 1000,
    });
  });

  it('never asks for a page smaller than the 5 EC2 accepts', async () => {
    // Prepare
    ec2Mock.on(DescribeImageReferencesCommand).resolves({ ImageReferences: [] });

    // Act
    await gateway(2).findImageReferences(['ami-1']);

    // Assess
    expect(ec2Mock).toHaveReceivedCommandWith(DescribeImageReferencesCommand, { MaxResults: 5 });
  });

  it('skips references without an image id and names a reference without type or ARN plainly', async () => {
    // Prepare
    ec2Mock
      .on(DescribeImageReferencesCommand)
      .resolves({ ImageReferences: [{ ResourceType: 'ec2:Instance', Arn: 'arn:x' }, { ImageId: 'ami-1' }] });

    // Act
    const check = await gateway().findImageReferences(['ami-1']);

    // Assess
    expect(check.references).toEqual(new Map([['ami-1', ['resource']]]));
  });

  it('makes no call, and answers nothing, for no images', async () => {
    // Act
    const check = await gateway().findImageReferences([]);

    // Assess
    expect(check).toEqual({ references: new Map(), unverified: new Map() });
    expect(ec2Mock).not.toHaveReceivedAnyCommand();
  });

  it.each([
    ['InvalidAction', 400],
    ['UnsupportedOperation', 400],
    ['UnauthorizedOperation', 403],
    ['RequestLimitExceeded', 503],
    ['InternalError', 500],
  ])('answers a slice refused with %s as unverified, with the error, and never throws', async (code, status) => {
    // Prepare
    ec2Mock.on(DescribeImageReferencesCommand).rejects(awsError(code, status, status >= 500 ? 'server' : 'client'));

    // Act
    const check = await gateway().findImageReferences(['ami-1', 'ami-2']);

    // Assess
    expect(check.references).toEqual(new Map());
    expect([...check.unverified.keys()]).toEqual(['ami-1', 'ami-2']);
    expect(check.unverified.get('ami-1')).toMatchObject({ errorCode: code, message: expect.stringContaining(code) });
  });

  it("says a call not offered is not offered, from the SDK's own EC2ServiceException", async () => {
    // Prepare
    ec2Mock.on(DescribeImageReferencesCommand).rejects(
      new EC2ServiceException({
        name: 'InvalidAction',
        $fault: 'client',
        $metadata: { httpStatusCode: 400 },
        message: 'The action DescribeImageReferences is not valid for this web service.',
      }),
    );

    // Act
    const check = await gateway().findImageReferences(['ami-1']);

    // Assess
    expect(check.unverified.get('ami-1')).toEqual({
      errorCode: 'InvalidAction',
      message: 'DescribeImageReferences is not offered here: The action DescribeImageReferences is not valid for this web service.',
    });
  });

  it('keeps what the slices that answered found when another is refused, or fails on a later page', async () => {
    // Prepare: slice 1 answers; slice 2 fails on its second page; slice 3 is refused; slice 4 answers
    const ids = idsOf(35);
    ec2Mock
      .on(DescribeImageReferencesCommand)
      .resolvesOnce({ ImageReferences: [{ ImageId: ids[0], ResourceType: 'ec2:Instance', Arn: 'arn:i-0' }] })
      .resolvesOnce({ NextToken: 'p2', ImageReferences: [{ ImageId: ids[10], ResourceType: 'ec2:LaunchTemplate', Arn: 'arn:lt-10' }] })
      .rejectsOnce(awsError('RequestLimitExceeded', 503))
      .rejectsOnce(awsError('UnauthorizedOperation', 403))
      .resolvesOnce({ ImageReferences: [] });

    // Act
    const check = await gateway().findImageReferences(ids);

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(DescribeImageReferencesCommand, 5);
    expect(check.references).toEqual(
      new Map([
        [ids[0], ['ec2:Instance arn:i-0']],
        [ids[10], ['ec2:LaunchTemplate arn:lt-10']],
      ]),
    );
    expect([...check.unverified.keys()]).toEqual(ids.slice(10, 30));
    expect(check.unverified.get(ids[10]!)!.errorCode).toBe('RequestLimitExceeded');
    expect(check.unverified.get(ids[29]!)!.errorCode).toBe('UnauthorizedOperation');
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.deregisterImage', () => {
  it('deregisters with DeleteAssociatedSnapshots', async () => {
    // Prepare
    ec2Mock.on(DeregisterImageCommand).resolves({});

    // Act
    const result = await gateway().deregisterImage('ami-01');

    // Assess
    expect(result).toBe('deregistered');
    expect(ec2Mock).toHaveReceivedCommandTimes(DeregisterImageCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(DeregisterImageCommand, { ImageId: 'ami-01', DeleteAssociatedSnapshots: true });
  });

  it.each(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable'])("answers 'gone' on %s", async (code) => {
    // Prepare
    ec2Mock.on(DeregisterImageCommand).rejects(awsError(code));

    // Act
    const result = await gateway().deregisterImage('ami-01');

    // Assess
    expect(result).toBe('gone');
  });

  it.each([
    ['RequestLimitExceeded', 503, true],
    ['UnauthorizedOperation', 403, false],
    ['InvalidParameterValue', 400, false],
  ])('throws %s, translated', async (code, status, retryable) => {
    // Prepare
    ec2Mock.on(DeregisterImageCommand).rejects(awsError(code, status));

    // Act
    const error = await gateway()
      .deregisterImage('ami-01')
      .catch((e: unknown) => e);

    // Assess
    expect(error).toBeInstanceOf(AwsCallError);
    expect(error).toMatchObject({ code, action: 'DeregisterImage', retryable, httpStatus: status });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.deleteSnapshot', () => {
  it('deletes the snapshot', async () => {
    // Prepare
    ec2Mock.on(DeleteSnapshotCommand).resolves({});

    // Act
    const result = await gateway().deleteSnapshot('snap-1');

    // Assess
    expect(result).toBe('deleted');
    expect(ec2Mock).toHaveReceivedCommandWith(DeleteSnapshotCommand, { SnapshotId: 'snap-1' });
  });

  it("answers 'gone' on InvalidSnapshot.NotFound", async () => {
    // Prepare
    ec2Mock.on(DeleteSnapshotCommand).rejects(awsError('InvalidSnapshot.NotFound'));

    // Act
    const result = await gateway().deleteSnapshot('snap-1');

    // Assess
    expect(result).toBe('gone');
  });

  it.each([
    ['InvalidSnapshot.InUse', 400, false],
    ['RequestLimitExceeded', 503, true],
  ])('throws %s, translated', async (code, status, retryable) => {
    // Prepare
    ec2Mock.on(DeleteSnapshotCommand).rejects(awsError(code, status));

    // Act
    const act = gateway().deleteSnapshot('snap-1');

    // Assess
    await expect(act).rejects.toMatchObject({ name: 'AwsCallError', code, action: 'DeleteSnapshot', retryable });
  });
});

// ---------------------------------------------------------------------------------------------
describe('Ec2Gateway.enableImageDeprecation', () => {
  it('sends the image and the time to deprecate it at', async () => {
    // Prepare
    ec2Mock.on(EnableImageDeprecationCommand).resolves({ Return: true });
    const when = new Date('2026-11-26T12:00:00.000Z');

    // Act
    await gateway().enableImageDeprecation('ami-01', when);

    // Assess
    expect(ec2Mock).toHaveReceivedCommandTimes(EnableImageDeprecationCommand, 1);
    expect(ec2Mock).toHaveReceivedCommandWith(EnableImageDeprecationCommand, { ImageId: 'ami-01', DeprecateAt: when });
  });

  it('throws a refusal, translated', async () => {
    // Prepare
    ec2Mock.on(EnableImageDeprecationCommand).rejects(awsError('InvalidParameterValue'));

    // Act
    const act = gateway().enableImageDeprecation('ami-01', new Date('2026-11-26T12:00:00.000Z'));

    // Assess
    await expect(act).rejects.toMatchObject({
      name: 'AwsCallError',
      code: 'InvalidParameterValue',
      action: 'EnableImageDeprecation',
      retryable: false,
    });
  });
});
