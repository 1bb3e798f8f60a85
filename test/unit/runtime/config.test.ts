import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../../shared/runtime/config.js';
import { ConfigError } from '../../../shared/runtime/errors.js';

const valid = { MANAGED_BY: 'ami-lifecycle-prod', EVENT_BUS_NAME: 'ami-lifecycle-prod', SCHEDULES: 'nightly,weekly' };

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
    expect(config).toEqual({ managedBy: 'ami-lifecycle-prod', eventBusName: 'ami-lifecycle-prod', schedules: ['nightly', 'weekly'] });
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
    expect(Object.keys(config).sort()).toEqual(['eventBusName', 'managedBy', 'schedules']);
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

    // Act
    const config = loadConfig();

    // Assess
    expect(config).toEqual({ managedBy: 'from-process-env', eventBusName: 'bus', schedules: ['nightly'] });
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
