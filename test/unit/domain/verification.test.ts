import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideBake, planBake } from '../../../shared/domain/bake.js';
import { settle, type ImageView } from '../../../shared/domain/image-status.js';
import { decideRecovery, recoveryImagesOf } from '../../../shared/domain/recovery.js';
import { planRotation } from '../../../shared/domain/retention.js';
import { parseInstancePolicy, TAG } from '../../../shared/domain/tags.js';
import {
  decideVerification,
  imagesToStart,
  lastLines,
  POLL_MINUTES,
  verifyClientToken,
  verifyScheduleName,
  type TestInstance,
  type VerificationView,
} from '../../../shared/domain/verification.js';

const NOW = new Date('2026-12-03T12:00:00Z');
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);
const instance = (over: Partial<TestInstance> = {}): TestInstance => ({
  instanceId: 'i-0aaaaaaaaaaaaaaa1',
  state: 'running',
  launchTime: minutesAgo(3),
  imageId: 'ami-00000001',
  ...over,
});
const view = (over: Partial<VerificationView> = {}): VerificationView => ({
  imageStatus: 'verifying',
  instance: instance(),
  checks: { system: 'ok', instance: 'ok' },
  command: undefined,
  settings: { timeoutMinutes: 15 },
  now: NOW,
  ...over,
});

describe('the verify tag', () => {
  it('is read from the instance, an unreadable value reported and the stage default kept', () => {
    expect(parseInstancePolicy({ [TAG.verify]: 'BOOT ' }, []).verify).toBe('boot');
    expect(parseInstancePolicy({}, []).verify).toBeUndefined();
    const bad = parseInstancePolicy({ [TAG.verify]: 'yes' }, []);
    expect(bad.verify).toBeUndefined();
    expect(bad.bakeable).toBe(true);
    expect(bad.problems).toEqual([{ tag: TAG.verify, value: 'yes', reason: 'expected one of off, boot' }]);
  });

  it('goes onto the image, from the instance or the stage default; off wins over a boot default', () => {
    const run = { managedBy: 'stack', schedule: 'nightly', slot: '2026-12-03', knownSchedules: ['nightly'], now: NOW };
    const bake = (tags: Record<string, string>, verifyDefault?: 'off' | 'boot') =>
      planBake(
        decideBake(
          { instanceId: 'i-0123456789abcdef0', state: 'running', tags: { [TAG.bake]: 'nightly', ...tags } },
          { ...run, verifyDefault },
        ).request!,
      ).image.tags[TAG.verify];
    expect(bake({ [TAG.verify]: 'boot' })).toBe('boot');
    expect(bake({}, 'boot')).toBe('boot');
    expect(bake({ [TAG.verify]: 'off' }, 'boot')).toBeUndefined();
    expect(bake({})).toBeUndefined();
  });
});

describe('settle', () => {
  const image = (tags: Record<string, string>): ImageView => ({
    imageId: 'ami-00000001',
    name: 'n',
    state: 'available',
    tags: { [TAG.managedBy]: 'stack', [TAG.status]: 'pending', [TAG.sourceInstance]: 'i-1', ...tags },
    snapshotIds: [],
    sourceInstanceId: 'i-1',
  });

  it('marks an available image of verify=boot verifying, not good', () => {
    expect(settle(image({ [TAG.verify]: 'boot' }), 'stack')).toEqual({ kind: 'verifying' });
    expect(settle(image({}), 'stack')).toEqual({ kind: 'good' });
    // Verifying is settled: a late AMI event changes nothing.
    expect(settle(image({ [TAG.verify]: 'boot', [TAG.status]: 'verifying' }), 'stack')).toEqual({
      kind: 'unchanged',
      why: 'already-settled',
    });
  });
});

