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
import { outgoing } from '../domain/event-requests.js';
import type { OutgoingEvent } from '../domain/events.js';
import { settle, type ImageView, type Settlement } from '../domain/image-status.js';
import { TAG } from '../domain/tags.js';
import type { SettleDeps } from './ports.js';
import { AwsCallError } from './errors.js';
import { publishOrThrow } from './publish.js';

export type SettledBy = 'event' | 'reconcile';

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
    promotes: Boolean(t[TAG.promote]?.trim()),
    copies: Boolean(t[TAG.copyTo]?.trim()),
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
 * Resource ids a CreateTags call takes: "Constraints: Up to 1000 resource IDs" (EC2 API reference,
 * CreateTags, Resources: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTags.html).
 */
export const CREATE_TAGS_IDS_PER_CALL = 1000;

interface Decided {
  image: ImageView;
  settlement: Settlement & { kind: 'good' | 'failed' | 'verifying' };
  event: OutgoingEvent;
}

/** Counts and logs an image once its status tag is written (see applySettlement). */
function settled(d: Decided, deps: SettleDeps, settledBy: SettledBy): void {
  const kind = d.settlement.kind;
  deps.metrics.count(kind === 'good' ? 'ImagesGood' : kind === 'verifying' ? 'VerificationsRequested' : 'ImagesFailed');
  deps.log.info(`image ${kind}`, {
    imageId: d.image.imageId,
    imageName: d.image.name,
    settledBy,
    ...(d.settlement.kind === 'failed' ? { reason: d.settlement.reason } : {}),
  });
}

/**
 * Writes the status of images settled alike with as few CreateTags as EC2 takes (an image and its
 * snapshots in one call, up to 1,000 ids a call). EC2's CreateTags bucket is the tightest a night
 * meets (100, refilled at 10 a second: "Request throttling for the Amazon EC2 API",
 * https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html); one call per image made
 * it a third of a night's calls on it. A call EC2 refuses for what it names (an image deregistered
 * meanwhile) is made again image by image, so that image alone fails; transient trouble fails the
 * call's images, to be received again.
 */
async function tagSettled(group: Decided[], deps: SettleDeps, outcomes: Map<string, SettleOutcome>): Promise<void> {
  const chunks: Decided[][] = [];
  let chunk: Decided[] = [];
  let ids = 0;
  for (const d of group) {
    const size = 1 + d.image.snapshotIds.length;
    if (chunk.length > 0 && ids + size > CREATE_TAGS_IDS_PER_CALL) {
      chunks.push(chunk);
      chunk = [];
      ids = 0;
    }
    chunk.push(d);
    ids += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  for (const c of chunks) {
    const tag = (items: Decided[]) =>
      deps.ec2.tagResources(
        items.flatMap((d) => [d.image.imageId, ...d.image.snapshotIds]),
        { [TAG.status]: c[0]!.settlement.kind },
      );
    const done = (d: Decided) => {
      settled(d, deps, 'event');
      outcomes.set(d.image.imageId, { settlement: d.settlement });
    };
    const failed = (d: Decided, error: unknown) => {
      deps.log.error('could not settle image', { imageId: d.image.imageId, error: String(error) });
      outcomes.set(d.image.imageId, { error });
    };
    try {
      await tag(c);
      c.forEach(done);
    } catch (error) {
      if (c.length === 1 || !(error instanceof AwsCallError) || error.retryable) {
        for (const d of c) failed(d, error);
        continue;
      }
      for (const d of c) {
        try {
          await tag([d]);
          done(d);
        } catch (own) {
          failed(d, own);
        }
      }
    }
  }
}

/**
 * Settles the images EC2 announced, read with one DescribeImages for them all (the gateway splits
 * past 1,000 ids), with the same events and tags as each would alone, published together (PutEvents
 * takes ten entries a call), then tagged together (tagSettled). An image named twice is settled
 * once (the first reason EC2 gave is kept). One image's error is its own outcome and the others go
 * on: an event that is not published leaves its image untagged, to be retried; a describe that
 * fails is every image's error, to be retried. An image EC2 does not describe (deregistered, or not
 * visible yet) is left alone, as `settle` decides for a missing image; the reconcile finds it if it
 * is still pending.
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
  const outcomes = new Map<string, SettleOutcome>();
  const decided: Decided[] = [];
  for (const [imageId, hint] of hints) {
    const image = images.get(imageId);
    const settlement = settle(image, deps.managedBy, hint);
    if (!image || settlement.kind === 'unchanged') {
      outcomes.set(imageId, { settlement });
    } else if (settlement.kind === 'not-ours') {
      // Rare: said on its own, as applySettlement says it.
      try {
        outcomes.set(imageId, { settlement: await applySettlement(image, deps, 'event', hint) });
      } catch (error) {
        deps.log.error('could not settle image', { imageId, error: String(error) });
        outcomes.set(imageId, { error });
      }
    } else {
      decided.push({ image, settlement, event: eventFor(image, settlement, deps, 'event')! });
    }
  }
  // The events first: a crash before the tags leaves the images pending, and the retry says them again.
  let unpublished = new Map<OutgoingEvent, { code: string; message: string } | { error: unknown }>();
  if (decided.length > 0) {
    try {
      unpublished = new Map((await deps.events.publish(decided.map((d) => d.event))).failed.map((f) => [f.event, f]));
    } catch (error) {
      unpublished = new Map(decided.map((d) => [d.event, { error }]));
    }
  }
  const published = decided.filter((d) => {
    const failure = unpublished.get(d.event);
    if (failure === undefined) return true;
    // As publishOrThrow says it.
    const error =
      'error' in failure
        ? failure.error
        : new Error(`could not publish ${d.event.detailType} for ${d.image.imageId}: ${failure.code}: ${failure.message}`);
    deps.log.error('could not settle image', { imageId: d.image.imageId, error: String(error) });
    outcomes.set(d.image.imageId, { error });
    return false;
  });
  for (const kind of ['good', 'failed', 'verifying'] as const) {
    const group = published.filter((d) => d.settlement.kind === kind);
    if (group.length > 0) await tagSettled(group, deps, outcomes);
  }
  // In the order the images were first named.
  return new Map([...hints.keys()].map((imageId) => [imageId, outcomes.get(imageId)!]));
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
