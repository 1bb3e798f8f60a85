/**
 * Verified-good images (issue 15) against the harness: an image of a lineage with verify=boot is
 * `verifying` once available, a test instance boots from it in the verification subnet, and the
 * image is good once EC2's two status checks pass (moto answers ok for a running instance; a test
 * stages anything else with proxy.setInstanceStatus), failed otherwise; the test instance is gone
 * at the end, whatever happened: a failed check, a timeout, duplicate events, a crash after any
 * call, a lost schedule.
 *
 * The verify function reads its subnet and security group at load, and its role names them: they
 * are created in moto before the cloud starts, and the cloud is not reset between tests (a reset
 * would give them new ids). Each test bakes its own instance, so its image is its own; each
 * leaves no test instance and no image verifying behind, or the next one would see it.
 */
import { DescribeImagesCommand, EC2Client, type Image, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tagRecord } from '../../shared/domain/tags.js';
import type { LocalCloud } from '../harness/local-cloud.js';
import type { MotoServer } from '../harness/moto.js';
import { PACKAGING_HOOK_TIMEOUT_MS } from '../infra/packaged.js';
import { bakeOneVerified, startVerificationCloud } from '../harness/verification-cloud.js';

const MINUTE = 60_000;
let moto: MotoServer;
let cloud: LocalCloud;
let network: { subnetId: string; securityGroupId: string };

beforeAll(async () => {
  ({ cloud, moto, network } = await startVerificationCloud());
}, PACKAGING_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await cloud?.stop();
  await moto?.stop();
});

/** Every test's source instances end with it: the next test's bake must not bake them again. */
afterEach(async () => {
  const sources = await cloud.instancesTagged('ami-lifecycle:bake', 'nightly');
  const live = sources.filter((i) => i.State?.Name !== 'terminated').map((i) => i.InstanceId!);
  if (live.length > 0) await cloud.ec2.send(new TerminateInstancesCommand({ InstanceIds: live }));
  cloud.proxy.resetCalls();
});

const bakeOne = () => bakeOneVerified(cloud);

async function imageOf(imageId: string): Promise<Image | undefined> {
  const { Images = [] } = await cloud.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  return Images[0];
}

const statusOf = async (imageId: string) => tagRecord((await imageOf(imageId))?.Tags)['ami-lifecycle:status'];

const testInstancesOf = (imageId: string) => cloud.instancesTagged('ami-lifecycle:verifies', imageId);
const detailsOf = (type: string, imageId: string) =>
  cloud
    .published(type)
    .map((e) => e.detail as Record<string, unknown>)
    .filter((d) => d.imageId === imageId);
/** The verification requests waiting for the verify function. */
const requests = async () => (await cloud.drain()).filter((d) => d.functionName === 'verify');

