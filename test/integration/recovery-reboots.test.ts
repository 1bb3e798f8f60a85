/**
 * Recovery waits out a reboot instead of fighting it (issue 22, parts 3 and 4): an instance
 * status check failing is answered with a reboot, and a relaunch only if the check still fails
 * when the recheck is due; a bake with reboot=true holds alarms until its window ends. The due
 * time is a one-time Scheduler schedule, fired on the harness's clock.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../cli/serverless-config.js';
import { tagRecord } from '../../shared/domain/tags.js';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { pastNights } from '../harness/local-cloud.js';

const cloud = cloudPerFile();
const OPTED_IN = { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure' };
const MINUTE = 60_000;

/** The status-check alarm of the instance goes to ALARM, as CloudWatch tells EventBridge. */
async function alarm(instanceId: string, metric: 'StatusCheckFailed_System' | 'StatusCheckFailed_Instance'): Promise<void> {
  const event = JSON.parse(readFileSync(`${PROJECT_ROOT}/events/alarm-status-check-failed.json`, 'utf8'));
  const watched = event.detail.configuration.metrics[0].metricStat.metric;
  watched.name = metric;
  watched.dimensions.InstanceId = instanceId;
  event.detail.alarmName = `ami-lifecycle-dev-status-${metric === 'StatusCheckFailed_System' ? 'system' : 'instance'}-${instanceId}`;
  await cloud.putEvent({ source: event.source, detailType: event['detail-type'], detail: event.detail });
}

/** An opted-in instance with one good image. */
async function bakedInstance(tags: Record<string, string> = {}): Promise<string> {
  const [instanceId] = await cloud.launch(1, { ...OPTED_IN, ...tags });
  await cloud.bakeCycle('nightly', pastNights(1)[0]!);
  return instanceId!;
}

const detailsOf = (type: string) => cloud.published(type).map((e) => e.detail as Record<string, unknown>);

describe('an instance status check that fails', () => {
  it('is answered with a reboot; the recheck relaunches when the check still fails after the wait', async () => {
    // Prepare
    const instanceId = await bakedInstance();
    cloud.proxy.resetCalls();

    // Act: the instance check fails; later, at the recheck, it still does
    await alarm(instanceId, 'StatusCheckFailed_Instance');
    await cloud.deliver();
    const launchedBefore = await cloud.instancesTagged('ami-lifecycle:replaces', instanceId);
    const rebootedAt = tagRecord((await cloud.instancesTagged('ami-lifecycle:lineage', instanceId))[0]!.Tags)['ami-lifecycle:rebooted-at'];
    cloud.proxy.setInstanceStatus(instanceId, { instance: 'impaired' });
    const firings = await cloud.fireDueSchedules(new Date(Date.now() + 16 * MINUTE));

    // Assess
    expect(launchedBefore).toEqual([]);
    expect(cloud.proxy.calls().RebootInstances).toBe(1);
    expect(rebootedAt).toBeDefined();
    expect(detailsOf('RecoveryDeferred')).toEqual([expect.objectContaining({ instanceId, cause: 'reboot', rebooted: true })]);
    expect(firings.map((f) => [f.function, f.deleted, f.error])).toEqual([['recover', true, undefined]]);
    expect(await cloud.instancesTagged('ami-lifecycle:replaces', instanceId)).toHaveLength(1);
    expect(detailsOf('InstanceRelaunched')).toEqual([expect.objectContaining({ failedInstanceId: instanceId, trigger: 'alarm' })]);
  });

  it('launches nothing when the reboot cleared it: RecoverySkipped at the recheck says so', async () => {
    // Prepare
    const instanceId = await bakedInstance();

    // Act
    await alarm(instanceId, 'StatusCheckFailed_Instance');
    await cloud.deliver();
    await cloud.fireDueSchedules(new Date(Date.now() + 16 * MINUTE));

    // Assess
    expect(await cloud.instancesTagged('ami-lifecycle:replaces', instanceId)).toEqual([]);
    expect(detailsOf('RecoverySkipped').map((d) => d.reason)).toEqual([
      expect.stringMatching(/the status checks no longer fail after the reboot \(system ok, instance ok\)/),
    ]);
  });

  it('reboots once and relaunches once when the ALARM is delivered three times', async () => {
    // Prepare
    const instanceId = await bakedInstance();
    cloud.proxy.resetCalls();

    // Act
    await alarm(instanceId, 'StatusCheckFailed_Instance');
    await cloud.deliver({ copies: 3, shuffleSeed: 22 });
    cloud.proxy.setInstanceStatus(instanceId, { instance: 'impaired' });
    await cloud.fireDueSchedules(new Date(Date.now() + 16 * MINUTE));

    // Assess
    expect(cloud.proxy.calls().RebootInstances).toBe(1);
    expect(
      detailsOf('RecoveryDeferred')
        .map((d) => d.rebooted)
        .sort(),
    ).toEqual([false, false, true]);
    expect(await cloud.instancesTagged('ami-lifecycle:replaces', instanceId)).toHaveLength(1);
  });

  it('relaunches at once when the system check fails: the host, not the operating system', async () => {
    // Prepare
    const instanceId = await bakedInstance();
    cloud.proxy.resetCalls();

    // Act
    await alarm(instanceId, 'StatusCheckFailed_System');
    await cloud.deliver();

    // Assess
    expect(await cloud.instancesTagged('ami-lifecycle:replaces', instanceId)).toHaveLength(1);
    expect(cloud.proxy.calls().RebootInstances).toBeUndefined();
    expect(detailsOf('RecoveryDeferred')).toEqual([]);
  });
});

