/**
 * IAM on every call: a proxy link that maps a request's access key to the function that
 * signed it (identity.ts), builds every authorization AWS makes for the request
 * (authorizations.ts), evaluates each against the function's role with iam-simulate, and
 * answers a refusal as AWS does (denial.ts). Allowed requests go on towards moto signed
 * with the caller's original key. Requests with a key no function owns pass unevaluated
 * (they act as an administrator: the test's own setup, the CLI).
 *
 * Decisions are cached by their whole input (role, action, resource, context): the same
 * input always gets the same decision, and a changed tag is a changed input. Tags and
 * other state are read from moto for each request, never kept across requests.
 * TEST-ONLY.
 */
import { GetInstanceProfileCommand, IAMClient } from '@aws-sdk/client-iam';
import { AutoScalingClient, DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import {
  DescribeAddressesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSnapshotsCommand,
  DescribeVolumesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeSecurityGroupsCommand,
  DescribeSubnetsCommand,
  DescribeTagsCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import type { Interceptor, ProxiedRequest, ProxiedResponse } from '../proxy/chain.js';
import { restOperationOf } from '../api-model/index.js';
import { isRestJsonRequest } from '../proxy/request.js';
import {
  authorizationsFor,
  iamPrefixOf,
  type ApiCall,
  type Authorization,
  type Described,
  type Partitioned,
  type StateLookups,
} from './authorizations.js';
import { denialMessage, denialResponse, type DenialReason } from './denial.js';
import { callerKeyOf, functionAccessKey } from './identity.js';
import { defaultKeyPolicy } from './key-policy.js';
import { registerEnforcer, unregisterEnforcer } from './report.js';
import { credentialOf, withAccessKey } from '../sigv4.js';
import type { FunctionRole } from './template.js';

/** A call refused by IAM, as recorded for the test. */
export interface Denial {
  /** The deployed function name. */
  function: string;
  /** The IAM action refused (may be one AWS checks on the caller's behalf, e.g. iam:PassRole). */
  action: string;
  resource: string;
  /** AWS's reason sentence. */
  reason: string;
  /** The API call that was refused, e.g. ec2:RunInstances. */
  call: string;
  context: Record<string, string | string[]>;
}

export interface IamCounts {
  /** Authorizations evaluated (one API call makes one or more). */
  evaluated: number;
  /** API calls refused. */
  denied: number;
  /** Of those, denials a test planted and expected (see expectDenials). */
  planted: number;
  /** Milliseconds spent building and evaluating authorizations, moto lookups included, summed over calls (they overlap). */
  ms: number;
}

/** A function's role, and the session ARN AWS names in a refusal. */
type Identity = FunctionRole & { principalArn: string };

const DEFAULT_KEY = 'testing';
/** Put on a request the enforcer passes on: which function made it (see authorizeOnBehalf). */
export const FUNCTION_HEADER = 'x-ami-lifecycle-function';
const MAX_CACHED_DECISIONS = 50_000;
/** AMI_LIFECYCLE_IAM_TRACE=1 prints every authorization and its decision. */
const TRACE = process.env.AMI_LIFECYCLE_IAM_TRACE === '1';

export class IamEnforcer {
  private readonly byKey = new Map<string, Identity>();
  private readonly decisions = new Map<string, 'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied'>();
  private readonly iam: IAMClient;
  private readonly autoscaling: AutoScalingClient;
  private evaluatedCount = 0;
  private spentMs = 0;
  private readonly recorded: Denial[] = [];
  /** Denials the checks (report.ts) have seen; the rest are new. */
  checkedUpTo = 0;
  /** Denials the current test says it plants (see expectDenials); undefined: none expected. */
  expected: number | undefined;
  /** Denials the checks found planted as expected. */
  planted = 0;

  constructor(
    roles: FunctionRole[],
    motoEndpoint: string,
    private readonly where: Partitioned,
  ) {
    this.setRoles(roles);
    this.iam = new IAMClient({
      endpoint: motoEndpoint,
      region: where.region,
      credentials: { accessKeyId: DEFAULT_KEY, secretAccessKey: DEFAULT_KEY },
    });
    this.autoscaling = new AutoScalingClient({
      endpoint: motoEndpoint,
      region: where.region,
      credentials: { accessKeyId: DEFAULT_KEY, secretAccessKey: DEFAULT_KEY },
    });
    registerEnforcer(this);
  }

  /** The roles the functions run with from now on (a harness test plants a defect this way, then puts them back). */
  setRoles(roles: FunctionRole[]): void {
    this.byKey.clear();
    this.decisions.clear();
    for (const role of roles) {
      this.byKey.set(functionAccessKey(role.functionName), {
        ...role,
        principalArn: `arn:${this.where.partition}:sts::${this.where.account}:assumed-role/${role.roleName}/${role.functionName}`,
      });
    }
  }

  /** The role a function runs with, by its serverless.yml key (bake, recover, ...). */
  role(functionKey: string): FunctionRole | undefined {
    return [...this.byKey.values()].find((r) => r.functionKey === functionKey);
  }

  counts(): IamCounts {
    return { evaluated: this.evaluatedCount, denied: this.recorded.length, planted: this.planted, ms: Math.round(this.spentMs) };
  }

  /** Every denial so far, oldest first. */
  denials(): Denial[] {
    return [...this.recorded];
  }

  /** The current test plants `n` denials: the after-test check expects exactly that many new ones. */
  expectDenials(n: number): void {
    this.expected = n;
  }

  close(): void {
    this.iam.destroy();
    this.autoscaling.destroy();
    unregisterEnforcer(this);
  }

  readonly interceptor: Interceptor = async (request, next, context) => {
    const started = performance.now();
    const verdict = await this.evaluate(request, context.ec2For.bind(context));
    this.spentMs += performance.now() - started;
    return 'status' in verdict ? verdict : next(verdict.forward);
  };

  /** A refusal to answer with, or the request to pass on (signed with the caller's own key). */
  private async evaluate(
    request: ProxiedRequest,
    ec2For: (r: ProxiedRequest) => EC2Client,
  ): Promise<ProxiedResponse | { forward: ProxiedRequest }> {
    const credential = credentialOf(request.headers.authorization);
    const identity = credential ? this.byKey.get(credential.accessKeyId) : undefined;
    if (!credential || !identity || request.url.startsWith('/moto-api/') || request.action === undefined) return { forward: request };
    // moto and the later links see the caller's own key, as before.
    const original = callerKeyOf(credential.accessKeyId) ?? DEFAULT_KEY;
    const restored: ProxiedRequest = {
      ...request,
      headers: {
        ...request.headers,
        authorization: withAccessKey(request.headers.authorization!, original),
        [FUNCTION_HEADER]: identity.functionName,
      },
    };
    const signingName = credential.service;
    const restJson = isRestJsonRequest(request);
    const routed = restJson ? restOperationOf(request) : undefined;
    const call: ApiCall = {
      service: iamPrefixOf(signingName),
      action: request.action,
      ...(request.form ? { form: request.form } : {}),
      ...(typeof request.headers['x-amz-target'] === 'string' && request.body.length > 0
        ? { json: JSON.parse(request.body.toString('utf8')) as Record<string, unknown> }
        : {}),
      // A rest-json body is JSON only where the operation has no blob payload (Lambda's Invoke does).
      ...(restJson ? jsonObjectOf(request.body) : {}),
      ...(routed ? { rest: { labels: routed.labels, query: new URL(request.url, 'http://proxy').searchParams } } : {}),
    };
    // The region the request is sent to (issue 17: the copy function acts in other regions than the stack's).
    const where = { ...this.where, region: credential.region || this.where.region };
    // A client of moto in another region (CopyImage's source), with the caller's key.
    const inRegion = (region: string) =>
      ec2For({
        ...restored,
        headers: {
          ...restored.headers,
          authorization: restored.headers.authorization!.replace(/(Credential=[^/]+\/\d{8}\/)[^/]+\//, `$1${region}/`),
        },
      });
    const lookups = new MotoLookups(ec2For(restored), this.iam, where.region, this.autoscaling, inRegion);
    const authorizations = await authorizationsFor(call, lookups, where);
    for (const authorization of authorizations) {
      const decision = await this.decide(identity, authorization);
      if (TRACE)
        console.info(
          `[iam] ${identity.functionKey} ${decision} ${authorization.action} ${authorization.resource} ${JSON.stringify(authorization.context)}`,
        );
      if (decision === 'Allowed') continue;
      // EC2 resolves the resources a request names before it authorizes them: one that does
      // not exist is answered InvalidXxx.NotFound (moto's answer), not UnauthorizedOperation.
      const named = authorization.ec2Resource;
      if (named && !(await lookups.ec2Exists(named.type, named.id))) return { forward: restored };
      const reason = this.record(identity, authorization, decision, `${iamPrefixOf(signingName)}:${request.action}`);
      return denialResponse(signingName, reason, restJson);
    }
    return { forward: restored };
  }

  /**
   * For a later link that closes a gap (e.g. DescribeImageReferences): the authorizations AWS
   * makes on the caller's behalf, evaluated against the role of the function that made the
   * request. Returns the first refused one (recorded as a denial of `call`), or undefined when
   * all are allowed or no function made the request (an administrator's call).
   */
  async authorizeOnBehalf(request: ProxiedRequest, call: string, authorizations: Authorization[]): Promise<Authorization | undefined> {
    const functionName = request.headers[FUNCTION_HEADER];
    const identity = [...this.byKey.values()].find((r) => r.functionName === functionName);
    if (!identity) return undefined;
    for (const authorization of authorizations) {
      const decision = await this.decide(identity, authorization);
      if (decision === 'Allowed') continue;
      this.record(identity, authorization, decision, call);
      return authorization;
    }
    return undefined;
  }

  /**
   * What EC2 does with the KMS keys of encrypted volumes when it launches for the caller: it
   * uses them with the caller's rights, through EC2 ("Requirements for Amazon EBS encryption":
   * kms:CreateGrant for an AWS resource, Decrypt, DescribeKey, GenerateDataKeyWithoutPlaintext;
   * https://docs.aws.amazon.com/ebs/latest/userguide/ebs-encryption-requirements.html). A refusal
   * is recorded as a denial of the launch; EC2 then ends the instance (Client.InternalError).
   */
  async kmsOnBehalf(request: ProxiedRequest, keyArns: string[]): Promise<string | undefined> {
    const via = { 'kms:ViaService': `ec2.${this.where.region}.amazonaws.com`, 'aws:ViaAWSService': 'true' };
    const authorizations = keyArns.flatMap((key): Authorization[] => [
      { action: 'kms:CreateGrant', resource: key, context: { ...via, 'kms:GrantIsForAWSResource': 'true' }, onBehalfOf: 'RunInstances' },
      ...['kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext'].map((action) => ({
        action,
        resource: key,
        context: via,
        onBehalfOf: 'RunInstances',
      })),
    ]);
    const refused = await this.authorizeOnBehalf(request, 'RunInstances', authorizations);
    return refused ? `EC2 may not use KMS key ${refused.resource} for the caller: ${refused.action}` : undefined;
  }

  /** Records a refusal of `call` and returns AWS's reason for it. */
  private record(
    identity: Identity,
    authorization: Authorization,
    decision: 'ImplicitlyDenied' | 'ExplicitlyDenied',
    call: string,
  ): DenialReason {
    const reason: DenialReason = {
      principalArn: identity.principalArn,
      authorization,
      kind: decision === 'ExplicitlyDenied' ? 'explicit' : 'implicit',
    };
    this.recorded.push({
      function: identity.functionName,
      action: authorization.action,
      resource: authorization.resource,
      reason: denialMessage(reason),
      call,
      context: authorization.context,
    });
    return reason;
  }

  private async decide(identity: FunctionRole, a: Authorization): Promise<'Allowed' | 'ImplicitlyDenied' | 'ExplicitlyDenied'> {
    this.evaluatedCount++;
    const key = JSON.stringify([identity.roleArn, a.action, a.resource, Object.entries(a.context).sort(([x], [y]) => (x < y ? -1 : 1))]);
    const cached = this.decisions.get(key);
    if (cached !== undefined) return cached;
    const result = await runSimulation(
      {
        identityPolicies: identity.policies.map((p) => ({ name: p.name, policy: p.document })),
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        request: {
          principal: `arn:${this.where.partition}:sts::${this.where.account}:assumed-role/${identity.roleName}/${identity.functionName}`,
          action: a.action,
          resource: { resource: a.resource, accountId: this.where.account },
          contextVariables: a.context,
        },
        // A KMS key decides through its key policy too: the default one, which defers to IAM.
        ...(a.action.startsWith('kms:') ? { resourcePolicy: defaultKeyPolicy(this.where.partition, this.where.account) } : {}),
      },
      {},
    );
    if (result.resultType === 'error') {
      throw new Error(`IAM: iam-simulate refused to evaluate ${a.action} on ${a.resource}: ${JSON.stringify(result.errors)}`);
    }
    const decision = result.overallResult;
    if (this.decisions.size >= MAX_CACHED_DECISIONS) this.decisions.clear();
    this.decisions.set(key, decision);
    return decision;
  }
}

/** `{ json }` for a body that is a JSON object, else nothing. */
function jsonObjectOf(body: Buffer): { json?: Record<string, unknown> } {
  if (body.length === 0) return {};
  try {
    const value: unknown = JSON.parse(body.toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? { json: value as Record<string, unknown> } : {};
  } catch {
    return {};
  }
}

/** Whether an EC2 resource exists, by type (moto answers NotFound or an empty list for one that does not). */
const EXISTENCE: Record<string, (ec2: EC2Client, id: string) => Promise<boolean>> = {
  instance: async (ec2, id) => ((await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations ?? []).length > 0,
  image: async (ec2, id) =>
    ((await ec2.send(new DescribeImagesCommand({ ImageIds: [id] }))).Images ?? []).some((i) => i.State !== 'deregistered'),
  snapshot: async (ec2, id) => ((await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [id] }))).Snapshots ?? []).length > 0,
  'launch-template': async (ec2, id) =>
    ((await ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [id] }))).LaunchTemplates ?? []).length > 0,
  'elastic-ip': async (ec2, id) => ((await ec2.send(new DescribeAddressesCommand({ AllocationIds: [id] }))).Addresses ?? []).length > 0,
  volume: async (ec2, id) => ((await ec2.send(new DescribeVolumesCommand({ VolumeIds: [id] }))).Volumes ?? []).length > 0,
};

