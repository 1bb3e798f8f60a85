/**
 * Moto gap: CreateImage with a `snapshot` TagSpecification answers HTTP 500 (NotImplementedError).
 * AWS tags the AMI and its snapshots at creation with the tags of the TagSpecification whose
 * ResourceType is `image` or `snapshot` (API reference, CreateImage, TagSpecification.N:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateImage.html).
 * TEST-ONLY.
 */
import { CreateTagsCommand, DescribeImagesCommand } from '@aws-sdk/client-ec2';
import type { Interceptor } from '../proxy/chain.js';
import { bufferBody, isEc2Action, withForm } from '../proxy/request.js';

/**
 * Moto gap: moto answers HTTP 500 (NotImplementedError) to a CreateImage that
 * carries `TagSpecification.N.ResourceType=snapshot`. AWS tags the AMI's
 * snapshots at creation. We strip the snapshot tag specifications, let moto
 * create the image, then tag the image's snapshots with the stripped tags.
 */
export const tagSnapshotsOnCreateImage: Interceptor = async (request, next, context) => {
  if (!isEc2Action(request, 'CreateImage') || request.form === undefined) return next(request);
  const { form, snapshotTags } = stripSnapshotTagSpecifications(request.form);
  if (form === request.form) return next(request); // no snapshot TagSpecification

  const response = await next(withForm(request, form));
  if (response.status !== 200) return response;

  const body = await bufferBody(response.body);
  const imageId = /<imageId>\s*([^<\s]+)\s*<\/imageId>/i.exec(body.toString('utf8'))?.[1];
  if (imageId === undefined) {
    throw new Error(`CreateImage answered 200 without an imageId: ${body.toString('utf8')}`);
  }
  const ec2 = context.ec2For(request);
  const { Images = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  const snapshotIds = Images.flatMap((image) => image.BlockDeviceMappings ?? [])
    .map((mapping) => mapping.Ebs?.SnapshotId)
    .filter((id): id is string => id !== undefined);
  if (snapshotIds.length > 0) {
    await ec2.send(new CreateTagsCommand({ Resources: snapshotIds, Tags: snapshotTags }));
  }
  return { ...response, body };
};

interface Tag {
  Key: string;
  Value: string;
}

/**
 * Removes every `TagSpecification.N.*` group whose ResourceType is snapshot,
 * renumbering the remaining groups 1..k, and returns the removed tags.
 * Other parameters keep their order. Returns the very same `form` object when
 * there is nothing to remove.
 */
export function stripSnapshotTagSpecifications(form: URLSearchParams): {
  form: URLSearchParams;
  snapshotTags: Tag[];
} {
  const groups = new Map<number, Array<[string, string]>>(); // N -> [suffix, value]
  const others: Array<[string, string]> = [];
  for (const [key, value] of form) {
    const match = /^TagSpecification\.(\d+)\.(.+)$/.exec(key);
    if (match?.[1] === undefined || match[2] === undefined) {
      others.push([key, value]);
      continue;
    }
    const index = Number(match[1]);
    const group = groups.get(index) ?? [];
    group.push([match[2], value]);
    groups.set(index, group);
  }

  const snapshotTags: Tag[] = [];
  const kept: Array<Array<[string, string]>> = [];
  for (const [, group] of [...groups].sort(([a], [b]) => a - b)) {
    const resourceType = group.find(([suffix]) => suffix === 'ResourceType')?.[1];
    if (resourceType === 'snapshot') snapshotTags.push(...tagsOf(group));
    else kept.push(group);
  }
  if (kept.length === groups.size) return { form, snapshotTags };

  const rewritten = new URLSearchParams(others);
  kept.forEach((group, i) => {
    for (const [suffix, value] of group) rewritten.append(`TagSpecification.${i + 1}.${suffix}`, value);
  });
  return { form: rewritten, snapshotTags };
}

/** `Tag.M.Key` / `Tag.M.Value` pairs of one TagSpecification group. */
function tagsOf(group: Array<[string, string]>): Tag[] {
  const byIndex = new Map<number, Partial<Tag>>();
  for (const [suffix, value] of group) {
    const match = /^Tag\.(\d+)\.(Key|Value)$/.exec(suffix);
    if (match?.[1] === undefined || match[2] === undefined) continue;
    const tag = byIndex.get(Number(match[1])) ?? {};
    if (match[2] === 'Key') tag.Key = value;
    else tag.Value = value;
    byIndex.set(Number(match[1]), tag);
  }
  return [...byIndex]
    .sort(([a], [b]) => a - b)
    .flatMap(([, tag]) => (tag.Key === undefined ? [] : [{ Key: tag.Key, Value: tag.Value ?? '' }]));
}
