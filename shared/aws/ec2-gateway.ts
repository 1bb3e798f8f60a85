/**
 * The only code that talks to EC2. Paged reads through the SDK's paginators (one
 * call per page of up to 1,000 resources, never one per resource), errors
 * translated to AwsCallError, and CreateImage made idempotent by its name.
 */
import {
  CreateImageCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  paginateDescribeImages,
  paginateDescribeInstances,
  type EC2Client,
  type Image,
  type Instance,
} from '@aws-sdk/client-ec2';
import type { ImageSpec, InstanceSummary } from '../domain/bake.js';
import type { ImageView } from '../domain/image-status.js';
import { TAG, tagRecord, type Tags } from '../domain/tags.js';
import type { CreatedImage, Ec2Port } from '../use-cases/ports.js';
import { AwsCallError } from '../runtime/errors.js';
import { call, toAwsCallError } from './errors.js';

const NOT_FOUND = new Set(['InvalidAMIID.NotFound', 'InvalidAMIID.Unavailable', 'InvalidAMIID.Malformed']);

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
  };
}

function toInstanceSummary(instance: Instance): InstanceSummary {
  return {
    instanceId: instance.InstanceId ?? '',
    state: instance.State?.Name ?? 'unknown',
    tags: tagRecord(instance.Tags),
  };
}

export class Ec2Gateway implements Ec2Port {
  constructor(
    private readonly client: EC2Client,
    private readonly pageSize = 1000,
  ) {}

  async *listBakeCandidates(): AsyncIterable<InstanceSummary[]> {
    const pages = paginateDescribeInstances(
      { client: this.client, pageSize: this.pageSize },
      {
        Filters: [
          { Name: 'tag-key', Values: [TAG.bake] },
          { Name: 'instance-state-name', Values: LIVE_STATES },
        ],
      },
    );
    const iterator = pages[Symbol.asyncIterator]();
    while (true) {
      const next = await call('DescribeInstances', () => iterator.next());
      if (next.done) return;
      const instances = (next.value.Reservations ?? []).flatMap((r) => r.Instances ?? []);
      yield instances.map(toInstanceSummary);
    }
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
    try {
      const out = await this.client.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
      const image = out.Images?.[0];
      return image ? toImageView(image) : undefined;
    } catch (error) {
      const mapped = toAwsCallError('DescribeImages', error);
      if (NOT_FOUND.has(mapped.code)) return undefined;
      throw mapped;
    }
  }

  async *listPendingImages(managedBy: string): AsyncIterable<ImageView[]> {
    const pages = paginateDescribeImages(
      { client: this.client, pageSize: this.pageSize },
      {
        Owners: ['self'],
        Filters: [
          { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
          { Name: `tag:${TAG.status}`, Values: ['pending'] },
        ],
      },
    );
    const iterator = pages[Symbol.asyncIterator]();
    while (true) {
      const next = await call('DescribeImages', () => iterator.next());
      if (next.done) return;
      yield (next.value.Images ?? []).map(toImageView);
    }
  }

  async tagResources(resourceIds: string[], tags: Tags): Promise<void> {
    if (resourceIds.length === 0) return;
    await call('CreateTags', () =>
      this.client.send(new CreateTagsCommand({ Resources: resourceIds, Tags: toTagList(tags) })),
    );
  }
}
