/**
 * The fuller capture in the use cases (issue 14): the bake adds what only extra reads give to the
 * captured configuration, and recovery turns the replacement's source/destination check off after
 * the launch (RunInstances cannot), again on a resumed recovery, and never when it was on.
 */
import { describe, expect, it } from 'vitest';
import type { BakeRequested } from '../../../shared/domain/events.js';
import { launchTemplateName, type LaunchConfig, type StoredLaunchConfig } from '../../../shared/domain/launch.js';
import { TAG } from '../../../shared/domain/tags.js';
import { bakeInstance } from '../../../shared/use-cases/bake-instance.js';
import { recoverSignal } from '../../../shared/use-cases/recover-instance.js';
import { bakeEc2, instanceIdOf, recoveryEc2, STACK, world } from '../fakes.js';

const ID = instanceIdOf(1);
const NOW = new Date('2026-11-26T01:00:05.000Z');
const config: LaunchConfig = {
  instanceType: 't3.small',
  subnetId: 'subnet-0a',
  securityGroupIds: ['sg-0a'],
  ebsOptimized: false,
  monitoring: false,
  tags: { Name: 'nat', [TAG.bake]: 'nightly', [TAG.lineage]: 'nat', [TAG.recover]: 'on-failure' },
  sourceDestCheck: false,
  spot: { requestId: 'sir-01' },
};

describe('bakeInstance: the settings read at capture', () => {
  it('saves protection, shutdown behaviour, credits and spot options with the configuration', async () => {
    // Prepare
    const w = world(bakeEc2);
    const instance = w.account.addInstance(ID, { ...config.tags });
    instance.captureSettings = {
      disableApiTermination: true,
      disableApiStop: true,
      shutdownBehavior: 'terminate',
      cpuCredits: 'unlimited',
      spot: { maxPrice: '0.02', spotInstanceType: 'one-time', interruptionBehavior: 'terminate' },
    };
    const request: BakeRequested = {
      managedBy: STACK,
      instanceId: ID,
      lineage: 'nat',
      assignLineage: false,
      schedule: 'nightly',
      slot: '2026-11-26',
      reboot: false,
      requestedAt: NOW.toISOString(),
      capture: { digest: '0123456789abcdef', config },
    };

    // Act
    await bakeInstance(request, w.deps);

    // Assess: the spot request's options replace its id, which no replacement could use
    const saved = w.account.savedLaunchConfigs.get(launchTemplateName(STACK, 'nat'))![0]!.config;
    expect(saved).toEqual({ ...config, ...instance.captureSettings, userData: undefined });
  });
});

describe('recovery: the source/destination check', () => {
  const stored = (sourceDestCheck: boolean | undefined): StoredLaunchConfig => ({
    ...config,
    sourceDestCheck,
    spot: { spotInstanceType: 'one-time' },
  });
  const arrange = (sourceDestCheck: boolean | undefined) => {
    const w = world(recoveryEc2, { now: NOW });
    w.account.addImage({
      name: `${STACK}/nat/nightly/2026-11-25`,
      state: 'available',
      creationDate: '2026-11-25T03:00:00.000Z',
      sourceInstanceId: ID,
      tags: { [TAG.managedBy]: STACK, [TAG.lineage]: 'nat', [TAG.sourceInstance]: ID, [TAG.status]: 'good' },
    });
    const failed = w.account.addInstance(ID, { ...config.tags }, 'terminated');
    failed.stateReasonCode = 'Server.InternalError';
    w.account.addLaunchConfig(launchTemplateName(STACK, 'nat'), stored(sourceDestCheck));
    return w;
  };
  const signal = { kind: 'state' as const, instanceId: ID, state: 'terminated' as const };

  it("turns it off on the replacement after the launch, when the failed instance's was off", async () => {
    // Prepare
    const w = arrange(false);

    // Act
    const outcome = await recoverSignal(signal, NOW, w.deps);

    // Assess
    expect(outcome.action).toBe('relaunched');
    const replacementId = (outcome as { replacementId: string }).replacementId;
    expect(w.account.instances.get(replacementId)!.launch?.sourceDestCheck).toBe(false);
    const calls = w.account.recoveryCalls;
    expect(calls.indexOf('ModifyInstanceAttribute')).toBeGreaterThan(calls.indexOf('RunInstances'));
  });

  it('turns it off again when a later delivery resumes the recovery (a crash may have come before)', async () => {
    // Prepare
    const w = arrange(false);
    const first = await recoverSignal(signal, NOW, w.deps);
    const replacementId = (first as { replacementId: string }).replacementId;
    w.account.instances.get(replacementId)!.launch!.sourceDestCheck = undefined;

    // Act
    const again = await recoverSignal(signal, NOW, w.deps);

    // Assess
    expect(again).toMatchObject({ action: 'relaunched', resumed: true, replacementId });
    expect(w.account.instances.get(replacementId)!.launch?.sourceDestCheck).toBe(false);
  });

  it.each([[true], [undefined]])('leaves it alone when it was on (captured as %s)', async (captured) => {
    // Prepare
    const w = arrange(captured);

    // Act
    await recoverSignal(signal, NOW, w.deps);

    // Assess
    expect(w.account.recoveryCalls).not.toContain('ModifyInstanceAttribute');
  });
});
