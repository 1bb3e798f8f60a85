/**
 * The packaged CloudFormation template (`serverless package`, as CI and a deployment build
 * it) keeps the service's least-privilege and delivery rules: one role per function with
 * exactly the actions that function's code sends, every mutating EC2 action under its
 * conditions, a dead-letter queue with an alarm behind every asynchronous invocation, retry
 * policies on every rule and schedule, a bounded bake concurrency and the alarms on the
 * service's metrics. The checks live in test/infra/template-rules.ts; the last block proves
 * that each one fails when a single edit widens the template. cfn-lint runs on it too.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { PROJECT_ROOT, readServerless } from '../../cli/serverless-config.js';
import {
  checkConcurrency,
  checkDelivery,
  checkLeastPrivilege,
  checkMetrics,
  checkTemplate,
  functionsOf,
  roleView,
  type Spec,
  type Stmt,
  type Template,
} from '../infra/template-rules.js';
import { packagedTemplate, type CachedTemplate } from '../infra/packaged.js';

const run = promisify(execFile);
const STAGE = 'ci';

/** params.default of serverless.yml, for the values the template is expected to carry. */
function defaultParams(): Record<string, unknown> {
  const tags = ['!GetAtt', '!Sub', '!Ref'].map((tag) => ({ tag, resolve: (v: string) => v }));
  const raw = parse(readFileSync(join(PROJECT_ROOT, 'serverless.yml'), 'utf8'), { customTags: tags }) as {
    params: { default: Record<string, unknown> };
  };
  return raw.params.default;
}

const wiring = readServerless({ stage: STAGE });
const params = defaultParams();

const logsAndDlq = ['logs:CreateLogStream', 'logs:PutLogEvents', 'sqs:SendMessage'];
/** What EC2 does with the fleet's KMS keys on the bake's and recovery's behalf (params.kmsKeyArns). */
const fleetKms = [
  'kms:CreateGrant',
  'kms:Decrypt',
  'kms:DescribeKey',
  'kms:GenerateDataKeyWithoutPlaintext',
  'kms:ReEncryptFrom',
  'kms:ReEncryptTo',
];

/**
 * What each function's code sends (handler -> use case -> gateway), plus its own logs and
 * dead-letter queue. Read from functions/<f>/handler.ts, shared/use-cases/*.ts and
 * shared/aws/*-gateway.ts; tag-on-create needs ec2:CreateTags, an instance profile iam:PassRole.
 */
