/**
 * Schemas of the events the functions accept, in the shape AWS delivers them.
 * Samples of each live in events/.
 */
import * as v from 'valibot';
import { defineSchema, isoDateTime, looseObject, object, record, strictObject } from './schema.js';
import { BakeRequested, EVENT_SOURCE, ImageId, VerificationRequested } from './event-requests.js';
import { PERIODS, TimeZone } from './schedule.js';
import { ScheduleName, StackName } from './tags.js';
import { truncate } from './text.js';

/**
 * The envelope of every event EventBridge delivers: the same fields as Powertools'
 * `EventBridgeSchema`, declared here because that one is a zod schema, and importing
 * it would put zod back into every function's bundle (issue 18; the schemas are valibot).
 */
export const EventBridgeSchema = /* @__PURE__ */ defineSchema(() =>
  object({
    version: v.string(),
    id: v.string(),
    source: v.string(),
    account: v.string(),
    time: isoDateTime(),
    region: v.string(),
    resources: v.array(v.string()),
    'detail-type': v.string(),
    detail: v.unknown(),
    'replay-name': v.optional(v.string()),
  }),
);

/**
 * Slots carry four-digit years (2026-11-26): a firing time ISO allows but outside
 * 1970-9998 (year 0999, or 9999 shifted into 10000 by the zone) would fan out bake
 * requests with a slot the bake function rejects. Refused here, where the cause is.
 */
const FIRST_FIRING = Date.UTC(1970, 0, 1);
const LAST_FIRING = Date.UTC(9999, 0, 1);
const FiringTime = /* @__PURE__ */ defineSchema(() =>
  v.pipe(
    isoDateTime({ offset: true }),
    v.check((t) => Date.parse(t) >= FIRST_FIRING && Date.parse(t) < LAST_FIRING, 'a firing time between 1970 and 9998'),
  ),
);

/**
 * The input EventBridge Scheduler passes to the schedule function (declared in
 * serverless.yml); scheduledTime is Scheduler's `<aws.scheduler.scheduled-time>`,
 * the same on every retry of one firing. An on-demand run passes the current time.
 */
export const ScheduledRun = /* @__PURE__ */ defineSchema(() =>
  object({
    schedule: ScheduleName,
    period: v.picklist(PERIODS),
    timeZone: TimeZone,
    scheduledTime: FiringTime,
  }),
);
export type ScheduledRun = v.InferOutput<typeof ScheduledRun>;

/**
 * BakeRequested, as EventBridge delivers it from the service's own bus. Its managedBy
 * becomes the first part of the AMI name: a value no stack could have (`a!b`) is
 * refused here rather than thrown by the naming later, on every retry.
 */
export const BakeRequestedEvent = /* @__PURE__ */ defineSchema(() =>
  object({
    ...EventBridgeSchema.entries,
    source: v.literal(EVENT_SOURCE),
    'detail-type': v.literal('BakeRequested'),
    detail: object({ ...BakeRequested.entries, managedBy: StackName }),
  }),
);
export type BakeRequestedEvent = v.InferOutput<typeof BakeRequestedEvent>;

/** `EC2 AMI State Change`, from the default bus (best effort: the reconcile pass backs it up). */
export const AmiStateChangeEvent = /* @__PURE__ */ defineSchema(() =>
  object({
    ...EventBridgeSchema.entries,
    source: v.literal('aws.ec2'),
    'detail-type': v.literal('EC2 AMI State Change'),
    detail: object({
      RequestId: v.optional(v.string()),
      // ami- and 8 or 17 hex digits, as everywhere else: a 10,000-digit id is not sent to EC2.
      ImageId,
      State: v.string(),
      // Becomes ImageBakeFailed's message when EC2 gives no reason: kept far below EventBridge's 256 KB.
      ErrorMessage: v.optional(
        v.pipe(
          v.string(),
          v.transform((m) => truncate(m, 1000, '…')),
        ),
      ),
    }),
  }),
);
export type AmiStateChangeEvent = v.InferOutput<typeof AmiStateChangeEvent>;

/**
 * Input of the rotate function: from its schedule (`{"trigger": "schedule"}`) or
 * on demand; `dryRun` overrides the stage's DRY_RUN for that run. Strict: a key it
 * does not know is refused, so a misspelt `{"dryrun": true}` never deletes for real.
 */
export const RotationRequest = /* @__PURE__ */ defineSchema(() =>
  strictObject({
    trigger: v.optional(v.picklist(['schedule', 'manual']), 'manual'),
    dryRun: v.optional(v.boolean()),
  }),
);
export type RotationRequest = v.InferOutput<typeof RotationRequest>;

