/**
 * Relaunch in another region (issue 17), the pure part: what the DR capture keeps of the home
 * capture, which copies may be launched from, the RunInstances request in R with the map and the
 * CLI's overrides, what could not follow, and the refusals that launch nothing.
 */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import {
  captureDigestOf,
  copyNotOurs,
  decodeLeftBehind,
  drCaptureOf,
  drLaunch,
  drRelaunchToken,
  DrRegions,
  encodeLeftBehind,
  newestGoodCopy,
  type DrLaunchInput,
} from '../../../shared/domain/dr-launch.js';
import type { ImageView } from '../../../shared/domain/image-status.js';
import type { StoredLaunchConfig } from '../../../shared/domain/launch.js';
import { TAG } from '../../../shared/domain/tags.js';

const STACK = 'ami-lifecycle-dev';
const HOME = 'us-east-1';
const R = 'eu-west-1';
const PROFILE = 'arn:aws:iam::123456789012:instance-profile/web';

/** A home capture with every region-bound reference there is. */
const home: StoredLaunchConfig = {
  instanceType: 't3.small',
  subnetId: 'subnet-0aaa1111',
  securityGroupIds: ['sg-0aaa1111', 'sg-0bbb2222'],
  keyName: 'ops',
  iamInstanceProfileArn: PROFILE,
  ebsOptimized: true,
  monitoring: true,
  metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 },
  tags: { Name: 'web', team: 'blue', [TAG.bake]: 'nightly', [TAG.lineage]: 'web', [TAG.replaces]: 'i-0old' },
  cpuOptions: { coreCount: 1, threadsPerCore: 1 },
  placement: { groupName: 'web-pg', partitionNumber: 2, tenancy: 'dedicated' },
  privateIpAddress: '10.0.1.10',
  networkInterfaces: [
    { deviceIndex: 0, subnetId: 'subnet-0aaa1111', securityGroupIds: ['sg-0aaa1111'], secondaryPrivateIpAddresses: ['10.0.1.11'] },
    { deviceIndex: 1, subnetId: 'subnet-0ccc3333', securityGroupIds: ['sg-0ccc3333'] },
  ],
  cpuCredits: 'unlimited',
  disableApiTermination: true,
  shutdownBehavior: 'stop',
  spot: { maxPrice: '0.05', spotInstanceType: 'one-time', interruptionBehavior: 'terminate' },
  userData: 'IyEvYmluL3NoCmVjaG8gaGk=',
};

const copy = (over: Partial<ImageView> & { tags?: Record<string, string> } = {}): ImageView => ({
  imageId: 'ami-0copy000000000001',
  name: 'web-nightly-2026-11-24',
  state: 'available',
  creationDate: '2026-11-24T03:20:00.000Z',
  snapshotIds: ['snap-0r'],
  sourceImageId: 'ami-0home00000000001',
  ...over,
  tags: {
    [TAG.managedBy]: STACK,
    [TAG.lineage]: 'web',
    [TAG.status]: 'good',
    [TAG.sourceImage]: 'ami-0home00000000001',
    [TAG.sourceRegion]: HOME,
    [TAG.sourceInstance]: 'i-0home',
    [TAG.slot]: '2026-11-24',
    ...over.tags,
  },
});

const input = (over: Partial<DrLaunchInput> = {}): DrLaunchInput => {
  const dr = drCaptureOf(home, '203.0.113.5');
  return {
    lineage: 'web',
    region: R,
    homeRegion: HOME,
    copy: copy(),
    capture: { from: 'dr', ...dr },
    entry: { subnetId: 'subnet-0e100001', securityGroupIds: ['sg-0e100001'], keyName: 'ops-eu' },
    overrides: {},
    ...over,
  };
};

