/**
 * The rules the packaged CloudFormation template must keep: least privilege per function,
 * delivery (retries, dead-letter queues and their alarms), the bake function's concurrency
 * bound and the alarms on the service's metrics. Each check returns the problems it finds as
 * plain sentences, so that a test can assert none on the real template and at least one on a
 * template a single edit has widened (template-rules.test.ts does both).
 *
 * Values are compared by shape: pseudo parameters filled in with fixed values, references
 * kept as `<Name.Attribute>`, so that `!GetAtt BakeDlq.Arn` and `!Sub '${BakeDlq.Arn}'` read
 * the same and an ARN can be taken apart.
 */
import { TAG } from '../../shared/domain/tags.js';

// ---- the template ---------------------------------------------------------------------------

export interface Resource {
  Type: string;
  Properties?: Record<string, any>;
  Condition?: string;
  DependsOn?: string | string[];
}

export interface Template {
  Parameters?: Record<string, { Default?: unknown }>;
  Conditions?: Record<string, unknown>;
  Resources: Record<string, Resource>;
  Outputs?: Record<string, unknown>;
}

/** The values pseudo parameters take when shapes are compared. */
export const PSEUDO = { partition: 'aws', region: 'us-east-1', account: '123456789012' } as const;

const pseudo: Record<string, string> = {
  'AWS::Partition': PSEUDO.partition,
  'AWS::Region': PSEUDO.region,
  'AWS::AccountId': PSEUDO.account,
};

/** A CloudFormation value with pseudo parameters filled in and references as `<Name>` / `<Name.Attr>`. */
export function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape);
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const [k] = keys as [string];
    const v = o[k];
    if (k === 'Ref') return pseudo[String(v)] ?? `<${String(v)}>`;
    if (k === 'Fn::GetAtt') return `<${Array.isArray(v) ? v.join('.') : String(v)}>`;
    if (k === 'Fn::Sub') {
      const [text, vars] = Array.isArray(v) ? [String(v[0]), (v[1] ?? {}) as Record<string, unknown>] : [String(v), {}];
      return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) =>
        name in vars ? String(shape(vars[name])) : (pseudo[name] ?? `<${name}>`),
      );
    }
    if (k === 'Fn::Join' && Array.isArray(v)) return (shape(v[1]) as unknown[]).map(String).join(String(v[0]));
  }
  return Object.fromEntries(Object.entries(o).map(([key, val]) => [key, shape(val)]));
}

