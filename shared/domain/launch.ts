/**
 * The launch configuration of a lineage: what is captured from a healthy instance
 * (at its bakes) so that a replacement can be launched without describing an
 * instance that is already gone, and the replacement's launch specification and
 * identity (tags, generation, idempotency token). Pure.
 */
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { defineSchema, int, object, record } from './schema.js';
import { PREFIX, TAG, type Tags } from './tags.js';

/** One network interface of the instance, as a replacement creates it anew. */
export const NetworkInterfaceConfig = /* @__PURE__ */ defineSchema(() =>
  object({
    deviceIndex: v.pipe(int(), v.minValue(0)),
    networkCardIndex: v.optional(v.pipe(int(), v.minValue(0))),
    subnetId: v.optional(v.string()),
    securityGroupIds: v.array(v.string()),
    description: v.optional(v.string()),
    /** efa, efa-only, ... ; an ordinary interface has none. */
    interfaceType: v.optional(v.string()),
    /** The interface's primary private IPv4 address and its secondary ones, as they were. */
    privateIpAddress: v.optional(v.string()),
    secondaryPrivateIpAddresses: v.optional(v.array(v.string())),
    ipv6AddressCount: v.optional(v.pipe(int(), v.minValue(0))),
  }),
);
export type NetworkInterfaceConfig = v.InferOutput<typeof NetworkInterfaceConfig>;

/** Where an instance is placed within its zone: group, partition, tenancy, host. */
export const Placement = /* @__PURE__ */ defineSchema(() =>
  object({
    groupName: v.optional(v.string()),
    partitionNumber: v.optional(int()),
    tenancy: v.optional(v.string()),
    hostId: v.optional(v.string()),
    affinity: v.optional(v.string()),
    hostResourceGroupArn: v.optional(v.string()),
  }),
);

export const LaunchConfig = /* @__PURE__ */ defineSchema(() =>
  object({
    instanceType: v.pipe(v.string(), v.minLength(1)),
    subnetId: v.optional(v.string()),
    securityGroupIds: v.array(v.string()),
    keyName: v.optional(v.string()),
    iamInstanceProfileArn: v.optional(v.string()),
    /** An instance profile by name (a DR relaunch's map may name one so): never captured, only launched with. */
    iamInstanceProfileName: v.optional(v.string()),
    ebsOptimized: v.boolean(),
    monitoring: v.boolean(),
    metadataOptions: v.optional(
      object({
        httpTokens: v.optional(v.string()),
        httpEndpoint: v.optional(v.string()),
        httpPutResponseHopLimit: v.optional(int()),
        instanceMetadataTags: v.optional(v.string()),
        httpProtocolIpv6: v.optional(v.string()),
      }),
    ),
    /** The public IP of the Elastic IP associated with the instance, if any: it moves to the replacement. */
    elasticIp: v.optional(v.string()),
    /** The operator's own tags, carried to the replacement (not aws:*, not the service's bookkeeping). */
    tags: record(v.string(), v.string()),
    // What follows is optional: configurations captured by earlier versions lack it, and relaunch as they did.
    /** False on a NAT or router instance. EC2's default (true) is left unsaid. */
    sourceDestCheck: v.optional(v.boolean()),
    cpuOptions: v.optional(
      object({
        coreCount: v.optional(int()),
        threadsPerCore: v.optional(int()),
        amdSevSnp: v.optional(v.string()),
      }),
    ),
    /** The zone follows the subnet; these pin the instance within it. */
    placement: v.optional(Placement),
    hibernation: v.optional(v.boolean()),
    /** Every interface, the primary (device 0) included, when the instance has more than its primary with one address. */
    networkInterfaces: v.optional(v.array(NetworkInterfaceConfig)),
    /** The primary private IPv4 address, relaunched with only when asked and the failed instance no longer holds it. */
    privateIpAddress: v.optional(v.string()),
    /** A spot instance: its replacement asks for spot too. The request's options are read at capture. */
    spot: v.optional(
      object({
        /** The instance's spot request, read at capture; never relaunched with. */
        requestId: v.optional(v.string()),
        maxPrice: v.optional(v.string()),
        spotInstanceType: v.optional(v.string()),
        interruptionBehavior: v.optional(v.string()),
      }),
    ),
    // Read at capture with calls of their own (not in DescribeInstances), so not part of the digest.
    disableApiTermination: v.optional(v.boolean()),
    disableApiStop: v.optional(v.boolean()),
    shutdownBehavior: v.optional(v.string()),
    /** A burstable instance's CPU credits: standard or unlimited. */
    cpuCredits: v.optional(v.string()),
  }),
);
export type LaunchConfig = v.InferOutput<typeof LaunchConfig>;

