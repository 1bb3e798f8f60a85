/**
 * Stale images: every AMI the account owns in the region, what still uses each one, and which are
 * candidates for adoption (`ami-lifecycle stale`, `ami-lifecycle adopt`). Pure: the use case
 * (shared/use-cases/stale-images.ts) reads the account and hands the facts in.
 *
 * The one rule that matters: an image with any in-use reason is never a candidate, so never
 * adopted, so never handed to rotation. A reason the reads could not establish (a check refused,
 * launch permissions unreadable) counts as a reason: what cannot be looked at is kept.
 */
import { notMadeHere } from './image-status.js';
import { TAG, type Tags } from './tags.js';

const DAY = 86_400_000;
const GIB = 2 ** 30;

/**
 * The default price of snapshot storage, USD per GB-month, standard tier: "the snapshot is billed at
 * the standard rate for snapshots of $0.05 per GB-month" (Amazon EBS User Guide, "Pricing and billing
 * for archiving Amazon EBS snapshots", https://docs.aws.amazon.com/ebs/latest/userguide/snapshot-archive-pricing.html).
 * That page names no region. AWS's pricing examples quote US East (N. Virginia) ("How AWS Pricing Works",
 * Amazon EBS, https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/amazon-ebs.html: "pricing
 * based on us-east-1"), so read it as that region's; the regional table (https://aws.amazon.com/ebs/pricing/)
 * could not be read here. Other regions differ: the stage parameter or --price gives the region's.
 */
export const DEFAULT_SNAPSHOT_PRICE_PER_GB_MONTH = 0.05;

/** Why an image is in use, one per resource. `unverified`: a read that would have said could not. */
export const USE_KINDS = [
  'instance',
  'launch-template',
  'launch-configuration',
  'auto-scaling-group',
  'ssm-parameter',
  'image-builder',
  'shared',
  'public',
  'unverified',
  'other',
] as const;
export type UseKind = (typeof USE_KINDS)[number];

export interface ImageUse {
  kind: UseKind;
  /** The resource: an instance id, a template id, a parameter name, an account id, an ARN. */
  resource: string;
  /** What it is, in the words the report prints. */
  detail: string;
}

/** An image as `stale` reads it (DescribeImages, Owners=self). */
export interface StaleImageInput {
  imageId: string;
  name: string;
  state: string;
  creationDate?: string | undefined;
  /** DescribeImages' LastLaunchedTime: absent when never launched since April 2017, or not reported yet (24 h delay). */
  lastLaunchedTime?: string | undefined;
  tags: Tags;
  snapshotIds: string[];
  /** DescribeImages' Public. */
  public: boolean;
  /** EC2's record of the instance it was made from (DescribeImages SourceInstanceId). */
  sourceInstanceId?: string | undefined;
}

/** Filters an operator gives `stale` and `adopt`. */
export interface StaleFilters {
  /** Created, and last launched, at least this many days ago (LastLaunchedTime when EC2 reports it). */
  olderThanDays: number;
  /** An image name pattern, `*` and `?` as EC2's name filter reads them. */
  name?: string | undefined;
  /** Every tag given must be on the image with this value. */
  tags: Readonly<Record<string, string>>;
  /** Images shared with other accounts may be candidates (never public ones). */
  includeShared: boolean;
}

export type Ownership = 'unmanaged' | 'this-stack' | 'other-stack';

export interface StaleEntry {
  imageId: string;
  name: string;
  state: string;
  ageDays: number;
  lastLaunchedTime?: string | undefined;
  snapshots: Array<{ snapshotId: string; sizeBytes: number }>;
  sizeBytes: number;
  /** unmanaged: no managed-by tag; this-stack: carries this stack's (rotation's, or a person's with our tag); other-stack: another stack's. */
  ownership: Ownership;
  uses: ImageUse[];
  matches: boolean;
  candidate: boolean;
  /** Why it is not a candidate (empty for a candidate). */
  notCandidate: string[];
}

export interface StaleReport {
  entries: StaleEntry[];
  candidates: number;
  /** Bytes of snapshots that deleting every candidate would free: those no other image uses. */
  bytesToFree: number;
  pricePerGbMonth: number;
  /** USD per month, at pricePerGbMonth, for bytesToFree (an upper bound: the standard tier bills changed blocks only). */
  monthlySaving: number;
}

