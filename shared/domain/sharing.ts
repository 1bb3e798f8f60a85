/**
 * Sharing a lineage's good images with other accounts, organizations and OUs: what each image
 * should carry, read from the lineage's live instance, and the changes that bring it there. Never
 * public: `all` is refused where the tag is read, never put in a change, and an unreadable tag
 * changes nothing. Pure.
 *
 * What was applied is recorded on each image as a digest (`ami-lifecycle:shared`): the sharing
 * step reads and changes only the images whose digest differs from the desired one, so a steady
 * night costs no call per image.
 */
import * as v from 'valibot';
import { createHash } from 'node:crypto';
import { notMadeHere, statusOf, type ImageView } from './image-status.js';
import { Bool, PREFIX, ShareSpec, TAG, type ShareTargets, type TagProblem, type Tags } from './tags.js';

/** What one image should carry: launch permissions, and the accounts its snapshots are shared with. */
export interface Sharing {
  targets: ShareTargets;
  /**
   * Accounts given createVolumePermission on the image's snapshots (share-snapshots=true). Accounts
   * only: CreateVolumePermission takes a UserId or a Group, no organization or OU (EC2 API reference,
   * CreateVolumePermission, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolumePermission.html).
   */
  snapshotAccounts: string[];
}

export const NO_SHARING: Sharing = { targets: { accounts: [], organizations: [], units: [] }, snapshotAccounts: [] };

/** The launch permissions of a set, each entry as written (account id or ARN), sorted. */
export function launchEntries(targets: ShareTargets): string[] {
  return [...targets.accounts, ...targets.organizations, ...targets.units].sort();
}

