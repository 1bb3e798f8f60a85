/**
 * The fuller configuration in the domain (issue 14): every setting the listing shows changes the
 * digest (so a change is captured at the next bake, and nothing else costs a call), the settings
 * read at capture never do, and the replacement asks for the old private IP only when allowed.
 */
import { describe, expect, it } from 'vitest';
import { captureOf, type InstanceSummary } from '../../../shared/domain/bake.js';
import {
  configDigest,
  relaunchSpec,
  whenReferenceVanished,
  type LaunchConfig,
  type StoredLaunchConfig,
} from '../../../shared/domain/launch.js';
import { planRecovery } from '../../../shared/domain/recovery.js';
import { TAG } from '../../../shared/domain/tags.js';

const LAUNCHED = new Date('2026-11-20T08:30:00.000Z');
const base: LaunchConfig = {
  instanceType: 'c7i.large',
  subnetId: 'subnet-0a',
  securityGroupIds: ['sg-0a'],
  ebsOptimized: false,
  monitoring: false,
  metadataOptions: { httpTokens: 'required' },
  tags: { Name: 'nat', [TAG.bake]: 'nightly' },
  privateIpAddress: '10.0.1.10',
  cpuOptions: { coreCount: 1, threadsPerCore: 2 },
};
const summary = (launch: LaunchConfig, tags: Record<string, string> = base.tags): InstanceSummary => ({
  instanceId: 'i-0123456789abcdef0',
  state: 'running',
  tags,
  launchTime: LAUNCHED,
  launch,
});

describe('the digest of the fuller configuration', () => {
  const nic = { deviceIndex: 1, subnetId: 'subnet-0b', securityGroupIds: ['sg-0b'] };
  const changes: Array<[string, Partial<LaunchConfig>]> = [
    ['source/dest check off', { sourceDestCheck: false }],
    ['CPU options', { cpuOptions: { coreCount: 2, threadsPerCore: 1 } }],
    ['placement group', { placement: { groupName: 'pg' } }],
    ['partition', { placement: { groupName: 'pg', partitionNumber: 3 } }],
    ['tenancy', { placement: { tenancy: 'dedicated' } }],
    ['host affinity', { placement: { affinity: 'host', hostId: 'h-01' } }],
    ['hibernation', { hibernation: true }],
    ['IPv6 on the instance metadata service', { metadataOptions: { httpTokens: 'required', httpProtocolIpv6: 'enabled' } }],
    ['a secondary interface', { networkInterfaces: [{ deviceIndex: 0, subnetId: 'subnet-0a', securityGroupIds: ['sg-0a'] }, nic] }],
    [
      'a secondary private IP',
      {
        networkInterfaces: [
          { deviceIndex: 0, subnetId: 'subnet-0a', securityGroupIds: ['sg-0a'], secondaryPrivateIpAddresses: ['10.0.1.11'] },
        ],
      },
    ],
    [
      'IPv6 addresses',
      { networkInterfaces: [{ deviceIndex: 0, subnetId: 'subnet-0a', securityGroupIds: ['sg-0a'], ipv6AddressCount: 1 }] },
    ],
    ['the private IP', { privateIpAddress: '10.0.1.12' }],
    ['spot', { spot: { requestId: 'sir-01' } }],
  ];

  it.each(changes)('changes with %s, so the next bake captures it', (_what, change) => {
    // Prepare
    const digest = captureOf(summary(base), 'nat')!.digest;

    // Act
    const capture = captureOf(summary({ ...base, ...change }, { ...base.tags, [TAG.captured]: digest }), 'nat');

    // Assess
    expect(capture).toBeDefined();
    expect(capture!.digest).not.toBe(digest);
  });

  it('is stable for the same fuller configuration in any order of its interfaces and groups', () => {
    const a: LaunchConfig = {
      ...base,
      networkInterfaces: [
        { deviceIndex: 0, subnetId: 'subnet-0a', securityGroupIds: ['sg-0a', 'sg-0c'] },
        { deviceIndex: 1, subnetId: 'subnet-0b', securityGroupIds: ['sg-0b'] },
      ],
      placement: { groupName: 'pg', partitionNumber: 2 },
    };
    const b: LaunchConfig = {
      ...a,
      networkInterfaces: [
        { deviceIndex: 1, subnetId: 'subnet-0b', securityGroupIds: ['sg-0b'] },
        { deviceIndex: 0, subnetId: 'subnet-0a', securityGroupIds: ['sg-0c', 'sg-0a'] },
      ],
      placement: { partitionNumber: 2, groupName: 'pg' },
    };
    expect(configDigest(a, LAUNCHED)).toBe(configDigest(b, LAUNCHED));
  });

  it('leaves the digest of a configuration without the new settings as it was (no recapture from a field left unset)', () => {
    const earlier: LaunchConfig = { instanceType: 't3.micro', securityGroupIds: [], ebsOptimized: false, monitoring: false, tags: {} };
    expect(configDigest({ ...earlier, placement: undefined, spot: undefined, networkInterfaces: undefined })).toBe(configDigest(earlier));
  });
});

