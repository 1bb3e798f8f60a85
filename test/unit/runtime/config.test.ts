import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig, loadVerifySettings } from '../../../shared/runtime/config.js';
import { ConfigError } from '../../../shared/runtime/errors.js';

const valid = { MANAGED_BY: 'ami-lifecycle-prod', EVENT_BUS_NAME: 'ami-lifecycle-prod', SCHEDULES: 'nightly,weekly' };

/** Rotation settings when the environment names none. */
const ROTATION_DEFAULTS = {
  defaultRetention: { kind: 'count', count: 7 },
  timeZone: 'UTC',
  failedGraceDays: 3,
  deprecateAfterDays: undefined,
  dryRun: false,
  orphanGraceHours: 24,
  promoteRollbackDepth: 1,
};

const RECOVERY_DEFAULTS = {
  maxRelaunchesPerHour: 3,
  crashLoopGraceMinutes: 30,
  instanceCheckWaitMinutes: 15,
  bakeRebootWindowMinutes: 20,
  terminateReplaced: false,
  dryRun: false,
  keepPrivateIp: false,
  runningWaitSeconds: 180,
};

/** The ConfigError loadConfig throws for `env`; fails the test when it does not throw one. */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('loadConfig accepted an invalid configuration');
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('loadConfig', () => {
  it('reads a valid environment', () => {
    // Act
    const config = loadConfig(valid);

    // Assess
    expect(config).toEqual({
      managedBy: 'ami-lifecycle-prod',
      eventBusName: 'ami-lifecycle-prod',
      schedules: ['nightly', 'weekly'],
      copyTags: { kind: 'none' },
      verifyDefault: 'off',
      rotation: ROTATION_DEFAULTS,
      recovery: RECOVERY_DEFAULTS,
      copies: { copyTo: [], maxConcurrent: 100, drRegions: {}, homeRegion: undefined },
      adoption: { filters: [], invalid: [] },
    });
  });

  it('trims schedule names and drops empty members', () => {
    // Prepare
    const env = { ...valid, SCHEDULES: ' nightly , weekly ,, ' };

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config.schedules).toEqual(['nightly', 'weekly']);
  });

  it('ignores variables it does not know', () => {
    // Prepare
    const env = { ...valid, PATH: '/usr/bin', AWS_REGION: 'eu-west-3' };

    // Act
    const config = loadConfig(env);

    // Assess
    expect(Object.keys(config).sort()).toEqual([
      'adoption',
      'copies',
      'copyTags',
      'eventBusName',
      'managedBy',
      'recovery',
      'rotation',
      'schedules',
      'verifyDefault',
    ]);
  });

  it('accepts a 32-character stack name and refuses 33', () => {
    // Prepare
    const ok = { ...valid, MANAGED_BY: `a${'b'.repeat(31)}` };
    const tooLong = { ...valid, MANAGED_BY: `a${'b'.repeat(32)}` };

    // Act
    const config = loadConfig(ok);
    const error = configError(tooLong);

    // Assess
    expect(config.managedBy).toHaveLength(32);
    expect(error.message).toMatch(/MANAGED_BY: 1-32 letters, digits or dashes/);
  });

  it('reads process.env by default', () => {
    // Prepare
    vi.stubEnv('MANAGED_BY', 'from-process-env');
    vi.stubEnv('EVENT_BUS_NAME', 'bus');
    vi.stubEnv('SCHEDULES', 'nightly');
    vi.stubEnv('AWS_REGION', '');

    // Act
    const config = loadConfig();

    // Assess
    expect(config).toEqual({
      managedBy: 'from-process-env',
      eventBusName: 'bus',
      schedules: ['nightly'],
      copyTags: { kind: 'none' },
      verifyDefault: 'off',
      rotation: ROTATION_DEFAULTS,
      recovery: RECOVERY_DEFAULTS,
      copies: { copyTo: [], maxConcurrent: 100, drRegions: {}, homeRegion: process.env.AWS_REGION || undefined },
      adoption: { filters: [], invalid: [] },
    });
  });

  // Issue 17: the destination regions of the copies (copyTo, drRegions), and the stack's own (AWS_REGION).
  it('reads COPY_TO, DR_REGIONS and AWS_REGION', () => {
    // Act
    const config = loadConfig({
      ...valid,
      AWS_REGION: 'us-east-1',
      COPY_TO: ' eu-west-1 , ap-southeast-2 ,',
      DR_REGIONS: '{"eu-west-1":{"subnetId":"subnet-0123456789abcdef0","securityGroupIds":["sg-0123456789abcdef0"],"kmsKeyId":"alias/dr"}}',
    });

    // Assess
    expect(config.copies.homeRegion).toBe('us-east-1');
    expect(config.copies.copyTo).toEqual(['ap-southeast-2', 'eu-west-1']);
    expect(config.copies.drRegions).toEqual({
      'eu-west-1': { subnetId: 'subnet-0123456789abcdef0', securityGroupIds: ['sg-0123456789abcdef0'], kmsKeyId: 'alias/dr' },
    });
  });

  it.each([
    ['COPY_TO', 'eu-west-1,not a region'],
    ['DR_REGIONS', '{"eu-west-1":'],
    ['DR_REGIONS', '{"Europe":{}}'],
    ['DR_REGIONS', '{"eu-west-1":{"securityGroupIds":"sg-1"}}'],
  ])('refuses %s=%j, naming it', (name, value) => {
    expect(configError({ ...valid, [name]: value }).message).toContain(name);
  });

  it.each([
    ['', { kind: 'none' }],
    ['none', { kind: 'none' }],
    ['*', { kind: 'all' }],
    [' CostCenter , Team ', { kind: 'keys', keys: ['CostCenter', 'Team'] }],
  ])('reads COPY_TAGS %j', (value, expected) => {
    expect(loadConfig({ ...valid, COPY_TAGS: value }).copyTags).toEqual(expected);
  });

  it('refuses a COPY_TAGS it cannot read, naming it', () => {
    expect(() => loadConfig({ ...valid, COPY_TAGS: 'aws:cloudformation:stack-name' })).toThrow(/COPY_TAGS: never copied/);
  });

  it.each([
    ['MANAGED_BY missing', { MANAGED_BY: undefined }, /MANAGED_BY: /],
    ['MANAGED_BY with a space', { MANAGED_BY: 'has space' }, /MANAGED_BY: 1-32 letters, digits or dashes/],
    ['MANAGED_BY starting with a dash', { MANAGED_BY: '-stack' }, /MANAGED_BY: 1-32/],
    ['MANAGED_BY with a slash (would break AMI names)', { MANAGED_BY: 'a/b' }, /MANAGED_BY: 1-32/],
    ['MANAGED_BY empty', { MANAGED_BY: '' }, /MANAGED_BY: 1-32/],
    ['EVENT_BUS_NAME missing', { EVENT_BUS_NAME: undefined }, /EVENT_BUS_NAME: /],
    ['EVENT_BUS_NAME empty', { EVENT_BUS_NAME: '' }, /EVENT_BUS_NAME: /],
    ['SCHEDULES missing', { SCHEDULES: undefined }, /SCHEDULES: /],
    ['SCHEDULES empty', { SCHEDULES: '' }, /SCHEDULES: at least one schedule/],
    ['SCHEDULES only commas', { SCHEDULES: ' , ,' }, /SCHEDULES: at least one schedule/],
    ['SCHEDULES with a bad name', { SCHEDULES: 'nightly,Weekly' }, /SCHEDULES\.1: a schedule name is 1-24 lower-case letters/],
  ])('names the variable when %s', (_label, change, message) => {
    // Prepare
    const env = { ...valid, ...change };

    // Act
    const error = configError(env);

    // Assess
    expect(error.name).toBe('ConfigError');
    expect(error.message).toMatch(/^invalid configuration: /);
    expect(error.message).toMatch(message);
  });

  it('lists every problem at once', () => {
    // Act
    const error = configError({});

    // Assess
    for (const name of ['MANAGED_BY', 'EVENT_BUS_NAME', 'SCHEDULES']) expect(error.message).toContain(`${name}: `);
    expect(error.message.split('; ')).toHaveLength(3);
  });
});