const SPEC: Spec = {
  managedBy: wiring.environment.MANAGED_BY!,
  eventBusName: wiring.eventBusName,
  passRoles: String(params.recoveryPassRoles),
  actions: {
    // runSchedule: reconcilePending (DescribeImages, PutEvents, CreateTags status), listExcludeTags, listBakeCandidates, PutEvents.
    Schedule: [...logsAndDlq, 'ec2:DescribeInstances', 'ec2:DescribeVolumes', 'ec2:DescribeImages', 'ec2:CreateTags', 'events:PutEvents'],
    // bakeInstance: lineage tag, CreateImage (+ DescribeImages on a duplicate name), the capture
    // (DescribeInstanceAttribute, launch template and its versions, its newest version read
    // back so a retry adds none, the Elastic IP's tag; PassRole of an instance profile the
    // template names), ImageBakeFailed.
    Bake: [
      // Its queue's event source mapping polls with the role; failures move by redrive, not by the role.
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'ec2:DescribeImages',
      'ec2:DescribeAddresses',
      'ec2:DescribeLaunchTemplateVersions',
      'ec2:DescribeInstanceAttribute',
      'ec2:DescribeInstanceCreditSpecifications',
      'ec2:DescribeSpotInstanceRequests',
      'ec2:CreateImage',
      'ec2:CreateTags',
      'ec2:CreateLaunchTemplate',
      'ec2:CreateLaunchTemplateVersion',
      'ec2:DeleteLaunchTemplateVersions',
      ...fleetKms,
      'iam:PassRole',
      'events:PutEvents',
    ],
    // settleImages: one DescribeImages per batch, PutEvents, CreateTags status; its queue's mapping polls with the role.
    ImageState: [
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'ec2:DescribeImages',
      'ec2:CreateTags',
      'events:PutEvents',
    ],
    // rotateImages: the reads of the plan, CreateTags (a vanished lineage's policy stamped on its newest good
    // image), DeregisterImage, EnableImageDeprecation, DeleteSnapshot, ImagesRotated;
    // and what DescribeImageReferences reads with the function's permissions (AmazonEC2ImageReferencesAccessPolicy).
    Rotate: [
      ...logsAndDlq,
      'ec2:DescribeImages',
      'ec2:DescribeSnapshots',
      'ec2:DescribeInstances',
      'ec2:DescribeLaunchTemplateVersions',
      'ec2:DescribeImageReferences',
      'ec2:DescribeLaunchTemplates',
      'ssm:DescribeParameters',
      'ssm:GetParameters',
      'imagebuilder:ListImageRecipes',
      'imagebuilder:ListContainerRecipes',
      'imagebuilder:GetContainerRecipe',
      // Launch configurations keep the images they name (issue 19): the reference check does not look at them.
      'autoscaling:DescribeLaunchConfigurations',
      // Issue 19, the daily run's adoption (only under AdoptsImages): the groups that name launch configurations.
      'autoscaling:DescribeAutoScalingGroups',
      'ec2:CreateTags',
      'ec2:DeregisterImage',
      'ec2:EnableImageDeprecation',
      'ec2:DeleteSnapshot',
      // shareImages (issue 16): the public sweep and each lineage's sharing, the digest recorded by CreateTags.
      'ec2:DescribeImageAttribute',
      'ec2:ModifyImageAttribute',
      'ec2:DescribeSnapshotAttribute',
      'ec2:ModifySnapshotAttribute',
      'events:PutEvents',
    ],
    // recoverInstances: the reads of the plan, status=bad, RunInstances (+ tags, + PassRole),
    // the Elastic IP, replaced-by, TerminateInstances where configured, the outcome events; a wait:
    // the status checks, the reboot and its tag, the recheck's schedule (+ PassRole of its role).
    Recover: [
      ...logsAndDlq,
      'ec2:DescribeInstances',
      'ec2:DescribeInstanceStatus',
      'ec2:DescribeImages',
      'ec2:DescribeLaunchTemplateVersions',
      'ec2:DescribeAddresses',
      // Issue 14: a fallback type's architecture; following volumes, and the zones of the lineage's subnets.
      'ec2:DescribeInstanceTypes',
      'ec2:DescribeVolumes',
      'ec2:DescribeSubnets',
      'ec2:DetachVolume',
      'ec2:AttachVolume',
      'ec2:CreateTags',
      'ec2:RebootInstances',
      // A replaced instance that still runs is stopped to free its following volumes.
      'ec2:StopInstances',
      'scheduler:CreateSchedule',
      'scheduler:UpdateSchedule',
      'ec2:RunInstances',
      'ec2:ModifyInstanceAttribute',
      'ec2:AssociateAddress',
      'ec2:TerminateInstances',
      'iam:PassRole',
      ...fleetKms,
      'events:PutEvents',
    ],
    // promoteImage, reconcilePromotions: the image and its lineage's instances, the targets read
    // (SSM parameter, launch template and its versions, group), then changed (PutParameter;
    // CreateLaunchTemplateVersion, ModifyLaunchTemplate; StartInstanceRefresh), the promoted tag, the events.
    Promote: [
      ...logsAndDlq,
      'ec2:DescribeImages',
      'ec2:DescribeInstances',
      'ec2:DescribeLaunchTemplates',
      'ec2:DescribeLaunchTemplateVersions',
      'autoscaling:DescribeAutoScalingGroups',
      'ssm:GetParameter',
      'ssm:PutParameter',
      'ec2:CreateLaunchTemplateVersion',
      'ec2:ModifyLaunchTemplate',
      'autoscaling:StartInstanceRefresh',
      'ec2:CreateTags',
      'events:PutEvents',
    ],
    // syncStatusAlarms: listRecoverCandidates, DescribeAlarms, PutMetricAlarm (with tags), DeleteAlarms.
    StatusAlarms: [
      ...logsAndDlq,
      'ec2:DescribeInstances',
      'cloudwatch:DescribeAlarms',
      'cloudwatch:PutMetricAlarm',
      'cloudwatch:DeleteAlarms',
      'cloudwatch:TagResource',
    ],
    // Issue 17, reconcileCopies: the home region's sources and each region's copies (DescribeImages),
    // CopyImage (+ tags on create), the copies' status (CreateTags), ImageCopied / ImageCopyFailed;
    // the keys of the copies' encryption (params.kmsKeyArns, through EC2 in any region); syncDrCapture:
    // the home capture and the lineage's Elastic IP, the DR capture in the region (+ tags, + PassRole of
    // the instance profile it names).
    Copy: [
      'logs:CreateLogStream',
      'logs:PutLogEvents',
      'sqs:ReceiveMessage',
      'sqs:DeleteMessage',
      'sqs:GetQueueAttributes',
      'ec2:DescribeImages',
      'ec2:CopyImage',
      'ec2:CreateTags',
      'ec2:DescribeLaunchTemplates',
      'ec2:DescribeLaunchTemplateVersions',
      'ec2:DescribeAddresses',
      'ec2:CreateLaunchTemplate',
      'ec2:CreateLaunchTemplateVersion',
      'ec2:DeleteLaunchTemplateVersions',
      ...fleetKms,
      'kms:Encrypt',
      'iam:PassRole',
      'events:PutEvents',
    ],
    // verifyImage, sweepVerifications: the reads, the test instance's launch (+ tags, + PassRole of the
    // lineage's profile), its console output and termination, the verdict's tags, the checks' schedules
    // (+ PassRole of their role), the SSM command and its result, the events; the fleet's keys (a launch).
    Verify: [
      ...logsAndDlq,
      'ec2:DescribeImages',
      'ec2:DescribeInstances',
      'ec2:DescribeInstanceStatus',
      'ec2:DescribeLaunchTemplateVersions',
      'ec2:CreateTags',
      'ec2:RunInstances',
      'ec2:GetConsoleOutput',
      'ec2:TerminateInstances',
      'iam:PassRole',
      'scheduler:CreateSchedule',
      'scheduler:UpdateSchedule',
      'ssm:SendCommand',
      'ssm:ListCommands',
      'ssm:GetCommandInvocation',
      ...fleetKms,
      'events:PutEvents',
    ],
  },
  statusValues: {
    Schedule: ['good', 'failed', 'verifying'],
    ImageState: ['good', 'failed', 'verifying'],
    Recover: ['bad'],
    Verify: ['good', 'failed'],
    Copy: ['good', 'failed'],
  },
  verifyNetwork: [
    `arn:aws:ec2:us-east-1:123456789012:subnet/${String(params.verifySubnetId)}`,
    `arn:aws:ec2:us-east-1:123456789012:security-group/${String(params.verifySecurityGroupId)}`,
  ],
  verifyDocuments: [
    `arn:aws:ssm:us-east-1::document/${String(params.verifyCommandDocument)}`,
    `arn:aws:ssm:us-east-1:123456789012:document/${String(params.verifyCommandDocument)}`,
  ],
  // Only DescribeImageReferences reads these, through ec2-images.amazonaws.com; rotation itself never does.
  // The daily run's adoption reads parameters itself (issue 19), only under the condition AdoptsImages.
  onlyVia: {
    Rotate: {
      service: 'ec2-images.amazonaws.com',
      unlessCondition: 'AdoptsImages',
      actions: [
        'ec2:DescribeLaunchTemplates',
        'ssm:DescribeParameters',
        'ssm:GetParameters',
        'imagebuilder:ListImageRecipes',
        'imagebuilder:ListContainerRecipes',
        'imagebuilder:GetContainerRecipe',
      ],
    },
  },
  // At most EC2's mutating-call refill rate (5/s): each bake makes at least one such call a second.
  maxBakeConcurrency: 5,
  promoteParameterPrefix: String(params.promoteParameterPrefix),
};

