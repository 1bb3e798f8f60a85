/**
 * What each function needs from IAM, written once: every AWS call its code path sends
 * (handler -> use case -> gateway), and the calls AWS makes with the function's role on its
 * behalf (its log, its queue or its dead-letter queue, the reads behind DescribeImageReferences).
 * Each need is one authorization as AWS builds it at run time: the action, the resource ARN it is
 * checked on, and the context keys the request carries (tags on the resource, tags in the
 * request, the create action of a tag-on-create, the service a role is passed to).
 *
 * `ami-lifecycle doctor` simulates each need against the deployed role
 * (iam:SimulatePrincipalPolicy); test/unit/cli/doctor-needs.test.ts holds this list to the
 * SDK commands the gateways send, and to how serverless.yml invokes each function (a queue,
 * or asynchronously with an on-failure destination).
 *
 * Templates in `resource` and in context values: ${partition} ${region} ${account}
 * ${managedBy} ${function} (the deployed function's name) ${eventBus} ${passRole} (a role
 * name that params.recoveryPassRoles admits) ${recheckRole} (the recover function's scheduler
 * role, from its RECHECK_ROLE_ARN; the verify function's, from its VERIFY_CHECK_ROLE_ARN) ${kmsKey} (a KMS key
 * ARN, KMS_NEEDS only) ${verifySubnet} ${verifySecurityGroup} ${verifyDocument} (the verify function's
 * VERIFY_SUBNET_ID, VERIFY_SECURITY_GROUP_ID and VERIFY_COMMAND_DOCUMENT) ${promotePrefix} (the promote
 * function's PROMOTE_PARAMETER_PREFIX, without its leading /) ${copyRegion} (the first destination region
 * of the copies its COPY_TO or DR_REGIONS names).
 */
import { TAG } from '../../shared/domain/tags.js';

export const FUNCTION_KEYS = ['schedule', 'bake', 'imageState', 'promote', 'rotate', 'recover', 'statusAlarms', 'verify', 'copy'] as const;
export type FunctionKey = (typeof FUNCTION_KEYS)[number];

/** A context value: a string, a list (stringList), or a boolean. */
export type ContextValue = string | string[] | boolean;

export interface Need {
  /** service:Action, as IAM spells it. */
  action: string;
  /** The ARN AWS authorizes the action on, as a template. */
  resource: string;
  /** The context keys the request carries. */
  context?: Record<string, ContextValue>;
  /** Why the function needs it, in the words doctor prints. */
  why: string;
  /**
   * Only when the deployed function is configured so: terminateReplaced; a verification subnet; a
   * verification command; a destination region of the copies (COPY_TO or DR_REGIONS: issue 17).
   */
  when?: 'terminateReplaced' | 'verifies' | 'verifyCommand' | 'copies' | 'adopts';
}

const EC2 = 'arn:${partition}:ec2:${region}:${account}';
const IMAGE = 'arn:${partition}:ec2:${region}::image/*';
const SNAPSHOT = 'arn:${partition}:ec2:${region}::snapshot/*';
const INSTANCE = `${EC2}:instance/*`;
const EXAMPLE_INSTANCE = 'i-0123456789abcdef0';
const BUS = 'arn:${partition}:events:${region}:${account}:event-bus/${eventBus}';

/** Every function: the Lambda runtime writes its log (and the metrics in it) with the function's role. */
function ownLog(): Need[] {
  const stream = 'arn:${partition}:logs:${region}:${account}:log-group:/aws/lambda/${function}:log-stream:*';
  const why = 'Lambda writes the function log (and its metrics, as EMF lines) with its role';
  return [
    { action: 'logs:CreateLogStream', resource: stream, why },
    { action: 'logs:PutLogEvents', resource: stream, why },
  ];
}

/** An asynchronously invoked function: its on-failure destination sends to its dead-letter queue with its role. */
function ownDeadLetterQueue(fn: FunctionKey): Need {
  return {
    action: 'sqs:SendMessage',
    resource: `arn:\${partition}:sqs:\${region}:\${account}:\${managedBy}-${fn}-dlq`,
    why: "Lambda's on-failure destination sends the record of a failed invocation to the function's dead-letter queue with its role",
  };
}

/**
 * A function fed by a queue: its event source mapping polls the queue with the function's role
 * ("Using Lambda with Amazon SQS", execution role permissions:
 * https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html).
 */
function ownQueue(fn: FunctionKey): Need[] {
  return ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes'].map((action) => ({
    action,
    resource: `arn:\${partition}:sqs:\${region}:\${account}:\${managedBy}-${fn}`,
    why: `the event source mapping reads the ${fn} queue with the function's role (${action.slice(4)})`,
  }));
}