describe('a verified image', () => {
  it('is verifying, not good, until a test instance booted from it in the verification subnet passed both checks; then good, and the instance gone', async () => {
    // Prepare
    const imageId = await bakeOne();
    const before = await statusOf(imageId);

    // Act: the request, then the due look (moto reports a running instance's checks ok)
    await cloud.deliver();
    const [test] = await testInstancesOf(imageId);
    await cloud.fireDueSchedules(new Date(Date.now() + 3 * MINUTE));

    // Assess
    expect(before).toBe('verifying');
    expect(test).toMatchObject({ SubnetId: network.subnetId, InstanceType: 't3.micro', ImageId: imageId });
    expect(test!.KeyName).toBeUndefined();
    expect(test!.PublicIpAddress).toBeUndefined();
    expect(test!.NetworkInterfaces?.map((n) => [n.SubnetId, n.Groups?.map((g) => g.GroupId), n.Association?.PublicIp])).toEqual([
      [network.subnetId, [network.securityGroupId], undefined],
    ]);
    expect(tagRecord(test!.Tags)).toMatchObject({ 'ami-lifecycle:role': 'verification', 'ami-lifecycle:managed-by': 'ami-lifecycle-dev' });
    expect(await statusOf(imageId)).toBe('good');
    expect((await testInstancesOf(imageId)).map((i) => i.State?.Name)).toEqual(['terminated']);
    expect(detailsOf('ImageVerified', imageId)).toEqual([
      expect.objectContaining({ testInstanceId: test!.InstanceId, checks: { system: 'ok', instance: 'ok' } }),
    ]);
    expect(detailsOf('ImageBaked', imageId)).toEqual([expect.objectContaining({ settledBy: 'verification' })]);
  });

  it('fails when its test instance fails the instance status check: the reason, the console output, and the instance gone', async () => {
    // Prepare
    const imageId = await bakeOne();
    await cloud.deliver();
    const [test] = await testInstancesOf(imageId);

    // Act
    cloud.proxy.setInstanceStatus(test!.InstanceId!, { instance: 'impaired' });
    await cloud.fireDueSchedules(new Date(Date.now() + 3 * MINUTE));

    // Assess
    expect(tagRecord((await imageOf(imageId))!.Tags)).toMatchObject({
      'ami-lifecycle:status': 'failed',
      'ami-lifecycle:failure': expect.stringMatching(/^instance-status: /),
    });
    expect(detailsOf('ImageVerificationFailed', imageId)).toEqual([
      expect.objectContaining({ check: 'instance-status', testInstanceId: test!.InstanceId, consoleOutput: expect.any(String) }),
    ]);
    expect(detailsOf('ImageBaked', imageId)).toEqual([]);
    expect((await testInstancesOf(imageId)).map((i) => i.State?.Name)).toEqual(['terminated']);
  });

  it('fails at verifyTimeoutMinutes from the launch when the checks never pass, looking again every two minutes until then', async () => {
    // Prepare
    const imageId = await bakeOne();
    await cloud.deliver();
    const [test] = await testInstancesOf(imageId);
    cloud.proxy.setInstanceStatus(test!.InstanceId!, { system: 'initializing', instance: 'initializing' });

    // Act
    const firings = await cloud.fireDueSchedules(new Date(Date.now() + 25 * MINUTE));

    // Assess
    expect(firings.length).toBe(10);
    expect(await statusOf(imageId)).toBe('failed');
    expect(detailsOf('ImageVerificationFailed', imageId)).toEqual([
      expect.objectContaining({ check: 'timeout', instanceSeconds: 20 * 60 }),
    ]);
    expect((await testInstancesOf(imageId)).map((i) => i.State?.Name)).toEqual(['terminated']);
  });

  it('launches one test instance for a request delivered three times', async () => {
    // Prepare
    const imageId = await bakeOne();

    // Act
    await cloud.deliver({ copies: 3 });
    await cloud.fireDueSchedules(new Date(Date.now() + 3 * MINUTE));

    // Assess
    expect((await testInstancesOf(imageId)).map((i) => i.State?.Name)).toEqual(['terminated']);
    expect(await statusOf(imageId)).toBe('good');
  });

  it('runs at most verifyMaxConcurrent test instances; the third image waits, verifying, and starts when a slot frees', async () => {
    // Prepare: three images at once, their checks still initializing
    const images = [await bakeOne(), await bakeOne(), await bakeOne()];
    await cloud.deliver();
    const first = (await Promise.all(images.map(testInstancesOf))).map((l) => l.length);
    for (const imageId of images.slice(0, 2)) {
      const [test] = await testInstancesOf(imageId);
      cloud.proxy.setInstanceStatus(test!.InstanceId!, { instance: 'initializing' });
    }

    // Act: the first two pass; the third starts and passes
    for (const imageId of images.slice(0, 2)) {
      const [test] = await testInstancesOf(imageId);
      cloud.proxy.setInstanceStatus(test!.InstanceId!, { instance: 'ok' });
    }
    await cloud.fireDueSchedules(new Date(Date.now() + 8 * MINUTE));

    // Assess
    expect(first).toEqual([1, 1, 0]);
    expect(await Promise.all(images.map(statusOf))).toEqual(['good', 'good', 'good']);
    for (const imageId of images) expect((await testInstancesOf(imageId)).map((i) => i.State?.Name)).toEqual(['terminated']);
  });

  it('is finished by the sweep when its schedule is lost: the timeout, the instance gone', async () => {
    // Prepare: the request is handled, its schedule then lost
    const imageId = await bakeOne();
    await cloud.deliver();
    const [test] = await testInstancesOf(imageId);
    cloud.proxy.setInstanceStatus(test!.InstanceId!, { instance: 'initializing' });
    await cloud.drainDueSchedules(new Date(Date.now() + 60 * MINUTE));

    // Act: the sweep, half an hour later
    const report = await cloud.invokePayload('verify', {
      'detail-type': 'Verification Sweep',
      scheduledTime: new Date(Date.now() + 30 * MINUTE).toISOString(),
    });

    // Assess
    expect(report).toMatchObject({ verifying: 1, looked: 1, errors: 0 });
    expect(await statusOf(imageId)).toBe('failed');
    expect(detailsOf('ImageVerificationFailed', imageId)).toEqual([expect.objectContaining({ check: 'timeout' })]);
    expect((await testInstancesOf(imageId)).map((i) => i.State?.Name)).toEqual(['terminated']);
  });
});

