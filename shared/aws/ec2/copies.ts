/**
 * Disaster-recovery copies (issue 17): in the home region, the good images to copy; in a
 * destination region, the stack's copies, the copies in flight, and CopyImage.
 */
import { CopyImageCommand, paginateDescribeImages } from '@aws-sdk/client-ec2';
import type { CopySpec, CopyView } from '../../domain/copies.js';
import type { ImageView } from '../../domain/image-status.js';
import { TAG } from '../../domain/tags.js';
import { AwsCallError } from '../../use-cases/errors.js';
import { toImageView, toTagList } from '../ec2-mappers.js';
import { call, pages } from '../errors.js';
import { imagePages, type Ec2Context } from './common.js';

export function listCopySources(ec2: Ec2Context, managedBy: string): AsyncIterable<ImageView[]> {
  return imagePages(ec2, [
    { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
    { Name: `tag:${TAG.status}`, Values: ['good'] },
    { Name: 'tag-key', Values: [TAG.copyTo] },
  ]);
}

export function listCopies(ec2: Ec2Context, managedBy: string): AsyncIterable<CopyView[]> {
  return pages(
    'DescribeImages',
    paginateDescribeImages(
      { client: ec2.client, pageSize: ec2.pageSize },
      {
        Owners: ['self'],
        Filters: [
          { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
          { Name: 'tag-key', Values: [TAG.sourceImage] },
        ],
      },
    ),
    (page) => (page.Images ?? []).map(toImageView),
  );
}

/**
 * "state - The state of the image (available | pending | failed)" (API reference, DescribeImages,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImages.html). A copy is told
 * from a CreateImage in progress by its record: SourceImageId "only appears if the AMI was created
 * using CreateImage, CopyImage, or CreateRestoreImageTask", SourceInstanceId only for CreateImage
 * (API reference, Image).
 */
export async function countCopiesInFlight(ec2: Ec2Context): Promise<number> {
  let count = 0;
  const paged = pages(
    'DescribeImages',
    paginateDescribeImages(
      { client: ec2.client, pageSize: ec2.pageSize },
      { Owners: ['self'], Filters: [{ Name: 'state', Values: ['pending'] }] },
    ),
    (page) => page.Images ?? [],
  );
  for await (const page of paged) count += page.filter((i) => i.SourceImageId && !i.SourceInstanceId).length;
  return count;
}

export async function copyImage(ec2: Ec2Context, spec: CopySpec): Promise<string> {
  const tags = toTagList(spec.tags);
  const out = await call('CopyImage', () =>
    ec2.client.send(
      new CopyImageCommand({
        SourceImageId: spec.sourceImageId,
        SourceRegion: spec.sourceRegion,
        Name: spec.name,
        Description: spec.description,
        // A retried or repeated CopyImage with this token answers the first copy rather than making a second.
        ClientToken: spec.clientToken,
        TagSpecifications: [
          { ResourceType: 'image', Tags: tags },
          { ResourceType: 'snapshot', Tags: tags },
        ],
        // "If you specify a KMS key, you must also set the encrypted state to true" (API reference, CopyImage, KmsKeyId).
        ...(spec.kmsKeyId ? { Encrypted: true, KmsKeyId: spec.kmsKeyId } : {}),
      }),
    ),
  );
  if (!out.ImageId) throw new AwsCallError('NoImageId', 'CopyImage', 'CopyImage answered without an ImageId', true);
  return out.ImageId;
}