const publish: Need = { action: 'events:PutEvents', resource: BUS, why: "publishes the service's events (and bake requests) to its bus" };

const describe = (action: string, why: string): Need => ({ action: `ec2:${action}`, resource: '*', why });

/** Marking an image and its snapshots with a status: only images of this stack, only the status key. */
function markStatus(status: string, why: string): Need[] {
  return [IMAGE, SNAPSHOT].map((resource) => ({
    action: 'ec2:CreateTags',
    resource,
    context: {
      [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}',
      [`aws:RequestTag/${TAG.status}`]: status,
      'aws:TagKeys': [TAG.status],
    },
    why,
  }));
}

/** The tags every image and snapshot of the stack is created with (CreateImage's TagSpecifications). */
const imageTags = {
  [`aws:RequestTag/${TAG.managedBy}`]: '${managedBy}',
  'aws:TagKeys': [TAG.managedBy, TAG.lineage, TAG.sourceInstance, TAG.schedule, TAG.slot, TAG.status],
};

/** The tags a test instance and its volumes are launched with, and carry (verify-image.ts). */
const testInstanceTags = {
  [`aws:RequestTag/${TAG.managedBy}`]: '${managedBy}',
  [`aws:RequestTag/${TAG.role}`]: 'verification',
  'aws:TagKeys': [TAG.managedBy, TAG.role, TAG.verifies, TAG.name],
};
const onTestInstance = { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}', [`aws:ResourceTag/${TAG.role}`]: 'verification' };

/** The tags a replacement and its volumes are launched with (RunInstances' TagSpecifications). */
const replacementTags = {
  [`aws:RequestTag/${TAG.replaces}`]: EXAMPLE_INSTANCE,
  [`aws:RequestTag/${TAG.lineage}`]: EXAMPLE_INSTANCE,
  'aws:TagKeys': [TAG.replaces, TAG.lineage, TAG.generation],
};

/**
 * What DescribeImageReferences reads on the caller's behalf, with the caller's permissions,
 * as AWS's managed policy AmazonEC2ImageReferencesAccessPolicy grants it: "AmazonEC2ImageReferencesAccessPolicy",
 * https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEC2ImageReferencesAccessPolicy.html
 * (and "Identify your resources referencing specified AMIs",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-ami-references.html). A missing one
 * hides that resource type from the check, and rotation keeps what it could not clear.
 */
const IMAGE_REFERENCE_READS: Array<[string, string]> = [
  ['ec2:DescribeInstances', '*'],
  ['ec2:DescribeLaunchTemplates', '*'],
  ['ec2:DescribeLaunchTemplateVersions', '*'],
  ['ssm:DescribeParameters', '*'],
  ['ssm:GetParameters', 'arn:${partition}:ssm:${region}:${account}:parameter/*'],
  ['imagebuilder:ListImageRecipes', '*'],
  ['imagebuilder:ListContainerRecipes', '*'],
  ['imagebuilder:GetContainerRecipe', 'arn:${partition}:imagebuilder:${region}:${account}:container-recipe/*'],
];