describe('decideVerification', () => {
  it('launches for a verifying image without a test instance', () => {
    expect(decideVerification(view({ instance: undefined, checks: undefined }))).toEqual({ kind: 'launch' });
  });

  it('passes when both checks passed and no command is configured', () => {
    expect(decideVerification(view())).toEqual({ kind: 'pass', checks: { system: 'ok', instance: 'ok' } });
  });

  it('fails on an impaired check, naming which', () => {
    expect(decideVerification(view({ checks: { system: 'impaired', instance: 'ok' } }))).toMatchObject({
      kind: 'fail',
      check: 'system-status',
    });
    expect(decideVerification(view({ checks: { system: 'ok', instance: 'impaired' } }))).toMatchObject({
      kind: 'fail',
      check: 'instance-status',
    });
  });

  it('fails when the test instance stopped or ended before its checks passed', () => {
    for (const state of ['stopping', 'stopped', 'shutting-down', 'terminated']) {
      expect(decideVerification(view({ instance: instance({ state }), checks: undefined }))).toMatchObject({
        kind: 'fail',
        check: 'instance-state',
      });
    }
  });

  it('waits while the checks initialize, never past the deadline, then times out', () => {
    const booting = { system: 'ok', instance: 'initializing' };
    expect(decideVerification(view({ checks: booting }))).toEqual({
      kind: 'wait',
      until: new Date(NOW.getTime() + POLL_MINUTES * 60_000),
      why: 'system ok, instance initializing',
    });
    // Launched 14 minutes ago, a 15-minute timeout: the next look is at the deadline, not later.
    expect(decideVerification(view({ checks: booting, instance: instance({ launchTime: minutesAgo(14) }) }))).toMatchObject({
      kind: 'wait',
      until: minutesAgo(-1),
    });
    expect(decideVerification(view({ checks: booting, instance: instance({ launchTime: minutesAgo(15) }) }))).toMatchObject({
      kind: 'fail',
      check: 'timeout',
    });
    expect(decideVerification(view({ checks: undefined, instance: instance({ state: 'pending' }) }))).toMatchObject({ kind: 'wait' });
  });

  it('sends the command once the checks passed, then passes or fails on its result', () => {
    const settings = { timeoutMinutes: 15, command: { document: 'AWS-RunShellScript', parameters: { commands: ['true'] } } };
    expect(decideVerification(view({ settings }))).toEqual({ kind: 'send-command' });
    expect(decideVerification(view({ settings, command: { commandId: 'c', status: 'InProgress' } }))).toMatchObject({ kind: 'wait' });
    expect(decideVerification(view({ settings, command: { commandId: 'c', status: 'Success' } }))).toMatchObject({ kind: 'pass' });
    expect(decideVerification(view({ settings, command: { commandId: 'c', status: 'Failed', detail: 'exit 1' } }))).toEqual({
      kind: 'fail',
      check: 'command',
      reason: 'AWS-RunShellScript ended Failed: exit 1',
    });
  });

  it('only ends a live test instance of an image no longer verifying', () => {
    expect(decideVerification(view({ imageStatus: 'good' }))).toEqual({ kind: 'clean-up' });
    expect(decideVerification(view({ imageStatus: undefined }))).toEqual({ kind: 'clean-up' });
    expect(decideVerification(view({ imageStatus: 'failed', instance: instance({ state: 'terminated' }) }))).toMatchObject({
      kind: 'nothing',
    });
  });

  it('never passes an image whose checks did not both pass, and never waits past the deadline (property)', () => {
    const CHECK = fc.constantFrom('ok', 'impaired', 'initializing', 'insufficient-data', 'not-applicable');
    fc.assert(
      fc.property(
        fc.constantFrom('pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated'),
        fc.option(fc.record({ system: CHECK, instance: CHECK }), { nil: undefined }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 1, max: 60 }),
        (state, checks, age, timeoutMinutes) => {
          const step = decideVerification(
            view({ instance: instance({ state, launchTime: minutesAgo(age) }), checks, settings: { timeoutMinutes } }),
          );
          if (step.kind === 'pass') expect([state, checks?.system, checks?.instance]).toEqual(['running', 'ok', 'ok']);
          if (step.kind === 'wait') {
            expect(age).toBeLessThan(timeoutMinutes);
            expect(step.until.getTime()).toBeLessThanOrEqual(minutesAgo(age - timeoutMinutes).getTime());
            expect(step.until.getTime()).toBeGreaterThan(NOW.getTime());
          }
          expect(['launch', 'clean-up', 'nothing', 'send-command']).not.toContain(step.kind);
        },
      ),
    );
  });
});

describe('imagesToStart', () => {
  const waiting = [
    { imageId: 'ami-00000003', createdAt: minutesAgo(1) },
    { imageId: 'ami-00000001', createdAt: minutesAgo(30) },
    { imageId: 'ami-00000002', createdAt: minutesAgo(20) },
  ];

  it('starts the oldest images, as many as slots are free', () => {
    expect(imagesToStart(waiting, 0, 2)).toEqual(['ami-00000001', 'ami-00000002']);
    expect(imagesToStart(waiting, 1, 2)).toEqual(['ami-00000001']);
    expect(imagesToStart(waiting, 2, 2)).toEqual([]);
    expect(imagesToStart(waiting, 5, 2)).toEqual([]);
  });

  it('never starts more than the free slots, and always the oldest (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.record({ imageId: fc.stringMatching(/^ami-[0-9a-f]{8}$/), createdAt: fc.date({ noInvalidDate: true }) }), {
          selector: (i) => i.imageId,
          maxLength: 10,
        }),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        (images, live, max) => {
          const started = imagesToStart(images, live, max);
          expect(started.length).toBe(Math.min(images.length, Math.max(0, max - live)));
          const oldestStarted = images.filter((i) => started.includes(i.imageId));
          const left = images.filter((i) => !started.includes(i.imageId));
          for (const s of oldestStarted) for (const l of left) expect(s.createdAt.getTime()).toBeLessThanOrEqual(l.createdAt.getTime());
        },
      ),
    );
  });
});

