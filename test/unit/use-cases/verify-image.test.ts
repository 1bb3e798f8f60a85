import { describe, expect, it } from 'vitest';
import { TAG } from '../../../shared/domain/tags.js';
import type { VerifySettings } from '../../../shared/domain/verification.js';
import { AwsCallError } from '../../../shared/use-cases/errors.js';
import type { VerifyDeps } from '../../../shared/use-cases/ports.js';
import { sweepVerifications, verifyImage } from '../../../shared/use-cases/verify-image.js';
import { InMemoryCommands, instanceIdOf, STACK, testLaunchesOf, verifyEc2, world, type World } from '../fakes.js';
import type { VerifyEc2 } from '../../../shared/use-cases/ec2-ports.js';

const SETTINGS: VerifySettings = {
  subnetId: 'subnet-0aaaaaaaaaaaaaaa1',
  securityGroupId: 'sg-0aaaaaaaaaaaaaaa1',
  instanceType: 't3.micro',
  timeoutMinutes: 20,
  maxConcurrent: 2,
  instanceProfile: false,
};
const MINUTE = 60_000;

function setup(settings: Partial<VerifySettings> = {}) {
  const w = world(verifyEc2);
  const commands = new InMemoryCommands();
  const deps: VerifyDeps = { ...w.deps, verify: { ...SETTINGS, ...settings }, commands };
  return { w, deps, commands };
}

/** An image of this stack, verifying (settled available, verify=boot), created `minutes` before the world's now. */
function verifying(w: World<VerifyEc2>, minutes = 1, status = 'verifying') {
  return w.account.addImage({
    name: `${STACK}/web/nightly/${minutes}`,
    creationDate: new Date(w.clock.now.getTime() - minutes * MINUTE).toISOString(),
    tags: {
      [TAG.managedBy]: STACK,
      [TAG.lineage]: 'web',
      [TAG.sourceInstance]: instanceIdOf(7),
      [TAG.schedule]: 'nightly',
      [TAG.slot]: '2026-11-26',
      [TAG.status]: status,
      [TAG.verify]: 'boot',
    },
    snapshotIds: [`snap-${String(minutes).padStart(17, '0')}`],
  }).imageId;
}

const testInstancesOf = (w: World<VerifyEc2>, imageId?: string) =>
  [...w.account.instances.values()].filter((i) => i.tags[TAG.role] === 'verification' && (!imageId || i.tags[TAG.verifies] === imageId));
const live = (w: World<VerifyEc2>) => testInstancesOf(w).filter((i) => i.state !== 'terminated');

/** Advances the world's clock and fires every verification schedule due, as Scheduler would. */
async function runDue(w: World<VerifyEc2>, deps: VerifyDeps, minutes: number): Promise<void> {
  const until = w.clock.now.getTime() + minutes * MINUTE;
  for (let i = 0; i < 100; i++) {
    const next = [...w.rechecks.schedules.values()].sort((a, b) => a.at.getTime() - b.at.getTime())[0];
    if (!next || next.at.getTime() > until) break;
    w.clock.now = next.at;
    for (const input of w.rechecks.takeDue(next.at) as Array<{ imageId: string }>) await verifyImage(input.imageId, deps, next.at);
  }
  w.clock.now = new Date(until);
}

