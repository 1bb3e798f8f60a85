import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  carriedTags,
  configDigest,
  launchTemplateName,
  MAX_TAGS_PER_RESOURCE,
  relaunchSpec,
  replacementTags,
  replacementToken,
  whenReferenceVanished,
  withinTagLimit,
  type LaunchConfig,
  type StoredLaunchConfig,
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
        [TAG.maintenanceSince]: '2026-12-01T10:00:00.000Z',
        [TAG.rebootedAt]: '2026-12-01T11:00:00.000Z',
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

describe('configDigest with a launch time', () => {
  const LAUNCHED = new Date('2026-11-20T08:30:00.000Z');

  it('is stable without a launch time, and for the same launch time', () => {
    expect(configDigest(config)).toBe(configDigest(config, undefined));
    expect(configDigest(config, LAUNCHED)).toBe(configDigest({ ...config }, new Date(LAUNCHED.getTime())));
  });

  it('differs with the launch time: user data may have changed while the instance was stopped', () => {
    // Act
    const digests = [configDigest(config), configDigest(config, LAUNCHED), configDigest(config, new Date(LAUNCHED.getTime() + 1000))];

    // Assess
    expect(new Set(digests).size).toBe(3);
    expect(digests.every((d) => /^[0-9a-f]{16}$/.test(d))).toBe(true);
  });

  it('tells any two launch times apart (property)', () => {
    const when = fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true });
    fc.assert(
      fc.property(when, when, (a, b) => {
        // Act / Assess
        expect(configDigest(config, a) === configDigest(config, b)).toBe(a.getTime() === b.getTime());
      }),
    );
  });
});

describe('relaunchSpec', () => {
  const FAILED = 'i-0123456789abcdef0';
  const stored: StoredLaunchConfig = {
    ...config,
    tags: { Name: 'web-1', team: 'payments', [TAG.lineage]: 'web', [TAG.recover]: 'always' },
    userData: 'IyEvYmluL3NoCg==',
  };

  it('launches the captured configuration from the image, with the token and tags of this replacement', () => {
    // Prepare
    const failedTags = {
      Name: 'web-1b',
      [TAG.lineage]: 'web',
      [TAG.recover]: 'on-failure',
      [TAG.generation]: '4',
      [TAG.captured]: '0123456789abcdef',
      'aws:ec2:fleet-id': 'f',
    };

    // Act
    const spec = relaunchSpec({ failedInstanceId: FAILED, lineage: 'web', imageId: 'ami-00000003', config: stored, failedTags });

    // Assess
    expect(spec).toEqual({
      imageId: 'ami-00000003',
      config: stored,
      clientToken: replacementToken('web', FAILED),
      droppedTags: [],
      keepPrivateIp: false,
      tags: { Name: 'web-1b', [TAG.lineage]: 'web', [TAG.recover]: 'on-failure', [TAG.replaces]: FAILED, [TAG.generation]: '5' },
    });
    expect(spec.config).toBe(stored);
  });

  it('takes the tags captured with the configuration when the failed instance left none', () => {
    // Act
    const spec = relaunchSpec({ failedInstanceId: FAILED, lineage: 'web', imageId: 'ami-00000003', config: stored, failedTags: undefined });

    // Assess
    expect(spec.tags).toEqual({ ...stored.tags, [TAG.replaces]: FAILED, [TAG.generation]: '1' });
  });

  it('takes the failed instance tags when given, even empty ones, and always names the given lineage', () => {
    // Act
    const spec = relaunchSpec({ failedInstanceId: FAILED, lineage: 'web-2', imageId: 'ami-00000003', config: stored, failedTags: {} });

    // Assess
    expect(spec.tags).toEqual({ [TAG.lineage]: 'web-2', [TAG.replaces]: FAILED, [TAG.generation]: '1' });
    expect(spec.clientToken).toBe(replacementToken('web-2', FAILED));
    expect(spec.clientToken).not.toBe(replacementToken('web', FAILED));
  });
});

