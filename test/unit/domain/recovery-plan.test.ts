import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { InstanceSummary } from '../../../shared/domain/bake.js';
import type { ImageView } from '../../../shared/domain/image-status.js';
import { replacementToken, type StoredLaunchConfig } from '../../../shared/domain/launch.js';
import {
  LAUNCH_REFUSALS,
  planRecovery,
  recoverModeOf,
  recoveryImagesOf,
  relaunchesInLastHour,
  type FailureSignal,
  type RecoveryPlan,
  type RecoveryPlanInput,
} from '../../../shared/domain/recovery.js';
import type { Recheck } from '../../../shared/domain/recovery-deferral.js';
import { TAG, type Tags } from '../../../shared/domain/tags.js';

/** The deferral settings' defaults (serverless.yml params). */
const DEFERRAL = { instanceCheckWaitMinutes: 15, bakeRebootWindowMinutes: 20 };
const NOW = new Date('2026-11-26T12:00:00Z');
const FAILED = 'i-0123456789abcdef0';
const REPLACEMENT = 'i-0fedcba9876543210';
const LINEAGE = 'web';
const minutesAgo = (m: number) => new Date(NOW.getTime() - m * 60_000);

/** An image of the lineage; status null: no status tag at all. */
const image = (imageId: string, hours: number, status: string | null = 'good', state = 'available'): ImageView => ({
  imageId,
  name: `ami-lifecycle-test/${LINEAGE}/nightly/${imageId}`,
  state,
  creationDate: minutesAgo(hours * 60).toISOString(),
  tags: {
    [TAG.managedBy]: 'ami-lifecycle-test',
    [TAG.lineage]: LINEAGE,
    [TAG.sourceInstance]: 'i-0aaaaaaaaaaaaaaaa',
    ...(status === null ? {} : { [TAG.status]: status }),
  },
  snapshotIds: [],
  sourceInstanceId: 'i-0aaaaaaaaaaaaaaaa',
});
// Newest first: ami-00000003 is the one a plain relaunch picks.
const IMAGES = [image('ami-00000001', 58), image('ami-00000003', 10), image('ami-00000002', 34)];

const CONFIG: StoredLaunchConfig = {
  instanceType: 't3.micro',
  subnetId: 'subnet-0123456789abcdef0',
  securityGroupIds: ['sg-0aaaaaaaaaaaaaaaa'],
  ebsOptimized: true,
  monitoring: false,
  tags: { Name: 'web-1', team: 'payments', [TAG.lineage]: LINEAGE, [TAG.recover]: 'always' },
  userData: 'IyEvYmluL3NoCg==',
};

const OPT_IN: Tags = { Name: 'web-1', team: 'payments', [TAG.lineage]: LINEAGE, [TAG.recover]: 'on-failure' };

const failedInstance = (overrides: Partial<InstanceSummary> = {}): InstanceSummary => ({
  instanceId: FAILED,
  state: 'terminated',
  tags: OPT_IN,
  imageId: 'ami-00000001',
  launchTime: minutesAgo(30 * 24 * 60),
  stateReasonCode: 'Server.InternalError',
  ...overrides,
});

const terminated: FailureSignal = { kind: 'state', instanceId: FAILED, state: 'terminated' };
const stopped: FailureSignal = { kind: 'state', instanceId: FAILED, state: 'stopped' };
const statusAlarm: FailureSignal = { kind: 'alarm', instanceId: FAILED, alarmName: 'web-status', metric: 'StatusCheckFailed' };

/** A plan input; `tags` follows the instance's tags unless given, as the use case does. */
const planInput = (overrides: Partial<RecoveryPlanInput> = {}): RecoveryPlanInput => {
  const instance = 'instance' in overrides ? overrides.instance : failedInstance();
  return {
    signal: terminated,
    instance,
    lineage: LINEAGE,
    tags: instance?.tags ?? CONFIG.tags,
    images: IMAGES,
    lineageInstances: instance ? [instance] : [],
    config: CONFIG,
    settings: { maxRelaunchesPerHour: 3, crashLoopGraceMinutes: 30, ...DEFERRAL },
    now: NOW,
    ...overrides,
  };
};

const replacementOf = (failedId: string, state: string, overrides: Partial<InstanceSummary> = {}): InstanceSummary => ({
  instanceId: REPLACEMENT,
  state,
  tags: { ...OPT_IN, [TAG.replaces]: failedId, [TAG.generation]: '1' },
  imageId: 'ami-00000003',
  launchTime: minutesAgo(2),
  ...overrides,
});

describe('recoverModeOf', () => {
  it.each([
    ['on-failure', 'on-failure'],
    ['always', 'always'],
    [' Always ', 'always'],
    ['off', 'off'],
  ] as const)('reads recover=%j as %s, with no problem', (raw, mode) => {
    // Act
    const result = recoverModeOf({ [TAG.recover]: raw });

    // Assess
    expect(result).toEqual({ mode });
  });

  it('is off, with no problem, when the tag is absent', () => {
    expect(recoverModeOf({ Name: 'web-1', [TAG.bake]: 'nightly' })).toEqual({ mode: 'off' });
  });

  it.each(['sometimes', '', 'on failure'])('is off and names the problem for the unreadable value %j', (raw) => {
    // Act
    const result = recoverModeOf({ [TAG.recover]: raw });

    // Assess
    expect(result).toEqual({ mode: 'off', problem: `${TAG.recover}=${raw}: expected one of off, on-failure, always` });
  });

  it('is not troubled by problems with other tags', () => {
    expect(recoverModeOf({ [TAG.recover]: 'always', [TAG.reboot]: 'yes', [TAG.lineage]: 'has space' })).toEqual({ mode: 'always' });
  });
});

