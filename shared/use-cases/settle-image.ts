/**
 * Marking images good or failed once EC2 has finished building them, from the
 * AMI state-change events (read in batches from the image-state queue) or, because
 * those events are best effort, from the reconcile pass over every image still
 * marked pending.
 *
 * The event is published before the status tag is written: a crash in between
 * leaves the image pending, and the next settle publishes again (consumers
 * deduplicate on imageId) rather than never.
 */
import pLimit from 'p-limit';
import { outgoing } from '../domain/event-requests.js';
import type { OutgoingEvent } from '../domain/events.js';
import { settle, type ImageView, type Settlement } from '../domain/image-status.js';
import { TAG } from '../domain/tags.js';
import type { SettleDeps } from './ports.js';
import { publishOrThrow } from './publish.js';

export type SettledBy = 'event' | 'reconcile';

/**
 * Images of a batch settled at once (each a PutEvents, then a CreateTags): a batch of 100 takes
 * seconds, not a minute, and stays well inside EC2's CreateTags burst of 100.
 */
const SETTLE_CONCURRENCY = 4;

/** ImageBaked for a good image: settled by its AMI event, the reconcile, or its verification (verify-image.ts). */
export function imageBaked(image: ImageView, managedBy: string, settledBy: SettledBy | 'verification'): OutgoingEvent {
  const t = image.tags;
  return outgoing('ImageBaked', {
    managedBy,
    imageId: image.imageId,
    imageName: image.name,
    lineage: t[TAG.lineage] ?? '',
    sourceInstanceId: t[TAG.sourceInstance] ?? '',
    schedule: t[TAG.schedule] ?? '',
    slot: t[TAG.slot] ?? '',
    snapshotIds: image.snapshotIds,
    ...(image.creationDate ? { creationDate: image.creationDate } : {}),
    settledBy,
  });
}

function eventFor(image: ImageView, settlement: Settlement, deps: SettleDeps, settledBy: SettledBy): OutgoingEvent | undefined {
  const t = image.tags;
  if (settlement.kind === 'verifying') {
    // Nothing good yet: the verify function boots a test instance first (verify-image.ts), and says ImageBaked when it passes.
    return outgoing('VerificationRequested', { managedBy: deps.managedBy, imageId: image.imageId, lineage: t[TAG.lineage] ?? '' });
  }
  if (settlement.kind === 'good') return imageBaked(image, deps.managedBy, settledBy);
  if (settlement.kind === 'failed') {
    return outgoing('ImageBakeFailed', {
      managedBy: deps.managedBy,
      phase: 'build',
      instanceId: t[TAG.sourceInstance] ?? '',
      lineage: t[TAG.lineage],
      schedule: t[TAG.schedule],
      slot: t[TAG.slot],
      imageId: image.imageId,
      errorCode: `Image.${image.state}`,
      message: settlement.reason,
    });
  }
  return undefined;
}

/** Applies the settlement of one image: publish, then tag image and snapshots. */
async function publishNotOwned(image: ImageView, reason: string, deps: SettleDeps): Promise<void> {
  const t = image.tags;
  const event = outgoing('ImageNotOwned', {
    managedBy: deps.managedBy,
    imageId: image.imageId,
    imageName: image.name,
    ...(t[TAG.lineage] ? { lineage: t[TAG.lineage] } : {}),
    reason,
  });
  await publishOrThrow(deps.events, event, image.imageId);
}

