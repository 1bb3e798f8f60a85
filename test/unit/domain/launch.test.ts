import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  carriedTags,
  configDigest,
  launchTemplateName,
  replacementTags,
  replacementToken,
  type LaunchConfig,
} from '../../../shared/domain/launch.js';
import { TAG } from '../../../shared/domain/tags.js';

const config: LaunchConfig = {
  instanceType: 't3.micro',
  subnetId: 'subnet-0123456789abcdef0',
  securityGroupIds: ['sg-0aaaaaaaaaaaaaaaa', 'sg-0bbbbbbbbbbbbbbbb'],
  keyName: 'ops',
  iamInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/web',
  ebsOptimized: true,
  monitoring: false,
  metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 },
  tags: { Name: 'web-1', team: 'payments' },
};

describe('configDigest', () => {
  it('is the same for the same configuration in any key or list order, and differs when anything changes', () => {
    // Prepare
    const reordered: LaunchConfig = {
      tags: { team: 'payments', Name: 'web-1' },
      monitoring: false,
      ebsOptimized: true,
      metadataOptions: { httpPutResponseHopLimit: 2, httpTokens: 'required' },
      iamInstanceProfileArn: 'arn:aws:iam::123456789012:instance-profile/web',
      keyName: 'ops',
      securityGroupIds: ['sg-0bbbbbbbbbbbbbbbb', 'sg-0aaaaaaaaaaaaaaaa'],
      subnetId: 'subnet-0123456789abcdef0',
      instanceType: 't3.micro',
    };

    // Act / Assess
    expect(configDigest(reordered)).toBe(configDigest(config));
    expect(configDigest({ ...config, instanceType: 't3.small' })).not.toBe(configDigest(config));
    expect(configDigest({ ...config, securityGroupIds: ['sg-0aaaaaaaaaaaaaaaa'] })).not.toBe(configDigest(config));
    expect(configDigest({ ...config, keyName: undefined })).not.toBe(configDigest(config));
    expect(configDigest(config)).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('replacementToken', () => {
  it('is deterministic per lineage and failed instance, distinct otherwise, and fits RunInstances (64 ASCII)', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (lineage, a, b) => {
        const token = replacementToken(lineage, a);
        expect(token).toBe(replacementToken(lineage, a));
        expect(token.length).toBeLessThanOrEqual(64);
        expect(token).toMatch(/^[\x20-\x7e]+$/);
        if (a !== b) expect(replacementToken(lineage, b)).not.toBe(token);
      }),
    );
  });
});

describe('replacement tags', () => {
  it('carry the operator and opt-in tags, keep the lineage, name the failed instance and count generations', () => {
    // Prepare
    const failed = {
      instanceId: 'i-0123456789abcdef0',
      tags: {
        Name: 'web-1',
        [TAG.bake]: 'nightly',
        [TAG.recover]: 'on-failure',
        [TAG.lineage]: 'web',
        [TAG.generation]: '2',
        [TAG.replaces]: 'i-0aaaabbbbccccdddd',
        [TAG.maintenance]: 'planned',
        'aws:autoscaling:groupName': 'asg',
      },
    };

    // Act
    const tags = replacementTags(failed, 'web');

    // Assess
    expect(tags).toEqual({
      Name: 'web-1',
      [TAG.bake]: 'nightly',
      [TAG.recover]: 'on-failure',
      [TAG.lineage]: 'web',
      [TAG.replaces]: 'i-0123456789abcdef0',
      [TAG.generation]: '3',
    });
    expect(replacementTags({ instanceId: 'i-0123456789abcdef0', tags: { [TAG.generation]: 'x' } }, 'web')[TAG.generation]).toBe('1');
    expect(carriedTags({ 'aws:cloudformation:stack-name': 's', team: 'a' })).toEqual({ team: 'a' });
  });

  it('names the launch template after the stack and the lineage', () => {
    expect(launchTemplateName('ami-lifecycle-prod', 'i-0123456789abcdef0')).toBe('ami-lifecycle-prod-i-0123456789abcdef0');
  });
});