describe('relaunchesInLastHour', () => {
  it('counts the replacements (instances with replaces) launched less than an hour before now', () => {
    // Prepare
    const replacement = (id: string, launchTime: Date | undefined): InstanceSummary => ({
      instanceId: id,
      state: 'running',
      tags: { [TAG.replaces]: 'i-0aaaaaaaaaaaaaaaa' },
      launchTime,
    });
    const instances = [
      replacement('i-00000000000000001', minutesAgo(1)),
      replacement('i-00000000000000002', minutesAgo(59.99)),
      replacement('i-00000000000000003', minutesAgo(60)), // exactly an hour: no longer counted
      replacement('i-00000000000000004', minutesAgo(600)),
      replacement('i-00000000000000005', undefined),
      { instanceId: 'i-00000000000000006', state: 'running', tags: { [TAG.lineage]: LINEAGE }, launchTime: minutesAgo(5) },
    ];

    // Act
    const count = relaunchesInLastHour(instances, NOW);

    // Assess
    expect(count).toBe(2);
    expect(relaunchesInLastHour([], NOW)).toBe(0);
  });

  it('counts terminated replacements too: a relaunch that died still was a relaunch', () => {
    const instances: InstanceSummary[] = [
      { instanceId: 'i-00000000000000001', state: 'terminated', tags: { [TAG.replaces]: FAILED }, launchTime: minutesAgo(3) },
    ];
    expect(relaunchesInLastHour(instances, NOW)).toBe(1);
  });
});

describe('recoveryImagesOf', () => {
  it('reads the status tag, the state and the creation date of each image', () => {
    // Prepare
    const images = [
      image('ami-0000000a', 1, 'good'),
      image('ami-0000000b', 2, 'bad', 'available'),
      image('ami-0000000c', 3, 'weird', 'pending'),
      image('ami-0000000d', 4, null, 'failed'),
      { ...image('ami-0000000e', 5), creationDate: undefined },
    ];

    // Act
    const result = recoveryImagesOf(images);

    // Assess
    expect(result).toEqual([
      { imageId: 'ami-0000000a', status: 'good', state: 'available', createdAt: minutesAgo(60) },
      { imageId: 'ami-0000000b', status: 'bad', state: 'available', createdAt: minutesAgo(120) },
      { imageId: 'ami-0000000c', status: undefined, state: 'pending', createdAt: minutesAgo(180) },
      { imageId: 'ami-0000000d', status: undefined, state: 'failed', createdAt: minutesAgo(240) },
      // no creation date sorts oldest of all
      { imageId: 'ami-0000000e', status: 'good', state: 'available', createdAt: new Date(0) },
    ]);
  });
});

describe('planRecovery: instances not opted in', () => {
  it.each([
    ['off', { ...OPT_IN, [TAG.recover]: 'off' }],
    ['missing', { Name: 'web-1', [TAG.lineage]: LINEAGE }],
  ])('ignores an instance whose recover tag is %s', (_label, tags) => {
    // Prepare
    const instance = failedInstance({ tags });

    // Act
    const plan = planRecovery(planInput({ instance }));

    // Assess
    expect(plan).toEqual({ action: 'ignore', reason: 'recovery is off for this instance' });
  });

  it('ignores an unreadable recover tag and gives the problem as the reason', () => {
    // Prepare
    const instance = failedInstance({ tags: { ...OPT_IN, [TAG.recover]: 'sometimes' } });

    // Act
    const plan = planRecovery(planInput({ instance }));

    // Assess
    expect(plan).toEqual({ action: 'ignore', reason: `${TAG.recover}=sometimes: expected one of off, on-failure, always` });
  });

  it('ignores before anything else: even an existing replacement is not resumed', () => {
    // Prepare
    const instance = failedInstance({ tags: { Name: 'web-1' } });

    // Act
    const plan = planRecovery(planInput({ instance, lineageInstances: [instance, replacementOf(FAILED, 'running')] }));

    // Assess
    expect(plan.action).toBe('ignore');
  });
});

describe('planRecovery: a replacement exists already', () => {
  it.each(['pending', 'running', 'stopping', 'stopped'])('resumes a %s replacement of the failed instance', (state) => {
    // Prepare
    const replacement = replacementOf(FAILED, state);

    // Act
    const plan = planRecovery(planInput({ lineageInstances: [failedInstance(), replacement] }));

    // Assess
    expect(plan).toEqual({
      action: 'resume',
      replacementId: REPLACEMENT,
      imageId: 'ami-00000003',
      generation: 1,
      launchedAt: minutesAgo(2),
      reason: `replacement ${REPLACEMENT} was launched by an earlier delivery`,
    });
  });

  it("reports the replacement's own generation, and no launch time when EC2 shows none", () => {
    // Prepare
    const replacement = replacementOf(FAILED, 'running', {
      launchTime: undefined,
      tags: { ...OPT_IN, [TAG.replaces]: FAILED, [TAG.generation]: '4' },
    });

    // Act
    const plan = planRecovery(planInput({ lineageInstances: [failedInstance(), replacement] }));

    // Assess
    expect(plan).toMatchObject({ action: 'resume', generation: 4 });
    expect(plan).not.toHaveProperty('launchedAt');
  });

  it('resumes the live replacement when an earlier one of the same instance is gone, whatever the listing order', () => {
    // Prepare
    const dead = replacementOf(FAILED, 'terminated', { instanceId: 'i-0aaaaaaaaaaaaaaa9' });
    const live = replacementOf(FAILED, 'running');

    // Act
    const plans = [
      [dead, live],
      [live, dead],
    ].map((pair) => planRecovery(planInput({ lineageInstances: [failedInstance(), ...pair] })));

    // Assess
    expect(plans.map((p) => p.action === 'resume' && p.replacementId)).toEqual([REPLACEMENT, REPLACEMENT]);
  });

  it('picks the same replacement, and names the same one, whatever the listing order when there are several', () => {
    // Prepare
    const liveA = replacementOf(FAILED, 'running', { instanceId: 'i-0aaaaaaaaaaaaaaa1' });
    const liveB = replacementOf(FAILED, 'running', { instanceId: 'i-0aaaaaaaaaaaaaaa2' });
    const deadA = replacementOf(FAILED, 'terminated', { instanceId: 'i-0aaaaaaaaaaaaaaa3' });
    const deadB = replacementOf(FAILED, 'terminated', { instanceId: 'i-0aaaaaaaaaaaaaaa4' });

    // Act
    const resumed = [
      [liveA, liveB],
      [liveB, liveA],
    ].map((pair) => planRecovery(planInput({ lineageInstances: [failedInstance(), ...pair] })));
    const skipped = [
      [deadA, deadB],
      [deadB, deadA],
    ].map((pair) => planRecovery(planInput({ lineageInstances: [failedInstance(), ...pair] })));

    // Assess
    expect(resumed[0]).toEqual(resumed[1]);
    expect(resumed[0]).toMatchObject({ action: 'resume', replacementId: 'i-0aaaaaaaaaaaaaaa1' });
    expect(skipped[0]).toEqual(skipped[1]);
    expect(skipped[0]).toMatchObject({ action: 'skip', reason: expect.stringContaining('i-0aaaaaaaaaaaaaaa3') });
  });

  it('resumes even when a fresh relaunch would be refused (limit reached, no image, no configuration)', () => {
    // Prepare: three replacements this hour, one of them of the failed instance
    const others = ['i-0aaaaaaaaaaaaaaa1', 'i-0aaaaaaaaaaaaaaa2'].map(
      (id, n): InstanceSummary => ({
        instanceId: id,
        state: 'running',
        tags: { [TAG.replaces]: `i-0bbbbbbbbbbbbbbb${n}` },
        launchTime: minutesAgo(5),
      }),
    );

    // Act
    const plan = planRecovery(
      planInput({ lineageInstances: [...others, replacementOf(FAILED, 'running')], images: [], config: undefined }),
    );

    // Assess
    expect(plan).toMatchObject({ action: 'resume', replacementId: REPLACEMENT });
  });

  it('does not take the replacement of another instance for its own', () => {
    // Prepare
    const ofAnother = replacementOf('i-0aaaabbbbccccdddd', 'running');

    // Act
    const plan = planRecovery(planInput({ lineageInstances: [failedInstance(), ofAnother] }));

    // Assess
    expect(plan.action).toBe('relaunch');
  });

  it('skips as already replaced when the failed instance carries replaced-by and its replacement is no longer listed', () => {
    // Prepare
    const instance = failedInstance({ state: 'stopped', tags: { ...OPT_IN, [TAG.replacedBy]: REPLACEMENT } });

    // Act
    const plan = planRecovery(planInput({ signal: stopped, instance }));

    // Assess
    expect(plan).toEqual({ action: 'skip', reason: `already replaced by ${REPLACEMENT}` });
  });

  it('resumes a live replacement even when the failed instance carries replaced-by already (a retry after a later step failed)', () => {
    // Prepare
    const instance = failedInstance({ state: 'stopped', tags: { ...OPT_IN, [TAG.replacedBy]: REPLACEMENT } });

    // Act
    const plan = planRecovery(planInput({ signal: stopped, instance, lineageInstances: [instance, replacementOf(FAILED, 'running')] }));

    // Assess
    expect(plan).toMatchObject({ action: 'resume', replacementId: REPLACEMENT });
  });

  it.each(['shutting-down', 'terminated'])('skips as already replaced when the replacement is %s (no second relaunch)', (state) => {
    // Act
    const plan = planRecovery(planInput({ lineageInstances: [failedInstance(), replacementOf(FAILED, state)] }));

    // Assess
    expect(plan).toEqual({ action: 'skip', reason: `already replaced by ${REPLACEMENT}, which is ${state} now` });
  });
});