describe('loadConfig: rotation settings', () => {
  it('reads every rotation variable', () => {
    // Prepare
    const env = {
      ...valid,
      DEFAULT_RETAIN: 'daily=7,weekly=4',
      TIMEZONE: 'Europe/Paris',
      FAILED_GRACE_DAYS: '5',
      DEPRECATE_AFTER_DAYS: '30',
      ORPHAN_GRACE_HOURS: '48',
      DRY_RUN: 'true',
    };

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config.rotation).toEqual({
      defaultRetention: { kind: 'tiers', tiers: { daily: 7, weekly: 4 } },
      timeZone: 'Europe/Paris',
      failedGraceDays: 5,
      deprecateAfterDays: 30,
      dryRun: true,
      orphanGraceHours: 48,
      promoteRollbackDepth: 1,
    });
  });

  it.each([
    ['14d', { kind: 'age', days: 14 }],
    [' 3 ', { kind: 'count', count: 3 }],
  ])('reads DEFAULT_RETAIN %j', (value, expected) => {
    // Act
    const config = loadConfig({ ...valid, DEFAULT_RETAIN: value });

    // Assess
    expect(config.rotation.defaultRetention).toEqual(expected);
  });

  it.each(['', '0'])('turns deprecation off for DEPRECATE_AFTER_DAYS %j', (value) => {
    // Act
    const config = loadConfig({ ...valid, DEPRECATE_AFTER_DAYS: value });

    // Assess
    expect(config.rotation.deprecateAfterDays).toBeUndefined();
  });

  it.each([
    ['', false],
    ['false', false],
    ['true', true],
  ])('reads DRY_RUN %j as %s', (value, expected) => {
    // Act
    const config = loadConfig({ ...valid, DRY_RUN: value });

    // Assess
    expect(config.rotation.dryRun).toBe(expected);
  });

  it('accepts a grace period of 0 when asked for one', () => {
    // Act
    const config = loadConfig({ ...valid, FAILED_GRACE_DAYS: '0', ORPHAN_GRACE_HOURS: '0' });

    // Assess
    expect(config.rotation).toMatchObject({ failedGraceDays: 0, orphanGraceHours: 0 });
  });

  it.each([
    ['DEFAULT_RETAIN 0', { DEFAULT_RETAIN: '0' }, /DEFAULT_RETAIN: a count must be 1-1000/],
    ['DEFAULT_RETAIN unreadable', { DEFAULT_RETAIN: 'forever' }, /DEFAULT_RETAIN: expected a count/],
    ['TIMEZONE unknown', { TIMEZONE: 'Mars/Olympus_Mons' }, /TIMEZONE: not an IANA time zone/],
    ['FAILED_GRACE_DAYS negative', { FAILED_GRACE_DAYS: '-1' }, /FAILED_GRACE_DAYS: /],
    ['FAILED_GRACE_DAYS not a number', { FAILED_GRACE_DAYS: 'three' }, /FAILED_GRACE_DAYS: /],
    ['FAILED_GRACE_DAYS fractional', { FAILED_GRACE_DAYS: '1.5' }, /FAILED_GRACE_DAYS: /],
    ['DEPRECATE_AFTER_DAYS not a number', { DEPRECATE_AFTER_DAYS: 'soon' }, /DEPRECATE_AFTER_DAYS: /],
    ['DEPRECATE_AFTER_DAYS fractional', { DEPRECATE_AFTER_DAYS: '1.5' }, /DEPRECATE_AFTER_DAYS: /],
    ['ORPHAN_GRACE_HOURS negative', { ORPHAN_GRACE_HOURS: '-2' }, /ORPHAN_GRACE_HOURS: /],
    ['DRY_RUN yes', { DRY_RUN: 'yes' }, /DRY_RUN: /],
  ])('names the variable when %s', (_label, change, message) => {
    // Act
    const error = configError({ ...valid, ...change });

    // Assess
    expect(error.message).toMatch(message);
  });

  // Regression (fixed): FAILED_GRACE_DAYS and ORPHAN_GRACE_HOURS go through z.coerce.number, which reads '' (and '  ')
  // as 0. serverless.yml passes `${param:failedGraceDays}`, so a param set to '' (the way
  // deprecateAfterDays is turned off) silently means "no grace": failed images are deleted on the next
  // rotation, and an empty ORPHAN_GRACE_HOURS lets the sweep take the snapshots of an image still being
  // created. DEPRECATE_AFTER_DAYS and DRY_RUN treat '' as their default. Fix: preprocess '' (trimmed) to
  // undefined before coercing, so the default applies (or refuse it with a clear message).
  it.each([
    ['FAILED_GRACE_DAYS', 'failedGraceDays', 3],
    ['ORPHAN_GRACE_HOURS', 'orphanGraceHours', 24],
  ] as const)('reads an empty %s as its default, not as 0', (variable, key, expected) => {
    // Act
    const config = loadConfig({ ...valid, [variable]: '' });

    // Assess
    expect(config.rotation[key]).toBe(expected);
  });
});