describe('names', () => {
  it('keeps the schedule name within 64 characters and the client token within 64', () => {
    expect(verifyScheduleName('a'.repeat(32), 'ami-0123456789abcdef0').length).toBeLessThanOrEqual(64);
    expect(verifyClientToken('ami-0123456789abcdef0').length).toBeLessThanOrEqual(64);
  });

  it('keeps the last lines of a console output', () => {
    const output = Array.from({ length: 30 }, (_, i) => `line ${i}`).join('\r\n');
    expect(lastLines(output, 3)).toBe('line 27\nline 28\nline 29');
    expect(lastLines('x'.repeat(5000)).length).toBe(2000);
  });
});

describe('recovery and rotation treat a verifying image as not good', () => {
  const STATUSES = ['pending', 'verifying', 'good', 'failed', 'bad'] as const;
  const arbImage = fc.record({
    imageId: fc.stringMatching(/^ami-[0-9a-f]{8}$/),
    status: fc.constantFrom(...STATUSES),
    failure: fc.option(fc.constantFrom('instance-status: impaired', 'timeout: no verdict'), { nil: undefined }),
    minutes: fc.integer({ min: 1, max: 100_000 }),
  });
  const toView = (i: { imageId: string; status: string; failure: string | undefined; minutes: number }): ImageView => ({
    imageId: i.imageId,
    name: i.imageId,
    state: 'available',
    creationDate: minutesAgo(i.minutes).toISOString(),
    tags: {
      [TAG.managedBy]: 'stack',
      [TAG.lineage]: 'web',
      [TAG.status]: i.status,
      [TAG.sourceInstance]: 'i-1',
      [TAG.verify]: 'boot',
      // The verifier writes the failure with status=failed in one CreateTags: never one without the other.
      ...(i.failure && i.status === 'failed' ? { [TAG.failure]: i.failure } : {}),
    },
    snapshotIds: [],
    sourceInstanceId: 'i-1',
  });

  it('recovery never relaunches from an image that is verifying or failed its verification (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(arbImage, { selector: (i) => i.imageId, maxLength: 10 }), (images) => {
        const views = images.map(toView);
        const decision = decideRecovery({
          signal: { kind: 'state', instanceId: 'i-1', state: 'terminated' },
          instance: { tags: { [TAG.recover]: 'on-failure' }, state: 'terminated', stateReasonCode: 'Server.InternalError' },
          mode: 'on-failure',
          images: recoveryImagesOf(views),
          relaunchesLastHour: 0,
          maxRelaunchesPerHour: 3,
          crashLoopGraceMinutes: 30,
          deferral: { instanceCheckWaitMinutes: 15, bakeRebootWindowMinutes: 20 },
          now: NOW,
        });
        if (decision.action !== 'relaunch') {
          expect(images.some((i) => i.status === 'good')).toBe(false);
          return;
        }
        const chosen = images.find((i) => i.imageId === decision.imageId)!;
        expect(chosen.status).toBe('good');
        expect(views.find((v) => v.imageId === chosen.imageId)!.tags[TAG.failure]).toBeUndefined();
      }),
    );
  });

  it('rotation keeps a verifying image and never counts it as the last good one', () => {
    const images = [
      { imageId: 'ami-00000001', status: 'good', minutes: 3000 },
      { imageId: 'ami-00000002', status: 'verifying', minutes: 10 },
    ].map((i) => ({
      imageId: i.imageId,
      name: i.imageId,
      managedBy: 'stack',
      lineage: 'web',
      schedule: 'nightly',
      status: i.status as 'good' | 'verifying',
      state: 'available',
      createdAt: minutesAgo(i.minutes),
      retainTag: undefined,
      snapshotIds: [],
      deprecated: false,
    }));
    const plan = planRotation({
      managedBy: 'stack',
      now: NOW,
      timeZone: 'UTC',
      images,
      instancePolicies: new Map([['web', { kind: 'count' as const, count: 1 }]]),
      defaultRetention: { kind: 'count', count: 1 },
      inUse: new Map(),
      failedGraceDays: 3,
    });
    const byId = Object.fromEntries(plan.decisions.map((d) => [d.imageId, d]));
    expect(byId['ami-00000001']!.action).toBe('keep');
    expect(byId['ami-00000002']).toMatchObject({ action: 'keep', reasons: [expect.stringMatching(/^verifying/)] });
  });
});