let packaged: CachedTemplate;
let t: Template;

beforeAll(async () => {
  // Shared with template-iam.test.ts, the harness's roles and the permissions table of docs/permissions.md: packaged once per change.
  packaged = await packagedTemplate({ stage: STAGE });
  t = packaged.template;
  // Measured, not asserted (a timed test would be flaky): CI's own packaging takes as long.
  if (packaged.packaged) console.info(`serverless package --stage ${STAGE}: ${(packaged.ms / 1000).toFixed(1)} s`);
}, 180_000);

const clone = () => structuredClone(t);
const allStatements = (tpl: Template): Stmt[] => functionsOf(tpl).flatMap((f) => roleView(tpl, f.role).statements);
const allowing = (tpl: Template, action: string) => allStatements(tpl).filter((s) => s.effect === 'Allow' && s.actions.includes(action));
const problemsAbout = (problems: string[], action: string) => problems.filter((p) => p.includes(action));

describe('least privilege', () => {
  it('every function has a role of its own, and no shared osls role exists', () => {
    const fns = functionsOf(t);
    expect(fns.map((f) => f.key).sort()).toEqual(Object.keys(SPEC.actions).sort());
    expect(new Set(fns.map((f) => f.role)).size).toBe(fns.length);
    expect(t.Resources.IamRoleLambdaExecution).toBeUndefined();
  });

  it.each(Object.keys(SPEC.actions))('%s: its role allows exactly the actions its code sends', (fn) => {
    const f = functionsOf(t).find((x) => x.key === fn)!;
    const allowed = new Set(
      roleView(t, f.role)
        .statements.filter((s) => s.effect === 'Allow')
        .flatMap((s) => s.actions),
    );
    expect([...allowed].sort()).toEqual([...SPEC.actions[fn]!].sort());
  });

  it('no role can put metric data: metrics are EMF lines in the log', () => {
    expect(allowing(t, 'cloudwatch:PutMetricData')).toEqual([]);
  });

  it('every statement of every role keeps its rule', () => {
    expect(checkLeastPrivilege(t, SPEC)).toEqual([]);
  });

  it("no mutating action on '*': only reads are unscoped", () => {
    const unscoped = allStatements(t).filter((s) => s.effect === 'Allow' && s.resources.includes('*'));
    expect(unscoped.length).toBeGreaterThan(0);
    for (const s of unscoped) for (const a of s.actions) expect(a).toMatch(/^[a-z0-9-]+:(Describe|Get|List)/);
  });

  it('CreateImage: only on instances carrying the opt-in tag, only creating images and snapshots tagged with this stack', () => {
    const byType = Object.fromEntries(
      allowing(t, 'ec2:CreateImage').flatMap((s) => s.resources.map((r) => [r.split(':').pop()!.split('/')[0]!, s.condition])),
    );
    expect(Object.keys(byType).sort()).toEqual(['image', 'instance', 'snapshot']);
    expect(byType.instance).toEqual({ null: { 'aws:resourcetag/ami-lifecycle:bake': ['false'] } });
    for (const type of ['image', 'snapshot']) {
      expect(byType[type]).toEqual({ stringequals: { 'aws:requesttag/ami-lifecycle:managed-by': [SPEC.managedBy] } });
    }
  });

  it('CreateTags: at creation (ec2:CreateAction), or on resources the stack manages or was given, with limited keys', () => {
    const statements = allowing(t, 'ec2:CreateTags');
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) {
      const c = s.condition;
      const atCreation = c.stringequals?.['ec2:createaction'] !== undefined;
      const keysLimited = c['forallvalues:stringequals']?.['aws:tagkeys'] !== undefined && c.null?.['aws:tagkeys']?.[0] === 'false';
      expect(atCreation || keysLimited, s.where).toBe(true);
    }
    expect(problemsAbout(checkLeastPrivilege(t, SPEC), 'ec2:CreateTags')).toEqual([]);
  });

  it.each([
    'ec2:DeregisterImage',
    'ec2:DeleteSnapshot',
    'ec2:EnableImageDeprecation',
    'ec2:ModifyImageAttribute',
    'ec2:ModifySnapshotAttribute',
  ])('%s: only on resources tagged managed-by this stack', (action) => {
    const statements = allowing(t, action);
    expect(statements.length).toBeGreaterThan(0);
    for (const s of statements) {
      expect(s.condition.stringequals?.['aws:resourcetag/ami-lifecycle:managed-by']).toEqual([SPEC.managedBy]);
      // Issue 17: in any region only the copies of this region's images (their source-region tag).
      const anyRegion = s.resources.every((r) => /^arn:aws:ec2:\*::(image|snapshot)\/\*$/.test(r));
      if (anyRegion) expect(s.condition.stringequals?.['aws:resourcetag/ami-lifecycle:source-region']).toEqual(['us-east-1']);
      else expect(s.resources.every((r) => /^arn:aws:ec2:us-east-1::(image|snapshot)\/\*$/.test(r))).toBe(true);
    }
  });

  it('RunInstances and PassRole: managed images, tagged replacements, configured roles passed to EC2 (instances, and the launch templates bake writes)', () => {
    expect(problemsAbout(checkLeastPrivilege(t, SPEC), 'ec2:RunInstances')).toEqual([]);
    expect(problemsAbout(checkLeastPrivilege(t, SPEC), 'iam:PassRole')).toEqual([]);
    const passRole = allowing(t, 'iam:PassRole');
    const toEc2 = passRole.filter((s) => s.condition.stringequals?.['iam:passedtoservice']?.includes('ec2.amazonaws.com'));
    expect(toEc2.map((s) => s.where.split('/')[0]).sort()).toEqual(['BakeRole', 'CopyRole', 'RecoverRole', 'VerifyRole']);
    for (const s of toEc2) expect(s.resources).toEqual([`arn:aws:iam::123456789012:role/${SPEC.passRoles}`]);
    // The others: the recover and verify functions' scheduler roles, to Scheduler only (their one-time schedules).
    const others = passRole.filter((s) => !toEc2.includes(s));
    expect(others.map((s) => [s.where.split('/')[0], s.resources, s.condition.stringequals?.['iam:passedtoservice']])).toEqual([
      ['RecoverRole', ['<RecoverSchedulerRole.Arn>'], ['scheduler.amazonaws.com']],
      ['VerifyRole', ['<VerifySchedulerRole.Arn>'], ['scheduler.amazonaws.com']],
    ]);
  });

  it('TerminateInstances exists only where params.terminateReplaced is true (it is not for this stage)', () => {
    // The recover role's; the verify role ends its own test instances whatever the param says.
    const terminate = allowing(t, 'ec2:TerminateInstances').filter((s) => !s.where.startsWith('VerifyRole/'));
    expect(terminate.map((s) => s.when)).toEqual(['TerminatesReplaced']);
    expect(t.Parameters?.TerminateReplaced?.Default).toBe(params.terminateReplaced);
    expect(t.Conditions?.TerminatesReplaced).toEqual({ 'Fn::Equals': [{ Ref: 'TerminateReplaced' }, 'true'] });
  });
});