describe('planRecovery: failures that are no failures', () => {
  it.each(['running', 'pending'])('skips a stop signal for an instance that is %s again', (state) => {
    // Prepare: the stop event arrived after the instance was started again
    const instance = failedInstance({ state, stateReasonCode: undefined });

    // Act
    const plan = planRecovery(planInput({ signal: stopped, instance }));

    // Assess
    expect(plan).toEqual({ action: 'skip', reason: `the instance was stopped but is ${state} now` });
  });

  it('does not take a stopped instance that was terminated since for a recovered one', () => {
    // Act
    const plan = planRecovery(planInput({ signal: stopped, instance: failedInstance({ state: 'terminated' }) }));

    // Assess
    expect(plan.action).toBe('relaunch');
  });

  it('skips a stop by a person under on-failure, and relaunches it under always', () => {
    // Prepare
    const byPerson = failedInstance({ state: 'stopped', stateReasonCode: 'Client.UserInitiatedShutdown' });
    const always = failedInstance({ ...byPerson, tags: { ...OPT_IN, [TAG.recover]: 'always' } });

    // Act
    const onFailure = planRecovery(planInput({ signal: stopped, instance: byPerson }));
    const onAlways = planRecovery(planInput({ signal: stopped, instance: always }));

    // Assess
    expect(onFailure).toEqual({
      action: 'skip',
      reason: 'stopped (Client.UserInitiatedShutdown: stopped or terminated by a person); recover=on-failure relaunches only on failures',
    });
    expect(onAlways.action).toBe('relaunch');
  });

  it('skips an instance under maintenance even with always', () => {
    // Prepare
    const instance = failedInstance({
      state: 'stopped',
      stateReasonCode: 'Client.UserInitiatedShutdown',
      tags: { ...OPT_IN, [TAG.recover]: 'always', [TAG.maintenance]: 'kernel upgrade' },
    });

    // Act
    const plan = planRecovery(planInput({ signal: stopped, instance }));

    // Assess
    expect(plan).toEqual({
      action: 'skip',
      reason: `under maintenance: kernel upgrade (${TAG.maintenance}); a planned stopped relaunches nothing`,
      record: { [TAG.maintenanceSince]: NOW.toISOString() },
    });
  });

  it('records when it first saw the marker once only: an instance stamped already is not stamped again', () => {
    // Prepare
    const since = '2026-11-25T09:00:00.000Z';
    const instance = failedInstance({
      state: 'stopped',
      stateReasonCode: 'Client.UserInitiatedShutdown',
      tags: { ...OPT_IN, [TAG.recover]: 'always', [TAG.maintenance]: '', [TAG.maintenanceSince]: since },
    });

    // Act
    const plan = planRecovery(planInput({ signal: stopped, instance }));

    // Assess
    expect(plan).toEqual({
      action: 'skip',
      reason: `under maintenance: (no value) (${TAG.maintenance}); a planned stopped relaunches nothing`,
    });
  });

  // Issue 22, part 3: a planned reboot trips the status-check alarm; the marker holds every trigger.
  it.each([
    [{ kind: 'alarm', instanceId: FAILED, alarmName: 'web-status', metric: 'StatusCheckFailed' }, 'alarm web-status'],
    [
      { kind: 'health', instanceId: FAILED, eventTypeCode: 'AWS_EC2_INSTANCE_STOP_SCHEDULED' },
      'health event AWS_EC2_INSTANCE_STOP_SCHEDULED',
    ],
  ] as const)('holds an alarm or a Health event too while the marker is on, naming it', (signal, what) => {
    // Prepare
    const instance = failedInstance({ state: 'running', stateReasonCode: undefined, tags: { ...OPT_IN, [TAG.maintenance]: 'CHG-1234' } });

    // Act
    const plan = planRecovery(planInput({ signal, instance }));

    // Assess
    expect(plan).toEqual({
      action: 'skip',
      reason: `under maintenance: CHG-1234 (${TAG.maintenance}); ${what} relaunches nothing`,
      record: { [TAG.maintenanceSince]: NOW.toISOString() },
    });
  });

  it('skips an alarm that watches no status check', () => {
    // Act
    const plan = planRecovery(
      planInput({ signal: { ...statusAlarm, metric: 'CPUUtilization' }, instance: failedInstance({ state: 'running' }) }),
    );

    // Assess
    expect(plan).toEqual({ action: 'skip', reason: 'alarm web-status watches CPUUtilization, not a status check' });
  });
});