describe('the verify role, as AWS evaluates it', () => {
  /** What a call made with the verify function's role answers: its error's name, or 'allowed'. */
  const asVerify = async (send: (ec2: EC2Client) => Promise<unknown>): Promise<string> => {
    const ec2 = new EC2Client({
      endpoint: cloud.proxy.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      maxAttempts: 1,
    });
    try {
      await cloud.asFunction('verify', () => send(ec2));
      return 'allowed';
    } catch (error) {
      return (error as { name: string }).name;
    }
  };

  it('terminates only test instances, and launches only tagged test instances into the verification subnet', async () => {
    // Prepare: an instance of the fleet, and a subnet that is not the verification one
    const imageId = await bakeOne();
    const [other] = await cloud.launch(1, { Name: 'not a test instance' });
    const tags = [
      { Key: 'ami-lifecycle:role', Value: 'verification' },
      { Key: 'ami-lifecycle:managed-by', Value: 'ami-lifecycle-dev' },
    ];
    const launch =
      (subnetId: string, instanceTags = tags) =>
      (ec2: EC2Client) =>
        ec2.send(
          new RunInstancesCommand({
            ImageId: imageId,
            MinCount: 1,
            MaxCount: 1,
            InstanceType: 't3.micro',
            NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: subnetId, Groups: [network.securityGroupId] }],
            TagSpecifications: [
              { ResourceType: 'instance', Tags: instanceTags },
              { ResourceType: 'volume', Tags: instanceTags },
            ],
          }),
        );
    const [elsewhere] = (await cloud.instancesTagged('Name', 'not a test instance')).map((i) => i.SubnetId!);
    cloud.expectDenials(3);

    // Act
    const terminate = await asVerify((ec2) => ec2.send(new TerminateInstancesCommand({ InstanceIds: [other!] })));
    const intoAnotherSubnet = await asVerify(launch(elsewhere!));
    const untagged = await asVerify(launch(network.subnetId, [{ Key: 'Name', Value: 'x' }]));

    // Assess
    expect(elsewhere).not.toBe(network.subnetId);
    expect([terminate, intoAnotherSubnet, untagged]).toEqual(['UnauthorizedOperation', 'UnauthorizedOperation', 'UnauthorizedOperation']);
    await cloud.ec2.send(new TerminateInstancesCommand({ InstanceIds: [other!] }));
    // The image this test baked is not verified: leave none verifying for the next test.
    await cloud.deliver();
    await cloud.fireDueSchedules(new Date(Date.now() + 3 * MINUTE));
  });
});

describe('a crash after any AWS call of a verification, then the retry', () => {
  it('ends with the image good, one test instance, terminated, for every k, answer received or lost', { timeout: 600_000 }, async () => {
    /** One verification from its request to its verdict, crashing after call k (if given), each crashed invocation retried. */
    const run = async (crash?: { after: number; answerLost: boolean }) => {
      const imageId = await bakeOne();
      let pending = await requests();
      cloud.proxy.resetCalls();
      if (crash) cloud.proxy.crashAfter(crash);
      let crashed = false;
      const retryErrors: string[] = [];
      for (let round = 0; pending.length > 0 && round < 20; round++) {
        for (const invocation of pending) {
          try {
            await cloud.invokePayload(invocation.functionName, invocation.event);
          } catch {
            crashed ||= cloud.proxy.crashState().crashed;
            cloud.proxy.disarmCrash();
            // The retry Lambda (or Scheduler) makes: the same event again.
            await cloud.invokePayload(invocation.functionName, invocation.event).catch((e: unknown) => retryErrors.push(String(e)));
          }
        }
        pending = await cloud.drainDueSchedules(new Date(Date.now() + 3 * MINUTE));
      }
      const calls = Object.values(cloud.proxy.calls()).reduce((a, b) => a + b, 0);
      crashed ||= cloud.proxy.crashState().crashed;
      cloud.proxy.disarmCrash();
      const tests = await testInstancesOf(imageId);
      return {
        calls,
        crashed,
        retryErrors,
        status: await statusOf(imageId),
        tests: tests.map((i) => i.State?.Name),
        verified: detailsOf('ImageVerified', imageId).length > 0,
        failed: detailsOf('ImageVerificationFailed', imageId).length,
      };
    };

    // Prepare: the clean run
    const clean = await run();
    expect(clean).toMatchObject({ status: 'good', tests: ['terminated'], verified: true, failed: 0, retryErrors: [] });

    // Act / Assess: every k, both ways
    const problems: string[] = [];
    for (let k = 1; k <= clean.calls; k++) {
      for (const answerLost of [false, true]) {
        const how = `crash after call ${k}/${clean.calls}${answerLost ? ' (its answer lost)' : ''}`;
        const r = await run({ after: k, answerLost });
        if (!r.crashed) problems.push(`${how}: no crash`);
        if (r.retryErrors.length > 0) problems.push(`${how}: the retry failed: ${r.retryErrors.join('; ')}`);
        if (r.status !== 'good' || r.tests.join() !== 'terminated' || !r.verified || r.failed > 0)
          problems.push(`${how}: ${JSON.stringify({ status: r.status, tests: r.tests, verified: r.verified, failed: r.failed })}`);
      }
    }
    expect(problems).toEqual([]);
  });
});
