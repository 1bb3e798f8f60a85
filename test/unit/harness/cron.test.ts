/**
 * The sandbox's clock (test/harness/cron.ts) against EventBridge Scheduler's cron syntax: "Cron
 * expressions reference" (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html)
 * and, for time zones and daylight saving time, "Schedule types on EventBridge Scheduler"
 * (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html).
 */
import { describe, expect, it } from 'vitest';
import { readServerless } from '../../../cli/serverless-config.js';
import { cronFirings, InvalidCronExpression, parseCron, UnsimulatedCronExpression } from '../../harness/cron.js';

/** The local times an expression fires at on a day, HH:MM. */
const times = (expression: string, day: string, timeZone = 'UTC') => cronFirings(expression, timeZone, day).map((f) => f.local);
/** The days of a month an expression fires on. */
const days = (expression: string, month: string) =>
  Array.from({ length: 31 }, (_, i) => `${month}-${String(i + 1).padStart(2, '0')}`).filter(
    (day) =>
      Number(day.slice(8)) <= new Date(Date.UTC(Number(month.slice(0, 4)), Number(month.slice(5)), 0)).getUTCDate() &&
      times(expression, day).length > 0,
  );

describe('cron: the schedules serverless.yml declares', () => {
  it('understands every one of them, in its own time zone', () => {
    const schedules = readServerless({ stage: 'dev' }).functions.flatMap((fn) => fn.schedules);
    expect(schedules.length).toBeGreaterThan(0);
    for (const s of schedules) expect(() => cronFirings(s.expression, s.timezone, '2026-11-22'), s.expression).not.toThrow();
  });

  it('fires them on the right days and times', () => {
    expect(cronFirings('cron(0 3 * * ? *)', 'UTC', '2026-11-21')).toEqual([{ at: new Date('2026-11-21T03:00:00Z'), local: '03:00' }]);
    expect(cronFirings('cron(0 4 ? * SUN *)', 'UTC', '2026-11-21')).toEqual([]);
    expect(cronFirings('cron(0 4 ? * SUN *)', 'UTC', '2026-11-22')).toEqual([{ at: new Date('2026-11-22T04:00:00Z'), local: '04:00' }]);
    expect(cronFirings('cron(30 3 ? * MON-FRI *)', 'Europe/Paris', '2026-07-01')).toEqual([
      { at: new Date('2026-07-01T01:30:00Z'), local: '03:30' },
    ]);
    expect(times('cron(17 * * * ? *)', '2026-11-21')).toHaveLength(24);
    expect(times('cron(17 * * * ? *)', '2026-11-21')[5]).toBe('05:17');
  });
});

