import * as v from 'valibot';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InstanceRelaunched, RecoveryFailed, RecoveryGaveUp, RecoverySkipped, RelaunchPlanned } from '../../../shared/domain/events.js';
import { RecheckRequest, RecoveryTriggerEvent } from '../../../shared/domain/incoming.js';
import { launchTemplateName, replacementToken, type StoredLaunchConfig } from '../../../shared/domain/launch.js';
import type { RecoveryTrigger } from '../../../shared/domain/recovery.js';
import { TAG } from '../../../shared/domain/tags.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import { recover, recoverInstances } from '../../../shared/use-cases/recover-instance.js';
import type { RecoveryEc2 } from '../../../shared/use-cases/ec2-ports.js';
import type { EventPort, RecoveryDeps } from '../../../shared/use-cases/ports.js';
import {
  instanceIdOf,
  NOW,
  recoveryEc2,
  STACK,
  throttled,
  world as worldOf,
  type FakeAddress,
  type FakeImage,
  type FakeInstance,
  type World,
  type WorldOptions,
} from '../fakes.js';

/** A world of the recovery slice only: the use case sees nothing else of EC2. */
const world = (options?: WorldOptions) => worldOf(recoveryEc2, options);

// ---- events, from the samples in events/ -------------------------------------------------------

/** Five seconds before the world's NOW: every relaunch below reports secondsToLaunch 5. */
const EVENT_TIME = '2026-11-26T01:00:00Z';
const MINUTE = 60_000;

const sample = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../../../events/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;

const arn = (instanceId: string) => `arn:aws:ec2:us-east-1:123456789012:instance/${instanceId}`;

function stateChange(instanceId: string, state: 'stopped' | 'terminated' | 'running', time = EVENT_TIME): RecoveryTrigger {
  return v.parse(RecoveryTriggerEvent, {
    ...sample('instance-terminated'),
    time,
    resources: [arn(instanceId)],
    detail: { 'instance-id': instanceId, state },
  });
}

function alarm(instanceId: string, value = 'ALARM', metric = 'StatusCheckFailed'): RecoveryTrigger {
  const e = sample('alarm-status-check-failed') as { detail: Record<string, unknown> };
  return v.parse(RecoveryTriggerEvent, {
    ...e,
    time: EVENT_TIME,
    detail: {
      ...e.detail,
      alarmName: `${STACK}-status-${instanceId}`,
      state: { value },
      configuration: {
        metrics: [{ metricStat: { metric: { namespace: 'AWS/EC2', name: metric, dimensions: { InstanceId: instanceId } } } }],
      },
    },
  });
}

/** An AWS Health event naming the instances by ARN in affectedEntities and by bare id in resources. */
function health(instanceIds: string[], eventTypeCode = 'AWS_EC2_INSTANCE_STOP_SCHEDULED'): RecoveryTrigger {
  const e = sample('health-instance-stop-scheduled') as { detail: Record<string, unknown> };
  return v.parse(RecoveryTriggerEvent, {
    ...e,
    time: EVENT_TIME,
    resources: [...instanceIds],
    detail: { ...e.detail, eventTypeCode, affectedEntities: instanceIds.map((id) => ({ entityValue: arn(id) })) },
  });
}

// ---- the world: a lineage with images, a captured configuration and an Elastic IP --------------

const FAILED = instanceIdOf(1);
const OTHER = instanceIdOf(99);
const BASE_AMI = 'ami-0base0000000000000';
const USER_DATA = Buffer.from('#!/bin/sh\necho hello > /tmp/hello\n').toString('base64');

/** The operator's tags plus the service's bookkeeping on the failed instance. */
const ownTags = (lineage: string, recover: string | null): Record<string, string> => ({
  Name: `${lineage}-1`,
  team: 'payments',
  [TAG.bake]: 'nightly',
  [TAG.lineage]: lineage,
  ...(recover === null ? {} : { [TAG.recover]: recover }),
  [TAG.captured]: '0123456789abcdef',
  'aws:cloudformation:stack-name': 'shop',
});

/** What a bake captures: the configuration with carried tags and user data. */
const capturedConfig = (lineage: string, publicIp: string, recover = 'on-failure'): StoredLaunchConfig => ({
  instanceType: 't3.small',
  subnetId: 'subnet-0aaaaaaaaaaaaaaaa',
  securityGroupIds: ['sg-0bbbbbbbbbbbbbbbb'],
  keyName: 'ops',
  iamInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/web',
  ebsOptimized: true,
  monitoring: true,
  metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 },
  elasticIp: publicIp,
  tags: { Name: `${lineage}-1`, team: 'payments', [TAG.bake]: 'nightly', [TAG.recover]: recover, [TAG.lineage]: lineage },
  userData: USER_DATA,
});

/** The tags a replacement of an instance carrying ownTags(lineage, 'on-failure') gets. */
const replacementTagsOf = (lineage: string, failedId: string, generation = '1') => ({
  Name: `${lineage}-1`,
  team: 'payments',
  [TAG.bake]: 'nightly',
  [TAG.lineage]: lineage,
  [TAG.recover]: 'on-failure',
  [TAG.replaces]: failedId,
  [TAG.generation]: generation,
});

interface Arranged {
  failedId: string;
  lineage: string;
  /** The newest good, available image: what a relaunch uses. */
  newest: FakeImage;
  /** An older good image. */
  older: FakeImage;
  instance: FakeInstance | undefined;
  address: FakeAddress | undefined;
  config: StoredLaunchConfig | undefined;
}

interface ArrangeOptions {
  failedId?: string;
  lineage?: string;
  /** The failed instance's state; 'vanished' when EC2 no longer describes it. */
  state?: string;
  reasonCode?: string | undefined;
  /** Its recover tag; null for none. */
  recover?: string | null;
  extraTags?: Record<string, string>;
  launchTime?: Date;
  /** The image the failed instance was launched from; 'newest' for the lineage's newest good one. */
  launchedFrom?: string;
  /** Where the lineage's Elastic IP is: on the failed instance (default unless terminated or vanished), free, on another instance, or none. */
  eip?: 'on-failed' | 'free' | 'elsewhere' | 'none';
  publicIp?: string;
  /** False: no configuration captured yet; a string: the recover tag captured with it. */
  config?: boolean | string;
}

/**
 * A lineage as a few nights of bakes leave it: two good images, a newer one still
 * pending and one marked bad (neither may be used), its configuration captured, its
 * Elastic IP tagged; and the instance that failed.
 */
function arrange(w: World, opts: ArrangeOptions = {}): Arranged {
  const failedId = opts.failedId ?? FAILED;
  const lineage = opts.lineage ?? 'web';
  const state = opts.state ?? 'terminated';
  const publicIp = opts.publicIp ?? '203.0.113.10';
  const image = (day: string, status: string, imageState = 'available') =>
    w.account.addImage({
      name: `${STACK}/${lineage}/nightly/${day.slice(0, 10)}`,
      state: imageState,
      creationDate: day,
      sourceInstanceId: failedId,
      tags: { [TAG.managedBy]: STACK, [TAG.lineage]: lineage, [TAG.sourceInstance]: failedId, [TAG.status]: status },
    });
  const older = image('2026-11-24T03:00:00.000Z', 'good');
  const newest = image('2026-11-25T03:00:00.000Z', 'good');
  image('2026-11-25T15:00:00.000Z', 'bad');
  image('2026-11-26T00:30:00.000Z', 'pending', 'pending');

  let instance: FakeInstance | undefined;
  if (state !== 'vanished') {
    const launchedFrom = opts.launchedFrom === 'newest' ? newest.imageId : (opts.launchedFrom ?? BASE_AMI);
    instance = w.account.addInstance(
      failedId,
      { ...ownTags(lineage, opts.recover === undefined ? 'on-failure' : opts.recover), ...opts.extraTags },
      state,
      1,
      launchedFrom,
    );
    instance.stateReasonCode = 'reasonCode' in opts ? opts.reasonCode : 'Server.InternalError';
    instance.launchTime = opts.launchTime ?? new Date('2026-11-01T00:00:00.000Z');
  }

  let config: StoredLaunchConfig | undefined;
  if (opts.config !== false) {
    config = capturedConfig(lineage, publicIp, typeof opts.config === 'string' ? opts.config : 'on-failure');
    w.account.addLaunchConfig(launchTemplateName(STACK, lineage), config, { [TAG.managedBy]: STACK, [TAG.lineage]: lineage });
  }

  const eip = opts.eip ?? (state === 'terminated' || state === 'vanished' ? 'free' : 'on-failed');
  let address: FakeAddress | undefined;
  if (eip !== 'none') {
    if (eip === 'elsewhere' && !w.account.instances.has(OTHER)) w.account.addInstance(OTHER, { Name: 'someone-else' });
    address = w.account.addAddress({
      allocationId: `eipalloc-0${lineage}`,
      publicIp,
      instanceId: eip === 'on-failed' ? failedId : eip === 'elsewhere' ? OTHER : undefined,
      tags: { [TAG.lineage]: lineage },
    });
  }
  return { failedId, lineage, newest, older, instance, address, config };
}

/** Instances of the account that replace this one. */
const replacementsOf = (w: World, failedId: string) => [...w.account.instances.values()].filter((i) => i.tags[TAG.replaces] === failedId);

/**
 * After a first delivery launched the replacement: a newer good image appears, and the
 * next listing of the lineage does not show the replacement yet (eventual consistency).
 */
function newerImageWhileReplacementUnlisted(w: World<RecoveryEc2>) {
  const newer = w.account.addImage({
    name: `${STACK}/web/nightly/2026-11-26`,
    creationDate: '2026-11-26T00:45:00.000Z',
    tags: { [TAG.managedBy]: STACK, [TAG.lineage]: 'web', [TAG.sourceInstance]: FAILED, [TAG.status]: 'good' },
  });
  const list = w.deps.ec2.listLineageInstances;
  let stale = true;
  w.deps.ec2.listLineageInstances = async (lineage: string) => {
    const all = await list(lineage);
    if (!stale) return all;
    stale = false;
    return all.filter((i) => i.tags[TAG.replaces] !== FAILED);
  };
  return newer;
}

/** The calls up to the launch: one describe, then the lineage's images, instances and configuration. */
const READS = ['DescribeInstance', 'ListLineageImages', 'ListLineageInstances', 'ReadLaunchConfig'];

/** The EC2 methods recovery calls, and the bus: what a fault can hit. */
const FAULTABLE = [
  'describeInstance',
  'findLineageOf',
  'listLineageImages',
  'listLineageInstances',
  'readLaunchConfig',
  'runInstance',
  'instanceTypeArchitectures',
  'findFollowingVolumes',
  'subnetZones',
  'placementOf',
  'detachVolume',
  'waitUntilDetached',
  'attachVolume',
  'findLineageAddresses',
  'waitUntilRunning',
  'associateAddress',
  'tagResources',
  'terminateInstance',
  'describeStatusChecks',
  'rebootInstance',
] as const;

/**
 * Deps over the world whose k-th call (to EC2 or to the bus) fails with a retryable
 * error: `before` it reaches AWS (nothing happens), or `after` it did its work (the
 * answer is lost, as in a crash or a timeout). k = 0 never fails; `count` tells how
 * many calls a run made.
 */