describe('delivery', () => {
  it('every function has its dead-letter queue (on-failure destination, rule and schedule DLQ) with an alarm, and retry policies', () => {
    expect(checkDelivery(t, SPEC)).toEqual([]);
  });

  it('every EventBridge rule target has a retry policy and a dead-letter queue', () => {
    const targets = Object.values(t.Resources)
      .filter((r) => r.Type === 'AWS::Events::Rule')
      .flatMap((r) => r.Properties!.Targets as Array<Record<string, any>>);
    // imageState's queue, recover (3), the bake queue's, and on the service's own bus verify's (issue 15)
    // and promote's (issue 16), and the copy queue's two (ImageBaked and the 15-minute sweep, issue 17).
    // promote's and the copy queue's ImageBaked rules take only images that promote or copy (issue 18).
    expect(targets.length).toBe(9);
    for (const target of targets) {
      expect(target.RetryPolicy).toEqual({ MaximumEventAgeInSeconds: expect.any(Number), MaximumRetryAttempts: expect.any(Number) });
      expect(target.DeadLetterConfig?.Arn).toBeDefined();
    }
  });

  it('every schedule has a retry policy, a dead-letter queue and an execution role of its own', () => {
    const schedules = Object.values(t.Resources).filter((r) => r.Type === 'AWS::Scheduler::Schedule');
    // nightly, weekly, rotate, status alarms, the verification sweep (issue 15) and promotion's daily catch-up (issue 16).
    expect(schedules.length).toBe(6);
    for (const s of schedules) {
      expect(s.Properties!.Target.RetryPolicy).toBeDefined();
      expect(s.Properties!.Target.DeadLetterConfig?.Arn).toBeDefined();
      expect(JSON.stringify(s.Properties!.Target.RoleArn)).toMatch(/SchedulerRole/);
    }
  });

  it('the bake function runs at most params.bakeConcurrency at once, reserving nothing a new account lacks', () => {
    expect(checkConcurrency(t, SPEC)).toEqual([]);
    const mapping = t.Resources.BakeEventSourceMappingSQSBakeQueue!;
    expect(mapping.Properties!.ScalingConfig).toEqual({ MaximumConcurrency: params.bakeConcurrency });
    // What LocalCloud and the benchmark read to run bakes as deployed.
    expect(wiring.functions.find((f) => f.name === 'bake')?.queue).toMatchObject({
      maximumConcurrency: params.bakeConcurrency,
      batchSize: 1,
    });
    expect(wiring.functions.filter((f) => f.queue !== undefined).map((f) => f.name)).toEqual(['bake', 'imageState', 'copy']);
  });

  it('the image-state function reads its queue in batches of 100 gathered for up to a minute', () => {
    expect(t.Resources.ImageStateEventSourceMappingSQSImageStateQueue!.Properties).toMatchObject({
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 60,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    // Six times the function's timeout (120 s), plus the window.
    expect(t.Resources.ImageStateQueue!.Properties!.VisibilityTimeout).toBe(780);
    expect(wiring.functions.find((f) => f.name === 'imageState')?.queue).toMatchObject({ batchSize: 100, maxReceiveCount: 3 });
  });
});

describe('metrics and alarms', () => {
  it('functions publish to AmiLifecycle as service=<managed-by>; failures and stale lineages have alarms', () => {
    expect(checkMetrics(t, SPEC)).toEqual([]);
  });

  it('alarm actions go to params.alarmTopicArn only when one is set', () => {
    expect(t.Parameters?.AlarmTopicArn?.Default).toBe(params.alarmTopicArn);
    expect(t.Conditions?.HasAlarmTopic).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'AlarmTopicArn' }, ''] }] });
  });
});

