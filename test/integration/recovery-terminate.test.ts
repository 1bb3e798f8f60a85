/**
 * Recovery with params.terminateReplaced=true, under the recover role of a stage packaged
 * with it: the failed instance is tagged replaced-by, then terminated. IAM is evaluated on
 * every call, so the role's TerminateReplacedInstances statement is what is tested, and
 * it must allow the termination of what recovery replaced and nothing else.
 */
import { describe, expect, it } from 'vitest';
import { DescribeInstancesCommand, EC2Client, TerminateInstancesCommand, type Instance } from '@aws-sdk/client-ec2';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import { tagRecord } from '../../shared/domain/tags.js';

const NIGHT_1 = new Date('2026-11-24T03:00:00Z');
const OPTED_IN = { Name: 'web-1', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure' };

const cloud = cloudPerFile({ params: { terminateReplaced: 'true' } });

async function describeInstance(instanceId: string): Promise<Instance> {
  const { Reservations } = await cloud.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return Reservations![0]!.Instances![0]!;
}

describe('recovery with terminateReplaced', () => {
  it('terminates the instance it replaced, after tagging it replaced-by', async () => {
    // Prepare: an opted-in instance baked once (which gives it its lineage)
    const [instanceId] = await cloud.launch(1, OPTED_IN);
    await cloud.bakeCycle('nightly', NIGHT_1);

    // Act: the host fails and EC2 stops the instance
    await cloud.failInstance(instanceId!, 'stopped', 'Server.InternalError');
    await cloud.deliver();

    // Assess: replaced, tagged with its replacement, terminated; reported as such
    const [relaunched] = cloud.published('InstanceRelaunched');
    expect(relaunched?.detail).toMatchObject({ failedInstanceId: instanceId, failedInstance: 'terminated' });
    const failed = await describeInstance(instanceId!);
    expect(failed.State?.Name).toBe('terminated');
    expect(tagRecord(failed.Tags)['ami-lifecycle:replaced-by']).toBe(relaunched!.detail.newInstanceId);
    expect(cloud.proxy.calls().TerminateInstances).toBe(1);
  });

  it('the recover role cannot terminate an opted-in instance that recovery has not replaced', async () => {
    // Prepare: an opted-in instance with its lineage, running, never replaced
    const [instanceId] = await cloud.launch(1, { ...OPTED_IN, 'ami-lifecycle:lineage': 'web' });
    const ec2 = new EC2Client({
      endpoint: cloud.proxy.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    cloud.expectDenials(1);

    // Act: the recover function's identity asks for the termination
    const attempt = cloud.asFunction('recover', () => ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId!] })));

    // Assess: refused as EC2 refuses, recorded, and the instance still runs
    await expect(attempt).rejects.toMatchObject({
      name: 'UnauthorizedOperation',
      $metadata: { httpStatusCode: 403 },
      message: expect.stringMatching(
        /not authorized to perform: ec2:TerminateInstances on resource: arn:aws:ec2:us-east-1:123456789012:instance\//,
      ),
    });
    expect(cloud.denials().at(-1)).toMatchObject({
      function: 'ami-lifecycle-dev-recover',
      action: 'ec2:TerminateInstances',
      resource: `arn:aws:ec2:us-east-1:123456789012:instance/${instanceId}`,
    });
    expect((await describeInstance(instanceId!)).State?.Name).toBe('running');
    ec2.destroy();
  });
});
