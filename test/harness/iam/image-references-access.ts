/**
 * What DescribeImageReferences checks on its caller's behalf: for each resource type it looks
 * at, the caller's own permissions to read that type, the calls made through EC2
 * (`aws:CalledVia` = ec2-images.amazonaws.com, as AmazonEC2ImageReferencesAccessPolicy
 * conditions them: https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEC2ImageReferencesAccessPolicy.html).
 * Answers the harness's reference-access hook (../moto-gaps/image-references.ts) from the calling
 * function's role; a refused read is recorded as a denial of DescribeImageReferences.
 * TEST-ONLY.
 */
import { REFERENCE_CHECK_PERMISSIONS, type ReferenceAccess } from '../moto-gaps/image-references.js';
import type { Authorization, Partitioned } from './authorizations.js';
import type { IamEnforcer } from './enforcer.js';
import { credentialOf } from '../sigv4.js';

const VIA = 'ec2-images.amazonaws.com';

/** The resource a read names: the two actions with a resource type get this account's; the others are on '*'. */
function resourceOf(action: string, where: Partitioned): string {
  const { partition, region, account } = where;
  if (action === 'ssm:GetParameters') return `arn:${partition}:ssm:${region}:${account}:parameter/*`;
  if (action === 'imagebuilder:GetContainerRecipe') return `arn:${partition}:imagebuilder:${region}:${account}:container-recipe/*`;
  return '*';
}

export function referenceAccessFromIam(iam: IamEnforcer, where: Partitioned): ReferenceAccess {
  return async (resourceType, request) => {
    // The check reads the region it is called in (issue 17: a destination region's copies).
    const region = credentialOf(request.headers.authorization)?.region ?? where.region;
    const authorizations: Authorization[] = REFERENCE_CHECK_PERMISSIONS[resourceType].map((action) => ({
      action,
      resource: resourceOf(action, { ...where, region }),
      context: { 'aws:CalledVia': [VIA], 'aws:CalledViaFirst': VIA, 'aws:CalledViaLast': VIA, 'aws:ViaAWSService': 'true' },
      onBehalfOf: `DescribeImageReferences looking at ${resourceType}`,
    }));
    return (await iam.authorizeOnBehalf(request, 'DescribeImageReferences', authorizations)) === undefined;
  };
}