describe('cron: the syntax', () => {
  it('takes six fields, no more, no fewer', () => {
    expect(() => parseCron('cron(0 3 * * ?)')).toThrow(InvalidCronExpression);
    expect(() => parseCron('cron(0 0 3 * * ? *)')).toThrow(InvalidCronExpression);
    expect(times('cron( 0   3 * *  ? * )', '2026-11-21')).toEqual(['03:00']);
  });

  it('wants ? in exactly one of day-of-month and day-of-week, and nowhere else', () => {
    expect(() => parseCron('cron(0 3 * * * *)')).toThrow(/one of day-of-month and day-of-week must be \?/);
    expect(() => parseCron('cron(0 3 1 * MON *)')).toThrow(InvalidCronExpression);
    expect(() => parseCron('cron(0 3 ? * ? *)')).toThrow(InvalidCronExpression);
    expect(() => parseCron('cron(? 3 * * ? *)')).toThrow(/\? in minutes/);
    expect(days('cron(0 3 7 * ? *)', '2026-11')).toEqual(['2026-11-07']);
  });

  it('reads ranges, steps and lists', () => {
    expect(times('cron(0 8-11 * * ? *)', '2026-11-21')).toEqual(['08:00', '09:00', '10:00', '11:00']);
    expect(times('cron(0/15 9 * * ? *)', '2026-11-21')).toEqual(['09:00', '09:15', '09:30', '09:45']);
    // "1/10 to specify every tenth minute, starting from the first minute of the hour"
    expect(times('cron(1/10 9 * * ? *)', '2026-11-21')).toEqual(['09:01', '09:11', '09:21', '09:31', '09:41', '09:51']);
    expect(times('cron(*/20 9 * * ? *)', '2026-11-21')).toEqual(['09:00', '09:20', '09:40']);
    expect(times('cron(0 10-20/5 * * ? *)', '2026-11-21')).toEqual(['10:00', '15:00', '20:00']);
    expect(times('cron(0,30 6,18 * * ? *)', '2026-11-21')).toEqual(['06:00', '06:30', '18:00', '18:30']);
    expect(days('cron(0 3 1-31/10 * ? *)', '2026-11')).toEqual(['2026-11-01', '2026-11-11', '2026-11-21']);
  });

  it('reads month and weekday names, SUN as 1', () => {
    expect(days('cron(0 3 ? * MON,WED,FRI *)', '2026-11').slice(0, 3)).toEqual(['2026-11-02', '2026-11-04', '2026-11-06']);
    expect(days('cron(0 3 ? * 2,4,6 *)', '2026-11')).toEqual(days('cron(0 3 ? * MON,WED,FRI *)', '2026-11'));
    expect(days('cron(0 3 ? * 1 *)', '2026-11')).toEqual(['2026-11-01', '2026-11-08', '2026-11-15', '2026-11-22', '2026-11-29']);
    expect(times('cron(0 3 1 JAN,JUL ? *)', '2026-07-01')).toEqual(['03:00']);
    expect(times('cron(0 3 1 JAN,JUL ? *)', '2026-08-01')).toEqual([]);
    expect(times('cron(0 3 1 JAN-MAR ? *)', '2026-02-01')).toEqual(['03:00']);
  });

  it('fires in the years of the year field only', () => {
    expect(times('cron(0 3 * * ? 2027)', '2026-11-21')).toEqual([]);
    expect(times('cron(0 3 * * ? 2027)', '2027-11-21')).toEqual(['03:00']);
    expect(times('cron(0 3 * * ? 2026-2028)', '2028-11-21')).toEqual(['03:00']);
  });

  it('refuses what is out of range or not a wildcard of the field', () => {
    for (const bad of [
      'cron(60 3 * * ? *)',
      'cron(0 24 * * ? *)',
      'cron(0 3 32 * ? *)',
      'cron(0 3 0 * ? *)',
      'cron(0 3 * 13 ? *)',
      'cron(0 3 ? * 8 *)',
      'cron(0 3 * * ? 2200)',
      'cron(0 3 * * ? 1969)',
      'cron(0/0 3 * * ? *)',
      'cron(0 3 ? * MON/2 *)',
      'cron(0 3 * * ? x)',
      'cron(0 3 * FOO ? *)',
      'cron(0 3 ? * 3#1,6#3 *)',
      'cron(0 3 ? * 2#6 *)',
    ]) {
      expect(() => parseCron(bad), bad).toThrow(InvalidCronExpression);
    }
  });

  it('says what it cannot simulate rather than guessing', () => {
    expect(() => cronFirings('rate(1 day)', 'UTC', '2026-11-21')).toThrow(/cannot simulate/);
    expect(() => parseCron('at(2026-11-21T03:00:00)')).toThrow(UnsimulatedCronExpression);
    for (const unsure of [
      'cron(0 3 L-3 * ? *)',
      'cron(0 3 LW * ? *)',
      'cron(0 3 ? * 6L *)',
      'cron(0 3 ? * FRI-MON *)',
      'cron(0 3 1,L * ? *)',
    ]) {
      expect(() => parseCron(unsure), unsure).toThrow(UnsimulatedCronExpression);
    }
  });
});

