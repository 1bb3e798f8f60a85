/**
 * The harness's DescribeImageReferences (test/harness/moto-gaps/image-references.ts), which moto lacks:
 * answered from moto's instances, launch templates and SSM parameters as AWS documents it,
 * with its limits, paging, options and refusals.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateImageCommand,
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  DescribeImageReferencesCommand,
  EC2Client,
  paginateDescribeImageReferences,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type DescribeImageReferencesCommandInput,
  type ImageReference,
} from '@aws-sdk/client-ec2';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { startMoto, type MotoServer } from '../harness/moto.js';
import { startFidelityProxy, type FidelityProxy } from '../harness/proxy/index.js';

const MOTO_BASE_AMI = 'ami-760aaa0f';
const ACCOUNT = '123456789012';
const config = { region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, maxAttempts: 1 };

let moto: MotoServer;
let proxy: FidelityProxy;
let ec2: EC2Client;
let ssm: SSMClient;

beforeAll(async () => {
  moto = await startMoto();
  proxy = await startFidelityProxy(moto.endpoint);
  ec2 = new EC2Client({ ...config, endpoint: proxy.endpoint });
  ssm = new SSMClient({ ...config, endpoint: proxy.endpoint });
}, 30_000);

afterAll(async () => {
  ec2?.destroy();
  ssm?.destroy();
  await proxy?.stop();
  await moto?.stop();
}, 30_000);

beforeEach(async () => {
  await moto.reset();
  proxy.resetState();
  proxy.setReferenceAccess(undefined);
});

async function launch(imageId = MOTO_BASE_AMI): Promise<string> {
  const { Instances = [] } = await ec2.send(
    new RunInstancesCommand({ ImageId: imageId, MinCount: 1, MaxCount: 1, InstanceType: 't3.micro' }),
  );
  return Instances[0]!.InstanceId!;
}

let imageSeq = 0;
/** A new image of this account (moto builds it at once). */
async function image(): Promise<string> {
  const { ImageId } = await ec2.send(new CreateImageCommand({ InstanceId: await launch(), Name: `refs-${++imageSeq}` }));
  return ImageId!;
}

async function references(input: Partial<DescribeImageReferencesCommandInput>): Promise<ImageReference[]> {
  const found: ImageReference[] = [];
  for await (const page of paginateDescribeImageReferences({ client: ec2 }, { ImageIds: [], ...input }))
    found.push(...(page.ImageReferences ?? []));
  return found;
}

const arns = (refs: ImageReference[]) => refs.map((r) => r.Arn).sort();

