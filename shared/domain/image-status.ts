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
}

export type Settlement =
  | { kind: 'good' }
  | { kind: 'failed'; reason: string }
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
  return s === 'pending' || s === 'good' || s === 'failed' || s === 'bad' ? s : undefined;
}

export function isManagedBy(tags: Tags, managedBy: string): boolean {
  return tags[TAG.managedBy] === managedBy;
}

/**
 * Only `pending` images of this stack move, and only forward: pending -> good when
 * EC2 says available, pending -> failed when EC2 says failed. A `bad` or `failed`
 * image is never turned good again by a stale event.
 */
export function settle(image: ImageView | undefined, managedBy: string, hint?: { errorMessage?: string }): Settlement {
  if (!image) return { kind: 'unchanged', why: 'not-found' };
  if (!isManagedBy(image.tags, managedBy)) return { kind: 'unchanged', why: 'not-managed' };
  if (statusOf(image) !== 'pending') return { kind: 'unchanged', why: 'already-settled' };
  if (image.state === 'available') return { kind: 'good' };
  if (FAILED_STATES.has(image.state)) {
    const reason = image.stateReason || hint?.errorMessage || `image entered state ${image.state}`;
    return { kind: 'failed', reason };
  }
  if (image.state === 'pending' || image.state === 'transient') return { kind: 'unchanged', why: 'still-building' };
  return { kind: 'unchanged', why: 'unsettleable-state' };
}