describe('verifyImage', () => {
  it('launches a test instance isolated as configured, looks again when due, and marks the image good when both checks pass', async () => {
    // Prepare
    const { w, deps } = setup();
    const imageId = verifying(w);

    // Act: the request; the checks initialize, then pass
    const started = await verifyImage(imageId, deps);
    const [test] = testInstancesOf(w, imageId);
    await runDue(w, deps, 2);
    test!.statusChecks = { system: 'ok', instance: 'ok' };
    await runDue(w, deps, 2);

    // Assess
    expect(started).toMatchObject({ step: 'launch' });
    expect(testLaunchesOf(w.account).specs[0]).toMatchObject({
      imageId,
      instanceType: 't3.micro',
      subnetId: SETTINGS.subnetId,
      securityGroupId: SETTINGS.securityGroupId,
      clientToken: `verify-${imageId}`,
      tags: { [TAG.managedBy]: STACK, [TAG.role]: 'verification', [TAG.verifies]: imageId },
      devices: ['/dev/xvda'],
    });
    expect(testLaunchesOf(w.account).specs[0]!.iamInstanceProfileArn).toBeUndefined();
    expect(w.account.images.get(imageId)!.tags[TAG.status]).toBe('good');
    expect(w.account.snapshotTags.get(`snap-${'1'.padStart(17, '0')}`)![TAG.status]).toBe('good');
    expect(test!.state).toBe('terminated');
    expect(w.bus.ofType('ImageVerified')).toEqual([
      expect.objectContaining({
        imageId,
        testInstanceId: test!.instanceId,
        checks: { system: 'ok', instance: 'ok' },
        instanceSeconds: 240,
      }),
    ]);
    expect(w.bus.ofType('ImageBaked')).toEqual([expect.objectContaining({ imageId, settledBy: 'verification' })]);
    expect(w.rechecks.schedules.size).toBe(0);
  });

  it('fails the image on an impaired instance check, with the console output, and terminates the test instance', async () => {
    // Prepare
    const { w, deps } = setup();
    const imageId = verifying(w);
    await verifyImage(imageId, deps);
    const [test] = testInstancesOf(w, imageId);
    test!.statusChecks = { system: 'ok', instance: 'impaired' };
    testLaunchesOf(w.account).consoles.set(test!.instanceId, 'boot\nKernel panic - not syncing: VFS: Unable to mount root fs\n');

    // Act
    await runDue(w, deps, 2);

    // Assess
    const tags = w.account.images.get(imageId)!.tags;
    expect(tags[TAG.status]).toBe('failed');
    expect(tags[TAG.failure]).toMatch(/^instance-status: the instance status check failed/);
    expect(test!.state).toBe('terminated');
    expect(w.bus.ofType('ImageVerificationFailed')).toEqual([
      expect.objectContaining({
        imageId,
        check: 'instance-status',
        consoleOutput: 'boot\nKernel panic - not syncing: VFS: Unable to mount root fs',
      }),
    ]);
    expect(w.bus.ofType('ImageBaked')).toEqual([]);
  });

  it('times out at verifyTimeoutMinutes from the launch when the checks never pass', async () => {
    // Prepare
    const { w, deps } = setup();
    const imageId = verifying(w);
    await verifyImage(imageId, deps);

    // Act: the checks stay initializing
    await runDue(w, deps, 60);

    // Assess
    expect(w.account.images.get(imageId)!.tags[TAG.status]).toBe('failed');
    expect(w.bus.ofType('ImageVerificationFailed')).toEqual([
      expect.objectContaining({ imageId, check: 'timeout', instanceSeconds: 20 * 60 }),
    ]);
    expect(live(w)).toEqual([]);
  });

  it('launches one test instance however often the request comes, and after a crash between the launch and its schedule', async () => {
    // Prepare
    const { w, deps } = setup();
    const imageId = verifying(w);
    w.rechecks.fail(new AwsCallError('InternalServerException', 'CreateSchedule', 'crash', true, 500));

    // Act
    await expect(verifyImage(imageId, deps)).rejects.toThrow();
    w.rechecks.fail(undefined);
    await verifyImage(imageId, deps);
    await verifyImage(imageId, deps);

    // Assess
    expect(testInstancesOf(w, imageId)).toHaveLength(1);
    expect(w.rechecks.schedules.size).toBe(1);
  });

  it('runs at most verifyMaxConcurrent test instances; the rest wait and start, oldest first, as slots free', async () => {
    // Prepare
    const { w, deps } = setup({ maxConcurrent: 2 });
    const images = [verifying(w, 30), verifying(w, 20), verifying(w, 10), verifying(w, 5)];

    // Act: the newest image's request comes first
    await verifyImage(images[3]!, deps);
    const first = testInstancesOf(w).map((i) => i.tags[TAG.verifies]);
    for (const i of live(w)) i.statusChecks = { system: 'ok', instance: 'ok' };
    await runDue(w, deps, 2);
    const second = live(w).map((i) => i.tags[TAG.verifies]);
    for (const i of live(w)) i.statusChecks = { system: 'ok', instance: 'ok' };
    await runDue(w, deps, 4);

    // Assess
    expect(first).toEqual([images[0], images[1]]);
    expect(second.sort()).toEqual([images[2], images[3]].sort());
    expect(images.map((id) => w.account.images.get(id)!.tags[TAG.status])).toEqual(['good', 'good', 'good', 'good']);
    expect(live(w)).toEqual([]);
  });

  it('runs the SSM command once the checks passed, and fails the image when it fails', async () => {
    // Prepare
    const command = { document: 'AWS-RunShellScript', parameters: { commands: ['systemctl is-active nginx'] } };
    const { w, deps, commands } = setup({ command });
    const imageId = verifying(w);
    await verifyImage(imageId, deps);
    const [test] = testInstancesOf(w, imageId);
    test!.statusChecks = { system: 'ok', instance: 'ok' };

    // Act
    await runDue(w, deps, 2);
    const sent = [...commands.sent];
    commands.finish(test!.instanceId, 'Failed', 'exit 3');
    await runDue(w, deps, 2);

    // Assess
    expect(sent).toEqual([
      expect.objectContaining({ instanceId: test!.instanceId, document: 'AWS-RunShellScript', parameters: command.parameters }),
    ]);
    expect(w.account.images.get(imageId)!.tags[TAG.status]).toBe('failed');
    expect(w.bus.ofType('ImageVerificationFailed')).toEqual([
      expect.objectContaining({ check: 'command', reason: 'AWS-RunShellScript ended Failed: exit 3' }),
    ]);
    expect(test!.state).toBe('terminated');
  });

  it('fails the image when RunInstances is refused, and says why', async () => {
    // Prepare
    const { w, deps } = setup();
    const imageId = verifying(w);
    w.account.failRecoveryCall('RunInstances', new AwsCallError('InvalidSubnetID.NotFound', 'RunInstances', 'no such subnet', false, 400));

    // Act
    await verifyImage(imageId, deps);

    // Assess
    expect(w.account.images.get(imageId)!.tags[TAG.failure]).toBe(
      'launch: refused: RunInstances: InvalidSubnetID.NotFound: no such subnet',
    );
    expect(w.bus.ofType('ImageVerificationFailed')).toEqual([expect.objectContaining({ check: 'launch', instanceSeconds: 0 })]);
  });
});

