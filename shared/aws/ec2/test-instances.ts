/** Verification's test instances (issue 15): finding them, and what their console says. */
import { GetConsoleOutputCommand, paginateDescribeInstances, type Filter } from '@aws-sdk/client-ec2';
import { TAG, tagRecord } from '../../domain/tags.js';
import { VERIFICATION_ROLE, type TestInstance } from '../../domain/verification.js';
import { pages } from '../errors.js';
import { INSTANCE_NOT_FOUND, callOr, collect, type Ec2Context } from './common.js';

export async function listTestInstances(ec2: Ec2Context, managedBy: string, imageId?: string): Promise<TestInstance[]> {
  const Filters: Filter[] = [
    { Name: `tag:${TAG.managedBy}`, Values: [managedBy] },
    { Name: `tag:${TAG.role}`, Values: [VERIFICATION_ROLE] },
    ...(imageId ? [{ Name: `tag:${TAG.verifies}`, Values: [imageId] }] : []),
  ];
  const found = await collect(
    pages('DescribeInstances', paginateDescribeInstances({ client: ec2.client, pageSize: ec2.pageSize }, { Filters }), (page) =>
      (page.Reservations ?? []).flatMap((r) => r.Instances ?? []),
    ),
  );
  return found.map((i) => ({
    instanceId: i.InstanceId ?? '',
    state: i.State?.Name ?? 'unknown',
    launchTime: i.LaunchTime ?? new Date(0),
    imageId: tagRecord(i.Tags)[TAG.verifies],
    instanceType: i.InstanceType,
  }));
}

export async function consoleOutput(ec2: Ec2Context, instanceId: string): Promise<string | undefined> {
  // Latest: the newest output, on the instance types that keep it ("Get console output",
  // https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_GetConsoleOutput.html); base64.
  const read = async () => {
    const out = await ec2.client.send(new GetConsoleOutputCommand({ InstanceId: instanceId, Latest: true }));
    return out.Output ? Buffer.from(out.Output, 'base64').toString('utf8') : undefined;
  };
  return callOr('GetConsoleOutput', read, new Set([...INSTANCE_NOT_FOUND, 'UnsupportedOperation']), undefined);
}
