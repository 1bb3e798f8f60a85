/**
 * Relaunch in another region (issue 17): a lineage's replacement launched in a disaster-recovery
 * region R from its newest good copy there, with the captured configuration mapped by the stage's
 * `drRegions` map. Pure: what the DR capture keeps of the home capture, which copy may be launched
 * from, the RunInstances request, and what could not follow, said plainly.
 *
 * Region-bound references never cross: a subnet, security group, network interface, key pair,
 * placement group, dedicated host, Elastic IP and private address belong to one region (EC2 user
 * guide, "Regions and Zones", https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/using-regions-availability-zones.html:
 * "resources are tied to a specific Region"; key pairs: "Key pairs are specific to a Region",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-key-pairs.html; Elastic IP addresses: "An
 * Elastic IP address is for use in a specific Region only, and cannot be moved to a different Region",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/elastic-ip-addresses-eip.html). An instance
 * profile is IAM's, and IAM is global: it follows.
 */
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { record, strictObject } from './schema.js';
import { isManagedBy, statusOf, type ImageView } from './image-status.js';
import { carriedTags, withinTagLimit, type RelaunchSpec, type StoredLaunchConfig } from './launch.js';
import { REGION_PATTERN, TAG, type Tags } from './tags.js';

/** One entry of the stage's `drRegions` map: what replaces the region-bound references in R. */
export const DrRegionEntry = strictObject({
  subnetId: v.optional(v.pipe(v.string(), v.regex(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id'))),
  securityGroupIds: v.optional(v.array(v.pipe(v.string(), v.regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id')))),
  /** An instance profile's name or ARN (IAM is global: the captured one follows when the map names none). */
  instanceProfile: v.optional(v.pipe(v.string(), v.minLength(1))),
  keyName: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(255))),
  /** Copies into the region are encrypted with it (part A's copy step). */
  kmsKeyId: v.optional(v.pipe(v.string(), v.minLength(1))),
});
export type DrRegionEntry = v.InferOutput<typeof DrRegionEntry>;

/** The stage's `drRegions` (DR_REGIONS): region -> entry. */
export const DrRegions = record(v.pipe(v.string(), v.regex(REGION_PATTERN, 'a region name, e.g. eu-west-1')), DrRegionEntry);
export type DrRegions = v.InferOutput<typeof DrRegions>;

/** What of the home capture the DR capture leaves out, kept on the DR capture so a relaunch in R can say it without home. */
export interface LeftBehind {
  subnetId?: string | undefined;
  securityGroupIds?: string[] | undefined;
  keyName?: string | undefined;
  privateIpAddress?: string | undefined;
  placementGroup?: string | undefined;
  hostId?: string | undefined;
  /** Network interfaces besides the primary. */
  extraInterfaces?: number | undefined;
  /** Secondary private addresses of every interface. */
  secondaryAddresses?: number | undefined;
  elasticIp?: string | undefined;
}

/**
 * The DR capture of a home capture: everything that is not bound to the home region (type, metadata
 * and CPU options, credits, monitoring, EBS optimisation, protection, shutdown behaviour, hibernation,
 * spot, tenancy, user data, tags, the instance profile), and what was left behind. The capture holds
 * no image and no block device mappings: the copy brings its own, with snapshots in R.
 */
export function drCaptureOf(home: StoredLaunchConfig, elasticIp?: string): { config: StoredLaunchConfig; leftBehind: LeftBehind } {
  const {
    subnetId,
    securityGroupIds,
    keyName,
    privateIpAddress,
    networkInterfaces,
    placement,
    elasticIp: _captured,
    iamInstanceProfileName: _name,
    ...kept
  } = home;
  const nics = networkInterfaces ?? [];
  const primary = nics.find((n) => n.deviceIndex === 0 && (n.networkCardIndex ?? 0) === 0);
  const groups = securityGroupIds.length > 0 ? securityGroupIds : (primary?.securityGroupIds ?? []);
  const secondary = nics.reduce((sum, n) => sum + (n.secondaryPrivateIpAddresses?.length ?? 0), 0);
  // Tenancy follows (default or dedicated exist in every region); a host, and a placement in one, do not.
  const tenancy = placement?.tenancy && placement.tenancy !== 'host' ? placement.tenancy : undefined;
  const leftBehind: LeftBehind = {
    ...defined('subnetId', subnetId ?? primary?.subnetId),
    ...(groups.length > 0 ? { securityGroupIds: groups } : {}),
    ...defined('keyName', keyName),
    ...defined('privateIpAddress', privateIpAddress ?? primary?.privateIpAddress),
    ...defined('placementGroup', placement?.groupName),
    ...defined('hostId', placement?.hostId ?? (placement?.tenancy === 'host' ? 'a dedicated host' : undefined)),
    ...(nics.length > 1 ? { extraInterfaces: nics.length - 1 } : {}),
    ...(secondary > 0 ? { secondaryAddresses: secondary } : {}),
    ...defined('elasticIp', elasticIp),
  };
  return { config: { ...kept, securityGroupIds: [], ...(tenancy ? { placement: { tenancy } } : {}) }, leftBehind };
}

const defined = <K extends string>(key: K, value: string | undefined): { [k in K]?: string } =>
  value === undefined || value === '' ? {} : ({ [key]: value } as { [k in K]: string });

/** EC2 takes tag values of up to 256 characters (any character: "Tag restrictions", user guide, Using_Tags.html). */
const TAG_VALUE_MAX = 256;
const LEFT_KEYS: Array<[keyof LeftBehind, string]> = [
  ['elasticIp', 'eip'],
  ['privateIpAddress', 'ip'],
  ['keyName', 'key'],
  ['placementGroup', 'pg'],
  ['hostId', 'host'],
  ['extraInterfaces', 'nics'],
  ['secondaryAddresses', 'secondary'],
  ['subnetId', 'subnet'],
  ['securityGroupIds', 'groups'],
];

/** `eip=203.0.113.5 key=ops nics=1 ...` in at most 256 characters: the most useful first, the rest cut whole. */
export function encodeLeftBehind(left: LeftBehind): string {
  let out = '';
  for (const [field, key] of LEFT_KEYS) {
    const value = left[field];
    if (value === undefined) continue;
    const text = Array.isArray(value) ? value.map(encodeURIComponent).join('/') : encodeURIComponent(String(value));
    const part = `${out === '' ? '' : ' '}${key}=${text}`;
    if (out.length + part.length > TAG_VALUE_MAX) break;
    out += part;
  }
  return out;
}

export function decodeLeftBehind(value: string | undefined): LeftBehind {
  const left: Record<string, unknown> = {};
  for (const part of (value ?? '').split(' ')) {
    const [key, text] = part.split('=', 2);
    const field = LEFT_KEYS.find(([, k]) => k === key)?.[0];
    if (!field || text === undefined) continue;
    if (field === 'securityGroupIds') left[field] = text.split('/').map(decodeURIComponent);
    else if (field === 'extraInterfaces' || field === 'secondaryAddresses') left[field] = Number.parseInt(text, 10) || undefined;
    else left[field] = decodeURIComponent(text);
  }
  return left as LeftBehind;
}

/**
 * Why a copy in R is not one the service may launch from, or undefined when it is: this stack's
 * managed-by, its source-image tag equal to EC2's own record of the image it was made from
 * (DescribeImages SourceImageId, "The ID of the source AMI from which the AMI was created. The ID
 * only appears if the AMI was created using CreateImage, CopyImage, or CreateRestoreImageTask": API
 * reference, Image, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html, as boto3
 * quotes it, https://boto3.amazonaws.com/v1/documentation/api/1.37.0/reference/services/ec2/image/source_image_id.html),
 * and its source-region tag the home region. The source-image tag names an image of home: in R only
 * a CopyImage of that image records it (an image made in R from an instance records the image that
 * instance was launched from), and no tag can change EC2's record.
 */
export function copyNotOurs(image: ImageView, managedBy: string, homeRegion: string): string | undefined {
  if (!isManagedBy(image.tags, managedBy)) return `not managed by ${managedBy}`;
  const named = image.tags[TAG.sourceImage];
  if (!named) return `no ${TAG.sourceImage} tag: not a copy the service made`;
  if (!image.sourceImageId) return 'EC2 records no source image for it (not a copy: a registered image, or an older one)';
  if (image.sourceImageId !== named) return `EC2 records it as made from ${image.sourceImageId}, not from ${named} its tag names`;
  const region = image.tags[TAG.sourceRegion];
  if (region !== homeRegion) return `its ${TAG.sourceRegion} tag names ${region ?? 'no region'}, not ${homeRegion}`;
  return undefined;
}

/** The lineage's newest good copy the service made (newest by creation, then by id), and the good-looking ones that are not its own. */
export function newestGoodCopy(
  images: readonly ImageView[],
  managedBy: string,
  homeRegion: string,
): { copy?: ImageView; notOurs: Array<{ imageId: string; reason: string }> } {
  const good = images.filter((i) => statusOf(i) === 'good' && i.state === 'available');
  const notOurs: Array<{ imageId: string; reason: string }> = [];
  const ours: ImageView[] = [];
  for (const image of good) {
    const reason = copyNotOurs(image, managedBy, homeRegion);
    if (reason) notOurs.push({ imageId: image.imageId, reason });
    else ours.push(image);
  }
  ours.sort((a, b) =>
    (b.creationDate ?? '') < (a.creationDate ?? '')
      ? -1
      : (b.creationDate ?? '') > (a.creationDate ?? '')
        ? 1
        : a.imageId < b.imageId
          ? -1
          : 1,
  );
  return { ...(ours[0] ? { copy: ours[0] } : {}), notOurs };
}

/**
 * The client token of the DR relaunch of one lineage from one copy in one region: three runs (or a
 * retry after a lost answer) ask EC2 for the same launch. RunInstances takes at most 64 ASCII
 * characters ("Ensuring idempotency", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html).
 */
export function drRelaunchToken(lineage: string, copyImageId: string, region: string): string {
  return `ami-lifecycle-dr-${createHash('sha256').update(`${lineage}\u0000${copyImageId}\u0000${region}`).digest('hex').slice(0, 40)}`;
}

/** What a DR relaunch is given, besides the copy: the capture it maps, and the map's entry and the CLI's overrides. */
export interface DrLaunchInput {
  lineage: string;
  region: string;
  homeRegion: string;
  copy: ImageView;
  /** The DR capture in R (with what it left behind), or the home capture when R has none. */
  capture: { from: 'dr' | 'home'; config: StoredLaunchConfig; leftBehind: LeftBehind };
  entry: DrRegionEntry | undefined;
  overrides: { subnetId?: string | undefined; securityGroupIds?: string[] | undefined };
}

export type DrLaunchPlan =
  | { ok: true; spec: RelaunchSpec; notFollowed: string[] }
  | { ok: false; code: 'NoSubnet' | 'NoSecurityGroups'; reason: string };

/**
 * The launch in R: the capture's settings, the copy, the subnet and groups of --subnet and
 * --security-groups or else of `drRegions[R]`, its key pair, its instance profile (else the captured
 * one). Without a subnet nothing is launched: EC2 would pick the default VPC, which may not exist in
 * R or may be open. Without a security group neither: EC2 would use the VPC's default group, which
 * can let in what the instance's own never allowed (recovery never launches into it either).
 */
export function drLaunch(input: DrLaunchInput): DrLaunchPlan {
  const { lineage, region, homeRegion, copy, capture, entry, overrides } = input;
  const subnetId = overrides.subnetId ?? entry?.subnetId;
  const where = `drRegions["${region}"]`;
  if (!subnetId) {
    return {
      ok: false,
      code: 'NoSubnet',
      reason: `no subnet to launch into in ${region}: give --subnet, or set subnetId in the stage parameter ${where}; nothing was launched`,
    };
  }
  const securityGroupIds = overrides.securityGroupIds?.length ? overrides.securityGroupIds : (entry?.securityGroupIds ?? []);
  if (securityGroupIds.length === 0) {
    return {
      ok: false,
      code: 'NoSecurityGroups',
      reason:
        `no security group in ${region}: give --security-groups, or set securityGroupIds in ${where} ` +
        "(never the VPC's default group, which may allow what the instance's own did not); nothing was launched",
    };
  }
  // The home capture still holds its region's references: the DR capture's rule takes them out here too.
  const { config: portable, leftBehind: fromHome } =
    capture.from === 'home' ? drCaptureOf(capture.config) : { config: capture.config, leftBehind: {} };
  const left: LeftBehind = { ...fromHome, ...capture.leftBehind };
  const { iamInstanceProfileArn: capturedProfile, iamInstanceProfileName: _name, ...rest } = portable;
  const profile = entry?.instanceProfile;
  const profileSetting = profile
    ? profile.startsWith('arn:')
      ? { iamInstanceProfileArn: profile }
      : { iamInstanceProfileName: profile }
    : capturedProfile
      ? { iamInstanceProfileArn: capturedProfile }
      : {};
  const config: StoredLaunchConfig = {
    ...rest,
    subnetId,
    securityGroupIds,
    ...(entry?.keyName ? { keyName: entry.keyName } : {}),
    ...profileSetting,
  };
  const limited = withinTagLimit({
    ...carriedTags(capture.config.tags),
    [TAG.lineage]: lineage,
    [TAG.drRelaunchOf]: copy.imageId,
    [TAG.sourceRegion]: homeRegion,
  });
  return {
    ok: true,
    spec: {
      imageId: copy.imageId,
      config,
      clientToken: drRelaunchToken(lineage, copy.imageId, region),
      keepPrivateIp: false,
      tags: limited.tags,
      droppedTags: limited.dropped,
    },
    notFollowed: notFollowed({ left, copy, region, homeRegion, keyMapped: entry?.keyName, subnetId }),
  };
}

/** What stays behind in the home region, one plain sentence each. */
function notFollowed(input: {
  left: LeftBehind;
  copy: ImageView;
  region: string;
  homeRegion: string;
  keyMapped: string | undefined;
  subnetId: string;
}): string[] {
  const { left, copy, region, homeRegion, keyMapped, subnetId } = input;
  const out: string[] = [];
  if (left.elasticIp) {
    out.push(
      `the Elastic IP ${left.elasticIp}: an Elastic IP cannot leave ${homeRegion}; allocate one in ${region} and point your DNS at it`,
    );
  }
  const excluded = (copy.tags[TAG.excluded] ?? '').split(',').filter(Boolean);
  if (excluded.length > 0) {
    out.push(
      `the data volumes at ${excluded.join(', ')}: left out of the image (ami-lifecycle:exclude, following ones too), so not in the copy; ` +
        `a volume never leaves its zone: restore them in ${region} from a snapshot copy, or do without`,
    );
  }
  const baked = copy.tags[TAG.slot] ?? copy.creationDate;
  out.push(
    `what changed since the image was baked${baked ? ` (${baked})` : ''}, and any volume attached since: the copy holds that bake's volumes only`,
  );
  if (left.privateIpAddress) out.push(`the private IP ${left.privateIpAddress}: an address of ${homeRegion}; ${subnetId} gives another`);
  if (left.extraInterfaces) out.push(`${left.extraInterfaces} more network interface(s): launched with one, in ${subnetId}`);
  if (left.secondaryAddresses) out.push(`${left.secondaryAddresses} secondary private address(es): not asked for`);
  if (left.placementGroup) out.push(`the placement group ${left.placementGroup}: placement groups are regional; launched without one`);
  if (left.hostId) out.push(`the dedicated host (${left.hostId}): hosts are regional; launched without one`);
  if (left.keyName && !keyMapped) {
    out.push(
      `the key pair ${left.keyName}: key pairs are regional and drRegions["${region}"] names none; launched without one ` +
        `(import the key into ${region}, or use Session Manager)`,
    );
  }
  return out;
}

/** The digest a home capture's version keeps in its description (`... digest <hex>)`), if it keeps one. */
export function captureDigestOf(description: string | undefined): string | undefined {
  return /digest ([0-9a-f]{8,64})\)?\s*$/.exec(description ?? '')?.[1];
}

/** A digest of a capture that keeps none: its configuration, key order aside. */
export function digestOfCapture(config: StoredLaunchConfig): string {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : value && typeof value === 'object'
        ? Object.fromEntries(
            Object.entries(value)
              .filter(([, v]) => v !== undefined)
              .sort(([a], [b]) => (a < b ? -1 : 1))
              .map(([k, v]) => [k, canonical(v)]),
          )
        : value;
  return createHash('sha256')
    .update(JSON.stringify(canonical(config)))
    .digest('hex')
    .slice(0, 16);
}

/** The tags the DR capture's launch template carries. */
export function drCaptureTags(managedBy: string, lineage: string, homeRegion: string, digest: string, left: LeftBehind): Tags {
  return {
    [TAG.managedBy]: managedBy,
    [TAG.lineage]: lineage,
    [TAG.sourceRegion]: homeRegion,
    [TAG.captureDigest]: digest,
    [TAG.leftBehind]: encodeLeftBehind(left),
  };
}
