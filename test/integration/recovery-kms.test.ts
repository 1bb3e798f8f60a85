/**
 * Recovery of an instance whose volumes are encrypted with a customer-managed KMS key. EC2
 * uses the key with the launching role's rights (the harness evaluates kms:CreateGrant,
 * Decrypt, DescribeKey and GenerateDataKeyWithoutPlaintext through EC2 against the recover
 * role, and ends a launch it refuses as EC2 does: Client.InternalError within seconds).
 * With the key in params.kmsKeyArns, the replacement runs. (Without it, the replacement ends
 * at once and RecoveryFailed names the key: recovery.test.ts, under the default stage. One
 * file per stage: the handlers' clients are made once per process, for one LocalCloud.)
 */
import { describe, expect, it } from 'vitest';
import { cloudPerFile } from '../harness/cloud-per-file.js';
import type { LocalCloud } from '../harness/local-cloud.js';

const KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const NIGHT_1 = new Date('2026-11-24T03:00:00Z');
const OPTED_IN = { Name: 'db-1', 'ami-lifecycle:bake': 'nightly', 'ami-lifecycle:recover': 'on-failure' };
const ENCRYPTED_ROOT = { BlockDeviceMappings: [{ DeviceName: '/dev/sda1', Ebs: { VolumeSize: 8, Encrypted: true, KmsKeyId: KEY } }] };

/** An opted-in instance on the encrypted volume, baked once, then lost to a host failure. */
async function failEncryptedInstance(cloud: LocalCloud): Promise<string> {
  const [instanceId] = await cloud.launch(1, OPTED_IN, ENCRYPTED_ROOT);
  await cloud.bakeCycle('nightly', NIGHT_1);
  await cloud.failInstance(instanceId!, 'stopped', 'Server.InternalError');
  await cloud.deliver();
  await cloud.announceInstanceStates();
  await cloud.deliver();
  return instanceId!;
}

const cloud = cloudPerFile({ params: { kmsKeyArns: KEY } });

describe('recovery on a customer-managed KMS key named in params.kmsKeyArns', () => {
  it('relaunches: the recover role may let EC2 use the key', async () => {
    // Act
    const instanceId = await failEncryptedInstance(cloud);

    // Assess
    const [replacement, ...more] = await cloud.replacementsOf(instanceId);
    expect(more).toEqual([]);
    expect(replacement!.State?.Name).toBe('running');
    // (the second announcement of the stopped instance resumes the same replacement: InstanceRelaunched again, resumed)
    const relaunched = cloud.published('InstanceRelaunched').map((e) => e.detail);
    expect(relaunched.map((d) => [d.newInstanceId, d.resumed])).toEqual([
      [replacement!.InstanceId, false],
      [replacement!.InstanceId, true],
    ]);
    expect(cloud.published('RecoveryFailed')).toEqual([]);
  });
});