function faulty(w: World<RecoveryEc2>, k: number, when: 'before' | 'after'): { deps: RecoveryDeps; count: () => number } {
  let n = 0;
  const wrap =
    <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const i = ++n;
      if (i === k && when === 'before') throw throttled(name);
      const result = await fn(...args);
      if (i === k && when === 'after') throw throttled(name);
      return result;
    };
  const ec2 = new Proxy(w.deps.ec2, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== 'function' || !(FAULTABLE as readonly PropertyKey[]).includes(prop)) return value;
      return wrap(String(prop), (...args: unknown[]) => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
  const events: EventPort = { publish: wrap('publish', (e: Parameters<EventPort['publish']>[0]) => w.bus.publish(e)) };
  const rechecks = {
    scheduleOnce: wrap('scheduleOnce', (name: string, at: Date, input: unknown) => w.rechecks.scheduleOnce(name, at, input)),
  };
  return { deps: { ...w.deps, ec2, events, rechecks }, count: () => n };
}

// ---- the tests ---------------------------------------------------------------------------------

describe('recoverInstances: relaunch', () => {
  it('relaunches a terminated instance from the newest good image with the captured configuration, its tags and the Elastic IP', async () => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'terminated' });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    const [replacement] = replacementsOf(w, FAILED);
    expect(replacement).toBeDefined();
    const replacementId = replacement!.instanceId;
    expect(report.outcomes).toEqual([
      { instanceId: FAILED, action: 'relaunched', replacementId, imageId: a.newest.imageId, resumed: false, reason: 'state signal' },
    ]);
    expect(w.account.runCalls).toEqual([
      {
        imageId: a.newest.imageId,
        config: a.config,
        clientToken: replacementToken('web', FAILED),
        tags: replacementTagsOf('web', FAILED),
        droppedTags: [],
        keepPrivateIp: false,
      },
    ]);
    expect(replacement).toMatchObject({
      state: 'running',
      imageId: a.newest.imageId,
      userData: USER_DATA,
      tags: replacementTagsOf('web', FAILED),
      launch: {
        instanceType: 't3.small',
        subnetId: 'subnet-0aaaaaaaaaaaaaaaa',
        securityGroupIds: ['sg-0bbbbbbbbbbbbbbbb'],
        keyName: 'ops',
      },
    });
    expect(a.address!.instanceId).toBe(replacementId);
    expect(w.bus.published.map((e) => e.detailType)).toEqual(['InstanceRelaunched']);
    expect(v.parse(InstanceRelaunched, w.bus.ofType('InstanceRelaunched')[0])).toEqual({
      managedBy: STACK,
      lineage: 'web',
      failedInstanceId: FAILED,
      newInstanceId: replacementId,
      imageId: a.newest.imageId,
      trigger: 'state',
      reason: 'state signal',
      generation: 1,
      secondsToLaunch: 5,
      elasticIp: { allocationId: 'eipalloc-0web', publicIp: '203.0.113.10' },
      failedInstance: 'gone',
      resumed: false,
    });
    // A terminated instance is not tagged; the calls are the documented sequence.
    expect(w.account.tagCalls).toEqual([]);
    expect(w.account.recoveryCalls).toEqual([...READS, 'RunInstances', 'FindLineageAddresses', 'WaitUntilRunning', 'AssociateAddress']);
  });

  it('keeps a stopped instance, tags it replaced-by, moves its Elastic IP and counts one more generation', async () => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'stopped', reasonCode: 'Server.ScheduledStop', extraTags: { [TAG.generation]: '2' } });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    const [replacement] = replacementsOf(w, FAILED);
    const replacementId = replacement!.instanceId;
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'relaunched', replacementId, resumed: false })]);
    expect(replacement!.tags[TAG.generation]).toBe('3');
    expect(a.instance!.state).toBe('stopped');
    expect(a.instance!.tags[TAG.replacedBy]).toBe(replacementId);
    expect(a.address!.instanceId).toBe(replacementId);
    expect(w.account.recoveryCalls).not.toContain('TerminateInstances');
    expect(w.bus.ofType('InstanceRelaunched')).toEqual([
      expect.objectContaining({
        newInstanceId: replacementId,
        generation: 3,
        failedInstance: 'kept',
        secondsToLaunch: 5,
        elasticIp: expect.anything(),
      }),
    ]);
  });

  it('terminates the replaced instance after tagging it when terminateReplaced is set', async () => {
    // Prepare
    const w = world({ recovery: { terminateReplaced: true } });
    const a = arrange(w, { state: 'stopped' });

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    const replacementId = replacementsOf(w, FAILED)[0]!.instanceId;
    expect(a.instance).toMatchObject({ state: 'terminated', tags: expect.objectContaining({ [TAG.replacedBy]: replacementId }) });
    const tagged = w.journal.indexOf(`tag ${FAILED} ${JSON.stringify({ [TAG.replacedBy]: replacementId })}`);
    expect(tagged).toBeGreaterThanOrEqual(0);
    expect(tagged).toBeLessThan(w.journal.indexOf('TerminateInstances'));
    expect(w.bus.ofType('InstanceRelaunched')).toEqual([expect.objectContaining({ failedInstance: 'terminated' })]);
  });

  it('measures secondsToLaunch from the event time to now', async () => {
    // Prepare
    const w = world();
    arrange(w);

    // Act
    await recoverInstances(stateChange(FAILED, 'terminated', '2026-11-26T00:58:35Z'), w.deps);

    // Assess
    expect(NOW.toISOString()).toBe('2026-11-26T01:00:05.000Z');
    expect(w.bus.ofType('InstanceRelaunched')[0]!.secondsToLaunch).toBe(90);
  });

  it.each([
    ['a status-check alarm', () => alarm(FAILED), 'alarm'],
    ['an AWS Health degraded-hardware event', () => health([FAILED]), 'health'],
  ] as const)('relaunches a running instance on %s and keeps it, tagged', async (_label, event, trigger) => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'running' });

    // Act
    const report = await recoverInstances(event(), w.deps);

    // Assess
    const replacementId = replacementsOf(w, FAILED)[0]!.instanceId;
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'relaunched', replacementId, reason: `${trigger} signal` })]);
    expect(a.instance).toMatchObject({ state: 'running', tags: expect.objectContaining({ [TAG.replacedBy]: replacementId }) });
    expect(a.address!.instanceId).toBe(replacementId);
    expect(w.bus.ofType('InstanceRelaunched')).toEqual([expect.objectContaining({ trigger, failedInstance: 'kept' })]);
  });

  it('moves an Elastic IP that is not associated with any instance', async () => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'stopped', eip: 'free' });

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(a.address!.instanceId).toBe(replacementsOf(w, FAILED)[0]!.instanceId);
  });

  it('leaves alone an Elastic IP of the lineage that has since been given to another instance', async () => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'stopped', eip: 'elsewhere' });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(report.outcomes[0]!.action).toBe('relaunched');
    expect(a.address!.instanceId).toBe(OTHER);
    expect(w.account.recoveryCalls).not.toContain('AssociateAddress');
    expect(w.account.recoveryCalls).not.toContain('WaitUntilRunning');
    expect(w.bus.ofType('InstanceRelaunched')[0]).not.toHaveProperty('elasticIp');
  });

  it('relaunches without an Elastic IP when the lineage has none', async () => {
    // Prepare
    const w = world();
    arrange(w, { eip: 'none' });

    // Act
    await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(replacementsOf(w, FAILED)).toHaveLength(1);
    expect(w.account.recoveryCalls).not.toContain('AssociateAddress');
    expect(w.bus.ofType('InstanceRelaunched')[0]).not.toHaveProperty('elasticIp');
  });

  it('relaunches a vanished instance: lineage from its images, recover mode and tags from the captured configuration', async () => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'vanished', config: 'always' });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    const [replacement] = replacementsOf(w, FAILED);
    expect(report.outcomes).toEqual([
      expect.objectContaining({ action: 'relaunched', replacementId: replacement!.instanceId, imageId: a.newest.imageId }),
    ]);
    expect(w.account.runCalls[0]!.tags).toEqual({ ...a.config!.tags, [TAG.replaces]: FAILED, [TAG.generation]: '1' });
    expect(a.address!.instanceId).toBe(replacement!.instanceId);
    expect(w.account.recoveryCalls.slice(0, 2)).toEqual(['DescribeInstance', 'FindLineageOf']);
    expect(w.account.tagCalls).toEqual([]);
    expect(w.bus.ofType('InstanceRelaunched')).toEqual([
      expect.objectContaining({ lineage: 'web', failedInstance: 'gone', generation: 1 }),
    ]);
  });
});

