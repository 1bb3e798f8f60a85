import { describe, expect, it } from 'vitest';
import {
  attemptToken,
  fallbacksOf,
  isCapacityError,
  launchAttempts,
  relaunchSpec,
  replacementToken,
  specForAttempt,
  type StoredLaunchConfig,
} from '../../../shared/domain/launch.js';
import { TAG } from '../../../shared/domain/tags.js';

const A = 'subnet-0aaaaaaaaaaaaaaaa';
const B = 'subnet-0bbbbbbbbbbbbbbbb';
const C = 'subnet-0cccccccccccccccc';
const FAILED = 'i-0123456789abcdef0';

const config: StoredLaunchConfig = {
  instanceType: 't3.small',
  subnetId: A,
  securityGroupIds: ['sg-0bbbbbbbbbbbbbbbb'],
  ebsOptimized: false,
  monitoring: false,
  tags: {},
};

describe('launchAttempts', () => {
  it('orders: the captured subnet and type, the other subnets with the captured type, then each fallback type subnet by subnet', () => {
    // Act
    const attempts = launchAttempts({
      lineage: 'web',
      failedInstanceId: FAILED,
      subnetId: A,
      instanceType: 't3.small',
      fallbacks: { subnets: [B, A, C], instanceTypes: ['m5.large', 't3.small', 'c5.large'] },
    });

    // Assess: the captured subnet and type named again in the tags are not tried twice
    expect(attempts.map((a) => `${a.subnetId}|${a.instanceType}`)).toEqual([
      `${A}|t3.small`,
      `${B}|t3.small`,
      `${C}|t3.small`,
      `${A}|m5.large`,
      `${B}|m5.large`,
      `${C}|m5.large`,
      `${A}|c5.large`,
      `${B}|c5.large`,
      `${C}|c5.large`,
    ]);
  });

  it('gives the first attempt the token replacements always had, and every other a token of its own, deterministic and within 64 characters', () => {
    // Act
    const input = { lineage: 'web', failedInstanceId: FAILED, subnetId: A, instanceType: 't3.small' };
    const fallbacks = { subnets: [B], instanceTypes: ['m5.large'] };
    const attempts = launchAttempts({ ...input, fallbacks });
    const again = launchAttempts({ ...input, fallbacks });
    const otherFailure = launchAttempts({ ...input, failedInstanceId: 'i-0ffffffffffffffff', fallbacks });

    // Assess
    expect(attempts[0]!.clientToken).toBe(replacementToken('web', FAILED));
    expect(attempts[1]!.clientToken).toBe(attemptToken('web', FAILED, B, 't3.small'));
    expect(new Set(attempts.map((a) => a.clientToken)).size).toBe(attempts.length);
    expect(again).toEqual(attempts);
    for (const [i, a] of otherFailure.entries()) expect(a.clientToken).not.toBe(attempts[i]!.clientToken);
    for (const a of attempts) expect(a.clientToken).toMatch(/^[\x20-\x7e]{1,64}$/);
  });

  it('keeps only the subnets a pinned zone allows', () => {
    // Act
    const attempts = launchAttempts({
      lineage: 'web',
      failedInstanceId: FAILED,
      subnetId: A,
      instanceType: 't3.small',
      fallbacks: { subnets: [B, C], instanceTypes: ['m5.large'] },
      allowSubnet: (s) => s !== B,
    });

    // Assess
    expect(attempts.map((a) => `${a.subnetId}|${a.instanceType}`)).toEqual([
      `${A}|t3.small`,
      `${C}|t3.small`,
      `${A}|m5.large`,
      `${C}|m5.large`,
    ]);
  });
});

describe('fallbacksOf', () => {
  it('reads both comma lists in order, trims, drops repeats and reports what is neither a subnet id nor an instance type', () => {
    // Act
    const f = fallbacksOf({ [TAG.subnets]: ` ${B}, ${C},${B},,subnet-xyz`, [TAG.fallbackTypes]: 'm5.large, M5.LARGE ,c5.large' });

    // Assess
    expect(f).toEqual({
      subnets: [B, C],
      instanceTypes: ['m5.large', 'c5.large'],
      problems: [`${TAG.subnets}: subnet-xyz is not a subnet id`, `${TAG.fallbackTypes}: M5.LARGE is not an instance type`],
    });
  });

  it('is empty for an instance without the tags', () => {
    expect(fallbacksOf({})).toEqual({ subnets: [], instanceTypes: [], problems: [] });
  });
});

describe('relaunchSpec and specForAttempt', () => {
  it('carries the attempts only for a lineage that names fallbacks (the captured tags, when the instance is gone)', () => {
    // Act
    const plain = relaunchSpec({ failedInstanceId: FAILED, lineage: 'web', imageId: 'ami-1', config, failedTags: undefined });
    const tagged = relaunchSpec({
      failedInstanceId: FAILED,
      lineage: 'web',
      imageId: 'ami-1',
      config: { ...config, tags: { [TAG.subnets]: B } },
      failedTags: undefined,
    });

    // Assess
    expect(plain).not.toHaveProperty('attempts');
    expect(tagged.attempts?.map((a) => a.subnetId)).toEqual([A, B]);
    expect(tagged.fallbackProblems).toEqual([]);
  });

  it('puts the subnet, type and token of the attempt in the spec; a launch without a vanished reference keeps that in its token', () => {
    // Prepare
    const spec = relaunchSpec({ failedInstanceId: FAILED, lineage: 'web', imageId: 'ami-1', config, failedTags: { [TAG.subnets]: B } });
    const attempt = spec.attempts![1]!;

    // Act
    const plain = specForAttempt(spec, attempt);
    const lacking = specForAttempt({ ...spec, tags: { ...spec.tags, [TAG.launchedWithout]: 'key pair ops' } }, attempt);

    // Assess
    expect(plain.config).toMatchObject({ subnetId: B, instanceType: 't3.small' });
    expect(plain.clientToken).toBe(attempt.clientToken);
    expect(lacking.clientToken).not.toBe(attempt.clientToken);
    expect(lacking.clientToken.length).toBeLessThanOrEqual(64);
  });
});

describe('isCapacityError', () => {
  it.each([
    [{ code: 'InsufficientInstanceCapacity', message: 'We currently do not have sufficient t3.small capacity' }, true],
    [
      {
        code: 'Unsupported',
        message:
          'Your requested instance type (t2.micro) is not supported in your requested Availability Zone (sa-east-1b). ' +
          'Please retry your request by not specifying an Availability Zone or choosing sa-east-1a, sa-east-1c.',
      },
      true,
    ],
    [{ code: 'Unsupported', message: 'The requested configuration is currently not supported.' }, false],
    [{ code: 'InvalidParameterValue', message: 'Invalid value for instanceType' }, false],
    [{ code: 'InstanceLimitExceeded', message: 'You have requested more instances than your current instance limit' }, false],
  ])('%o: %s', (error, expected) => {
    expect(isCapacityError(error)).toBe(expected);
  });
});