describe('relaunchSpec: the primary private IP', () => {
  const config: StoredLaunchConfig = { ...base };
  const spec = (keepPrivateIp?: { wanted: boolean; failedHoldsIt: boolean }, c: StoredLaunchConfig = config) =>
    relaunchSpec({ failedInstanceId: 'i-0f', lineage: 'nat', imageId: 'ami-01', config: c, failedTags: undefined, keepPrivateIp });

  it('is asked for only when wanted and the failed instance no longer holds it', () => {
    expect(spec({ wanted: true, failedHoldsIt: false }).keepPrivateIp).toBe(true);
    expect(spec({ wanted: true, failedHoldsIt: true }).keepPrivateIp).toBe(false);
    expect(spec({ wanted: false, failedHoldsIt: false }).keepPrivateIp).toBe(false);
    expect(spec(undefined).keepPrivateIp).toBe(false);
  });

  it('is never asked for when none was captured (an earlier capture)', () => {
    const { privateIpAddress: _ip, ...earlier } = config;
    expect(spec({ wanted: true, failedHoldsIt: false }, earlier).keepPrivateIp).toBe(false);
  });
});

describe('planRecovery: whether the failed instance still holds its private IP', () => {
  const image = {
    imageId: 'ami-01',
    name: 'nat-1',
    state: 'available',
    creationDate: '2026-11-25T03:00:00.000Z',
    tags: { [TAG.managedBy]: 'stack', [TAG.lineage]: 'nat', [TAG.status]: 'good', [TAG.sourceInstance]: 'i-0123456789abcdef0' },
    sourceInstanceId: 'i-0123456789abcdef0',
    snapshotIds: [],
  };
  const settings = {
    maxRelaunchesPerHour: 3,
    crashLoopGraceMinutes: 30,
    instanceCheckWaitMinutes: 15,
    bakeRebootWindowMinutes: 20,
    keepPrivateIp: true,
  };
  const plan = (instance: InstanceSummary | undefined) =>
    planRecovery({
      signal: { kind: 'manual', instanceId: 'i-0123456789abcdef0' },
      instance,
      lineage: 'nat',
      tags: { ...base.tags, [TAG.recover]: 'always', [TAG.lineage]: 'nat' },
      images: [image],
      lineageInstances: [],
      config: { ...base },
      settings,
      now: new Date('2026-11-26T03:00:00.000Z'),
    });
  const keeps = (p: ReturnType<typeof plan>) => (p.action === 'relaunch' ? p.spec.keepPrivateIp : `no relaunch: ${p.action}`);

  it('asks for it when the instance is gone or terminated, never while it is stopped', () => {
    expect(keeps(plan(undefined))).toBe(true);
    expect(keeps(plan({ ...summary(base), state: 'terminated' }))).toBe(true);
    expect(keeps(plan({ ...summary(base), state: 'stopped' }))).toBe(false);
  });
});

describe('whenReferenceVanished: a placement group deleted since the bake', () => {
  const spec = relaunchSpec({
    failedInstanceId: 'i-0f',
    lineage: 'nat',
    imageId: 'ami-01',
    config: { ...base, placement: { groupName: 'nat-pg', partitionNumber: 2, tenancy: 'dedicated' } },
    failedTags: undefined,
  });

  it('launches without the group and its partition (no access is widened), keeps the tenancy, and says so', () => {
    // Act
    const answer = whenReferenceVanished(spec, {
      code: 'InvalidPlacementGroup.Unknown',
      message: "The placement group 'nat-pg' is unknown.",
    });

    // Assess
    expect(answer).toMatchObject({ action: 'launch-without', what: 'placement group nat-pg' });
    const next = answer?.action === 'launch-without' ? answer.spec : undefined;
    expect(next?.config.placement).toEqual({ tenancy: 'dedicated' });
    expect(next?.tags[TAG.launchedWithout]).toBe('placement group nat-pg');
    expect(next?.clientToken).not.toBe(spec.clientToken);
  });

  it('says nothing when no group was captured', () => {
    const none = { ...spec, config: { ...spec.config, placement: undefined } };
    expect(whenReferenceVanished(none, { code: 'InvalidPlacementGroup.Unknown', message: '' })).toBeUndefined();
  });
});
