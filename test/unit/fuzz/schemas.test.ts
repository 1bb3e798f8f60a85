/**
 * Fuzzing the event schemas: whatever arrives, parsing answers (never throws), a
 * rejection carries issues that name the field at fault, the samples in events/
 * still pass, and what a schema lets through is fit for the code behind it.
 */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';

import {
  AlarmStateChangeEvent,
  CopyTrigger,
  AmiStateChangeEvent,
  BakeRequestedEvent,
  HealthEvent,
  InstanceStateChangeEvent,
  ImageGoodEvent,
  PromoteInput,
  PromotionReconcile,
  RecoverInput,
  RotationRequest,
  ScheduledRun,
  StatusAlarmsRequest,
  VerificationCheck,
  VerificationRequestedEvent,
  VerificationSweep,
  VerifyInput,
} from '../../../shared/domain/incoming.js';
import { planBake } from '../../../shared/domain/bake.js';
import { isValidAmiName } from '../../../shared/domain/naming.js';
import { slotFor, Slot } from '../../../shared/domain/schedule.js';
import {
  anyJson,
  dotted,
  fuzz,
  nearValid,
  samplesFor,
  SAMPLES,
  UNTARGETED_SAMPLES,
  wire,
  type FunctionName,
  type NearValid,
} from './arbitraries.js';

/** Each function's schema, and the schemas its union is made of. */
const FUNCTION_SCHEMAS: Record<FunctionName, v.GenericSchema> = {
  schedule: ScheduledRun,
  bake: BakeRequestedEvent,
  imageState: AmiStateChangeEvent,
  rotate: RotationRequest,
  statusAlarms: StatusAlarmsRequest,
  recover: RecoverInput,
  verify: VerifyInput,
  promote: PromoteInput,
  copy: CopyTrigger,
};
const ALL_SCHEMAS: Record<string, v.GenericSchema> = {
  ...FUNCTION_SCHEMAS,
  InstanceStateChangeEvent,
  AlarmStateChangeEvent,
  HealthEvent,
  VerificationRequestedEvent,
  VerificationCheck,
  VerificationSweep,
  ImageGoodEvent,
  PromotionReconcile,
};
const DISCRIMINATORS: readonly unknown[] = ['EC2 Instance State-change Notification', 'CloudWatch Alarm State Change', 'AWS Health Event'];

const issuePath = (i: v.BaseIssue<unknown>) => (i.path ?? []).map((p) => String(p.key)).join('.');

/** True when the issue is about the mutated field, something inside it, or the object that holds it. */
function related(issue: string, mutated: string): boolean {
  if (issue === mutated) return true;
  if (issue.startsWith(`${mutated}.`)) return true;
  return issue !== '' && mutated.startsWith(`${issue}.`);
}

/**
 * The issues of a rejected near-valid event name the field that was broken. One
 * exception: a `detail-type` changed to another event's makes the union check the
 * event against that event's schema, whose issues then name its fields.
 */
function expectIssuesNameTheField(near: NearValid, issues: readonly v.BaseIssue<unknown>[]) {
  const m = near.mutation;
  if (m.kind === 'replace' && dotted(m.path) === 'detail-type' && DISCRIMINATORS.includes(m.value)) return;
  const mutated = dotted(m.path);
  const paths = issues.map(issuePath);
  // An added key a strict object refuses is reported on the object that holds it.
  if (m.kind === 'add' && paths.includes(dotted(m.path.slice(0, -1)))) return;
  expect(
    paths.some((p) => related(p, mutated)),
    `${near.sample}: ${m.kind} ${mutated}: issues ${JSON.stringify(paths.slice(0, 5))}`,
  ).toBe(true);
}