describe('recoverInstances: not relaunched', () => {
  it.each([
    ['no recover tag', null, 'recovery is off for this instance'],
    ['recover=off', 'off', 'recovery is off for this instance'],
  ] as const)('ignores an instance with %s after one DescribeInstance call, publishing nothing', async (_label, recover, reason) => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'stopped', recover });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([{ instanceId: FAILED, action: 'ignored', reason: expect.stringMatching(reason) }]);
    expect(w.account.recoveryCalls).toEqual(['DescribeInstance']);
    expect(w.bus.calls).toEqual([]);
    expect(a.address!.instanceId).toBe(FAILED);
  });

  it('skips an instance whose recover tag cannot be read, and says so with RecoverySkipped (it was meant to opt in)', async () => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'stopped', recover: 'maybe' });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    const reason = expect.stringMatching(/^not relaunched: ami-lifecycle:recover=maybe: /);
    expect(report.outcomes).toEqual([{ instanceId: FAILED, action: 'skipped', reason }]);
    expect(w.account.recoveryCalls).toEqual(['DescribeInstance']);
    expect(w.bus.ofType('RecoverySkipped')).toEqual([expect.objectContaining({ instanceId: FAILED, reason })]);
    expect(w.account.runCalls).toEqual([]);
    expect(a.address!.instanceId).toBe(FAILED);
  });

  it('ignores an instance it cannot describe and that was never baked, publishing nothing', async () => {
    // Prepare
    const w = world();

    // Act
    const report = await recoverInstances(stateChange(instanceIdOf(42), 'terminated'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([
      { instanceId: instanceIdOf(42), action: 'ignored', reason: 'unknown instance: no longer described and never baked' },
    ]);
    expect(w.account.recoveryCalls).toEqual(['DescribeInstance', 'FindLineageOf']);
    expect(w.bus.calls).toEqual([]);
  });

  it('ignores a vanished instance whose captured configuration does not opt in to recovery', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'vanished', config: 'off' });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'ignored' })]);
    expect(w.account.runCalls).toEqual([]);
    expect(w.bus.calls).toEqual([]);
  });

  it('skips an opted-in instance that was never baked (no lineage), with RecoverySkipped', async () => {
    // Prepare
    const w = world();
    const instance = w.account.addInstance(FAILED, { [TAG.recover]: 'on-failure', [TAG.bake]: 'nightly' }, 'terminated');
    instance.stateReasonCode = 'Server.InternalError';

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    const reason = 'the instance has never been baked: it has no lineage and no image to relaunch from';
    expect(report.outcomes).toEqual([{ instanceId: FAILED, action: 'skipped', reason }]);
    expect(w.bus.published).toHaveLength(1);
    expect(v.parse(RecoverySkipped, w.bus.ofType('RecoverySkipped')[0])).toEqual({
      managedBy: STACK,
      instanceId: FAILED,
      trigger: 'state',
      reason,
    });
    expect(w.account.recoveryCalls).toEqual(['DescribeInstance', 'FindLineageOf']);
  });

  it('relaunches an instance that could not take its lineage tag (at the 50-tag limit): its images name the lineage', async () => {
    // Prepare: the instance lost its lineage tag (never written); its images carry it
    const w = world();
    const a = arrange(w);
    delete a.instance!.tags[TAG.lineage];

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ instanceId: FAILED, action: 'relaunched', imageId: a.newest.imageId })]);
    expect(w.account.recoveryCalls.slice(0, 2)).toEqual(['DescribeInstance', 'FindLineageOf']);
  });

  it('skips a stop by a person under recover=on-failure, naming the state reason', async () => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'stopped', reasonCode: 'Client.UserInitiatedShutdown' });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    const reason =
      'stopped (Client.UserInitiatedShutdown: stopped or terminated by a person); recover=on-failure relaunches only on failures';
    expect(report.outcomes).toEqual([{ instanceId: FAILED, action: 'skipped', reason }]);
    expect(w.bus.ofType('RecoverySkipped')).toEqual([{ managedBy: STACK, instanceId: FAILED, lineage: 'web', trigger: 'state', reason }]);
    expect(w.account.runCalls).toEqual([]);
    expect(a.instance!.tags[TAG.replacedBy]).toBeUndefined();
    expect(a.address!.instanceId).toBe(FAILED);
  });

  it('relaunches a stop by a person under recover=always, unless the instance carries the maintenance marker', async () => {
    // Prepare
    const plain = world();
    arrange(plain, { state: 'stopped', reasonCode: 'Client.UserInitiatedShutdown', recover: 'always' });
    const maintained = world();
    arrange(maintained, {
      state: 'stopped',
      reasonCode: 'Client.UserInitiatedShutdown',
      recover: 'always',
      extraTags: { [TAG.maintenance]: 'CHG-1234' },
    });

    // Act
    const relaunched = await recoverInstances(stateChange(FAILED, 'stopped'), plain.deps);
    const skipped = await recoverInstances(stateChange(FAILED, 'stopped'), maintained.deps);

    // Assess
    expect(relaunched.outcomes[0]!.action).toBe('relaunched');
    expect(skipped.outcomes).toEqual([expect.objectContaining({ action: 'skipped', reason: expect.stringContaining(TAG.maintenance) })]);
    expect(maintained.account.runCalls).toEqual([]);
  });

  it('skips a stop that has since been undone (the instance runs again)', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'running' });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([{ instanceId: FAILED, action: 'skipped', reason: 'the instance was stopped but is running now' }]);
    expect(w.account.runCalls).toEqual([]);
  });

  it('skips, with RecoverySkipped, a lineage whose configuration was never captured', async () => {
    // Prepare
    const w = world();
    arrange(w, { config: false });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([
      expect.objectContaining({ action: 'skipped', reason: expect.stringMatching(/^no launch configuration captured/) }),
    ]);
    expect(w.bus.ofType('RecoverySkipped')).toHaveLength(1);
    expect(w.account.runCalls).toEqual([]);
  });

  it.each([
    ['a state change to running', () => stateChange(FAILED, 'running')],
    ['an alarm back to OK', () => alarm(FAILED, 'OK')],
  ] as const)('does nothing, without a single call, for %s', async (_label, event) => {
    // Prepare
    const w = world();
    arrange(w, { state: 'running' });

    // Act
    const report = await recoverInstances(event(), w.deps);

    // Assess
    expect(report.outcomes).toEqual([]);
    expect(w.account.recoveryCalls).toEqual([]);
    expect(w.bus.calls).toEqual([]);
  });

  it('skips an AWS Health event of a type that does not announce lost hardware', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'running' });

    // Act
    const report = await recoverInstances(health([FAILED], 'AWS_EC2_OPERATIONAL_NOTIFICATION'), w.deps);

    // Assess
    const reason = 'health event AWS_EC2_OPERATIONAL_NOTIFICATION does not announce lost hardware';
    expect(report.outcomes).toEqual([{ instanceId: FAILED, action: 'skipped', reason }]);
    expect(w.bus.ofType('RecoverySkipped')).toEqual([{ managedBy: STACK, instanceId: FAILED, lineage: 'web', trigger: 'health', reason }]);
    expect(w.account.runCalls).toEqual([]);
  });

  it.each([
    [2, 'relaunched'],
    [3, 'gave-up'],
  ] as const)('with %i relaunches of the lineage in the last hour: %s', async (recent, action) => {
    // Prepare: earlier replacements of the lineage, plus one launched just over an hour ago that no longer counts
    const w = world();
    arrange(w);
    for (let i = 0; i < recent; i++) {
      const r = w.account.addInstance(instanceIdOf(10 + i), { [TAG.lineage]: 'web', [TAG.replaces]: instanceIdOf(20 + i) }, 'terminated');
      r.launchTime = new Date(NOW.getTime() - (10 + i) * MINUTE);
    }
    const old = w.account.addInstance(instanceIdOf(30), { [TAG.lineage]: 'web', [TAG.replaces]: instanceIdOf(31) }, 'terminated');
    old.launchTime = new Date(NOW.getTime() - 61 * MINUTE);

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(report.outcomes[0]!.action).toBe(action);
    if (action === 'gave-up') {
      const reason = '3 relaunches of this lineage in the last hour (limit 3)';
      expect(report.outcomes[0]!.reason).toBe(reason);
      expect(w.bus.published).toHaveLength(1);
      expect(v.parse(RecoveryGaveUp, w.bus.ofType('RecoveryGaveUp')[0])).toEqual({
        managedBy: STACK,
        instanceId: FAILED,
        lineage: 'web',
        trigger: 'state',
        reason,
      });
      expect(w.account.runCalls).toEqual([]);
    } else {
      expect(w.account.runCalls).toHaveLength(1);
    }
  });
});

describe('recoverInstances: dry run', () => {
  it('publishes RelaunchPlanned with the image, launch configuration and tags, and launches nothing', async () => {
    // Prepare
    const w = world({ recovery: { dryRun: true } });
    const a = arrange(w, { state: 'stopped' });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([{ instanceId: FAILED, action: 'planned', imageId: a.newest.imageId, reason: 'state signal' }]);
    expect(w.account.recoveryCalls).toEqual([...READS, 'FindFollowingVolumes', 'FindLineageAddresses']);
    expect(w.account.runCalls).toEqual([]);
    expect(w.account.tagCalls).toEqual([]);
    expect(a.address!.instanceId).toBe(FAILED);
    expect(w.bus.published.map((e) => e.detailType)).toEqual(['RelaunchPlanned']);
    const planned = v.parse(RelaunchPlanned, w.bus.ofType('RelaunchPlanned')[0]);
    expect(planned.launch.elasticIp).toBe(a.address!.publicIp);
    expect(planned).toMatchObject({
      managedBy: STACK,
      lineage: 'web',
      failedInstanceId: FAILED,
      imageId: a.newest.imageId,
      trigger: 'state',
      reason: 'state signal',
      launch: {
        instanceType: 't3.small',
        subnetId: 'subnet-0aaaaaaaaaaaaaaaa',
        securityGroupIds: ['sg-0bbbbbbbbbbbbbbbb'],
        keyName: 'ops',
        iamInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/web',
        hasUserData: true,
        tags: replacementTagsOf('web', FAILED),
      },
    });
    expect(planned).not.toHaveProperty('markBad');
    // The plan names no user data itself.
    expect(JSON.stringify(planned)).not.toContain(USER_DATA);
  });

  it('names the image it would mark bad in a crash loop, without tagging it', async () => {
    // Prepare
    const w = world({ recovery: { dryRun: true } });
    const a = arrange(w, {
      extraTags: { [TAG.replaces]: instanceIdOf(5), [TAG.generation]: '1' },
      launchedFrom: 'newest',
      launchTime: new Date(NOW.getTime() - 10 * MINUTE),
      // It shut itself down at boot: an image fault.
      reasonCode: 'Client.InstanceInitiatedShutdown',
    });

    // Act
    await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(w.bus.ofType('RelaunchPlanned')).toEqual([expect.objectContaining({ imageId: a.older.imageId, markBad: a.newest.imageId })]);
    expect(a.newest.tags[TAG.status]).toBe('good');
    expect(w.account.tagCalls).toEqual([]);
  });
});

describe('recoverInstances: crash loops', () => {
  // Issue 22, part 2: a person ending a fresh replacement marked its good image bad.
  it.each([
    ['a person', 'Client.UserInitiatedShutdown', 'always'],
    ['a hardware failure', 'Server.InternalError', 'on-failure'],
    ['a spot interruption', 'Server.SpotInstanceTermination', 'on-failure'],
  ] as const)('blames no image when %s ends a fresh replacement: it relaunches from the same image', async (_who, reasonCode, recover) => {
    // Prepare
    const w = world();
    const a = arrange(w, {
      extraTags: { [TAG.replaces]: instanceIdOf(5), [TAG.generation]: '1' },
      launchedFrom: 'newest',
      launchTime: new Date(NOW.getTime() - 2 * MINUTE),
      reasonCode,
      recover,
    });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'relaunched', imageId: a.newest.imageId })]);
    expect(a.newest.tags[TAG.status]).toBe('good');
    expect(w.account.tagCalls.filter((c) => c.tags[TAG.status] === 'bad')).toEqual([]);
  });

  it('marks the image of a replacement that failed within the grace period bad (with its snapshots) before launching from the next good one', async () => {
    // Prepare: the failed instance is itself a replacement, launched from the newest image ten minutes ago
    const w = world();
    const a = arrange(w, {
      extraTags: { [TAG.replaces]: instanceIdOf(5), [TAG.generation]: '1' },
      launchedFrom: 'newest',
      launchTime: new Date(NOW.getTime() - 10 * MINUTE),
      reasonCode: 'Client.InstanceInitiatedShutdown',
    });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    const reason = `replacement from ${a.newest.imageId} failed within 30 min of its launch: it was terminated from inside (Client.InstanceInitiatedShutdown)`;
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'relaunched', imageId: a.older.imageId, reason })]);
    expect(a.newest.tags[TAG.status]).toBe('bad');
    for (const s of a.newest.snapshotIds) expect(w.account.snapshotTags.get(s)![TAG.status]).toBe('bad');
    expect(w.account.tagCalls).toEqual([{ resourceIds: [a.newest.imageId, ...a.newest.snapshotIds], tags: { [TAG.status]: 'bad' } }]);
    const blamed = w.journal.indexOf(
      `tag ${[a.newest.imageId, ...a.newest.snapshotIds].join(',')} ${JSON.stringify({ [TAG.status]: 'bad' })}`,
    );
    expect(blamed).toBeGreaterThanOrEqual(0);
    expect(blamed).toBeLessThan(w.journal.indexOf('RunInstances'));
    expect(w.account.runCalls.map((c) => c.imageId)).toEqual([a.older.imageId]);
    expect(w.account.runCalls[0]!.tags).toMatchObject({ [TAG.replaces]: FAILED, [TAG.generation]: '2' });
    expect(w.bus.ofType('InstanceRelaunched')).toEqual([
      expect.objectContaining({ imageId: a.older.imageId, markedBad: a.newest.imageId, generation: 2, reason }),
    ]);
  });

  it('ends in RecoveryFailed, blaming no image and launching nothing, when the account refused the replacement at launch (a KMS key)', async () => {
    // Prepare: the replacement ended seconds after its launch with Client.InternalError
    const w = world();
    const a = arrange(w, {
      extraTags: { [TAG.replaces]: instanceIdOf(5), [TAG.generation]: '1' },
      launchedFrom: 'newest',
      launchTime: new Date(NOW.getTime() - 20_000),
      reasonCode: 'Client.InternalError',
    });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ instanceId: FAILED, action: 'failed', errorCode: 'Client.InternalError' })]);
    expect(a.newest.tags[TAG.status]).toBe('good');
    expect(w.account.tagCalls).toEqual([]);
    expect(w.account.runCalls).toEqual([]);
    const [failed] = w.bus.ofType('RecoveryFailed');
    expect(failed).toMatchObject({
      instanceId: FAILED,
      action: 'RunInstances',
      errorCode: 'Client.InternalError',
      message: expect.stringMatching(/KMS key/),
    });
    expect(w.metrics.total('RecoveriesFailed')).toBe(1);
  });

  it('does not blame the image of a replacement that ran longer than the grace period', async () => {
    // Prepare
    const w = world();
    const a = arrange(w, {
      extraTags: { [TAG.replaces]: instanceIdOf(5), [TAG.generation]: '1' },
      launchedFrom: 'newest',
      launchTime: new Date(NOW.getTime() - 31 * MINUTE),
    });

    // Act
    await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(a.newest.tags[TAG.status]).toBe('good');
    expect(w.account.runCalls.map((c) => c.imageId)).toEqual([a.newest.imageId]);
    expect(w.bus.ofType('InstanceRelaunched')[0]).not.toHaveProperty('markedBad');
  });
});