const str = (value: unknown): string => String(shape(value));
const list = <T>(value: T | T[] | undefined): T[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

function ofType(t: Template, type: string): Array<[string, Resource]> {
  return Object.entries(t.Resources).filter(([, r]) => r.Type === type);
}

// ---- IAM statements -------------------------------------------------------------------------

/** Operator -> key (lower case) -> values, as strings. */
export type Conditions = Record<string, Record<string, string[]>>;

export interface Stmt {
  /** Where it is: role / policy / Sid. */
  where: string;
  effect: string;
  actions: string[];
  resources: string[];
  principals: string[];
  condition: Conditions;
  /** Set if the statement uses NotAction, NotResource or NotPrincipal. */
  negated: boolean;
  /** The CloudFormation condition the statement's policy resource exists under, if any. */
  when?: string;
}

function normaliseConditions(raw: unknown): Conditions {
  const out: Conditions = {};
  for (const [op, body] of Object.entries((shape(raw) ?? {}) as Record<string, Record<string, unknown>>)) {
    const keys: Record<string, string[]> = {};
    for (const [key, val] of Object.entries(body ?? {})) keys[key.toLowerCase()] = list(val).map((v) => String(v));
    out[op.toLowerCase()] = keys;
  }
  return out;
}

export function statementsOf(document: unknown, where: string, when?: string): Stmt[] {
  const doc = document as { Statement?: unknown };
  return list(doc?.Statement as Record<string, unknown>[] | Record<string, unknown>).map((s, i) => {
    const principal = s.Principal;
    const principals =
      principal === undefined
        ? []
        : typeof principal === 'string'
          ? [principal]
          : Object.values(principal as Record<string, unknown>).flatMap((p) => list(p).map(str));
    return {
      where: `${where}/${String(s.Sid ?? `#${i}`)}`,
      effect: String(s.Effect),
      actions: list(s.Action as string | string[]).map(String),
      resources: list(s.Resource).map(str),
      principals,
      condition: normaliseConditions(s.Condition),
      negated: 'NotAction' in s || 'NotResource' in s || 'NotPrincipal' in s,
      ...(when ? { when } : {}),
    };
  });
}

export interface RoleView {
  id: string;
  trust: Stmt[];
  statements: Stmt[];
  managedPolicyArns: unknown[];
}

/** A role with every statement that applies to it: inline, and policy resources that name it. */
export function roleView(t: Template, id: string): RoleView {
  const role = t.Resources[id];
  const props = role?.Properties ?? {};
  const statements = list(props.Policies as Array<{ PolicyName: string; PolicyDocument: unknown }>).flatMap((p) =>
    statementsOf(p.PolicyDocument, `${id}/${p.PolicyName}`),
  );
  for (const [pid, r] of Object.entries(t.Resources)) {
    if (!['AWS::IAM::Policy', 'AWS::IAM::ManagedPolicy', 'AWS::IAM::RolePolicy'].includes(r.Type)) continue;
    const names = [...list(r.Properties?.Roles), ...list(r.Properties?.RoleName)].map(str);
    if (names.includes(`<${id}>`)) statements.push(...statementsOf(r.Properties?.PolicyDocument, pid, r.Condition));
  }
  return {
    id,
    trust: statementsOf(props.AssumeRolePolicyDocument, `${id}/trust`),
    statements,
    managedPolicyArns: list(props.ManagedPolicyArns),
  };
}

/** The Lambda functions by their osls name (Schedule, Bake, ...), with their role's logical id. */
export function functionsOf(t: Template): Array<{ key: string; id: string; name: string; role: string; resource: Resource }> {
  return ofType(t, 'AWS::Lambda::Function').map(([id, resource]) => {
    const role = str(resource.Properties?.Role).match(/^<([^.>]+)\.Arn>$/)?.[1] ?? str(resource.Properties?.Role);
    return { key: id.replace(/LambdaFunction$/, ''), id, name: String(resource.Properties?.FunctionName), role, resource };
  });
}

// ---- what each function may do --------------------------------------------------------------

export interface Spec {
  managedBy: string;
  eventBusName: string;
  /** params.recoveryPassRoles as packaged. */
  passRoles: string;
  /** Exactly the actions each function's role allows (functions by their osls name). */
  actions: Record<string, string[]>;
  /** The ami-lifecycle:status values each function may write. */
  statusValues: Record<string, string[]>;
  /** Upper bound on the bakes at once (the bake queue's maximum concurrency). */
  maxBakeConcurrency: number;
  /** params.promoteParameterPrefix as packaged: the only SSM parameters promotion writes. */
  promoteParameterPrefix?: string;
  /**
   * Actions a function's role holds only for another service to use on its behalf, by function:
   * each statement allowing one must say `aws:CalledVia` is that service, and only that; but for
   * statements under the CloudFormation condition `unlessCondition`, where the function reads them itself.
   */
  onlyVia?: Record<string, { service: string; actions: string[]; unlessCondition?: string }>;
  /** The verification subnet and security group ARNs (params.verifySubnetId, verifySecurityGroupId), as packaged. */
  verifyNetwork?: string[];
  /** The verification command's document ARNs (params.verifyCommandDocument: AWS's own, or the account's), as packaged. */
  verifyDocuments?: string[];
}

const isReadOnly = (action: string) => /^[a-z0-9-]+:(Describe|Get|List)[A-Za-z]*$/.test(action);

type Pred = { says: string; holds: (c: Conditions) => boolean };
const values = (c: Conditions, op: string, key: string) => c[op.toLowerCase()]?.[key.toLowerCase()];
const equalsExactly = (op: string, key: string, expected: string[]): Pred => ({
  says: `${op} ${key} = ${expected.join('|')}`,
  holds: (c) => {
    const v = values(c, op, key);
    return !!v && v.length === expected.length && v.every((x) => expected.includes(x));
  },
});
const present = (key: string): Pred => equalsExactly('Null', key, ['false']);
const absent = (key: string): Pred => equalsExactly('Null', key, ['true']);
const within = (op: string, key: string, allowed: readonly string[]): Pred => ({
  says: `${op} ${key} within ${allowed.join('|')}`,
  holds: (c) => {
    const v = values(c, op, key);
    return !!v && v.length > 0 && v.every((x) => allowed.includes(x));
  },
});
/** aws:TagKeys within the list, and present (ForAllValues alone also holds for no keys at all). */
const tagKeysWithin = (keys: readonly string[]): Pred => {
  const a = within('ForAllValues:StringEquals', 'aws:TagKeys', keys);
  const b = present('aws:TagKeys');
  return { says: `${a.says} and ${b.says}`, holds: (c) => a.holds(c) && b.holds(c) };
};

interface Context {
  spec: Spec;
  fn: string;
}
type Alternatives = Pred[][];
/** By resource type; `also`: resources of this template named exactly (a role's Fn::GetAtt), under their own conditions. */
type ResourceRule =
  | { types: Record<string, Alternatives>; also?: { exact: (ctx: Context) => string[]; when: Alternatives } }
  | { exact: (ctx: Context) => string[]; when?: Alternatives };

const NONE: Alternatives = [[]];

/**
 * Every action a role may hold other than read-only ones, with the resources it may name and
 * the conditions each needs (any one list of them). A resource type or an action not listed
 * here is a finding.
 */
function rules(ctx: Context): Record<string, ResourceRule & { cfnCondition?: string }> {
  const { managedBy } = ctx.spec;
  const requestManaged = equalsExactly('StringEquals', `aws:RequestTag/${TAG.managedBy}`, [managedBy]);
  const resourceManaged = equalsExactly('StringEquals', `aws:ResourceTag/${TAG.managedBy}`, [managedBy]);
  const createAction = (a: string) => equalsExactly('StringEquals', 'ec2:CreateAction', [a]);
  const copiesAnywhere = (type: 'image' | 'snapshot') => ({
    exact: () => [`arn:aws:ec2:*::${type}/*`],
    when: [[resourceManaged, equalsExactly('StringEquals', `aws:ResourceTag/${TAG.sourceRegion}`, [PSEUDO.region])]],
  });
  const statusOfManaged = [
    resourceManaged,
    // The verifier writes the failure's reason with the status, in one CreateTags.
    tagKeysWithin(ctx.fn === 'Verify' ? [TAG.status, TAG.failure] : [TAG.status]),
    within('StringEquals', `aws:RequestTag/${TAG.status}`, ctx.spec.statusValues[ctx.fn] ?? []),
  ];
  const imageOrSnapshotTags: Alternatives = [
    // Issue 17: the copy function tags its copies at CopyImage, bake its images at CreateImage.
    [createAction(ctx.fn === 'Copy' ? 'CopyImage' : 'CreateImage'), requestManaged],
    statusOfManaged,
  ];
  // Rotation stamps a vanished lineage's last known policy on an image of this stack, and its sharing step
  // the digest of what it applied: those keys only.
  const retainOfManaged = [resourceManaged, tagKeysWithin([TAG.retain, TAG.shared])];
  // Issue 19: the daily run's adoption (params.adoptFilters) tags unmanaged images and snapshots as the
  // stack's: this managed-by and status=good in the request, adoption's keys only, its record present,
  // on resources carrying no managed-by yet (cli/operator-policy.ts has the operator's same statement).
  const adoption = [
    requestManaged,
    equalsExactly('StringEquals', `aws:RequestTag/${TAG.status}`, ['good']),
    tagKeysWithin([TAG.managedBy, TAG.lineage, TAG.retain, TAG.status, TAG.adopted]),
    absent(`aws:ResourceTag/${TAG.managedBy}`),
    present(`aws:RequestTag/${TAG.adopted}`),
  ];
  const replacement = [present(`aws:RequestTag/${TAG.replaces}`), present(`aws:RequestTag/${TAG.lineage}`)];
  // A verification's test instance: role=verification and this stack's managed-by (issue 15).
  const testInstance = (prefix: string) => [
    equalsExactly('StringEquals', `${prefix}/${TAG.role}`, ['verification']),
    equalsExactly('StringEquals', `${prefix}/${TAG.managedBy}`, [managedBy]),
  ];
  const launched = ctx.fn === 'Verify' ? testInstance('aws:RequestTag') : replacement;
  // The fleet's KMS keys (params.kmsKeyArns), only through EC2 in this region, grants only for AWS resources.
  const fleetKeys = () => ['<KmsKeyArns>'];
  const viaEc2 = equalsExactly('StringEquals', 'kms:ViaService', [`ec2.${PSEUDO.region}.amazonaws.com`]);
  // Issue 17: a copy is encrypted by EC2 in its destination region: through EC2 in any region.
  const viaAnyEc2 = equalsExactly('StringLike', 'kms:ViaService', ['ec2.*.amazonaws.com']);
  const kmsThroughEc2 = { exact: fleetKeys, when: [[ctx.fn === 'Copy' ? viaAnyEc2 : viaEc2]], cfnCondition: 'UsesKmsKeys' };
  const ownDlq = () => [`<${ctx.fn}Dlq.Arn>`];
  const ownQueue = () => [`<${ctx.fn}Queue.Arn>`];
  const ownLogGroup = () => [`<${ctx.fn}LogGroup.Arn>`];
  const statusAlarms = () => [`arn:aws:cloudwatch:${PSEUDO.region}:${PSEUDO.account}:alarm:${managedBy}-status-*`];
  const ownSchedules = ctx.fn === 'Verify' ? 'verify' : 'recheck';
  const recheckSchedules = () => [`arn:aws:scheduler:${PSEUDO.region}:${PSEUDO.account}:schedule/default/${managedBy}-${ownSchedules}-*`];
  // Promotion (issue 16): templates and groups the operator tagged promotable=true, parameters under the prefix.
  const promotable = equalsExactly('StringEquals', `aws:ResourceTag/${TAG.promotable}`, ['true']);
  const promotedOfManaged = [resourceManaged, tagKeysWithin([TAG.promoted])];
  const promoteParameters = () => [
    `arn:aws:ssm:${PSEUDO.region}:${PSEUDO.account}:parameter${ctx.spec.promoteParameterPrefix ?? '/ami-lifecycle/'}*`,
  ];
  const groups = () => [`arn:aws:autoscaling:${PSEUDO.region}:${PSEUDO.account}:autoScalingGroup:*:autoScalingGroupName/*`];
  return {
    // Issue 17: a copy is created with this stack's tag; its source is an image of this account (the
    // Service Authorization Reference offers no aws:ResourceTag for CopyImage's source).
    'ec2:CopyImage': {
      types: { image: [[requestManaged], [equalsExactly('StringEquals', 'ec2:Owner', [PSEUDO.account])]], snapshot: [[requestManaged]] },
    },
    'ec2:CreateImage': {
      types: { instance: [[present(`aws:ResourceTag/${TAG.bake}`)]], image: [[requestManaged]], snapshot: [[requestManaged]] },
    },
    'ec2:CreateTags': {
      types: {
        image:
          ctx.fn === 'Rotate'
            ? [...imageOrSnapshotTags, retainOfManaged, adoption]
            : ctx.fn === 'Promote'
              ? [promotedOfManaged]
              : imageOrSnapshotTags,
        snapshot: ctx.fn === 'Rotate' ? [...imageOrSnapshotTags, adoption] : imageOrSnapshotTags,
        instance: [
          [createAction('RunInstances')],
          [present(`aws:ResourceTag/${TAG.bake}`), tagKeysWithin([TAG.lineage, TAG.captured])],
          // Recovery's records on an opted-in instance: its replacement, its reboot, when maintenance was first seen.
          [present(`aws:ResourceTag/${TAG.recover}`), tagKeysWithin([TAG.replacedBy, TAG.rebootedAt, TAG.maintenanceSince])],
        ],
        volume: [
          [createAction('RunInstances')],
          // A following volume, tagged with where it goes just before it moves (issue 14).
          [equalsExactly('StringEquals', `aws:ResourceTag/${TAG.exclude}`, ['follow']), tagKeysWithin([TAG.follows])],
        ],
        'launch-template': [
          [createAction('CreateLaunchTemplate'), requestManaged],
          // Issue 17: the DR capture's digest and what stayed home, on this stack's captures only.
          ...(ctx.fn === 'Copy' ? [[resourceManaged, tagKeysWithin([TAG.captureDigest, TAG.leftBehind])]] : []),
        ],
        'elastic-ip': [[tagKeysWithin([TAG.lineage])]],
      },
    },
    // Issue 17: the copies in destination regions, any region, but only this stack's copies of this region's images.
    'ec2:DeregisterImage': { types: { image: [[resourceManaged]] }, also: copiesAnywhere('image') },
    'ec2:EnableImageDeprecation': { types: { image: [[resourceManaged]] } },
    'ec2:DeleteSnapshot': { types: { snapshot: [[resourceManaged]] }, also: copiesAnywhere('snapshot') },
    // The sharing step (issue 16): launch permissions of managed images; managed snapshots shared with accounts, never a group (all).
    'ec2:ModifyImageAttribute': { types: { image: [[resourceManaged]] } },
    'ec2:ModifySnapshotAttribute': { types: { snapshot: [[resourceManaged, absent('ec2:Add/group')]] } },
    'ec2:CreateLaunchTemplate': { types: { 'launch-template': [[requestManaged]] } },
    // Bake versions the templates it created; promotion only those the operator marked promotable.
    'ec2:CreateLaunchTemplateVersion': { types: { 'launch-template': [[ctx.fn === 'Promote' ? promotable : resourceManaged]] } },
    'ec2:ModifyLaunchTemplate': { types: { 'launch-template': [[promotable]] } },
    'ssm:PutParameter': { exact: promoteParameters },
    'autoscaling:StartInstanceRefresh': { exact: groups, when: [[promotable]] },
    'ec2:DeleteLaunchTemplateVersions': { types: { 'launch-template': [[resourceManaged]] } },
    // Not mutating, but it returns user data, which may hold secrets.
    'ec2:DescribeInstanceAttribute': { types: { instance: [[present(`aws:ResourceTag/${TAG.bake}`)]] } },
    'ec2:RunInstances': {
      // The verifier's subnet and security group, named exactly (params): nowhere else.
      also: { exact: () => (ctx.fn === 'Verify' ? (ctx.spec.verifyNetwork ?? []) : []), when: NONE },
      types: {
        image: [[resourceManaged]],
        instance: [launched],
        volume: [launched],
        'network-interface': NONE,
        // The verifier's subnet and security group are named exactly (also, above), never any.
        ...(ctx.fn === 'Verify' ? {} : { subnet: NONE, 'security-group': NONE }),
        'key-pair': NONE,
        // The captured placement group, used not changed; the spot request a spot replacement's launch creates.
        'placement-group': NONE,
        'spot-instances-request': NONE,
      },
    },
    // The source/destination check turned off after the launch: replacements only.
    'ec2:ModifyInstanceAttribute': { types: { instance: [[present(`aws:ResourceTag/${TAG.replaces}`)]] } },
    'ec2:AssociateAddress': {
      types: {
        'elastic-ip': [[present(`aws:ResourceTag/${TAG.lineage}`)]],
        instance: [[present(`aws:ResourceTag/${TAG.lineage}`)]],
        'network-interface': NONE,
      },
    },
    // A following data volume moves between the lineage's instances: volumes tagged exclude=follow only (issue 14).
    ...Object.fromEntries(
      ['ec2:DetachVolume', 'ec2:AttachVolume'].map((action) => [
        action,
        {
          types: {
            volume: [[equalsExactly('StringEquals', `aws:ResourceTag/${TAG.exclude}`, ['follow'])]],
            instance: [[present(`aws:ResourceTag/${TAG.lineage}`)]],
          },
        },
      ]),
    ),
    // An instance check failing is answered with a reboot first; a replaced instance that still runs is
    // stopped to free its following volumes (issue 14): opted-in instances only.
    'ec2:RebootInstances': { types: { instance: [[present(`aws:ResourceTag/${TAG.recover}`)]] } },
    'ec2:StopInstances': { types: { instance: [[present(`aws:ResourceTag/${TAG.recover}`)]] } },
    // The one-time schedules of deferred recoveries: this stack's names in the default group only.
    'scheduler:CreateSchedule': { exact: recheckSchedules },
    'scheduler:UpdateSchedule': { exact: recheckSchedules },
    'ec2:TerminateInstances':
      ctx.fn === 'Verify'
        ? // The verifier ends its own test instances only.
          { types: { instance: [testInstance('aws:ResourceTag')] } }
        : {
            // Only what recovery replaced (it writes replaced-by just before), not every opted-in instance.
            types: { instance: [[present(`aws:ResourceTag/${TAG.recover}`), present(`aws:ResourceTag/${TAG.replacedBy}`)]] },
            cfnCondition: 'TerminatesReplaced',
          },
    // The verification command: the configured document only, to test instances only.
    'ssm:SendCommand': {
      also: { exact: () => ctx.spec.verifyDocuments ?? [], when: NONE },
      types: { instance: [testInstance('ssm:resourceTag')] },
    },
    'iam:PassRole': {
      // The recover function's scheduler role, only to Scheduler: the role its recheck schedules run as.
      also: {
        exact: () => (ctx.fn === 'Recover' || ctx.fn === 'Verify' ? [`<${ctx.fn}SchedulerRole.Arn>`] : []),
        when: [[equalsExactly('StringEquals', 'iam:PassedToService', ['scheduler.amazonaws.com'])]],
      },
      types: {
        [`role/${ctx.spec.passRoles}`]:
          ctx.fn === 'Bake' || ctx.fn === 'Copy'
            ? // A launch template naming an instance profile (the capture, the DR capture): passed to EC2, no instance yet.
              [[equalsExactly('StringEquals', 'iam:PassedToService', ['ec2.amazonaws.com'])]]
            : [
                [
                  equalsExactly('StringEquals', 'iam:PassedToService', ['ec2.amazonaws.com']),
                  equalsExactly('ArnLike', 'iam:AssociatedResourceArn', [`arn:aws:ec2:${PSEUDO.region}:${PSEUDO.account}:instance/*`]),
                ],
              ],
      },
    },
    'kms:Decrypt': kmsThroughEc2,
    'kms:DescribeKey': kmsThroughEc2,
    'kms:GenerateDataKeyWithoutPlaintext': kmsThroughEc2,
    'kms:ReEncryptFrom': kmsThroughEc2,
    'kms:ReEncryptTo': kmsThroughEc2,
    'kms:Encrypt': kmsThroughEc2,
    'kms:CreateGrant': {
      exact: fleetKeys,
      when: [[ctx.fn === 'Copy' ? viaAnyEc2 : viaEc2, equalsExactly('Bool', 'kms:GrantIsForAWSResource', ['true'])]],
      cfnCondition: 'UsesKmsKeys',
    },
    'cloudwatch:PutMetricAlarm': { exact: statusAlarms },
    'cloudwatch:DeleteAlarms': { exact: statusAlarms },
    'cloudwatch:TagResource': { exact: statusAlarms },
    'events:PutEvents': { exact: () => ['<EventBus.Arn>'] },
    'sqs:SendMessage': { exact: ownDlq },
    // The event source mapping of a function fed by a queue polls it with the function's role.
    'sqs:ReceiveMessage': { exact: ownQueue },
    'sqs:DeleteMessage': { exact: ownQueue },
    'sqs:GetQueueAttributes': { exact: ownQueue },
    'logs:CreateLogStream': { exact: ownLogGroup },
    'logs:PutLogEvents': { exact: ownLogGroup },
  };
}

/** The resource type an ARN names, if it is of this account and region (else a finding). */
function resourceType(arn: string, anyRegion = false): { type?: string; problem?: string } {
  if (arn === '*') return { type: '*' };
  const m = /^arn:aws:([a-z0-9-]+):([^:]*):([^:]*):(.+)$/.exec(arn);
  if (!m) return { problem: `${arn} is not an ARN` };
  const [, service, region, account, rest] = m as unknown as [string, string, string, string, string];
  if (service === 'iam') {
    if (account !== PSEUDO.account) return { problem: `${arn} is not of this account` };
    return { type: rest };
  }
  const type = rest.split('/')[0]!;
  // Issue 17: the copy function makes images and snapshots, and the DR captures (launch templates),
  // in the regions the operator names.
  const copyInAnyRegion =
    anyRegion && region === '*' && service === 'ec2' && (type === 'image' || type === 'snapshot' || type === 'launch-template');
  if (region !== PSEUDO.region && !copyInAnyRegion) return { problem: `${arn} is not of this region` };
  // Image and snapshot ARNs carry no account; everything else must carry this one.
  const noAccount = service === 'ec2' && (type === 'image' || type === 'snapshot');
  if (noAccount ? account !== '' : account !== PSEUDO.account) return { problem: `${arn} is not of this account` };
  if (!rest.endsWith('/*') && !/\/[a-z]+-[0-9a-f]+$/.test(rest)) return { problem: `${arn} names an unexpected resource` };
  return { type };
}

/** Least privilege of one function's role. */
export function checkRole(t: Template, spec: Spec, fn: string, roleId: string): string[] {
  const problems: string[] = [];
  const role = roleView(t, roleId);
  const ctx: Context = { spec, fn };
  const table = rules(ctx);
  if (!t.Resources[roleId] || t.Resources[roleId]!.Type !== 'AWS::IAM::Role')
    problems.push(`${fn}: role ${roleId} is not a role of this template`);
  if (role.managedPolicyArns.length > 0)
    problems.push(`${fn}: role ${roleId} has managed policies ${JSON.stringify(role.managedPolicyArns)}`);
  const trusted = role.trust.filter((s) => s.effect === 'Allow').flatMap((s) => s.principals);
  if (trusted.length !== 1 || trusted[0] !== 'lambda.amazonaws.com')
    problems.push(`${fn}: role ${roleId} trusts ${trusted.join(', ')}, not Lambda alone`);

  const allowed = new Set<string>();
  for (const s of role.statements) {
    if (s.effect !== 'Allow') continue;
    if (s.negated) problems.push(`${s.where}: NotAction/NotResource in an Allow statement`);
    for (const action of s.actions) {
      allowed.add(action);
      if (action.includes('*')) problems.push(`${s.where}: wildcard action ${action}`);
      const rule = table[action];
      if (!rule) {
        // Read-only actions (EC2's Describe* cannot be scoped) are checked by the exact action set alone.
        if (!isReadOnly(action)) problems.push(`${s.where}: ${action} has no rule here (a mutating action nobody reviewed)`);
        continue;
      }
      if (rule.cfnCondition && s.when !== rule.cfnCondition) {
        problems.push(`${s.where}: ${action} must only exist under the CloudFormation condition ${rule.cfnCondition}`);
      }
      for (const resource of s.resources) {
        if ('exact' in rule) {
          if (!rule.exact(ctx).includes(resource))
            problems.push(`${s.where}: ${action} on ${resource}, expected ${rule.exact(ctx).join(' or ')}`);
          else if (rule.when && !rule.when.some((preds) => preds.every((p) => p.holds(s.condition)))) {
            problems.push(
              `${s.where}: ${action} on ${resource} lacks its conditions (any of: ${rule.when.map((preds) => preds.map((p) => p.says).join(' and ')).join('; ')})`,
            );
          }
          continue;
        }
        if (rule.also?.exact(ctx).includes(resource)) {
          if (!rule.also.when.some((preds) => preds.every((p) => p.holds(s.condition))))
            problems.push(
              `${s.where}: ${action} on ${resource} lacks its conditions (${rule.also.when.map((p) => p.map((x) => x.says).join(' and ')).join('; ')})`,
            );
          continue;
        }
        const { type, problem } = resourceType(resource, fn === 'Copy');
        if (problem) {
          problems.push(`${s.where}: ${action}: ${problem}`);
          continue;
        }
        if (type === '*') {
          problems.push(`${s.where}: mutating action ${action} on '*'`);
          continue;
        }
        const alternatives = rule.types[type!];
        if (!alternatives) {
          problems.push(`${s.where}: ${action} on ${type} resources is not expected`);
          continue;
        }
        if (!alternatives.some((preds) => preds.every((p) => p.holds(s.condition)))) {
          problems.push(
            `${s.where}: ${action} on ${resource} lacks its conditions (any of: ${alternatives.map((preds) => preds.map((p) => p.says).join(' and ') || 'none').join('; ')})`,
          );
        }
      }
    }
    // No mutating action on '*', with or without a condition: only reads are unscoped.
    if (s.resources.includes('*')) {
      for (const action of s.actions) if (!isReadOnly(action)) problems.push(`${s.where}: ${action} on '*'`);
    }
  }

  const via = spec.onlyVia?.[fn];
  if (via) {
    const calledVia = equalsExactly('ForAnyValue:StringEquals', 'aws:CalledVia', [via.service]);
    for (const s of role.statements) {
      if (s.effect !== 'Allow' || (via.unlessCondition !== undefined && s.when === via.unlessCondition)) continue;
      for (const action of s.actions.filter((a) => via.actions.includes(a))) {
        if (!calledVia.holds(s.condition))
          problems.push(`${s.where}: ${action} is only for ${via.service} to use on the function's behalf, but lacks ${calledVia.says}`);
      }
    }
    // Each one granted for that service, whatever a conditional statement also grants the function itself.
    const forTheService = role.statements.filter((s) => s.effect === 'Allow' && calledVia.holds(s.condition)).flatMap((s) => s.actions);
    for (const action of via.actions.filter((a) => !forTheService.includes(a))) {
      problems.push(`${fn}: role lacks ${action} for ${via.service} to use on the function's behalf`);
    }
  }

  const expected = new Set(spec.actions[fn] ?? []);
  const extra = [...allowed].filter((a) => !expected.has(a)).sort();
  const missing = [...expected].filter((a) => !allowed.has(a)).sort();
  if (extra.length > 0) problems.push(`${fn}: role allows ${extra.join(', ')} beyond what the function uses`);
  if (missing.length > 0) problems.push(`${fn}: role lacks ${missing.join(', ')}, which the function uses`);
  return problems;
}

/** Every function has a role of its own, checked by checkRole; nothing else runs with a function's role. */
export function checkLeastPrivilege(t: Template, spec: Spec): string[] {
  const problems: string[] = [];
  const fns = functionsOf(t);
  const names = fns.map((f) => f.key).sort();
  const expected = Object.keys(spec.actions).sort();
  if (names.join() !== expected.join()) problems.push(`functions ${names.join(', ')} differ from the expected ${expected.join(', ')}`);
  if (t.Resources.IamRoleLambdaExecution) problems.push('the shared osls role IamRoleLambdaExecution exists');
  const byRole = new Map<string, string[]>();
  for (const f of fns) byRole.set(f.role, [...(byRole.get(f.role) ?? []), f.key]);
  for (const [role, users] of byRole) if (users.length > 1) problems.push(`role ${role} is shared by ${users.join(', ')}`);
  for (const f of fns) problems.push(...checkRole(t, spec, f.key, f.role));
  return problems;
}

// ---- delivery -------------------------------------------------------------------------------

const hasRetryPolicy = (p: unknown) => {
  const r = p as { MaximumEventAgeInSeconds?: unknown; MaximumRetryAttempts?: unknown } | undefined;
  return typeof r?.MaximumEventAgeInSeconds === 'number' && typeof r?.MaximumRetryAttempts === 'number';
};

function alarmActionsProblems(where: string, props: Record<string, any>): string[] {
  const expected = { 'Fn::If': ['HasAlarmTopic', [{ Ref: 'AlarmTopicArn' }], { Ref: 'AWS::NoValue' }] };
  const problems: string[] = [];
  for (const key of ['AlarmActions', 'OKActions']) {
    if (JSON.stringify(props[key]) !== JSON.stringify(expected)) problems.push(`${where}: ${key} is not the optional alarm topic`);
  }
  return problems;
}

const zeroThresholdAlarm = (where: string, p: Record<string, any>): string[] => {
  const problems: string[] = [];
  if (p.Threshold !== 0 || p.ComparisonOperator !== 'GreaterThanThreshold') problems.push(`${where}: not "> 0"`);
  if (p.TreatMissingData !== 'notBreaching') problems.push(`${where}: TreatMissingData is ${String(p.TreatMissingData)}`);
  if (!(p.EvaluationPeriods >= 1)) problems.push(`${where}: no EvaluationPeriods`);
  return [...problems, ...alarmActionsProblems(where, p)];
};

/** Rule and schedule ARNs the way EventBridge names them in aws:SourceArn. */
function ruleArn(rule: Resource, spec: Spec): string {
  const bus = rule.Properties?.EventBusName === undefined ? 'default' : str(rule.Properties.EventBusName);
  const busName = bus === '<EventBus.Name>' ? spec.eventBusName : bus;
  const path = busName === 'default' ? `rule/${String(rule.Properties?.Name)}` : `rule/${busName}/${String(rule.Properties?.Name)}`;
  return `arn:aws:events:${PSEUDO.region}:${PSEUDO.account}:${path}`;
}

/**
 * Every function is invoked asynchronously (scheduler or rule): each has its own dead-letter
 * queue, as Lambda's on-failure destination and as its rules' and schedules' dead-letter
 * queue, with retry policies, a queue policy that admits only its rules, and an alarm.
 */
/** The spec checkDelivery runs with, for the helpers that name rules by ARN. */
const SPEC_FOR_RULES: { current?: Spec } = {};

export function checkDelivery(t: Template, spec: Spec): string[] {
  SPEC_FOR_RULES.current = spec;
  const problems: string[] = [];
  for (const f of functionsOf(t)) {
    const dlqId = `${f.key}Dlq`;
    const dlqArn = `<${dlqId}.Arn>`;
    const fnArn = `<${f.id}.Arn>`;
    const queue = t.Resources[dlqId];
    const suffix = f.name.startsWith(`${spec.managedBy}-`) ? f.name.slice(spec.managedBy.length + 1) : f.name;
    if (queue?.Type !== 'AWS::SQS::Queue') {
      problems.push(`${f.key}: no dead-letter queue ${dlqId}`);
      continue;
    }
    const q = queue.Properties ?? {};
    if (q.QueueName !== `${spec.managedBy}-${suffix}-dlq`) problems.push(`${dlqId}: named ${String(q.QueueName)}`);
    if (q.SqsManagedSseEnabled !== true && !q.KmsMasterKeyId) problems.push(`${dlqId}: not encrypted at rest`);
    if (q.MessageRetentionPeriod !== 1209600) problems.push(`${dlqId}: keeps messages ${String(q.MessageRetentionPeriod)} s, not 14 days`);

    // Lambda's on-failure destination; for a function fed by a queue, that queue's redrive policy.
    const mapping = ofType(t, 'AWS::Lambda::EventSourceMapping').find(([, r]) => str(r.Properties?.FunctionName) === fnArn)?.[1];
    const sourceId = str(mapping?.Properties?.EventSourceArn).match(/^<([^.>]+)\.Arn>$/)?.[1];
    if (mapping) problems.push(...checkSourceQueue(t, f, sourceId, dlqArn));
    else {
      const evConf = ofType(t, 'AWS::Lambda::EventInvokeConfig').find(([, r]) => str(r.Properties?.FunctionName) === `<${f.id}>`)?.[1];
      if (str(evConf?.Properties?.DestinationConfig?.OnFailure?.Destination) !== dlqArn)
        problems.push(`${f.key}: on-failure destination is not ${dlqId}`);
    }
    const targetArns = new Set([fnArn, ...(sourceId ? [`<${sourceId}.Arn>`] : [])]);

    // The queue's alarm.
    const alarms = ofType(t, 'AWS::CloudWatch::Alarm').filter(
      ([, r]) =>
        r.Properties?.Namespace === 'AWS/SQS' &&
        r.Properties?.MetricName === 'ApproximateNumberOfMessagesVisible' &&
        list(r.Properties?.Dimensions).some((d: any) => d.Name === 'QueueName' && str(d.Value) === `<${dlqId}.QueueName>`),
    );
    if (alarms.length === 0) problems.push(`${dlqId}: no alarm on ApproximateNumberOfMessagesVisible`);
    for (const [id, a] of alarms) problems.push(...zeroThresholdAlarm(id, a.Properties ?? {}));

    // The queue policy: TLS only; events.amazonaws.com only for this function's rules.
    const policies = ofType(t, 'AWS::SQS::QueuePolicy').filter(([, r]) => list(r.Properties?.Queues).map(str).includes(`<${dlqId}>`));
    const queueStatements = policies.flatMap(([id, r]) => statementsOf(r.Properties?.PolicyDocument, id));
    if (!queueStatements.some((s) => s.effect === 'Deny' && values(s.condition, 'Bool', 'aws:SecureTransport')?.[0] === 'false')) {
      problems.push(`${dlqId}: its policy does not deny unencrypted transport`);
    }
    const admittedRules = new Set<string>();
    for (const s of queueStatements.filter((x) => x.effect === 'Allow')) {
      const sources = values(s.condition, 'ArnEquals', 'aws:SourceArn');
      if (s.principals.join() !== 'events.amazonaws.com' || s.actions.join() !== 'sqs:SendMessage' || !sources) {
        problems.push(
          `${s.where}: allows ${s.principals.join(', ')} ${s.actions.join(', ')} other than EventBridge rules by aws:SourceArn`,
        );
        continue;
      }
      for (const src of sources) admittedRules.add(src);
    }

    // Triggers: rules and schedules aimed at this function.
    let triggers = 0;
    const ownRules = new Set<string>();
    for (const [id, rule] of ofType(t, 'AWS::Events::Rule')) {
      for (const target of list(rule.Properties?.Targets) as Array<Record<string, unknown>>) {
        if (!targetArns.has(str(target.Arn))) continue;
        triggers++;
        const arn = ruleArn(rule, spec);
        ownRules.add(arn);
        if (!hasRetryPolicy(target.RetryPolicy)) problems.push(`${id}: target has no retry policy`);
        if (str((target.DeadLetterConfig as { Arn?: unknown } | undefined)?.Arn) !== dlqArn)
          problems.push(`${id}: target's dead-letter queue is not ${dlqId}`);
        if (!admittedRules.has(arn)) problems.push(`${dlqId}: its policy does not admit ${arn}`);
      }
    }
    for (const arn of admittedRules) if (!ownRules.has(arn)) problems.push(`${dlqId}: its policy admits ${arn}, not a rule of ${f.key}`);
    for (const [id, schedule] of ofType(t, 'AWS::Scheduler::Schedule')) {
      const target = (schedule.Properties?.Target ?? {}) as Record<string, unknown>;
      if (str(target.Arn) !== fnArn) continue;
      triggers++;
      if (!hasRetryPolicy(target.RetryPolicy)) problems.push(`${id}: no retry policy`);
      if (str((target.DeadLetterConfig as { Arn?: unknown } | undefined)?.Arn) !== dlqArn)
        problems.push(`${id}: dead-letter queue is not ${dlqId}`);
      problems.push(...checkSchedulerRole(t, id, str(target.RoleArn), fnArn, dlqArn, f.name));
    }
    if (triggers === 0) problems.push(`${f.key}: no rule or schedule invokes it`);
  }
  return problems;
}

/**
 * The queue a function polls: records that keep failing move to the function's dead-letter
 * queue; the visibility timeout is at least six times the function's timeout (Lambda asks it,
 * "Using Lambda with Amazon SQS"); encrypted, TLS only, and only the function's own rules may
 * send to it. The mapping reports batch item failures, so one failed record is not the batch's.
 */
function checkSourceQueue(
  t: Template,
  f: { key: string; id: string; resource: Resource },
  queueId: string | undefined,
  dlqArn: string,
): string[] {
  const queue = queueId ? t.Resources[queueId] : undefined;
  if (!queueId || queue?.Type !== 'AWS::SQS::Queue') return [`${f.key}: its event source is no queue of this template`];
  const problems: string[] = [];
  const q = queue.Properties ?? {};
  const mapping = ofType(t, 'AWS::Lambda::EventSourceMapping').find(
    ([, r]) => str(r.Properties?.EventSourceArn) === `<${queueId}.Arn>`,
  )![1];
  if (!list(mapping.Properties?.FunctionResponseTypes).includes('ReportBatchItemFailures'))
    problems.push(`${f.key}: its event source mapping does not report batch item failures`);
  // A standard queue's batch is 1 to 10,000 records, the window 0 to 300 s, and a batch over 10
  // needs a window of at least 1 s ("Lambda parameters for Amazon SQS event source mappings",
  // https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html; the Lambda API's
  // BatchSize and MaximumBatchingWindowInSeconds).
  const batch = Number(mapping.Properties?.BatchSize ?? 10);
  const window = Number(mapping.Properties?.MaximumBatchingWindowInSeconds ?? 0);
  if (!(Number.isInteger(batch) && batch >= 1 && batch <= 10_000)) problems.push(`${f.key}: batch size ${batch} is outside 1..10000`);
  if (!(Number.isInteger(window) && window >= 0 && window <= 300)) problems.push(`${f.key}: batching window ${window} s is outside 0..300`);
  if (batch > 10 && window < 1) problems.push(`${f.key}: a batch of ${batch} needs a batching window of at least 1 s`);
  // A FIFO queue redrives to a FIFO queue of its own (a rule's dead-letter queue must be a standard one): issue 17.
  const redriveArn = q.FifoQueue === true ? `<${queueId}Dlq.Arn>` : dlqArn;
  if (str(q.RedrivePolicy?.deadLetterTargetArn) !== redriveArn || !(q.RedrivePolicy?.maxReceiveCount >= 1))
    problems.push(`${queueId}: does not redrive to ${redriveArn}`);
  if (q.FifoQueue === true) {
    const fifoDlq = t.Resources[`${queueId}Dlq`]?.Properties ?? {};
    if (fifoDlq.FifoQueue !== true || fifoDlq.MessageRetentionPeriod !== 1209600)
      problems.push(`${queueId}Dlq: not a FIFO queue keeping 14 days`);
    if (q.ContentBasedDeduplication !== true) problems.push(`${queueId}: a FIFO rule target needs content-based deduplication`);
    const alarmed = ofType(t, 'AWS::CloudWatch::Alarm').some(([, r]) =>
      list(r.Properties?.Dimensions).some((d: any) => str(d.Value) === `<${queueId}Dlq.QueueName>`),
    );
    if (!alarmed) problems.push(`${queueId}Dlq: no alarm`);
  }
  const timeout = Number(f.resource.Properties?.Timeout ?? 6);
  if (!(q.VisibilityTimeout >= 6 * timeout))
    problems.push(`${queueId}: visibility timeout ${String(q.VisibilityTimeout)} s is under six times the function's ${timeout} s`);
  if (q.SqsManagedSseEnabled !== true && !q.KmsMasterKeyId) problems.push(`${queueId}: not encrypted at rest`);
  const statements = ofType(t, 'AWS::SQS::QueuePolicy')
    .filter(([, r]) => list(r.Properties?.Queues).map(str).includes(`<${queueId}>`))
    .flatMap(([id, r]) => statementsOf(r.Properties?.PolicyDocument, id));
  if (!statements.some((s) => s.effect === 'Deny' && values(s.condition, 'Bool', 'aws:SecureTransport')?.[0] === 'false')) {
    problems.push(`${queueId}: its policy does not deny unencrypted transport`);
  }
  const ownRules = ofType(t, 'AWS::Events::Rule')
    .filter(([, rule]) => (list(rule.Properties?.Targets) as Array<Record<string, unknown>>).some((x) => str(x.Arn) === `<${queueId}.Arn>`))
    .map(([, rule]) => rule);
  for (const s of statements.filter((x) => x.effect === 'Allow')) {
    const sources = values(s.condition, 'ArnEquals', 'aws:SourceArn') ?? [];
    const admitsOwnRulesOnly =
      sources.length > 0 && sources.every((src) => ownRules.some((rule) => ruleArn(rule, SPEC_FOR_RULES.current!) === src));
    if (s.principals.join() !== 'events.amazonaws.com' || s.actions.join() !== 'sqs:SendMessage' || !admitsOwnRulesOnly) {
      problems.push(
        `${s.where}: allows ${s.principals.join(', ')} ${s.actions.join(', ')} other than the queue's own rules by aws:SourceArn`,
      );
    }
  }
  return problems;
}

/** A schedule's execution role: assumed by the scheduler of this account alone, to invoke one function and fill its DLQ. */
function checkSchedulerRole(t: Template, scheduleId: string, roleArn: string, fnArn: string, dlqArn: string, fnName?: string): string[] {
  const problems: string[] = [];
  const id = /^<([^.>]+)\.Arn>$/.exec(roleArn)?.[1];
  if (!id || t.Resources[id]?.Type !== 'AWS::IAM::Role') return [`${scheduleId}: its role ${roleArn} is not a role of this template`];
  const role = roleView(t, id);
  const trust = role.trust.filter((s) => s.effect === 'Allow');
  if (
    trust.length !== 1 ||
    trust[0]!.principals.join() !== 'scheduler.amazonaws.com' ||
    values(trust[0]!.condition, 'StringEquals', 'aws:SourceAccount')?.join() !== PSEUDO.account
  ) {
    problems.push(`${scheduleId}: role ${id} is not assumable by this account's scheduler alone`);
  }
  if (role.managedPolicyArns.length > 0) problems.push(`${scheduleId}: role ${id} has managed policies`);
  const grants = role.statements
    .filter((s) => s.effect === 'Allow')
    .flatMap((s) => s.actions.flatMap((a) => s.resources.map((r) => `${a} ${r}${s.negated ? ' (negated)' : ''}`)))
    .sort();
  const expected = [`lambda:InvokeFunction ${fnArn}`, `sqs:SendMessage ${dlqArn}`].sort();
  // The same function by its name: a role the function's own environment names cannot use its Fn::GetAtt (a cycle).
  const byName = [
    `lambda:InvokeFunction arn:aws:lambda:${PSEUDO.region}:${PSEUDO.account}:function:${fnName}`,
    `sqs:SendMessage ${dlqArn}`,
  ].sort();
  if (grants.join('\n') !== expected.join('\n') && (!fnName || grants.join('\n') !== byName.join('\n')))
    problems.push(`${scheduleId}: role ${id} allows ${grants.join('; ')}, expected ${expected.join('; ')}`);
  return problems;
}

/**
 * The bakes running at once are bounded, small, and reserve nothing: the bake queue's event
 * source mapping has a maximum concurrency (2 at least, as Lambda allows), and no function
 * reserves concurrency, which a new account could not deploy (Lambda keeps 100 unreserved).
 */
// Lambda takes a maximum concurrency of 2 to 1,000 for an SQS event source ("Configuring maximum
// concurrency for Amazon SQS event sources", https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
export function checkConcurrency(t: Template, spec: Spec): string[] {
  const problems = ofType(t, 'AWS::Lambda::Function')
    .filter(([, r]) => r.Properties?.ReservedConcurrentExecutions !== undefined)
    .map(([id]) => `${id}: reserves concurrency, which a new account cannot deploy`);
  const mapping = ofType(t, 'AWS::Lambda::EventSourceMapping').find(
    ([, r]) => str(r.Properties?.FunctionName) === '<BakeLambdaFunction.Arn>',
  )?.[1];
  const bound = mapping?.Properties?.ScalingConfig?.MaximumConcurrency;
  if (typeof bound !== 'number' || !Number.isInteger(bound)) return [...problems, 'bake: its queue has no maximum concurrency'];
  if (bound < 2 || bound > spec.maxBakeConcurrency)
    problems.push(`bake: maximum concurrency ${bound} is outside 2..${spec.maxBakeConcurrency}`);
  return problems;
}

// ---- metrics and their alarms ---------------------------------------------------------------

export const METRICS_NAMESPACE = 'AmiLifecycle';

/** Alarms on the service's own metrics, each group of metrics in one alarm. */
export const METRIC_ALARMS: Array<{ metrics: string[]; stat: string }> = [
  { metrics: ['ImageBakesFailed', 'ImagesFailed'], stat: 'Sum' },
  { metrics: ['RecoveriesFailed'], stat: 'Sum' },
  { metrics: ['RecoveriesGaveUp'], stat: 'Sum' },
  { metrics: ['RotationFailures'], stat: 'Sum' },
  { metrics: ['ImagesKeptUnverified'], stat: 'Sum' },
  { metrics: ['LineagesWithoutGoodImage'], stat: 'Maximum' },
];

export function checkMetrics(t: Template, spec: Spec): string[] {
  const problems: string[] = [];
  for (const f of functionsOf(t)) {
    const env = f.resource.Properties?.Environment?.Variables ?? {};
    if (env.POWERTOOLS_SERVICE_NAME !== spec.managedBy)
      problems.push(`${f.key}: POWERTOOLS_SERVICE_NAME is ${String(env.POWERTOOLS_SERVICE_NAME)}`);
    if (env.POWERTOOLS_METRICS_NAMESPACE !== METRICS_NAMESPACE)
      problems.push(`${f.key}: POWERTOOLS_METRICS_NAMESPACE is ${String(env.POWERTOOLS_METRICS_NAMESPACE)}`);
  }
  const ours = (m: any) =>
    m?.Namespace === METRICS_NAMESPACE &&
    list(m?.Dimensions).length === 1 &&
    list(m?.Dimensions).every((d: any) => d.Name === 'service' && d.Value === spec.managedBy);
  for (const want of METRIC_ALARMS) {
    const found = ofType(t, 'AWS::CloudWatch::Alarm').find(([, a]) => {
      const p = a.Properties ?? {};
      if (want.metrics.length === 1) return ours(p) && p.MetricName === want.metrics[0] && p.Statistic === want.stat;
      const stats = list(p.Metrics).filter((m: any) => m.MetricStat);
      const names = stats
        .filter((m: any) => ours(m.MetricStat.Metric) && m.MetricStat.Stat === want.stat)
        .map((m: any) => m.MetricStat.Metric.MetricName);
      const expression = list(p.Metrics).find((m: any) => m.Expression && m.ReturnData !== false) as { Expression?: string } | undefined;
      const ids = stats.map((m: any) => String(m.Id));
      // Missing data in one metric must not hide the other: each is FILLed with 0.
      const filled = ids.every((id) => new RegExp(`FILL\\(\\s*${id}\\s*,\\s*0\\s*\\)`).test(expression?.Expression ?? ''));
      return names.length === want.metrics.length && want.metrics.every((n) => names.includes(n)) && filled;
    });
    if (!found) {
      problems.push(`no alarm on ${want.metrics.join(' + ')} (${want.stat}, ${METRICS_NAMESPACE}, service=${spec.managedBy})`);
      continue;
    }
    problems.push(...zeroThresholdAlarm(found[0], found[1].Properties ?? {}));
  }
  return problems;
}

/** Every rule above, in one list. */
export function checkTemplate(t: Template, spec: Spec): string[] {
  return [...checkLeastPrivilege(t, spec), ...checkDelivery(t, spec), ...checkConcurrency(t, spec), ...checkMetrics(t, spec)];
}