/** A captured configuration with the instance's user data (base64), as the launch template holds it. */
export type StoredLaunchConfig = LaunchConfig & { userData?: string | undefined };

/** The settings only DescribeInstanceAttribute, DescribeInstanceCreditSpecifications and DescribeSpotInstanceRequests give. */
export const CAPTURE_TIME_FIELDS = ['disableApiTermination', 'disableApiStop', 'shutdownBehavior', 'cpuCredits'] as const;
export type CaptureTimeSettings = Partial<Pick<LaunchConfig, (typeof CAPTURE_TIME_FIELDS)[number] | 'spot'>>;

/** Tags of the service that describe one instance or one image, never carried to another instance. */
const NOT_CARRIED = new Set<string>([
  TAG.replaces,
  TAG.replacedBy,
  TAG.generation,
  TAG.maintenance,
  TAG.maintenanceSince,
  TAG.rebootedAt,
  TAG.captured,
  TAG.launchedWithout,
]);

/** The tags a replacement inherits: the operator's and the opt-in tags, lineage included. */
export function carriedTags(tags: Tags): Tags {
  return Object.fromEntries(Object.entries(tags).filter(([k]) => !k.startsWith('aws:') && !NOT_CARRIED.has(k)));
}

/**
 * A stable digest of a configuration: equal configurations, whatever their key order,
 * digest alike. The launch time takes part because user data (which no listing shows)
 * can only change while the instance is stopped: a changed launch time is the only
 * cheap sign that it may have changed.
 */
export function configDigest(config: LaunchConfig, launchTime?: Date): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return [...value].map(canonical).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
    if (value && typeof value === 'object') {
      return Object.fromEntries(
        Object.entries(value)
          .filter(([, v]) => v !== undefined)
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => [k, canonical(v)]),
      );
    }
    return value;
  };
  const input = { config: canonical(config), launchTime: launchTime?.toISOString() };
  return createHash('sha256').update(JSON.stringify(input)).digest('hex').slice(0, 16);
}

/** The launch template that holds a lineage's captured configuration (names: 3-128 characters). */
export function launchTemplateName(managedBy: string, lineage: string): string {
  return `${managedBy}-${lineage}`;
}

/**
 * The idempotency token of one replacement: the same lineage and failed instance
 * always give the same token, so duplicated or retried events, or a crash after
 * the launch, find the first replacement instead of starting a second one.
 * RunInstances takes at most 64 ASCII characters.
 */
export function replacementToken(lineage: string, failedInstanceId: string): string {
  return `ami-lifecycle-${createHash('sha256').update(`${lineage}\u0000${failedInstanceId}`).digest('hex').slice(0, 40)}`;
}

const generationOf = (tags: Tags | undefined): number => {
  const n = Number.parseInt(tags?.[TAG.generation] ?? '0', 10);
  return Number.isFinite(n) && n >= 0 ? n : 0;
};

/**
 * Tags of the replacement: what it inherits, plus where it comes from and its
 * generation (one more than the failed instance's).
 */
export function replacementTags(failed: { instanceId: string; tags: Tags }, lineage: string): Tags {
  return {
    ...carriedTags(failed.tags),
    [TAG.lineage]: lineage,
    [TAG.replaces]: failed.instanceId,
    [TAG.generation]: String(generationOf(failed.tags) + 1),
  };
}

/**
 * EC2 takes at most 50 tags per resource; tags with the `aws:` prefix do not count ("Each
 * resource can have a maximum of 50 tags": API reference, CreateTags,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTags.html; "Tag
 * restrictions", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html).
 * RunInstances refuses the whole launch past it (TagLimitExceeded).
 */
export const MAX_TAGS_PER_RESOURCE = 50;

/**
 * Tags cut to what EC2 takes on one resource: the service's own first (recovery and rotation
 * depend on them), then the others by key, up to the limit. The rest are dropped, by key.
 */