export interface StaleInput {
  managedBy: string;
  now: Date;
  images: readonly StaleImageInput[];
  /** Snapshot id -> size in bytes (full size where EC2 reports it, else the volume's). */
  snapshotSizes: ReadonlyMap<string, number>;
  uses: ReadonlyMap<string, readonly ImageUse[]>;
  filters: StaleFilters;
  pricePerGbMonth: number;
}

/** EC2's wildcards: `*` any run of characters, `?` exactly one; everything else literal. */
export function namePattern(glob: string): RegExp {
  const body = [...glob].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 's');
}

/** `90d`, `12w`, or a number of days. */
export function parseAge(value: string): number {
  const m = /^\s*(\d+)\s*([dw]?)\s*$/.exec(value);
  if (!m) throw new Error(`'${value}' is not an age: write it as 90d, 12w or a number of days`);
  return Number(m[1]) * (m[2] === 'w' ? 7 : 1);
}

/** `k=v` pairs (the value may hold `=`), as `--tag` takes them. */
export function parseTagFilters(pairs: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new Error(`'${pair}' is not key=value`);
    tags[pair.slice(0, at)] = pair.slice(at + 1);
  }
  return tags;
}

function ownershipOf(tags: Tags, managedBy: string): Ownership {
  const owner = tags[TAG.managedBy];
  if (owner === undefined) return 'unmanaged';
  return owner === managedBy ? 'this-stack' : 'other-stack';
}

const daysSince = (now: Date, iso: string | undefined): number | undefined => {
  if (!iso) return undefined;
  const t = new Date(iso).getTime();
  return Number.isNaN(t) ? undefined : (now.getTime() - t) / DAY;
};

/** What the filters say of one image, and why it does not match when it does not. */
function filterMisses(image: StaleImageInput, filters: StaleFilters, now: Date): string[] {
  const misses: string[] = [];
  const age = daysSince(now, image.creationDate) ?? 0;
  if (age < filters.olderThanDays) misses.push(`created ${Math.floor(age)}d ago, not ${filters.olderThanDays}d`);
  const launched = daysSince(now, image.lastLaunchedTime);
  if (launched !== undefined && launched < filters.olderThanDays) {
    misses.push(`last launched ${Math.floor(launched)}d ago, not ${filters.olderThanDays}d`);
  }
  if (filters.name !== undefined && !namePattern(filters.name).test(image.name)) misses.push(`name does not match ${filters.name}`);
  for (const [k, v] of Object.entries(filters.tags)) {
    if (image.tags[k] !== v) misses.push(`tag ${k} is not ${v}`);
  }
  return misses;
}

/**
 * Every image with its uses, and which are candidates. A candidate: no managed-by tag at all
 * (this stack's images are rotation's; a person's image with our tag, or another stack's, is not
 * ours to adopt), available, matching every filter, and in use by nothing (an image shared with
 * another account counts as in use there unless the operator includes shared images; a public
 * image always counts).
 */
