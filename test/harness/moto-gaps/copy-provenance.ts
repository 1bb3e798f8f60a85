/**
 * Moto gaps of CopyImage that a copy's provenance needs (issue 17; minimal, part A owns the final
 * version):
 * - moto ignores CopyImage's TagSpecifications. EC2 tags the new image and its snapshots with them
 *   at creation: "TagSpecifications: The tags to apply to the new AMI and new snapshots. You can tag
 *   the AMI, the snapshots, or both" (API reference, CopyImage,
 *   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html).
 * - moto's DescribeImages reports no SourceImageId for a copy. EC2 does: "SourceImageId: The ID of
 *   the source AMI from which the AMI was created" (API reference, Image,
 *   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html).
 * The harness tags the copy as asked, remembers which image each copy was made from, and writes
 * `sourceImageId` into DescribeImages' answer for it. Forgotten on resetState().
 * TEST-ONLY.
 */
import { CreateTagsCommand, DescribeImagesCommand, type Tag } from '@aws-sdk/client-ec2';
import type { Interceptor } from '../proxy/chain.js';
import { bufferBody, isEc2Action } from '../proxy/request.js';

/** Copy image id -> the image it was copied from. */
export type CopySources = Map<string, string>;

/** The TagSpecification.N members of a Query form, by resource type. */
function tagSpecifications(form: URLSearchParams): Map<string, Tag[]> {
  const specs = new Map<string, Tag[]>();
  for (let n = 1; form.has(`TagSpecification.${n}.ResourceType`); n++) {
    const type = form.get(`TagSpecification.${n}.ResourceType`) ?? '';
    const tags: Tag[] = [];
    for (let m = 1; form.has(`TagSpecification.${n}.Tag.${m}.Key`); m++) {
      tags.push({
        Key: form.get(`TagSpecification.${n}.Tag.${m}.Key`) ?? '',
        Value: form.get(`TagSpecification.${n}.Tag.${m}.Value`) ?? '',
      });
    }
    specs.set(type, [...(specs.get(type) ?? []), ...tags]);
  }
  return specs;
}

export function copyProvenance(sources: CopySources): Interceptor {
  return async (request, next, context) => {
    const copying = isEc2Action(request, 'CopyImage') && request.form?.get('DryRun') !== 'true';
    const describing = isEc2Action(request, 'DescribeImages') && sources.size > 0;
    if (!copying && !describing) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    if (copying) {
      const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body.toString('utf8'))?.[1];
      const sourceId = request.form?.get('SourceImageId');
      if (imageId && sourceId) {
        sources.set(imageId, sourceId);
        const specs = tagSpecifications(request.form!);
        const ec2 = context.ec2For(request);
        const imageTags = specs.get('image') ?? [];
        if (imageTags.length > 0) await ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: imageTags }));
        const snapshotTags = specs.get('snapshot') ?? [];
        if (snapshotTags.length > 0) {
          const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
          const snapshots = (Images[0]?.BlockDeviceMappings ?? []).flatMap((m) => (m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : []));
          if (snapshots.length > 0) await ec2.send(new CreateTagsCommand({ Resources: snapshots, Tags: snapshotTags }));
        }
      }
      return { ...response, body };
    }
    // In moto's answer each image item opens with its imageId: the source goes right after it.
    const text = body
      .toString('utf8')
      .replace(/<imageId>(ami-[0-9a-f]+)<\/imageId>/g, (whole, id: string) =>
        sources.has(id) ? `${whole}<sourceImageId>${sources.get(id)}</sourceImageId>` : whole,
      );
    return { ...response, body: Buffer.from(text, 'utf8') };
  };
}