export function withinTagLimit(tags: Tags): { tags: Tags; dropped: string[] } {
  const counted = Object.keys(tags).filter((k) => !k.startsWith('aws:'));
  const own = counted.filter((k) => k.startsWith(PREFIX)).sort();
  const others = counted.filter((k) => !k.startsWith(PREFIX)).sort();
  const kept = [...own, ...others].slice(0, MAX_TAGS_PER_RESOURCE);
  const keep = new Set(kept);
  return {
    tags: Object.fromEntries(Object.entries(tags).filter(([k]) => keep.has(k) || k.startsWith('aws:'))),
    dropped: counted.filter((k) => !keep.has(k)).sort(),
  };
}

/** Everything RunInstances needs for one replacement. */
export interface RelaunchSpec {
  imageId: string;
  config: StoredLaunchConfig;
  clientToken: string;
  /** Ask for the captured primary private IP: the operator wants it, and the failed instance no longer holds it. */
  keepPrivateIp?: boolean;
  /** At most MAX_TAGS_PER_RESOURCE: the replacement's and its volumes' tags. */
  tags: Tags;
  /** Keys of the failed instance's tags left off the replacement to stay within EC2's limit. */
  droppedTags: string[];
  /** Where and as what to launch, in order, when a launch fails for capacity (launchAttempts): the first is the captured one. */
  attempts?: LaunchAttempt[] | undefined;
  /** Entries of the fallback tags that were not used (not a subnet id or an instance type). */
  fallbackProblems?: string[] | undefined;
  /** Set when following volumes cut the attempts to their zone: said when every attempt fails. */
  pinnedZone?: string | undefined;
}

/**
 * The launch of a replacement: the captured configuration, the chosen image, and the
 * failed instance's tags as last known (its own when it can still be described, else
 * the ones captured with the configuration).
 */
export function relaunchSpec(input: {
  failedInstanceId: string;
  lineage: string;
  imageId: string;
  config: StoredLaunchConfig;
  failedTags: Tags | undefined;
  /**
   * The stage's `recoveryKeepPrivateIp`, and whether the failed instance still holds its
   * address (described and not terminated): a held address is never asked for.
   */
  keepPrivateIp?: { wanted: boolean; failedHoldsIt: boolean };
}): RelaunchSpec {
  const tags = input.failedTags ?? input.config.tags;
  const limited = withinTagLimit(replacementTags({ instanceId: input.failedInstanceId, tags }, input.lineage));
  // The fallbacks are the instance's tags (captured with the configuration when it is gone).
  const fallbacks = fallbacksOf(tags);
  return {
    imageId: input.imageId,
    config: input.config,
    clientToken: replacementToken(input.lineage, input.failedInstanceId),
    keepPrivateIp:
      (input.keepPrivateIp?.wanted ?? false) && !input.keepPrivateIp?.failedHoldsIt && input.config.privateIpAddress !== undefined,
    tags: limited.tags,
    droppedTags: limited.dropped,
    // Only a lineage that names fallbacks has more than its one launch to try.
    ...(fallbacks.subnets.length + fallbacks.instanceTypes.length + fallbacks.problems.length > 0
      ? {
          attempts: launchAttempts({
            lineage: input.lineage,
            failedInstanceId: input.failedInstanceId,
            subnetId: input.config.subnetId,
            instanceType: input.config.instanceType,
            fallbacks,
          }),
          fallbackProblems: fallbacks.problems,
        }
      : {}),
  };
}

/**
 * What recovery does when RunInstances says a reference of the captured configuration no
 * longer exists (it was deleted between the bake and the failure). Availability first where
 * access is not widened: without its key pair (it only matters for SSH) or its instance profile
 * (the replacement gets fewer rights, never more), the machine comes back, and what it lacks is
 * named; so does a placement group (InvalidPlacementGroup.Unknown: the machine lands anywhere
 * in its zone, as close or as spread as EC2 happens to place it). A missing security group or
 * subnet is never replaced (the VPC's default group, or another subnet, could open the machine
 * to what its own never allowed): recovery fails, naming it. The launch template an instance
 * came from is not captured, so it cannot vanish. Codes: EC2 API, "Error codes for the Amazon
 * EC2 API" (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):
 * InvalidKeyPair.NotFound, InvalidGroup.NotFound, InvalidSubnetID.NotFound,
 * InvalidPlacementGroup.Unknown; an instance profile
 * that does not exist is InvalidParameterValue, "Value (...) for parameter iamInstanceProfile.arn
 * is invalid".
 */
