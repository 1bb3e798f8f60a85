/**
 * Moto gaps of CopyImage (issue 17, part B's minimal version; part A owns the final one):
 *
 * - moto ignores CopyImage's TagSpecifications. AWS applies them at creation: "The tags to apply to
 *   the new AMI and new snapshots ... To tag the new AMI, the value for ResourceType must be image.
 *   To tag the new snapshots, the value for ResourceType must be snapshot. The same tag is applied
 *   to all the new snapshots." (API reference, CopyImage, TagSpecifications:
 *   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CopyImage.html). Other resource
 *   types are refused by AWS's API model check before this link.
 * - moto's DescribeImages reports no SourceImageId nor SourceImageRegion for a copy. AWS does:
 *   "SourceImageId: The ID of the source AMI from which the AMI was created", "SourceImageRegion: The
 *   Region of the source AMI" (API reference, Image:
 *   https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html).
 *
 * The copies made through the proxy are remembered (image id -> source), and DescribeImages answers
 * carry the two fields for them. TEST-ONLY.
 */
import { CreateTagsCommand, DescribeImagesCommand } from '@aws-sdk/client-ec2';
import type { Interceptor } from '../proxy/chain.js';
import { bufferBody, isEc2Action } from '../proxy/request.js';

interface Tag {
  Key: string;
  Value: string;
}

/** The tags of each TagSpecification.N group of a Query form, by its ResourceType. */
export function tagSpecifications(form: URLSearchParams): Map<string, Tag[]> {
  type Group = { type?: string; tags: Map<number, Partial<Tag>> };
  const groups = new Map<number, Group>();
  for (const [key, value] of form) {
    const match = /^TagSpecification\.(\d+)\.(ResourceType|Tag\.(\d+)\.(Key|Value))$/.exec(key);
    if (!match) continue;
    const group: Group = groups.get(Number(match[1])) ?? { tags: new Map() };
    groups.set(Number(match[1]), group);
    if (match[2] === 'ResourceType') group.type = value;
    else {
      const tag = group.tags.get(Number(match[3])) ?? {};
      if (match[4] === 'Key') tag.Key = value;
      else tag.Value = value;
      group.tags.set(Number(match[3]), tag);
    }
  }
  const byType = new Map<string, Tag[]>();
  for (const [, group] of [...groups].sort(([a], [b]) => a - b)) {
    const tags = [...group.tags]
      .sort(([a], [b]) => a - b)
      .flatMap(([, t]) => (t.Key === undefined ? [] : [{ Key: t.Key, Value: t.Value ?? '' }]));
    if (group.type) byType.set(group.type, [...(byType.get(group.type) ?? []), ...tags]);
  }
  return byType;
}

export class CopyProvenance {
  /** Copy image id -> what it was copied from. */
  private readonly sources = new Map<string, { imageId: string; region: string }>();

  clear(): void {
    this.sources.clear();
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    const copy = isEc2Action(request, 'CopyImage') && request.form?.get('DryRun') !== 'true';
    const describe = isEc2Action(request, 'DescribeImages');
    if (!copy && !describe) return next(request);
    const response = await next(request);
    if (response.status !== 200) return response;
    const body = await bufferBody(response.body);
    if (copy) {
      const form = request.form!;
      const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body.toString('utf8'))?.[1];
      if (!imageId) throw new Error(`CopyImage answered 200 without an imageId: ${body.toString('utf8')}`);
      this.sources.set(imageId, { imageId: form.get('SourceImageId') ?? '', region: form.get('SourceRegion') ?? '' });
      const specs = tagSpecifications(form);
      const ec2 = context.ec2For(request);
      const imageTags = specs.get('image') ?? [];
      if (imageTags.length > 0) await ec2.send(new CreateTagsCommand({ Resources: [imageId], Tags: imageTags }));
      const snapshotTags = specs.get('snapshot') ?? [];
      if (snapshotTags.length > 0) {
        const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
        const snapshotIds = Images.flatMap((i) => i.BlockDeviceMappings ?? []).flatMap((m) =>
          m.Ebs?.SnapshotId ? [m.Ebs.SnapshotId] : [],
        );
        if (snapshotIds.length > 0) await ec2.send(new CreateTagsCommand({ Resources: snapshotIds, Tags: snapshotTags }));
      }
      return { ...response, body };
    }
    if (this.sources.size === 0) return { ...response, body };
    const text = body.toString('utf8').replace(/<imageId>(ami-[0-9a-f]+)<\/imageId>/g, (whole, id: string) => {
      const source = this.sources.get(id);
      if (!source) return whole;
      return `${whole}<sourceImageId>${source.imageId}</sourceImageId><sourceImageRegion>${source.region}</sourceImageRegion>`;
    });
    const headers = { ...response.headers };
    delete headers['content-length'];
    return { ...response, headers, body: Buffer.from(text, 'utf8') };
  };
}