describe('the DR capture', () => {
  it('keeps everything that is not bound to the home region', () => {
    const { config } = drCaptureOf(home);
    expect(config).toEqual({
      instanceType: 't3.small',
      securityGroupIds: [],
      iamInstanceProfileArn: PROFILE,
      ebsOptimized: true,
      monitoring: true,
      metadataOptions: { httpTokens: 'required', httpPutResponseHopLimit: 2 },
      tags: home.tags,
      cpuOptions: { coreCount: 1, threadsPerCore: 1 },
      placement: { tenancy: 'dedicated' },
      cpuCredits: 'unlimited',
      disableApiTermination: true,
      shutdownBehavior: 'stop',
      spot: home.spot,
      userData: home.userData,
    });
  });

  it('leaves out the subnet, groups, interfaces, key, placement group, host and addresses, and says which', () => {
    const { leftBehind } = drCaptureOf({ ...home, placement: { groupName: 'web-pg', tenancy: 'host', hostId: 'h-0abc' } }, '203.0.113.5');
    expect(leftBehind).toEqual({
      subnetId: 'subnet-0aaa1111',
      securityGroupIds: ['sg-0aaa1111', 'sg-0bbb2222'],
      keyName: 'ops',
      privateIpAddress: '10.0.1.10',
      placementGroup: 'web-pg',
      hostId: 'h-0abc',
      extraInterfaces: 1,
      secondaryAddresses: 1,
      elasticIp: '203.0.113.5',
    });
    // A host tenancy does not follow: there is no host in R.
    expect(drCaptureOf({ ...home, placement: { tenancy: 'host' } }).config.placement).toBeUndefined();
  });

  it('keeps what it left behind in one tag value of at most 256 characters, read back alike', () => {
    const { leftBehind } = drCaptureOf(home, '203.0.113.5');
    const value = encodeLeftBehind(leftBehind);
    expect(value.length).toBeLessThanOrEqual(256);
    expect(decodeLeftBehind(value)).toEqual(leftBehind);
    // A key name with spaces survives; too many groups are cut whole, the most useful kept.
    const many = {
      ...leftBehind,
      keyName: 'ops key',
      securityGroupIds: Array.from({ length: 40 }, (_, i) => `sg-0${String(i).padStart(7, '0')}`),
    };
    const cut = encodeLeftBehind(many);
    expect(cut.length).toBeLessThanOrEqual(256);
    expect(decodeLeftBehind(cut)).toEqual({ ...many, securityGroupIds: undefined });
    expect(decodeLeftBehind(undefined)).toEqual({});
  });

  it('reads the digest the bake keeps in its version description', () => {
    expect(captureDigestOf('captured at 2026-11-24T03:00:00.000Z (from i-0abc, digest 0123456789abcdef)')).toBe('0123456789abcdef');
    expect(captureDigestOf('made by hand')).toBeUndefined();
  });
});

describe('the copy a DR relaunch launches from', () => {
  it('is the newest good copy whose EC2 record names the image its tag names', () => {
    const older = copy({ imageId: 'ami-0copy000000000000', creationDate: '2026-11-23T03:20:00.000Z' });
    const pending = copy({ imageId: 'ami-0copy000000000009', creationDate: '2026-11-25T03:20:00.000Z', tags: { [TAG.status]: 'pending' } });
    const picked = newestGoodCopy([older, copy(), pending], STACK, HOME);
    expect(picked.copy?.imageId).toBe('ami-0copy000000000001');
    expect(picked.notOurs).toEqual([]);
  });

  it('is never a copy without provenance, however good its tags look', () => {
    const cases: Array<[ImageView, RegExp]> = [
      [copy({ sourceImageId: undefined }), /EC2 records no source image for it/],
      [copy({ sourceImageId: 'ami-0other0000000001' }), /made from ami-0other0000000001, not from ami-0home00000000001/],
      [copy({ tags: { [TAG.sourceImage]: '' } }), /no ami-lifecycle:source-image tag/],
      [copy({ tags: { [TAG.sourceRegion]: 'us-west-2' } }), /names us-west-2, not us-east-1/],
      [copy({ tags: { [TAG.managedBy]: 'someone-else' } }), /not managed by/],
    ];
    for (const [image, reason] of cases) {
      expect(copyNotOurs(image, STACK, HOME)).toMatch(reason);
      const picked = newestGoodCopy([image], STACK, HOME);
      expect(picked.copy).toBeUndefined();
      expect(picked.notOurs[0]?.reason).toMatch(reason);
    }
  });
});