export type VanishedReference =
  | { action: 'launch-without'; what: string; spec: RelaunchSpec }
  | { action: 'fail'; what: string; reason: string };

export function whenReferenceVanished(spec: RelaunchSpec, error: { code: string; message: string }): VanishedReference | undefined {
  const { keyName, iamInstanceProfileArn, securityGroupIds, subnetId } = spec.config;
  if (error.code === 'InvalidKeyPair.NotFound' && keyName) return launchWithout(spec, 'keyName', `key pair ${keyName}`);
  if (error.code === 'InvalidParameterValue' && /iamInstanceProfile/i.test(error.message) && iamInstanceProfileArn) {
    return launchWithout(spec, 'iamInstanceProfileArn', `instance profile ${iamInstanceProfileArn.split('/').pop()}`);
  }
  const group = spec.config.placement?.groupName;
  if (error.code === 'InvalidPlacementGroup.Unknown' && group) return launchWithout(spec, 'placementGroup', `placement group ${group}`);
  const never = (what: string, wider: string) => ({
    action: 'fail' as const,
    what,
    reason:
      `the captured ${what} no longer exists (${error.code}: ${error.message}); recovery never launches into ${wider}: ` +
      'restore it, or launch the instance from its last good image yourself',
  });
  if (error.code === 'InvalidGroup.NotFound') {
    const named = securityGroupIds.filter((g) => error.message.includes(g));
    return never(`security group ${(named.length > 0 ? named : securityGroupIds).join(', ')}`, "another group (the VPC's default group)");
  }
  if (error.code === 'InvalidSubnetID.NotFound' && subnetId) return never(`subnet ${subnetId}`, 'another subnet');
  return undefined;
}

/** A token of its own for a launch that lacks references (at most 64 characters, as RunInstances takes). */
function withoutToken(token: string, lacking: string): string {
  return `${token.slice(0, 48)}-${createHash('sha256').update(lacking).digest('hex').slice(0, 15)}`;
}

/** The spec without one reference: its own client token (the first launch made nothing), and a tag saying what it lacks. */
function launchWithout(spec: RelaunchSpec, field: 'keyName' | 'iamInstanceProfileArn' | 'placementGroup', what: string): VanishedReference {
  const config = { ...spec.config };
  if (field === 'placementGroup') {
    // The group goes, and its partition with it; tenancy and host stay.
    const { groupName: _group, partitionNumber: _partition, ...placement } = config.placement ?? {};
    if (Object.values(placement).some((v) => v !== undefined)) config.placement = placement;
    else delete config.placement;
  } else delete config[field];
  const lacking = [spec.tags[TAG.launchedWithout], what].filter(Boolean).join('; ');
  const limited = withinTagLimit({ ...spec.tags, [TAG.launchedWithout]: lacking.slice(0, 256) });
  return {
    action: 'launch-without',
    what,
    spec: {
      ...spec,
      config,
      clientToken: withoutToken(spec.clientToken, lacking),
      tags: limited.tags,
      droppedTags: [...spec.droppedTags, ...limited.dropped],
    },
  };
}

/**
 * Errors with which RunInstances says the zone has no room for the instance type now, or does
 * not offer it: another subnet (zone) or instance type may succeed where the same one cannot.
 * EC2 API, "Error codes for the Amazon EC2 API"
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html):
 * InsufficientInstanceCapacity ("There is not enough capacity to fulfill your request"), and
 * Unsupported, which RunInstances answers as "Your requested instance type (t2.micro) is not
 * supported in your requested Availability Zone (sa-east-1b)" (EC2 User Guide, "Troubleshoot
 * Amazon EC2 instance launch issues",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/troubleshooting-launch.html). Unsupported
 * has other meanings too, so only that message counts.
 */
export function isCapacityError(error: { code: string; message: string }): boolean {
  if (error.code === 'InsufficientInstanceCapacity') return true;
  return error.code === 'Unsupported' && /instance type .*not supported in .*availability zone/i.test(error.message);
}

/** One launch of the replacement: where and as what, with its own client token. */
export interface LaunchAttempt {
  subnetId: string | undefined;
  instanceType: string;
  clientToken: string;
}