export const NEEDS: Record<FunctionKey, Need[]> = {
  schedule: [
    ...ownLog(),
    ownDeadLetterQueue('schedule'),
    describe('DescribeInstances', 'lists the instances opted in to baking'),
    describe('DescribeVolumes', 'finds the attached volumes tagged ami-lifecycle:exclude, left out of the images'),
    describe('DescribeImages', "reads the stack's images: the pending ones to settle, and each lineage's newest good one"),
    ...markStatus('good', 'marks a pending image (and its snapshots) good when the AMI event was missed'),
    ...markStatus('failed', 'marks a pending image (and its snapshots) failed when the AMI event was missed'),
    ...markStatus('verifying', 'marks a pending image of verify=boot (and its snapshots) verifying when the AMI event was missed'),
    publish,
  ],
  bake: [
    ...ownLog(),
    ...ownQueue('bake'),
    {
      action: 'ec2:CreateTags',
      resource: INSTANCE,
      context: {
        [`aws:ResourceTag/${TAG.bake}`]: 'nightly',
        [`aws:RequestTag/${TAG.lineage}`]: EXAMPLE_INSTANCE,
        'aws:TagKeys': [TAG.lineage],
      },
      why: 'gives an opted-in instance its lineage tag on its first bake',
    },
    {
      action: 'ec2:CreateImage',
      resource: INSTANCE,
      context: { [`aws:ResourceTag/${TAG.bake}`]: 'nightly' },
      why: 'creates the image of an opted-in instance',
    },
    { action: 'ec2:CreateImage', resource: IMAGE, context: imageTags, why: "creates the image, tagged as the stack's from the start" },
    {
      action: 'ec2:CreateImage',
      resource: SNAPSHOT,
      context: imageTags,
      why: "creates the image's snapshots, tagged as the stack's from the start",
    },
    {
      action: 'ec2:CreateTags',
      resource: IMAGE,
      context: { 'ec2:CreateAction': 'CreateImage', ...imageTags },
      why: 'tags the image as it is created (TagSpecifications)',
    },
    {
      action: 'ec2:CreateTags',
      resource: SNAPSHOT,
      context: { 'ec2:CreateAction': 'CreateImage', ...imageTags },
      why: "tags the image's snapshots as they are created (TagSpecifications)",
    },
    describe('DescribeImages', 'finds the image already baked for the slot (a retried or duplicated request)'),
    {
      action: 'ec2:DescribeInstanceAttribute',
      resource: INSTANCE,
      context: { [`aws:ResourceTag/${TAG.bake}`]: 'nightly' },
      why: "reads an opted-in instance's user data, protection and shutdown behaviour for its launch configuration",
    },
    describe('DescribeInstanceCreditSpecifications', "reads a burstable instance's CPU credit option for its launch configuration"),
    describe('DescribeSpotInstanceRequests', "reads a spot instance's request (price, interruption) for its launch configuration"),
    describe('DescribeLaunchTemplateVersions', "reads the newest version of the lineage's launch template"),
    {
      action: 'ec2:CreateLaunchTemplate',
      resource: `${EC2}:launch-template/*`,
      context: { [`aws:RequestTag/${TAG.managedBy}`]: '${managedBy}', 'aws:TagKeys': [TAG.managedBy, TAG.lineage] },
      why: "saves the lineage's launch configuration as a launch template of the stack",
    },
    {
      action: 'ec2:CreateTags',
      resource: `${EC2}:launch-template/*`,
      context: {
        'ec2:CreateAction': 'CreateLaunchTemplate',
        [`aws:RequestTag/${TAG.managedBy}`]: '${managedBy}',
        'aws:TagKeys': [TAG.managedBy, TAG.lineage],
      },
      why: 'tags the launch template as it is created (TagSpecifications)',
    },
    {
      action: 'ec2:CreateLaunchTemplateVersion',
      resource: `${EC2}:launch-template/*`,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: 'adds a version when the launch configuration changed',
    },
    {
      action: 'ec2:DeleteLaunchTemplateVersions',
      resource: `${EC2}:launch-template/*`,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: "drops the version that fell out of the template's history",
    },
    describe('DescribeAddresses', "finds the Elastic IP of the instance's public address"),
    {
      action: 'ec2:CreateTags',
      resource: `${EC2}:elastic-ip/*`,
      context: { [`aws:RequestTag/${TAG.lineage}`]: EXAMPLE_INSTANCE, 'aws:TagKeys': [TAG.lineage] },
      why: 'tags the Elastic IP with its lineage, so that recovery can move it',
    },
    {
      action: 'ec2:CreateTags',
      resource: INSTANCE,
      context: { [`aws:ResourceTag/${TAG.bake}`]: 'nightly', [`aws:RequestTag/${TAG.captured}`]: 'digest', 'aws:TagKeys': [TAG.captured] },
      why: 'marks the instance with the digest of the configuration it captured',
    },
    publish,
  ],
  imageState: [
    ...ownLog(),
    ...ownQueue('imageState'),
    describe('DescribeImages', 'reads the images a batch of AMI state changes names, in one call'),
    ...markStatus('good', 'marks an available image (and its snapshots) good'),
    ...markStatus('failed', 'marks a failed image (and its snapshots) failed'),
    publish,
  ],
  // Issue 17: the copy reconcile, fed by its FIFO queue; it copies from the home region into the
  // destination regions (the copy and its tags in the destination; the source here).
  copy: [
    ...ownLog(),
    ...ownQueue('copy').map((n) => ({ ...n, resource: `${n.resource}.fifo` })),
    describe('DescribeImages', "reads the good images to copy, and each destination region's copies and copies in flight"),
    describe('DescribeLaunchTemplateVersions', "reads the lineage's captured launch configuration, for the DR capture"),
    describe('DescribeAddresses', "reads the lineage's Elastic IPs, which the DR capture leaves behind"),
    {
      action: 'ec2:CopyImage',
      resource: IMAGE,
      context: { 'ec2:Owner': '${account}' },
      why: 'copies a good image of this account to a disaster-recovery region (the source)',
    },
    ...[IMAGE, SNAPSHOT].map((resource) => ({
      action: 'ec2:CopyImage',
      resource,
      context: { [`aws:RequestTag/${TAG.managedBy}`]: '${managedBy}', 'aws:TagKeys': [TAG.managedBy, TAG.status, TAG.sourceImage] },
      why: "creates the copy and its snapshots with the stack's tags (in the destination region)",
    })),
    ...[IMAGE, SNAPSHOT].map((resource) => ({
      action: 'ec2:CreateTags',
      resource,
      context: {
        'ec2:CreateAction': 'CopyImage',
        [`aws:RequestTag/${TAG.managedBy}`]: '${managedBy}',
        'aws:TagKeys': [TAG.managedBy, TAG.status, TAG.sourceImage],
      },
      why: 'tags the copy and its snapshots as CopyImage creates them',
    })),
    ...markStatus('good', 'marks a copy that is available (and its snapshots) good'),
    ...markStatus('failed', 'marks a failed copy (and its snapshots) failed'),
    publish,
  ],
  promote: [
    ...ownLog(),
    ownDeadLetterQueue('promote'),
    describe('DescribeImages', 'reads the image to promote (its status, never the event) and what each target holds'),
    describe('DescribeInstances', "reads the lineage's instances and their ami-lifecycle:promote tag"),
    describe('DescribeLaunchTemplates', 'reads a launch template target: its default version and its promotable tag'),
    describe('DescribeLaunchTemplateVersions', "reads the image a launch template's default version holds"),
    { action: 'autoscaling:DescribeAutoScalingGroups', resource: '*', why: "reads an Auto Scaling group target's launch template" },
    ...['GetParameter', 'PutParameter'].map((action) => ({
      action: `ssm:${action}`,
      resource: 'arn:${partition}:ssm:${region}:${account}:parameter/${promotePrefix}example',
      why: `${action === 'GetParameter' ? 'reads' : 'writes'} an SSM parameter target, under the configured prefix only`,
    })),
    ...['CreateLaunchTemplateVersion', 'ModifyLaunchTemplate'].map((action) => ({
      action: `ec2:${action}`,
      resource: `${EC2}:launch-template/*`,
      context: { [`aws:ResourceTag/${TAG.promotable}`]: 'true' },
      why: `a new version holding the image, made the default (${action}), on launch templates tagged ${TAG.promotable}=true only`,
    })),
    {
      action: 'autoscaling:StartInstanceRefresh',
      resource: 'arn:${partition}:autoscaling:${region}:${account}:autoScalingGroup:*:autoScalingGroupName/example',
      context: { [`aws:ResourceTag/${TAG.promotable}`]: 'true' },
      why: `starts the instance refresh of a group tagged ${TAG.promotable}=true`,
    },
    {
      action: 'ec2:CreateTags',
      resource: IMAGE,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}', 'aws:TagKeys': [TAG.promoted] },
      why: 'records on the image the targets it was promoted to (rotation keeps them)',
    },
    publish,
  ],
  rotate: [
    ...ownLog(),
    ownDeadLetterQueue('rotate'),
    describe('DescribeImages', "reads the stack's images, and its public ones for the public sweep"),
    describe('DescribeInstances', 'finds the images instances still run from'),
    describe('DescribeLaunchTemplateVersions', 'finds the images launch templates name'),
    describe('DescribeSnapshots', "reads the stack's snapshots (sizes, orphans)"),
    describe('DescribeImageReferences', 'asks EC2 what else references a deletion candidate'),
    {
      action: 'autoscaling:DescribeLaunchConfigurations',
      resource: '*',
      why: 'finds the images Auto Scaling launch configurations name (the reference check does not look at them)',
    },
    ...IMAGE_REFERENCE_READS.map(([action, resource]) => ({
      action,
      resource,
      context: { 'aws:CalledVia': ['ec2-images.amazonaws.com'] },
      why:
        "DescribeImageReferences reads this on the caller's behalf (AmazonEC2ImageReferencesAccessPolicy); " +
        'without it that resource type goes unchecked',
    })),
    {
      action: 'ec2:DeregisterImage',
      resource: IMAGE,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: 'deregisters the images beyond retention, with their snapshots',
    },
    {
      action: 'ec2:EnableImageDeprecation',
      resource: IMAGE,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: 'deprecates kept images past deprecateAfterDays',
    },
    // Issue 17: the copies in a destination region (the first the stage names), rotated from here.
    ...(
      [
        ['ec2:DeregisterImage', 'image', 'deregisters copies beyond their retention in a destination region, with their snapshots'],
        ['ec2:DeleteSnapshot', 'snapshot', 'deletes snapshots a deregistered copy left in a destination region'],
      ] as const
    ).map(([action, type, why]) => ({
      action,
      resource: `arn:\${partition}:ec2:\${copyRegion}::${type}/*`,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}', [`aws:ResourceTag/${TAG.sourceRegion}`]: '${region}' },
      why,
      when: 'copies' as const,
    })),
    {
      action: 'ssm:GetParameters',
      resource: 'arn:${partition}:ssm:${copyRegion}:${account}:parameter/*',
      context: { 'aws:CalledVia': ['ec2-images.amazonaws.com'] },
      why: "DescribeImageReferences reads this on the caller's behalf in a destination region; without it no copy there is deleted",
      when: 'copies' as const,
    },
    {
      action: 'ec2:DeleteSnapshot',
      resource: SNAPSHOT,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: 'deletes snapshots left by a deregistration and orphaned snapshots of the stack',
    },
    {
      action: 'ec2:CreateTags',
      resource: IMAGE,
      context: {
        [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}',
        [`aws:RequestTag/${TAG.retain}`]: '7',
        'aws:TagKeys': [TAG.retain],
      },
      why: "stamps a vanished lineage's last known retain policy on its newest good image",
    },
    {
      action: 'ec2:DescribeImageAttribute',
      resource: IMAGE,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: "reads who may launch a good image whose sharing differs from its lineage's tag",
    },
    {
      action: 'ec2:ModifyImageAttribute',
      resource: IMAGE,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: 'shares good images as ami-lifecycle:share says, and removes public access from any image of the stack',
    },
    {
      action: 'ec2:DescribeSnapshotAttribute',
      resource: SNAPSHOT,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: "reads which accounts may copy a shared image's snapshots",
    },
    {
      action: 'ec2:ModifySnapshotAttribute',
      resource: SNAPSHOT,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: "shares a good image's snapshots with the accounts of ami-lifecycle:share (share-snapshots=true)",
    },
    {
      action: 'ec2:CreateTags',
      resource: IMAGE,
      context: {
        [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}',
        [`aws:RequestTag/${TAG.shared}`]: '0123456789abcdef',
        'aws:TagKeys': [TAG.shared],
      },
      why: 'records on an image the digest of the sharing it applied, so that the next run leaves it alone',
    },
    // Issue 19: the daily run's adoption, where adoptFilters lists filters (docs/stale-images.md).
    ...(
      [
        ['autoscaling:DescribeAutoScalingGroups', '*', 'finds the Auto Scaling groups that launch from a launch configuration'],
        ['ssm:DescribeParameters', '*', 'finds the parameters whose value may be an image id'],
        ['ssm:GetParameters', 'arn:${partition}:ssm:${region}:${account}:parameter/*', 'reads them: an image a parameter names is in use'],
        [
          'ec2:DescribeImageAttribute',
          IMAGE,
          'reads who may launch an image it would adopt: one shared with another account is in use there',
        ],
      ] as const
    ).map(([action, resource, why]) => ({ action, resource, why: `adoption (adoptFilters) ${why}`, when: 'adopts' as const })),
    ...[IMAGE, SNAPSHOT].map((resource) => ({
      action: 'ec2:CreateTags',
      resource,
      context: {
        [`aws:RequestTag/${TAG.managedBy}`]: '${managedBy}',
        [`aws:RequestTag/${TAG.lineage}`]: 'adopted/packer-web',
        [`aws:RequestTag/${TAG.status}`]: 'good',
        [`aws:RequestTag/${TAG.adopted}`]: 'ami-0123456789abcdef0@2026-11-26T06:00:00.000Z',
        'aws:TagKeys': [TAG.managedBy, TAG.lineage, TAG.status, TAG.adopted],
      },
      why: "adoption (adoptFilters) tags an unused image the stack did not make, and its snapshots, as the stack's",
      when: 'adopts' as const,
    })),
    publish,
  ],
  recover: [
    ...ownLog(),
    ownDeadLetterQueue('recover'),
    describe('DescribeInstances', 'reads the failed instance, its lineage and the replacement'),
    describe('DescribeImages', "finds the lineage's newest good image"),
    describe('DescribeLaunchTemplateVersions', "reads the lineage's captured launch configuration"),
    describe('DescribeAddresses', "finds the lineage's Elastic IP"),
    describe('DescribeInstanceStatus', 'reads the status checks again when a deferred recovery is due'),
    describe('DescribeInstanceTypes', 'checks that a fallback instance type runs the architecture of the captured one'),
    describe('DescribeVolumes', 'finds the data volumes that follow a failed instance (exclude=follow)'),
    describe('DescribeSubnets', "finds which of the lineage's subnets are in a following volume's zone"),
    ...['DetachVolume', 'AttachVolume'].flatMap((action) => [
      {
        action: `ec2:${action}`,
        resource: `${EC2}:volume/*`,
        context: { [`aws:ResourceTag/${TAG.exclude}`]: 'follow' },
        why: 'moves a following data volume from the failed instance to its replacement',
      },
      {
        action: `ec2:${action}`,
        resource: INSTANCE,
        context: { [`aws:ResourceTag/${TAG.lineage}`]: EXAMPLE_INSTANCE },
        why: "moves a following data volume between the lineage's instances",
      },
    ]),
    {
      action: 'ec2:CreateTags',
      resource: `${EC2}:volume/*`,
      context: {
        [`aws:ResourceTag/${TAG.exclude}`]: 'follow',
        [`aws:RequestTag/${TAG.follows}`]: `${EXAMPLE_INSTANCE} /dev/sdf`,
        'aws:TagKeys': [TAG.follows],
      },
      why: 'tags a following volume with where it goes before it detaches it',
    },
    {
      action: 'ec2:StopInstances',
      resource: INSTANCE,
      context: { [`aws:ResourceTag/${TAG.recover}`]: 'on-failure' },
      why: 'stops a replaced instance that still runs, so that its following data volume can move (never forced)',
    },
    {
      action: 'ec2:RebootInstances',
      resource: INSTANCE,
      context: { [`aws:ResourceTag/${TAG.recover}`]: 'on-failure' },
      why: 'reboots an instance whose instance status check failed, before it relaunches anything',
    },
    ...[TAG.rebootedAt, TAG.maintenanceSince].map((key) => ({
      action: 'ec2:CreateTags',
      resource: INSTANCE,
      context: {
        [`aws:ResourceTag/${TAG.recover}`]: 'on-failure',
        [`aws:RequestTag/${key}`]: '2026-12-03T10:00:00.000Z',
        'aws:TagKeys': [key],
      },
      why:
        key === TAG.rebootedAt
          ? 'records when it rebooted the instance (one reboot per wait)'
          : 'records when it first saw the maintenance marker',
    })),
    ...['CreateSchedule', 'UpdateSchedule'].map((action) => ({
      action: `scheduler:${action}`,
      resource: 'arn:${partition}:scheduler:${region}:${account}:schedule/default/${managedBy}-recheck-' + EXAMPLE_INSTANCE,
      why: 'schedules the recheck of a deferred recovery (a one-time schedule)',
    })),
    {
      action: 'iam:PassRole',
      resource: '${recheckRole}',
      context: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
      why: 'lets the recheck schedule invoke the function as its scheduler role',
    },
    ...markStatus('bad', 'marks an image bad after a crash loop of its replacements'),
    {
      action: 'ec2:RunInstances',
      resource: IMAGE,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: 'launches the replacement from an image of the stack',
    },
    ...[INSTANCE, `${EC2}:volume/*`].map((resource) => ({
      action: 'ec2:RunInstances',
      resource,
      context: replacementTags,
      why: 'launches the replacement (and its volumes) tagged with what it replaces and its lineage',
    })),
    ...['subnet', 'security-group', 'network-interface', 'key-pair', 'placement-group', 'spot-instances-request'].map((type) => ({
      action: 'ec2:RunInstances',
      resource: `${EC2}:${type}/*`,
      why: `launches the replacement with the captured ${type.replaceAll('-', ' ')}`,
    })),
    {
      action: 'ec2:ModifyInstanceAttribute',
      resource: INSTANCE,
      context: { [`aws:ResourceTag/${TAG.replaces}`]: EXAMPLE_INSTANCE },
      why: "turns the replacement's source/destination check off, as the failed instance had it (a NAT)",
    },
    ...[INSTANCE, `${EC2}:volume/*`].map((resource) => ({
      action: 'ec2:CreateTags',
      resource,
      context: { 'ec2:CreateAction': 'RunInstances', ...replacementTags },
      why: 'tags the replacement and its volumes as they are launched (TagSpecifications)',
    })),
    {
      action: 'iam:PassRole',
      resource: 'arn:${partition}:iam::${account}:role/${passRole}',
      context: { 'iam:PassedToService': 'ec2.amazonaws.com', 'iam:AssociatedResourceArn': INSTANCE },
      why: "passes the captured instance profile's role to the replacement",
    },
    {
      action: 'ec2:AssociateAddress',
      resource: `${EC2}:elastic-ip/*`,
      context: { [`aws:ResourceTag/${TAG.lineage}`]: EXAMPLE_INSTANCE },
      why: "moves the lineage's Elastic IP",
    },
    {
      action: 'ec2:AssociateAddress',
      resource: INSTANCE,
      context: { [`aws:ResourceTag/${TAG.lineage}`]: EXAMPLE_INSTANCE },
      why: "moves the lineage's Elastic IP onto the replacement",
    },
    {
      action: 'ec2:AssociateAddress',
      resource: `${EC2}:network-interface/*`,
      why: "moves the Elastic IP onto the replacement's interface",
    },
    {
      action: 'ec2:CreateTags',
      resource: INSTANCE,
      context: {
        [`aws:ResourceTag/${TAG.recover}`]: 'on-failure',
        [`aws:RequestTag/${TAG.replacedBy}`]: EXAMPLE_INSTANCE,
        'aws:TagKeys': [TAG.replacedBy],
      },
      why: 'marks the failed instance with its replacement',
    },
    {
      action: 'ec2:TerminateInstances',
      resource: INSTANCE,
      context: {
        [`aws:ResourceTag/${TAG.recover}`]: 'on-failure',
        [`aws:ResourceTag/${TAG.lineage}`]: EXAMPLE_INSTANCE,
        [`aws:ResourceTag/${TAG.replacedBy}`]: EXAMPLE_INSTANCE,
      },
      why: 'terminates the replaced instance (terminateReplaced is true)',
      when: 'terminateReplaced',
    },
    publish,
  ],
  statusAlarms: [
    ...ownLog(),
    ownDeadLetterQueue('statusAlarms'),
    describe('DescribeInstances', 'lists the instances opted in to recovery'),
    { action: 'cloudwatch:DescribeAlarms', resource: '*', why: "lists the stack's status-check alarms" },
    ...['PutMetricAlarm', 'TagResource', 'DeleteAlarms'].map((action) => ({
      action: `cloudwatch:${action}`,
      resource: 'arn:${partition}:cloudwatch:${region}:${account}:alarm:${managedBy}-status-*',
      ...(action === 'DeleteAlarms'
        ? {}
        : { context: { [`aws:RequestTag/${TAG.managedBy}`]: '${managedBy}', 'aws:TagKeys': [TAG.managedBy] } }),
      why:
        action === 'DeleteAlarms'
          ? 'deletes the alarm of an instance no longer opted in'
          : `keeps one status-check alarm per instance opted in to recovery, tagged as the stack's (${action})`,
    })),
  ],
  verify: [
    ...ownLog(),
    ownDeadLetterQueue('verify'),
    describe('DescribeImages', 'reads the images to verify'),
    describe('DescribeInstances', "lists the stack's test instances"),
    describe('DescribeInstanceStatus', "reads a test instance's status checks"),
    describe('DescribeLaunchTemplateVersions', "reads the lineage's captured instance type and profile"),
    ...['good', 'failed'].flatMap((status) =>
      [IMAGE, SNAPSHOT].map((resource) => ({
        action: 'ec2:CreateTags',
        resource,
        context: {
          [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}',
          [`aws:RequestTag/${TAG.status}`]: status,
          'aws:TagKeys': status === 'good' ? [TAG.status] : [TAG.status, TAG.failure],
        },
        why: `marks a verified image (and its snapshots) ${status}${status === 'failed' ? ', with the reason' : ''}`,
      })),
    ),
    {
      action: 'ec2:RunInstances',
      resource: IMAGE,
      context: { [`aws:ResourceTag/${TAG.managedBy}`]: '${managedBy}' },
      why: 'launches a test instance from an image of the stack',
      when: 'verifies',
    },
    ...[INSTANCE, `${EC2}:volume/*`].map((resource) => ({
      action: 'ec2:RunInstances',
      resource,
      context: testInstanceTags,
      why: 'launches the test instance (and its volumes) tagged as one',
      when: 'verifies' as const,
    })),
    ...[`${EC2}:subnet/\${verifySubnet}`, `${EC2}:security-group/\${verifySecurityGroup}`, `${EC2}:network-interface/*`].map(
      (resource) => ({
        action: 'ec2:RunInstances',
        resource,
        why: 'launches the test instance into the verification subnet',
        when: 'verifies' as const,
      }),
    ),
    ...[INSTANCE, `${EC2}:volume/*`].map((resource) => ({
      action: 'ec2:CreateTags',
      resource,
      context: { 'ec2:CreateAction': 'RunInstances', ...testInstanceTags },
      why: 'tags the test instance and its volumes as they are launched (TagSpecifications)',
    })),
    ...['TerminateInstances', 'GetConsoleOutput'].map((action) => ({
      action: `ec2:${action}`,
      resource: `${EC2}:instance/${EXAMPLE_INSTANCE}`,
      context: onTestInstance,
      why: action === 'TerminateInstances' ? 'terminates the test instance' : "reads a failed test instance's console output",
    })),
    ...['CreateSchedule', 'UpdateSchedule'].map((action) => ({
      action: `scheduler:${action}`,
      resource: 'arn:${partition}:scheduler:${region}:${account}:schedule/default/${managedBy}-verify-ami-0123456789abcdef0',
      why: 'schedules the next look at a verification (a one-time schedule)',
    })),
    {
      action: 'iam:PassRole',
      resource: '${recheckRole}',
      context: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
      why: 'lets the verification schedule invoke the function as its scheduler role',
    },
    {
      action: 'iam:PassRole',
      resource: 'arn:${partition}:iam::${account}:role/${passRole}',
      context: { 'iam:PassedToService': 'ec2.amazonaws.com', 'iam:AssociatedResourceArn': INSTANCE },
      why: "passes the lineage's instance profile to the test instance (verifyInstanceProfile)",
    },
    {
      action: 'ssm:SendCommand',
      resource: 'arn:${partition}:ssm:${region}:${account}:document/${verifyDocument}',
      why: 'sends the verification command',
      when: 'verifyCommand',
    },
    {
      action: 'ssm:SendCommand',
      resource: `${EC2}:instance/${EXAMPLE_INSTANCE}`,
      context: { [`ssm:resourceTag/${TAG.managedBy}`]: '${managedBy}', [`ssm:resourceTag/${TAG.role}`]: 'verification' },
      why: 'sends the verification command to the test instance',
      when: 'verifyCommand',
    },
    ...['ListCommands', 'GetCommandInvocation'].map((action) => ({
      action: `ssm:${action}`,
      resource: '*',
      why: "reads the verification command's result",
    })),
    publish,
  ],
};