/** Input of the statusAlarms function: from its schedule (`{"trigger": "schedule"}`) or on demand; strict, like rotate's. */
export const StatusAlarmsRequest = /* @__PURE__ */ defineSchema(() =>
  strictObject({ trigger: v.optional(v.picklist(['schedule', 'manual']), 'manual') }),
);
export type StatusAlarmsRequest = v.InferOutput<typeof StatusAlarmsRequest>;

// ---- recovery triggers --------------------------------------------------------------------------

/** `EC2 Instance State-change Notification`; the state reason is not in it and must be described. */
export const InstanceStateChangeEvent = /* @__PURE__ */ defineSchema(() =>
  object({
    ...EventBridgeSchema.entries,
    source: v.literal('aws.ec2'),
    'detail-type': v.literal('EC2 Instance State-change Notification'),
    detail: object({
      'instance-id': v.pipe(v.string(), v.regex(/^i-[0-9a-f]{8,17}$/, 'not an instance id')),
      state: v.picklist(['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated']),
    }),
  }),
);
export type InstanceStateChangeEvent = v.InferOutput<typeof InstanceStateChangeEvent>;

/** `CloudWatch Alarm State Change` of a single-metric alarm on an instance. */
export const AlarmStateChangeEvent = /* @__PURE__ */ defineSchema(() =>
  object({
    ...EventBridgeSchema.entries,
    source: v.literal('aws.cloudwatch'),
    'detail-type': v.literal('CloudWatch Alarm State Change'),
    detail: object({
      // CloudWatch's own limits (1-255): the names go into RecoverySkipped's reason.
      alarmName: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
      state: object({ value: v.string(), reason: v.optional(v.string()) }),
      configuration: object({
        metrics: v.optional(
          v.array(
            object({
              metricStat: v.optional(
                object({
                  metric: object({
                    namespace: v.optional(v.string()),
                    name: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
                    dimensions: v.optional(record(v.string(), v.string()), {}),
                  }),
                }),
              ),
            }),
          ),
          [],
        ),
      }),
    }),
  }),
);
export type AlarmStateChangeEvent = v.InferOutput<typeof AlarmStateChangeEvent>;

/** `AWS Health Event` for EC2; affected instances come as bare ids or ARNs. */
export const HealthEvent = /* @__PURE__ */ defineSchema(() =>
  object({
    ...EventBridgeSchema.entries,
    source: v.literal('aws.health'),
    'detail-type': v.literal('AWS Health Event'),
    detail: object({
      service: v.string(),
      // AWS Health's event type code pattern; it goes into RecoverySkipped's reason.
      eventTypeCode: v.pipe(
        v.string(),
        v.regex(/^[a-zA-Z0-9_-]{3,100}$/, 'an AWS Health event type code is 3-100 letters, digits, _ or -'),
      ),
      eventArn: v.optional(v.string()),
      affectedEntities: v.optional(v.array(object({ entityValue: v.string() })), []),
    }),
  }),
);
export type HealthEvent = v.InferOutput<typeof HealthEvent>;

/** The three events that trigger recovery, told apart by detail-type. */
export const RecoveryTriggerEvent = /* @__PURE__ */ defineSchema(() =>
  v.variant('detail-type', [InstanceStateChangeEvent, AlarmStateChangeEvent, HealthEvent]),
);

/**
 * A deferred recovery handed back at its due time by the one-time schedule recovery created
 * (shared/domain/recovery-deferral.ts): the alarm or Health signal that waited, and why. Its
 * detail-type tells it apart from the events, as theirs do; like them, it ignores keys it does not know.
 */
export const RecheckRequest = /* @__PURE__ */ defineSchema(() =>
  object({
    'detail-type': v.literal('Recovery Recheck'),
    recheck: object({
      instanceId: v.pipe(v.string(), v.regex(/^i-[0-9a-f]{8,17}$/, 'not an instance id')),
      signal: v.variant('kind', [
        object({
          kind: v.literal('alarm'),
          alarmName: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
          metric: v.pipe(v.string(), v.minLength(1), v.maxLength(255)),
        }),
        object({ kind: v.literal('health'), eventTypeCode: v.pipe(v.string(), v.regex(/^[a-zA-Z0-9_-]{3,100}$/)) }),
      ]),
      cause: v.picklist(['reboot', 'bake-reboot']),
      since: isoDateTime(),
      until: isoDateTime(),
      /** When the signal's event happened: InstanceRelaunched's secondsToLaunch counts from it. */
      eventTime: isoDateTime(),
    }),
  }),
);
export type RecheckRequest = v.InferOutput<typeof RecheckRequest>;