describe('the failure tag', () => {
  it('keeps to the 256 characters EC2 takes for a tag value, however long the reason', async () => {
    // Prepare: a refusal whose message is long
    const { w, deps } = setup();
    const imageId = verifying(w);
    w.account.failRecoveryCall('RunInstances', new AwsCallError('InvalidParameterValue', 'RunInstances', 'x'.repeat(400), false, 400));

    // Act
    await verifyImage(imageId, deps);

    // Assess
    const failure = w.account.images.get(imageId)!.tags[TAG.failure]!;
    expect(failure).toHaveLength(256);
    expect(failure.startsWith('launch: refused: RunInstances: InvalidParameterValue: xxx')).toBe(true);
    expect(w.bus.ofType('ImageVerificationFailed')[0]).toMatchObject({ reason: expect.stringMatching(/x{400}$/) });
  });
});

describe('sweepVerifications', () => {
  it('finishes a verification whose schedule was lost, ends test instances of settled images, and starts what waits', async () => {
    // Prepare: one verification past its timeout with no schedule; a test instance whose image is good; an image waiting
    const { w, deps } = setup({ maxConcurrent: 1 });
    const stuck = verifying(w, 60);
    await verifyImage(stuck, deps);
    w.rechecks.schedules.clear();
    const settled = verifying(w, 50, 'good');
    w.account.addInstance(instanceIdOf(99), { [TAG.managedBy]: STACK, [TAG.role]: 'verification', [TAG.verifies]: settled });
    const waiting = verifying(w, 40);
    w.clock.now = new Date(w.clock.now.getTime() + 25 * MINUTE);

    // Act
    const report = await sweepVerifications(deps);

    // Assess
    expect(report).toMatchObject({ verifying: 2, looked: 1, orphansTerminated: 1, started: 1, errors: 0 });
    expect(w.account.images.get(stuck)!.tags[TAG.status]).toBe('failed');
    expect(w.account.instances.get(instanceIdOf(99))!.state).toBe('terminated');
    expect(live(w).map((i) => i.tags[TAG.verifies])).toEqual([waiting]);
  });
});