describe('withinTagLimit: EC2 takes 50 tags per resource', () => {
  const operatorTags = (n: number) =>
    Object.fromEntries(Array.from({ length: n }, (_, i) => [`team-${String(i).padStart(2, '0')}`, `v${i}`]));
  const own = { [TAG.lineage]: 'web', [TAG.replaces]: 'i-0123456789abcdef0', [TAG.generation]: '2' };

  it('keeps all of exactly 50, and aws: tags do not count', () => {
    // Prepare
    const tags = { ...operatorTags(47), ...own, 'aws:cloudformation:stack-name': 's' };

    // Act
    const { tags: kept, dropped } = withinTagLimit(tags);

    // Assess
    expect(MAX_TAGS_PER_RESOURCE).toBe(50);
    expect(kept).toEqual(tags);
    expect(dropped).toEqual([]);
  });

  it('one past the limit drops one operator tag, the last by key, never the service own', () => {
    // Act
    const { tags: kept, dropped } = withinTagLimit({ ...operatorTags(48), ...own });

    // Assess
    expect(Object.keys(kept)).toHaveLength(50);
    expect(kept).toMatchObject(own);
    expect(dropped).toEqual(['team-47']);
  });

  it('property: never more than 50 counted tags, the service own kept first, nothing lost unreported', () => {
    const tagsArb = fc.dictionary(
      fc.oneof(
        fc.string({ minLength: 1, maxLength: 12 }),
        fc.string({ minLength: 1, maxLength: 8 }).map((k) => `ami-lifecycle:${k}`),
        fc.constant('aws:x'),
      ),
      fc.string({ maxLength: 4 }),
      { maxKeys: 120 },
    );
    fc.assert(
      fc.property(tagsArb, (tags) => {
        const { tags: kept, dropped } = withinTagLimit(tags);
        const counted = (t: Record<string, string>) => Object.keys(t).filter((k) => !k.startsWith('aws:'));
        expect(counted(kept).length).toBeLessThanOrEqual(MAX_TAGS_PER_RESOURCE);
        expect([...Object.keys(kept), ...dropped].sort()).toEqual(Object.keys(tags).sort());
        for (const k of Object.keys(kept)) expect(kept[k]).toBe(tags[k]);
        const ownKeys = counted(tags).filter((k) => k.startsWith('ami-lifecycle:'));
        if (ownKeys.length <= MAX_TAGS_PER_RESOURCE) for (const k of ownKeys) expect(kept).toHaveProperty([k]);
        // A dropped operator tag means the limit was reached
        if (dropped.length > 0) expect(counted(kept)).toHaveLength(MAX_TAGS_PER_RESOURCE);
      }),
    );
  });

  it('a replacement of an instance at the limit keeps its lineage, origin and generation, and names what it left off', () => {
    // Prepare: 49 operator tags and the lineage: 50, at the limit; the replacement adds two of its own
    const failedTags = { ...operatorTags(49), [TAG.lineage]: 'web' };

    // Act
    const spec = relaunchSpec({
      failedInstanceId: 'i-0123456789abcdef0',
      lineage: 'web',
      imageId: 'ami-00000003',
      config: { ...config, tags: {} },
      failedTags,
    });

    // Assess
    expect(Object.keys(spec.tags)).toHaveLength(50);
    expect(spec.tags).toMatchObject({ [TAG.lineage]: 'web', [TAG.replaces]: 'i-0123456789abcdef0', [TAG.generation]: '1' });
    expect(spec.droppedTags).toEqual(['team-47', 'team-48']);
  });
});