/** What the recover function accepts: a trigger event, or a recheck at its due time, told apart by detail-type. */
export const RecoverInput = /* @__PURE__ */ defineSchema(() =>
  v.variant('detail-type', [InstanceStateChangeEvent, AlarmStateChangeEvent, HealthEvent, RecheckRequest]),
);
export type RecoverInput = v.InferOutput<typeof RecoverInput>;

/** VerificationRequested, as EventBridge delivers it from the service's own bus (settle-image.ts publishes it). */
export const VerificationRequestedEvent = /* @__PURE__ */ defineSchema(() =>
  object({
    ...EventBridgeSchema.entries,
    source: v.literal(EVENT_SOURCE),
    'detail-type': v.literal('VerificationRequested'),
    detail: VerificationRequested,
  }),
);

/** A verification's one-time schedule at its due time (verify-image.ts); scheduledTime is Scheduler's. */
export const VerificationCheck = /* @__PURE__ */ defineSchema(() =>
  object({
    'detail-type': v.literal('Verification Check'),
    imageId: ImageId,
    scheduledTime: isoDateTime({ offset: true }),
  }),
);

/** The sweep's recurring schedule (serverless.yml); scheduledTime is Scheduler's, or now for a run by hand. */
export const VerificationSweep = /* @__PURE__ */ defineSchema(() =>
  object({
    'detail-type': v.literal('Verification Sweep'),
    scheduledTime: v.optional(isoDateTime({ offset: true })),
  }),
);

/** What the verify function accepts, told apart by detail-type. */
export const VerifyInput = /* @__PURE__ */ defineSchema(() =>
  v.variant('detail-type', [VerificationRequestedEvent, VerificationCheck, VerificationSweep]),
);
export type VerifyInput = v.InferOutput<typeof VerifyInput>;

// ---- promotion ------------------------------------------------------------------------------------

/**
 * An image became good, from the service's own bus: ImageBaked, or ImageVerified once verification
 * exists (an image of a lineage that verifies is good only then). Only the image id is read: the
 * promote function reads the image's status from EC2, never from the event.
 */
export const ImageGoodEvent = /* @__PURE__ */ defineSchema(() =>
  object({
    ...EventBridgeSchema.entries,
    source: v.literal(EVENT_SOURCE),
    'detail-type': v.picklist(['ImageBaked', 'ImageVerified']),
    detail: looseObject({ managedBy: StackName, imageId: ImageId }),
  }),
);
export type ImageGoodEvent = v.InferOutput<typeof ImageGoodEvent>;

/**
 * The promote function's daily catch-up, from its schedule (`{"detail-type": "Promotion Catch-up",
 * "trigger": "schedule"}`) or on demand. Its detail-type tells it apart from the bus's events, as a
 * recheck's does for recover.
 */
export const PromotionReconcile = /* @__PURE__ */ defineSchema(() =>
  object({
    'detail-type': v.literal('Promotion Catch-up'),
    trigger: v.optional(v.picklist(['schedule', 'manual']), 'manual'),
  }),
);
export type PromotionReconcile = v.InferOutput<typeof PromotionReconcile>;

/** What the promote function accepts: an image that became good, or the catch-up, told apart by detail-type. */
export const PromoteInput = /* @__PURE__ */ defineSchema(() => v.variant('detail-type', [ImageGoodEvent, PromotionReconcile]));
export type PromoteInput = v.InferOutput<typeof PromoteInput>;

// ---- disaster-recovery copies (issue 17) ----------------------------------------------------------

/** The periodic copy reconcile: an EventBridge rule's ScheduleExpression on the default bus ("Scheduled Event", source aws.events). */
export const CopySweepEvent = /* @__PURE__ */ defineSchema(() =>
  object({ ...EventBridgeSchema.entries, source: v.literal('aws.events'), 'detail-type': v.literal('Scheduled Event') }),
);

/**
 * What the copy function accepts from its queue: an image became good (ImageBaked, from the service's
 * own bus), or the periodic sweep. Either runs one full pass; nothing of the event is read but its type.
 */
export const CopyTrigger = /* @__PURE__ */ defineSchema(() =>
  v.variant('detail-type', [
    object({
      ...EventBridgeSchema.entries,
      source: v.literal(EVENT_SOURCE),
      'detail-type': v.literal('ImageBaked'),
      detail: looseObject({ managedBy: StackName, imageId: ImageId }),
    }),
    CopySweepEvent,
  ]),
);
export type CopyTrigger = v.InferOutput<typeof CopyTrigger>;