/**
 * What EC2 needs, on the caller's behalf, to image and launch from volumes encrypted under a
 * customer-managed KMS key (bake and recover): "Requirements for Amazon EBS encryption" (Permissions
 * for users), https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html
 */
export const KMS_FUNCTIONS: readonly FunctionKey[] = ['bake', 'recover', 'verify'];
const viaEc2 = { 'kms:ViaService': 'ec2.${region}.amazonaws.com' };
export const KMS_NEEDS: Need[] = [
  {
    action: 'kms:CreateGrant',
    resource: '${kmsKey}',
    context: { ...viaEc2, 'kms:GrantIsForAWSResource': true },
    why: 'EC2 creates a grant to attach an encrypted volume',
  },
  ...['kms:Decrypt', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo', 'kms:DescribeKey'].map((action) => ({
    action,
    resource: '${kmsKey}',
    context: viaEc2,
    why: 'EC2 uses the key for encrypted volumes and snapshots',
  })),
];

export interface Vars {
  partition: string;
  region: string;
  account: string;
  managedBy: string;
  function: string;
  eventBus: string;
  passRole: string;
  /** The recover function's scheduler role (its RECHECK_ROLE_ARN); needed by the recover needs only. */
  recheckRole?: string;
  kmsKey?: string;
  verifySubnet?: string;
  verifySecurityGroup?: string;
  verifyDocument?: string;
  /** The promote function's parameter prefix without its leading / (e.g. `ami-lifecycle/`); the promote needs only. */
  promotePrefix?: string;
  /** The first destination region of the copies the function's COPY_TO or DR_REGIONS names; the `copies` needs only. */
  copyRegion?: string;
}

/** A need with its templates filled in. */
export interface ConcreteNeed extends Need {
  resource: string;
  context: Record<string, ContextValue>;
}

function fill(template: string, vars: Vars): string {
  return template.replace(/\$\{(\w+)\}/g, (whole, name: string) => {
    const value = (vars as unknown as Record<string, string | undefined>)[name];
    if (value === undefined) throw new Error(`no value for ${whole} in ${template}`);
    return value;
  });
}

export function concrete(need: Need, vars: Vars): ConcreteNeed {
  const context = Object.fromEntries(
    Object.entries(need.context ?? {}).map(([key, value]) => [
      key,
      typeof value === 'string' ? fill(value, vars) : Array.isArray(value) ? value.map((v) => fill(v, vars)) : value,
    ]),
  );
  return { ...need, resource: fill(need.resource, vars), context };
}

/** A role name that a recoveryPassRoles pattern admits (its wildcards filled), to simulate PassRole with. */
export function examplePassRole(pattern: string): string {
  return pattern.replace(/\*/g, 'example').replace(/\?/g, 'x');
}