// ---- the checks fail when the template widens ------------------------------------------------

type Mutation = [name: string, mutate: (t: Template) => void, finding: RegExp];

/** The statement of a role (inline policy) with that Sid, to edit in place. */
function stmt(tpl: Template, roleId: string, sid: string): Record<string, any> {
  const policies = tpl.Resources[roleId]!.Properties!.Policies as Array<{ PolicyDocument: { Statement: Array<Record<string, any>> } }>;
  const found = policies.flatMap((p) => p.PolicyDocument.Statement).find((s) => s.Sid === sid);
  if (!found) throw new Error(`${roleId} has no statement ${sid}`);
  return found;
}
function addStatement(tpl: Template, roleId: string, statement: Record<string, any>): void {
  (tpl.Resources[roleId]!.Properties!.Policies as Array<{ PolicyDocument: { Statement: unknown[] } }>)[0]!.PolicyDocument.Statement.push(
    statement,
  );
}
const ruleTarget = (tpl: Template, fnId: string) =>
  Object.values(tpl.Resources)
    .filter((r) => r.Type === 'AWS::Events::Rule')
    .flatMap((r) => r.Properties!.Targets as Array<Record<string, any>>)
    .find((x) => JSON.stringify(x.Arn).includes(fnId))!;

const mutations: Mutation[] = [
  // least privilege
  [
    'an action the function does not use',
    (x) => void (stmt(x, 'BakeRole', 'ImageOptedInInstances').Action = ['ec2:CreateImage', 'ec2:DeleteSnapshot']),
    /bake role allows ec2:DeleteSnapshot|Bake: role allows ec2:DeleteSnapshot/,
  ],
  [
    'cloudwatch:PutMetricData',
    (x) => addStatement(x, 'ScheduleRole', { Effect: 'Allow', Action: 'cloudwatch:PutMetricData', Resource: '*' }),
    /cloudwatch:PutMetricData/,
  ],
  [
    'a wildcard action',
    (x) => void (stmt(x, 'RotateRole', 'ReadImagesSnapshotsInstancesAndTemplates').Action = ['ec2:Describe*']),
    /wildcard action ec2:Describe\*/,
  ],
  [
    'a managed policy',
    (x) => void (x.Resources.RecoverRole!.Properties!.ManagedPolicyArns = ['arn:aws:iam::aws:policy/AdministratorAccess']),
    /managed policies/,
  ],
  [
    'one role for two functions',
    (x) => void (x.Resources.RotateLambdaFunction!.Properties!.Role = { 'Fn::GetAtt': ['ScheduleRole', 'Arn'] }),
    /shared by/,
  ],
  [
    'CreateImage of any instance',
    (x) => void delete stmt(x, 'BakeRole', 'ImageOptedInInstances').Condition,
    /ec2:CreateImage on .*instance\/\* lacks its conditions/,
  ],
  [
    'CreateImage of images without the managed-by tag',
    (x) =>
      void (stmt(x, 'BakeRole', 'CreateOnlyManagedImagesAndSnapshots').Condition = {
        StringLike: { 'aws:RequestTag/ami-lifecycle:managed-by': '*' },
      }),
    /ec2:CreateImage on .*image\/\* lacks its conditions/,
  ],
  [
    'CreateTags on images outside creation',
    (x) => void delete stmt(x, 'BakeRole', 'TagImagesAndSnapshotsAtCreation').Condition.StringEquals['ec2:CreateAction'],
    /ec2:CreateTags on .*image\/\* lacks/,
  ],
  [
    'CreateTags of any key on managed images',
    (x) =>
      void stmt(x, 'ImageStateRole', 'SettleManagedImagesAndSnapshots').Condition['ForAllValues:StringEquals']['aws:TagKeys'].push('Name'),
    /ImageStateRole\/image-state\/SettleManagedImagesAndSnapshots: ec2:CreateTags .* lacks/,
  ],
  [
    'ForAllValues without its Null guard',
    (x) => void delete stmt(x, 'BakeRole', 'TagElasticIpsWithTheirLineage').Condition.Null,
    /TagElasticIpsWithTheirLineage: ec2:CreateTags .* lacks/,
  ],
  [
    'a status the function never writes',
    (x) =>
      void stmt(x, 'ScheduleRole', 'SettleManagedImagesAndSnapshots').Condition.StringEquals['aws:RequestTag/ami-lifecycle:status'].push(
        'bad',
      ),
    /SettleManagedImagesAndSnapshots: ec2:CreateTags .* lacks/,
  ],
  [
    'DeleteSnapshot of any snapshot',
    (x) => void delete stmt(x, 'RotateRole', 'DeleteOnlyManagedSnapshots').Condition,
    /ec2:DeleteSnapshot on .* lacks its conditions/,
  ],
  [
    'DeregisterImage with IfExists',
    (x) => {
      const s = stmt(x, 'RotateRole', 'DeregisterAndDeprecateOnlyManagedImages');
      s.Condition = { StringEqualsIfExists: s.Condition.StringEquals };
    },
    /ec2:DeregisterImage on .* lacks/,
  ],
  [
    'RunInstances from any image',
    (x) => void delete stmt(x, 'RecoverRole', 'LaunchReplacementsFromManagedImages').Condition,
    /ec2:RunInstances on .*image\/\* lacks/,
  ],
  [
    'RunInstances of untagged instances',
    (x) => void delete stmt(x, 'RecoverRole', 'LaunchOnlyTaggedReplacements').Condition.Null['aws:RequestTag/ami-lifecycle:lineage'],
    /ec2:RunInstances on .*instance\/\* lacks/,
  ],
  [
    'PassRole to any service',
    (x) => void delete stmt(x, 'RecoverRole', 'PassInstanceProfileRolesToReplacements').Condition.StringEquals,
    /iam:PassRole on .* lacks/,
  ],
  [
    'PassRole of roles in any account',
    (x) => void (stmt(x, 'RecoverRole', 'PassInstanceProfileRolesToReplacements').Resource = 'arn:aws:iam::*:role/*'),
    /iam:PassRole: .* not of this account/,
  ],
  [
    'an EC2 action in another region',
    (x) =>
      void (stmt(x, 'BakeRole', 'ImageOptedInInstances').Resource = {
        'Fn::Sub': 'arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:instance/*',
      }),
    /not of this region/,
  ],
  [
    "a mutating action on '*' even with a condition",
    (x) =>
      addStatement(x, 'RecoverRole', {
        Effect: 'Allow',
        Action: 'ec2:CreateTags',
        Resource: '*',
        Condition: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
      }),
    /ec2:CreateTags on '\*'/,
  ],
  [
    'TerminateInstances whatever params.terminateReplaced says',
    (x) => addStatement(x, 'RecoverRole', x.Resources.RecoverTerminateReplacedPolicy!.Properties!.PolicyDocument.Statement[0]),
    /TerminateInstances must only exist under the CloudFormation condition TerminatesReplaced/,
  ],
  [
    'KMS keys of any service, not only through EC2',
    (x) => void delete x.Resources.FleetKmsKeysPolicy!.Properties!.PolicyDocument.Statement[0].Condition,
    /kms:Decrypt on <KmsKeyArns> lacks its conditions/,
  ],
  [
    'grants on the fleet keys for anyone, not only for AWS resources',
    (x) => void delete x.Resources.FleetKmsKeysPolicy!.Properties!.PolicyDocument.Statement[1].Condition.Bool,
    /kms:CreateGrant on <KmsKeyArns> lacks its conditions/,
  ],
  [
    'every KMS key of the account',
    (x) => void (x.Resources.FleetKmsKeysPolicy!.Properties!.PolicyDocument.Statement[0].Resource = '*'),
    /kms:Decrypt on \*, expected <KmsKeyArns>/,
  ],
  [
    'KMS rights whatever params.kmsKeyArns says',
    (x) => void delete x.Resources.FleetKmsKeysPolicy!.Condition,
    /kms:CreateGrant must only exist under the CloudFormation condition UsesKmsKeys/,
  ],
  [
    'the verifier terminating any instance, not only its test instances',
    (x) => void delete stmt(x, 'VerifyRole', 'ReadAndEndOnlyTestInstances').Condition,
    /ec2:TerminateInstances on .*instance\/\* lacks its conditions/,
  ],
  [
    'the verifier launching into any subnet',
    (x) =>
      void (stmt(x, 'VerifyRole', 'LaunchIntoTheVerificationSubnetOnly').Resource = [
        { 'Fn::Sub': 'arn:${AWS::Partition}:ec2:${AWS::Region}:${AWS::AccountId}:subnet/*' },
      ]),
    /ec2:RunInstances on subnet resources is not expected/,
  ],
  [
    'the verifier launching untagged instances',
    (x) => void delete stmt(x, 'VerifyRole', 'LaunchOnlyTaggedTestInstances').Condition,
    /ec2:RunInstances on .*instance\/\* lacks its conditions/,
  ],
  [
    'the verifier sending its command to any instance',
    (x) => void delete stmt(x, 'VerifyRole', 'ToTestInstancesOnly').Condition,
    /ssm:SendCommand on .*instance\/\* lacks its conditions/,
  ],
  [
    'TerminateInstances of any opted-in instance, replaced or not',
    (x) => {
      const s = x.Resources.RecoverTerminateReplacedPolicy!.Properties!.PolicyDocument.Statement[0];
      s.Condition.Null = { 'aws:ResourceTag/ami-lifecycle:recover': 'false', 'aws:ResourceTag/ami-lifecycle:lineage': 'false' };
    },
    /ec2:TerminateInstances on .* lacks its conditions/,
  ],
  [
    'logs of every function',
    (x) =>
      void (stmt(x, 'BakeRole', 'WriteOwnLogs').Resource = {
        'Fn::Sub': 'arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:*',
      }),
    /logs:PutLogEvents on .*log-group:\*/,
  ],
  [
    "another function's dead-letter queue",
    (x) => void (stmt(x, 'ScheduleRole', 'SendFailedInvocationsToOwnDlq').Resource = { 'Fn::GetAtt': ['RecoverDlq', 'Arn'] }),
    /sqs:SendMessage on <RecoverDlq.Arn>/,
  ],
  // delivery
  [
    'a rule target without retry policy',
    (x) => void delete ruleTarget(x, 'RecoverLambdaFunction').RetryPolicy,
    /target has no retry policy/,
  ],
  [
    'a rule target without dead-letter queue',
    (x) => void delete ruleTarget(x, 'RecoverLambdaFunction').DeadLetterConfig,
    /target's dead-letter queue is not RecoverDlq/,
  ],
  [
    'a schedule without dead-letter queue',
    (x) => void delete x.Resources.ScheduleSchedulerSchedule1!.Properties!.Target.DeadLetterConfig,
    /ScheduleSchedulerSchedule1: dead-letter queue is not ScheduleDlq/,
  ],
  [
    'a schedule without retry policy',
    (x) => void delete x.Resources.RotateSchedulerSchedule1!.Properties!.Target.RetryPolicy,
    /RotateSchedulerSchedule1: no retry policy/,
  ],
  [
    'no on-failure destination',
    (x) => void (x.Resources.RotateLambdaEvConf!.Properties!.DestinationConfig = {}),
    /Rotate: on-failure destination is not RotateDlq/,
  ],
  ['a dead-letter queue without alarm', (x) => void delete x.Resources.RecoverDlqAlarm, /RecoverDlq: no alarm/],
  ['an unencrypted queue', (x) => void delete x.Resources.BakeDlq!.Properties!.SqsManagedSseEnabled, /BakeDlq: not encrypted/],
  [
    'a queue open to any rule',
    (x) => void delete x.Resources.RecoverDlqPolicy!.Properties!.PolicyDocument.Statement[1].Condition,
    /other than EventBridge rules/,
  ],
  [
    'a scheduler role that can do more',
    (x) =>
      (x.Resources.ScheduleSchedulerRole!.Properties!.Policies as any[])[0].PolicyDocument.Statement.push({
        Effect: 'Allow',
        Action: 'ec2:*',
        Resource: '*',
      }),
    /ScheduleSchedulerSchedule1: role ScheduleSchedulerRole allows/,
  ],
  [
    'a Lambda role the scheduler may assume',
    (x) =>
      void (x.Resources.BakeRole!.Properties!.AssumeRolePolicyDocument.Statement[0].Principal.Service = [
        'lambda.amazonaws.com',
        'scheduler.amazonaws.com',
      ]),
    /Bake: role BakeRole trusts .*scheduler/,
  ],
  [
    'an unbounded bake function',
    (x) => void delete x.Resources.BakeEventSourceMappingSQSBakeQueue!.Properties!.ScalingConfig,
    /bake: its queue has no maximum concurrency/,
  ],
  [
    'one bake at a time, under the least maximum concurrency Lambda takes (2)',
    (x) => void (x.Resources.BakeEventSourceMappingSQSBakeQueue!.Properties!.ScalingConfig.MaximumConcurrency = 1),
    /bake: maximum concurrency 1 is outside 2\.\.5/,
  ],
  [
    'more bakes at once than EC2 refills mutating calls',
    (x) => void (x.Resources.BakeEventSourceMappingSQSBakeQueue!.Properties!.ScalingConfig.MaximumConcurrency = 6),
    /bake: maximum concurrency 6 is outside 2\.\.5/,
  ],
  [
    'a reservation a new account cannot deploy',
    (x) => void (x.Resources.BakeLambdaFunction!.Properties!.ReservedConcurrentExecutions = 2),
    /BakeLambdaFunction: reserves concurrency/,
  ],
  [
    'an image-state queue hiding records for less than six function timeouts',
    (x) => void (x.Resources.ImageStateQueue!.Properties!.VisibilityTimeout = 700),
    /ImageStateQueue: visibility timeout 700 s is under six times the function's 120 s/,
  ],
  [
    'an image-state queue that drops what fails',
    (x) => void delete x.Resources.ImageStateQueue!.Properties!.RedrivePolicy,
    /ImageStateQueue: does not redrive/,
  ],
  [
    'an image-state queue open to any rule',
    (x) => void delete x.Resources.ImageStateQueuePolicy!.Properties!.PolicyDocument.Statement[1].Condition,
    /other than the queue's own rules/,
  ],
  [
    'an image-state mapping that fails the whole batch for one record',
    (x) => void delete x.Resources.ImageStateEventSourceMappingSQSImageStateQueue!.Properties!.FunctionResponseTypes,
    /ImageState: its event source mapping does not report batch item failures/,
  ],
  [
    'a batch over 10 with no batching window (Lambda refuses it)',
    (x) => void delete x.Resources.ImageStateEventSourceMappingSQSImageStateQueue!.Properties!.MaximumBatchingWindowInSeconds,
    /ImageState: a batch of 100 needs a batching window of at least 1 s/,
  ],
  [
    'a batch past 10,000 records',
    (x) => void (x.Resources.ImageStateEventSourceMappingSQSImageStateQueue!.Properties!.BatchSize = 10_001),
    /ImageState: batch size 10001 is outside 1\.\.10000/,
  ],
  [
    'a batching window past 300 s',
    (x) => void (x.Resources.ImageStateEventSourceMappingSQSImageStateQueue!.Properties!.MaximumBatchingWindowInSeconds = 301),
    /ImageState: batching window 301 s is outside 0\.\.300/,
  ],
  [
    'an image-state rule target without dead-letter queue',
    (x) => void delete x.Resources.ImageStateRule!.Properties!.Targets[0].DeadLetterConfig,
    /ImageStateRule: target's dead-letter queue is not ImageStateDlq/,
  ],
  [
    'a bake queue that drops what fails',
    (x) => void delete x.Resources.BakeQueue!.Properties!.RedrivePolicy,
    /BakeQueue: does not redrive/,
  ],
  [
    'a bake queue hiding records for less than six function timeouts',
    (x) => void (x.Resources.BakeQueue!.Properties!.VisibilityTimeout = 60),
    /BakeQueue: visibility timeout 60 s/,
  ],
  [
    'a bake queue open to any rule',
    (x) => void delete x.Resources.BakeQueuePolicy!.Properties!.PolicyDocument.Statement[1].Condition,
    /other than the queue's own rules/,
  ],
  [
    'a bake rule target without dead-letter queue',
    (x) => void delete x.Resources.BakeRule!.Properties!.Targets[0].DeadLetterConfig,
    /BakeRule: target's dead-letter queue is not BakeDlq/,
  ],
  // metrics and alarms
  ['no alarm on stale lineages', (x) => void delete x.Resources.LineageWithoutGoodImageAlarm, /no alarm on LineagesWithoutGoodImage/],
  ['no alarm on skipped rotation steps', (x) => void delete x.Resources.RotationFailuresAlarm, /no alarm on RotationFailures/],
  [
    'SSM parameters readable outside the reference check',
    (x) => void delete stmt(x, 'RotateRole', 'LetTheImageReferenceCheckReadParameters').Condition,
    /LetTheImageReferenceCheckReadParameters: ssm:GetParameters is only for ec2-images.amazonaws.com/,
  ],
  [
    'no alarm on images the reference check could not clear',
    (x) => void delete x.Resources.ImagesKeptUnverifiedAlarm,
    /no alarm on ImagesKeptUnverified/,
  ],
  [
    // Issue 19: the daily run's adoption could re-tag the stack's own images (or another stack's) as good.
    'adoption that may tag a managed image',
    (x) =>
      void delete x.Resources.RotateAdoptionPolicy!.Properties!.PolicyDocument.Statement.at(-1).Condition.Null[
        'aws:ResourceTag/ami-lifecycle:managed-by'
      ],
    /AdoptUnmanagedImagesAndSnapshots.*ec2:CreateTags on .* lacks its conditions/,
  ],
  [
    'a reference check without its SSM permission',
    (x) => void (stmt(x, 'RotateRole', 'LetTheImageReferenceCheckListWhatMayReferenceImages').Action = ['ec2:DescribeLaunchTemplates']),
    /Rotate: role lacks .*ssm:DescribeParameters/,
  ],
  [
    'an alarm that treats silence as failure',
    (x) => void (x.Resources.RecoveryFailedAlarm!.Properties!.TreatMissingData = 'breaching'),
    /RecoveryFailedAlarm: TreatMissingData is breaching/,
  ],
  [
    'a sum that missing data hides',
    (x) => void (x.Resources.BakeFailuresAlarm!.Properties!.Metrics[0].Expression = 'refused + failed'),
    /no alarm on ImageBakesFailed \+ ImagesFailed/,
  ],
  [
    'metrics under another service name',
    (x) => void (x.Resources.RotateLambdaFunction!.Properties!.Environment.Variables.POWERTOOLS_SERVICE_NAME = 'ami-lifecycle'),
    /Rotate: POWERTOOLS_SERVICE_NAME/,
  ],
  [
    'alarm actions always on',
    (x) => void (x.Resources.BakeDlqAlarm!.Properties!.AlarmActions = [{ Ref: 'AlarmTopicArn' }]),
    /BakeDlqAlarm: AlarmActions/,
  ],
];

describe('the checks fail when one edit widens the template', () => {
  it('the packaged template passes every check', () => {
    expect(checkTemplate(t, SPEC)).toEqual([]);
  });

  it.each(mutations)('%s', (_, mutate, finding) => {
    const widened = clone();
    mutate(widened);
    const problems = checkTemplate(widened, SPEC);
    expect(
      problems.some((p) => finding.test(p)),
      `expected a finding like ${finding} among:\n${problems.join('\n')}`,
    ).toBe(true);
  });
});

// ---- cfn-lint -------------------------------------------------------------------------------

const cfnLint = await run('cfn-lint', ['--version']).then(
  () => true,
  () => false,
);

describe('cfn-lint', () => {
  it.skipIf(!cfnLint)(
    'finds nothing in the packaged template',
    async () => {
      const result = await run('cfn-lint', [packaged.templatePath]).then(
        () => ({ code: 0, output: '' }),
        (error: { code?: number; stdout?: string; stderr?: string }) => ({
          code: error.code ?? 1,
          output: `${error.stdout ?? ''}${error.stderr ?? ''}`,
        }),
      );
      expect(result.output).toBe('');
      expect(result.code).toBe(0);
    },
    120_000,
  );
});
