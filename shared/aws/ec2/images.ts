/**
 * The stack's images and the account's own: CreateImage (idempotent by the image's name), the
 * reads by id, by tag and by lineage, deregistering and deprecating.
 */
import {
  CreateImageCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  EnableImageDeprecationCommand,
  paginateDescribeImages,
} from '@aws-sdk/client-ec2';
import type { ImageSpec } from '../../domain/bake.js';
import type { ImageView } from '../../domain/image-status.js';
import { TAG, tagRecord } from '../../domain/tags.js';
import type { CreatedImage, OwnedImageView } from '../../use-cases/ec2-ports.js';
import { AwsCallError } from '../../use-cases/errors.js';
import { toImageView, toOwnedImageView, toTagList } from '../ec2-mappers.js';
import { call, pages, toAwsCallError } from '../errors.js';
import { IMAGE_NOT_FOUND, callOr, collect, imagePages, type Ec2Context } from './common.js';

/**
 * Image ids in one DescribeImages call. botocore's model sets no maximum; EC2's guide does: "Where
 * possible, specify a list of resource IDs in your describe calls. This is the fastest way to describe
 * a large number of resources. Note that you should not specify more than 1,000 IDs in a single call."
 * (EC2 Developer Guide, "Pagination in the Amazon EC2 API", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-pagination.html).
 */
export const DESCRIBE_IMAGES_IDS_PER_CALL = 1000;

export async function createImage(ec2: Ec2Context, spec: ImageSpec): Promise<CreatedImage> {
  const tags = toTagList(spec.tags);
  try {
    const out = await ec2.client.send(
      new CreateImageCommand({
        InstanceId: spec.instanceId,
        Name: spec.name,
        Description: spec.description,
        NoReboot: spec.noReboot,
        // "NoDevice: To omit the device from the block device mapping, specify an empty string."
        // (EC2 API reference, BlockDeviceMapping, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_BlockDeviceMapping.html)
        ...(spec.noDevices.length > 0 ? { BlockDeviceMappings: spec.noDevices.map((DeviceName) => ({ DeviceName, NoDevice: '' })) } : {}),
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
    const existing = await findImageByName(ec2, spec.name);
    if (!existing) {
      // EC2 is eventually consistent: the image may not be visible yet. Retry later.
      throw new AwsCallError(mapped.code, 'CreateImage', `${mapped.message}; that image is not visible yet`, true, mapped.httpStatus, {
        cause: error,
      });
    }
    return { imageId: existing.imageId, created: false, existing };
  }
}

export async function findImageByName(ec2: Ec2Context, name: string): Promise<ImageView | undefined> {
  const out = await call('DescribeImages', () =>
    ec2.client.send(new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'name', Values: [name] }] })),
  );
  const image = out.Images?.[0];
  return image ? toImageView(image) : undefined;
}

/** One image, through describeImages (one read path); undefined when EC2 does not describe it. */
export async function describeImage(ec2: Ec2Context, imageId: string): Promise<ImageView | undefined> {
  return (await describeImages(ec2, [imageId])).get(imageId);
}

/**
 * The images of these ids that EC2 describes, by id: one DescribeImages call per 1,000 ids. An id
 * EC2 does not know is left out of the answer. EC2 answers a list that names one with an error
 * for the whole call (InvalidAMIID.NotFound, or .Malformed / .Unavailable) whose message names
 * the ids ("The image id '[ami-…]' does not exist"): those are dropped and the rest asked again,
 * so one gone image costs one more call, never the others' answer. A recently deregistered image
 * is simply absent ("Recently deregistered images appear in the returned results for a short
 * interval and then return empty results. After all instances that reference a deregistered AMI
 * are terminated, specifying the ID of the image will eventually return an error", EC2 API
 * reference, "DescribeImages", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html).
 */
export async function describeImages(ec2: Ec2Context, imageIds: readonly string[]): Promise<Map<string, ImageView>> {
  const found = new Map<string, ImageView>();
  const unique = [...new Set(imageIds)];
  for (let i = 0; i < unique.length; i += DESCRIBE_IMAGES_IDS_PER_CALL) {
    let ids = unique.slice(i, i + DESCRIBE_IMAGES_IDS_PER_CALL);
    while (ids.length > 0) {
      try {
        const out = await ec2.client.send(new DescribeImagesCommand({ ImageIds: ids }));
        for (const image of out.Images ?? []) found.set(image.ImageId!, toImageView(image));
        break;
      } catch (error) {
        const mapped = toAwsCallError('DescribeImages', error);
        if (!IMAGE_NOT_FOUND.has(mapped.code)) throw mapped;
        const named = new Set(mapped.message.match(/ami-[0-9a-z]+/g) ?? []);
        const rest = ids.length === 1 ? [] : ids.filter((id) => !named.has(id));
        // An answer that names none of them says nothing of which is gone: asking again would loop.
        if (rest.length === ids.length) throw mapped;
        ids = rest;
      }
    }
  }
  return found;
}

export function listPendingImages(ec2: Ec2Context, managedBy: string): AsyncIterable<ImageView[]> {
  return imagePages(ec2, [
    { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
    { Name: `tag:${TAG.status}`, Values: ['pending'] },
  ]);
}

export function listManagedImages(ec2: Ec2Context, managedBy: string): AsyncIterable<ImageView[]> {
  // Disabled images too: they still own their snapshots, which are then no orphans.
  return imagePages(ec2, [{ Name: `tag:${TAG.managedBy}`, Values: [managedBy] }], true);
}

export function listImagesByStatus(ec2: Ec2Context, managedBy: string, status: string): AsyncIterable<ImageView[]> {
  return imagePages(ec2, [
    { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
    { Name: `tag:${TAG.status}`, Values: [status] },
  ]);
}

export async function listLineageImages(ec2: Ec2Context, managedBy: string, lineage: string): Promise<ImageView[]> {
  return collect(
    imagePages(ec2, [
      { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
      { Name: `tag:${TAG.lineage}`, Values: [lineage] },
    ]),
  );
}

export async function findLineageOf(ec2: Ec2Context, managedBy: string, instanceId: string): Promise<string | undefined> {
  const out = await call('DescribeImages', () =>
    ec2.client.send(
      new DescribeImagesCommand({
        Owners: ['self'],
        Filters: [
          { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
          { Name: `tag:${TAG.sourceInstance}`, Values: [instanceId] },
        ],
      }),
    ),
  );
  return (out.Images ?? []).map((i) => tagRecord(i.Tags)[TAG.lineage]).find((l) => l !== undefined);
}

export function listOwnedImages(ec2: Ec2Context): AsyncIterable<OwnedImageView[]> {
  return pages(
    'DescribeImages',
    paginateDescribeImages({ client: ec2.client, pageSize: ec2.pageSize }, { Owners: ['self'], IncludeDisabled: true }),
    (page) => (page.Images ?? []).map(toOwnedImageView),
  );
}

export function deregisterImage(ec2: Ec2Context, imageId: string): Promise<'deregistered' | 'gone'> {
  const deregister = async () => {
    await ec2.client.send(new DeregisterImageCommand({ ImageId: imageId, DeleteAssociatedSnapshots: true }));
    return 'deregistered' as const;
  };
  return callOr('DeregisterImage', deregister, IMAGE_NOT_FOUND, 'gone' as const);
}

export async function enableImageDeprecation(ec2: Ec2Context, imageId: string, at: Date): Promise<void> {
  await call('EnableImageDeprecation', () => ec2.client.send(new EnableImageDeprecationCommand({ ImageId: imageId, DeprecateAt: at })));
}
