/**
 * What the functions need of the published events at run time: the requests the service sends
 * itself (BakeRequested, VerificationRequested) and parses again, the ids they carry, and the
 * typed constructor of an outgoing event. The other detail schemas (events.ts) are for readers
 * of the bus (the CLI, the docs, the tests): building them all at load cost every function's
 * cold start (issue 18), so they stay out of its bundle.
 */
import * as v from 'valibot';
import { defineSchema, isoDateTime, object, record } from './schema.js';
import type { DETAIL_SCHEMAS, DetailType, OutgoingEvent } from './events.js';
import { Lineage, Region, ScheduleName } from './tags.js';
import { Slot } from './schedule.js';
import { LaunchConfig } from './launch.js';

export const EVENT_SOURCE = 'ami-lifecycle';

export const InstanceId = /* @__PURE__ */ defineSchema(() => v.pipe(v.string(), v.regex(/^i-[0-9a-f]{8,17}$/, 'not an instance id')));
export const ImageId = /* @__PURE__ */ defineSchema(() => v.pipe(v.string(), v.regex(/^ami-[0-9a-f]{8,17}$/, 'not an image id')));
export const ManagedBy = /* @__PURE__ */ defineSchema(() => v.pipe(v.string(), v.minLength(1)));

/** One instance to bake for one slot of one schedule. Dedupe key: instanceId + schedule + slot. */
export const BakeRequested = /* @__PURE__ */ defineSchema(() =>
  object({
    managedBy: ManagedBy,
    instanceId: InstanceId,
    lineage: Lineage,
    /** The instance has no lineage tag yet: the bake gives it one (its own id). */
    assignLineage: v.boolean(),
    instanceName: v.optional(v.pipe(v.string(), v.maxLength(256))),
    schedule: ScheduleName,
    slot: Slot,
    reboot: v.boolean(),
    /** The instance's valid retain tag, stamped on the image: the lineage's policy survives the instance. */
    retain: v.optional(v.pipe(v.string(), v.maxLength(256))),
    requestedAt: isoDateTime(),
    /**
     * The launch configuration to capture for recovery, when it changed since the last
     * capture (the digest goes on the instance once it is saved).
     */
    capture: v.optional(object({ digest: v.pipe(v.string(), v.regex(/^[0-9a-f]{16}$/)), config: LaunchConfig })),
    /**
     * Devices left out of the image (excluded volumes, or every non-root one with volumes=root).
     * Absent: every volume goes in, as before this field existed.
     */
    excludeDevices: v.optional(v.array(v.pipe(v.string(), v.minLength(1)))),
    /** The instance's tags to copy onto the image and its snapshots (copyTags), as read at the run. */
    copyTags: v.optional(record(v.pipe(v.string(), v.maxLength(128)), v.pipe(v.string(), v.maxLength(256)))),
    /** `boot`: the image is good only once a test instance booted from it (issue 15). Absent: as before, available is good. */
    verify: v.optional(v.literal('boot')),
    /** Issue 17: the regions its image is copied to (the instance's copy-to, else the stage's copyTo). Absent: none. */
    copyTo: v.optional(v.pipe(v.array(Region), v.maxLength(30))),
    /** Issue 17: the instance's valid copy-retain, stamped on the image (and so on its copies). */
    copyRetain: v.optional(v.pipe(v.string(), v.maxLength(256))),
    /**
     * Issue 16: the instance's promote tag, stamped on the image, whose ImageBaked then says
     * `promotes` and so reaches the promote function (issue 18: the others never invoke it).
     */
    promote: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(256))),
  }),
);
export type BakeRequested = v.InferOutput<typeof BakeRequested>;

/**
 * An image of a lineage with verify=boot is available and now `verifying`: the service's own
 * request to its verify function (docs/verification.md). Dedupe key: imageId.
 */
export const VerificationRequested = /* @__PURE__ */ defineSchema(() =>
  object({
    managedBy: ManagedBy,
    imageId: ImageId,
    lineage: v.string(),
  }),
);
export type VerificationRequested = v.InferOutput<typeof VerificationRequested>;

export function outgoing<K extends DetailType>(detailType: K, detail: v.InferOutput<(typeof DETAIL_SCHEMAS)[K]>): OutgoingEvent {
  return { detailType, detail } as OutgoingEvent;
}

/** Identity of an event for logs and deduplication. */
export function subjectOf(event: OutgoingEvent): string {
  const d = event.detail as Record<string, unknown>;
  return String(d.failedInstanceId ?? d.imageId ?? d.instanceId ?? '');
}