describe('recoverInstances: exactly once', () => {
  it('reports a resumed relaunch with the time of the first launch, not of the later delivery', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'terminated' });
    const event = stateChange(FAILED, 'terminated');
    await recoverInstances(event, w.deps);
    const later = new Date(NOW.getTime() + 10 * 60_000);

    // Act
    await recoverInstances(event, { ...w.deps, now: () => later });

    // Assess
    const [first, resumed] = w.bus.ofType('InstanceRelaunched');
    expect(resumed?.resumed).toBe(true);
    expect(resumed?.secondsToLaunch).toBe(first?.secondsToLaunch);
  });

  it('launches one replacement for a terminated instance from the same event delivered three times; the later ones resume', async () => {
    // Prepare
    const w = world();
    const a = arrange(w);
    const event = stateChange(FAILED, 'terminated');

    // Act
    const reports = [];
    for (let i = 0; i < 3; i++) reports.push(await recoverInstances(event, w.deps));

    // Assess
    const replacements = replacementsOf(w, FAILED);
    expect(replacements).toHaveLength(1);
    const replacementId = replacements[0]!.instanceId;
    expect(w.account.runCalls).toHaveLength(1);
    expect(reports.map((r) => r.outcomes)).toEqual([
      [expect.objectContaining({ action: 'relaunched', replacementId, resumed: false })],
      [expect.objectContaining({ action: 'relaunched', replacementId, resumed: true })],
      [expect.objectContaining({ action: 'relaunched', replacementId, resumed: true })],
    ]);
    const relaunched = w.bus.ofType('InstanceRelaunched');
    expect(relaunched.map((e) => [e.newInstanceId, e.imageId, e.resumed])).toEqual([
      [replacementId, a.newest.imageId, false],
      [replacementId, a.newest.imageId, true],
      [replacementId, a.newest.imageId, true],
    ]);
    expect(a.address!.instanceId).toBe(replacementId);
    // The Elastic IP is already in place: the later deliveries do not move it again.
    expect(w.account.recoveryCalls.filter((c) => c === 'AssociateAddress')).toHaveLength(1);
  });

  it('launches one replacement for a stopped instance from the same event delivered three times; the later ones resume it', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'stopped' });
    const event = stateChange(FAILED, 'stopped');

    // Act
    const reports = [];
    for (let i = 0; i < 3; i++) reports.push(await recoverInstances(event, w.deps));

    // Assess
    const replacements = replacementsOf(w, FAILED);
    expect(replacements).toHaveLength(1);
    const replacementId = replacements[0]!.instanceId;
    expect(w.account.runCalls).toHaveLength(1);
    expect(reports.map((r) => r.outcomes[0])).toEqual([
      expect.objectContaining({ action: 'relaunched', replacementId, resumed: false }),
      expect.objectContaining({ action: 'relaunched', replacementId, resumed: true }),
      expect.objectContaining({ action: 'relaunched', replacementId, resumed: true }),
    ]);
    expect(w.bus.ofType('InstanceRelaunched').map((e) => [e.newInstanceId, e.resumed])).toEqual([
      [replacementId, false],
      [replacementId, true],
      [replacementId, true],
    ]);
  });

  it('gets the first replacement back when RunInstances answers IdempotentParameterMismatch, found by its replaces tag', async () => {
    // Prepare: a first delivery launched the replacement; a newer good image appears since;
    // the second delivery's listing does not show the replacement yet (eventual consistency)
    const w = world();
    arrange(w);
    const event = stateChange(FAILED, 'terminated');
    await recoverInstances(event, w.deps);
    const firstId = replacementsOf(w, FAILED)[0]!.instanceId;
    const newer = newerImageWhileReplacementUnlisted(w);

    // Act
    const report = await recoverInstances(event, w.deps);

    // Assess
    expect(w.account.runCalls.map((c) => c.imageId)).toEqual([expect.not.stringMatching(newer.imageId), newer.imageId]);
    expect(w.account.runCalls[1]!.clientToken).toBe(w.account.runCalls[0]!.clientToken);
    expect(replacementsOf(w, FAILED).map((i) => i.instanceId)).toEqual([firstId]);
    const firstImage = w.account.runCalls[0]!.imageId;
    expect(report.outcomes).toEqual([
      expect.objectContaining({ action: 'relaunched', replacementId: firstId, imageId: firstImage, resumed: true }),
    ]);
    expect(w.bus.ofType('InstanceRelaunched').map((e) => [e.newInstanceId, e.imageId, e.resumed])).toEqual([
      [firstId, firstImage, false],
      [firstId, firstImage, true],
    ]);
  });

  it('rethrows IdempotentParameterMismatch when no replacement can be found, as a permanent failure', async () => {
    // Prepare
    const w = world();
    arrange(w);
    const mismatch = new AwsCallError('IdempotentParameterMismatch', 'RunInstances', 'token used with other parameters', false, 400);
    w.account.failRunInstances(mismatch);

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'failed', errorCode: 'IdempotentParameterMismatch' })]);
    expect(w.account.recoveryCalls.filter((c) => c === 'ListLineageInstances')).toHaveLength(2);
    expect(w.bus.ofType('RecoveryFailed')).toEqual([
      expect.objectContaining({ instanceId: FAILED, errorCode: 'IdempotentParameterMismatch' }),
    ]);
  });
});

describe('recoverInstances: errors', () => {
  it('recovers the other instance of a health event when one hits a transient error, rejects, and a retry finishes without a second launch', async () => {
    // Prepare: two instances of two lineages; RunInstances is throttled once for the first
    const w = world();
    const A = instanceIdOf(1);
    const B = instanceIdOf(2);
    const web = arrange(w, { failedId: A, lineage: 'web', state: 'running', publicIp: '203.0.113.10' });
    const api = arrange(w, { failedId: B, lineage: 'api', state: 'running', publicIp: '203.0.113.20' });
    const run = w.deps.ec2.runInstance;
    let throttle = true;
    w.deps.ec2.runInstance = async (spec) => {
      if (throttle && spec.tags[TAG.replaces] === A) {
        throttle = false;
        throw throttled('RunInstances');
      }
      return run(spec);
    };
    const event = health([A, B]);

    // Act
    const first = recoverInstances(event, w.deps);

    // Assess
    await expect(first).rejects.toMatchObject({ code: 'RequestLimitExceeded', retryable: true });
    expect(replacementsOf(w, A)).toHaveLength(0);
    const [apiReplacement] = replacementsOf(w, B);
    expect(apiReplacement).toBeDefined();
    expect(api.address!.instanceId).toBe(apiReplacement!.instanceId);
    expect(w.bus.ofType('InstanceRelaunched').map((e) => e.failedInstanceId)).toEqual([B]);
    expect(w.log.at('warn').map((r) => r.message)).toEqual(['recovery interrupted; the event will be retried']);

    // Act: Lambda retries the event
    const retry = await recoverInstances(event, w.deps);

    // Assess
    const [webReplacement] = replacementsOf(w, A);
    expect(retry.outcomes).toEqual([
      expect.objectContaining({ instanceId: A, action: 'relaunched', replacementId: webReplacement!.instanceId, resumed: false }),
      expect.objectContaining({ instanceId: B, action: 'relaunched', replacementId: apiReplacement!.instanceId, resumed: true }),
    ]);
    expect(replacementsOf(w, A)).toHaveLength(1);
    expect(replacementsOf(w, B)).toHaveLength(1);
    expect(w.account.runCalls.map((c) => c.tags[TAG.replaces])).toEqual([B, A]);
    expect(web.address!.instanceId).toBe(webReplacement!.instanceId);
    expect(w.bus.ofType('InstanceRelaunched').map((e) => [e.failedInstanceId, e.resumed])).toEqual([
      [B, false],
      [A, false],
      [B, true],
    ]);
  });

  it('publishes RecoveryFailed, without throwing, when RunInstances is refused for good (InsufficientInstanceCapacity)', async () => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'stopped' });
    const refusal = new AwsCallError(
      'InsufficientInstanceCapacity',
      'RunInstances',
      'We currently do not have sufficient t3.small capacity',
      false,
      500,
    );
    w.account.failRunInstances(refusal);

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess: the one launch there was is named, and that no fallback was there to try
    const message =
      'RunInstances: InsufficientInstanceCapacity: no launch of the replacement succeeded: ' +
      't3.small in subnet-0aaaaaaaaaaaaaaaa: InsufficientInstanceCapacity ' +
      '(the instance names no fallbacks: ami-lifecycle:subnets, ami-lifecycle:fallback-types)';
    expect(report.outcomes).toEqual([{ instanceId: FAILED, action: 'failed', errorCode: 'InsufficientInstanceCapacity', reason: message }]);
    expect(w.bus.published.map((e) => e.detailType)).toEqual(['RecoveryFailed']);
    expect(v.parse(RecoveryFailed, w.bus.ofType('RecoveryFailed')[0])).toEqual({
      managedBy: STACK,
      instanceId: FAILED,
      trigger: 'state',
      action: 'RunInstances',
      errorCode: 'InsufficientInstanceCapacity',
      message,
    });
    expect(replacementsOf(w, FAILED)).toEqual([]);
    expect(a.address!.instanceId).toBe(FAILED);
    expect(a.instance!.tags[TAG.replacedBy]).toBeUndefined();
    expect(w.log.at('error')).toHaveLength(1);
  });

  it('publishes RecoveryFailed for the refused instance and still rejects for the one with a transient error', async () => {
    // Prepare: a health event for two instances; the first one's description is refused for good, the second's throttled
    const w = world();
    const A = instanceIdOf(1);
    const B = instanceIdOf(2);
    arrange(w, { failedId: A, lineage: 'web', state: 'running' });
    arrange(w, { failedId: B, lineage: 'api', state: 'running', publicIp: '203.0.113.20' });
    const describe = w.deps.ec2.describeInstance;
    w.deps.ec2.describeInstance = async (id: string) => {
      if (id === A) throw new AwsCallError('UnauthorizedOperation', 'DescribeInstances', 'not authorized', false, 403);
      if (id === B) throw throttled('DescribeInstances');
      return describe(id);
    };

    // Act
    const act = recoverInstances(health([A, B]), w.deps);

    // Assess
    await expect(act).rejects.toMatchObject({ code: 'RequestLimitExceeded' });
    expect(w.bus.ofType('RecoveryFailed')).toEqual([
      expect.objectContaining({ instanceId: A, errorCode: 'UnauthorizedOperation', action: 'DescribeInstances' }),
    ]);
    expect(w.account.runCalls).toEqual([]);
  });

  it('rethrows an error that is not an AwsCallError', async () => {
    // Prepare
    const w = world();
    arrange(w);
    w.deps.ec2.describeInstance = async () => {
      throw new TypeError('bug');
    };

    // Act
    const act = recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    await expect(act).rejects.toThrow(TypeError);
    expect(w.bus.calls).toEqual([]);
  });

  it('throws when InstanceRelaunched cannot be published; the retry resumes the same replacement', async () => {
    // Prepare
    const w = world();
    arrange(w);
    w.bus.failAll('ThrottlingException');
    const event = stateChange(FAILED, 'terminated');

    // Act
    const act = recoverInstances(event, w.deps);

    // Assess
    await expect(act).rejects.toThrow(/could not publish InstanceRelaunched: ThrottlingException/);
    expect(w.bus.published).toEqual([]);
    expect(replacementsOf(w, FAILED)).toHaveLength(1);

    // Act: the retry, with the bus healed
    w.bus.heal();
    const retry = await recoverInstances(event, w.deps);

    // Assess
    expect(retry.outcomes).toEqual([expect.objectContaining({ action: 'relaunched', resumed: true })]);
    expect(replacementsOf(w, FAILED)).toHaveLength(1);
    expect(w.account.runCalls).toHaveLength(1);
    expect(w.bus.ofType('InstanceRelaunched')).toEqual([expect.objectContaining({ resumed: true })]);
  });

  it.each([
    ['RecoverySkipped', { state: 'stopped', reasonCode: 'Client.UserInitiatedShutdown' }],
    ['RecoveryFailed', { state: 'stopped' }],
  ] as const)('throws when %s cannot be published', async (detailType, opts) => {
    // Prepare
    const w = world();
    arrange(w, opts);
    w.account.failRunInstances(new AwsCallError('InsufficientInstanceCapacity', 'RunInstances', 'no capacity', false, 500));
    w.bus.failAll('InternalException');

    // Act
    const act = recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    await expect(act).rejects.toThrow(`could not publish ${detailType}: InternalException`);
    expect(w.bus.calls.map((c) => c.map((e) => e.detailType))).toEqual([[detailType]]);
  });
});