// Issue 21, part 3: a reference captured at bake can be deleted before the failure.
describe('whenReferenceVanished', () => {
  const spec = relaunchSpec({
    failedInstanceId: 'i-0123456789abcdef0',
    lineage: 'web',
    imageId: 'ami-0123456789abcdef0',
    config: { ...config, tags: { ...config.tags, [TAG.lineage]: 'web' } },
    failedTags: undefined,
  });

  it('launches without a key pair that is gone: its own client token, a tag naming what it lacks, the rest unchanged', () => {
    // Act
    const decision = whenReferenceVanished(spec, { code: 'InvalidKeyPair.NotFound', message: "The key pair 'ops' does not exist" });

    // Assess
    expect(decision).toMatchObject({ action: 'launch-without', what: 'key pair ops' });
    if (decision?.action !== 'launch-without') throw new Error('unreachable');
    expect(decision.spec.config).not.toHaveProperty('keyName');
    expect({ ...decision.spec.config, keyName: 'ops' }).toEqual(spec.config);
    expect(decision.spec.clientToken).not.toBe(spec.clientToken);
    // RunInstances takes a client token of at most 64 ASCII characters (botocore's model checks it in the harness).
    expect(decision.spec.clientToken.length).toBeLessThanOrEqual(64);
    expect(decision.spec.tags[TAG.launchedWithout]).toBe('key pair ops');
  });

  it('launches without an instance profile that is gone, then without the key too, naming both', () => {
    // Act
    const first = whenReferenceVanished(spec, {
      code: 'InvalidParameterValue',
      message: 'Value (arn:aws:iam::123456789012:instance-profile/web) for parameter iamInstanceProfile.arn is invalid.',
    });
    if (first?.action !== 'launch-without') throw new Error('expected a launch without the profile');
    const second = whenReferenceVanished(first.spec, { code: 'InvalidKeyPair.NotFound', message: "The key pair 'ops' does not exist" });

    // Assess
    expect(first.what).toBe('instance profile web');
    if (second?.action !== 'launch-without') throw new Error('expected a launch without the key');
    expect(second.spec.config).not.toHaveProperty('iamInstanceProfileArn');
    expect(second.spec.config).not.toHaveProperty('keyName');
    expect(second.spec.tags[TAG.launchedWithout]).toBe('instance profile web; key pair ops');
    expect(new Set([spec.clientToken, first.spec.clientToken, second.spec.clientToken]).size).toBe(3);
  });

  it('never replaces a security group or a subnet: it fails, naming it', () => {
    // Act
    const group = whenReferenceVanished(spec, {
      code: 'InvalidGroup.NotFound',
      message: "The security group 'sg-0bbbbbbbbbbbbbbbb' does not exist",
    });
    const subnet = whenReferenceVanished(spec, { code: 'InvalidSubnetID.NotFound', message: 'The subnet ID does not exist' });

    // Assess
    expect(group).toMatchObject({ action: 'fail', what: 'security group sg-0bbbbbbbbbbbbbbbb' });
    expect(group?.action === 'fail' && group.reason).toMatch(/never launches into another group \(the VPC's default group\)/);
    expect(subnet).toMatchObject({ action: 'fail', what: 'subnet subnet-0123456789abcdef0' });
  });

  it('says nothing of other refusals, or of a reference the configuration does not name', () => {
    const bare = { ...spec, config: { ...spec.config, keyName: undefined } };
    expect(whenReferenceVanished(spec, { code: 'InsufficientInstanceCapacity', message: 'no capacity' })).toBeUndefined();
    expect(whenReferenceVanished(bare, { code: 'InvalidKeyPair.NotFound', message: 'gone' })).toBeUndefined();
  });

  it('keeps the replacement within 50 tags: the new tag of the service goes before an operator tag, named as dropped', () => {
    // Prepare: at the limit already
    const full = relaunchSpec({
      failedInstanceId: 'i-0123456789abcdef0',
      lineage: 'web',
      imageId: 'ami-0123456789abcdef0',
      config,
      failedTags: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`cost-${String(i).padStart(2, '0')}`, 'x'])),
    });

    // Act
    const decision = whenReferenceVanished(full, { code: 'InvalidKeyPair.NotFound', message: 'gone' });

    // Assess
    if (decision?.action !== 'launch-without') throw new Error('expected a launch without the key');
    expect(Object.keys(decision.spec.tags)).toHaveLength(MAX_TAGS_PER_RESOURCE);
    expect(decision.spec.droppedTags).toEqual([...full.droppedTags, expect.stringMatching(/^cost-/)]);
  });
});
