/**
 * RunInstances: a replacement launched from its lineage's captured configuration (recovery, a DR
 * relaunch), and a verification's test instance. Each idempotent by its client token, the
 * instance and its volumes tagged alike from the start.
 */
import { RunInstancesCommand, type RunInstancesCommandInput } from '@aws-sdk/client-ec2';
import type { RelaunchSpec } from '../../domain/launch.js';
import type { Tags } from '../../domain/tags.js';
import type { TestLaunchSpec } from '../../use-cases/ec2-ports.js';
import { launchNetwork, launchSettings, toTagList } from '../ec2-mappers.js';
import { call } from '../errors.js';
import type { Ec2Context } from './common.js';

export async function runInstance(ec2: Ec2Context, spec: RelaunchSpec): Promise<string> {
  const c = spec.config;
  return launchOne(ec2, spec, { ...launchSettings(c), ...launchNetwork(c, spec.keepPrivateIp) });
}

export async function runTestInstance(ec2: Ec2Context, spec: TestLaunchSpec): Promise<string> {
  return launchOne(ec2, spec, {
    InstanceType: spec.instanceType as never,
    // No key pair; no public address, whatever the subnet assigns by default.
    NetworkInterfaces: [{ DeviceIndex: 0, SubnetId: spec.subnetId, Groups: [spec.securityGroupId], AssociatePublicIpAddress: false }],
    // A shutdown from inside ends it: a test instance never lingers stopped.
    InstanceInitiatedShutdownBehavior: 'terminate',
    MetadataOptions: { HttpTokens: 'required' },
    ...(spec.iamInstanceProfileArn ? { IamInstanceProfile: { Arn: spec.iamInstanceProfileArn } } : {}),
    // Every volume goes with the test instance, whatever the image's own DeleteOnTermination says.
    ...(spec.devices.length > 0
      ? { BlockDeviceMappings: spec.devices.map((DeviceName) => ({ DeviceName, Ebs: { DeleteOnTermination: true } })) }
      : {}),
  });
}

/** RunInstances of one instance, idempotent by its client token, the instance and its volumes tagged alike. */
async function launchOne(
  ec2: Ec2Context,
  spec: { imageId: string; clientToken: string; tags: Tags },
  settings: Omit<RunInstancesCommandInput, 'ImageId' | 'MinCount' | 'MaxCount' | 'ClientToken' | 'TagSpecifications'>,
): Promise<string> {
  const tags = toTagList(spec.tags);
  const out = await call('RunInstances', () =>
    ec2.client.send(
      new RunInstancesCommand({
        ImageId: spec.imageId,
        MinCount: 1,
        MaxCount: 1,
        ClientToken: spec.clientToken,
        ...settings,
        TagSpecifications: [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
        ],
      }),
    ),
  );
  const id = out.Instances?.[0]?.InstanceId;
  if (!id) throw new Error('RunInstances answered without an instance');
  return id;
}