describe('recoverInstances: crash consistency', () => {
  it.each([
    ['a terminated instance', 'terminated', 'before', 9, false],
    ['a terminated instance', 'terminated', 'after', 9, false],
    ['a vanished instance', 'vanished', 'before', 10, false],
    ['a vanished instance', 'vanished', 'after', 10, false],
    // A stopped instance's following volumes are read alongside the other reads (none here).
    ['a stopped instance', 'stopped', 'before', 11, false],
    ['a stopped instance', 'stopped', 'after', 11, false],
    ['a stopped instance, terminated once replaced', 'stopped', 'before', 12, true],
    ['a stopped instance, terminated once replaced', 'stopped', 'after', 12, true],
  ] as const)(
    'converges for %s on one replacement with the Elastic IP when any one call fails %s doing its work and the event comes again',
    async (_label, state, when, expectedCalls, terminateReplaced) => {
      // Prepare: how many calls a clean recovery makes (reads, RunInstances, 3 for the Elastic IP,
      // the replaced-by tag and termination of a failed instance that still exists, publish)
      const opts: ArrangeOptions = { state, config: 'always' };
      const world = () => worldOf(recoveryEc2, { recovery: { terminateReplaced } });
      const clean = world();
      arrange(clean, opts);
      const counting = faulty(clean, 0, when);
      await recoverInstances(stateChange(FAILED, state === 'stopped' ? 'stopped' : 'terminated'), counting.deps);
      expect(counting.count()).toBe(expectedCalls);

      for (let k = 1; k <= expectedCalls; k++) {
        // Prepare
        const w = world();
        const a = arrange(w, opts);
        const event = stateChange(FAILED, state === 'stopped' ? 'stopped' : 'terminated');

        // Act: the k-th call fails; then the event comes again without faults
        const crashed = recoverInstances(event, faulty(w, k, when).deps);
        await expect(crashed, `k=${k}`).rejects.toMatchObject({ retryable: true });
        const retry = await recoverInstances(event, w.deps);

        // Assess
        const replacements = replacementsOf(w, FAILED);
        expect(replacements, `k=${k}`).toHaveLength(1);
        const replacementId = replacements[0]!.instanceId;
        expect(retry.outcomes, `k=${k}`).toEqual([expect.objectContaining({ action: 'relaunched', replacementId })]);
        const relaunched = w.bus.ofType('InstanceRelaunched');
        expect(relaunched.length, `k=${k}`).toBeGreaterThanOrEqual(1);
        expect(
          relaunched.map((e) => e.newInstanceId),
          `k=${k}`,
        ).toEqual(relaunched.map(() => replacementId));
        expect(a.address!.instanceId, `k=${k}`).toBe(replacementId);
        if (state === 'stopped') {
          const failed = w.account.instances.get(FAILED)!;
          expect(failed.tags[TAG.replacedBy], `k=${k}`).toBe(replacementId);
          expect(failed.state, `k=${k}`).toBe(terminateReplaced ? 'terminated' : 'stopped');
        }
      }
    },
  );
});

describe('recoverInstances: metrics', () => {
  it('counts one InstancesRelaunched for a relaunch, and nothing else', async () => {
    // Prepare
    const w = world();
    arrange(w);

    // Act
    await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(w.metrics.records).toEqual([{ name: 'InstancesRelaunched', unit: 'Count', value: 1 }]);
  });

  it('counts one InstancesRelaunched for the same event delivered three times: the later deliveries resume', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'stopped' });
    const event = stateChange(FAILED, 'stopped');

    // Act
    for (let i = 0; i < 3; i++) await recoverInstances(event, w.deps);

    // Assess
    expect(w.bus.ofType('InstanceRelaunched')).toHaveLength(3);
    expect(w.metrics.totals()).toEqual({ InstancesRelaunched: 1 });
  });

  it('counts no relaunch when RunInstances answers IdempotentParameterMismatch and the first replacement is found', async () => {
    // Prepare: a first delivery launched the replacement; the second finds it only through the mismatch
    const w = world();
    arrange(w);
    const event = stateChange(FAILED, 'terminated');
    await recoverInstances(event, w.deps);
    newerImageWhileReplacementUnlisted(w);
    w.metrics.clear();

    // Act
    const report = await recoverInstances(event, w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'relaunched', resumed: true })]);
    expect(w.metrics.records).toEqual([]);
  });

  it('counts RecoveriesSkipped for a skipped recovery', async () => {
    // Prepare: opted in, never baked
    const w = world();
    const instance = w.account.addInstance(FAILED, { [TAG.recover]: 'on-failure', [TAG.bake]: 'nightly' }, 'terminated');
    instance.stateReasonCode = 'Server.InternalError';

    // Act
    await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(w.metrics.records).toEqual([{ name: 'RecoveriesSkipped', unit: 'Count', value: 1 }]);
  });

  it('counts RecoveriesGaveUp when the lineage was relaunched too often within the hour', async () => {
    // Prepare
    const w = world();
    arrange(w);
    for (let i = 0; i < 3; i++) {
      const r = w.account.addInstance(instanceIdOf(10 + i), { [TAG.lineage]: 'web', [TAG.replaces]: instanceIdOf(20 + i) }, 'terminated');
      r.launchTime = new Date(NOW.getTime() - (10 + i) * MINUTE);
    }

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(report.outcomes[0]!.action).toBe('gave-up');
    expect(w.metrics.records).toEqual([{ name: 'RecoveriesGaveUp', unit: 'Count', value: 1 }]);
  });

  it('counts RecoveriesFailed, and no relaunch, when RunInstances is refused for good', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'stopped' });
    w.account.failRunInstances(new AwsCallError('InsufficientInstanceCapacity', 'RunInstances', 'no capacity', false, 500));

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(w.metrics.records).toEqual([{ name: 'RecoveriesFailed', unit: 'Count', value: 1 }]);
  });

  it('counts RecoveriesPlanned, and no relaunch, in a dry run', async () => {
    // Prepare
    const w = world({ recovery: { dryRun: true } });
    arrange(w, { state: 'stopped' });

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(w.metrics.records).toEqual([{ name: 'RecoveriesPlanned', unit: 'Count', value: 1 }]);
  });

  it('counts nothing for an instance that is not ours to recover', async () => {
    // Prepare: one never baked and gone, one not opted in
    const w = world();
    w.account.addInstance(OTHER, { Name: 'someone-else' }, 'stopped');

    // Act
    await recoverInstances(stateChange(instanceIdOf(42), 'terminated'), w.deps);
    await recoverInstances(stateChange(OTHER, 'stopped'), w.deps);

    // Assess
    expect(w.metrics.records).toEqual([]);
  });

  it.each(['before', 'after'] as const)(
    'counts a relaunch at most once when any one call fails %s doing its work and the event comes again',
    async (when) => {
      // Prepare: the calls of a clean recovery of a terminated instance
      const clean = world();
      arrange(clean);
      const counting = faulty(clean, 0, when);
      await recoverInstances(stateChange(FAILED, 'terminated'), counting.deps);

      for (let k = 1; k <= counting.count(); k++) {
        // Prepare
        const w = world();
        arrange(w);
        const event = stateChange(FAILED, 'terminated');

        // Act: the k-th call fails; then the event comes again without faults
        const crash = (await recoverInstances(event, faulty(w, k, when).deps).catch((e: unknown) => e)) as AwsCallError;
        await recoverInstances(event, w.deps);

        // Assess: once, except when the answer of RunInstances itself is lost: the retry resumes a
        // replacement it cannot know its crashed predecessor launched, and leaves it uncounted
        // rather than risk counting it twice.
        expect(crash, `k=${k}`).toMatchObject({ retryable: true });
        const lostLaunch = when === 'after' && crash.action === 'runInstance';
        expect(w.metrics.total('InstancesRelaunched'), `k=${k} (${crash.action})`).toBe(lostLaunch ? 0 : 1);
      }
    },
  );
});

