/**
 * The only code that talks to EC2. Paged reads through the SDK's paginators (one
 * call per page of up to 1,000 resources, never one per resource), errors
 * translated to AwsCallError, and CreateImage made idempotent by its name.
 */
import { append } from '../domain/collections.js';
import {
  CreateImageCommand,
  CreateTagsCommand,
  DeleteSnapshotCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  EnableImageDeprecationCommand,
  paginateDescribeImageReferences,
  paginateDescribeImages,
  paginateDescribeInstances,
  paginateDescribeLaunchTemplateVersions,
  paginateDescribeSnapshots,
  type EC2Client,
  type Filter,
  type Image,
  type Instance,
} from '@aws-sdk/client-ec2';
import type { ImageSpec, InstanceSummary } from '../domain/bake.js';
import type { ImageView } from '../domain/image-status.js';
import { TAG, tagRecord, type Tags } from '../domain/tags.js';
import type { CreatedImage, Ec2Port, LaunchTemplateImage, SnapshotView } from '../use-cases/ports.js';
import { AwsCallError } from '../runtime/errors.js';
import { call, toAwsCallError } from './errors.js';

const NOT_FOUND = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed']);
const SNAPSHOT_NOT_FOUND = new Set(['InvalidSnapshot.NotFound']);
/** What EC2 answers where an action is not offered (a region without DescribeImageReferences). */
const NOT_OFFERED = new Set(['InvalidAction', 'UnsupportedOperation', 'NotImplemented', 'UnknownOperationException']);

/** Runs one AWS call; the error codes in `tolerated` mean `fallback` rather than failure. */
async function callOr<T, F>(action: string, fn: () => Promise<T>, tolerated: ReadonlySet<string>, fallback: F): Promise<T | F> {
  try {
    return await fn();
  } catch (error) {
    const mapped = toAwsCallError(action, error);
    if (tolerated.has(mapped.code)) return fallback;
    throw mapped;
  }
}

/** Drains a paginator a page at a time, translating its errors. */
async function* pages<P, T>(action: string, paginator: AsyncIterable<P>, map: (page: P) => T[]): AsyncIterable<T[]> {
  const iterator = paginator[Symbol.asyncIterator]();
  while (true) {
    const next = await call(action, () => iterator.next());
    if (next.done) return;
    yield map(next.value);
  }
}

/** States from which an instance can still be imaged or come back. */
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'];

const toTagList = (tags: Tags) => Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));

export function toImageView(image: Image): ImageView {
  return {
    imageId: image.ImageId ?? '',
    name: image.Name ?? '',
    state: image.State ?? 'unknown',
    stateReason: image.StateReason?.Message,
    creationDate: image.CreationDate,
    tags: tagRecord(image.Tags),
    snapshotIds: (image.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [])),
    ...(image.DeprecationTime ? { deprecationTime: image.DeprecationTime } : {}),
  };
}

function toInstanceSummary(instance: Instance): InstanceSummary {
  return {
    instanceId: instance.InstanceId ?? '',
    state: instance.State?.Name ?? 'unknown',
    tags: tagRecord(instance.Tags),
    imageId: instance.ImageId,
  };
}

export class Ec2Gateway implements Ec2Port {
  constructor(
    private readonly client: EC2Client,
    private readonly pageSize = 1000,
  ) {}

  listBakeCandidates(): AsyncIterable<InstanceSummary[]> {
    return this.instancePages([
      { Name: 'tag-key', Values: [TAG.bake] },
      { Name: 'instance-state-name', Values: LIVE_STATES },
    ]);
  }

  listInstances(): AsyncIterable<InstanceSummary[]> {
    // Stopped and stopping instances still need their image to start again.
    return this.instancePages([{ Name: 'instance-state-name', Values: [...LIVE_STATES, 'shutting-down'] }]);
  }

  private instancePages(Filters: Filter[]): AsyncIterable<InstanceSummary[]> {
    return pages('DescribeInstances', paginateDescribeInstances({ client: this.client, pageSize: this.pageSize }, { Filters }), (page) =>
      (page.Reservations ?? []).flatMap((r) => r.Instances ?? []).map(toInstanceSummary),
    );
  }

  async createImage(spec: ImageSpec): Promise<CreatedImage> {
    const tags = toTagList(spec.tags);
    try {
      const out = await this.client.send(
        new CreateImageCommand({
          InstanceId: spec.instanceId,
          Name: spec.name,
          Description: spec.description,
          NoReboot: spec.noReboot,
          TagSpecifications: [
            { ResourceType: 'image', Tags: tags },
            { ResourceType: 'snapshot', Tags: tags },
          ],
        }),
      );
      if (!out.ImageId) throw new Error('CreateImage answered without an ImageId');
      return { imageId: out.ImageId, created: true };
    } catch (error) {
      const mapped = toAwsCallError('CreateImage', error);
      if (mapped.code !== 'InvalidAMIName.Duplicate') throw mapped;
      // The name is the bake's idempotency key: this slot was baked already.
      const existing = await this.findImageByName(spec.name);
      if (!existing) {
        // EC2 is eventually consistent: the image may not be visible yet. Retry later.
        throw new AwsCallError(mapped.code, 'CreateImage', `${mapped.message}; that image is not visible yet`, true, mapped.httpStatus, {
          cause: error,
        });
      }
      return { imageId: existing.imageId, created: false, existing };
    }
  }