const tagsOf = (tags: Array<{ Key?: string; Value?: string }> | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).flatMap((t) => (t.Key === undefined ? [] : [[t.Key, t.Value ?? '']])));

/** The keys the SAR lists for existing images, instances and snapshots, from one describe call. */
const DESCRIBED: Record<string, (ec2: EC2Client, ids: string[], region: string) => Promise<Map<string, Described>>> = {
  image: async (ec2, ids) => {
    const out = new Map<string, Described>();
    for (const i of (await ec2.send(new DescribeImagesCommand({ ImageIds: ids }))).Images ?? []) {
      if (!i.ImageId || i.State === 'deregistered') continue;
      const keys: Record<string, string> = { 'ec2:Owner': i.ImageOwnerAlias ?? i.OwnerId ?? '', 'ec2:Public': String(i.Public ?? false) };
      if (i.ImageType) keys['ec2:ImageType'] = i.ImageType;
      if (i.RootDeviceType) keys['ec2:RootDeviceType'] = i.RootDeviceType;
      out.set(i.ImageId, { tags: tagsOf(i.Tags), keys });
    }
    return out;
  },
  instance: async (ec2, ids) => {
    const out = new Map<string, Described>();
    const { Reservations = [] } = await ec2.send(new DescribeInstancesCommand({ InstanceIds: ids }));
    for (const i of Reservations.flatMap((r) => r.Instances ?? [])) {
      if (!i.InstanceId) continue;
      const keys: Record<string, string> = { 'ec2:InstanceMarketType': i.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand' };
      if (i.InstanceType) keys['ec2:InstanceType'] = i.InstanceType;
      if (i.Placement?.AvailabilityZone) keys['ec2:AvailabilityZone'] = i.Placement.AvailabilityZone;
      if (i.Placement?.Tenancy) keys['ec2:Tenancy'] = i.Placement.Tenancy;
      if (i.RootDeviceType) keys['ec2:RootDeviceType'] = i.RootDeviceType;
      if (i.EbsOptimized !== undefined) keys['ec2:EbsOptimized'] = String(i.EbsOptimized);
      if (i.IamInstanceProfile?.Arn) keys['ec2:InstanceProfile'] = i.IamInstanceProfile.Arn;
      if (i.MetadataOptions?.HttpTokens) keys['ec2:MetadataHttpTokens'] = i.MetadataOptions.HttpTokens;
      if (i.MetadataOptions?.HttpEndpoint) keys['ec2:MetadataHttpEndpoint'] = i.MetadataOptions.HttpEndpoint;
      if (i.MetadataOptions?.HttpPutResponseHopLimit !== undefined)
        keys['ec2:MetadataHttpPutResponseHopLimit'] = String(i.MetadataOptions.HttpPutResponseHopLimit);
      out.set(i.InstanceId, { tags: tagsOf(i.Tags), keys });
    }
    return out;
  },
  snapshot: async (ec2, ids, region) => {
    const out = new Map<string, Described>();
    for (const s of (await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: ids }))).Snapshots ?? []) {
      if (!s.SnapshotId) continue;
      const keys: Record<string, string> = { 'ec2:Owner': s.OwnerAlias ?? s.OwnerId ?? '', 'ec2:Encrypted': String(s.Encrypted ?? false) };
      if (s.VolumeSize !== undefined) keys['ec2:VolumeSize'] = String(s.VolumeSize);
      if (s.StartTime) keys['ec2:SnapshotTime'] = s.StartTime.toISOString();
      if (s.VolumeId && s.OwnerId) keys['ec2:ParentVolume'] = `arn:aws:ec2:${region}:${s.OwnerId}:volume/${s.VolumeId}`;
      out.set(s.SnapshotId, { tags: tagsOf(s.Tags), keys });
    }
    return out;
  },
};