// Issue 22, parts 3 and 4: an instance check failing is answered with a reboot and a recheck; a
// bake's reboot holds alarms and Health events; neither ever launches twice.
describe('recoverInstances: waiting out a reboot', () => {
  const instanceCheck = () => alarm(FAILED, 'ALARM', 'StatusCheckFailed_Instance');
  const running = (w: World<RecoveryEc2>, extraTags: Record<string, string> = {}) =>
    arrange(w, { state: 'running', reasonCode: undefined, eip: 'none', extraTags });
  /** The rechecks due at `at`, handed to the function as Scheduler would. */
  const fireDue = async (w: World<RecoveryEc2>, at: Date) => {
    w.clock.now = at;
    const reports = [];
    for (const input of w.rechecks.takeDue(at)) reports.push(await recover(v.parse(RecheckRequest, input), w.deps));
    return reports;
  };
  const DUE = new Date(NOW.getTime() + 15 * MINUTE);

  it('reboots an instance whose instance check failed, schedules its recheck, and launches nothing yet', async () => {
    // Prepare
    const w = world();
    running(w);

    // Act
    const report = await recoverInstances(instanceCheck(), w.deps);

    // Assess
    expect(report.outcomes).toEqual([
      { instanceId: FAILED, action: 'deferred', until: DUE.toISOString(), rebooted: true, reason: expect.stringMatching(/rebooted first/) },
    ]);
    const instance = w.account.instances.get(FAILED)!;
    expect(instance.reboots).toBe(1);
    expect(instance.tags[TAG.rebootedAt]).toBe(NOW.toISOString());
    expect([...w.rechecks.schedules.keys()]).toEqual([`${STACK}-recheck-${FAILED}`]);
    expect(w.rechecks.schedules.get(`${STACK}-recheck-${FAILED}`)!.at).toEqual(DUE);
    expect(replacementsOf(w, FAILED)).toEqual([]);
    expect(w.bus.ofType('RecoveryDeferred')).toEqual([
      expect.objectContaining({
        instanceId: FAILED,
        lineage: 'web',
        trigger: 'alarm',
        cause: 'reboot',
        rebooted: true,
        until: DUE.toISOString(),
      }),
    ]);
    expect(w.metrics.records).toContainEqual({ name: 'RecoveriesDeferred', unit: 'Count', value: 1 });
  });

  it('relaunches at the recheck when the instance check still fails, exactly once', async () => {
    // Prepare
    const w = world();
    const a = running(w);
    await recoverInstances(instanceCheck(), w.deps);
    a.instance!.statusChecks = { system: 'ok', instance: 'impaired' };

    // Act
    const [report] = await fireDue(w, DUE);

    // Assess
    const replacements = replacementsOf(w, FAILED);
    expect(replacements).toHaveLength(1);
    expect(replacements[0]!.imageId).toBe(a.newest.imageId);
    expect(report!.outcomes).toEqual([expect.objectContaining({ action: 'relaunched', resumed: false })]);
    expect(w.bus.ofType('InstanceRelaunched')).toEqual([expect.objectContaining({ trigger: 'alarm', secondsToLaunch: 5 + 15 * 60 })]);
    expect(w.rechecks.schedules.size).toBe(0);
  });

  it('launches nothing at the recheck when the reboot cleared the check: RecoverySkipped says so', async () => {
    // Prepare
    const w = world();
    running(w);
    await recoverInstances(instanceCheck(), w.deps);

    // Act
    const [report] = await fireDue(w, DUE);

    // Assess
    expect(replacementsOf(w, FAILED)).toEqual([]);
    expect(report!.outcomes).toEqual([expect.objectContaining({ action: 'skipped' })]);
    expect(w.bus.ofType('RecoverySkipped').map((e) => e.reason)).toEqual([
      expect.stringMatching(/the status checks no longer fail after the reboot \(system ok, instance ok\)/),
    ]);
  });

  it('reboots once and keeps one recheck when the ALARM comes three times', async () => {
    // Prepare
    const w = world();
    const a = running(w);

    // Act
    const reports = [];
    for (let i = 0; i < 3; i++) reports.push(await recoverInstances(instanceCheck(), w.deps));
    a.instance!.statusChecks = { system: 'ok', instance: 'impaired' };
    await fireDue(w, DUE);

    // Assess
    expect(a.instance!.reboots).toBe(1);
    expect(reports.map((r) => r.outcomes[0]!.action)).toEqual(['deferred', 'deferred', 'deferred']);
    expect(w.bus.ofType('RecoveryDeferred').map((e) => [e.rebooted, e.until])).toEqual([
      [true, DUE.toISOString()],
      [false, DUE.toISOString()],
      [false, DUE.toISOString()],
    ]);
    expect(replacementsOf(w, FAILED)).toHaveLength(1);
  });

  it.each(['before', 'after'] as const)(
    'never reboots twice nor launches early when any one call fails %s doing its work and the ALARM comes again',
    async (when) => {
      // Prepare: a clean run's calls (the reads, following volumes among them, the schedule, the tag, the reboot, the event)
      const clean = world();
      running(clean);
      const counting = faulty(clean, 0, when);
      await recoverInstances(instanceCheck(), counting.deps);
      expect(counting.count()).toBe(9);

      for (let k = 1; k <= counting.count(); k++) {
        const w = world();
        const a = running(w);

        // Act: the k-th call fails, the event comes again; at the due time the check still fails
        await expect(recoverInstances(instanceCheck(), faulty(w, k, when).deps), `k=${k}`).rejects.toMatchObject({ retryable: true });
        const retry = await recoverInstances(instanceCheck(), w.deps);
        a.instance!.statusChecks = { system: 'ok', instance: 'impaired' };
        await fireDue(w, DUE);

        // Assess: at most one reboot, the recheck kept, one replacement after the wait
        expect(retry.outcomes[0]!.action, `k=${k}`).toBe('deferred');
        expect(a.instance!.reboots ?? 0, `k=${k}`).toBeLessThanOrEqual(1);
        expect(replacementsOf(w, FAILED), `k=${k}`).toHaveLength(1);
      }
    },
  );

  it('reboots once when three deliveries of the ALARM run at the same moment: only the one that creates the recheck reboots', async () => {
    // Prepare
    const w = world();
    const a = running(w);

    // Act
    const reports = await Promise.all([0, 1, 2].map(() => recoverInstances(instanceCheck(), w.deps)));

    // Assess
    expect(a.instance!.reboots).toBe(1);
    expect(reports.map((r) => (r.outcomes[0] as { rebooted?: boolean }).rebooted).sort()).toEqual([false, false, true]);
    expect(w.rechecks.calls.map((c) => c.action)).toEqual(['CreateSchedule', 'UpdateSchedule', 'UpdateSchedule']);
  });

  it("reboots an instance at EC2's 50-tag limit all the same: the refused rebooted-at tag is logged, not fatal", async () => {
    // Prepare
    const w = world();
    const a = running(w);
    w.account.tagFailures.set(FAILED, new AwsCallError('TagLimitExceeded', 'CreateTags', 'too many tags', false, 400));

    // Act
    const report = await recoverInstances(instanceCheck(), w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'deferred', rebooted: true })]);
    expect(a.instance!.reboots).toBe(1);
    expect(w.log.at('warn').map((r) => r.message)).toContain('could not record on the instance');
  });

  it('plans in a dry run: it schedules the recheck but reboots nothing', async () => {
    // Prepare
    const w = worldOf(recoveryEc2, { recovery: { dryRun: true } });
    const a = running(w);

    // Act
    const report = await recoverInstances(instanceCheck(), w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'deferred', rebooted: false })]);
    expect(a.instance!.reboots).toBeUndefined();
    expect(a.instance!.tags[TAG.rebootedAt]).toBeUndefined();
    expect(w.rechecks.schedules.size).toBe(1);
  });

  it("holds a system-check ALARM during a bake's reboot, then relaunches at its end if the check still fails", async () => {
    // Prepare: tonight's bake (reboot=true) started five minutes ago
    const w = world();
    const a = running(w);
    w.account.addImage({
      name: `${STACK}/web/nightly/2026-11-26-b`,
      state: 'pending',
      creationDate: new Date(NOW.getTime() - 5 * MINUTE).toISOString(),
      sourceInstanceId: FAILED,
      tags: { [TAG.managedBy]: STACK, [TAG.lineage]: 'web', [TAG.sourceInstance]: FAILED, [TAG.status]: 'pending', [TAG.reboot]: 'true' },
    });
    const end = new Date(NOW.getTime() + 15 * MINUTE);

    // Act
    const held = await recoverInstances(alarm(FAILED, 'ALARM', 'StatusCheckFailed_System'), w.deps);
    a.instance!.statusChecks = { system: 'impaired', instance: 'ok' };
    await fireDue(w, end);

    // Assess
    expect(held.outcomes).toEqual([expect.objectContaining({ action: 'deferred', rebooted: false, until: end.toISOString() })]);
    expect(a.instance!.reboots).toBeUndefined();
    expect(w.bus.ofType('RecoveryDeferred')).toEqual([expect.objectContaining({ cause: 'bake-reboot' })]);
    expect(replacementsOf(w, FAILED)).toHaveLength(1);
  });

  it('records when it first saw the maintenance marker, once, and never fails the skip over it', async () => {
    // Prepare
    const w = world();
    const a = running(w, { [TAG.maintenance]: 'CHG-1' });

    // Act
    await recoverInstances(instanceCheck(), w.deps);
    w.clock.now = new Date(NOW.getTime() + 60 * MINUTE);
    await recoverInstances(instanceCheck(), w.deps);

    // Assess
    expect(a.instance!.tags[TAG.maintenanceSince]).toBe(NOW.toISOString());
    expect(a.instance!.reboots).toBeUndefined();
    expect(w.bus.ofType('RecoverySkipped')).toHaveLength(2);
  });
});