/** The error code and HTTP status of a refused call, or 'ok'. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (error) {
    const e = error as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
    return `${e.name} ${e.$metadata?.httpStatusCode}`;
  }
}

describe('DescribeImageReferences in the harness', { timeout: 30_000 }, () => {
  it('finds instances launched from the images in every state by default, and only the chosen states with state-name', async () => {
    // Prepare
    const ami = await image();
    const [running, stopped, terminated] = [await launch(ami), await launch(ami), await launch(ami)];
    await launch(MOTO_BASE_AMI); // from another image: never a reference
    await ec2.send(new StopInstancesCommand({ InstanceIds: [stopped] }));
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [terminated] }));
    const arn = (id: string) => `arn:aws:ec2:us-east-1:${ACCOUNT}:instance/${id}`;

    // Act
    const all = await references({ ImageIds: [ami], IncludeAllResourceTypes: true });
    const live = await references({
      ImageIds: [ami],
      ResourceTypes: [
        { ResourceType: 'ec2:Instance', ResourceTypeOptions: [{ OptionName: 'state-name', OptionValues: ['running', 'stopped'] }] },
      ],
    });
    // ResourceTypes' options win over the defaults IncludeAllResourceTypes applies.
    const both = await references({
      ImageIds: [ami],
      IncludeAllResourceTypes: true,
      ResourceTypes: [{ ResourceType: 'ec2:Instance', ResourceTypeOptions: [{ OptionName: 'state-name', OptionValues: ['terminated'] }] }],
    });

    // Assess
    expect(arns(all)).toEqual([running, stopped, terminated].map(arn).sort());
    expect(all.every((r) => r.ImageId === ami && r.ResourceType === 'ec2:Instance')).toBe(true);
    expect(arns(live)).toEqual([running, stopped].map(arn).sort());
    expect(arns(both)).toEqual([arn(terminated)]);
  });

  it('reads the 10 most recent versions of each launch template by default, as deep as version-depth says', async () => {
    // Prepare: version 1 (the default) names `old`, version 7 `mid`, versions 12 to 15 `recent`; 15 versions in all
    const [old, mid, recent] = [await image(), await image(), await image()];
    const { LaunchTemplate } = await ec2.send(
      new CreateLaunchTemplateCommand({ LaunchTemplateName: 'fleet', LaunchTemplateData: { ImageId: old, InstanceType: 't3.micro' } }),
    );
    for (let v = 2; v <= 15; v++) {
      const ImageId = v === 7 ? mid : v >= 12 ? recent : MOTO_BASE_AMI;
      await ec2.send(
        new CreateLaunchTemplateVersionCommand({ LaunchTemplateName: 'fleet', LaunchTemplateData: { ImageId, InstanceType: 't3.micro' } }),
      );
    }
    const arn = `arn:aws:ec2:us-east-1:${ACCOUNT}:launch-template/${LaunchTemplate!.LaunchTemplateId}`;
    const depth = (n: string) => ({
      ImageIds: [old, mid, recent],
      ResourceTypes: [
        { ResourceType: 'ec2:LaunchTemplate' as const, ResourceTypeOptions: [{ OptionName: 'version-depth' as const, OptionValues: [n] }] },
      ],
    });

    // Act
    const byDefault = await references({ ImageIds: [old, mid, recent], IncludeAllResourceTypes: true });
    const shallow = await references(depth('5'));
    const deep = await references(depth('15'));

    // Assess: versions 6 to 15 by default (one reference per template and image), 11 to 15 at depth 5, all at 15
    expect(byDefault.map((r) => r.ImageId).sort()).toEqual([mid, recent].sort());
    expect(byDefault.every((r) => r.ResourceType === 'ec2:LaunchTemplate' && r.Arn === arn)).toBe(true);
    expect(shallow.map((r) => r.ImageId)).toEqual([recent]);
    expect(deep.map((r) => r.ImageId).sort()).toEqual([old, mid, recent].sort());
  });

  it('finds SSM parameters of data type aws:ec2:image whose value is the image, and no text parameter', async () => {
    // Prepare
    const [golden, other] = [await image(), await image()];
    await ssm.send(new PutParameterCommand({ Name: '/golden/web', Value: golden, Type: 'String', DataType: 'aws:ec2:image' }));
    await ssm.send(new PutParameterCommand({ Name: '/notes/web', Value: other, Type: 'String' }));

    // Act
    const found = await references({ ImageIds: [golden, other], ResourceTypes: [{ ResourceType: 'ssm:Parameter' }] });

    // Assess
    expect(found).toEqual([
      { ImageId: golden, ResourceType: 'ssm:Parameter', Arn: `arn:aws:ssm:us-east-1:${ACCOUNT}:parameter/golden/web` },
    ]);
  });

  it('finds no Image Builder recipe (moto has no Image Builder), and nothing for an image nobody uses', async () => {
    // Prepare
    const unused = await image();

    // Act
    const recipes = await references({
      ImageIds: [unused],
      ResourceTypes: [{ ResourceType: 'imagebuilder:ImageRecipe' }, { ResourceType: 'imagebuilder:ContainerRecipe' }],
    });
    const all = await references({ ImageIds: [unused], IncludeAllResourceTypes: true });

    // Assess
    expect(recipes).toEqual([]);
    expect(all).toEqual([]);
  });

  it('pages by MaxResults with a NextToken that belongs to its request', async () => {
    // Prepare: 7 instances of one image
    const ami = await image();
    const instances = [];
    for (let i = 0; i < 7; i++) instances.push(await launch(ami));
    const input = { ImageIds: [ami], IncludeAllResourceTypes: true, MaxResults: 5 };

    // Act
    const first = await ec2.send(new DescribeImageReferencesCommand(input));
    const second = await ec2.send(new DescribeImageReferencesCommand({ ...input, NextToken: first.NextToken }));
    const foreign = outcome(
      ec2.send(new DescribeImageReferencesCommand({ ...input, ImageIds: [MOTO_BASE_AMI], NextToken: first.NextToken })),
    );
    const paged = await references(input);

    // Assess
    expect(first.ImageReferences).toHaveLength(5);
    expect(first.NextToken).toBeTruthy();
    expect(second.ImageReferences).toHaveLength(2);
    expect(second.NextToken).toBeUndefined();
    expect(await foreign).toBe('InvalidParameterValue 400');
    expect(paged).toHaveLength(7);
    expect(new Set(arns(paged)).size).toBe(7);
  });

  it('takes 1 to 10 image ids, as the API reference says, and refuses 0 or 11', async () => {
    // Prepare
    const ids = (n: number) => Array.from({ length: n }, (_, i) => `ami-${(i + 1).toString(16).padStart(17, '0')}`);
    const ask = (n: number) => outcome(ec2.send(new DescribeImageReferencesCommand({ ImageIds: ids(n), IncludeAllResourceTypes: true })));
    // 0 and 11 ids break botocore's model (ImageIds 1 to 10): the API-model check refuses them first.
    proxy.expectApiViolations([
      { action: 'DescribeImageReferences', member: 'ImageIds' },
      { action: 'DescribeImageReferences', member: 'ImageIds' },
    ]);

    // Act / Assess
    expect(await ask(1)).toBe('ok');
    expect(await ask(10)).toBe('ok');
    expect(await ask(11)).toBe('InvalidParameterValue 400');
    expect(await ask(0)).toBe('MissingParameter 400');
  });

  it('refuses what the model and the user guide rule out: no resource type, MaxResults under 5, options out of range or on the wrong type', async () => {
    // Prepare
    const ImageIds = [MOTO_BASE_AMI];
    const send = (input: Omit<DescribeImageReferencesCommandInput, 'ImageIds'>) =>
      outcome(ec2.send(new DescribeImageReferencesCommand({ ImageIds, ...input })));
    const depth = (v: string) => ({
      ResourceTypes: [
        { ResourceType: 'ec2:LaunchTemplate' as const, ResourceTypeOptions: [{ OptionName: 'version-depth' as const, OptionValues: [v] }] },
      ],
    });
    // MaxResults 4 breaks botocore's model (5 at least): the API-model check refuses it first.
    proxy.expectApiViolations([{ action: 'DescribeImageReferences', member: 'MaxResults' }]);

    // Act / Assess
    expect(await send({})).toBe('MissingParameter 400');
    expect(await send({ IncludeAllResourceTypes: false })).toBe('MissingParameter 400');
    expect(await send({ IncludeAllResourceTypes: true, MaxResults: 4 })).toBe('InvalidParameterValue 400');
    expect(await send({ IncludeAllResourceTypes: true, MaxResults: 5 })).toBe('ok');
    expect(await send(depth('0'))).toBe('InvalidParameterValue 400');
    expect(await send(depth('10001'))).toBe('InvalidParameterValue 400');
    expect(await send(depth('10000'))).toBe('ok');
    expect(await send(depth('1'))).toBe('ok');
    expect(
      await send({
        ResourceTypes: [
          { ResourceType: 'ec2:LaunchTemplate', ResourceTypeOptions: [{ OptionName: 'state-name', OptionValues: ['running'] }] },
        ],
      }),
    ).toBe('InvalidParameterValue 400');
    expect(
      await send({
        ResourceTypes: [{ ResourceType: 'ec2:Instance', ResourceTypeOptions: [{ OptionName: 'state-name', OptionValues: ['sleeping'] }] }],
      }),
    ).toBe('InvalidParameterValue 400');
  });

  it('refuses the whole call when the caller may not have a resource type looked at, and answers a dry run', async () => {
    // Prepare: no SSM permission for the check
    const ami = await image();
    await launch(ami);
    const asked: string[] = [];
    proxy.setReferenceAccess((type) => {
      asked.push(type);
      return type !== 'ssm:Parameter';
    });

    // Act
    const all = ec2.send(new DescribeImageReferencesCommand({ ImageIds: [ami], IncludeAllResourceTypes: true })).catch((e: Error) => e);
    const instancesOnly = await references({ ImageIds: [ami], ResourceTypes: [{ ResourceType: 'ec2:Instance' }] });
    const dryDenied = await outcome(
      ec2.send(new DescribeImageReferencesCommand({ ImageIds: [ami], ResourceTypes: [{ ResourceType: 'ssm:Parameter' }], DryRun: true })),
    );
    const dryAllowed = await outcome(
      ec2.send(new DescribeImageReferencesCommand({ ImageIds: [ami], ResourceTypes: [{ ResourceType: 'ec2:Instance' }], DryRun: true })),
    );

    // Assess
    const refused = (await all) as Error & { $metadata?: { httpStatusCode?: number } };
    expect(refused.name).toBe('UnauthorizedOperation');
    expect(refused.$metadata?.httpStatusCode).toBe(403);
    expect(refused.message).toContain('ssm:Parameter');
    expect(refused.message).toContain('ssm:DescribeParameters');
    expect(asked).toEqual(
      expect.arrayContaining([
        'ec2:Instance',
        'ec2:LaunchTemplate',
        'ssm:Parameter',
        'imagebuilder:ImageRecipe',
        'imagebuilder:ContainerRecipe',
      ]),
    );
    expect(instancesOnly).toHaveLength(1);
    expect(dryDenied).toBe('UnauthorizedOperation 403');
    expect(dryAllowed).toBe('DryRunOperation 412');
  });
});
