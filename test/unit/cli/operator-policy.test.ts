/**
 * The operator's policy for `stale` and `adopt` (cli/operator-policy.ts), evaluated as the harness
 * evaluates the functions' roles: the authorizations AWS makes for each call (test/harness/iam/
 * authorizations.ts, from the Service Authorization Reference) run through @cloud-copilot/iam-simulate.
 * Adopt's CreateTags is allowed on unmanaged images and snapshots, and refused for anything more.
 */
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { describe, expect, it } from 'vitest';
import { ADOPT_TAG_KEYS, operatorStalePolicy } from '../../../cli/operator-policy.js';
import { TAG } from '../../../shared/domain/tags.js';
import { authorizationsFor, type StateLookups } from '../../harness/iam/authorizations.js';

const where = { partition: 'aws', region: 'us-east-1', account: '123456789012' };
const STACK = 'ami-lifecycle-prod';
const policy = operatorStalePolicy(STACK);

/** An account whose images and snapshots carry these tags. */
function account(tags: Record<string, Record<string, string>>): StateLookups {
  const none = async () => undefined;
  return {
    ec2Tags: async (ids) => new Map(ids.filter((id) => tags[id]).map((id) => [id, tags[id]!])),
    ec2Described: async (_type, ids) => new Map(ids.filter((id) => tags[id]).map((id) => [id, { tags: tags[id]!, keys: {} }])),
    launchTemplateId: none,
    instanceNetwork: none,
    defaultSubnet: none,
    securityGroupIds: async () => [],
    roleOfInstanceProfile: none,
    ec2Exists: async (_type, id) => tags[id] !== undefined,
    autoScalingGroup: none,
    imageIn: none,
  };
}

/** Whether every authorization of the call is allowed by the operator's policy. */
async function allowed(service: string, action: string, params: Record<string, string>, state: StateLookups): Promise<boolean> {
  const authorizations = await authorizationsFor(
    { service, action, form: new URLSearchParams({ Action: action, ...params }) },
    state,
    where,
  );
  expect(authorizations.length).toBeGreaterThan(0);
  for (const a of authorizations) {
    const result = await runSimulation(
      {
        identityPolicies: [{ name: 'operator', policy }],
        serviceControlPolicies: [],
        resourceControlPolicies: [],
        request: {
          principal: `arn:aws:iam::${where.account}:user/operator`,
          action: a.action,
          resource: { resource: a.resource, accountId: where.account },
          contextVariables: a.context,
        },
      },
      {},
    );
    if (result.resultType === 'error') throw new Error(`${a.action} on ${a.resource}: ${JSON.stringify(result.errors)}`);
    if (result.overallResult !== 'Allowed') return false;
  }
  return true;
}

/** CreateTags of an image and its snapshot, as the SDK sends adopt's call. */
function createTags(tags: Record<string, string>, ids = ['ami-0123456789abcdef0', 'snap-0123456789abcdef0']): Record<string, string> {
  const form: Record<string, string> = {};
  for (const [i, id] of ids.entries()) form[`ResourceId.${i + 1}`] = id;
  Object.entries(tags).forEach(([k, v], i) => {
    form[`Tag.${i + 1}.Key`] = k;
    form[`Tag.${i + 1}.Value`] = v;
  });
  return form;
}

const ADOPTION = {
  [TAG.managedBy]: STACK,
  [TAG.lineage]: 'adopted/packer-web',
  [TAG.retain]: '7',
  [TAG.status]: 'good',
  [TAG.adopted]: 'ami-0123456789abcdef0@2026-11-26T00:00:00.000Z',
};
const unmanaged = account({ 'ami-0123456789abcdef0': { Name: 'packer' }, 'snap-0123456789abcdef0': {} });

describe("the operator's policy for stale and adopt", () => {
  it("allows adopt's CreateTags on an unmanaged image and its snapshot, with or without a retention", async () => {
    expect(await allowed('ec2', 'CreateTags', createTags(ADOPTION), unmanaged)).toBe(true);
    const { [TAG.retain]: _, ...withoutRetain } = ADOPTION;
    expect(await allowed('ec2', 'CreateTags', createTags(withoutRetain), unmanaged)).toBe(true);
    expect([...ADOPT_TAG_KEYS].sort()).toEqual(Object.keys(ADOPTION).sort());
  });

  it('refuses a tag adopt does not write, another stack, another status, no adoption record, an image already managed', async () => {
    expect(await allowed('ec2', 'CreateTags', createTags({ ...ADOPTION, Name: 'x' }), unmanaged)).toBe(false);
    expect(await allowed('ec2', 'CreateTags', createTags({ ...ADOPTION, [TAG.managedBy]: 'ami-lifecycle-dev' }), unmanaged)).toBe(false);
    expect(await allowed('ec2', 'CreateTags', createTags({ ...ADOPTION, [TAG.status]: 'pending' }), unmanaged)).toBe(false);
    const { [TAG.adopted]: _, ...withoutRecord } = ADOPTION;
    expect(await allowed('ec2', 'CreateTags', createTags(withoutRecord), unmanaged)).toBe(false);
    const managed = account({ 'ami-0123456789abcdef0': { [TAG.managedBy]: STACK }, 'snap-0123456789abcdef0': {} });
    expect(await allowed('ec2', 'CreateTags', createTags(ADOPTION), managed)).toBe(false);
    // Never an instance, whatever the tags.
    expect(await allowed('ec2', 'CreateTags', createTags(ADOPTION, ['i-0123456789abcdef0']), account({ 'i-0123456789abcdef0': {} }))).toBe(
      false,
    );
  });

  it("allows every read stale makes, and each read DescribeImageReferences makes with the caller's permissions", async () => {
    const image = { ImageId: 'ami-0123456789abcdef0' };
    const reads: Array<[string, string, Record<string, string>]> = [
      ['ec2', 'DescribeImages', {}],
      ['ec2', 'DescribeSnapshots', {}],
      ['ec2', 'DescribeInstances', {}],
      ['ec2', 'DescribeLaunchTemplateVersions', {}],
      ['ec2', 'DescribeImageReferences', { 'ImageId.1': image.ImageId }],
      ['ec2', 'DescribeImageAttribute', { ...image, Attribute: 'launchPermission' }],
      ['autoscaling', 'DescribeLaunchConfigurations', {}],
      ['autoscaling', 'DescribeAutoScalingGroups', {}],
      ['ssm', 'DescribeParameters', {}],
    ];
    for (const [service, action, params] of reads)
      expect(await allowed(service, action, params, unmanaged), `${service}:${action}`).toBe(true);
  });
});