export async function applySettlement(
  image: ImageView | undefined,
  deps: SettleDeps,
  settledBy: SettledBy,
  hint?: { errorMessage?: string },
): Promise<Settlement> {
  const settlement = settle(image, deps.managedBy, hint);
  if (!image || settlement.kind === 'unchanged') return settlement;
  if (settlement.kind === 'not-ours') {
    // Said once, when EC2 announces the image (its AMI state change); the scheduled reconcile
    // only leaves it alone. Nothing is tagged: the image is not the stack's to change.
    if (settledBy === 'event') await publishNotOwned(image, settlement.reason, deps);
    deps.log.warn("an image carries this stack's tags but was not made by it: left alone", {
      imageId: image.imageId,
      reason: settlement.reason,
    });
    return settlement;
  }
  const event = eventFor(image, settlement, deps, settledBy)!;
  await publishOrThrow(deps.events, event, image.imageId);
  await deps.ec2.tagResources([image.imageId, ...image.snapshotIds], { [TAG.status]: settlement.kind });
  // Once the tag is written: a crash before it settles (and counts) the image again, a duplicate finds it settled.
  deps.metrics.count(
    settlement.kind === 'good' ? 'ImagesGood' : settlement.kind === 'verifying' ? 'VerificationsRequested' : 'ImagesFailed',
  );
  deps.log.info(`image ${settlement.kind}`, {
    imageId: image.imageId,
    imageName: image.name,
    settledBy,
    ...(settlement.kind === 'failed' ? { reason: settlement.reason } : {}),
  });
  return settlement;
}

/** What EC2 announced of one image: its id, and the reason it gave for a failed one. */
export interface ImageNotice {
  imageId: string;
  errorMessage?: string | undefined;
}

/** How one image of a batch ended: settled (or left as it was), or an error to retry it on. */
export type SettleOutcome = { settlement: Settlement } | { error: unknown };

/**
 * Settles the images EC2 announced, read with one DescribeImages for them all (the gateway splits
 * past 1,000 ids): the same events and tags as each would alone, four images at a time. An image
 * named twice is settled once (the first reason EC2 gave is kept). One image's error is its own
 * outcome and the others go on; a describe that fails is every image's error, to be retried.
 * An image EC2 does not describe (deregistered, or not visible yet) is left alone, as
 * `settle` decides for a missing image; the reconcile finds it if it is still pending.
 */
export async function settleImages(notices: readonly ImageNotice[], deps: SettleDeps): Promise<Map<string, SettleOutcome>> {
  const hints = new Map<string, { errorMessage?: string }>();
  for (const n of notices) {
    const known = hints.get(n.imageId);
    if (!known) hints.set(n.imageId, n.errorMessage ? { errorMessage: n.errorMessage } : {});
    else if (!known.errorMessage && n.errorMessage) known.errorMessage = n.errorMessage;
  }
  let images: Map<string, ImageView>;
  try {
    images = await deps.ec2.describeImages([...hints.keys()]);
  } catch (error) {
    deps.log.error('could not describe the announced images; each is retried', { images: hints.size, error: String(error) });
    return new Map([...hints.keys()].map((imageId) => [imageId, { error }]));
  }
  const limit = pLimit(SETTLE_CONCURRENCY);
  const settled = await Promise.all(
    [...hints].map(([imageId, hint]) =>
      limit(async (): Promise<SettleOutcome> => {
        try {
          return { settlement: await applySettlement(images.get(imageId), deps, 'event', hint) };
        } catch (error) {
          deps.log.error('could not settle image', { imageId, error: String(error) });
          return { error };
        }
      }),
    ),
  );
  // In the order the images were first named.
  return new Map([...hints.keys()].map((imageId, i) => [imageId, settled[i]!]));
}

export interface ReconcileReport {
  pendingSeen: number;
  good: number;
  failed: number;
  stillBuilding: number;
  errors: number;
}

/** Settles every image of this stack still marked pending. One image's error does not stop the others. */
export async function reconcilePending(deps: SettleDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { pendingSeen: 0, good: 0, failed: 0, stillBuilding: 0, errors: 0 };
  for await (const page of deps.ec2.listPendingImages(deps.managedBy)) {
    for (const image of page) {
      report.pendingSeen++;
      try {
        const s = await applySettlement(image, deps, 'reconcile');
        if (s.kind === 'good') report.good++;
        else if (s.kind === 'failed') report.failed++;
        else if (s.kind === 'unchanged' && s.why === 'still-building') report.stillBuilding++;
      } catch (error) {
        report.errors++;
        deps.log.error('could not settle image', { imageId: image.imageId, error: String(error) });
      }
    }
  }
  return report;
}