describe('recoverInstances: capacity fallbacks', () => {
  const SUBNET_A = 'subnet-0aaaaaaaaaaaaaaaa'; // the captured one
  const SUBNET_B = 'subnet-0bbbbbbbbbbbbbbbb';
  const SUBNET_C = 'subnet-0cccccccccccccccc';
  const FALLBACKS = { [TAG.subnets]: `${SUBNET_B},${SUBNET_C}`, [TAG.fallbackTypes]: 'm5.large,c5.large' };
  /** Where each RunInstances call went, in order. */
  const where = (w: World) => w.account.runCalls.map((c) => `${c.config.subnetId}|${c.config.instanceType}`);

  it('tries the other subnets with the captured type, then the fallback types subnet by subnet, and launches where there is room', async () => {
    // Prepare: no t3.small anywhere, no m5.large in A
    const w = world();
    arrange(w, { state: 'stopped', extraTags: FALLBACKS });
    w.account.noCapacity.set('*|t3.small', 'InsufficientInstanceCapacity');
    w.account.noCapacity.set(`${SUBNET_A}|m5.large`, 'Unsupported');

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(where(w)).toEqual([
      `${SUBNET_A}|t3.small`,
      `${SUBNET_B}|t3.small`,
      `${SUBNET_C}|t3.small`,
      `${SUBNET_A}|m5.large`,
      `${SUBNET_B}|m5.large`,
    ]);
    const tokens = w.account.runCalls.map((c) => c.clientToken);
    expect(tokens[0]).toBe(replacementToken('web', FAILED));
    expect(new Set(tokens).size).toBe(5);
    const [replacement] = replacementsOf(w, FAILED);
    expect(replacementsOf(w, FAILED)).toHaveLength(1);
    expect(replacement!.launch).toMatchObject({ subnetId: SUBNET_B, instanceType: 'm5.large' });
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'relaunched', replacementId: replacement!.instanceId })]);
    expect(w.bus.ofType('InstanceRelaunched')[0]).toMatchObject({
      launchAttempts: [
        `t3.small in ${SUBNET_A}: InsufficientInstanceCapacity`,
        `t3.small in ${SUBNET_B}: InsufficientInstanceCapacity`,
        `t3.small in ${SUBNET_C}: InsufficientInstanceCapacity`,
        `m5.large in ${SUBNET_A}: Unsupported`,
        `m5.large in ${SUBNET_B}: launched`,
      ],
    });
    // The lineage is listed again before each fallback (a duplicate may have launched one), the types read once.
    expect(w.account.recoveryCalls.filter((c) => c === 'DescribeInstanceTypes')).toHaveLength(1);
  });

  it('makes no call more than before when the first launch succeeds', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'terminated', extraTags: FALLBACKS });

    // Act
    await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(w.account.recoveryCalls.slice(0, 5)).toEqual([...READS, 'RunInstances']);
    expect(w.account.recoveryCalls).not.toContain('DescribeInstanceTypes');
    expect(w.bus.ofType('InstanceRelaunched')[0]).not.toHaveProperty('launchAttempts');
  });

  it('ends in RecoveryFailed naming every attempt when none has room, and leaves the failed instance and its Elastic IP as they were', async () => {
    // Prepare
    const w = world();
    const a = arrange(w, { state: 'stopped', extraTags: FALLBACKS });
    for (const s of [SUBNET_A, SUBNET_B, SUBNET_C]) w.account.noCapacity.set(`${s}|*`, 'InsufficientInstanceCapacity');

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(w.account.runCalls).toHaveLength(9);
    expect(replacementsOf(w, FAILED)).toEqual([]);
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'failed', errorCode: 'InsufficientInstanceCapacity' })]);
    const [failed] = w.bus.ofType('RecoveryFailed');
    for (const type of ['t3.small', 'm5.large', 'c5.large']) {
      for (const s of [SUBNET_A, SUBNET_B, SUBNET_C]) expect(failed!.message).toContain(`${type} in ${s}: InsufficientInstanceCapacity`);
    }
    expect(a.address!.instanceId).toBe(FAILED);
    expect(a.instance!.tags[TAG.replacedBy]).toBeUndefined();
  });

  it('never launches a fallback type of another architecture, nor one EC2 does not know, and names both in the failure', async () => {
    // Prepare: t3.small (x86_64) has no room; t4g.micro is arm64; x9.huge is unknown
    const w = world();
    arrange(w, { state: 'stopped', extraTags: { [TAG.fallbackTypes]: 't4g.micro,x9.huge', [TAG.subnets]: 'subnet-nothex,' } });
    w.account.noCapacity.set('*|t3.small', 'InsufficientInstanceCapacity');

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(where(w)).toEqual([`${SUBNET_A}|t3.small`]);
    const [failed] = w.bus.ofType('RecoveryFailed');
    expect(failed!.message).toContain('t4g.micro runs arm64, t3.small runs x86_64: the image cannot boot on it');
    expect(failed!.message).toContain('EC2 does not know instance type x9.huge');
    expect(failed!.message).toContain(`${TAG.subnets}: subnet-nothex is not a subnet id`);
  });

  it('a second delivery finds the replacement a fallback launched, even once the first choice has room again', async () => {
    // Prepare: the first delivery launches in B
    const w = world();
    arrange(w, { state: 'stopped', extraTags: FALLBACKS });
    w.account.noCapacity.set(`${SUBNET_A}|t3.small`, 'InsufficientInstanceCapacity');
    const first = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);
    w.account.noCapacity.clear();

    // Act: two more copies of the event
    const second = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);
    const third = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    const replacements = replacementsOf(w, FAILED);
    expect(replacements).toHaveLength(1);
    expect(replacements[0]!.launch).toMatchObject({ subnetId: SUBNET_B });
    for (const r of [first, second, third]) {
      expect(r.outcomes).toEqual([expect.objectContaining({ action: 'relaunched', replacementId: replacements[0]!.instanceId })]);
    }
    expect(w.account.runCalls).toHaveLength(2);
  });

  it('a fallback finds the replacement a duplicate delivery launched meanwhile, and launches none of its own', async () => {
    // Prepare: the first choice has no room; another delivery launches in B while this one met A's refusal
    const w = world();
    arrange(w, { state: 'stopped', extraTags: FALLBACKS });
    w.account.noCapacity.set(`${SUBNET_A}|t3.small`, 'InsufficientInstanceCapacity');
    const run = w.deps.ec2.runInstance;
    let raced = false;
    w.deps.ec2.runInstance = async (spec) => {
      if (!raced) {
        raced = true;
        await recoverInstances(stateChange(FAILED, 'stopped'), { ...w.deps, ec2: { ...w.deps.ec2, runInstance: run } });
      }
      return run(spec);
    };

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    const replacements = replacementsOf(w, FAILED);
    expect(replacements).toHaveLength(1);
    expect(report.outcomes).toEqual([
      expect.objectContaining({ action: 'relaunched', replacementId: replacements[0]!.instanceId, resumed: true }),
    ]);
  });

  it('relaunches, trying the fallbacks, a replacement EC2 ended at once for capacity (Server.InsufficientInstanceCapacity)', async () => {
    // Prepare: the replacement ended seconds after its launch; without fallbacks this is RecoveryFailed (LAUNCH_REFUSALS)
    const w = world();
    arrange(w, {
      extraTags: { [TAG.replaces]: instanceIdOf(5), [TAG.generation]: '1', ...FALLBACKS },
      launchedFrom: 'newest',
      launchTime: new Date(NOW.getTime() - 20_000),
      reasonCode: 'Server.InsufficientInstanceCapacity',
    });
    w.account.noCapacity.set(`${SUBNET_A}|t3.small`, 'InsufficientInstanceCapacity');

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'relaunched' })]);
    expect(where(w)).toEqual([`${SUBNET_A}|t3.small`, `${SUBNET_B}|t3.small`]);
  });

  it('still ends in RecoveryFailed for that capacity end when the instance names no fallbacks', async () => {
    // Prepare
    const w = world();
    arrange(w, {
      extraTags: { [TAG.replaces]: instanceIdOf(5), [TAG.generation]: '1' },
      launchedFrom: 'newest',
      launchTime: new Date(NOW.getTime() - 20_000),
      reasonCode: 'Server.InsufficientInstanceCapacity',
    });

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'terminated'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'failed', errorCode: 'Server.InsufficientInstanceCapacity' })]);
    expect(w.account.runCalls).toEqual([]);
  });

  it.each(['before', 'after'] as const)(
    'converges on one replacement in the fallback subnet when any one call fails %s doing its work and the event comes again',
    async (when) => {
      const opts: ArrangeOptions = { state: 'stopped', extraTags: FALLBACKS };
      const clean = world();
      arrange(clean, opts);
      clean.account.noCapacity.set(`${SUBNET_A}|t3.small`, 'InsufficientInstanceCapacity');
      const counting = faulty(clean, 0, when);
      await recoverInstances(stateChange(FAILED, 'stopped'), counting.deps);
      const calls = counting.count();
      expect(calls).toBeGreaterThan(8);

      for (let k = 1; k <= calls; k++) {
        // Prepare
        const w = world();
        const a = arrange(w, opts);
        w.account.noCapacity.set(`${SUBNET_A}|t3.small`, 'InsufficientInstanceCapacity');
        const event = stateChange(FAILED, 'stopped');

        // Act: the k-th call fails; then the event comes again, twice (a duplicate too). The refused
        // RunInstances in A (call 6, after the four reads and the following volumes' read) does no
        // work to lose: failing "after" it changes nothing, and the run completes.
        const crashed = await recoverInstances(event, faulty(w, k, when).deps).then(
          () => 'completed',
          (error: AwsCallError) => (error.retryable ? 'crashed' : String(error)),
        );
        expect(crashed, `k=${k}`).toBe(when === 'after' && k === READS.length + 2 ? 'completed' : 'crashed');
        await recoverInstances(event, w.deps);
        const last = await recoverInstances(event, w.deps);

        // Assess
        const replacements = replacementsOf(w, FAILED);
        expect(replacements, `k=${k}`).toHaveLength(1);
        expect(replacements[0]!.launch, `k=${k}`).toMatchObject({ subnetId: SUBNET_B });
        expect(last.outcomes, `k=${k}`).toEqual([
          expect.objectContaining({ action: 'relaunched', replacementId: replacements[0]!.instanceId }),
        ]);
        expect(a.address!.instanceId, `k=${k}`).toBe(replacements[0]!.instanceId);
      }
    },
  );
});

