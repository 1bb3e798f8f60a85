import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  classifyStateReason,
  decideRecovery,
  instanceIdOf,
  MAINTENANCE_TAG,
  recoveryImage,
  type FailureSignal,
  type RecoveryImage,
  type RecoveryInput,
} from '../../../shared/domain/recovery.js';
import { TAG } from '../../../shared/domain/tags.js';

const NOW = new Date('2026-11-26T12:00:00Z');
const ID = 'i-0123456789abcdef0';
const hoursAgo = (h: number) => new Date(NOW.getTime() - h * 3_600_000);
const img = (imageId: string, hours: number, status = 'good', state = 'available'): RecoveryImage => ({
  imageId,
  status,
  state,
  createdAt: hoursAgo(hours),
});
const IMAGES = [img('ami-00000003', 10), img('ami-00000002', 34), img('ami-00000001', 58)];
const terminated: FailureSignal = { kind: 'state', instanceId: ID, state: 'terminated' };

const input = (overrides: Partial<RecoveryInput> = {}): RecoveryInput => ({
  signal: terminated,
  instance: { tags: {}, state: 'terminated', stateReasonCode: 'Server.InternalError' },
  mode: 'on-failure',
  images: IMAGES,
  relaunchesLastHour: 0,
  maxRelaunchesPerHour: 3,
  crashLoopGraceMinutes: 30,
  deferral: { instanceCheckWaitMinutes: 15, bakeRebootWindowMinutes: 20 },
  now: NOW,
  ...overrides,
});

describe('classifyStateReason', () => {
  it.each([
    ['Server.InternalError', 'failure'],
    ['Server.InsufficientInstanceCapacity', 'failure'],
    ['Server.ScheduledStop', 'failure'],
    ['Server.SpotInstanceShutdown', 'failure'],
    ['Server.SpotInstanceTermination', 'failure'],
    ['Server.SomethingNew', 'failure'],
    ['Client.InternalError', 'failure'],
    ['Client.VolumeLimitExceeded', 'failure'],
    ['Client.UserInitiatedShutdown', 'user'],
    ['Client.UserInitiatedHibernate', 'user'],
    ['Client.InstanceInitiatedShutdown', 'user'],
    ['Client.SomethingNew', 'unknown'],
    ['', 'unknown'],
    [undefined, 'unknown'],
  ] as const)('%s is a %s', (code, expected) => {
    expect(classifyStateReason(code)).toBe(expected);
  });
});

describe('instanceIdOf', () => {
  it('reads a bare id and the ARN form AWS Health uses, and nothing else', () => {
    expect(instanceIdOf(ID)).toBe(ID);
    expect(instanceIdOf(` ${ID} `)).toBe(ID);
    expect(instanceIdOf(`arn:aws:ec2:us-east-1:123456789012:instance/${ID}`)).toBe(ID);
    expect(instanceIdOf(`arn:aws-cn:ec2:cn-north-1:123456789012:instance/${ID}`)).toBe(ID);
    expect(instanceIdOf('arn:aws:ec2:us-east-1:123456789012:volume/vol-0123456789abcdef0')).toBeUndefined();
    expect(instanceIdOf('i-XYZ')).toBeUndefined();
    expect(instanceIdOf('')).toBeUndefined();
  });
});

