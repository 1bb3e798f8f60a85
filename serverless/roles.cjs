'use strict';
// What each function's code sends, as the statements of its own role. resources.cjs adds what
// every role has: the trust in Lambda, its own log group, its own dead-letter queue (or, fed by a
// queue, that queue) and, for a function that publishes, the stack's bus. EC2 Describe* calls cannot be scoped to resources
// (EC2 does not support resource-level permissions for them): they are on '*'. Every other
// action names its resources, and every mutating EC2 action carries a condition. No
// cloudwatch:PutMetricData: metrics are EMF lines in the log.
// test/integration/template-rules.test.ts holds each role to exactly the actions its function's
// code sends; test/integration/template-iam.test.ts validates every statement against AWS's
// Service Authorization Reference.

const { ref, arnOf, sub, MANAGED_BY, arn, allow, policy } = require('./cfn.cjs');

const IMAGE_AND_SNAPSHOT = [arn.image, arn.snapshot];
/** Images and snapshots in any region (copies, issue 17). */
const COPY_IMAGE_AND_SNAPSHOT = [sub('arn:${AWS::Partition}:ec2:*::image/*'), sub('arn:${AWS::Partition}:ec2:*::snapshot/*')];
/** The DR captures: a lineage's launch template in a destination region (shared/use-cases/dr-capture.ts). */
const DR_CAPTURE = sub('arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:launch-template/*');
/** On resources this stack tagged. */
const managed = { StringEquals: { 'aws:ResourceTag/ami-lifecycle:managed-by': MANAGED_BY } };
/** Issue 17: on copies (and their snapshots) this stack made from this region's images. */
const copiedFromHere = {
  StringEquals: { ...managed.StringEquals, 'aws:ResourceTag/ami-lifecycle:source-region': sub('${AWS::Region}') },
};
/** On resources created with this stack's tag. */
const createdManaged = { StringEquals: { 'aws:RequestTag/ami-lifecycle:managed-by': MANAGED_BY } };
/** Tags written by the creating call itself (tag-on-create), with this stack's tag. */
const taggedAtCreation = (action) => ({ StringEquals: { 'ec2:CreateAction': action, ...createdManaged.StringEquals } });
/** On instances opted in to baking. */
const optedIn = { Null: { 'aws:ResourceTag/ami-lifecycle:bake': 'false' } };
/** Writes these tag keys and no other (plus the Null conditions given). */
const onlyTagKeys = (keys, Null) => ({ Null: { ...Null, 'aws:TagKeys': 'false' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': keys } });
/** Images and snapshots settled good or failed, or marked bad: the status key only, on managed ones only. */
const setStatus = (Sid, status) =>
  allow(Sid, 'ec2:CreateTags', IMAGE_AND_SNAPSHOT, {
    StringEquals: { ...managed.StringEquals, 'aws:RequestTag/ami-lifecycle:status': status },
    ...onlyTagKeys(['ami-lifecycle:status']),
  });
const lineageKeyOnly = onlyTagKeys(['ami-lifecycle:lineage']);
const tagElasticIpsWithTheirLineage = allow('TagElasticIpsWithTheirLineage', 'ec2:CreateTags', arn.elasticIp, lineageKeyOnly);
const follows = { StringEquals: { 'aws:ResourceTag/ami-lifecycle:exclude': 'follow' } };
const lineageTagged = { Null: { 'aws:ResourceTag/ami-lifecycle:lineage': 'false' } };
const passedToEc2 = { 'iam:PassedToService': 'ec2.amazonaws.com' };
const calledViaImages = { 'ForAnyValue:StringEquals': { 'aws:CalledVia': 'ec2-images.amazonaws.com' } };
const ec2InRegion = (resource) => arn.inRegion('ec2', resource);
/** On launch templates and Auto Scaling groups the operator tagged promotable=true. */
const promotable = { StringEquals: { 'aws:ResourceTag/ami-lifecycle:promotable': 'true' } };
const underThePrefix = arn.inRegion('ssm', 'parameter${param:promoteParameterPrefix}*');
const groups = arn.inRegion('autoscaling', 'autoScalingGroup:*:autoScalingGroupName/*');
const viaEc2 = { 'kms:ViaService': sub('ec2.${AWS::Region}.amazonaws.com') };

/** On test instances of this stack (verify-image.ts): role=verification and managed-by. */
const testInstance = (prefix) => ({
  StringEquals: { [`${prefix}/ami-lifecycle:role`]: 'verification', [`${prefix}/ami-lifecycle:managed-by`]: MANAGED_BY },
});
/** The verification subnet and security group (params), and nothing else. */
const verifyNetwork = [
  sub('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:subnet/${param:verifySubnetId}'),
  sub('arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:security-group/${param:verifySecurityGroupId}'),
];

/** Each function's own statements, by its key in serverless.yml. */
const statements = {
  schedule: [
    allow('ReadInstancesVolumesAndImages', ['ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeImages'], '*'),
    setStatus('SettleManagedImagesAndSnapshots', ['good', 'failed', 'verifying']),
  ],

  bake: [
    allow(
      'ReadImagesAddressesAndLaunchTemplates',
      ['ec2:DescribeImages', 'ec2:DescribeAddresses', 'ec2:DescribeLaunchTemplateVersions'],
      '*',
    ),
    // At capture only: a burstable instance's credit option, a spot instance's request (neither takes a resource).
    allow('ReadCreditsAndSpotRequests', ['ec2:DescribeInstanceCreditSpecifications', 'ec2:DescribeSpotInstanceRequests'], '*'),
    // User data may hold secrets: read it (and the protection and shutdown attributes) from opted-in instances only.
    allow('ReadUserDataOfOptedInInstances', 'ec2:DescribeInstanceAttribute', arn.instance, optedIn),
    allow('ImageOptedInInstances', 'ec2:CreateImage', arn.instance, optedIn),
    allow('CreateOnlyManagedImagesAndSnapshots', 'ec2:CreateImage', IMAGE_AND_SNAPSHOT, createdManaged),
    allow('TagImagesAndSnapshotsAtCreation', 'ec2:CreateTags', IMAGE_AND_SNAPSHOT, taggedAtCreation('CreateImage')),
    allow(
      'GiveOptedInInstancesTheirLineage',
      'ec2:CreateTags',
      arn.instance,
      onlyTagKeys(['ami-lifecycle:lineage', 'ami-lifecycle:captured'], optedIn.Null),
    ),
    allow('CreateManagedLaunchTemplates', 'ec2:CreateLaunchTemplate', arn.launchTemplate, createdManaged),
    allow('TagLaunchTemplatesAtCreation', 'ec2:CreateTags', arn.launchTemplate, taggedAtCreation('CreateLaunchTemplate')),
    allow(
      'VersionManagedLaunchTemplates',
      ['ec2:CreateLaunchTemplateVersion', 'ec2:DeleteLaunchTemplateVersions'],
      arn.launchTemplate,
      managed,
    ),
    // The Elastic IP of an opted-in instance is the operator's, not the stack's: no tag
    // can tell it apart, so only the lineage key may be written (recovery moves it).
    tagElasticIpsWithTheirLineage,
    // The captured configuration keeps the instance's profile. EC2 authorizes iam:PassRole
    // of its role when a launch template (or version) names one: only the roles recovery
    // may pass, and only to EC2. (No iam:AssociatedResourceArn here: a template is not
    // an instance.)
    allow('PassInstanceProfileRolesIntoLaunchTemplates', 'iam:PassRole', arn.passRoles, { StringEquals: passedToEc2 }),
  ],

  imageState: [
    allow('ReadImages', 'ec2:DescribeImages', '*'),
    setStatus('SettleManagedImagesAndSnapshots', ['good', 'failed', 'verifying']),
  ],

  promote: [
    allow(
      'ReadImagesInstancesAndTemplates',
      ['DescribeImages', 'DescribeInstances', 'DescribeLaunchTemplates'].map((a) => `ec2:${a}`),
      '*',
    ),
    allow('ReadVersionsAndGroups', ['ec2:DescribeLaunchTemplateVersions', 'autoscaling:DescribeAutoScalingGroups'], '*'),
    // SSM parameters under the stage's prefix only; templates and groups the operator marked for promotion only.
    allow('WriteParametersUnderThePrefix', ['ssm:GetParameter', 'ssm:PutParameter'], underThePrefix),
    allow('VersionPromotableTemplates', ['ec2:CreateLaunchTemplateVersion', 'ec2:ModifyLaunchTemplate'], arn.launchTemplate, promotable),
    allow('RefreshPromotableGroups', 'autoscaling:StartInstanceRefresh', groups, promotable),
    // What the image records: the targets it was promoted to, the promoted key only, on managed images only.
    allow('RecordPromotionsOnManagedImages', 'ec2:CreateTags', arn.image, { ...managed, ...onlyTagKeys(['ami-lifecycle:promoted']) }),
  ],

  rotate: [
    allow(
      'ReadImagesSnapshotsInstancesAndTemplates',
      [
        'ec2:DescribeImages',
        'ec2:DescribeSnapshots',
        'ec2:DescribeInstances',
        'ec2:DescribeLaunchTemplateVersions',
        'ec2:DescribeImageReferences',
      ],
      '*',
    ),
    // Launch configurations keep the image they name; DescribeImageReferences does not look at them.
    allow('ReadLaunchConfigurations', 'autoscaling:DescribeLaunchConfigurations', '*'),
    // DescribeImageReferences reads each resource type with the caller's permissions, called
    // via ec2-images.amazonaws.com: the AWS managed policy AmazonEC2ImageReferencesAccessPolicy
    // (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEC2ImageReferencesAccessPolicy.html)
    // grants ec2:DescribeInstances, DescribeLaunchTemplates, DescribeLaunchTemplateVersions,
    // ssm:DescribeParameters, GetParameters, imagebuilder:ListImageRecipes, ListContainerRecipes
    // and GetContainerRecipe on '*' with that condition. The same here, but the two that take a
    // resource are held to this account, and the EC2 reads above are already granted.
    // Without one of them the check cannot clear an image, and rotation keeps every candidate.
    allow(
      'LetTheImageReferenceCheckListWhatMayReferenceImages',
      ['ec2:DescribeLaunchTemplates', 'ssm:DescribeParameters', 'imagebuilder:ListImageRecipes', 'imagebuilder:ListContainerRecipes'],
      '*',
      calledViaImages,
    ),
    // In any region of the account: rotation checks its copies in destination regions too (issue 17).
    allow('LetTheImageReferenceCheckReadParameters', 'ssm:GetParameters', arn.anyRegion.of('ssm', 'parameter/*'), calledViaImages),
    allow(
      'LetTheImageReferenceCheckReadContainerRecipes',
      'imagebuilder:GetContainerRecipe',
      arn.anyRegion.of('imagebuilder', 'container-recipe/*'),
      calledViaImages,
    ),
    allow('DeregisterAndDeprecateOnlyManagedImages', ['ec2:DeregisterImage', 'ec2:EnableImageDeprecation'], arn.image, managed),
    allow('DeleteOnlyManagedSnapshots', 'ec2:DeleteSnapshot', arn.snapshot, managed),
    // A vanished lineage's last known policy goes onto its newest good image; the sharing step records what it applied.
    allow('StampPolicyAndSharingOnManagedImages', 'ec2:CreateTags', arn.image, {
      ...managed,
      ...onlyTagKeys(['ami-lifecycle:retain', 'ami-lifecycle:shared']),
    }),
    // The sharing step (docs/sharing.md): launch permissions of managed images, and accounts' (never a group's) snapshot permissions.
    allow('ShareOnlyManagedImages', ['ec2:DescribeImageAttribute', 'ec2:ModifyImageAttribute'], arn.image, managed),
    allow('ReadManagedSnapshotsSharing', 'ec2:DescribeSnapshotAttribute', arn.snapshot, managed),
    allow('ShareManagedSnapshotsWithAccountsOnly', 'ec2:ModifySnapshotAttribute', arn.snapshot, {
      ...managed,
      Null: { 'ec2:Add/group': 'true' },
    }),
    // Issue 17: the copies of this region's images in destination regions (any region: an instance's
    // copy-to tag may name one the stage does not), rotated under the same rules; only those carrying
    // this stack's managed-by and this region as their source-region.
    allow('DeregisterOnlyManagedCopiesInDestinationRegions', 'ec2:DeregisterImage', arn.anyRegion.image, copiedFromHere),
    allow('DeleteOnlyManagedCopiesSnapshotsInDestinationRegions', 'ec2:DeleteSnapshot', arn.anyRegion.snapshot, copiedFromHere),
  ],

  recover: [
    allow(
      'ReadInstancesImagesTemplatesAndAddresses',
      [
        'ec2:DescribeInstances',
        'ec2:DescribeInstanceStatus',
        'ec2:DescribeImages',
        'ec2:DescribeLaunchTemplateVersions',
        'ec2:DescribeAddresses',
        'ec2:DescribeInstanceTypes',
        'ec2:DescribeVolumes',
        'ec2:DescribeSubnets',
      ],
      '*',
    ),
    setStatus('MarkManagedImagesAndSnapshotsBad', 'bad'),
    // An instance check failing is answered with a reboot first, as AWS's own alarm actions do. A
    // replaced instance that still runs is stopped (never forced) to free its following data volumes.
    allow('RebootOrStopOptedInInstances', ['ec2:RebootInstances', 'ec2:StopInstances'], arn.instance, {
      Null: { 'aws:ResourceTag/ami-lifecycle:recover': 'false' },
    }),
    // A deferred recovery looks again at its due time: a one-time schedule of this stack's, run as its scheduler role.
    allow(
      'ScheduleOwnRechecks',
      ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule'],
      arn.inRegion('scheduler', `schedule/default/${MANAGED_BY}-recheck-*`),
    ),
    allow('PassTheRecheckSchedulesRole', 'iam:PassRole', arnOf('RecoverSchedulerRole'), {
      StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
    }),
    // RunInstances is allowed only if every resource of the launch is: an image of this
    // stack, an instance and volumes tagged as a replacement, and the captured network.
    allow('LaunchReplacementsFromManagedImages', 'ec2:RunInstances', arn.image, managed),
    allow('LaunchOnlyTaggedReplacements', 'ec2:RunInstances', [arn.instance, arn.volume], {
      Null: { 'aws:RequestTag/ami-lifecycle:replaces': 'false', 'aws:RequestTag/ami-lifecycle:lineage': 'false' },
    }),
    // Used, not changed: the subnet, security groups and key pair of the captured
    // configuration, and the network interface the launch creates in them. Alone this
    // allows nothing; RunInstances also needs the image and instance statements above.
    allow('LaunchIntoTheCapturedNetwork', 'ec2:RunInstances', [arn.networkInterface, arn.subnet, arn.securityGroup, arn.keyPair]),
    // The same for the captured placement group, and the spot request a spot replacement's launch creates.
    allow('LaunchIntoThePlacementGroupAsSpot', 'ec2:RunInstances', ['placement-group/*', 'spot-instances-request/*'].map(ec2InRegion)),
    // RunInstances cannot turn the source/destination check off (a NAT's): set on the replacement after the launch.
    allow('TurnOffTheReplacementsSourceDestCheck', 'ec2:ModifyInstanceAttribute', arn.instance, {
      Null: { 'aws:ResourceTag/ami-lifecycle:replaces': 'false' },
    }),
    allow('TagReplacementsAtLaunch', 'ec2:CreateTags', [arn.instance, arn.volume], {
      StringEquals: { 'ec2:CreateAction': 'RunInstances' },
    }),
    allow('PassInstanceProfileRolesToReplacements', 'iam:PassRole', arn.passRoles, {
      StringEquals: passedToEc2,
      ArnLike: { 'iam:AssociatedResourceArn': arn.instance },
    }),
    allow('MoveTheLineagesElasticIp', 'ec2:AssociateAddress', [arn.elasticIp, arn.instance], {
      Null: { 'aws:ResourceTag/ami-lifecycle:lineage': 'false' },
    }),
    // An Elastic IP associated after the last bake carries no lineage tag yet: recovery
    // writes it (that key only) before moving the address, as the bake would have.
    tagElasticIpsWithTheirLineage,
    // Alone this allows nothing: the Elastic IP and instance must carry the lineage.
    allow('MoveTheElasticIpOntoTheReplacementsInterface', 'ec2:AssociateAddress', arn.networkInterface),
    // A data volume tagged exclude=follow moves between the lineage's instances (tagged first with where it goes); no other volume.
    allow('MoveFollowingVolumes', ['ec2:DetachVolume', 'ec2:AttachVolume'], arn.volume, follows),
    allow('MoveThemBetweenTheLineagesInstances', ['ec2:DetachVolume', 'ec2:AttachVolume'], arn.instance, lineageTagged),
    allow('TagFollowingVolumesWithTheirDestination', 'ec2:CreateTags', arn.volume, {
      ...follows,
      ...onlyTagKeys(['ami-lifecycle:follows']),
    }),
    // What recovery records on an opted-in instance: its replacement, its reboot, when maintenance was first seen.
    allow(
      'RecordRecoveryOnOptedInInstances',
      'ec2:CreateTags',
      arn.instance,
      onlyTagKeys(['ami-lifecycle:replaced-by', 'ami-lifecycle:rebooted-at', 'ami-lifecycle:maintenance-since'], {
        'aws:ResourceTag/ami-lifecycle:recover': 'false',
      }),
    ),
  ],

  verify: [
    allow(
      'ReadImagesInstancesStatusAndTemplates',
      ['ec2:DescribeImages', 'ec2:DescribeInstances', 'ec2:DescribeInstanceStatus', 'ec2:DescribeLaunchTemplateVersions'],
      '*',
    ),
    // The verdict: good, or failed with its reason, on managed images and snapshots only.
    allow('SettleVerifiedImagesAndSnapshots', 'ec2:CreateTags', IMAGE_AND_SNAPSHOT, {
      StringEquals: { ...managed.StringEquals, 'aws:RequestTag/ami-lifecycle:status': ['good', 'failed'] },
      ...onlyTagKeys(['ami-lifecycle:status', 'ami-lifecycle:failure']),
    }),
    // RunInstances is allowed only if every resource of the launch is: an image of this stack, an
    // instance and volumes tagged as its test instance, the verification subnet and security group.
    allow('LaunchTestInstancesFromManagedImages', 'ec2:RunInstances', arn.image, managed),
    allow('LaunchOnlyTaggedTestInstances', 'ec2:RunInstances', [arn.instance, arn.volume], testInstance('aws:RequestTag')),
    allow('LaunchIntoTheVerificationSubnetOnly', 'ec2:RunInstances', [...verifyNetwork, arn.networkInterface]),
    allow('TagTestInstancesAtLaunch', 'ec2:CreateTags', [arn.instance, arn.volume], {
      StringEquals: { 'ec2:CreateAction': 'RunInstances' },
    }),
    allow('PassTheLineagesInstanceProfileToTestInstances', 'iam:PassRole', arn.passRoles, {
      StringEquals: passedToEc2,
      ArnLike: { 'iam:AssociatedResourceArn': arn.instance },
    }),
    allow('ReadAndEndOnlyTestInstances', ['ec2:GetConsoleOutput', 'ec2:TerminateInstances'], arn.instance, testInstance('aws:ResourceTag')),
    allow(
      'ScheduleOwnChecks',
      ['scheduler:CreateSchedule', 'scheduler:UpdateSchedule'],
      arn.inRegion('scheduler', `schedule/default/${MANAGED_BY}-verify-*`),
    ),
    allow('PassTheChecksSchedulesRole', 'iam:PassRole', arnOf('VerifySchedulerRole'), {
      StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' },
    }),
    // The optional SSM command: the configured document (AWS's own, or the account's), to test instances only.
    allow('SendTheVerificationCommand', 'ssm:SendCommand', [
      sub('arn:${AWS::Partition}:ssm:${AWS::Region}::document/${param:verifyCommandDocument}'),
      arn.inRegion('ssm', 'document/${param:verifyCommandDocument}'),
    ]),
    allow('ToTestInstancesOnly', 'ssm:SendCommand', arn.instance, testInstance('ssm:resourceTag')),
    allow('ReadTheCommandsResult', ['ssm:ListCommands', 'ssm:GetCommandInvocation'], '*'),
  ],

  // Issue 17: the copy reconcile acts in the destination regions from the home region. Which
  // regions is the operator's (copy-to tags, copyTo, drRegions), so the actions are not pinned to
  // regions; what they may touch is pinned by tags and ownership instead.
  copy: [
    allow('ReadImages', 'ec2:DescribeImages', '*'),
    // The source: an image of this account in the home region. The Service Authorization Reference
    // lists ec2:ImageID and ec2:Owner for CopyImage's image, not aws:ResourceTag: the source cannot be
    // pinned to this stack's tag; the reconcile copies only what carries it ("Grant permissions to copy
    // Amazon EC2 AMIs", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/copy-ami-permissions.html).
    allow('CopyOwnImagesOfTheHomeRegion', 'ec2:CopyImage', arn.image, { StringEquals: { 'ec2:Owner': sub('${AWS::AccountId}') } }),
    // The copy and its snapshots, in any region: only created with this stack's tag, tagged only by CopyImage itself.
    allow('CreateOnlyManagedCopies', 'ec2:CopyImage', COPY_IMAGE_AND_SNAPSHOT, createdManaged),
    allow('TagCopiesAtCreation', 'ec2:CreateTags', COPY_IMAGE_AND_SNAPSHOT, taggedAtCreation('CopyImage')),
    allow('SettleManagedCopies', 'ec2:CreateTags', COPY_IMAGE_AND_SNAPSHOT, {
      StringEquals: { ...managed.StringEquals, 'aws:RequestTag/ami-lifecycle:status': ['good', 'failed'] },
      ...onlyTagKeys(['ami-lifecycle:status']),
    }),
    // The DR capture: the lineage's captured launch template (home) copied into the destination region
    // once its copy there is good, so that a relaunch there never needs home. Only this stack's templates.
    allow('ReadCapturesAndAddresses', ['ec2:DescribeLaunchTemplates', 'ec2:DescribeLaunchTemplateVersions', 'ec2:DescribeAddresses'], '*'),
    allow('CreateManagedDrCaptures', 'ec2:CreateLaunchTemplate', DR_CAPTURE, createdManaged),
    allow('TagDrCapturesAtCreation', 'ec2:CreateTags', DR_CAPTURE, taggedAtCreation('CreateLaunchTemplate')),
    allow('VersionManagedDrCaptures', ['ec2:CreateLaunchTemplateVersion', 'ec2:DeleteLaunchTemplateVersions'], DR_CAPTURE, managed),
    allow('RecordTheDigestOfManagedDrCaptures', 'ec2:CreateTags', DR_CAPTURE, {
      ...managed,
      ...onlyTagKeys(['ami-lifecycle:capture-digest', 'ami-lifecycle:left-behind']),
    }),
    // The capture keeps the instance's profile: EC2 authorizes iam:PassRole of its role for a template naming one.
    allow('PassInstanceProfileRolesIntoDrCaptures', 'iam:PassRole', arn.passRoles, { StringEquals: passedToEc2 }),
  ],

  statusAlarms: [
    allow('ReadInstances', 'ec2:DescribeInstances', '*'),
    // DescribeAlarms has a resource type (alarm), unlike EC2's Describe* calls: name it.
    allow('ReadAlarms', 'cloudwatch:DescribeAlarms', arn.inRegion('cloudwatch', 'alarm:*')),
    allow(
      'KeepOwnStatusCheckAlarms',
      ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms', 'cloudwatch:TagResource'],
      arn.inRegion('cloudwatch', `alarm:${MANAGED_BY}-status-*`),
    ),
  ],
};

/** A policy added to roles where a condition of resources.cjs holds. */
const conditionalPolicy = (Condition, PolicyName, roles, Statement) => ({
  Type: 'AWS::IAM::Policy',
  Condition,
  Properties: { PolicyName, Roles: roles.map(ref), PolicyDocument: policy(Statement) },
});

const conditionalPolicies = {
  // Only where params.terminateReplaced is 'true': otherwise the recover role cannot terminate.
  // Only instances recovery replaced: it writes replaced-by just before it terminates, and an
  // opted-in instance that was never replaced is not the role's to end.
  RecoverTerminateReplacedPolicy: conditionalPolicy(
    'TerminatesReplaced',
    'recover-terminate-replaced',
    ['RecoverRole'],
    [
      allow('TerminateReplacedInstances', 'ec2:TerminateInstances', arn.instance, {
        Null: { 'aws:ResourceTag/ami-lifecycle:recover': 'false', 'aws:ResourceTag/ami-lifecycle:replaced-by': 'false' },
      }),
    ],
  ),
  // Only where params.kmsKeyArns names keys. EC2 creates, reads and re-encrypts the volumes and
  // snapshots of an image or a launch with the caller's rights on their KMS key ("Requirements
  // for Amazon EBS encryption", https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html):
  // a launch without them ends at once with Client.InternalError. Only through EC2 in this
  // region (kms:ViaService), and grants only for an AWS resource (kms:GrantIsForAWSResource).
  FleetKmsKeysPolicy: conditionalPolicy(
    'UsesKmsKeys',
    'fleet-kms-keys',
    ['BakeRole', 'RecoverRole', 'VerifyRole'],
    [
      allow(
        'LetEc2UseTheFleetsKeys',
        ['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'],
        ref('KmsKeyArns'),
        { StringEquals: viaEc2 },
      ),
      allow('LetEc2GrantItselfTheFleetsKeys', 'kms:CreateGrant', ref('KmsKeyArns'), {
        StringEquals: viaEc2,
        Bool: { 'kms:GrantIsForAWSResource': 'true' },
      }),
    ],
  ),
};

// Issue 17: copies encrypted with a destination's KMS key (drRegions' kmsKeyId): EC2 uses the key
// with the caller's rights in that region, so the copy role gets the keys of params.kmsKeyArns
// (list the DR keys there too) through EC2 in any region ("Requirements for Amazon EBS
// encryption", https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html).
const viaEc2AnyRegion = { 'kms:ViaService': 'ec2.*.amazonaws.com' };
conditionalPolicies.CopyKmsKeysPolicy = conditionalPolicy(
  'UsesKmsKeys',
  'copy-kms-keys',
  ['CopyRole'],
  [
    allow(
      'LetEc2UseTheKeysForCopies',
      ['kms:Decrypt', 'kms:DescribeKey', 'kms:Encrypt', 'kms:GenerateDataKeyWithoutPlaintext', 'kms:ReEncryptFrom', 'kms:ReEncryptTo'],
      ref('KmsKeyArns'),
      { StringLike: viaEc2AnyRegion },
    ),
    allow('LetEc2GrantItselfTheKeysForCopies', 'kms:CreateGrant', ref('KmsKeyArns'), {
      StringLike: viaEc2AnyRegion,
      Bool: { 'kms:GrantIsForAWSResource': 'true' },
    }),
  ],
);

// Issue 19: only where params.adoptFilters lists filters, the daily run adopts (shared/use-cases/
// stale-images.ts, adoptOnSchedule): it reads what may use any image of the account, as `stale` does
// (cli/operator-policy.ts), and tags unused images the stack did not make, with their snapshots. Only
// with this stack's managed-by and status=good in the request, only adoption's keys, an adoption
// record present, and only on resources carrying no managed-by tag yet: it cannot re-tag the stack's
// own images or another stack's. Deletion still needs the managed-by tag (the statements above).
conditionalPolicies.RotateAdoptionPolicy = conditionalPolicy(
  'AdoptsImages',
  'rotate-adoption',
  ['RotateRole'],
  [
    // Auto Scaling groups name launch configurations; parameters whose value is an image id (any data type).
    allow('ReadWhatMayUseAnyImage', ['autoscaling:DescribeAutoScalingGroups', 'ssm:DescribeParameters'], '*'),
    allow('ReadParameterValues', 'ssm:GetParameters', arn.inRegion('ssm', 'parameter/*')),
    // An image shared with another account may be in use there: its launch permissions are read.
    allow('ReadLaunchPermissionsOfAnyImage', 'ec2:DescribeImageAttribute', arn.image),
    allow('AdoptUnmanagedImagesAndSnapshots', 'ec2:CreateTags', IMAGE_AND_SNAPSHOT, {
      StringEquals: { ...createdManaged.StringEquals, 'aws:RequestTag/ami-lifecycle:status': 'good' },
      ...onlyTagKeys(
        ['ami-lifecycle:managed-by', 'ami-lifecycle:lineage', 'ami-lifecycle:retain', 'ami-lifecycle:status', 'ami-lifecycle:adopted'],
        { 'aws:ResourceTag/ami-lifecycle:managed-by': 'true', 'aws:RequestTag/ami-lifecycle:adopted': 'false' },
      ),
    }),
  ],
);

module.exports = { statements, conditionalPolicies };
