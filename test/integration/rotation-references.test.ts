/**
 * Rotation's in-use protection through DescribeImageReferences, against moto behind the
 * harness's implementation of the call (test/harness/moto-gaps/image-references.ts): more candidates
 * than one call takes, references only the call can see (an SSM parameter of data type
 * aws:ec2:image, an older launch template version), and a check that lacks a permission.
 */
import { describe, expect, it } from 'vitest';
import {
  CreateLaunchTemplateCommand,
  CreateLaunchTemplateVersionCommand,
  DescribeImagesCommand,
  DescribeSnapshotsCommand,
  type Image,
} from '@aws-sdk/client-ec2';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { MOTO_BASE_AMI, pastNights } from '../harness/local-cloud.js';
import { tagRecord } from '../../shared/domain/tags.js';
import { rotationDeps } from '../../shared/runtime/rotation-deps.js';
import { planRotationRun, rotateImages, type RotationReport } from '../../shared/use-cases/rotate-images.js';
import type { CountMetric, MetricsPort } from '../../shared/use-cases/ports.js';

const MANAGED_BY = 'ami-lifecycle-dev';

const cloud = cloudPerFile({ env: { DEFAULT_RETAIN: '7', POWERTOOLS_LOG_LEVEL: 'SILENT' } });

async function managedImages(): Promise<Image[]> {
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:managed-by', Values: [MANAGED_BY] }] }),
  );
  return Images.sort((a, b) => (a.CreationDate! < b.CreationDate! ? -1 : 1));
}

const ids = (images: Image[]) => images.map((i) => i.ImageId!).sort();

