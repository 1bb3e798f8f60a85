/**
 * Verified-good images with an SSM Run Command (issue 15): once both status checks passed, the
 * configured document runs on the test instance, and the image is good only if it succeeds.
 * moto answers every command Success at once; a test stages another result with
 * proxy.setCommandResult (moto-gaps/command-results.ts). What no emulator has is an SSM agent on
 * the image: docs/verification.md says how to check that on a real account.
 */
import { DescribeImagesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tagRecord } from '../../shared/domain/tags.js';
import type { LocalCloud } from '../harness/local-cloud.js';
import type { MotoServer } from '../harness/moto.js';
import { PACKAGING_HOOK_TIMEOUT_MS } from '../infra/packaged.js';
import { bakeOneVerified, startVerificationCloud } from '../harness/verification-cloud.js';

const MINUTE = 60_000;
let moto: MotoServer;
let cloud: LocalCloud;

beforeAll(async () => {
  ({ cloud, moto } = await startVerificationCloud({
    verifyCommandDocument: 'AWS-RunShellScript',
    verifyCommandParameters: '{"commands":["systemctl is-active nginx"]}',
  }));
}, PACKAGING_HOOK_TIMEOUT_MS);

afterAll(async () => {
  await cloud?.stop();
  await moto?.stop();
});

afterEach(async () => {
  const live = (await cloud.instancesTagged('ami-lifecycle:bake', 'nightly')).filter((i) => i.State?.Name !== 'terminated');
  if (live.length > 0) await cloud.ec2.send(new TerminateInstancesCommand({ InstanceIds: live.map((i) => i.InstanceId!) }));
});

async function tagsOf(imageId: string): Promise<Record<string, string>> {
  const { Images = [] } = await cloud.ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] }));
  return tagRecord(Images[0]?.Tags);
}
const testInstancesOf = (imageId: string) => cloud.instancesTagged('ami-lifecycle:verifies', imageId);
const detailsOf = (type: string, imageId: string) =>
  cloud
    .published(type)
    .map((e) => e.detail as Record<string, unknown>)
    .filter((d) => d.imageId === imageId);

describe('a verification with an SSM command', () => {
  it('runs the document on the test instance once both checks passed; the image is good when it succeeds', async () => {
    // Prepare
    const imageId = await bakeOneVerified(cloud);
    cloud.proxy.resetCalls();

    // Act: the launch, the checks (ok) and the command, then its result
    await cloud.deliver();
    await cloud.fireDueSchedules(new Date(Date.now() + 6 * MINUTE));

    // Assess
    expect(cloud.proxy.calls()).toMatchObject({ SendCommand: 1, ListCommands: 2, GetCommandInvocation: 1 });
    expect((await tagsOf(imageId))['ami-lifecycle:status']).toBe('good');
    expect(detailsOf('ImageVerified', imageId)).toEqual([
      expect.objectContaining({ checks: { system: 'ok', instance: 'ok', command: 'Success' } }),
    ]);
    expect((await testInstancesOf(imageId)).map((i) => i.State?.Name)).toEqual(['terminated']);
  });

  it('fails the image when the command fails on the test instance, and ends the instance', async () => {
    // Prepare
    const imageId = await bakeOneVerified(cloud);
    await cloud.deliver();
    const [test] = await testInstancesOf(imageId);
    cloud.proxy.setCommandResult(test!.InstanceId!, { status: 'Failed', responseCode: 3, stderr: 'inactive' });

    // Act
    await cloud.fireDueSchedules(new Date(Date.now() + 6 * MINUTE));

    // Assess
    expect(await tagsOf(imageId)).toMatchObject({
      'ami-lifecycle:status': 'failed',
      'ami-lifecycle:failure': 'command: AWS-RunShellScript ended Failed: Failed, exit 3, inactive',
    });
    expect(detailsOf('ImageVerificationFailed', imageId)).toEqual([expect.objectContaining({ check: 'command' })]);
    expect(detailsOf('ImageBaked', imageId)).toEqual([]);
    expect((await testInstancesOf(imageId)).map((i) => i.State?.Name)).toEqual(['terminated']);
  });
});