describe('planRecovery: limits and missing pieces', () => {
  const replacementsOfOthers = (...minutes: number[]): InstanceSummary[] =>
    minutes.map((m, n) => ({
      instanceId: `i-0cccccccccccccc${n}0`,
      state: 'running',
      tags: { ...OPT_IN, [TAG.replaces]: `i-0ddddddddddddddd${n}` },
      launchTime: minutesAgo(m),
    }));

  it('gives up when the lineage was relaunched as often as allowed in the last hour', () => {
    // Act
    const plan = planRecovery(planInput({ lineageInstances: [failedInstance(), ...replacementsOfOthers(5, 30, 59)] }));

    // Assess
    expect(plan).toEqual({ action: 'give-up', reason: '3 relaunches of this lineage in the last hour (limit 3)' });
  });

  it('counts only the replacements launched less than an hour ago, and only replacements', () => {
    // Prepare: two recent ones, one an hour old, one long ago, and a plain instance launched a minute ago
    const plain: InstanceSummary = { instanceId: 'i-0eeeeeeeeeeeeeee0', state: 'running', tags: OPT_IN, launchTime: minutesAgo(1) };
    const lineageInstances = [failedInstance(), plain, ...replacementsOfOthers(5, 30, 60, 600)];

    // Act
    const plan = planRecovery(planInput({ lineageInstances }));

    // Assess
    expect(plan.action).toBe('relaunch');
    expect(
      planRecovery(planInput({ lineageInstances, settings: { maxRelaunchesPerHour: 2, crashLoopGraceMinutes: 30, ...DEFERRAL } })),
    ).toEqual({
      action: 'give-up',
      reason: '2 relaunches of this lineage in the last hour (limit 2)',
    });
  });

  it('skips when the lineage has no good, available image', () => {
    // Prepare
    const images = [
      image('ami-0000000a', 1, 'pending', 'pending'),
      image('ami-0000000b', 2, 'bad'),
      image('ami-0000000c', 3, 'failed', 'failed'),
      image('ami-0000000d', 4, 'good', 'pending'),
    ];

    // Act
    const plan = planRecovery(planInput({ images }));

    // Assess
    expect(plan).toEqual({ action: 'skip', reason: 'the lineage has no good image' });
  });

  it('skips when no launch configuration was captured for the lineage', () => {
    // Act
    const plan = planRecovery(planInput({ config: undefined }));

    // Assess
    expect(plan.action).toBe('skip');
    expect((plan as { reason: string }).reason).toMatch(/launch configuration/);
  });
});

describe('planRecovery: the relaunch', () => {
  it('launches the captured configuration from the newest good image, with the failed instance as its origin', () => {
    // Prepare: a running instance failing its status check, with bookkeeping and AWS tags to leave behind
    const instance = failedInstance({
      state: 'running',
      stateReasonCode: undefined,
      tags: {
        ...OPT_IN,
        [TAG.bake]: 'nightly',
        [TAG.generation]: '2',
        [TAG.replaces]: 'i-0aaaabbbbccccdddd',
        [TAG.captured]: '0123456789abcdef',
        'aws:cloudformation:stack-name': 'web-stack',
      },
    });
    const images = [
      ...IMAGES,
      image('ami-0000000a', 1, 'pending', 'pending'),
      image('ami-0000000b', 2, 'bad'),
      image('ami-0000000c', 3, 'good', 'pending'),
    ];

    // Act
    const plan = planRecovery(planInput({ signal: statusAlarm, instance, images }));

    // Assess
    expect(plan).toEqual({
      action: 'relaunch',
      spec: {
        imageId: 'ami-00000003',
        config: CONFIG,
        clientToken: replacementToken(LINEAGE, FAILED),
        droppedTags: [],
        keepPrivateIp: false,
        tags: {
          Name: 'web-1',
          team: 'payments',
          [TAG.recover]: 'on-failure',
          [TAG.bake]: 'nightly',
          [TAG.lineage]: LINEAGE,
          [TAG.replaces]: FAILED,
          [TAG.generation]: '3',
        },
      },
      reason: 'alarm signal',
    });
  });

  it('names the lineage it is given, whatever lineage the carried tags say', () => {
    // Act
    const plan = planRecovery(planInput({ lineage: 'web-2' }));

    // Assess
    expect(plan).toMatchObject({
      action: 'relaunch',
      spec: { clientToken: replacementToken('web-2', FAILED), tags: { [TAG.lineage]: 'web-2' } },
    });
  });

  it('takes the tags captured with the configuration when the failed instance is gone', () => {
    // Prepare: EC2 no longer describes the instance; the use case passes the captured tags
    const health: FailureSignal = { kind: 'health', instanceId: FAILED, eventTypeCode: 'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED' };

    // Act
    const plan = planRecovery(planInput({ signal: health, instance: undefined }));

    // Assess
    expect(plan).toEqual({
      action: 'relaunch',
      spec: {
        imageId: 'ami-00000003',
        config: CONFIG,
        clientToken: replacementToken(LINEAGE, FAILED),
        droppedTags: [],
        keepPrivateIp: false,
        tags: { ...CONFIG.tags, [TAG.replaces]: FAILED, [TAG.generation]: '1' },
      },
      reason: 'health signal',
    });
  });

  it('continues the highest generation of the lineage when the failed instance is gone', () => {
    // Prepare: the captured tags carry no generation; the lineage's instances do
    const health: FailureSignal = { kind: 'health', instanceId: FAILED, eventTypeCode: 'AWS_EC2_INSTANCE_STOP_SCHEDULED' };
    const generation = (id: string, g: string): InstanceSummary => ({
      instanceId: id,
      state: 'terminated',
      tags: { ...OPT_IN, [TAG.generation]: g },
    });
    const lineageInstances = [
      generation('i-0aaaaaaaaaaaaaaa1', '3'),
      generation('i-0aaaaaaaaaaaaaaa2', '5'),
      generation('i-0aaaaaaaaaaaaaaa3', 'junk'),
    ];

    // Act
    const plan = planRecovery(planInput({ signal: health, instance: undefined, lineageInstances }));

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch', spec: { tags: { [TAG.generation]: '6', [TAG.replaces]: FAILED } } });
  });

  it("counts from the failed instance's own generation when it can still be described", () => {
    // Prepare: another instance of the lineage is further along
    const instance = failedInstance({ tags: { ...OPT_IN, [TAG.generation]: '2' } });
    const ahead: InstanceSummary = { instanceId: 'i-0aaaaaaaaaaaaaaa1', state: 'running', tags: { ...OPT_IN, [TAG.generation]: '7' } };

    // Act
    const plan = planRecovery(planInput({ instance, lineageInstances: [instance, ahead] }));

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch', spec: { tags: { [TAG.generation]: '3' } } });
  });

  it('reads the recover mode from the given tags when the failed instance is gone', () => {
    // Act
    const plan = planRecovery(planInput({ instance: undefined, tags: { ...CONFIG.tags, [TAG.recover]: 'off' } }));

    // Assess
    expect(plan).toEqual({ action: 'ignore', reason: 'recovery is off for this instance' });
  });
});

