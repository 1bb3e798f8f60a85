/**
 * Disaster-recovery copies (issue 17, docs/disaster-recovery.md): which good images of the home
 * region go to which other region, which copies there are now good or failed, and which copies
 * may start now without passing the bound on copies in flight. Pure: the reconcile
 * (shared/use-cases/copy-images.ts) reads EC2 in each region, this decides, the gateway acts.
 *
 * Everything is decided from EC2's state, never from the event that started the pass: a pass run
 * twice, late, or after a crash at any point decides the same, and starts nothing twice (a copy
 * in any state counts; CopyImage's ClientToken covers a copy not yet listed).
 */
import * as v from 'valibot';
import { FAILED_STATES, isManagedBy, newestFirst, notMadeHere, statusOf, type ImageView } from './image-status.js';
import { withCopiedTags } from './bake.js';
import { CopyToSpec, PREFIX, TAG, type Tags } from './tags.js';
import { truncate } from './text.js';

/**
 * AWS's bound on copies in flight into one region: "Destination Regions are limited to 300
 * concurrent AMI copy operations. This also applies to time-based AMI copy operations." (Amazon
 * EC2 User Guide, "How Amazon EC2 AMI copy works",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/how-ami-copy-works.html). The stage's
 * copyMaxConcurrent (1 to this) keeps the service under it, with room for other tools.
 */
export const AWS_MAX_CONCURRENT_COPIES = 300;

/**
 * EC2 client tokens are at most 64 ASCII characters ("Ensuring idempotency in Amazon EC2 API
 * requests", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html). A token
 * is scoped to its region there (a repeat "other than the Region" with other parameters is a
 * mismatch), so one token per source image serves every destination.
 */
export const MAX_CLIENT_TOKEN = 64;

export function copyClientToken(sourceImageId: string): string {
  return truncate(`ami-lifecycle-copy-${sourceImageId}`, MAX_CLIENT_TOKEN);
}

/** A source image's copy-to tag as regions; an unreadable tag is no region (the bake wrote it, so it is one a person changed). */
export function copyRegionsOf(image: ImageView): string[] {
  const raw = image.tags[TAG.copyTo];
  if (raw === undefined) return [];
  const parsed = v.safeParse(CopyToSpec, raw);
  return parsed.success ? parsed.output : [];
}

/**
 * A copy in its region, as the reconcile lists it (this stack's managed-by): an image, whose
 * sourceImageId and sourceImageRegion are EC2's record of its source.
 */
export type CopyView = ImageView;

/**
 * Why a copy that carries this stack's tags is not the service's, or undefined when it is: EC2
 * records the image it was copied from (SourceImageId, "The ID of the source AMI from which the
 * AMI was created", API reference, Image: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html),
 * and it must be the one its source-image tag names, from the region its source-region tag names
 * when EC2 reports one (SourceImageRegion). A person's copy with our tags is reported, never touched.
 */
export function copyNotMadeHere(copy: CopyView): string | undefined {
  const named = copy.tags[TAG.sourceImage];
  if (!copy.sourceImageId) return 'EC2 records no source image for it (not made by CopyImage)';
  if (named !== copy.sourceImageId)
    return `EC2 records it as copied from ${copy.sourceImageId}, not from ${named ?? 'the image'} its source-image tag names`;
  if (copy.sourceImageRegion && copy.sourceImageRegion !== copy.tags[TAG.sourceRegion]) {
    return `EC2 records it as copied from ${copy.sourceImageRegion}, not from ${copy.tags[TAG.sourceRegion] ?? 'the region'} its source-region tag names`;
  }
  return undefined;
}

/** A copy to start: CopyImage in `region`, as the gateway sends it. */
export interface CopySpec {
  region: string;
  sourceImageId: string;
  sourceRegion: string;
  lineage: string;
  name: string;
  description: string;
  clientToken: string;
  /** The copy's tags (image and snapshots), applied at creation (TagSpecifications). */
  tags: Tags;
  /** From drRegions[region].kmsKeyId: the copy's snapshots are encrypted with it. */
  kmsKeyId?: string | undefined;
}

export interface CopySettlement {
  copy: CopyView;
  lineage: string;
  sourceImageId: string;
  to: 'good' | 'failed';
  reason?: string | undefined;
}

export interface RegionPlan {
  region: string;
  settle: CopySettlement[];
  /** Copies to start now, oldest source first. */
  start: CopySpec[];
  /** Wanted copies left for a later pass (the bound is reached), oldest source first. */
  queued: CopySpec[];
  /** Copies in flight into the region before this pass (anyone's), as EC2 listed them. */
  inFlight: number;
  /** Copies with this stack's tags that EC2 does not record as the service's: reported, never touched. */
  notOurs: Array<{ imageId: string; reason: string }>;
}

export interface CopyPlanInput {
  managedBy: string;
  homeRegion: string;
  /** The home region's good images of this stack that carry copy-to. */
  sources: readonly ImageView[];
  /** Per destination region: this stack's copies there, and the copies in flight there (anyone's). */
  regions: ReadonlyMap<string, { copies: readonly CopyView[]; inFlight: number }>;
  maxConcurrent: number;
  /** drRegions' kmsKeyId per region, where one is named. */
  kmsKeyIds?: ReadonlyMap<string, string> | undefined;
}