describe('every schema, under fuzzing', () => {
  it('every sample in events/ is fuzzed: each is taken by some function', () => {
    expect(UNTARGETED_SAMPLES).toEqual([]);
    expect(SAMPLES.length).toBeGreaterThanOrEqual(12);
  });

  it.each(Object.keys(FUNCTION_SCHEMAS) as FunctionName[])('%s: its samples pass', (fn) => {
    for (const sample of samplesFor(fn)) expect(v.safeParse(FUNCTION_SCHEMAS[fn], sample.event).success, sample.file).toBe(true);
  });

  it.each(Object.keys(ALL_SCHEMAS))(
    '%s: never throws on arbitrary JSON, and a rejection lists at least one issue, each with a path and a message',
    (name) => {
      const schema = ALL_SCHEMAS[name]!;
      fc.assert(
        fc.property(anyJson, (input) => {
          // Act
          const result = v.safeParse(schema, input);

          // Assess
          if (!result.success) {
            expect(result.issues.length).toBeGreaterThan(0);
            for (const issue of result.issues) {
              // Valibot gives an issue about the event itself no path: the root.
              expect(issue.path === undefined || Array.isArray(issue.path)).toBe(true);
              expect(issue.message.trim()).not.toBe('');
            }
          }
        }),
        fuzz(60),
      );
    },
  );

  it.each(Object.keys(FUNCTION_SCHEMAS) as FunctionName[])(
    '%s: a sample with one field broken either still parses or is rejected with an issue naming that field',
    (fn) => {
      const schema = FUNCTION_SCHEMAS[fn];
      fc.assert(
        fc.property(fc.oneof(...samplesFor(fn).map(nearValid)), (near) => {
          // Act
          const result = v.safeParse(schema, near.event);

          // Assess
          if (!result.success) {
            expect(result.issues.length).toBeGreaterThan(0);
            expectIssuesNameTheField(near, result.issues);
          }
        }),
        fuzz(150),
      );
    },
  );
});

describe('what a schema accepts is fit for the code behind it', () => {
  /** An ISO time with any UTC offset EventBridge Scheduler's input could carry, across every year ISO allows. */
  const isoTime = fc
    .tuple(
      fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
      fc.integer({ min: -(23 * 60 + 59), max: 23 * 60 + 59 }),
      fc.boolean(),
    )
    .map(([date, offsetMin, zulu]) => {
      if (zulu) return date.toISOString();
      const local = new Date(date.getTime() + offsetMin * 60_000).toISOString().slice(0, 19);
      const sign = offsetMin < 0 ? '-' : '+';
      const abs = Math.abs(offsetMin);
      return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    });
  const nearNow = fc
    .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString());

  it('a scheduled run the schedule function accepts always has a slot the bake function accepts', () => {
    fc.assert(
      fc.property(
        fc.record({
          schedule: fc.constantFrom('nightly', 'weekly'),
          period: fc.constantFrom('hour', 'day', 'week', 'month'),
          timeZone: fc.constantFrom('UTC', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'Asia/Kathmandu', 'Europe/Paris', '+14:00', '-12:00'),
          scheduledTime: fc.oneof(isoTime, nearNow),
        }),
        (run) => {
          // Act
          const parsed = v.safeParse(ScheduledRun, run);

          // Assess: rejected at the door, or producing a slot bake accepts (never a slot it rejects later)
          if (parsed.success) {
            const slot = slotFor(new Date(parsed.output.scheduledTime), parsed.output.period, parsed.output.timeZone);
            expect(v.safeParse(Slot, slot).success, `${run.scheduledTime} ${run.timeZone} ${run.period} -> ${slot}`).toBe(true);
          } else {
            expect(parsed.issues.map(issuePath)).toContain('scheduledTime');
          }
        },
      ),
      fuzz(500),
    );
  });

  it('a bake request the bake function accepts always plans an image with a valid AMI name', () => {
    fc.assert(
      fc.property(fc.oneof(...samplesFor('bake').map(nearValid)), (near) => {
        // Act
        const parsed = v.safeParse(BakeRequestedEvent, near.event);

        // Assess: planning is where a bad name would throw, and a throw is retried for nothing
        if (parsed.success) expect(isValidAmiName(planBake(parsed.output.detail).image.name)).toBe(true);
      }),
      fuzz(500),
    );
  });

  it('rotation and alarm requests refuse any key they do not know: a misspelt dryRun never deletes for real', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.oneof(
            fc.constantFrom('dryrun', 'dry_run', 'DryRun', 'dryRun ', 'trigger', 'dryRun', '__proto__'),
            fc.string({ maxLength: 8 }),
          ),
          fc.jsonValue({ maxDepth: 1 }),
        ),
        (raw) => {
          // Prepare
          const input = wire(raw);
          const unknown = Object.keys(input as object).filter((k) => k !== 'trigger' && k !== 'dryRun');

          // Act / Assess
          if (unknown.length > 0) {
            expect(v.safeParse(RotationRequest, input).success).toBe(false);
            expect(v.safeParse(StatusAlarmsRequest, input).success).toBe(false);
          }
        },
      ),
      fuzz(300),
    );
  });

  it('times of this era are accepted', () => {
    for (const t of ['2026-11-26T03:00:00Z', '2026-11-26T03:00:00+01:00', '1970-01-01T00:00:00Z', '2999-12-31T23:59:59.999Z']) {
      expect(v.safeParse(ScheduledRun, { schedule: 'nightly', period: 'day', timeZone: 'UTC', scheduledTime: t }).success, t).toBe(true);
    }
  });
});