describe('cron: L, W and #', () => {
  it('L in day-of-month is the last day of the month, leap years included', () => {
    expect(days('cron(0 3 L * ? *)', '2026-11')).toEqual(['2026-11-30']);
    expect(days('cron(0 3 L * ? *)', '2027-02')).toEqual(['2027-02-28']);
    expect(days('cron(0 3 L * ? *)', '2028-02')).toEqual(['2028-02-29']);
  });

  it('L alone in day-of-week is the last day of the week, Saturday', () => {
    expect(days('cron(0 3 ? * L *)', '2026-11')).toEqual(['2026-11-07', '2026-11-14', '2026-11-21', '2026-11-28']);
  });

  it('nW is the weekday closest to the n-th, within the month', () => {
    expect(days('cron(0 3 15W * ? *)', '2026-08')).toEqual(['2026-08-14']); // the 15th is a Saturday
    expect(days('cron(0 3 1W * ? *)', '2026-08')).toEqual(['2026-08-03']); // the 1st is a Saturday: not July's Friday
    expect(days('cron(0 3 31W * ? *)', '2026-05')).toEqual(['2026-05-29']); // the 31st is a Sunday: not June's Monday
    expect(days('cron(0 3 1W * ? *)', '2026-02')).toEqual(['2026-02-02']); // the 1st is a Sunday
    expect(days('cron(0 3 3W * ? *)', '2026-11')).toEqual(['2026-11-03']); // a Tuesday already
    expect(days('cron(0 3 31W * ? *)', '2026-11')).toEqual([]); // November has no 31st
  });

  it('n#k is the k-th such weekday of the month', () => {
    expect(days('cron(0 9 ? * 2#1 *)', '2026-11')).toEqual(['2026-11-02']); // the first Monday
    expect(days('cron(0 9 ? * FRI#3 *)', '2026-11')).toEqual(['2026-11-20']);
    expect(days('cron(0 9 ? * 1#5 *)', '2026-11')).toEqual(['2026-11-29']);
    expect(days('cron(0 9 ? * 2#5 *)', '2026-11')).toEqual(['2026-11-30']);
    expect(days('cron(0 9 ? * 2#5 *)', '2026-12')).toEqual([]); // December 2026 has four Mondays
  });

  it('never fires on a day a month does not have', () => {
    expect(days('cron(0 3 30 2 ? *)', '2026-02')).toEqual([]);
    expect(times('cron(0 3 30 2 ? *)', '2026-03-02')).toEqual([]);
  });
});

describe('cron: time zones and daylight saving time', () => {
  it('evaluates the expression in the schedule time zone, summer and winter', () => {
    expect(cronFirings('cron(0 3 * * ? *)', 'Europe/Paris', '2026-07-01')[0]!.at).toEqual(new Date('2026-07-01T01:00:00Z'));
    expect(cronFirings('cron(0 3 * * ? *)', 'Europe/Paris', '2026-12-01')[0]!.at).toEqual(new Date('2026-12-01T02:00:00Z'));
    expect(cronFirings('cron(0 3 * * ? *)', 'America/New_York', '2026-12-01')[0]!.at).toEqual(new Date('2026-12-01T08:00:00Z'));
    expect(cronFirings('cron(0 3 * * ? *)', 'Asia/Kolkata', '2026-12-01')[0]!.at).toEqual(new Date('2026-11-30T21:30:00Z'));
    // The day is the schedule's own: Sunday in Auckland is still Saturday in UTC.
    expect(cronFirings('cron(0 9 ? * SUN *)', 'Pacific/Auckland', '2026-11-22')[0]!.at).toEqual(new Date('2026-11-21T20:00:00Z'));
  });

  it('skips a local time that clocks going forward never show', () => {
    expect(cronFirings('cron(30 2 * * ? *)', 'America/New_York', '2026-03-08')).toEqual([]);
    expect(cronFirings('cron(30 2 * * ? *)', 'Europe/Paris', '2026-03-29')).toEqual([]);
    expect(cronFirings('cron(30 2 * * ? *)', 'Europe/Paris', '2026-03-30')).toEqual([
      { at: new Date('2026-03-30T00:30:00Z'), local: '02:30' },
    ]);
    expect(times('cron(0/15 * * * ? *)', '2026-03-08', 'America/New_York')).toHaveLength(92);
    expect(cronFirings('cron(0 3 * * ? *)', 'America/New_York', '2026-03-08')[0]!.at).toEqual(new Date('2026-03-08T07:00:00Z'));
  });

  it('fires once, when the clock first shows it, a local time that clocks going back show twice', () => {
    expect(cronFirings('cron(30 1 * * ? *)', 'America/New_York', '2026-11-01')).toEqual([
      { at: new Date('2026-11-01T05:30:00Z'), local: '01:30' },
    ]);
    expect(cronFirings('cron(30 2 * * ? *)', 'Europe/Paris', '2026-10-25')).toEqual([
      { at: new Date('2026-10-25T00:30:00Z'), local: '02:30' },
    ]);
    const quarterHours = cronFirings('cron(0/15 * * * ? *)', 'America/New_York', '2026-11-01');
    expect(quarterHours).toHaveLength(96);
    expect(new Set(quarterHours.map((f) => f.at.getTime())).size).toBe(96);
  });

  it('refuses a time zone that does not exist', () => {
    expect(() => cronFirings('cron(0 3 * * ? *)', 'Mars/Olympus_Mons', '2026-11-21')).toThrow(RangeError);
  });
});