/** The fallbacks the tags name, and the entries that are not subnet ids or instance types (tag problems). */
export interface Fallbacks {
  subnets: string[];
  instanceTypes: string[];
  problems: string[];
}

const SUBNET_ID = /^subnet-[0-9a-f]{8,17}$/;
const INSTANCE_TYPE = /^[a-z][a-z0-9-]*\.[a-z0-9-]+$/;

/** `ami-lifecycle:subnets` and `ami-lifecycle:fallback-types`: comma lists, in order, duplicates dropped. */
export function fallbacksOf(tags: Tags): Fallbacks {
  const problems: string[] = [];
  const list = (key: string, pattern: RegExp, what: string): string[] => {
    const out: string[] = [];
    for (const raw of (tags[key] ?? '').split(',')) {
      const item = raw.trim();
      if (item === '' || out.includes(item)) continue;
      if (pattern.test(item)) out.push(item);
      else problems.push(`${key}: ${item} is not ${what}`);
    }
    return out;
  };
  return {
    subnets: list(TAG.subnets, SUBNET_ID, 'a subnet id'),
    instanceTypes: list(TAG.fallbackTypes, INSTANCE_TYPE, 'an instance type'),
    problems,
  };
}

/**
 * The client token of one attempt. The first (the captured subnet and type) keeps the token a
 * replacement has always had, so replacements launched before fallbacks existed are still found;
 * the others add the attempt's subnet and type, so each is a launch of its own and a repeated
 * attempt answers its own first launch.
 */
export function attemptToken(lineage: string, failedInstanceId: string, subnetId: string | undefined, instanceType: string): string {
  const digest = createHash('sha256')
    .update(`${lineage}\u0000${failedInstanceId}\u0000${subnetId ?? ''}\u0000${instanceType}`)
    .digest('hex');
  return `ami-lifecycle-${digest.slice(0, 40)}`;
}

/**
 * The order in which recovery tries to launch, when a launch fails for capacity:
 * 1. the captured subnet with the captured type;
 * 2. each other subnet of `ami-lifecycle:subnets` (in the tag's order) with the captured type;
 * 3. each type of `ami-lifecycle:fallback-types` (in order), in the captured subnet, then in each other subnet.
 * Another zone with the same machine is closer to the failed instance than another machine in its
 * zone, hence subnets first. `allowSubnet`, when given (a volume that must follow pins the zone),
 * keeps only the subnets it allows.
 */
export function launchAttempts(input: {
  lineage: string;
  failedInstanceId: string;
  subnetId: string | undefined;
  instanceType: string;
  fallbacks: Pick<Fallbacks, 'subnets' | 'instanceTypes'>;
  allowSubnet?: (subnetId: string | undefined) => boolean;
}): LaunchAttempt[] {
  const { lineage, failedInstanceId, subnetId, instanceType } = input;
  const allowed = input.allowSubnet ?? (() => true);
  const subnets = [subnetId, ...input.fallbacks.subnets.filter((s) => s !== subnetId)].filter(allowed);
  const types = [instanceType, ...input.fallbacks.instanceTypes.filter((t) => t !== instanceType)];
  const attempts: LaunchAttempt[] = [];
  for (const type of types) {
    for (const subnet of subnets) {
      const first = subnet === subnetId && type === instanceType;
      attempts.push({
        subnetId: subnet,
        instanceType: type,
        clientToken: first ? replacementToken(lineage, failedInstanceId) : attemptToken(lineage, failedInstanceId, subnet, type),
      });
    }
  }
  return attempts;
}

/**
 * The spec of one attempt: the configuration with the attempt's subnet, type and token. A spec
 * launched without a vanished reference keeps that in its token (see launchWithout).
 */
export function specForAttempt(spec: RelaunchSpec, attempt: LaunchAttempt): RelaunchSpec {
  const { subnetId: _subnet, ...config } = spec.config;
  const lacking = spec.tags[TAG.launchedWithout];
  return {
    ...spec,
    config: { ...config, ...(attempt.subnetId ? { subnetId: attempt.subnetId } : {}), instanceType: attempt.instanceType },
    clientToken: lacking ? withoutToken(attempt.clientToken, lacking) : attempt.clientToken,
  };
}
