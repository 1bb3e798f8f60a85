/**
 * Settling an image: turning EC2's view of an image (its state) into the service's
 * status tag. Decided from the image as it is now, never from the event alone, so
 * events that arrive late, twice or out of order settle to the same answer.
 */
import { TAG, type ImageStatus, type Tags } from './tags.js';

export interface ImageView {
  imageId: string;
  name: string;
  /** EC2 image state: pending | available | invalid | deregistered | transient | failed | error | disabled */
  state: string;
  stateReason?: string | undefined;
  creationDate?: string | undefined;
  /** When EC2 deprecates (or deprecated) the image, if set. */
  deprecationTime?: string | undefined;
  tags: Tags;
  snapshotIds: string[];
  /** The devices of its EBS block device mappings (a test instance deletes each with itself). */
  ebsDevices?: string[] | undefined;
  /** EC2's record of the instance CreateImage made the image from (DescribeImages SourceInstanceId). */
  sourceInstanceId?: string | undefined;
  /** EC2's record of the image CopyImage made this one from, and its region (DescribeImages SourceImageId, SourceImageRegion). */
  sourceImageId?: string | undefined;
  sourceImageRegion?: string | undefined;
}

export type Settlement =
  | { kind: 'good' }
  /** Available, but its bake asked for a boot test (verify=boot): good only once a test instance booted (verification.ts). */
  | { kind: 'verifying' }
  | { kind: 'failed'; reason: string }
  /** It carries this stack's tags, but EC2 does not record it as made by the stack (see notMadeHere). */
  | { kind: 'not-ours'; reason: string }
  | { kind: 'unchanged'; why: 'not-found' | 'not-managed' | 'already-settled' | 'still-building' | 'unsettleable-state' };

/** EC2 image states from which an image never becomes available. */
export const FAILED_STATES: ReadonlySet<string> = new Set(['failed', 'error', 'invalid']);

/**
 * Newest first; equal creation times fall back to the image id, so that every
 * ordering of images (and every choice made from it) is deterministic.
 */
export function newestFirst(a: { createdAt: Date; imageId: string }, b: { createdAt: Date; imageId: string }): number {
  return b.createdAt.getTime() - a.createdAt.getTime() || (a.imageId < b.imageId ? -1 : a.imageId > b.imageId ? 1 : 0);
}

export function statusOf(image: ImageView): ImageStatus | undefined {
  const s = image.tags[TAG.status];
  return s === 'pending' || s === 'verifying' || s === 'good' || s === 'failed' || s === 'bad' ? s : undefined;
}

export function isManagedBy(tags: Tags, managedBy: string): boolean {
  return tags[TAG.managedBy] === managedBy;
}

/**
 * Why an image that carries this stack's tags is not the stack's own, or undefined when it is.
 * Tags alone prove nothing: a person's CopyImage with CopyImageTags carries every tag of the
 * image it copies, managed-by included (the copy's snapshots carry none). The stack's images are
 * made by CreateImage from the instance their source-instance tag names, and EC2 records that
 * instance itself: SourceInstanceId, "the ID of the instance that the AMI was created from if the
 * AMI was created using CreateImage. This field only appears if the AMI was created using
 * CreateImage" (API reference, Image:
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_Image.html). An image an operator
 * adopted (`ami-lifecycle adopt`) is the stack's by the adoption record adopt wrote on it, which
 * names the image itself. An image that is not the stack's is never rotated, deprecated, settled
 * or launched from.
 */
export function notMadeHere(image: ImageView): string | undefined {
  // Adopted by `adopt` (shared/domain/stale.ts): the record names this very image, so a copy of an
  // adopted image (CopyImageTags carries the record) is still not the stack's.
  const record = image.tags[TAG.adopted];
  if (record !== undefined) {
    return record.startsWith(`${image.imageId}@`) ? undefined : `its adoption record names another image (${record.split('@')[0]})`;
  }
  const named = image.tags[TAG.sourceInstance];
  if (!image.sourceInstanceId) return 'EC2 records no instance it was made from (not made by CreateImage: a copy, or a registered image)';
  if (named !== image.sourceInstanceId) {
    return `EC2 records it as made from ${image.sourceInstanceId}, not from ${named ?? 'the instance'} its source-instance tag names`;
  }
  return undefined;
}

/**
 * Only `pending` images of this stack move, and only forward: pending -> good when
 * EC2 says available (pending -> verifying when the image's bake asked for a boot test,
 * `verify=boot`), pending -> failed when EC2 says failed. A `bad` or `failed`
 * image is never turned good again by a stale event.
 */
export function settle(image: ImageView | undefined, managedBy: string, hint?: { errorMessage?: string }): Settlement {
  if (!image) return { kind: 'unchanged', why: 'not-found' };
  if (!isManagedBy(image.tags, managedBy)) return { kind: 'unchanged', why: 'not-managed' };
  const foreign = notMadeHere(image);
  if (foreign) return { kind: 'not-ours', reason: foreign };
  if (statusOf(image) !== 'pending') return { kind: 'unchanged', why: 'already-settled' };
  if (image.state === 'available') return image.tags[TAG.verify] === 'boot' ? { kind: 'verifying' } : { kind: 'good' };
  if (FAILED_STATES.has(image.state)) {
    const reason = image.stateReason || hint?.errorMessage || `image entered state ${image.state}`;
    return { kind: 'failed', reason };
  }
  if (image.state === 'pending' || image.state === 'transient') return { kind: 'unchanged', why: 'still-building' };
  return { kind: 'unchanged', why: 'unsettleable-state' };
}