describe('loadConfig: blank rotation settings', () => {
  it('reads a blank DEFAULT_RETAIN and TIMEZONE as their defaults, as serverless.yml passes an empty param', () => {
    // Act
    const config = loadConfig({ ...valid, DEFAULT_RETAIN: '', TIMEZONE: '  ' });

    // Assess
    expect(config.rotation.defaultRetention).toEqual({ kind: 'count', count: 7 });
    expect(config.rotation.timeZone).toBe('UTC');
  });
});

describe('loadConfig: recoveryKeepPrivateIp', () => {
  const env = { MANAGED_BY: 'ami-lifecycle-test', EVENT_BUS_NAME: 'ami-lifecycle-test', SCHEDULES: 'nightly' };
  it("is off unless RECOVERY_KEEP_PRIVATE_IP is 'true'", () => {
    expect(loadConfig(env).recovery.keepPrivateIp).toBe(false);
    expect(loadConfig({ ...env, RECOVERY_KEEP_PRIVATE_IP: 'true' }).recovery.keepPrivateIp).toBe(true);
    expect(loadConfig({ ...env, RECOVERY_KEEP_PRIVATE_IP: 'false' }).recovery.keepPrivateIp).toBe(false);
  });
});

describe('loadVerifySettings', () => {
  const network = { VERIFY_SUBNET_ID: 'subnet-0123456789abcdef0', VERIFY_SECURITY_GROUP_ID: 'sg-0123456789abcdef0' };

  it('is not configured until both the subnet and the security group are set', () => {
    expect(loadVerifySettings({})).toEqual({ notConfigured: expect.stringContaining('verifySubnetId and verifySecurityGroupId') });
    expect(loadVerifySettings({ VERIFY_SUBNET_ID: network.VERIFY_SUBNET_ID })).toHaveProperty('notConfigured');
  });

  it('reads the defaults, and a command with its parameters', () => {
    expect(loadVerifySettings(network)).toEqual({
      subnetId: network.VERIFY_SUBNET_ID,
      securityGroupId: network.VERIFY_SECURITY_GROUP_ID,
      instanceType: undefined,
      timeoutMinutes: 20,
      maxConcurrent: 2,
      instanceProfile: false,
    });
    expect(
      loadVerifySettings({ ...network, VERIFY_COMMAND_DOCUMENT: 'AWS-RunShellScript', VERIFY_COMMAND_PARAMETERS: '{"commands":["true"]}' }),
    ).toMatchObject({ command: { document: 'AWS-RunShellScript', parameters: { commands: ['true'] } } });
  });

  it('refuses a timeout or a concurrency out of range, and parameters that are not a JSON object of string lists', () => {
    expect(() => loadVerifySettings({ ...network, VERIFY_TIMEOUT_MINUTES: '4' })).toThrow(/VERIFY_TIMEOUT_MINUTES/);
    expect(loadVerifySettings({ ...network, VERIFY_TIMEOUT_MINUTES: '5' })).toMatchObject({ timeoutMinutes: 5 });
    expect(() => loadVerifySettings({ ...network, VERIFY_MAX_CONCURRENT: '0' })).toThrow(/VERIFY_MAX_CONCURRENT/);
    expect(() => loadVerifySettings({ ...network, VERIFY_COMMAND_PARAMETERS: '{"commands":"true"}' })).toThrow(/VERIFY_COMMAND_PARAMETERS/);
    expect(() => loadVerifySettings({ ...network, VERIFY_COMMAND_PARAMETERS: 'not json' })).toThrow(/VERIFY_COMMAND_PARAMETERS: not JSON/);
  });

  describe('ADOPT_FILTERS (issue 19)', () => {
    it("reads each entry as adopt's filters, with adopt's defaults: older than 90 days, no shared image", () => {
      // Prepare
      const env = {
        ...valid,
        ADOPT_FILTERS: JSON.stringify([
          { name: 'packer-*', tags: { team: 'web' }, olderThan: '12w', retain: ' 3 ', lineage: 'adopted/web' },
          { tags: { legacy: 'true' }, olderThan: 30, includeShared: true },
          {},
        ]),
      };

      // Act
      const { adoption } = loadConfig(env);

      // Assess
      expect(adoption).toEqual({
        invalid: [],
        filters: [
          {
            index: 0,
            filters: { name: 'packer-*', tags: { team: 'web' }, olderThanDays: 84, includeShared: false },
            retain: '3',
            lineage: 'adopted/web',
          },
          { index: 1, filters: { name: undefined, tags: { legacy: 'true' }, olderThanDays: 30, includeShared: true } },
          { index: 2, filters: { name: undefined, tags: {}, olderThanDays: 90, includeShared: false } },
        ],
      });
    });

    it.each(['', '[]', '  '])('is off for %j', (value) => {
      expect(loadConfig({ ...valid, ADOPT_FILTERS: value }).adoption).toEqual({ filters: [], invalid: [] });
    });

    it('names each bad entry with its problems and keeps the good ones: a bad entry never stops the others', () => {
      // Prepare: a misspelt key, a bad age, a bad retention and lineage, not an object
      const env = {
        ...valid,
        ADOPT_FILTERS: JSON.stringify([
          { name: 'packer-*', olderthan: '30d' },
          { name: 'a-*', olderThan: 'ninety days' },
          { name: 'b-*' },
          { name: 'c-*', retain: 'forever', lineage: 'bad lineage' },
          'packer-*',
        ]),
      };

      // Act
      const { adoption } = loadConfig(env);

      // Assess
      expect(adoption.filters.map((f) => f.index)).toEqual([2]);
      expect(adoption.invalid.map((i) => i.index)).toEqual([0, 1, 3, 4]);
      const problems = (index: number) => adoption.invalid.find((i) => i.index === index)!.problems.join('; ');
      expect(problems(0)).toMatch(/olderthan/);
      expect(problems(1)).toMatch(/olderThan: 'ninety days' is not an age/);
      expect(problems(3)).toMatch(/retain: not a retention/);
      expect(problems(3)).toMatch(/lineage: 1-48 letters/);
      expect(problems(4)).toMatch(/expected object/i);
    });

    it.each([
      ['not JSON', '[{"name":'],
      ['not a list', '{"name":"packer-*"}'],
      ['too many entries', JSON.stringify(Array.from({ length: 21 }, () => ({})))],
    ])('refuses ADOPT_FILTERS %s, naming it: nothing can be read from it', (_, value) => {
      expect(configError({ ...valid, ADOPT_FILTERS: value }).message).toContain('ADOPT_FILTERS');
    });
  });
});