  async findImageByName(name: string): Promise<ImageView | undefined> {
    const out = await call('DescribeImages', () =>
      this.client.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] })),
    );
    const image = out.Images?.[0];
    return image ? toImageView(image) : undefined;
  }

  async describeImage(imageId: string): Promise<ImageView | undefined> {
    const out = await callOr('DescribeImages', () => this.client.send(new DescribeImagesCommand({ ImageIds: [imageId] })), NOT_FOUND, undefined);
    const image = out?.Images?.[0];
    return image ? toImageView(image) : undefined;
  }

  listPendingImages(managedBy: string): AsyncIterable<ImageView[]> {
    return this.imagePages([
      { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
      { Name: `tag:${TAG.status}`, Values: ['pending'] },
    ]);
  }

  listManagedImages(managedBy: string): AsyncIterable<ImageView[]> {
    // Disabled images too: they still own their snapshots, which are then no orphans.
    return this.imagePages([{ Name: `tag:${TAG.managedBy}`, Values: [managedBy] }], true);
  }

  private imagePages(Filters: Filter[], IncludeDisabled = false): AsyncIterable<ImageView[]> {
    return pages(
      'DescribeImages',
      paginateDescribeImages(
        { client: this.client, pageSize: this.pageSize },
        { Owners: ['self'], Filters, ...(IncludeDisabled ? { IncludeDisabled } : {}) },
      ),
      (page) => (page.Images ?? []).map(toImageView),
    );
  }

  listManagedSnapshots(managedBy: string): AsyncIterable<SnapshotView[]> {
    return pages(
      'DescribeSnapshots',
      paginateDescribeSnapshots(
        { client: this.client, pageSize: this.pageSize },
        { OwnerIds: ['self'], Filters: [{ Name: `tag:${TAG.managedBy}`, Values: [managedBy] }] },
      ),
      (page) =>
        (page.Snapshots ?? []).map((s) => ({
          snapshotId: s.SnapshotId ?? '',
          // The full size where EC2 reports it, else the volume's provisioned GiB.
          sizeBytes: s.FullSnapshotSizeInBytes ?? (s.VolumeSize ?? 0) * 2 ** 30,
          startTime: s.StartTime ?? new Date(0),
          tags: tagRecord(s.Tags),
        })),
    );
  }

  listLaunchTemplateImages(): AsyncIterable<LaunchTemplateImage[]> {
    // With no template named, $Latest and $Default describe those versions of every template.
    return pages(
      'DescribeLaunchTemplateVersions',
      paginateDescribeLaunchTemplateVersions({ client: this.client, pageSize: 200 }, { Versions: ['$Latest', '$Default'] }),
      (page) =>
        (page.LaunchTemplateVersions ?? []).flatMap((v) =>
          v.LaunchTemplateData?.ImageId
            ? [
                {
                  launchTemplateId: v.LaunchTemplateId ?? '',
                  version: v.VersionNumber ?? 0,
                  isDefault: v.DefaultVersion ?? false,
                  imageId: v.LaunchTemplateData.ImageId,
                },
              ]
            : [],
        ),
    );
  }

  findImageReferences(imageIds: string[]): Promise<Map<string, string[]> | undefined> {
    return callOr(
      'DescribeImageReferences',
      async () => {
        const refs = new Map<string, string[]>();
        // The call takes a bounded list of images: ask in slices.
        for (let i = 0; i < imageIds.length; i += 100) {
          const paginator = paginateDescribeImageReferences(
            { client: this.client, pageSize: 1000 },
            { ImageIds: imageIds.slice(i, i + 100), IncludeAllResourceTypes: true },
          );
          for await (const page of paginator) {
            for (const r of page.ImageReferences ?? []) {
              if (!r.ImageId) continue;
              append(refs, r.ImageId, `${r.ResourceType ?? 'resource'} ${r.Arn ?? ''}`.trim());
            }
          }
        }
        return refs;
      },
      NOT_OFFERED,
      undefined,
    );
  }

  deregisterImage(imageId: string): Promise<'deregistered' | 'gone'> {
    const deregister = async () => {
      await this.client.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }));
      return 'deregistered' as const;
    };
    return callOr('DeregisterImage', deregister, NOT_FOUND, 'gone' as const);
  }

  deleteSnapshot(snapshotId: string): Promise<'deleted' | 'gone'> {
    const remove = async () => {
      await this.client.send(new DeleteSnapshotCommand({ SnapshotId: snapshotId }));
      return 'deleted' as const;
    };
    return callOr('DeleteSnapshot', remove, SNAPSHOT_NOT_FOUND, 'gone' as const);
  }

  async enableImageDeprecation(imageId: string, at: Date): Promise<void> {
    await call('EnableImageDeprecation', () =>
      this.client.send(new EnableImageDeprecationCommand({ ImageId: imageId, DeprecateAt: at })),
    );
  }

  async tagResources(resourceIds: string[], tags: Tags): Promise<void> {
    if (resourceIds.length === 0) return;
    await call('CreateTags', () =>
      this.client.send(new CreateTagsCommand({ Resources: resourceIds, Tags: toTagList(tags) })),
    );
  }
}