describe('planRecovery: crash loops', () => {
  // By default it shut itself down at boot: an image fault (imageFaultOf).
  const replacementThatFailed = (launchedMinutesAgo: number, stateReasonCode = 'Client.InstanceInitiatedShutdown'): InstanceSummary =>
    failedInstance({
      imageId: 'ami-00000003',
      launchTime: minutesAgo(launchedMinutesAgo),
      stateReasonCode,
      tags: { ...OPT_IN, [TAG.replaces]: 'i-0aaaabbbbccccdddd', [TAG.generation]: '1' },
    });

  it('marks the image of a replacement that failed within the grace period bad and relaunches from the next older good image', () => {
    // Prepare
    const instance = replacementThatFailed(10);

    // Act
    const plan = planRecovery(planInput({ instance }));

    // Assess
    expect(plan).toEqual({
      action: 'relaunch',
      spec: {
        imageId: 'ami-00000002',
        config: CONFIG,
        clientToken: replacementToken(LINEAGE, FAILED),
        droppedTags: [],
        keepPrivateIp: false,
        tags: { ...OPT_IN, [TAG.replaces]: FAILED, [TAG.generation]: '2' },
      },
      markBad: 'ami-00000003',
      reason:
        'replacement from ami-00000003 failed within 30 min of its launch: it was terminated from inside (Client.InstanceInitiatedShutdown)',
    });
  });

  it('blames nothing when the replacement ran longer than the grace period', () => {
    // Act
    const plan = planRecovery(planInput({ instance: replacementThatFailed(31, 'Server.InternalError') }));

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch', spec: { imageId: 'ami-00000003' }, reason: 'state signal' });
    expect(plan).not.toHaveProperty('markBad');
  });

  it('blames nothing when an instance that is no replacement fails soon after its launch', () => {
    // Prepare
    const instance = failedInstance({ imageId: 'ami-00000003', launchTime: minutesAgo(2) });

    // Act
    const plan = planRecovery(planInput({ instance }));

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch', spec: { imageId: 'ami-00000003' } });
    expect(plan).not.toHaveProperty('markBad');
  });

  it.each(Object.keys(LAUNCH_REFUSALS))(
    'blames no image and relaunches nothing when the replacement ended at once with %s: RecoveryFailed names the cause',
    (code) => {
      // Prepare: the replacement's launch was refused by the account or its configuration
      const instance = { ...replacementThatFailed(0.1), stateReasonCode: code };

      // Act
      const plan = planRecovery(planInput({ instance }));

      // Assess
      expect(plan).toEqual({ action: 'fail', errorCode: code, reason: expect.stringContaining(LAUNCH_REFUSALS[code]!) });
      expect(plan).not.toHaveProperty('markBad');
    },
  );

  it('relaunches as usual after such a reason once the grace period is over (the instance ran, then failed)', () => {
    // Act
    const plan = planRecovery(planInput({ instance: { ...replacementThatFailed(31), stateReasonCode: 'Client.VolumeLimitExceeded' } }));

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch', spec: { imageId: 'ami-00000003' } });
  });

  it('skips when the crash-looping image was the only good one', () => {
    // Act
    const plan = planRecovery(planInput({ instance: replacementThatFailed(10), images: [image('ami-00000003', 10)] }));

    // Assess
    expect(plan).toEqual({ action: 'skip', reason: 'no good image left besides ami-00000003, which failed its replacement' });
  });
});

// ---- properties --------------------------------------------------------------------------

const hex17 = fc.stringMatching(/^[0-9a-f]{17}$/);
const imageArb = fc.record({
  // the ids failed instances are launched from come up often: crash loops then exclude a listed image
  imageId: fc.oneof(
    fc.constantFrom('ami-00000001', 'ami-00000002', 'ami-00000003'),
    fc.stringMatching(/^[0-9a-f]{8}$/).map((h) => `ami-${h}`),
  ),
  status: fc.oneof({ weight: 2, arbitrary: fc.constant('good') }, fc.constantFrom('pending', 'failed', 'bad', null)),
  state: fc.oneof({ weight: 2, arbitrary: fc.constant('available') }, fc.constantFrom('pending', 'failed')),
  minutes: fc.integer({ min: 0, max: 60 * 24 * 90 }),
});
const imagesArb = fc
  .uniqueArray(imageArb, { selector: (i) => i.imageId, maxLength: 8 })
  .map((list) => list.map((i) => image(i.imageId, i.minutes / 60, i.status, i.state)));
const STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated'] as const;
const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped'] as const;
const signalArb: fc.Arbitrary<FailureSignal> = fc.oneof(
  fc.constantFrom('stopped', 'terminated').map((state): FailureSignal => ({ kind: 'state', instanceId: FAILED, state })),
  fc
    .constantFrom('StatusCheckFailed', 'CPUUtilization')
    .map((metric): FailureSignal => ({ kind: 'alarm', instanceId: FAILED, alarmName: 'a', metric })),
  fc
    .constantFrom('AWS_EC2_INSTANCE_STOP_SCHEDULED', 'AWS_EC2_OPERATIONAL_NOTIFICATION')
    .map((eventTypeCode): FailureSignal => ({ kind: 'health', instanceId: FAILED, eventTypeCode })),
);
const failedArb: fc.Arbitrary<InstanceSummary | undefined> = fc
  .option(
    fc.record({
      state: fc.constantFrom(...STATES),
      recover: fc.constantFrom('on-failure', 'always', 'off', 'sometimes'),
      replaces: fc.boolean(),
      maintenance: fc.boolean(),
      replacedBy: fc.boolean(),
      imageId: fc.option(fc.constantFrom('ami-00000001', 'ami-00000002', 'ami-00000003'), { nil: undefined }),
      launchedMinutesAgo: fc.integer({ min: 0, max: 600 }),
      reason: fc.constantFrom('Server.InternalError', 'Client.UserInitiatedShutdown', undefined, ...Object.keys(LAUNCH_REFUSALS)),
    }),
    { nil: undefined },
  )
  .map((f) =>
    f === undefined
      ? undefined
      : failedInstance({
          state: f.state,
          imageId: f.imageId,
          launchTime: minutesAgo(f.launchedMinutesAgo),
          stateReasonCode: f.reason,
          tags: {
            ...OPT_IN,
            [TAG.recover]: f.recover,
            ...(f.replaces ? { [TAG.replaces]: 'i-0aaaabbbbccccdddd' } : {}),
            ...(f.maintenance ? { [TAG.maintenance]: 'yes' } : {}),
            ...(f.replacedBy ? { [TAG.replacedBy]: REPLACEMENT } : {}),
          },
        }),
  );
/** Other instances of the lineage: plain ones and replacements of instances other than the failed one. */
const othersArb = fc
  .uniqueArray(
    fc.record({
      id: hex17,
      state: fc.constantFrom(...STATES),
      replaces: fc.option(hex17, { nil: undefined }),
      minutes: fc.integer({ min: 0, max: 180 }),
    }),
    { selector: (o) => o.id, maxLength: 6 },
  )
  .map((list) =>
    list.map(
      (o): InstanceSummary => ({
        instanceId: `i-${o.id}`,
        state: o.state,
        tags: { ...OPT_IN, ...(o.replaces ? { [TAG.replaces]: `i-${o.replaces}` } : {}) },
        launchTime: minutesAgo(o.minutes),
      }),
    ),
  );
const planInputArb = fc
  .record({
    signal: signalArb,
    instance: failedArb,
    images: imagesArb,
    others: othersArb,
    /**
     * At most one replacement of the failed instance, in any state: with several dead ones the skip's
     * reason names whichever is listed first.
     */
    replacement: fc.option(fc.constantFrom(...STATES), { nil: undefined }),
    hasConfig: fc.boolean(),
    max: fc.integer({ min: 1, max: 4 }),
    grace: fc.integer({ min: 0, max: 120 }),
  })
  .map((r) =>
    planInput({
      signal: r.signal,
      instance: r.instance,
      tags: r.instance?.tags ?? CONFIG.tags,
      images: r.images,
      lineageInstances: [
        ...(r.instance ? [r.instance] : []),
        ...r.others,
        ...(r.replacement ? [replacementOf(FAILED, r.replacement)] : []),
      ],
      config: r.hasConfig ? CONFIG : undefined,
      settings: { maxRelaunchesPerHour: r.max, crashLoopGraceMinutes: r.grace, ...DEFERRAL },
    }),
  );

/** Inputs that lead to a relaunch whenever the images allow one: opted in, nothing replaced, no limit in the way. */
const relaunchableArb = planInputArb.map((input): RecoveryPlanInput => {
  const tags = Object.fromEntries(
    Object.entries({ ...input.tags, [TAG.recover]: 'always' }).filter(([k]) => k !== TAG.replacedBy && k !== TAG.maintenance),
  );
  const instance = input.instance && { ...input.instance, state: 'terminated', tags };
  return {
    ...input,
    signal: terminated,
    instance,
    tags,
    lineageInstances: [
      ...(instance ? [instance] : []),
      ...input.lineageInstances.filter((i) => i.instanceId !== FAILED && i.tags[TAG.replaces] !== FAILED),
    ],
    config: CONFIG,
    settings: { ...input.settings, maxRelaunchesPerHour: 100 },
  };
});
const anyInputArb = fc.oneof(planInputArb, relaunchableArb);

