/**
 * Schemas of the events the functions accept, in the shape AWS delivers them.
 * Samples of each live in events/.
 */
import * as z from 'zod/mini';
import { defineSchema } from './zod.js';
import { BakeRequested, EVENT_SOURCE, ImageId, VerificationRequested } from './event-requests.js';
import { PERIODS, TimeZone } from './schedule.js';
import { ScheduleName, StackName } from './tags.js';
import { truncate } from './text.js';

/**
 * The envelope of every event EventBridge delivers: the same fields as Powertools'
 * `EventBridgeSchema`, declared here because that module imports zod in a way
 * esbuild cannot tree-shake (`import { z }`), which put all of zod's locales,
 * about 260 KiB, into every function's bundle.
 */
export const EventBridgeSchema = /* @__PURE__ */ defineSchema(() =>
  z.object({
    version: z.string(),
    id: z.string(),
    source: z.string(),
    account: z.string(),
    time: z.iso.datetime(),
    region: z.string(),
    resources: z.array(z.string()),
    'detail-type': z.string(),
    detail: z.unknown(),
    'replay-name': z.optional(z.string()),
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
  z.iso
    .datetime({ offset: true })
    .check(z.refine((t) => Date.parse(t) >= FIRST_FIRING && Date.parse(t) < LAST_FIRING, 'a firing time between 1970 and 9998')),
);

/**
 * The input EventBridge Scheduler passes to the schedule function (declared in
 * serverless.yml); scheduledTime is Scheduler's `<aws.scheduler.scheduled-time>`,
 * the same on every retry of one firing. An on-demand run passes the current time.
 */
export const ScheduledRun = /* @__PURE__ */ defineSchema(() =>
  z.object({
    schedule: ScheduleName,
    period: z.enum(PERIODS),
    timeZone: TimeZone,
    scheduledTime: FiringTime,
  }),
);
export type ScheduledRun = z.infer<typeof ScheduledRun>;

/**
 * BakeRequested, as EventBridge delivers it from the service's own bus. Its managedBy
 * becomes the first part of the AMI name: a value no stack could have (`a!b`) is
 * refused here rather than thrown by the naming later, on every retry.
 */
export const BakeRequestedEvent = /* @__PURE__ */ defineSchema(() =>
  z.extend(EventBridgeSchema, {
    source: z.literal(EVENT_SOURCE),
    'detail-type': z.literal('BakeRequested'),
    detail: z.extend(BakeRequested, { managedBy: StackName }),
  }),
);
export type BakeRequestedEvent = z.infer<typeof BakeRequestedEvent>;

/** `EC2 AMI State Change`, from the default bus (best effort: the reconcile pass backs it up). */
export const AmiStateChangeEvent = /* @__PURE__ */ defineSchema(() =>
  z.extend(EventBridgeSchema, {
    source: z.literal('aws.ec2'),
    'detail-type': z.literal('EC2 AMI State Change'),
    detail: z.object({
      RequestId: z.optional(z.string()),
      // ami- and 8 or 17 hex digits, as everywhere else: a 10,000-digit id is not sent to EC2.
      ImageId,
      State: z.string(),
      // Becomes ImageBakeFailed's message when EC2 gives no reason: kept far below EventBridge's 256 KB.
      ErrorMessage: z.optional(
        z.pipe(
          z.string(),
          z.transform((m) => truncate(m, 1000, '…')),
        ),
      ),
    }),
  }),
);
export type AmiStateChangeEvent = z.infer<typeof AmiStateChangeEvent>;

/**
 * Input of the rotate function: from its schedule (`{"trigger": "schedule"}`) or
 * on demand; `dryRun` overrides the stage's DRY_RUN for that run. Strict: a key it
 * does not know is refused, so a misspelt `{"dryrun": true}` never deletes for real.
 */
export const RotationRequest = /* @__PURE__ */ defineSchema(() =>
  z.strictObject({
    trigger: z._default(z.enum(['schedule', 'manual']), 'manual'),
    dryRun: z.optional(z.boolean()),
  }),
);
export type RotationRequest = z.infer<typeof RotationRequest>;

/** Input of the statusAlarms function: from its schedule (`{"trigger": "schedule"}`) or on demand; strict, like rotate's. */
export const StatusAlarmsRequest = /* @__PURE__ */ defineSchema(() =>
  z.strictObject({ trigger: z._default(z.enum(['schedule', 'manual']), 'manual') }),
);
export type StatusAlarmsRequest = z.infer<typeof StatusAlarmsRequest>;

// ---- recovery triggers --------------------------------------------------------------------------

/** `EC2 Instance State-change Notification`; the state reason is not in it and must be described. */
export const InstanceStateChangeEvent = /* @__PURE__ */ defineSchema(() =>
  z.extend(EventBridgeSchema, {
    source: z.literal('aws.ec2'),
    'detail-type': z.literal('EC2 Instance State-change Notification'),
    detail: z.object({
      'instance-id': z.string().check(z.regex(/^i-[0-9a-f]{8,17}$/, 'not an instance id')),
      state: z.enum(['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated']),
    }),
  }),
);
export type InstanceStateChangeEvent = z.infer<typeof InstanceStateChangeEvent>;

/** `CloudWatch Alarm State Change` of a single-metric alarm on an instance. */
export const AlarmStateChangeEvent = /* @__PURE__ */ defineSchema(() =>
  z.extend(EventBridgeSchema, {
    source: z.literal('aws.cloudwatch'),
    'detail-type': z.literal('CloudWatch Alarm State Change'),
    detail: z.object({
      // CloudWatch's own limits (1-255): the names go into RecoverySkipped's reason.
      alarmName: z.string().check(z.minLength(1), z.maxLength(255)),
      state: z.object({ value: z.string(), reason: z.optional(z.string()) }),
      configuration: z.object({
        metrics: z._default(
          z.array(
            z.object({
              metricStat: z.optional(
                z.object({
                  metric: z.object({
                    namespace: z.optional(z.string()),
                    name: z.string().check(z.minLength(1), z.maxLength(255)),
                    dimensions: z._default(z.record(z.string(), z.string()), {}),
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
export type AlarmStateChangeEvent = z.infer<typeof AlarmStateChangeEvent>;

/** `AWS Health Event` for EC2; affected instances come as bare ids or ARNs. */
export const HealthEvent = /* @__PURE__ */ defineSchema(() =>
  z.extend(EventBridgeSchema, {
    source: z.literal('aws.health'),
    'detail-type': z.literal('AWS Health Event'),
    detail: z.object({
      service: z.string(),
      // AWS Health's event type code pattern; it goes into RecoverySkipped's reason.
      eventTypeCode: z.string().check(z.regex(/^[a-zA-Z0-9_-]{3,100}$/, 'an AWS Health event type code is 3-100 letters, digits, _ or -')),
      eventArn: z.optional(z.string()),
      affectedEntities: z._default(z.array(z.object({ entityValue: z.string() })), []),
    }),
  }),
);
export type HealthEvent = z.infer<typeof HealthEvent>;

/** The three events that trigger recovery, told apart by detail-type. */
export const RecoveryTriggerEvent = /* @__PURE__ */ defineSchema(() =>
  z.discriminatedUnion('detail-type', [InstanceStateChangeEvent, AlarmStateChangeEvent, HealthEvent]),
);

/**
 * A deferred recovery handed back at its due time by the one-time schedule recovery created
 * (shared/domain/recovery-deferral.ts): the alarm or Health signal that waited, and why. Its
 * detail-type tells it apart from the events, as theirs do; like them, it ignores keys it does not know.
 */
export const RecheckRequest = /* @__PURE__ */ defineSchema(() =>
  z.object({
    'detail-type': z.literal('Recovery Recheck'),
    recheck: z.object({
      instanceId: z.string().check(z.regex(/^i-[0-9a-f]{8,17}$/, 'not an instance id')),
      signal: z.discriminatedUnion('kind', [
        z.object({
          kind: z.literal('alarm'),
          alarmName: z.string().check(z.minLength(1), z.maxLength(255)),
          metric: z.string().check(z.minLength(1), z.maxLength(255)),
        }),
        z.object({ kind: z.literal('health'), eventTypeCode: z.string().check(z.regex(/^[a-zA-Z0-9_-]{3,100}$/)) }),
      ]),
      cause: z.enum(['reboot', 'bake-reboot']),
      since: z.iso.datetime(),
      until: z.iso.datetime(),
      /** When the signal's event happened: InstanceRelaunched's secondsToLaunch counts from it. */
      eventTime: z.iso.datetime(),
    }),
  }),
);
export type RecheckRequest = z.infer<typeof RecheckRequest>;

/** What the recover function accepts: a trigger event, or a recheck at its due time, told apart by detail-type. */
export const RecoverInput = /* @__PURE__ */ defineSchema(() =>
  z.discriminatedUnion('detail-type', [InstanceStateChangeEvent, AlarmStateChangeEvent, HealthEvent, RecheckRequest]),
);
export type RecoverInput = z.infer<typeof RecoverInput>;

/** VerificationRequested, as EventBridge delivers it from the service's own bus (settle-image.ts publishes it). */
export const VerificationRequestedEvent = /* @__PURE__ */ defineSchema(() =>
  z.extend(EventBridgeSchema, {
    source: z.literal(EVENT_SOURCE),
    'detail-type': z.literal('VerificationRequested'),
    detail: VerificationRequested,
  }),
);

/** A verification's one-time schedule at its due time (verify-image.ts); scheduledTime is Scheduler's. */
export const VerificationCheck = /* @__PURE__ */ defineSchema(() =>
  z.object({
    'detail-type': z.literal('Verification Check'),
    imageId: ImageId,
    scheduledTime: z.iso.datetime({ offset: true }),
  }),
);

/** The sweep's recurring schedule (serverless.yml); scheduledTime is Scheduler's, or now for a run by hand. */
export const VerificationSweep = /* @__PURE__ */ defineSchema(() =>
  z.object({
    'detail-type': z.literal('Verification Sweep'),
    scheduledTime: z.optional(z.iso.datetime({ offset: true })),
  }),
);

/** What the verify function accepts, told apart by detail-type. */
export const VerifyInput = /* @__PURE__ */ defineSchema(() =>
  z.discriminatedUnion('detail-type', [VerificationRequestedEvent, VerificationCheck, VerificationSweep]),
);
export type VerifyInput = z.infer<typeof VerifyInput>;

// ---- promotion ------------------------------------------------------------------------------------

/**
 * An image became good, from the service's own bus: ImageBaked, or ImageVerified once verification
 * exists (an image of a lineage that verifies is good only then). Only the image id is read: the
 * promote function reads the image's status from EC2, never from the event.
 */
export const ImageGoodEvent = /* @__PURE__ */ defineSchema(() =>
  z.extend(EventBridgeSchema, {
    source: z.literal(EVENT_SOURCE),
    'detail-type': z.enum(['ImageBaked', 'ImageVerified']),
    detail: z.looseObject({ managedBy: StackName, imageId: ImageId }),
  }),
);
export type ImageGoodEvent = z.infer<typeof ImageGoodEvent>;

/**
 * The promote function's daily catch-up, from its schedule (`{"detail-type": "Promotion Catch-up",
 * "trigger": "schedule"}`) or on demand. Its detail-type tells it apart from the bus's events, as a
 * recheck's does for recover.
 */
export const PromotionReconcile = /* @__PURE__ */ defineSchema(() =>
  z.object({
    'detail-type': z.literal('Promotion Catch-up'),
    trigger: z._default(z.enum(['schedule', 'manual']), 'manual'),
  }),
);
export type PromotionReconcile = z.infer<typeof PromotionReconcile>;

/** What the promote function accepts: an image that became good, or the catch-up, told apart by detail-type. */
export const PromoteInput = /* @__PURE__ */ defineSchema(() => z.discriminatedUnion('detail-type', [ImageGoodEvent, PromotionReconcile]));
export type PromoteInput = z.infer<typeof PromoteInput>;

// ---- disaster-recovery copies (issue 17) ----------------------------------------------------------

/** The periodic copy reconcile: an EventBridge rule's ScheduleExpression on the default bus ("Scheduled Event", source aws.events). */
export const CopySweepEvent = /* @__PURE__ */ defineSchema(() =>
  z.extend(EventBridgeSchema, {
    source: z.literal('aws.events'),
    'detail-type': z.literal('Scheduled Event'),
  }),
);

/**
 * What the copy function accepts from its queue: an image became good (ImageBaked, from the service's
 * own bus), or the periodic sweep. Either runs one full pass; nothing of the event is read but its type.
 */
export const CopyTrigger = /* @__PURE__ */ defineSchema(() =>
  z.discriminatedUnion('detail-type', [
    z.extend(EventBridgeSchema, {
      source: z.literal(EVENT_SOURCE),
      'detail-type': z.literal('ImageBaked'),
      detail: z.looseObject({ managedBy: StackName, imageId: ImageId }),
    }),
    CopySweepEvent,
  ]),
);
export type CopyTrigger = z.infer<typeof CopyTrigger>;