describe("a bake's reboot", () => {
  /** An instance tagged reboot=true, baked a minute ago: its bake's reboot is under way. */
  async function rebootingBake(): Promise<string> {
    const [instanceId] = await cloud.launch(1, { ...OPTED_IN, 'ami-lifecycle:reboot': 'true' });
    await cloud.bakeCycle('nightly', new Date(Date.now() - MINUTE));
    return instanceId!;
  }

  it('holds an ALARM while the window lasts, and relaunches after it when the checks still fail', async () => {
    // Prepare
    const instanceId = await rebootingBake();
    cloud.proxy.resetCalls();

    // Act: the system check fails during the bake's reboot (delivered three times), and still at the window's end
    await alarm(instanceId, 'StatusCheckFailed_System');
    await cloud.deliver({ copies: 3, shuffleSeed: 4 });
    const during = await cloud.instancesTagged('ami-lifecycle:replaces', instanceId);
    cloud.proxy.setInstanceStatus(instanceId, { system: 'impaired' });
    await cloud.fireDueSchedules(new Date(Date.now() + 20 * MINUTE));

    // Assess
    expect(during).toEqual([]);
    expect(cloud.proxy.calls().RebootInstances).toBeUndefined();
    expect(detailsOf('RecoveryDeferred')).toHaveLength(3);
    expect(detailsOf('RecoveryDeferred').every((d) => d.cause === 'bake-reboot' && d.rebooted === false)).toBe(true);
    expect(await cloud.instancesTagged('ami-lifecycle:replaces', instanceId)).toHaveLength(1);
  });

  it('launches nothing when the instance is back by the window’s end', async () => {
    // Prepare
    const instanceId = await rebootingBake();

    // Act
    await alarm(instanceId, 'StatusCheckFailed_Instance');
    await cloud.deliver();
    await cloud.fireDueSchedules(new Date(Date.now() + 20 * MINUTE));

    // Assess
    expect(await cloud.instancesTagged('ami-lifecycle:replaces', instanceId)).toEqual([]);
    expect(detailsOf('RecoveryDeferred')).toEqual([expect.objectContaining({ cause: 'bake-reboot', rebooted: false })]);
    expect(detailsOf('RecoverySkipped').map((d) => d.reason)).toEqual([expect.stringMatching(/after the bake's reboot/)]);
  });
});
