/**
 * EventBridge Scheduler's schedule expressions as the harness checks them (test/harness/moto-gaps/schedules.ts):
 * "at(yyyy-mm-ddThh:mm:ss)", "rate(value unit)", "cron(fields)" ("CreateSchedule", ScheduleExpression,
 * https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html), an `at()` in its time zone.
 */
import { describe, expect, it } from 'vitest';
import { readServerless } from '../../../cli/serverless-config.js';
import { atInstant, isValidScheduleExpression, parseAt } from '../../harness/moto-gaps/schedules.js';

describe('schedule expressions', () => {
  it('reads at() as a real wall-clock time, to the second', () => {
    expect(parseAt('at(2026-11-26T03:05:09)')).toEqual({ y: 2026, m: 11, d: 26, hour: 3, minute: 5, second: 9 });
    expect(parseAt('at(2028-02-29T00:00:00)')).toBeDefined();
    for (const bad of [
      'at(2026-02-29T00:00:00)',
      'at(2026-04-31T00:00:00)',
      'at(2026-00-10T00:00:00)',
      'at(2026-11-26T24:00:00)',
      'at(2026-11-26T03:60:00)',
      'at(2026-11-26T03:00:60)',
      'at(2026-11-26T03:00)',
      'at(2026-11-26T03:00:00Z)',
      'at(2026-11-26T03:00:00.000)',
      'at(26-11-26T03:00:00)',
      'at( 2026-11-26T03:00:00)',
    ]) {
      expect(parseAt(bad), bad).toBeUndefined();
    }
  });

  it('takes at() in the schedule time zone, UTC by default', () => {
    expect(atInstant('at(2026-11-26T03:00:00)')).toEqual(new Date('2026-11-26T03:00:00Z'));
    expect(atInstant('at(2026-07-01T12:30:15)', 'Europe/Paris')).toEqual(new Date('2026-07-01T10:30:15Z'));
    expect(atInstant('at(2026-11-01T01:30:00)', 'America/New_York')).toEqual(new Date('2026-11-01T05:30:00Z')); // the first 01:30
    expect(atInstant('cron(0 3 * * ? *)')).toBeUndefined();
    expect(() => atInstant('at(2026-03-29T02:30:00)', 'Europe/Paris')).toThrow(/does not exist there/);
    expect(() => atInstant('at(2026-03-29T02:30:00)', 'Mars/Olympus')).toThrow(RangeError);
  });

  it('accepts the three documented forms and refuses the rest', () => {
    for (const good of ['at(2020-01-01T00:00:00)', 'rate(1 minute)', 'rate(5 minutes)', 'rate(2 days)', 'cron(0 3 ? * MON-FRI *)']) {
      expect(isValidScheduleExpression(good), good).toBe(true);
    }
    for (const bad of ['', 'now', 'at()', 'rate(0 minutes)', 'rate(1 week)', 'rate(-1 hours)', 'cron(0 3 * * * *)', 'cron(0 3 * *)']) {
      expect(isValidScheduleExpression(bad), bad).toBe(false);
    }
  });

  it('accepts every schedule serverless.yml declares', () => {
    for (const fn of readServerless({ stage: 'dev' }).functions) {
      for (const s of fn.schedules) expect(isValidScheduleExpression(s.expression), s.expression).toBe(true);
    }
  });
});
