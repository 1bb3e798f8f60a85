/**
 * What AWS knows to reference the stack's images (DescribeImageReferences), the check rotation
 * runs before it deletes one, and the images every launch template's default and latest version name.
 */
import { paginateDescribeImageReferences, paginateDescribeLaunchTemplateVersions } from '@aws-sdk/client-ec2';
import { append } from '../../domain/collections.js';
import type { UnverifiedReason } from '../../domain/retention.js';
import type { ImageReferenceCheck, LaunchTemplateImage } from '../../use-cases/ec2-ports.js';
import { toLaunchTemplateImages } from '../ec2-mappers.js';
import { pages, toAwsCallError } from '../errors.js';
import type { Ec2Context } from './common.js';

/** What EC2 answers where an action is not offered (a region without DescribeImageReferences). */
const NOT_OFFERED = new Set(['InvalidAction', 'UnsupportedOperation', 'NotImplemented', 'UnknownOperationException']);
/**
 * DescribeImageReferences takes 1 to 10 image ids a call: "Array Members: Minimum number of 1 item.
 * Maximum number of 10 items." (EC2 API reference, "DescribeImageReferences",
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeImageReferences.html).
 */
export const IMAGE_REFERENCES_IDS_PER_CALL = 10;
/** Its MaxResults has a minimum of 5 (same page; no maximum is documented). */
const IMAGE_REFERENCES_MIN_PAGE = 5;
/**
 * What the check looks at: every resource type (IncludeAllResourceTypes, so that a type AWS adds
 * later is checked too, or refused for want of a permission, never skipped), with two of the
 * defaults narrowed or pinned ("How AMI reference checks work", user guide "Identify your resources
 * referencing specified AMIs", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-ami-references.html):
 * instances in every state but terminated (the default includes it; a terminated instance never
 * starts again, and one is listed for about an hour after it ends), and every version of each
 * launch template: a depth of 10,000 (the model's maximum; the default is the 10 most recent), as
 * many versions as a template may have ("up to 10,000 versions per launch template", user guide
 * "Restrictions for Amazon EC2 launch templates",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/launch-template-restrictions.html). An Auto
 * Scaling group or a fleet may pin any version, however old. Rotation reads every template's
 * default and latest version itself besides. The depth is a string, as the API takes it (and so
 * that esbuild sees the scope as data without side effects: a bundle without the check drops it).
 */
const LAUNCH_TEMPLATE_VERSIONS_MAX = '10000';
const REFERENCE_SCOPE = {
  IncludeAllResourceTypes: true,
  ResourceTypes: [
    {
      ResourceType: 'ec2:Instance' as const,
      ResourceTypeOptions: [
        { OptionName: 'state-name' as const, OptionValues: ['pending', 'running', 'shutting-down', 'stopping', 'stopped'] },
      ],
    },
    {
      ResourceType: 'ec2:LaunchTemplate' as const,
      ResourceTypeOptions: [{ OptionName: 'version-depth' as const, OptionValues: [LAUNCH_TEMPLATE_VERSIONS_MAX] }],
    },
  ],
};

export function listLaunchTemplateImages(ec2: Ec2Context): AsyncIterable<LaunchTemplateImage[]> {
  // With no template named, $Latest and $Default describe those versions of every template.
  return pages(
    'DescribeLaunchTemplateVersions',
    paginateDescribeLaunchTemplateVersions({ client: ec2.client, pageSize: 200 }, { Versions: ['$Latest', '$Default'] }),
    (page) => (page.LaunchTemplateVersions ?? []).flatMap(toLaunchTemplateImages),
  );
}

/**
 * DescribeImageReferences in slices of at most 10 ids, each slice paged. A slice whose call
 * fails (refused, not offered, a permission the check lacks, throttling the SDK's retries did
 * not outlast) answers for none of its images: they come back unverified, with the error,
 * and the other slices go on. A partial answer keeps the references it found.
 */
export async function findImageReferences(ec2: Ec2Context, imageIds: string[]): Promise<ImageReferenceCheck> {
  const references = new Map<string, string[]>();
  const unverified = new Map<string, UnverifiedReason>();
  for (let i = 0; i < imageIds.length; i += IMAGE_REFERENCES_IDS_PER_CALL) {
    const ImageIds = imageIds.slice(i, i + IMAGE_REFERENCES_IDS_PER_CALL);
    try {
      const paginator = paginateDescribeImageReferences(
        { client: ec2.client, pageSize: Math.max(IMAGE_REFERENCES_MIN_PAGE, ec2.pageSize) },
        { ImageIds, ...REFERENCE_SCOPE },
      );
      for await (const page of paginator) {
        for (const r of page.ImageReferences ?? []) {
          if (!r.ImageId) continue;
          append(references, r.ImageId, `${r.ResourceType ?? 'resource'} ${r.Arn ?? ''}`.trim());
        }
      }
    } catch (error) {
      const mapped = toAwsCallError('DescribeImageReferences', error);
      const raw = error instanceof Error ? error.message : String(error);
      const message = NOT_OFFERED.has(mapped.code) ? `DescribeImageReferences is not offered here: ${raw}` : raw;
      for (const id of ImageIds) unverified.set(id, { errorCode: mapped.code, message });
    }
  }
  return { references, unverified };
}
