/**
 * A LocalCloud for verification tests (issue 15): the verify function reads its subnet and
 * security group at load, and its role names them, so they are made in moto before the cloud
 * starts. Such a cloud is never reset (a reset would give them new ids): each test bakes its
 * own instance, and ends its verification.
 */
import { CreateSecurityGroupCommand, CreateSubnetCommand, CreateVpcCommand, DescribeImagesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { LocalCloud } from './local-cloud.js';
import { startMoto, type MotoServer } from './moto.js';

export interface VerificationCloud {
  cloud: LocalCloud;
  moto: MotoServer;
  network: { subnetId: string; securityGroupId: string };
}

export async function startVerificationCloud(params: Record<string, string> = {}): Promise<VerificationCloud> {
  const moto = await startMoto();
  // moto draws its ids from a seeded random: the same seed gives the same subnet and group ids in
  // every run, so the params below, and the packaged template they decide, are cached across runs.
  const seeded = await fetch(`${moto.endpoint}/moto-api/seed?a=15`, { method: 'POST' });
  if (!seeded.ok) throw new Error(`moto refused its seed: ${seeded.status}`);
  const ec2 = new EC2Client({
    endpoint: moto.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  const { Vpc } = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.99.0.0/16' }));
  const { Subnet } = await ec2.send(new CreateSubnetCommand({ VpcId: Vpc!.VpcId!, CidrBlock: '10.99.1.0/24' }));
  const { GroupId } = await ec2.send(
    new CreateSecurityGroupCommand({ VpcId: Vpc!.VpcId!, GroupName: 'verify', Description: 'test instances: no ingress' }),
  );
  const network = { subnetId: Subnet!.SubnetId!, securityGroupId: GroupId! };
  const cloud = await LocalCloud.start({
    endpoint: moto.endpoint,
    params: {
      verifySubnetId: network.subnetId,
      verifySecurityGroupId: network.securityGroupId,
      verifyInstanceType: 't3.micro',
      verifyTimeoutMinutes: '20',
      verifyMaxConcurrent: '2',
      ...params,
    },
    env: { POWERTOOLS_LOG_LEVEL: 'SILENT' },
  });
  return { cloud, moto, network };
}

/**
 * A new instance with verify=boot, baked now: its image's id, once available and settled
 * `verifying`. The VerificationRequested it caused waits in the verify function's queue.
 */
export async function bakeOneVerified(cloud: LocalCloud): Promise<string> {
  const [source] = await cloud.launch(1, { 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:verify': 'boot' });
  await cloud.fireSchedule('nightly', new Date());
  cloud.setClock(undefined);
  await cloud.deliver();
  await cloud.finishImageBuilds();
  await cloud.announceImageStates();
  for (const d of (await cloud.drain()).filter((x) => x.functionName === 'imageState')) await cloud.invoke(d.functionName, d.event);
  const { Images = [] } = await cloud.ec2.send(
    new DescribeImagesCommand({ Owners: ['self'], Filters: [{ Name: 'tag:ami-lifecycle:source-instance', Values: [source!] }] }),
  );
  return Images[0]!.ImageId!;
}