export function assessStale(input: StaleInput): StaleReport {
  const { now, filters } = input;
  const entries: StaleEntry[] = input.images.map((image) => {
    const ownership = ownershipOf(image.tags, input.managedBy);
    const uses = [...(input.uses.get(image.imageId) ?? [])];
    if (image.public && !uses.some((u) => u.kind === 'public')) {
      uses.push({ kind: 'public', resource: 'all', detail: 'public: anyone may launch it' });
    }
    const misses = filterMisses(image, filters, now);
    const notCandidate: string[] = [];
    if (ownership === 'this-stack') {
      const foreign = notMadeHere({ ...image, tags: image.tags });
      notCandidate.push(
        foreign
          ? `carries this stack's managed-by tag but is not its own (${foreign}): left alone`
          : `this stack's (${input.managedBy}): rotation's to decide`,
      );
    }
    if (ownership === 'other-stack') notCandidate.push(`managed by another stack (${image.tags[TAG.managedBy]})`);
    if (image.state !== 'available') notCandidate.push(`state ${image.state}`);
    const blocking = uses.filter((u) => !(u.kind === 'shared' && filters.includeShared));
    for (const u of blocking) notCandidate.push(`in use: ${u.detail}`);
    notCandidate.push(...misses);
    const snapshots = image.snapshotIds.map((snapshotId) => ({ snapshotId, sizeBytes: input.snapshotSizes.get(snapshotId) ?? 0 }));
    return {
      imageId: image.imageId,
      name: image.name,
      state: image.state,
      ageDays: Math.floor(daysSince(now, image.creationDate) ?? 0),
      ...(image.lastLaunchedTime ? { lastLaunchedTime: image.lastLaunchedTime } : {}),
      snapshots,
      sizeBytes: snapshots.reduce((sum, s) => sum + s.sizeBytes, 0),
      ownership,
      uses,
      matches: misses.length === 0,
      candidate: notCandidate.length === 0,
      notCandidate,
    };
  });
  // A snapshot another, kept image also uses stays (DeregisterImage's DeleteAssociatedSnapshots skips it).
  const keptSnapshots = new Set(entries.filter((e) => !e.candidate).flatMap((e) => e.snapshots.map((s) => s.snapshotId)));
  const freed = new Map<string, number>();
  for (const e of entries) {
    if (!e.candidate) continue;
    for (const s of e.snapshots) if (!keptSnapshots.has(s.snapshotId)) freed.set(s.snapshotId, s.sizeBytes);
  }
  const bytesToFree = [...freed.values()].reduce((a, b) => a + b, 0);
  return {
    entries,
    candidates: entries.filter((e) => e.candidate).length,
    bytesToFree,
    pricePerGbMonth: input.pricePerGbMonth,
    monthlySaving: Math.round((bytesToFree / GIB) * input.pricePerGbMonth * 100) / 100,
  };
}

// ---- adoption --------------------------------------------------------------------------------

/** The lineage an adopted image joins without --lineage: `adopted/` and its name's prefix. */
export function adoptedLineage(name: string): string {
  // The name without its trailing parts that hold a digit (a build number, a date, a version).
  const parts = name.split(/[-_. :/]+/).filter(Boolean);
  while (parts.length > 1 && /\d/.test(parts[parts.length - 1]!)) parts.pop();
  const prefix =
    (parts.join('-') || 'image')
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 48) || 'image';
  return `adopted/${prefix}`;
}

/** A lineage an operator may give: a plain lineage, or `adopted/` and one. Tag values allow '/'. */
export const ADOPT_LINEAGE = /^(adopted\/)?[A-Za-z0-9][A-Za-z0-9._-]{0,47}$/;

export interface AdoptOptions {
  lineage?: string | undefined;
  /** The retain tag value as given (already checked with RetentionSpec). */
  retain?: string | undefined;
}

export interface AdoptionStep {
  imageId: string;
  name: string;
  snapshotIds: string[];
  lineage: string;
  tags: Record<string, string>;
}

/** The adoption record of an image: its own id, and when. */
export const adoptionRecord = (imageId: string, now: Date): string => `${imageId}@${now.toISOString()}`;

/** Whether the image carries an adoption record `adopt` wrote for this very image. */
export function adoptedHere(image: { imageId: string; tags: Tags }): boolean {
  const record = image.tags[TAG.adopted];
  return record?.startsWith(`${image.imageId}@`) === true;
}

/** The tags `adopt` writes on each candidate and its snapshots. Only candidates: the report decided. */
export function planAdoption(report: StaleReport, managedBy: string, now: Date, options: AdoptOptions): AdoptionStep[] {
  if (options.lineage !== undefined && !ADOPT_LINEAGE.test(options.lineage)) {
    throw new Error(`'${options.lineage}' is not a lineage: 1-48 letters, digits, dots, dashes or underscores, optionally after adopted/`);
  }
  return report.entries
    .filter((e) => e.candidate)
    .map((e) => {
      const lineage = options.lineage ?? adoptedLineage(e.name);
      return {
        imageId: e.imageId,
        name: e.name,
        snapshotIds: e.snapshots.map((s) => s.snapshotId),
        lineage,
        tags: {
          [TAG.managedBy]: managedBy,
          [TAG.lineage]: lineage,
          [TAG.status]: 'good',
          [TAG.adopted]: adoptionRecord(e.imageId, now),
          ...(options.retain !== undefined ? { [TAG.retain]: options.retain } : {}),
        },
      };
    });
}
