/**
 * Fuzzing the configuration read at cold start: whatever a stage's parameters hold,
 * loading either yields settings within their documented ranges or fails with one
 * ConfigError naming every variable at fault, never another error.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { loadConfig } from '../../../shared/runtime/config.js';
import { ConfigError } from '../../../shared/runtime/errors.js';
import { fuzz, hugeString, retainValue } from './arbitraries.js';

const VARS = [
  'MANAGED_BY',
  'EVENT_BUS_NAME',
  'SCHEDULES',
  'DEFAULT_RETAIN',
  'TIMEZONE',
  'FAILED_GRACE_DAYS',
  'DEPRECATE_AFTER_DAYS',
  'ORPHAN_GRACE_HOURS',
  'RECOVERY_MAX_PER_HOUR',
  'RECOVERY_CRASH_LOOP_MINUTES',
  'RECOVERY_TERMINATE_REPLACED',
  'RECOVERY_KEEP_PRIVATE_IP',
  'RECOVERY_DRY_RUN',
  'DRY_RUN',
] as const;

const number = fc.oneof(
  fc.integer({ min: -10, max: 5000 }).map(String),
  fc.constantFrom('', ' ', '1e3', '0x10', '3.5', 'NaN', 'Infinity', '-0', '07', '9'.repeat(40), 'three'),
);
const garbage = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 10 }),
  hugeString.map((s) => s.slice(0, 5000)),
);

const VALUES: Record<(typeof VARS)[number], fc.Arbitrary<string>> = {
  MANAGED_BY: fc.oneof(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9-]{0,40}$/), garbage),
  EVENT_BUS_NAME: fc.oneof(fc.constant('ami-lifecycle-dev'), garbage),
  SCHEDULES: fc.oneof(fc.constantFrom('nightly,weekly', 'nightly', ' nightly , ', ',', 'Nightly', ''), garbage),
  DEFAULT_RETAIN: retainValue,
  TIMEZONE: fc.oneof(fc.constantFrom('UTC', 'Europe/Paris', '+05:30', 'utc', 'Mars/Olympus', '', ' '), garbage),
  FAILED_GRACE_DAYS: number,
  DEPRECATE_AFTER_DAYS: number,
  ORPHAN_GRACE_HOURS: number,
  RECOVERY_MAX_PER_HOUR: number,
  RECOVERY_CRASH_LOOP_MINUTES: number,
  RECOVERY_TERMINATE_REPLACED: fc.constantFrom('true', 'false', '', 'TRUE', 'yes'),
  RECOVERY_KEEP_PRIVATE_IP: fc.constantFrom('true', 'false', '', 'TRUE', 'yes'),
  RECOVERY_DRY_RUN: fc.constantFrom('true', 'false', '', '1'),
  DRY_RUN: fc.constantFrom('true', 'false', '', 'True'),
};

const envArb = fc.record(
  Object.fromEntries(VARS.map((v) => [v, fc.option(VALUES[v], { nil: undefined, freq: 4 })])) as Record<
    (typeof VARS)[number],
    fc.Arbitrary<string | undefined>
  >,
);

describe('loadConfig under fuzzing', () => {
  it('yields settings in range, or one ConfigError whose every problem names its variable', () => {
    fc.assert(
      fc.property(envArb, (env) => {
        // Act
        let error: unknown;
        let config: ReturnType<typeof loadConfig> | undefined;
        try {
          config = loadConfig(env);
        } catch (e) {
          error = e;
        }

        // Assess
        if (error !== undefined) {
          expect(error).toBeInstanceOf(ConfigError);
          const message = (error as Error).message;
          expect(message).toMatch(/^invalid configuration: /);
          // Problems are `VAR: why` (or `VAR.index: why` for a list), joined by '; '.
          const problems = message.replace(/^invalid configuration: /, '').split(/; (?=[A-Z_]+[.:])/);
          const named = (p: string) => VARS.some((v) => p.startsWith(`${v}: `) || p.startsWith(`${v}.`));
          for (const p of problems) expect(named(p), p.slice(0, 200)).toBe(true);
          return;
        }
        const c = config!;
        expect(c.schedules.length).toBeGreaterThan(0);
        expect(Number.isInteger(c.rotation.failedGraceDays) && c.rotation.failedGraceDays >= 0 && c.rotation.failedGraceDays <= 365).toBe(
          true,
        );
        expect(Number.isFinite(c.rotation.orphanGraceHours)).toBe(true);
        expect(Number.isInteger(c.recovery.maxRelaunchesPerHour) && c.recovery.maxRelaunchesPerHour >= 1).toBe(true);
        if (c.rotation.deprecateAfterDays !== undefined) expect(Number.isInteger(c.rotation.deprecateAfterDays)).toBe(true);
      }),
      fuzz(400),
    );
  });
});