/** A stable digest of a sharing: equal sets, whatever their order, digest alike. 16 hex digits. */
export function sharingDigest(sharing: Sharing): string {
  const canonical = JSON.stringify([launchEntries(sharing.targets), [...sharing.snapshotAccounts].sort()]);
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/** What an image carries as applied: its digest, or, with none, the digest of no sharing (the service never shared it). */
export function appliedDigest(tags: Tags): string {
  return tags[TAG.shared] ?? sharingDigest(NO_SHARING);
}

/** One instance's sharing tags: the sharing they ask for, or the problems that stop any change. */
export function readSharing(tags: Tags): { sharing: Sharing } | { problems: TagProblem[] } {
  const problems: TagProblem[] = [];
  let targets: ShareTargets = NO_SHARING.targets;
  let snapshots = false;
  const share = tags[TAG.share];
  if (share !== undefined) {
    const parsed = v.safeParse(ShareSpec, share);
    if (parsed.success) targets = parsed.output;
    else problems.push({ tag: TAG.share, value: share, reason: parsed.issues.map((i) => i.message).join('; ') });
  }
  const flag = tags[TAG.shareSnapshots];
  if (flag !== undefined) {
    const parsed = v.safeParse(Bool, flag);
    if (parsed.success) snapshots = parsed.output;
    else problems.push({ tag: TAG.shareSnapshots, value: flag, reason: parsed.issues.map((i) => i.message).join('; ') });
  }
  if (problems.length > 0) return { problems };
  return { sharing: { targets, snapshotAccounts: snapshots ? [...targets.accounts] : [] } };
}

/** A lineage's live instance, as far as sharing reads it. */
export interface LineageMember {
  instanceId: string;
  tags: Tags;
}

export type LineageSharing =
  | { kind: 'set'; sharing: Sharing; digest: string }
  /** Nothing changes for the lineage: no live instance, instances that disagree, or tags that cannot be read. */
  | { kind: 'keep'; reason: string; invalid: Array<{ instanceId: string; problems: TagProblem[] }> };

/**
 * What a lineage's images should carry, from its live instances (not terminated). No live instance
 * (terminated and not replaced): keep what is applied, since a tag nobody can read any more is no
 * instruction to widen or narrow. Two live instances that disagree (a replacement and its stopped
 * original): keep. A tag that cannot be read on any of them: keep, and report it.
 */
export function lineageSharing(members: readonly LineageMember[]): LineageSharing {
  if (members.length === 0) return { kind: 'keep', reason: 'no live instance of the lineage', invalid: [] };
  const invalid: Array<{ instanceId: string; problems: TagProblem[] }> = [];
  const read = new Map<string, Sharing>();
  for (const m of members) {
    const r = readSharing(m.tags);
    if ('problems' in r) invalid.push({ instanceId: m.instanceId, problems: r.problems });
    else read.set(sharingDigest(r.sharing), r.sharing);
  }
  if (invalid.length > 0) return { kind: 'keep', reason: 'the sharing tags cannot be read', invalid };
  if (read.size > 1) return { kind: 'keep', reason: 'live instances of the lineage ask for different sharing', invalid: [] };
  const [[digest, sharing]] = [...read] as [[string, Sharing]];
  return { kind: 'set', sharing, digest };
}

/** What changes a permission list: entries to add, entries to remove. */
export interface PermissionChange {
  add: string[];
  remove: string[];
}

/**
 * From what an image (or snapshot) carries to what it should: the entries to add and to remove.
 * The group `all` is never added, and never an entry here either: it is the public sweep's to remove.
 */
export function permissionChange(current: readonly string[], desired: readonly string[]): PermissionChange {
  const now = new Set(current.filter((e) => e !== 'all'));
  const want = new Set(desired.filter((e) => e !== 'all'));
  return { add: [...want].filter((e) => !now.has(e)).sort(), remove: [...now].filter((e) => !want.has(e)).sort() };
}

/** An image whose sharing is to be brought to its lineage's. */
export interface ShareTask {
  imageId: string;
  lineage: string;
  snapshotIds: string[];
  sharing: Sharing;
  digest: string;
  /** False when the image was never shared by the service and no snapshot sharing is asked: its snapshots need no look. */
  readSnapshots: boolean;
}

export interface SharePlan {
  tasks: ShareTask[];
  /** Good images already carrying their lineage's sharing. */
  unchanged: number;
  /** Lineages whose images keep what they carry, and why. */
  kept: Array<{ lineage: string; reason: string }>;
  /** PolicyInvalid to report: the instances whose sharing tags cannot be read. */
  invalid: Array<{ instanceId: string; lineage: string; problems: TagProblem[] }>;
}

/**
 * A test instance booted from an image to verify it carries `ami-lifecycle:role=verification` (the
 * name settled in DESIGN.md for issue 15): it is no member of the lineage whose sharing is asked for.
 */
const VERIFICATION = { key: `${PREFIX}role`, value: 'verification' } as const;

/** The instance's lineage: its tag, or, before its first bake, its own id (as the first bake names it). */
function lineageOf(instance: LineageMember): string | undefined {
  if (instance.tags[VERIFICATION.key] === VERIFICATION.value) return undefined;
  return instance.tags[TAG.lineage] ?? (instance.tags[TAG.bake] !== undefined ? instance.instanceId : undefined);
}

/**
 * Which good images of the stack change, and to what. Only the stack's own images (its managed-by
 * and EC2's record of their making), only good and available ones: a pending image gets its
 * sharing on the next run, and a failed or bad one keeps what it has until rotation deletes it.
 */
export function planSharing(input: { managedBy: string; images: readonly ImageView[]; instances: readonly LineageMember[] }): SharePlan {
  const members = new Map<string, LineageMember[]>();
  for (const i of input.instances) {
    const lineage = lineageOf(i);
    if (lineage) members.set(lineage, [...(members.get(lineage) ?? []), i]);
  }
  const decided = new Map<string, LineageSharing>();
  const plan: SharePlan = { tasks: [], unchanged: 0, kept: [], invalid: [] };
  const decide = (lineage: string): LineageSharing => {
    let d = decided.get(lineage);
    if (!d) {
      d = lineageSharing(members.get(lineage) ?? []);
      decided.set(lineage, d);
      if (d.kind === 'keep') {
        plan.kept.push({ lineage, reason: d.reason });
        for (const v of d.invalid) plan.invalid.push({ ...v, lineage });
      }
    }
    return d;
  };
  // Lineages whose instances carry bad tags are reported even without a good image yet.
  for (const lineage of [...members.keys()].sort()) {
    if ((members.get(lineage) ?? []).some((m) => m.tags[TAG.share] !== undefined || m.tags[TAG.shareSnapshots] !== undefined)) {
      decide(lineage);
    }
  }
  for (const image of input.images) {
    const lineage = image.tags[TAG.lineage];
    if (!lineage || image.tags[TAG.managedBy] !== input.managedBy || notMadeHere(image)) continue;
    if (statusOf(image) !== 'good' || image.state !== 'available') continue;
    const d = decide(lineage);
    if (d.kind === 'keep') continue;
    const applied = appliedDigest(image.tags);
    if (applied === d.digest) {
      plan.unchanged++;
      continue;
    }
    plan.tasks.push({
      imageId: image.imageId,
      lineage,
      snapshotIds: image.snapshotIds,
      sharing: d.sharing,
      digest: d.digest,
      readSnapshots: image.tags[TAG.shared] !== undefined || d.sharing.snapshotAccounts.length > 0,
    });
  }
  plan.tasks.sort((a, b) => (a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0));
  return plan;
}