describe('planRecovery (properties)', () => {
  it('relaunches only from an image that is good and available, never from the one it marks bad', () => {
    fc.assert(
      fc.property(anyInputArb, (input) => {
        // Act
        const plan = planRecovery(input);

        // Assess
        if (plan.action !== 'relaunch') return;
        const chosen = input.images.find((i) => i.imageId === plan.spec.imageId);
        expect(chosen?.tags[TAG.status]).toBe('good');
        expect(chosen?.state).toBe('available');
        expect(plan.markBad).not.toBe(plan.spec.imageId);
        if (plan.markBad !== undefined) expect(plan.markBad).toBe(input.instance?.imageId);
        expect(plan.spec.clientToken).toBe(replacementToken(LINEAGE, FAILED));
        expect(plan.spec.tags[TAG.replaces]).toBe(FAILED);
      }),
      { numRuns: 1000 },
    );
  });

  it('never blames an image nor relaunches when the account or its configuration refused the replacement at launch', () => {
    fc.assert(
      fc.property(anyInputArb, (input) => {
        // Act
        const plan = planRecovery(input);

        // Assess
        const refused = input.instance?.stateReasonCode !== undefined && input.instance.stateReasonCode in LAUNCH_REFUSALS;
        if (plan.action === 'relaunch' && plan.markBad !== undefined) expect(refused).toBe(false);
        if (plan.action === 'fail') {
          expect(refused).toBe(true);
          expect(plan.errorCode).toBe(input.instance?.stateReasonCode);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('resumes, never relaunches a second time, when a live replacement of the failed instance exists', () => {
    fc.assert(
      fc.property(
        planInputArb,
        fc.constantFrom(...LIVE_STATES),
        fc.constantFrom('on-failure', 'always'),
        fc.subarray(['i-0aaaaaaaaaaaaaaa7', 'i-0aaaaaaaaaaaaaaa8']),
        (base, state, mode, deadIds) => {
          // Prepare: a live replacement (perhaps besides dead ones), and a failed instance opted in and not yet marked replaced
          const optedIn = (tags: Tags): Tags =>
            Object.fromEntries(Object.entries({ ...tags, [TAG.recover]: mode }).filter(([k]) => k !== TAG.replacedBy));
          const instance = base.instance && { ...base.instance, tags: optedIn(base.instance.tags) };
          const dead = deadIds.map((id) => replacementOf(FAILED, 'terminated', { instanceId: id }));
          const lineageInstances = [
            ...dead,
            ...base.lineageInstances.filter((i) => i.tags[TAG.replaces] !== FAILED && i.instanceId !== FAILED),
            ...(instance ? [instance] : []),
            replacementOf(FAILED, state),
          ];
          const input = { ...base, instance, tags: instance?.tags ?? optedIn(CONFIG.tags), lineageInstances };

          // Act
          const plan = planRecovery(input);

          // Assess
          expect(plan).toMatchObject({ action: 'resume', replacementId: REPLACEMENT, imageId: 'ami-00000003' });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('is deterministic: the order images and instances are listed in changes nothing', () => {
    fc.assert(
      fc.property(
        anyInputArb.chain((input) =>
          fc.tuple(
            fc.constant(input),
            fc.shuffledSubarray([...input.images], { minLength: input.images.length }),
            fc.shuffledSubarray([...input.lineageInstances], { minLength: input.lineageInstances.length }),
          ),
        ),
        ([input, images, lineageInstances]) => {
          // Act
          const original: RecoveryPlan = planRecovery(input);
          const shuffled: RecoveryPlan = planRecovery({ ...input, images, lineageInstances });

          // Assess
          expect(shuffled).toEqual(original);
        },
      ),
      { numRuns: 1000 },
    );
  });
});

// Issue 22, parts 3 and 4: recovery waits out a reboot, its own or a bake's, instead of relaunching.
describe('planRecovery: waiting out a reboot', () => {
  const running = (tags: Tags = OPT_IN) => failedInstance({ state: 'running', stateReasonCode: undefined, tags });
  const alarmOn = (metric: string, recheck?: Recheck): FailureSignal => ({
    kind: 'alarm',
    instanceId: FAILED,
    alarmName: `web-${metric}`,
    metric,
    ...(recheck ? { recheck } : {}),
  });
  const retirement: FailureSignal = { kind: 'health', instanceId: FAILED, eventTypeCode: 'AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED' };
  /** A bake of FAILED `minutes` ago with reboot=true. */
  const rebootingBake = (minutes: number, instanceId = FAILED): ImageView => {
    const i = image('ami-00000009', minutes / 60, 'pending', 'pending');
    return { ...i, tags: { ...i.tags, [TAG.sourceInstance]: instanceId, [TAG.reboot]: 'true' }, sourceInstanceId: instanceId };
  };

  it('answers a failing instance check with a reboot, and looks again after the wait', () => {
    // Act
    const plan = planRecovery(planInput({ signal: alarmOn('StatusCheckFailed_Instance'), instance: running() }));

    // Assess
    expect(plan).toMatchObject({ action: 'defer', cause: 'reboot', reboot: true, since: NOW, until: minutesAgo(-15) });
    expect((plan as { reason: string }).reason).toMatch(/its instance check failed, so it is rebooted first/);
  });

  it.each(['StatusCheckFailed_System', 'StatusCheckFailed'])('relaunches at once on %s: the host, or a check it cannot tell', (metric) => {
    // Act
    const plan = planRecovery(planInput({ signal: alarmOn(metric), instance: running() }));

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch', spec: { imageId: 'ami-00000003' } });
  });

  it('keeps one wait per reboot: an instance-check ALARM while its reboot is under way waits for the same recheck', () => {
    // Prepare
    const instance = running({ ...OPT_IN, [TAG.rebootedAt]: minutesAgo(5).toISOString() });

    // Act
    const plan = planRecovery(planInput({ signal: alarmOn('StatusCheckFailed_Instance'), instance }));

    // Assess
    expect(plan).toMatchObject({ action: 'defer', cause: 'reboot', since: minutesAgo(5), until: minutesAgo(-10) });
    expect((plan as { reason: string }).reason).toMatch(/a reboot began at/);
  });

  it('reboots again when its last reboot is older than the wait: a new failure, not the same one', () => {
    // Prepare
    const instance = running({ ...OPT_IN, [TAG.rebootedAt]: minutesAgo(16).toISOString() });

    // Act
    const plan = planRecovery(planInput({ signal: alarmOn('StatusCheckFailed_Instance'), instance }));

    // Assess
    expect(plan).toMatchObject({ action: 'defer', reboot: true, until: minutesAgo(-15) });
  });

  it('relaunches at its recheck when the instance check still fails', () => {
    // Prepare
    const recheck = { cause: 'reboot' as const, since: minutesAgo(15).toISOString(), until: NOW.toISOString() };

    // Act
    const plan = planRecovery(
      planInput({
        signal: alarmOn('StatusCheckFailed_Instance', recheck),
        instance: running({ ...OPT_IN, [TAG.rebootedAt]: recheck.since }),
        statusChecks: { system: 'ok', instance: 'impaired' },
      }),
    );

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch', spec: { imageId: 'ami-00000003' } });
  });

  it.each([
    [{ system: 'ok', instance: 'ok' }, 'system ok, instance ok'],
    [{ system: 'ok', instance: 'initializing' }, 'system ok, instance initializing'],
    [undefined, 'no status: the instance is not running'],
  ])('skips at its recheck when the check no longer fails (%j), and says so', (statusChecks, seen) => {
    // Prepare
    const recheck = { cause: 'reboot' as const, since: minutesAgo(15).toISOString(), until: NOW.toISOString() };

    // Act
    const plan = planRecovery(planInput({ signal: alarmOn('StatusCheckFailed_Instance', recheck), instance: running(), statusChecks }));

    // Assess
    expect(plan).toEqual({
      action: 'skip',
      reason: expect.stringContaining(`alarm web-StatusCheckFailed_Instance: the status checks no longer fail after the reboot (${seen})`),
    });
  });

  it.each([
    ['an instance-check alarm', alarmOn('StatusCheckFailed_Instance')],
    ['a system-check alarm', alarmOn('StatusCheckFailed_System')],
    ['a Health event', retirement],
  ])('holds %s while a bake with reboot=true reboots the instance, until the window ends', (_what, signal) => {
    // Act
    const plan = planRecovery(planInput({ signal, instance: running(), images: [...IMAGES, rebootingBake(5)] }));

    // Assess
    expect(plan).toMatchObject({ action: 'defer', cause: 'bake-reboot', reboot: false, since: minutesAgo(5), until: minutesAgo(-15) });
    expect((plan as { reason: string }).reason).toMatch(/while the bake of ami-00000009 \(reboot=true\) reboots the instance/);
  });

  it("handles a stop or termination during a bake's reboot as always: only alarms and Health events wait", () => {
    // Act
    const plan = planRecovery(planInput({ signal: terminated, images: [...IMAGES, rebootingBake(5)] }));

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch' });
  });

  it.each([
    ['the window has passed', rebootingBake(21)],
    ['the bake was of another instance', rebootingBake(5, 'i-0bbbbbbbbbbbbbbbb')],
    ['the bake did not reboot', image('ami-00000009', 5 / 60, 'pending', 'pending')],
  ])('does not wait when %s', (_why, bake) => {
    // Act
    const plan = planRecovery(planInput({ signal: alarmOn('StatusCheckFailed_System'), instance: running(), images: [...IMAGES, bake] }));

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch' });
  });

  it("relaunches a Health event at its recheck after the bake's window: the hardware is still going away", () => {
    // Prepare
    const recheck = { cause: 'bake-reboot' as const, since: minutesAgo(20).toISOString(), until: NOW.toISOString() };

    // Act
    const plan = planRecovery(
      planInput({ signal: { ...retirement, recheck }, instance: running(), images: [...IMAGES, rebootingBake(20)] }),
    );

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch' });
  });

  /** A replacement launched from the newest image five minutes ago, running. */
  const freshReplacement = () =>
    failedInstance({
      state: 'running',
      stateReasonCode: undefined,
      imageId: 'ami-00000003',
      launchTime: minutesAgo(5),
      tags: { ...OPT_IN, [TAG.replaces]: 'i-0aaaaaaaaaaaaaaaa' },
    });

  it('never reboots a fresh replacement whose instance check fails: its image is to blame, and the next one launches from the older', () => {
    // Act
    const plan = planRecovery(planInput({ signal: alarmOn('StatusCheckFailed_Instance'), instance: freshReplacement() }));

    // Assess
    expect(plan).toMatchObject({ action: 'relaunch', markBad: 'ami-00000003', spec: { imageId: 'ami-00000002' } });
  });

  it.each([
    [{ system: 'ok', instance: 'impaired' }, 'ami-00000003'],
    [{ system: 'impaired', instance: 'impaired' }, undefined],
    [undefined, undefined],
  ])(
    "blames a fresh replacement's image on a combined StatusCheckFailed alarm only when the checks say the instance check failed (%j)",
    (statusChecks, markBad) => {
      // Act
      const plan = planRecovery(planInput({ signal: alarmOn('StatusCheckFailed'), instance: freshReplacement(), statusChecks }));

      // Assess
      expect(plan).toMatchObject({ action: 'relaunch' });
      expect((plan as { markBad?: string }).markBad).toBe(markBad);
    },
  );

  const signalArb: fc.Arbitrary<FailureSignal> = fc.oneof(
    fc.record({
      kind: fc.constant('alarm' as const),
      instanceId: fc.constant(FAILED),
      alarmName: fc.constant('web-status'),
      metric: fc.constantFrom('StatusCheckFailed', 'StatusCheckFailed_System', 'StatusCheckFailed_Instance', 'CPUUtilization'),
      recheck: fc.option(
        fc.record({
          cause: fc.constantFrom('reboot' as const, 'bake-reboot' as const),
          since: fc.constant(minutesAgo(15).toISOString()),
          until: fc.constant(NOW.toISOString()),
        }),
        { nil: undefined },
      ),
    }),
    fc.constantFrom<FailureSignal>(retirement, terminated, stopped, { kind: 'manual', instanceId: FAILED }),
  );
  const checkArb = fc.constantFrom('ok', 'impaired', 'initializing', 'insufficient-data');

  it('waits only for an alarm or a Health event, never twice, never past its bound, and reboots only for the instance check', () => {
    fc.assert(
      fc.property(
        signalArb,
        fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
        fc.option(fc.integer({ min: 0, max: 40 }), { nil: undefined }),
        fc.option(fc.record({ system: checkArb, instance: checkArb }), { nil: undefined }),
        (signal, bakeMinutesAgo, rebootedMinutesAgo, statusChecks) => {
          // Prepare
          const tags = {
            ...OPT_IN,
            ...(rebootedMinutesAgo === undefined ? {} : { [TAG.rebootedAt]: minutesAgo(rebootedMinutesAgo).toISOString() }),
          };
          const images = bakeMinutesAgo === undefined ? IMAGES : [...IMAGES, rebootingBake(bakeMinutesAgo)];

          // Act
          const plan = planRecovery(planInput({ signal, instance: running(tags), images, statusChecks }));

          // Assess
          if (plan.action !== 'defer') return;
          expect(signal.kind === 'alarm' || signal.kind === 'health').toBe(true);
          expect('recheck' in signal && signal.recheck).toBeFalsy();
          expect(plan.until.getTime()).toBeGreaterThan(NOW.getTime());
          expect(plan.until.getTime() - NOW.getTime()).toBeLessThanOrEqual(
            Math.max(DEFERRAL.instanceCheckWaitMinutes, DEFERRAL.bakeRebootWindowMinutes) * 60_000,
          );
          if (plan.reboot) expect(signal.kind === 'alarm' && signal.metric).toBe('StatusCheckFailed_Instance');
          if (plan.reboot) expect(plan.cause).toBe('reboot');
        },
      ),
    );
  });
});
