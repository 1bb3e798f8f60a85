/**
 * The IAM policy an operator needs for `ami-lifecycle stale` and `adopt`: the CLI runs with the
 * operator's own credentials, not a role of the stack. docs/stale-images.md shows it (generated:
 * `npm run docs`), and test/unit/cli/operator-policy.test.ts evaluates adopt's calls against it
 * with the harness's IAM simulation.
 *
 * Adoption writes tags and nothing else, and only these: CreateTags on images and snapshots, only
 * with this stack's managed-by and status=good in the request, only the keys adopt writes, an
 * adoption record present, and only on resources that carry no managed-by tag yet (so no one can
 * re-tag the stack's images, or another stack's, through it). The reads are List actions on '*'
 * (EC2 Describe* calls take no resource), launch permissions (DescribeImageAttribute) on images,
 * and what DescribeImageReferences reads with the caller's permissions
 * (AmazonEC2ImageReferencesAccessPolicy,
 * https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEC2ImageReferencesAccessPolicy.html).
 */
import { TAG } from '../shared/domain/tags.js';

/** The tag keys adopt writes: the only ones the policy lets it write. */
export const ADOPT_TAG_KEYS = [TAG.managedBy, TAG.lineage, TAG.retain, TAG.status, TAG.adopted] as const;

export interface PolicyStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/** The operator's policy for the stack `managedBy`, in `partition` and `region` ('*' for any region). */
export function operatorStalePolicy(managedBy: string, partition = 'aws', region = '*'): PolicyDocument {
  const image = `arn:${partition}:ec2:${region}::image/*`;
  const snapshot = `arn:${partition}:ec2:${region}::snapshot/*`;
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ReadImagesAndWhatUsesThem',
        Effect: 'Allow',
        Action: [
          'ec2:DescribeImages',
          'ec2:DescribeSnapshots',
          'ec2:DescribeInstances',
          'ec2:DescribeLaunchTemplates',
          'ec2:DescribeLaunchTemplateVersions',
          'ec2:DescribeImageReferences',
          'autoscaling:DescribeLaunchConfigurations',
          'autoscaling:DescribeAutoScalingGroups',
          'ssm:DescribeParameters',
          'imagebuilder:ListImageRecipes',
          'imagebuilder:ListContainerRecipes',
        ],
        Resource: '*',
      },
      {
        Sid: 'ReadParameterValuesAndRecipes',
        Effect: 'Allow',
        Action: ['ssm:GetParameters', 'imagebuilder:GetContainerRecipe'],
        Resource: [`arn:${partition}:ssm:${region}:*:parameter/*`, `arn:${partition}:imagebuilder:${region}:*:container-recipe/*`],
      },
      { Sid: 'ReadLaunchPermissions', Effect: 'Allow', Action: 'ec2:DescribeImageAttribute', Resource: image },
      {
        Sid: 'AdoptUnmanagedImagesAndSnapshots',
        Effect: 'Allow',
        Action: 'ec2:CreateTags',
        Resource: [image, snapshot],
        Condition: {
          StringEquals: { [`aws:RequestTag/${TAG.managedBy}`]: managedBy, [`aws:RequestTag/${TAG.status}`]: 'good' },
          'ForAllValues:StringEquals': { 'aws:TagKeys': [...ADOPT_TAG_KEYS] },
          Null: { [`aws:ResourceTag/${TAG.managedBy}`]: 'true', [`aws:RequestTag/${TAG.adopted}`]: 'false' },
        },
      },
    ],
  };
}
