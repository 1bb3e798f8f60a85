/**
 * Recovery in a stage with RECOVERY_DRY_RUN=true: the plan is published, nothing is
 * launched. A file of its own: the handlers read their configuration once per module
 * load, as they do per Lambda container.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCloud } from '../harness/local-cloud.js';

const NIGHT_1 = new Date('2026-11-24T03:00:00Z');
const OPTED_IN = { Name: 'web-1', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure' };

describe('recovery dry run', () => {
  let dry: LocalCloud;
  beforeAll(async () => {
    dry = await LocalCloud.start({ env: { RECOVERY_DRY_RUN: 'true' } });
  });
  afterAll(async () => {
    await dry?.stop();
  });

  it('publishes the planned relaunch and launches nothing', async () => {
    // Prepare
    const [instanceId] = await dry.launch(1, OPTED_IN);
    await dry.bakeCycle('nightly', NIGHT_1);
    const runsBefore = dry.proxy.calls().RunInstances ?? 0;

    // Act
    await dry.failInstance(instanceId!, 'terminated');
    await dry.deliver();

    // Assess
    expect(dry.proxy.calls().RunInstances ?? 0).toBe(runsBefore);
    expect(dry.published('InstanceRelaunched')).toEqual([]);
    expect(dry.published('RelaunchPlanned').map((e) => e.detail)).toEqual([
      expect.objectContaining({
        failedInstanceId: instanceId,
        lineage: instanceId,
        launch: expect.objectContaining({
          instanceType: 't3.micro',
          tags: expect.objectContaining({ 'ami-lifecycle:replaces': instanceId }),
        }),
      }),
    ]);
  });
});