describe('recoveryImage', () => {
  it('is the newest good, available image, never a pending, failed or bad one', () => {
    // Prepare
    const images = [
      img('ami-0000000a', 1, 'pending', 'pending'),
      img('ami-0000000b', 2, 'failed', 'failed'),
      img('ami-0000000c', 3, 'bad'),
      ...IMAGES,
    ];

    // Act / Assess
    expect(recoveryImage(images)?.imageId).toBe('ami-00000003');
    expect(recoveryImage(images, new Set(['ami-00000003']))?.imageId).toBe('ami-00000002');
    expect(recoveryImage([img('ami-0000000a', 1, 'pending', 'pending')])).toBeUndefined();
  });

  it('never picks an image that is not good, or one excluded (property)', () => {
    const arbImage = fc.record({
      imageId: fc.stringMatching(/^ami-[0-9a-f]{8}$/),
      status: fc.constantFrom('good', 'pending', 'failed', 'bad', undefined),
      state: fc.constantFrom('available', 'pending', 'failed'),
      createdAt: fc.date({ min: new Date('2026-01-01T00:00:00Z'), max: new Date('2027-01-01T00:00:00Z'), noInvalidDate: true }),
    });
    fc.assert(
      fc.property(
        fc.array(arbImage, { maxLength: 12 }),
        fc.array(fc.stringMatching(/^ami-[0-9a-f]{8}$/), { maxLength: 4 }),
        (images, excluded) => {
          const chosen = recoveryImage(images, new Set(excluded));
          if (!chosen) {
            expect(images.some((i) => i.status === 'good' && i.state === 'available' && !excluded.includes(i.imageId))).toBe(false);
            return;
          }
          expect(chosen.status).toBe('good');
          expect(chosen.state).toBe('available');
          expect(excluded).not.toContain(chosen.imageId);
          for (const other of images) {
            if (other.status === 'good' && other.state === 'available' && !excluded.includes(other.imageId)) {
              expect(other.createdAt.getTime()).toBeLessThanOrEqual(chosen.createdAt.getTime());
            }
          }
        },
      ),
    );
  });
});