describe('recoverInstances: a data volume that follows', () => {
  const SUBNET_A = 'subnet-0aaaaaaaaaaaaaaaa'; // the captured one, us-east-1a
  const SUBNET_B = 'subnet-0bbbbbbbbbbbbbbbb'; // us-east-1b
  const SUBNET_A2 = 'subnet-0aaaaaaaaaaaaaaa2'; // us-east-1a too
  const VOL = 'vol-0f0110w0000000001';

  /** A following volume at /dev/sdf of the failed instance, in us-east-1a. */
  function followingVolume(w: World, zone = 'us-east-1a', follow = 'follow') {
    const v = { volumeId: VOL, zone, state: 'in-use' as const, tags: { [TAG.exclude]: follow }, attaches: 0 };
    w.account.dataVolumes.set(VOL, { ...v, attachment: { instanceId: FAILED, device: '/dev/sdf', state: 'attached' } });
    return w.account.dataVolumes.get(VOL)!;
  }

  it('moves it from the stopped failed instance to the replacement at the same device, and says so in InstanceRelaunched', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'stopped' });
    const volume = followingVolume(w);

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    const [replacement] = replacementsOf(w, FAILED);
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'relaunched', replacementId: replacement!.instanceId })]);
    expect(volume).toMatchObject({ state: 'in-use', attachment: { instanceId: replacement!.instanceId, device: '/dev/sdf' }, attaches: 1 });
    expect(volume.tags[TAG.follows]).toBe(`${replacement!.instanceId} /dev/sdf`);
    expect(v.parse(InstanceRelaunched, w.bus.ofType('InstanceRelaunched')[0])).toMatchObject({
      volumes: [{ volumeId: VOL, device: '/dev/sdf' }],
      failedInstance: 'kept',
    });
    // Detached only once the replacement ran; attached after the detach finished.
    const calls = w.account.recoveryCalls;
    expect(calls.indexOf('WaitUntilRunning')).toBeLessThan(calls.indexOf('DetachVolume'));
    expect(calls.indexOf('WaitUntilDetached')).toBeLessThan(calls.indexOf('AttachVolume'));
  });

  it('leaves alone a volume tagged exclude=true: only follow moves', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'stopped' });
    const volume = followingVolume(w, 'us-east-1a', 'true');

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(volume.attachment).toMatchObject({ instanceId: FAILED });
    expect(w.bus.ofType('InstanceRelaunched')[0]).not.toHaveProperty('volumes');
  });

  it('pins the zone: only subnets in the volume zone are tried, and the volume follows into one of them', async () => {
    // Prepare: no room in A; B is in another zone; A2 is in the volume's zone
    const w = world();
    arrange(w, { state: 'stopped', extraTags: { [TAG.subnets]: `${SUBNET_B},${SUBNET_A2}` } });
    const volume = followingVolume(w);
    w.account.noCapacity.set(`${SUBNET_A}|*`, 'InsufficientInstanceCapacity');

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(w.account.runCalls.map((c) => c.config.subnetId)).toEqual([SUBNET_A, SUBNET_A2]);
    const [replacement] = replacementsOf(w, FAILED);
    expect(volume.attachment).toMatchObject({ instanceId: replacement!.instanceId, device: '/dev/sdf' });
  });

  it('ends in RecoveryFailed, saying the volume pins the zone, when no subnet there has room; the volume stays attached', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'stopped', extraTags: { [TAG.subnets]: SUBNET_B } });
    const volume = followingVolume(w);
    w.account.noCapacity.set(`${SUBNET_A}|*`, 'InsufficientInstanceCapacity');

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(w.account.runCalls.map((c) => c.config.subnetId)).toEqual([SUBNET_A]);
    expect(replacementsOf(w, FAILED)).toEqual([]);
    expect(w.bus.ofType('RecoveryFailed')[0]!.message).toContain(`following volume ${VOL} pins us-east-1a`);
    expect(volume.attachment).toMatchObject({ instanceId: FAILED, device: '/dev/sdf' });
  });

  it('launches nothing when no subnet the replacement may use is in the volume zone', async () => {
    // Prepare: the volume is in us-east-1b, the captured subnet in us-east-1a (the instance moved after the bake)
    const w = world();
    arrange(w, { state: 'stopped' });
    w.account.instances.get(FAILED)!.zone = 'us-east-1b';
    const volume = followingVolume(w, 'us-east-1b');

    // Act
    const report = await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(report.outcomes).toEqual([expect.objectContaining({ action: 'failed', errorCode: 'NoSubnetInVolumeZone' })]);
    expect(w.account.runCalls).toEqual([]);
    expect(volume.attachment).toMatchObject({ instanceId: FAILED });
  });

  it.each([false, true])(
    'stops a failed instance that still runs (terminateReplaced %s), then moves the volume; the instance is terminated only once it is free',
    async (terminateReplaced) => {
      // Prepare: a Health retirement notice, the instance still running with its volume
      const w = worldOf(recoveryEc2, { recovery: { terminateReplaced } });
      arrange(w, { state: 'running' });
      const volume = followingVolume(w);

      // Act
      await recoverInstances(health([FAILED]), w.deps);

      // Assess
      const [replacement, ...more] = replacementsOf(w, FAILED);
      expect(more).toEqual([]);
      expect(volume).toMatchObject({ attachment: { instanceId: replacement!.instanceId, device: '/dev/sdf' }, attaches: 1 });
      const calls = w.account.recoveryCalls;
      // Stopped (never forced: the fake has no force), the stop waited for, and only then detached.
      expect(calls.filter((c) => c === 'StopInstances')).toHaveLength(1);
      expect(calls.indexOf('StopInstances')).toBeLessThan(calls.indexOf('WaitUntilStopped'));
      expect(calls.indexOf('WaitUntilStopped')).toBeLessThan(calls.indexOf('DetachVolume'));
      expect(w.account.instances.get(FAILED)!.state).toBe(terminateReplaced ? 'terminated' : 'stopped');
      expect(w.bus.ofType('InstanceRelaunched')[0]).toMatchObject({
        failedInstance: terminateReplaced ? 'terminated' : 'kept',
        volumes: [{ volumeId: VOL, device: '/dev/sdf' }],
      });
    },
  );

  it('leaves the volume on an instance still stopping, kept; its stopped state change finishes the move', async () => {
    // Prepare: the stop takes longer than the wait
    const w = worldOf(recoveryEc2, { recovery: { terminateReplaced: true } });
    arrange(w, { state: 'running' });
    const volume = followingVolume(w);
    w.account.slowStop = true;
    w.account.stuckStopping = true;

    // Act 1: the Health event
    await recoverInstances(health([FAILED]), w.deps);

    // Assess 1: the volume tagged for the replacement, still attached; the instance kept, stopping
    const [replacement] = replacementsOf(w, FAILED);
    expect(volume.attachment).toMatchObject({ instanceId: FAILED });
    expect(volume.tags[TAG.follows]).toBe(`${replacement!.instanceId} /dev/sdf`);
    expect(w.account.instances.get(FAILED)!.state).toBe('stopping');
    expect(w.bus.ofType('InstanceRelaunched')[0]).toMatchObject({
      failedInstance: 'kept',
      volumesLeft: [{ volumeId: VOL, reason: expect.stringMatching(/still stopping .*its stopped state change brings recovery back/) }],
    });

    // Act 2: it stops; EC2 announces it
    w.account.stuckStopping = false;
    w.account.instances.get(FAILED)!.state = 'stopped';
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess 2: the same replacement, the volume on it, and now the failed instance terminated
    expect(replacementsOf(w, FAILED)).toHaveLength(1);
    expect(volume).toMatchObject({ attachment: { instanceId: replacement!.instanceId, device: '/dev/sdf' }, attaches: 1 });
    expect(w.account.recoveryCalls.filter((c) => c === 'StopInstances')).toHaveLength(1);
    expect(w.account.instances.get(FAILED)!.state).toBe('terminated');
    expect(w.bus.ofType('InstanceRelaunched')[1]).toMatchObject({ resumed: true, volumes: [{ volumeId: VOL, device: '/dev/sdf' }] });
  });

  it('never stops it twice: an instance a person started again after the stop keeps its volume', async () => {
    // Prepare: a first delivery stopped it and tagged the volume; then a person started it
    const w = world();
    arrange(w, { state: 'running' });
    const volume = followingVolume(w);
    w.account.slowStop = true;
    w.account.stuckStopping = true;
    await recoverInstances(health([FAILED]), w.deps);
    w.account.instances.get(FAILED)!.state = 'running';
    const stopsBefore = w.account.recoveryCalls.filter((c) => c === 'StopInstances').length;

    // Act: the Health event again
    await recoverInstances(health([FAILED]), w.deps);

    // Assess
    expect(w.account.recoveryCalls.filter((c) => c === 'StopInstances')).toHaveLength(stopsBefore);
    expect(w.account.instances.get(FAILED)!.state).toBe('running');
    expect(volume.attachment).toMatchObject({ instanceId: FAILED });
    expect(w.bus.ofType('InstanceRelaunched').at(-1)).toMatchObject({
      volumesLeft: [{ volumeId: VOL, reason: expect.stringMatching(/running again after recovery stopped it/) }],
    });
  });

  it('keeps the volume attached, and the instance, when StopInstances is refused for good', async () => {
    // Prepare
    const w = worldOf(recoveryEc2, { recovery: { terminateReplaced: true } });
    arrange(w, { state: 'running' });
    const volume = followingVolume(w);
    w.account.failRecoveryCall(
      'StopInstances',
      new AwsCallError('UnsupportedOperation', 'StopInstances', 'no stop for this one', false, 400),
    );

    // Act
    await recoverInstances(health([FAILED]), w.deps);

    // Assess
    expect(replacementsOf(w, FAILED)).toHaveLength(1);
    expect(volume.attachment).toMatchObject({ instanceId: FAILED, device: '/dev/sdf' });
    expect(w.account.recoveryCalls).not.toContain('DetachVolume');
    expect(w.account.instances.get(FAILED)!.state).toBe('running');
    expect(w.bus.ofType('InstanceRelaunched')[0]).toMatchObject({
      failedInstance: 'kept',
      volumesLeft: [{ volumeId: VOL, reason: expect.stringMatching(/StopInstances refused \(UnsupportedOperation/) }],
    });
  });

  it('dry run: RelaunchPlanned names the volume, the stop it would need and the launches in the zone, and nothing moves', async () => {
    // Prepare: a running instance with a following volume; fallbacks in its zone (A2) and in another (B)
    const w = world({ recovery: { dryRun: true } });
    arrange(w, { state: 'running', extraTags: { [TAG.subnets]: `${SUBNET_B},${SUBNET_A2}` } });
    const volume = followingVolume(w);

    // Act
    await recoverInstances(health([FAILED]), w.deps);

    // Assess
    const planned = v.parse(RelaunchPlanned, w.bus.ofType('RelaunchPlanned')[0]);
    expect(planned).toMatchObject({
      volumes: [{ volumeId: VOL, device: '/dev/sdf' }],
      stopsFailedInstance: true,
      launch: { attempts: [`t3.small in ${SUBNET_A}`, `t3.small in ${SUBNET_A2}`] },
    });
    expect(planned).not.toHaveProperty('notLaunched');
    expect(w.account.runCalls).toEqual([]);
    expect(w.account.recoveryCalls).not.toContain('StopInstances');
    expect(w.account.instances.get(FAILED)!.state).toBe('running');
    expect(volume.attachment).toMatchObject({ instanceId: FAILED });
  });

  it('dry run: says why nothing would be launched when no usable subnet is in the volume zone', async () => {
    // Prepare
    const w = world({ recovery: { dryRun: true } });
    arrange(w, { state: 'stopped' });
    w.account.instances.get(FAILED)!.zone = 'us-east-1b';
    followingVolume(w, 'us-east-1b');

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(v.parse(RelaunchPlanned, w.bus.ofType('RelaunchPlanned')[0]).notLaunched).toMatch(/no subnet the replacement may use/);
    expect(w.bus.ofType('RecoveryFailed')).toEqual([]);
  });

  it('leaves it on the failed instance when its device is taken on the replacement (an image that still holds it)', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'stopped' });
    const volume = followingVolume(w);
    const run = w.deps.ec2.runInstance;
    w.deps.ec2.runInstance = async (spec) => {
      const id = await run(spec);
      w.account.instances.get(id)!.devices = ['/dev/xvda', '/dev/sdf'].map((deviceName, n) => ({ deviceName, volumeId: `vol-0${n}` }));
      return id;
    };

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(volume.attachment).toMatchObject({ instanceId: FAILED });
    expect(w.bus.ofType('InstanceRelaunched')[0]).toMatchObject({
      volumesLeft: [{ volumeId: VOL, reason: expect.stringMatching(/taken/) }],
    });
  });

  it('puts it back on the failed instance when the replacement refuses it for good after the detach: never left nowhere', async () => {
    // Prepare
    const w = world();
    arrange(w, { state: 'stopped' });
    const volume = followingVolume(w);
    const attach = w.deps.ec2.attachVolume;
    w.deps.ec2.attachVolume = async (volumeId, instanceId, device) => {
      if (instanceId !== FAILED) throw new AwsCallError('InvalidParameterValue', 'AttachVolume', 'refused', false, 400);
      return attach(volumeId, instanceId, device);
    };

    // Act
    await recoverInstances(stateChange(FAILED, 'stopped'), w.deps);

    // Assess
    expect(volume).toMatchObject({ state: 'in-use', attachment: { instanceId: FAILED, device: '/dev/sdf' } });
    expect(w.bus.ofType('InstanceRelaunched')[0]).toMatchObject({
      volumesLeft: [{ volumeId: VOL, reason: expect.stringMatching(/stays attached to/) }],
    });
  });

  it.each(['before', 'after'] as const)(
    'attaches it once, to the one replacement, when any one call fails %s doing its work and the event comes twice more',
    async (when) => {
      const opts: ArrangeOptions = { state: 'stopped' };
      const clean = world();
      arrange(clean, opts);
      followingVolume(clean);
      clean.account.slowDetach = true;
      const counting = faulty(clean, 0, when);
      await recoverInstances(stateChange(FAILED, 'stopped'), counting.deps);
      const calls = counting.count();
      expect(clean.account.dataVolumes.get(VOL)!.attaches).toBe(1);

      for (let k = 1; k <= calls; k++) {
        // Prepare
        const w = world();
        const a = arrange(w, opts);
        const volume = followingVolume(w);
        w.account.slowDetach = true;
        const event = stateChange(FAILED, 'stopped');

        // Act
        await recoverInstances(event, faulty(w, k, when).deps).catch(() => undefined);
        await recoverInstances(event, w.deps);
        const last = await recoverInstances(event, w.deps);

        // Assess: one replacement, the volume on it once, the Elastic IP too, the event names the volume
        const replacements = replacementsOf(w, FAILED);
        expect(replacements, `k=${k}`).toHaveLength(1);
        const replacementId = replacements[0]!.instanceId;
        expect(volume, `k=${k}`).toMatchObject({ attachment: { instanceId: replacementId, device: '/dev/sdf' }, attaches: 1 });
        expect(a.address!.instanceId, `k=${k}`).toBe(replacementId);
        expect(last.outcomes, `k=${k}`).toEqual([expect.objectContaining({ action: 'relaunched', replacementId })]);
        expect(w.bus.ofType('InstanceRelaunched').at(-1), `k=${k}`).toMatchObject({ volumes: [{ volumeId: VOL, device: '/dev/sdf' }] });
      }
    },
  );
});