/** EC2 AMI names are 3-128 characters (API reference, CopyImage, Name). */
const MAX_NAME = 128;
/** And a description at most 255. */
const MAX_DESCRIPTION = 255;

const createdAt = (image: ImageView) => ({ createdAt: new Date(image.creationDate ?? 0), imageId: image.imageId });
const oldestFirst = (a: ImageView, b: ImageView) => newestFirst(createdAt(b), createdAt(a));

/** The source images the reconcile may copy: good, this stack's by provenance, with a lineage. */
export function copySources(images: readonly ImageView[], managedBy: string): ImageView[] {
  return images.filter(
    (i) =>
      isManagedBy(i.tags, managedBy) &&
      statusOf(i) === 'good' &&
      i.state === 'available' &&
      i.tags[TAG.lineage] !== undefined &&
      notMadeHere(i) === undefined,
  );
}

/** The destination regions named by the sources' copy-to tags, sorted, never the home region. */
export function destinationRegions(sources: readonly ImageView[], homeRegion: string): string[] {
  return [...new Set(sources.flatMap(copyRegionsOf))].filter((r) => r !== homeRegion).sort();
}

/**
 * The copy's tags: the source's own but its status, pending until EC2 says otherwise, and where it
 * comes from. The service's keys first: past EC2's 50 tags a resource, copied user keys give way
 * (withCopiedTags).
 */
export function copyTags(source: ImageView, homeRegion: string): Tags {
  const own: Record<string, string> = {};
  const user: Record<string, string> = {};
  for (const [k, v] of Object.entries(source.tags)) {
    if (k === TAG.status || k.toLowerCase().startsWith('aws:')) continue;
    if (k.startsWith(PREFIX) || k === TAG.name) own[k] = v;
    else user[k] = v;
  }
  own[TAG.status] = 'pending';
  own[TAG.sourceImage] = source.imageId;
  own[TAG.sourceRegion] = homeRegion;
  return withCopiedTags(own, user).tags;
}

function specOf(source: ImageView, region: string, input: CopyPlanInput): CopySpec {
  const kmsKeyId = input.kmsKeyIds?.get(region);
  return {
    region,
    sourceImageId: source.imageId,
    sourceRegion: input.homeRegion,
    lineage: source.tags[TAG.lineage]!,
    // The source's name: unique per account and region, as the source's was in its own.
    name: truncate(source.name || source.imageId, MAX_NAME),
    description: truncate(`ami-lifecycle copy of ${source.imageId} from ${input.homeRegion}`, MAX_DESCRIPTION),
    clientToken: copyClientToken(source.imageId),
    tags: copyTags(source, input.homeRegion),
    ...(kmsKeyId ? { kmsKeyId } : {}),
  };
}

/**
 * One pass over one region: settle the pending copies EC2 finished, and start the wanted ones up
 * to the bound. Wanted, per lineage: its newest good source that names the region and has no copy
 * there in any state; an older source without a copy is superseded by it (a DR region wants the
 * latest recovery point, not every one).
 */
export function planRegion(region: string, input: CopyPlanInput): RegionPlan {
  const state = input.regions.get(region) ?? { copies: [], inFlight: 0 };
  const plan: RegionPlan = { region, settle: [], start: [], queued: [], inFlight: state.inFlight, notOurs: [] };
  if (region === input.homeRegion) return plan;
  const copied = new Set<string>();
  for (const copy of state.copies) {
    if (!isManagedBy(copy.tags, input.managedBy) || copy.tags[TAG.sourceImage] === undefined) continue;
    const foreign = copyNotMadeHere(copy);
    if (foreign) {
      plan.notOurs.push({ imageId: copy.imageId, reason: foreign });
      continue;
    }
    copied.add(copy.sourceImageId!);
    if (statusOf(copy) !== 'pending') continue;
    const base = { copy, lineage: copy.tags[TAG.lineage] ?? '', sourceImageId: copy.sourceImageId! };
    if (copy.state === 'available') plan.settle.push({ ...base, to: 'good' });
    else if (FAILED_STATES.has(copy.state))
      plan.settle.push({ ...base, to: 'failed', reason: copy.stateReason || `copy entered state ${copy.state}` });
  }
  const newestByLineage = new Map<string, ImageView>();
  for (const source of input.sources) {
    if (!copyRegionsOf(source).includes(region)) continue;
    const lineage = source.tags[TAG.lineage]!;
    const held = newestByLineage.get(lineage);
    if (!held || newestFirst(createdAt(source), createdAt(held)) < 0) newestByLineage.set(lineage, source);
  }
  const wanted = [...newestByLineage.values()].filter((s) => !copied.has(s.imageId)).sort(oldestFirst);
  const room = Math.max(0, Math.min(input.maxConcurrent, AWS_MAX_CONCURRENT_COPIES) - state.inFlight);
  plan.start = wanted.slice(0, room).map((s) => specOf(s, region, input));
  plan.queued = wanted.slice(room).map((s) => specOf(s, region, input));
  return plan;
}
