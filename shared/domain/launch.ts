/**
 * The launch configuration of a lineage: what is captured from a healthy instance
 * (at its bakes) so that a replacement can be launched without describing an
 * instance that is already gone, and the replacement's launch specification and
 * identity (tags, generation, idempotency token). Pure.
 */
import { createHash } from 'node:crypto';
import * as z from 'zod';
import { PREFIX, TAG, type Tags } from './tags.js';

/** One network interface of the instance, as a replacement creates it anew. */
export const NetworkInterfaceConfig = z.object({
  deviceIndex: z.number().int().min(0),
  networkCardIndex: z.number().int().min(0).optional(),
  subnetId: z.string().optional(),
  securityGroupIds: z.array(z.string()),
  description: z.string().optional(),
  /** efa, efa-only, ... ; an ordinary interface has none. */
  interfaceType: z.string().optional(),
  /** The interface's primary private IPv4 address and its secondary ones, as they were. */
  privateIpAddress: z.string().optional(),
  secondaryPrivateIpAddresses: z.array(z.string()).optional(),
  ipv6AddressCount: z.number().int().min(0).optional(),
});
export type NetworkInterfaceConfig = z.infer<typeof NetworkInterfaceConfig>;

export const LaunchConfig = z.object({
  instanceType: z.string().min(1),
  subnetId: z.string().optional(),
  securityGroupIds: z.array(z.string()),
  keyName: z.string().optional(),
  iamInstanceProfileArn: z.string().optional(),
  ebsOptimized: z.boolean(),
  monitoring: z.boolean(),
  metadataOptions: z
    .object({
      httpTokens: z.string().optional(),
      httpEndpoint: z.string().optional(),
      httpPutResponseHopLimit: z.number().int().optional(),
      instanceMetadataTags: z.string().optional(),
      httpProtocolIpv6: z.string().optional(),
    })
    .optional(),
  /** The public IP of the Elastic IP associated with the instance, if any: it moves to the replacement. */
  elasticIp: z.string().optional(),
  /** The operator's own tags, carried to the replacement (not aws:*, not the service's bookkeeping). */
  tags: z.record(z.string(), z.string()),
  // What follows is optional: configurations captured by earlier versions lack it, and relaunch as they did.
  /** False on a NAT or router instance. EC2's default (true) is left unsaid. */
  sourceDestCheck: z.boolean().optional(),
  cpuOptions: z
    .object({ coreCount: z.number().int().optional(), threadsPerCore: z.number().int().optional(), amdSevSnp: z.string().optional() })
    .optional(),
  /** The zone follows the subnet; these pin the instance within it. */
  placement: z
    .object({
      groupName: z.string().optional(),
      partitionNumber: z.number().int().optional(),
      tenancy: z.string().optional(),
      hostId: z.string().optional(),
      affinity: z.string().optional(),
      hostResourceGroupArn: z.string().optional(),
    })
    .optional(),
  hibernation: z.boolean().optional(),
  /** Every interface, the primary (device 0) included, when the instance has more than its primary with one address. */
  networkInterfaces: z.array(NetworkInterfaceConfig).optional(),
  /** The primary private IPv4 address, relaunched with only when asked and the failed instance no longer holds it. */
  privateIpAddress: z.string().optional(),
  /** A spot instance: its replacement asks for spot too. The request's options are read at capture. */
  spot: z
    .object({
      /** The instance's spot request, read at capture; never relaunched with. */
      requestId: z.string().optional(),
      maxPrice: z.string().optional(),
      spotInstanceType: z.string().optional(),
      interruptionBehavior: z.string().optional(),
    })
    .optional(),
  // Read at capture with calls of their own (not in DescribeInstances), so not part of the digest.
  disableApiTermination: z.boolean().optional(),
  disableApiStop: z.boolean().optional(),
  shutdownBehavior: z.string().optional(),
  /** A burstable instance's CPU credits: standard or unlimited. */
  cpuCredits: z.string().optional(),
});
export type LaunchConfig = z.infer<typeof LaunchConfig>;

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
  return {
    imageId: input.imageId,
    config: input.config,
    clientToken: replacementToken(input.lineage, input.failedInstanceId),
    keepPrivateIp:
      (input.keepPrivateIp?.wanted ?? false) && !input.keepPrivateIp?.failedHoldsIt && input.config.privateIpAddress !== undefined,
    tags: limited.tags,
    droppedTags: limited.dropped,
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
      clientToken: `${spec.clientToken.slice(0, 48)}-${createHash('sha256').update(lacking).digest('hex').slice(0, 15)}`,
      tags: limited.tags,
      droppedTags: [...spec.droppedTags, ...limited.dropped],
    },
  };
}