describe('the launch in R', () => {
  it('maps the capture onto the region: the map’s subnet, groups, key; the captured profile; the copy; a token of its own', () => {
    const plan = drLaunch(input());
    if (!plan.ok) throw new Error(plan.reason);
    const c = plan.spec.config;
    expect(plan.spec.imageId).toBe('ami-0copy000000000001');
    expect(c.subnetId).toBe('subnet-0e100001');
    expect(c.securityGroupIds).toEqual(['sg-0e100001']);
    expect(c.keyName).toBe('ops-eu');
    expect(c.iamInstanceProfileArn).toBe(PROFILE);
    expect(c.networkInterfaces).toBeUndefined();
    expect(c.privateIpAddress).toBeUndefined();
    expect(c.placement).toEqual({ tenancy: 'dedicated' });
    expect(c.userData).toBe(home.userData);
    expect(c.metadataOptions).toEqual(home.metadataOptions);
    expect(plan.spec.keepPrivateIp).toBe(false);
    expect(plan.spec.clientToken).toBe(drRelaunchToken('web', 'ami-0copy000000000001', R));
    expect(plan.spec.clientToken.length).toBeLessThanOrEqual(64);
    // The lineage, and which copy it is a DR relaunch of; never recovery's bookkeeping of the home instance.
    expect(plan.spec.tags).toMatchObject({ Name: 'web', team: 'blue', [TAG.lineage]: 'web', [TAG.drRelaunchOf]: 'ami-0copy000000000001' });
    expect(plan.spec.tags[TAG.replaces]).toBeUndefined();
  });

  it('takes --subnet and --security-groups over the map, and the map’s instance profile by name or ARN', () => {
    const byName = drLaunch(
      input({
        entry: { subnetId: 'subnet-0e100001', securityGroupIds: ['sg-0e100001'], instanceProfile: 'web-dr' },
        overrides: { subnetId: 'subnet-0e100002', securityGroupIds: ['sg-0e100002', 'sg-0e100003'] },
      }),
    );
    if (!byName.ok) throw new Error(byName.reason);
    expect(byName.spec.config).toMatchObject({ subnetId: 'subnet-0e100002', securityGroupIds: ['sg-0e100002', 'sg-0e100003'] });
    expect(byName.spec.config.iamInstanceProfileName).toBe('web-dr');
    expect(byName.spec.config.iamInstanceProfileArn).toBeUndefined();
    const byArn = drLaunch(
      input({ entry: { subnetId: 'subnet-0e100001', securityGroupIds: ['sg-0e100001'], instanceProfile: `${PROFILE}-dr` } }),
    );
    expect(byArn.ok && byArn.spec.config.iamInstanceProfileArn).toBe(`${PROFILE}-dr`);
  });

  it('says plainly what could not follow', () => {
    const plan = drLaunch(
      input({
        entry: { subnetId: 'subnet-0e100001', securityGroupIds: ['sg-0e100001'] },
        copy: copy({ tags: { [TAG.excluded]: '/dev/sdf,/dev/sdg' } }),
      }),
    );
    if (!plan.ok) throw new Error(plan.reason);
    expect(plan.notFollowed).toEqual([
      'the Elastic IP 203.0.113.5: an Elastic IP cannot leave us-east-1; allocate one in eu-west-1 and point your DNS at it',
      expect.stringMatching(/^the data volumes at \/dev\/sdf, \/dev\/sdg: left out of the image .* restore them in eu-west-1/),
      "what changed since the image was baked (2026-11-24), and any volume attached since: the copy holds that bake's volumes only",
      'the private IP 10.0.1.10: an address of us-east-1; subnet-0e100001 gives another',
      '1 more network interface(s): launched with one, in subnet-0e100001',
      '1 secondary private address(es): not asked for',
      'the placement group web-pg: placement groups are regional; launched without one',
      expect.stringMatching(/^the key pair ops: key pairs are regional and drRegions\["eu-west-1"\] names none; launched without one/),
    ]);
    expect(plan.spec.config.keyName).toBeUndefined();
  });

  it('maps the home capture the same way when R has no DR capture', () => {
    const plan = drLaunch(input({ capture: { from: 'home', config: home, leftBehind: { elasticIp: '203.0.113.5' } } }));
    if (!plan.ok) throw new Error(plan.reason);
    const viaDr = drLaunch(input());
    if (!viaDr.ok) throw new Error(viaDr.reason);
    expect(plan.spec).toEqual(viaDr.spec);
    expect(plan.notFollowed).toEqual(viaDr.notFollowed);
  });

  it('launches nothing without a subnet, or without a security group, and says how to give one', () => {
    const noSubnet = drLaunch(input({ entry: undefined }));
    expect(noSubnet).toEqual({
      ok: false,
      code: 'NoSubnet',
      reason:
        'no subnet to launch into in eu-west-1: give --subnet, or set subnetId in the stage parameter drRegions["eu-west-1"]; nothing was launched',
    });
    const noGroups = drLaunch(input({ entry: { subnetId: 'subnet-0e100001' } }));
    expect(noGroups).toMatchObject({ ok: false, code: 'NoSecurityGroups' });
    expect(!noGroups.ok && noGroups.reason).toMatch(/give --security-groups/);
    // --subnet alone is not enough without groups; with both, no map entry is needed.
    expect(drLaunch(input({ entry: undefined, overrides: { subnetId: 'subnet-0e100009' } }))).toMatchObject({ code: 'NoSecurityGroups' });
    expect(drLaunch(input({ entry: undefined, overrides: { subnetId: 'subnet-0e100009', securityGroupIds: ['sg-0e100009'] } })).ok).toBe(
      true,
    );
  });
});

describe('the drRegions map', () => {
  it('takes region names and the documented fields only', () => {
    expect(
      v.safeParse(DrRegions, {
        [R]: { subnetId: 'subnet-0e100001', securityGroupIds: ['sg-0e100001'], instanceProfile: 'web', keyName: 'k', kmsKeyId: 'alias/dr' },
      }).success,
    ).toBe(true);
    expect(v.safeParse(DrRegions, { 'Europe (Ireland)': {} }).success).toBe(false);
    expect(v.safeParse(DrRegions, { [R]: { subnet: 'subnet-0e100001' } }).success).toBe(false);
    expect(v.safeParse(DrRegions, { [R]: { subnetId: 'sg-0e100001' } }).success).toBe(false);
  });
});