describe('decideRecovery', () => {
  it('relaunches a failed instance from the newest good image', () => {
    expect(decideRecovery(input())).toEqual({ action: 'relaunch', imageId: 'ami-00000003', reason: 'state signal' });
  });

  it('does nothing when recovery is off, or the instance was already replaced', () => {
    expect(decideRecovery(input({ mode: 'off' }))).toMatchObject({ action: 'skip', reason: 'recovery is off for this instance' });
    expect(
      decideRecovery(
        input({
          instance: { tags: { [TAG.replacedBy]: 'i-0fedcba9876543210' }, state: 'stopped', stateReasonCode: 'Server.InternalError' },
        }),
      ),
    ).toMatchObject({ action: 'skip', reason: 'already replaced by i-0fedcba9876543210' });
  });

  it('respects a stop or termination by a person under on-failure, and relaunches it under always', () => {
    // Prepare
    const byPerson = { tags: {}, state: 'stopped', stateReasonCode: 'Client.UserInitiatedShutdown' };
    const stopped: FailureSignal = { kind: 'state', instanceId: ID, state: 'stopped' };

    // Act / Assess
    const skipped = decideRecovery(input({ signal: stopped, instance: byPerson }));
    expect(skipped).toMatchObject({ action: 'skip' });
    expect((skipped as { reason: string }).reason).toMatch(/Client.UserInitiatedShutdown: stopped or terminated by a person/);
    expect(decideRecovery(input({ signal: stopped, instance: byPerson, mode: 'always' }))).toMatchObject({ action: 'relaunch' });
    expect(decideRecovery(input({ instance: { tags: {}, state: 'terminated' } }))).toMatchObject({
      action: 'skip',
      reason: expect.stringMatching(/no failure reason given/),
    });
  });

  it('skips an instance under maintenance even with always', () => {
    const decision = decideRecovery(
      input({ mode: 'always', instance: { tags: { [MAINTENANCE_TAG]: 'kernel upgrade' }, state: 'stopped' } }),
    );
    expect(decision).toMatchObject({ action: 'skip', reason: expect.stringMatching(/ami-lifecycle:maintenance/) });
  });

  it('relaunches on a status-check alarm and on a retirement or degraded-hardware health event only', () => {
    const alarm = (metric: string): FailureSignal => ({ kind: 'alarm', instanceId: ID, alarmName: 'web-status', metric });
    const health = (code: string): FailureSignal => ({ kind: 'health', instanceId: ID, eventTypeCode: code });
    const running = { tags: {}, state: 'running' };
    expect(decideRecovery(input({ signal: alarm('StatusCheckFailed_System'), instance: running }))).toMatchObject({ action: 'relaunch' });
    expect(decideRecovery(input({ signal: alarm('CPUUtilization'), instance: running }))).toMatchObject({ action: 'skip' });
    expect(decideRecovery(input({ signal: health('AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED'), instance: running }))).toMatchObject({
      action: 'relaunch',
    });
    expect(decideRecovery(input({ signal: health('AWS_EC2_INSTANCE_STOP_SCHEDULED'), instance: running }))).toMatchObject({
      action: 'relaunch',
    });
    expect(decideRecovery(input({ signal: health('AWS_EC2_OPERATIONAL_NOTIFICATION'), instance: running }))).toMatchObject({
      action: 'skip',
    });
  });

  it('gives up past the hourly limit of relaunches', () => {
    expect(decideRecovery(input({ relaunchesLastHour: 3 }))).toEqual({
      action: 'give-up',
      reason: '3 relaunches of this lineage in the last hour (limit 3)',
    });
  });

  it('marks the image of a replacement that failed within the grace period bad and falls back to the next good one', () => {
    // Prepare: the failed instance was itself launched from ami-00000003 ten minutes ago
    const instance = {
      tags: { [TAG.replaces]: 'i-0aaaabbbbccccdddd' },
      state: 'terminated',
      stateReasonCode: 'Client.InstanceInitiatedShutdown',
      launchTime: new Date(NOW.getTime() - 600_000),
    };

    // Act
    const decision = decideRecovery(input({ instance, launchedFrom: 'ami-00000003' }));

    // Assess
    expect(decision).toEqual({
      action: 'relaunch',
      imageId: 'ami-00000002',
      markBad: 'ami-00000003',
      reason:
        'replacement from ami-00000003 failed within 30 min of its launch: it was terminated from inside (Client.InstanceInitiatedShutdown)',
    });
    // the same replacement failing after the grace period blames nothing
    const later = { ...instance, launchTime: hoursAgo(2), stateReasonCode: 'Server.InternalError' };
    expect(decideRecovery(input({ instance: later, launchedFrom: 'ami-00000003' }))).toMatchObject({ imageId: 'ami-00000003' });
  });

  it('never blames an image when an operator asks for the relaunch, however young the replacement', () => {
    // Prepare: a replacement launched from ami-00000003 ten minutes ago, relaunched by hand
    const instance = { tags: { [TAG.replaces]: 'i-0aaaabbbbccccdddd' }, state: 'running', launchTime: new Date(NOW.getTime() - 600_000) };

    // Act
    const decision = decideRecovery(
      input({ signal: { kind: 'manual', instanceId: ID }, mode: 'always', instance, launchedFrom: 'ami-00000003' }),
    );

    // Assess
    expect(decision).toEqual({ action: 'relaunch', imageId: 'ami-00000003', reason: 'manual signal' });
  });

  it('launches nothing when the lineage has no good image', () => {
    expect(decideRecovery(input({ images: [img('ami-0000000a', 1, 'pending', 'pending')] }))).toEqual({
      action: 'skip',
      reason: 'the lineage has no good image',
    });
  });
});