/** State lookups made directly against moto (not through the proxy), memoised for one request. */
class MotoLookups implements StateLookups {
  private readonly memo = new Map<string, Promise<unknown>>();

  constructor(
    private readonly ec2: EC2Client,
    private readonly iam: IAMClient,
    private readonly region: string,
    private readonly autoscaling: AutoScalingClient,
    private readonly inRegion?: (region: string) => EC2Client,
  ) {}

  /** Issue 17: an image of another region (CopyImage's source), as ec2Described reads it in its own. */
  async imageIn(region: string, imageId: string): Promise<Described | undefined> {
    if (region === this.region || !this.inRegion) return (await this.ec2Described('image', [imageId]))?.get(imageId);
    return this.once(`image-in:${region}:${imageId}`, async () => {
      try {
        return (await DESCRIBED.image!(this.inRegion!(region), [imageId], region)).get(imageId);
      } catch (error) {
        if (/NotFound|Malformed/.test(String((error as { name?: string }).name))) return undefined;
        throw error;
      }
    });
  }

  autoScalingGroup(name: string): Promise<{ arn: string; tags: Record<string, string> } | undefined> {
    return this.once(`asg:${name}`, async () => {
      const out = await this.autoscaling.send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [name] }));
      const g = out.AutoScalingGroups?.[0];
      if (!g?.AutoScalingGroupARN) return undefined;
      return { arn: g.AutoScalingGroupARN, tags: Object.fromEntries((g.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? ''])) };
    });
  }

  private once<T>(key: string, load: () => Promise<T>): Promise<T> {
    let value = this.memo.get(key) as Promise<T> | undefined;
    if (value === undefined) {
      value = load();
      this.memo.set(key, value);
    }
    return value;
  }

  ec2Tags(ids: string[]): Promise<Map<string, Record<string, string>>> {
    return this.once(`tags:${[...ids].sort().join(',')}`, async () => {
      const out = new Map<string, Record<string, string>>();
      let NextToken: string | undefined;
      do {
        const page = await this.ec2.send(
          new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: ids }], MaxResults: 1000, NextToken }),
        );
        for (const t of page.Tags ?? []) {
          if (!t.ResourceId || t.Key === undefined) continue;
          out.set(t.ResourceId, { ...out.get(t.ResourceId), [t.Key]: t.Value ?? '' });
        }
        NextToken = page.NextToken;
      } while (NextToken);
      return out;
    });
  }

  ec2Described(type: string, ids: string[]): Promise<Map<string, Described> | undefined> {
    const describe = DESCRIBED[type];
    if (!describe) return Promise.resolve(undefined);
    return this.once(`described:${type}:${[...ids].sort().join(',')}`, async () => {
      try {
        return await describe(this.ec2, ids, this.region);
      } catch (error) {
        if (!/NotFound|Malformed/.test(String((error as { name?: string }).name))) throw error;
        if (ids.length === 1) return new Map<string, Described>();
        // One id that does not exist fails the whole call: describe them one by one.
        const out = new Map<string, Described>();
        for (const id of ids) for (const [k, v] of (await this.ec2Described(type, [id])) ?? []) out.set(k, v);
        return out;
      }
    });
  }

  launchTemplateId(name: string): Promise<string | undefined> {
    return this.once(`lt:${name}`, async () => {
      try {
        const out = await this.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [name] }));
        return out.LaunchTemplates?.[0]?.LaunchTemplateId;
      } catch (error) {
        if (String((error as { name?: string }).name).startsWith('InvalidLaunchTemplateName')) return undefined;
        throw error;
      }
    });
  }

  instanceNetwork(instanceId: string) {
    return this.once(`net:${instanceId}`, async () => {
      try {
        const out = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
        const instance = out.Reservations?.[0]?.Instances?.[0];
        if (!instance) return undefined;
        const primary = (instance.NetworkInterfaces ?? []).find((n) => n.Attachment?.DeviceIndex === 0) ?? instance.NetworkInterfaces?.[0];
        return { networkInterfaceId: primary?.NetworkInterfaceId, subnetId: instance.SubnetId, vpcId: instance.VpcId };
      } catch (error) {
        if (String((error as { name?: string }).name).startsWith('InvalidInstanceID')) return undefined;
        throw error;
      }
    });
  }

  defaultSubnet(availabilityZone?: string) {
    return this.once(`subnet:${availabilityZone ?? ''}`, async () => {
      const Filters = [
        { Name: 'default-for-az', Values: ['true'] },
        ...(availabilityZone ? [{ Name: 'availability-zone', Values: [availabilityZone] }] : []),
      ];
      const out = await this.ec2.send(new DescribeSubnetsCommand({ Filters }));
      const subnet = [...(out.Subnets ?? [])].sort((a, b) => String(a.AvailabilityZone).localeCompare(String(b.AvailabilityZone)))[0];
      return subnet?.SubnetId && subnet.VpcId ? { subnetId: subnet.SubnetId, vpcId: subnet.VpcId } : undefined;
    });
  }

  securityGroupIds(names: string[], vpcId: string | undefined): Promise<string[]> {
    return this.once(`sg:${names.join(',')}:${vpcId ?? ''}`, async () => {
      const Filters = [
        { Name: 'group-name', Values: names.length > 0 ? names : ['default'] },
        ...(vpcId ? [{ Name: 'vpc-id', Values: [vpcId] }] : []),
      ];
      const out = await this.ec2.send(new DescribeSecurityGroupsCommand({ Filters }));
      return (out.SecurityGroups ?? []).flatMap((g) => (g.GroupId ? [g.GroupId] : []));
    });
  }

  ec2Exists(type: string, id: string): Promise<boolean> {
    return this.once(`exists:${id}`, async () => {
      const describe = EXISTENCE[type];
      if (!describe) return true; // not checked: evaluated as if it existed
      try {
        return await describe(this.ec2, id);
      } catch (error) {
        if (/NotFound|Malformed/.test(String((error as { name?: string }).name))) return false;
        throw error;
      }
    });
  }

  roleOfInstanceProfile(profile: { arn?: string; name?: string }): Promise<string | undefined> {
    const name = profile.name ?? profile.arn?.split('/').pop();
    return this.once(`profile:${name}`, async () => {
      if (!name) return undefined;
      try {
        const out = await this.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
        return out.InstanceProfile?.Roles?.[0]?.Arn;
      } catch (error) {
        if ((error as { name?: string }).name === 'NoSuchEntity' || (error as { name?: string }).name === 'NoSuchEntityException')
          return undefined;
        throw error;
      }
    });
  }
}
