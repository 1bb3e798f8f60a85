/**
 * Rotation of the service's copies in destination regions (issue 17): which regions to look in,
 * which images there are the service's copies, and the policy a lineage's copies are kept by.
 * The planning itself is retention.ts's, under the same safety rules. Pure.
 */
import * as v from 'valibot';
import { newestFirst, type ImageView } from './image-status.js';
import type { LineagePolicy } from './retention.js';
import { REGION_PATTERN, RetentionSpec, TAG, type Retention } from './tags.js';

/** The regions of a copy-to value (the tag, or COPY_TO): a comma list; `none` or blank is none; a malformed name is left out. */
export function regionsOf(value: string | undefined): string[] {
  if (value === undefined || value.trim() === '' || value.trim() === 'none') return [];
  return value
    .split(',')
    .map((r) => r.trim())
    .filter((r) => REGION_PATTERN.test(r));
}

/**
 * The regions whose copies a rotation looks at: those the home images' copy-to tags name, the
 * stage's copyTo and its drRegions' keys; never the home region, each once, sorted.
 */
export function destinationRegions(input: {
  homeRegion: string;
  stageRegions: readonly string[];
  copyToTags: Iterable<string | undefined>;
}): string[] {
  const regions = new Set(input.stageRegions.filter((r) => REGION_PATTERN.test(r)));
  for (const tag of input.copyToTags) for (const r of regionsOf(tag)) regions.add(r);
  regions.delete(input.homeRegion);
  return [...regions].sort();
}

/**
 * Whether an image in a destination region presents itself as a copy this home region made: it
 * names a source image, and this region as the source's. Images with the stack's tags that do not
 * (baked there by a stack of the same name, copies from another home) are not this rotation's.
 */
export function claimsCopyFrom(image: ImageView, homeRegion: string): boolean {
  return image.tags[TAG.sourceImage] !== undefined && image.tags[TAG.sourceRegion] === homeRegion;
}

/**
 * Why an image that claims to be the service's copy is not, or undefined when it is. Tags prove
 * nothing (a person's CopyImage with CopyImageTags carries them all); EC2 records the image a copy
 * was made from itself: "SourceImageId: The ID of the source AMI from which the AMI was created",
 * and "SourceImageRegion: The Region of the source AMI" (API reference, Image,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html); "When you create or copy
 * an AMI, the new AMI retains the ID and Region of its source (parent) AMI", recorded only for
 * CreateImage, CopyImage and CreateRestoreImageTask, and for CreateImage it is the AMI the instance
 * was launched from (user guide, "Use AMI ancestry to trace the origin of an AMI",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ami-ancestry.html). So a person's CreateImage
 * of an instance launched from a copy, or a copy of a copy, names another source. The copy's
 * source-image tag must name that image, and its source-region tag that region when EC2 reports one.
 */
export function notCopiedHere(image: ImageView): string | undefined {
  const named = image.tags[TAG.sourceImage];
  if (!image.sourceImageId) return 'EC2 records no image it was copied from (not made by CopyImage)';
  if (named !== image.sourceImageId) {
    return `EC2 records it as copied from ${image.sourceImageId}, not from ${named ?? 'the image'} its source-image tag names`;
  }
  const region = image.tags[TAG.sourceRegion];
  if (image.sourceImageRegion && region !== image.sourceImageRegion) {
    return `EC2 records it as copied from ${image.sourceImageRegion}, not from ${region ?? 'the region'} its source-region tag names`;
  }
  return undefined;
}

/** A policy read from a tag of the newest image that carries a valid one. */
function newestValid(images: readonly ImageView[], key: string): { retention: Retention; raw: string } | undefined {
  const sorted = images.map((i) => ({ i, createdAt: new Date(i.creationDate ?? 0), imageId: i.imageId })).sort(newestFirst);
  for (const { i } of sorted) {
    const raw = i.tags[key];
    if (raw === undefined) continue;
    const parsed = v.safeParse(RetentionSpec, raw);
    if (parsed.success) return { retention: parsed.output, raw };
  }
  return undefined;
}

/**
 * The policy each lineage's copies in a region are kept by: the copies' own copy-retain (the
 * newest copy carrying a valid one), else the source's retention as the home rotation reads it
 * (its instance's, its last known, or the default), else, for a lineage the home region no longer
 * has, the copies' retain tag (the source's at bake), else the default. Every lineage gets one,
 * so that nothing is ever stamped on a copy.
 */
export function copyPolicies(
  copies: readonly ImageView[],
  homePolicies: ReadonlyMap<string, LineagePolicy>,
  defaultRetention: Retention,
): Map<string, LineagePolicy> {
  const byLineage = new Map<string, ImageView[]>();
  for (const c of copies) {
    const lineage = c.tags[TAG.lineage];
    if (lineage) byLineage.set(lineage, [...(byLineage.get(lineage) ?? []), c]);
  }
  const policies = new Map<string, LineagePolicy>();
  for (const [lineage, images] of byLineage) {
    const own = newestValid(images, TAG.copyRetain);
    const home = homePolicies.get(lineage);
    const known = own || home ? undefined : newestValid(images, TAG.retain);
    policies.set(
      lineage,
      own
        ? { lineage, source: 'copy-retain', retention: own.retention }
        : home
          ? { lineage, source: 'source', retention: home.retention }
          : known
            ? { lineage, source: 'last-known', retention: known.retention }
            : { lineage, source: 'default', retention: defaultRetention },
    );
  }
  return policies;
}