// Issue 22, part 2: blame an image only for what says something about the image.
describe('decideRecovery: the blame rule (property)', () => {
  const REASONS = [
    'Client.UserInitiatedShutdown',
    'Client.InstanceInitiatedShutdown',
    'Client.UserInitiatedHibernate',
    'Client.InternalError',
    'Client.VolumeLimitExceeded',
    'Client.InvalidKMSKey.InvalidState',
    'Server.InternalError',
    'Server.SpotInstanceTermination',
    'Server.InsufficientInstanceCapacity',
    'Server.ScheduledStop',
    undefined,
  ];
  const CHECK = fc.constantFrom('ok', 'impaired', 'initializing', 'insufficient-data', 'not-applicable');
  const signalArb: fc.Arbitrary<FailureSignal> = fc.oneof(
    fc.constantFrom('stopped', 'terminated').map((state): FailureSignal => ({ kind: 'state', instanceId: ID, state })),
    fc
      .constantFrom('StatusCheckFailed', 'StatusCheckFailed_System', 'StatusCheckFailed_Instance')
      .map((metric): FailureSignal => ({ kind: 'alarm', instanceId: ID, alarmName: 'a', metric })),
    fc.constant<FailureSignal>({ kind: 'health', instanceId: ID, eventTypeCode: 'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED' }),
    fc.boolean().map((force): FailureSignal => ({ kind: 'manual', instanceId: ID, force })),
  );

  it('marks an image bad only for an instance status check or a shutdown from inside, soon after the replacement launched from it', () => {
    fc.assert(
      fc.property(
        signalArb,
        fc.constantFrom(...REASONS),
        fc.integer({ min: 0, max: 120 }),
        fc.constantFrom('on-failure', 'always') as fc.Arbitrary<'on-failure' | 'always'>,
        fc.option(fc.record({ system: CHECK, instance: CHECK }), { nil: undefined }),
        (signal, stateReasonCode, minutes, mode, statusChecks) => {
          // Act: a replacement launched from the newest image `minutes` ago fails
          const decision = decideRecovery(
            input({
              signal,
              mode,
              launchedFrom: 'ami-00000003',
              statusChecks,
              instance: {
                tags: { [TAG.replaces]: 'i-0aaaabbbbccccdddd' },
                state: 'terminated',
                stateReasonCode,
                launchTime: new Date(NOW.getTime() - minutes * 60_000),
              },
            }),
          );

          // Assess
          if (decision.action !== 'relaunch' || decision.markBad === undefined) return;
          const fault =
            (signal.kind === 'alarm' && signal.metric === 'StatusCheckFailed_Instance') ||
            (signal.kind === 'alarm' &&
              signal.metric === 'StatusCheckFailed' &&
              statusChecks?.instance === 'impaired' &&
              statusChecks.system === 'ok') ||
            (signal.kind === 'state' && stateReasonCode === 'Client.InstanceInitiatedShutdown');
          expect(fault).toBe(true);
          expect(minutes).toBeLessThan(30);
          expect(decision.markBad).toBe('ami-00000003');
        },
      ),
      { numRuns: 2000 },
    );
  });
});

// Issue 22, part 1: another service owns the capacity of its members and replaces them itself.
describe('decideRecovery: capacity another service owns', () => {
  it.each([
    ['aws:autoscaling:groupName', 'web-asg', 'Auto Scaling group web-asg'],
    ['aws:ec2:fleet-id', 'fleet-0123', 'EC2 Fleet fleet-0123'],
    ['aws:ec2spot:fleet-request-id', 'sfr-0123', 'Spot Fleet sfr-0123'],
    ['karpenter.sh/nodepool', 'default', 'Karpenter node pool default'],
  ])('never relaunches an instance tagged %s, whatever its recover tag, and names the owner', (tag, value, owner) => {
    // Act
    const decision = decideRecovery(
      input({ mode: 'always', instance: { tags: { [tag]: value }, state: 'terminated', stateReasonCode: 'Server.InternalError' } }),
    );

    // Assess
    expect(decision).toEqual({
      action: 'skip',
      reason: `capacity owned by ${owner}: it replaces its own instances, and recover has no effect here`,
    });
  });

  it('refuses an operator relaunch of such an instance unless forced', () => {
    // Prepare
    const instance = { tags: { 'aws:autoscaling:groupName': 'web-asg' }, state: 'running' };

    // Act
    const refused = decideRecovery(input({ signal: { kind: 'manual', instanceId: ID }, instance }));
    const forced = decideRecovery(input({ signal: { kind: 'manual', instanceId: ID, force: true }, instance }));

    // Assess
    expect(refused).toMatchObject({ action: 'skip', reason: expect.stringContaining('relaunch --force launches one outside it anyway') });
    expect(forced).toMatchObject({ action: 'relaunch', imageId: 'ami-00000003' });
  });
});