/** `lineages` instances keeping `retain` images each, baked on `nights` past nights. */
async function fleet(lineages: number, nights: number, retain: string): Promise<Image[]> {
  await cloud.launch(lineages, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:retain': retain });
  for (const night of pastNights(nights)) await cloud.bakeCycle('nightly', night);
  const images = await managedImages();
  expect(images).toHaveLength(lineages * nights);
  return images;
}

/** The oldest image of a one-lineage fleet, which rotation would delete. */
const oldest = (images: Image[]) => images[0]!;

/** Runs the rotation use case as the rotate function does, recording its metrics. */
async function rotateRecording(): Promise<{ report: RotationReport; counts: Partial<Record<CountMetric, number>> }> {
  const counts: Partial<Record<CountMetric, number>> = {};
  const metrics: MetricsPort = { count: (name, value = 1) => void (counts[name] = (counts[name] ?? 0) + value), bytes: () => undefined };
  const report = await rotateImages({}, { ...rotationDeps(), metrics });
  return { report, counts };
}

describe('rotation and DescribeImageReferences', () => {
  it('with more than 10 deletion candidates, deletes exactly the plan, asking 10 ids a call', { timeout: 120_000 }, async () => {
    // Prepare: 3 lineages keep 1 of 5 nights: 12 candidates
    const before = await fleet(3, 5, '1');
    const { plan } = await planRotationRun(rotationDeps());
    const planned = plan.decisions.filter((d) => d.action === 'delete').map((d) => d.imageId);
    expect(planned).toHaveLength(12);
    cloud.proxy.resetCalls();

    // Act
    const report = (await cloud.invoke('rotate', { trigger: 'schedule' })) as RotationReport;

    // Assess
    expect(report).toMatchObject({ failures: [], referencesChecked: true, keptUnverified: [], planned: { delete: 12, keptUnverified: 0 } });
    expect(report.done).toMatchObject({ deleted: 12, snapshotsDeleted: 12 });
    expect(ids(await managedImages())).toEqual(ids(before.filter((i) => !planned.includes(i.ImageId!))));
    expect(cloud.proxy.calls().DescribeImageReferences).toBe(2);
    expect(cloud.published('ImagesRotated')[0]!.detail).toMatchObject({ referencesChecked: true, keptUnverified: [] });
  });

  it('keeps an image that only an SSM parameter of data type aws:ec2:image references, and says why', { timeout: 60_000 }, async () => {
    // Prepare
    const images = await fleet(1, 3, '1');
    const golden = oldest(images);
    const ssm = new SSMClient({
      endpoint: cloud.moto.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    await ssm.send(new PutParameterCommand({ Name: '/golden/web', Value: golden.ImageId!, Type: 'String', DataType: 'aws:ec2:image' }));
    ssm.destroy();

    // Act
    const { plan } = await planRotationRun(rotationDeps());
    const report = (await cloud.invoke('rotate', {})) as RotationReport;

    // Assess
    expect(plan.decisions.find((d) => d.imageId === golden.ImageId)).toMatchObject({
      action: 'keep',
      reasons: ['in use by ssm:Parameter arn:aws:ssm:us-east-1:123456789012:parameter/golden/web'],
    });
    expect(report.done.deleted).toBe(1);
    expect(ids(await managedImages())).toEqual(ids([golden, images[2]!]));
  });

  it('keeps an image that only a non-default, non-latest launch template version within version-depth names', {
    timeout: 60_000,
  }, async () => {
    // Prepare: versions 1 (default) and 3 (latest) name moto's image; version 2 names the oldest of ours
    const images = await fleet(1, 3, '1');
    const pinned = oldest(images);
    const { LaunchTemplate } = await cloud.ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'asg-web',
        LaunchTemplateData: { ImageId: MOTO_BASE_AMI, InstanceType: 't3.micro' },
      }),
    );
    for (const ImageId of [pinned.ImageId!, MOTO_BASE_AMI]) {
      await cloud.ec2.send(
        new CreateLaunchTemplateVersionCommand({
          LaunchTemplateName: 'asg-web',
          LaunchTemplateData: { ImageId, InstanceType: 't3.micro' },
        }),
      );
    }

    // Act
    const { plan } = await planRotationRun(rotationDeps());
    const report = (await cloud.invoke('rotate', {})) as RotationReport;

    // Assess
    expect(plan.decisions.find((d) => d.imageId === pinned.ImageId)).toMatchObject({
      action: 'keep',
      reasons: [`in use by ec2:LaunchTemplate arn:aws:ec2:us-east-1:123456789012:launch-template/${LaunchTemplate!.LaunchTemplateId}`],
    });
    expect(report.done.deleted).toBe(1);
    expect(ids(await managedImages())).toEqual(ids([pinned, images[2]!]));
  });

  it('keeps an image that only a launch template version older than the ten most recent names (every version is checked)', {
    timeout: 60_000,
  }, async () => {
    // Prepare: version 2 of 13 names the oldest of ours (an Auto Scaling group may pin any version); the others moto's image
    const images = await fleet(1, 3, '1');
    const pinned = oldest(images);
    await cloud.ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'asg-pinned',
        LaunchTemplateData: { ImageId: MOTO_BASE_AMI, InstanceType: 't3.micro' },
      }),
    );
    for (let version = 2; version <= 13; version++) {
      await cloud.ec2.send(
        new CreateLaunchTemplateVersionCommand({
          LaunchTemplateName: 'asg-pinned',
          LaunchTemplateData: { ImageId: version === 2 ? pinned.ImageId! : MOTO_BASE_AMI, InstanceType: 't3.micro' },
        }),
      );
    }

    // Act
    const { plan } = await planRotationRun(rotationDeps());

    // Assess
    expect(plan.decisions.find((d) => d.imageId === pinned.ImageId)).toMatchObject({
      action: 'keep',
      reasons: [expect.stringMatching(/^in use by ec2:LaunchTemplate arn:aws:ec2:us-east-1:123456789012:launch-template\//)],
    });
  });

  it('lacking one resource type\u2019s permission, keeps every candidate, says why, counts them, and deletes nothing blind', {
    timeout: 60_000,
  }, async () => {
    // Prepare: the check may not read SSM parameters
    const before = await fleet(2, 3, '1');
    const snapshotsBefore = (await cloud.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots!.length;
    cloud.proxy.setReferenceAccess((type) => type !== 'ssm:Parameter');

    // Act
    const { report, counts } = await rotateRecording();
    const handler = (await cloud.invoke('rotate', {})) as RotationReport;

    // Assess: nothing deleted, by the use case nor by the function
    expect(ids(await managedImages())).toEqual(ids(before));
    expect((await cloud.ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }))).Snapshots).toHaveLength(snapshotsBefore);
    expect(cloud.proxy.calls().DeregisterImage).toBeUndefined();
    for (const r of [report, handler]) {
      expect(r).toMatchObject({ failures: [], referencesChecked: false, planned: { delete: 0, keptUnverified: 4 }, done: { deleted: 0 } });
      expect(r.keptUnverified).toHaveLength(4);
      for (const k of r.keptUnverified) {
        expect(k.errorCode).toBe('UnauthorizedOperation');
        expect(k.message).toContain('ssm:Parameter');
      }
    }
    const lineages = new Set(before.map((i) => tagRecord(i.Tags)['ami-lifecycle:lineage']));
    expect(new Set(report.keptUnverified.map((k) => k.lineage))).toEqual(lineages);
    expect(counts).toMatchObject({ ImagesKeptUnverified: 4, ImagesDeleted: 0 });
    const event = cloud.published('ImagesRotated').at(-1)!.detail as {
      keptUnverified: Array<{ errorCode: string }>;
      planned: { keptUnverified: number };
    };
    expect(event.planned.keptUnverified).toBe(4);
    expect(event.keptUnverified.map((k) => k.errorCode)).toEqual(Array(4).fill('UnauthorizedOperation'));
  });

  it('keeps every candidate when the rotate role itself lacks what the check reads on its behalf (IAM decides, not a staged hook)', {
    timeout: 60_000,
  }, async () => {
    // Prepare: the rotate role as deployed, less its SSM reads (the statement AWS would need through EC2)
    const before = await fleet(2, 3, '1');
    await cloud.useTemplate((t) => {
      const policy = (
        t.Resources.RotateRole!.Properties!.Policies as Array<{ PolicyDocument: { Statement: Array<{ Sid?: string }> } }>
      )[0]!;
      policy.PolicyDocument.Statement = policy.PolicyDocument.Statement.filter((x) => x.Sid !== 'LetTheImageReferenceCheckReadParameters');
    });
    try {
      // Act: the one slice of 4 candidates is refused for ssm:GetParameters
      cloud.expectDenials(1);
      const report = (await cloud.invoke('rotate', {})) as RotationReport;

      // Assess: kept, said why, nothing deleted; the denial names the read and the call it was for
      expect(report).toMatchObject({ planned: { delete: 0, keptUnverified: 4 }, done: { deleted: 0 } });
      expect(ids(await managedImages())).toEqual(ids(before));
      expect(cloud.denials()).toEqual([
        expect.objectContaining({ function: 'ami-lifecycle-dev-rotate', action: 'ssm:GetParameters', call: 'DescribeImageReferences' }),
      ]);
    } finally {
      await cloud.useTemplate();
    }
  });
});
